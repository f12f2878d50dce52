/* The SOCKS5 client state machine (net/socks5.c): the bytes it sends for
 * each method and address type, every reply code and malformed reply,
 * replies fed whole and byte by byte. */
#include "internal.h"
#include "tap.h"

/* Feed `reply` whole (step 0) or `step` bytes at a time; returns the last
 * feed's result, *used_total the bytes consumed. */
static int feed(uvh_socks5_t *s, const char *reply, size_t len, size_t step, uvh_buf_t *out, size_t *used_total) {
  size_t off = 0, used;
  int rc = 0;
  *used_total = 0;
  if (step == 0)
    step = len;
  while (off < len) {
    size_t n = len - off < step ? len - off : step;
    rc = uvh__socks5_feed(s, reply + off, n, &used, out);
    *used_total += used;
    off += n;
    if (rc != 0)
      break;
  }
  return rc;
}

/* is_mem for bytes that include NULs */
#define is_bytes(got, glen, lit, name) ok((glen) == sizeof(lit) - 1 && memcmp((got), (lit), sizeof(lit) - 1) == 0, "%s", name)

static const char connect_ok_v4[] = "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38";

/* A handshake with no credentials to 127.0.0.1:80, reply code `code`. */
static void reply_code(int code, const char *words) {
  uvh_socks5_t s;
  uvh_buf_t out;
  size_t used;
  char r[10];
  const unsigned char a[4] = {127, 0, 0, 1};
  uvh_buf_init(&out);
  uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_IPV4, a, 4, 80);
  uvh__socks5_start(&s, &out);
  feed(&s, "\x05\x00", 2, 0, &out, &used);
  memcpy(r, connect_ok_v4, 10);
  r[1] = (char)code;
  is_int(feed(&s, r, 10, 1, &out, &used), UVH_E_PROXY, "reply code fails the handshake");
  ok(strstr(s.reason, words) != NULL, "reply %d in words: %s", code, s.reason);
  is_int(s.reply, code, "... the code is kept");
  is_int(s.state, SOCKS5_FAILED, "... failed");
  uvh_buf_free(&out);
}

static void malformed(const char *name, const char *greeting_reply, size_t glen, const char *connect_reply,
                      size_t clen, const char *why) {
  uvh_socks5_t s;
  uvh_buf_t out;
  size_t used;
  int rc;
  const unsigned char a[4] = {10, 0, 0, 1};
  uvh_buf_init(&out);
  uvh__socks5_init(&s, "u", "p", UVH_SOCKS5_ATYP_IPV4, a, 4, 80);
  uvh__socks5_start(&s, &out);
  rc = feed(&s, greeting_reply, glen, 0, &out, &used);
  if (rc == 0 && connect_reply)
    rc = feed(&s, connect_reply, clen, 0, &out, &used);
  is_int(rc, UVH_E_PROXY, name);
  ok(strstr(s.reason, why) != NULL, "... %s (%s)", why, s.reason);
  uvh_buf_free(&out);
}

