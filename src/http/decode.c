/* decode.c - streaming content decoders over zlib, libbrotlidec and
 * libzstd. Each feed decodes straight into the free tail of the body
 * buffer, so the coded bytes are never held: only the library's own
 * window (32 KiB for zlib, at most 8 MiB for zstd, 16 MiB for br).
 */
#include "http/decode.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <zlib.h>
#ifdef UVH_HAVE_BROTLI
#include <brotli/decode.h>
#endif
#ifdef UVH_HAVE_ZSTD
#include <zstd.h>
#endif

/* RFC 8878 3.1.1.1.2: an HTTP decoder need not accept a zstd window over
 * 8 MiB; a larger one would let a server make us allocate up to 2 GiB. */
#define ZSTD_WINDOW_LOG_MAX 23

typedef enum {
  DEC_START,                 /* no byte yet */
  DEC_RUNNING,               /* inside the coded stream */
  DEC_ENDED                  /* the stream (a gzip member, a zstd frame) ended */
} dec_state_t;

struct uvh_decoder_s {
  uvh_coding_t coding;
  dec_state_t state;
  unsigned z_ready : 1;      /* inflateInit2 done */
  unsigned char held[2];     /* deflate: the first bytes, until they tell zlib-wrapped from raw */
  size_t nheld;
  z_stream z;
#ifdef UVH_HAVE_BROTLI
  BrotliDecoderState *br;
#endif
#ifdef UVH_HAVE_ZSTD
  ZSTD_DStream *zs;
#endif
  char reason[128];
};

uvh_coding_t uvh__coding_from_header(const char *v, size_t len) {
  while (len && (*v == ' ' || *v == '\t'))
    v++, len--;
  while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
    len--;
  if (len == 4 && strncasecmp(v, "gzip", 4) == 0)
    return UVH_CODING_GZIP;
  if (len == 6 && strncasecmp(v, "x-gzip", 6) == 0) /* RFC 9110 8.4.1.3 */
    return UVH_CODING_GZIP;
  if (len == 7 && strncasecmp(v, "deflate", 7) == 0)
    return UVH_CODING_DEFLATE;
#ifdef UVH_HAVE_BROTLI
  if (len == 2 && strncasecmp(v, "br", 2) == 0)
    return UVH_CODING_BR;
#endif
#ifdef UVH_HAVE_ZSTD
  if (len == 4 && strncasecmp(v, "zstd", 4) == 0)
    return UVH_CODING_ZSTD;
#endif
  return UVH_CODING_NONE;
}

const char *uvh__coding_name(uvh_coding_t c) {
  switch (c) {
  case UVH_CODING_GZIP: return "gzip";
  case UVH_CODING_DEFLATE: return "deflate";
  case UVH_CODING_BR: return "br";
  case UVH_CODING_ZSTD: return "zstd";
  default: return "";
  }
}

#define ACCEPTED_BROTLI ""
#define ACCEPTED_ZSTD ""
#ifdef UVH_HAVE_BROTLI
#undef ACCEPTED_BROTLI
#define ACCEPTED_BROTLI ", br"
#endif
#ifdef UVH_HAVE_ZSTD
#undef ACCEPTED_ZSTD
#define ACCEPTED_ZSTD ", zstd"
#endif
#define ACCEPTED "gzip, deflate" ACCEPTED_BROTLI ACCEPTED_ZSTD

const char *uvh__codings_accepted(size_t *len) {
  if (len)
    *len = sizeof ACCEPTED - 1;
  return ACCEPTED;
}

static void *z_alloc(void *opaque, unsigned items, unsigned size) {
  (void)opaque;
  return calloc(items, size);
}

static void z_free(void *opaque, void *p) {
  (void)opaque;
  free(p);
}

int uvh__decoder_new(uvh_coding_t coding, uvh_decoder_t **out) {
  uvh_decoder_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return UVH_E_NOMEM;
  d->coding = coding;
  d->z.zalloc = z_alloc;
  d->z.zfree = z_free;
  switch (coding) {
  case UVH_CODING_GZIP:
    /* 16 + 15: a gzip wrapper, the largest window */
    if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK)
      goto nomem;
    d->z_ready = 1;
    break;
  case UVH_CODING_DEFLATE:
    break; /* inflateInit2 once the first two bytes tell which deflate */
#ifdef UVH_HAVE_BROTLI
  case UVH_CODING_BR:
    if ((d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)) == NULL)
      goto nomem;
    break;
