/* Fuzz target: arbitrary client bytes through the request-direction
 * parser (a server's), split at arbitrary points as reads would feed them.
 * It uses the codec alone (http/h1.h).
 *
 * Input layout: byte 0 = flags (bit 1: small limits), byte 1 = seed for the
 * split points, the rest = client bytes. Checks: no crash or sanitizer
 * report, memory bounded by the limits, a completed request is
 * self-consistent and strictly parsed, and bytes after it are left over. */
#include "http/h1.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvh_parser_t p;
  uvh_h1_message_t msg, *m = &msg;
  size_t off = 2, max_h, max_b, done_at = 0;
  unsigned seed;
  int rc = 0;

  if (size < 2)
    return 0;
  max_h = (data[0] & 2) ? 64 : 65536;
  max_b = (data[0] & 2) ? 32 : 0;
  seed = data[1] | 1u;
  uvh__h1_message_init(m);
  uvh__parser_init_request(&p, m, max_h, max_b);
  while (off < size && rc == 0) {
    size_t piece, used;
    seed = seed * 1103515245u + 12345u;
    piece = 1 + (seed >> 16) % 64;
    if (piece > size - off)
      piece = size - off;
    rc = uvh__parser_feed(&p, (const char *)data + off, piece, &used);
    assert(used <= piece);
    if (rc == 1)
      done_at = off + used;
    off += piece;
  }
  if (rc == 0)
    rc = uvh__parser_eof(&p);
  if (rc == 1) {
    size_t i, j, n = m->nheaders + m->ntrailers;
    const char *base = m->strings.data ? m->strings.data : "";
    const char *method = uvh__h1_method_name(m);
    assert(method && *method && strcmp(method, "CONNECT") != 0);
    assert(m->http_major == 1 && m->http_minor <= 1);
    assert(m->target_len > 0 && (size_t)m->target_off + m->target_len <= m->strings.len);
    for (j = 0; j < m->target_len; j++)
      assert(base[m->target_off + j] > ' ' && base[m->target_off + j] != 0x7f);
    assert(max_b == 0 || m->body.len <= max_b);
    assert(done_at <= size);
    for (i = 0; i < n; i++) {
      const char *hn = base + m->headers[i].name_off, *hv = base + m->headers[i].value_off;
      size_t hnl = m->headers[i].name_len, hvl = m->headers[i].value_len;
      assert(hnl > 0);
      for (j = 0; j < hnl; j++)
        assert(hn[j] > ' ' && hn[j] < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", hn[j]));
      for (j = 0; j < hvl; j++)
        assert(hv[j] != '\r' && hv[j] != '\n' && hv[j] != '\0');
    }
  } else {
    assert(rc == 0 || rc == UVH_E_PROTOCOL || rc == UVH_E_TOO_LARGE || rc == UVH_E_NOMEM || rc == UVH_E_CONN_CLOSED);
  }
  assert(m->strings.len <= max_h);
  uvh__h1_message_free(m);
  return 0;
}
