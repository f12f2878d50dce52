/* Fuzz target: arbitrary server bytes through the response parser, split
 * at arbitrary points, as a connection would feed them read by read.
 *
 * Input layout: byte 0 = flags (bit 0: the request was HEAD, bit 1: small
 * limits, bit 2: the body is streamed, taken out after every feed as the
 * client's partial hook does), byte 1 = seed for the split points, the rest = server bytes.
 * Checks: no crash or sanitizer report, memory bounded by the limits, a
 * completed response is self-consistent and strictly parsed. It uses the
 * codec alone (http/h1.h), as a server or a proxy would. */
#include "http/h1.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvh_parser_t p;
  uvh_h1_message_t msg, *r = &msg;
  size_t off = 2, max_h, max_b, taken = 0;
  unsigned seed;
  int rc = 0, is_head, stream, heads = 0;

  if (size < 2)
    return 0;
  is_head = data[0] & 1;
  max_h = (data[0] & 2) ? 64 : 65536;
  max_b = (data[0] & 2) ? 32 : 0;
  stream = (data[0] & 4) != 0;
  seed = data[1] | 1u;
  uvh__h1_message_init(r);
  uvh__parser_init(&p, r, is_head, max_h, max_b);
  p.stream = stream;
  while (off < size && rc == 0) {
    size_t piece, used;
    seed = seed * 1103515245u + 12345u;
    piece = 1 + (seed >> 16) % 64;
    if (piece > size - off)
      piece = size - off;
    rc = uvh__parser_feed(&p, (const char *)data + off, piece, &used);
    assert(used <= piece);
    if (rc == UVH_PARSER_HEAD) {
      /* the final head, before any of its body: the rest is fed again */
      assert(stream && r->body.len == 0 && ++heads == 1);
      off += used;
      rc = 0;
      continue;
    }
    off += piece;
    if (stream && r->body.len) {
      taken += r->body.len;
      p.body_taken += r->body.len;
      r->body.len = 0;
    }
  }
  if (rc == 0)
    rc = uvh__parser_eof(&p);
  if (rc == 1) {
    size_t i, j, n = r->nheaders + r->ntrailers, blen = r->body.len;
    assert(r->status >= 200 && r->status <= 999);
    assert(!is_head || blen == 0);
    assert(max_b == 0 || blen + taken <= max_b);
    assert(!stream || blen == 0 || heads == 0); /* streamed bodies were taken feed by feed */
    for (i = 0; i < r->nheaders; i++) {
      const char *base = r->strings.data ? r->strings.data : "";
      const char *hn = base + r->headers[i].name_off, *hv = base + r->headers[i].value_off;
      size_t hnl = r->headers[i].name_len, hvl = r->headers[i].value_len;
      /* strict parsing: names are tokens, values hold no line ends or NUL */
      assert(hnl > 0);
      for (j = 0; j < hnl; j++)
        assert(hn[j] > ' ' && hn[j] < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", hn[j]));
      for (j = 0; j < hvl; j++)
        assert(hv[j] != '\r' && hv[j] != '\n' && hv[j] != '\0');
      if (r->strings.data)
        assert(hn + hnl <= r->strings.data + r->strings.len && hv + hvl <= r->strings.data + r->strings.len);
      else
        assert(hnl == 0 && hvl == 0);
    }
    (void)n;
  } else {
    assert(rc == 0 || rc == UVH_E_PROTOCOL || rc == UVH_E_TOO_LARGE || rc == UVH_E_NOMEM || rc == UVH_E_CONN_CLOSED);
  }
  assert(r->strings.len <= max_h);
  uvh__h1_message_free(r);
  return 0;
}