int main(void) {
  uvh_socks5_t s;
  uvh_buf_t out;
  size_t used, step;
  int code;
  const unsigned char v4[4] = {127, 0, 0, 1};
  unsigned char v6[16] = {0};
  v6[15] = 1;
  uvh_buf_init(&out);

  for (step = 0; step <= 1; step++) {
    /* no credentials, an IPv4 address */
    uvh_buf_clear(&out);
    is_int(uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_IPV4, v4, 4, 8080), 0, "init, no credentials");
    is_int(uvh__socks5_start(&s, &out), 0, "start");
    is_bytes(out.data, out.len, "\x05\x01\x00", "greeting offers no authentication only");
    uvh_buf_clear(&out);
    is_int(feed(&s, "\x05\x00", 2, step, &out, &used), 0, "method none chosen");
    ok(out.len == 10 && memcmp(out.data, "\x05\x01\x00\x01\x7f\x00\x00\x01\x1f\x90", 10) == 0,
       "CONNECT with ATYP 1, the address and the port (%s)", step ? "byte by byte" : "whole");
    uvh_buf_clear(&out);
    is_int(feed(&s, connect_ok_v4, 10, step, &out, &used), 1, "success reply: the tunnel is up");
    is_int(used, 10, "the whole reply consumed");
    is_int(s.state, SOCKS5_DONE, "done");
    is_int(out.len, 0, "nothing more to send");

    /* credentials, a name (socks5h) */
    uvh_buf_clear(&out);
    is_int(uvh__socks5_init(&s, "alice", "s3cret", UVH_SOCKS5_ATYP_NAME, "example.com", 11, 443), 0, "init with credentials");
    uvh__socks5_start(&s, &out);
    is_bytes(out.data, out.len, "\x05\x02\x00\x02", "greeting offers none and username/password");
    uvh_buf_clear(&out);
    is_int(feed(&s, "\x05\x02", 2, step, &out, &used), 0, "username/password chosen");
    is_bytes(out.data, out.len, "\x01\x05" "alice" "\x06" "s3cret", "RFC 1929 request");
    uvh_buf_clear(&out);
    is_int(feed(&s, "\x01\x00", 2, step, &out, &used), 0, "credentials accepted");
    is_bytes(out.data, out.len, "\x05\x01\x00\x03\x0b" "example.com" "\x01\xbb", "CONNECT with ATYP 3 and the name");
    uvh_buf_clear(&out);
    /* the bound address as a name, then two bytes of the target's */
    is_int(feed(&s, "\x05\x00\x00\x03\x03" "abc" "\x00\x50" "XY", 12, step, &out, &used), 1, "success with a name as the bound address");
    is_int(used, 10, "the reply is 10 bytes; the target's two are not consumed");
  }

  /* IPv6 target; the proxy chooses none although credentials were offered */
  uvh_buf_clear(&out);
  uvh__socks5_init(&s, "u", "p", UVH_SOCKS5_ATYP_IPV6, v6, 16, 80);
  uvh__socks5_start(&s, &out);
  uvh_buf_clear(&out);
  is_int(feed(&s, "\x05\x00", 2, 0, &out, &used), 0, "none chosen though credentials were offered");
  ok(out.len == 22 && out.data[3] == 4 && out.data[19] == 1 && out.data[20] == 0 && out.data[21] == 80,
     "CONNECT with ATYP 4, 16 address bytes and the port");
  uvh_buf_clear(&out);
  {
    char r[22] = "\x05\x00\x00\x04";
    is_int(feed(&s, r, 22, 1, &out, &used), 1, "success with an IPv6 bound address, byte by byte");
  }

  /* every reply code of RFC 1928 section 6, and an unassigned one */
  reply_code(1, "general SOCKS server failure");
  reply_code(2, "connection not allowed by ruleset");
  reply_code(3, "network unreachable");
  reply_code(4, "host unreachable");
  reply_code(5, "connection refused");
  reply_code(6, "TTL expired");
  reply_code(7, "command not supported");
  reply_code(8, "address type not supported");
  reply_code(9, "unassigned reply code");
  for (code = 1; code <= 9; code++)
    ok(strcmp(uvh__socks5_reply_text(code), "succeeded") != 0, "reply text %d is a failure", code);

  /* authentication refused, malformed replies */
  malformed("no acceptable method", "\x05\xff", 2, NULL, 0, "accepts none of the authentication methods");
  malformed("credentials refused", "\x05\x02\x01\x01", 4, NULL, 0, "sent 2 bytes more");
  malformed("a method not offered", "\x05\x01", 2, NULL, 0, "method 1, which was not offered");
  malformed("not SOCKS5", "HT", 2, NULL, 0, "does not speak SOCKS5");
  malformed("SOCKS4 reply", "\x00\x5a", 2, NULL, 0, "version 0");
  malformed("bad CONNECT reply version", "\x05\x00", 2, "\x04\x00\x00\x01\0\0\0\0\0\0", 10, "version 4");
  malformed("bad reserved byte", "\x05\x00", 2, "\x05\x00\x07\x01\0\0\0\0\0\0", 10, "reserved byte 7");
  malformed("bad address type", "\x05\x00", 2, "\x05\x00\x00\x09", 4, "address type 9");
  malformed("bytes after the method reply", "\x05\x00\x05", 3, NULL, 0, "sent 1 bytes more");
  {
    uvh_buf_clear(&out);
    uvh__socks5_init(&s, "u", "p", UVH_SOCKS5_ATYP_IPV4, v4, 4, 80);
    uvh__socks5_start(&s, &out);
    feed(&s, "\x05\x02", 2, 0, &out, &used);
    is_int(feed(&s, "\x01\x01", 2, 0, &out, &used), UVH_E_PROXY, "bad credentials fail");
    ok(strstr(s.reason, "refused the user name and password") != NULL, "... saying so (%s)", s.reason);
    uvh_buf_clear(&out);
    uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_IPV4, v4, 4, 80);
    uvh__socks5_start(&s, &out);
    is_int(feed(&s, "\x05\x02", 2, 0, &out, &used), UVH_E_PROXY, "username/password wanted, none given");
    ok(strstr(s.reason, "requires a user name and password") != NULL, "... the proxy requires credentials (%s)", s.reason);
    uvh_buf_clear(&out);
    uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_IPV4, v4, 4, 80);
    uvh__socks5_start(&s, &out);
    is_int(feed(&s, "\x05\xff", 2, 0, &out, &used), UVH_E_PROXY, "no method acceptable without credentials");
    ok(strstr(s.reason, "requires authentication") != NULL, "... the proxy requires authentication (%s)", s.reason);
    is_int(uvh__socks5_feed(&s, "\x05", 1, &used, &out), UVH_E_PROXY, "a failed machine stays failed");
  }

  /* what init refuses */
  is_int(uvh__socks5_init(&s, "", "p", UVH_SOCKS5_ATYP_IPV4, v4, 4, 80), UVH_E_BADARG, "empty user refused");
  is_int(uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_IPV4, v4, 3, 80), UVH_E_BADARG, "a 3-byte IPv4 address refused");
  is_int(uvh__socks5_init(&s, NULL, NULL, UVH_SOCKS5_ATYP_NAME, "", 0, 80), UVH_E_BADARG, "an empty name refused");
  is_int(uvh__socks5_init(&s, NULL, NULL, 2, v4, 4, 80), UVH_E_BADARG, "an unknown address type refused");
  {
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    is_int(uvh__socks5_init(&s, big, "p", UVH_SOCKS5_ATYP_IPV4, v4, 4, 80), UVH_E_BADARG, "a 299-byte user refused");
  }

  uvh_buf_free(&out);
  return done_testing();
}
