/* Fuzz target: a proxy's bytes fed to the SOCKS5 client state machine.
 * The first byte chooses the set-up (credentials or not, the target's
 * address type) and the second how the rest is cut into feeds. Checks: no
 * crash; a feed consumes no more than it was given; once done or failed
 * the machine stays so; a failure always says why; what it sends is
 * bounded (one message per reply). */
#include "internal.h"
#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char v4[4] = {127, 0, 0, 1}, v6[16] = {[15] = 1};
  uvh_socks5_t s;
  uvh_buf_t out;
  size_t off = 2, step;
  int rc = 0, setup;
  if (size < 2)
    return 0;
  setup = data[0];
  step = data[1] ? data[1] : 1;
  uvh_buf_init(&out);
  if ((setup & 3) == 0)
    rc = uvh__socks5_init(&s, setup & 4 ? "user" : NULL, "pass", UVH_SOCKS5_ATYP_IPV4, v4, 4, 80);
  else if ((setup & 3) == 1)
    rc = uvh__socks5_init(&s, setup & 4 ? "user" : NULL, "pass", UVH_SOCKS5_ATYP_IPV6, v6, 16, 443);
  else
    rc = uvh__socks5_init(&s, setup & 4 ? "user" : NULL, "", UVH_SOCKS5_ATYP_NAME, "example.com", 11, 8080);
  assert(rc == 0);
  assert(uvh__socks5_start(&s, &out) == 0);
  while (off < size) {
    size_t n = size - off < step ? size - off : step, used = 0, before = out.len;
    uvh_socks5_state_t was = s.state;
    rc = uvh__socks5_feed(&s, (const char *)data + off, n, &used, &out);
    assert(used <= n);
    assert(out.len - before <= 4 + 1 + 255 + 2 + 2 + 255 + 255);
    if (was == SOCKS5_DONE || was == SOCKS5_FAILED)
      assert(s.state == was);
    if (rc == UVH_E_PROXY)
      assert(s.state == SOCKS5_FAILED && s.reason[0]);
    else if (rc == 1)
      assert(s.state == SOCKS5_DONE && s.reply == 0);
    else
      assert(rc == 0 && s.state != SOCKS5_FAILED);
    if (rc != 0)
      break;
    off += n;
  }
  uvh_buf_free(&out);
  return 0;
}
