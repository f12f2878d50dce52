/* Fuzz target: arbitrary bytes as a coded body, through each content
 * decoder (http/decode.h), fed whole and then split at arbitrary points.
 *
 * Input layout: byte 0 = the coding (mod 4: gzip, deflate, br, zstd; one
 * not built in is skipped), byte 1 = seed for the split points, the rest =
 * the body. Checks: no crash or sanitizer report, the output never more
 * than the limit and one byte, and the same verdict and bytes whether the
 * body came whole or in pieces (for zstd: the same bytes when both pass). */
#include "http/decode.h"
#include "base/error.h"
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUT (1u << 20)

static int run(uvh_coding_t c, const char *in, size_t len, unsigned seed, uvh_buf_t *out) {
  uvh_decoder_t *d;
  size_t off = 0;
  int rc;
  uvh_buf_init(out);
  if (uvh__decoder_new(c, &d))
    return UVH_E_NOMEM;
  rc = 0;
  while (rc == 0 && off < len) {
    size_t piece = len - off;
    if (seed) {
      seed = seed * 1103515245u + 12345u;
      piece = 1 + (seed >> 16) % 64;
      if (piece > len - off)
        piece = len - off;
    }
    rc = uvh__decoder_feed(d, in + off, piece, out, MAX_OUT);
    off += piece;
    assert(out->len <= MAX_OUT + 1);
    assert(rc != UVH_E_PROTOCOL || *uvh__decoder_reason(d));
  }
  if (rc == 0)
    rc = uvh__decoder_finish(d);
  uvh__decoder_free(d);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uvh_coding_t codings[] = {UVH_CODING_GZIP, UVH_CODING_DEFLATE, UVH_CODING_BR, UVH_CODING_ZSTD};
  uvh_coding_t c;
  uvh_buf_t whole, split;
  int rc_whole, rc_split;
  if (size < 2)
    return 0;
  c = codings[data[0] % 4];
  if (*uvh__coding_name(c) && uvh__coding_from_header(uvh__coding_name(c), strlen(uvh__coding_name(c))) != c)
    return 0; /* not built in */
  rc_whole = run(c, (const char *)data + 2, size - 2, 0, &whole);
  rc_split = run(c, (const char *)data + 2, size - 2, data[1] | 1u, &split);
  /* libzstd (1.5) checks a frame's declared content size only when the
   * frame comes in one piece (found by this fuzzer): there a split body
   * may pass that a whole one fails, and only the outputs of two
   * successes are compared */
  if (c == UVH_CODING_ZSTD ? rc_whole == 0 && rc_split == 0 : rc_whole == 0 || rc_split == 0) {
    assert(rc_whole == rc_split);
    assert(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
  }
  uvh_buf_free_body(&whole);
  uvh_buf_free_body(&split);
  return 0;
}