#endif
#ifdef UVH_HAVE_ZSTD
  case UVH_CODING_ZSTD:
    if ((d->zs = ZSTD_createDStream()) == NULL)
      goto nomem;
    ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
    break;
#endif
  default:
    free(d);
    return UVH_E_BADARG;
  }
  *out = d;
  return 0;
nomem:
  free(d);
  return UVH_E_NOMEM;
}

void uvh__decoder_free(uvh_decoder_t *d) {
  if (d == NULL)
    return;
  if (d->z_ready)
    inflateEnd(&d->z);
#ifdef UVH_HAVE_BROTLI
  if (d->br)
    BrotliDecoderDestroyInstance(d->br);
#endif
#ifdef UVH_HAVE_ZSTD
  if (d->zs)
    ZSTD_freeDStream(d->zs);
#endif
  free(d);
}

const char *uvh__decoder_reason(const uvh_decoder_t *d) { return d->reason; }

static int fail(uvh_decoder_t *d, const char *why) {
  snprintf(d->reason, sizeof d->reason, "%s", why ? why : "invalid data");
  return UVH_E_PROTOCOL;
}

/* Where the next decoded bytes go: the free tail of *out, grown like a
 * body read in place (geometric, at least 16 KiB), but never more than
 * one byte past max_out in all. */
static int out_room(uvh_buf_t *out, size_t max_out, char **w, size_t *n) {
  size_t want = SIZE_MAX;
  if (max_out)
    want = out->len <= max_out ? max_out - out->len + 1 : 1;
  if (uvh_buf_body_room(out, want, n))
    return UVH_E_NOMEM;
  *w = out->data + out->len;
  if (*n > (1u << 30)) /* zlib counts in unsigned int */
    *n = 1u << 30;
  return 0;
}

/* Inflate all of in[0..len) (zlib's stream is set up). */
static int inflate_bytes(uvh_decoder_t *d, const unsigned char *in, size_t len, uvh_buf_t *out, size_t max_out) {
  while (len > 0) {
    char *w;
    size_t room, step = len > (1u << 30) ? (1u << 30) : len;
    int rc;
    if (d->state == DEC_ENDED) {
      /* a gzip body may hold several members (RFC 1952 2.2); anything
       * else after the end is not part of the stream */
      if (d->coding != UVH_CODING_GZIP || in[0] != 0x1f)
        return fail(d, "data after the end of the compressed stream");
      inflateReset(&d->z);
    }
    d->state = DEC_RUNNING;
    if ((rc = out_room(out, max_out, &w, &room)) != 0)
      return rc;
    d->z.next_in = (unsigned char *)in;
    d->z.avail_in = (unsigned)step;
    d->z.next_out = (unsigned char *)w;
    d->z.avail_out = (unsigned)room;
    rc = inflate(&d->z, Z_NO_FLUSH);
    out->len += room - d->z.avail_out;
    in += step - d->z.avail_in;
    len -= step - d->z.avail_in;
    if (max_out && out->len > max_out)
      return UVH_E_TOO_LARGE;
    if (rc == Z_STREAM_END)
      d->state = DEC_ENDED;
    else if (rc == Z_MEM_ERROR)
      return UVH_E_NOMEM;
    else if (rc != Z_OK && rc != Z_BUF_ERROR)
      return fail(d, rc == Z_NEED_DICT ? "a preset dictionary is required" : d->z.msg);
  }
  /* the input is taken, but inflate may still hold output for a full buffer */
  for (;;) {
    char *w;
    size_t room;
    int rc;
    if (d->state == DEC_ENDED || d->z.avail_out > 0)
      return 0;
    if ((rc = out_room(out, max_out, &w, &room)) != 0)
      return rc;
    d->z.next_in = NULL;
    d->z.avail_in = 0;
    d->z.next_out = (unsigned char *)w;
    d->z.avail_out = (unsigned)room;
    rc = inflate(&d->z, Z_NO_FLUSH);
    out->len += room - d->z.avail_out;
    if (max_out && out->len > max_out)
      return UVH_E_TOO_LARGE;
    if (rc == Z_STREAM_END)
      d->state = DEC_ENDED;
    else if (rc == Z_BUF_ERROR)
      return 0; /* nothing more without input */
    else if (rc == Z_MEM_ERROR)
      return UVH_E_NOMEM;
    else if (rc != Z_OK)
      return fail(d, rc == Z_NEED_DICT ? "a preset dictionary is required" : d->z.msg);
  }
}

/* deflate: a zlib header (RFC 1950 2.2: method 8, a window of at most
 * 32 KiB, a check making the first two bytes a multiple of 31) or raw
 * deflate data, which servers send under the same name. */
