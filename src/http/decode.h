/* decode.h - content codings of message bodies (RFC 9110 8.4.1): a
 * streaming decoder, fed the body's bytes as they arrive and writing the
 * decoded bytes to a body buffer, never more than a size limit allows.
 *
 * gzip and deflate (zlib) always; br (libbrotlidec) and zstd (libzstd)
 * when the build found them (UVH_HAVE_BROTLI, UVH_HAVE_ZSTD). Owns: the
 * decompressor's state. Borrows: the output buffer, at each feed.
 */
#ifndef UVH_HTTP_DECODE_H
#define UVH_HTTP_DECODE_H
#include <stddef.h>
#include "base/buf.h"

typedef enum {
  UVH_CODING_NONE = 0,
  UVH_CODING_GZIP,
  UVH_CODING_DEFLATE,        /* zlib-wrapped (RFC 1950) or raw (RFC 1951): servers send both */
  UVH_CODING_BR,
  UVH_CODING_ZSTD
} uvh_coding_t;

typedef struct uvh_decoder_s uvh_decoder_t;

/* The coding a Content-Encoding value names, when it is exactly one
 * coding this build decodes (any case, blanks around it allowed); else
 * UVH_CODING_NONE: empty, identity, unknown, or a list of codings. */
uvh_coding_t uvh__coding_from_header(const char *value, size_t len);
/* "gzip", "deflate", "br", "zstd", or "" for UVH_CODING_NONE. */
const char *uvh__coding_name(uvh_coding_t coding);
/* The codings built in, as an Accept-Encoding value: "gzip, deflate"
 * followed by ", br" and ", zstd" when built with them; *len (unless
 * NULL) gets its length. */
const char *uvh__codings_accepted(size_t *len);

/* A decoder of `coding` (not NONE): 0, or UVH_E_NOMEM. */
int uvh__decoder_new(uvh_coding_t coding, uvh_decoder_t **out);
void uvh__decoder_free(uvh_decoder_t *d);
/* Decode `len` more bytes of the body, appending the result to *out
 * (grown through the body allocator). max_out, unless 0, bounds the
 * decoded size: UVH_E_TOO_LARGE as soon as it would be exceeded (at most
 * max_out + 1 bytes are ever written, so a bomb costs no more). Else 0,
 * UVH_E_PROTOCOL (a corrupt stream, or bytes after its end: see
 * uvh__decoder_reason) or UVH_E_NOMEM. */
int uvh__decoder_feed(uvh_decoder_t *d, const char *in, size_t len, uvh_buf_t *out, size_t max_out);
/* The body ended: 0 when the coded stream ended with it (or the body was
 * empty), UVH_E_PROTOCOL when it was cut short. */
int uvh__decoder_finish(uvh_decoder_t *d);
/* Why the decoder failed, naming nothing but the fault ("incorrect data
 * check"); the caller names the coding. */
const char *uvh__decoder_reason(const uvh_decoder_t *d);

#endif