static int deflate_bytes(uvh_decoder_t *d, const unsigned char *in, size_t len, uvh_buf_t *out, size_t max_out) {
  if (!d->z_ready) {
    unsigned b0, b1;
    int zlib_wrapped;
    while (d->nheld < 2 && len > 0) {
      d->held[d->nheld++] = *in++;
      len--;
    }
    if (d->nheld < 2)
      return 0;
    b0 = d->held[0];
    b1 = d->held[1];
    zlib_wrapped = (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
    if (inflateInit2(&d->z, zlib_wrapped ? MAX_WBITS : -MAX_WBITS) != Z_OK)
      return UVH_E_NOMEM;
    d->z_ready = 1;
    {
      int rc = inflate_bytes(d, d->held, 2, out, max_out);
      if (rc)
        return rc;
    }
  }
  return inflate_bytes(d, in, len, out, max_out);
}

#ifdef UVH_HAVE_BROTLI
static int brotli_bytes(uvh_decoder_t *d, const unsigned char *in, size_t len, uvh_buf_t *out, size_t max_out) {
  for (;;) {
    char *w;
    size_t room, avail_out;
    uint8_t *next_out;
    BrotliDecoderResult r;
    int rc;
    if (d->state == DEC_ENDED)
      return len ? fail(d, "data after the end of the compressed stream") : 0;
    if (len == 0 && !BrotliDecoderHasMoreOutput(d->br))
      return 0;
    d->state = DEC_RUNNING;
    if ((rc = out_room(out, max_out, &w, &room)) != 0)
      return rc;
    avail_out = room;
    next_out = (uint8_t *)w;
    r = BrotliDecoderDecompressStream(d->br, &len, &in, &avail_out, &next_out, NULL);
    out->len += room - avail_out;
    if (max_out && out->len > max_out)
      return UVH_E_TOO_LARGE;
    if (r == BROTLI_DECODER_RESULT_ERROR)
      return fail(d, BrotliDecoderErrorString(BrotliDecoderGetErrorCode(d->br)));
    if (r == BROTLI_DECODER_RESULT_SUCCESS)
      d->state = DEC_ENDED;
    else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && len == 0)
      return 0;
  }
}
#endif

#ifdef UVH_HAVE_ZSTD
static int zstd_bytes(uvh_decoder_t *d, const unsigned char *in, size_t len, uvh_buf_t *out, size_t max_out) {
  ZSTD_inBuffer ib = {in, len, 0};
  for (;;) {
    char *w;
    size_t room, r;
    ZSTD_outBuffer ob;
    int rc;
    if ((rc = out_room(out, max_out, &w, &room)) != 0)
      return rc;
    ob.dst = w;
    ob.size = room;
    ob.pos = 0;
    r = ZSTD_decompressStream(d->zs, &ob, &ib);
    out->len += ob.pos;
    if (max_out && out->len > max_out)
      return UVH_E_TOO_LARGE;
    if (ZSTD_isError(r))
      return fail(d, ZSTD_getErrorName(r));
    /* 0: a frame ended and is flushed; another may follow (RFC 8878 3.1) */
    d->state = r == 0 ? DEC_ENDED : DEC_RUNNING;
    /* with room left over, zstd holds no more output for this input */
    if (ib.pos == ib.size && (r == 0 || ob.pos < ob.size))
      return 0;
  }
}
#endif

int uvh__decoder_feed(uvh_decoder_t *d, const char *in, size_t len, uvh_buf_t *out, size_t max_out) {
  const unsigned char *u = (const unsigned char *)in;
  if (len == 0)
    return 0;
  switch (d->coding) {
  case UVH_CODING_GZIP:
    return inflate_bytes(d, u, len, out, max_out);
  case UVH_CODING_DEFLATE:
    return deflate_bytes(d, u, len, out, max_out);
#ifdef UVH_HAVE_BROTLI
  case UVH_CODING_BR:
    return brotli_bytes(d, u, len, out, max_out);
#endif
#ifdef UVH_HAVE_ZSTD
  case UVH_CODING_ZSTD:
    return zstd_bytes(d, u, len, out, max_out);
#endif
  default:
    return fail(d, "unsupported coding");
  }
}

int uvh__decoder_finish(uvh_decoder_t *d) {
  if (d->state == DEC_ENDED || (d->state == DEC_START && d->nheld == 0))
    return 0;
  return fail(d, "the body ended before the compressed stream did (truncated)");
}
