/* Content decoding (http/decode.c) from bytes alone, then inside the
 * response parser: gzip, deflate zlib-wrapped and raw, br and zstd (when
 * built in), fed whole, split at every byte boundary and byte by byte,
 * chunked and not; corrupt streams (bad header, bad checksum, truncated,
 * trailing garbage), a bomb against the limit, the codings left alone,
 * the header-count limit, and the Accept-Encoding a request sends. The
 * test data is made here with the encoders (zlib, libbrotlienc, libzstd),
 * which only this test links. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>
#include <zlib.h>
#ifdef UVH_TEST_BROTLI_ENC
#include <brotli/encode.h>
#endif
#ifdef UVH_HAVE_ZSTD
#include <zstd.h>
#endif

typedef struct {
  char *data;
  size_t len;
} blob_t;

/* zlib with windowBits 31 (gzip), 15 (zlib-wrapped) or -15 (raw) */
static blob_t z_compress(const char *in, size_t len, int window_bits) {
  z_stream z;
  blob_t b;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  b.data = malloc(deflateBound(&z, len) + 64);
  z.next_in = (unsigned char *)in;
  z.avail_in = (unsigned)len;
  z.next_out = (unsigned char *)b.data;
  z.avail_out = (unsigned)deflateBound(&z, len) + 64;
  deflate(&z, Z_FINISH);
  b.len = z.total_out;
  deflateEnd(&z);
  return b;
}

/* A gzip stream of `total` zero bytes, compressed a piece at a time. */
static blob_t gzip_zeros(size_t total) {
  static char zeros[65536];
  z_stream z;
  blob_t b;
  size_t cap = total / 500 + 4096;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
  b.data = malloc(cap);
  z.next_out = (unsigned char *)b.data;
  z.avail_out = (unsigned)cap;
  while (total > 0) {
    size_t n = total < sizeof zeros ? total : sizeof zeros;
    total -= n;
    z.next_in = (unsigned char *)zeros;
    z.avail_in = (unsigned)n;
    deflate(&z, total ? Z_NO_FLUSH : Z_FINISH);
  }
  b.len = z.total_out;
  deflateEnd(&z);
  return b;
}

static blob_t encode(uvh_coding_t c, int zlib_wrapped, const char *in, size_t len) {
  blob_t b = {NULL, 0};
  if (c == UVH_CODING_GZIP)
    return z_compress(in, len, 31);
  if (c == UVH_CODING_DEFLATE)
    return z_compress(in, len, zlib_wrapped ? 15 : -15);
#ifdef UVH_TEST_BROTLI_ENC
  if (c == UVH_CODING_BR) {
    size_t cap = BrotliEncoderMaxCompressedSize(len) + 16;
    b.data = malloc(cap);
    b.len = cap;
    BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, len, (const uint8_t *)in, &b.len, (uint8_t *)b.data);
    return b;
  }
#endif
#ifdef UVH_HAVE_ZSTD
  if (c == UVH_CODING_ZSTD) {
    size_t cap = ZSTD_compressBound(len);
    b.data = malloc(cap);
    b.len = ZSTD_compress(b.data, cap, in, len, 3);
    return b;
  }
#endif
  return b;
}

/* Some text that compresses, but not to nothing: lines with numbers. */
static char *payload(size_t len) {
  char *p = malloc(len + 32);
  size_t off = 0;
  unsigned n = 1;
  while (off < len) {
    off += (size_t)snprintf(p + off, 32, "line %u: %u\n", n, n * 2654435761u);
    n++;
  }
  return p;
}

typedef struct {
  uvh_coding_t coding;
  int zlib_wrapped;
  const char *name;
} case_t;

static const case_t cases[] = {
  {UVH_CODING_GZIP, 0, "gzip"},
  {UVH_CODING_DEFLATE, 1, "deflate (zlib-wrapped)"},
  {UVH_CODING_DEFLATE, 0, "deflate (raw)"},
#ifdef UVH_TEST_BROTLI_ENC
  {UVH_CODING_BR, 0, "br"},
#endif
#ifdef UVH_HAVE_ZSTD
  {UVH_CODING_ZSTD, 0, "zstd"},
#endif
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Decode `in` fed in pieces: split at `at` (0: none), then by `step`
 * bytes (0: the rest at once). Returns the feed's or finish's code. */
static int decode(uvh_coding_t c, const char *in, size_t len, size_t at, size_t step, size_t max_out,
                  uvh_buf_t *out, char *why, size_t whylen) {
  uvh_decoder_t *d;
  size_t off = 0;
  int rc = uvh__decoder_new(c, &d);
  uvh_buf_init(out);
  if (rc)
    return rc;
  while (rc == 0 && off < len) {
    size_t n = len - off;
    if (at && off < at)
      n = at - off;
    else if (step && step < n)
      n = step;
    rc = uvh__decoder_feed(d, in + off, n, out, max_out);
    off += n;
  }
  if (rc == 0)
    rc = uvh__decoder_finish(d);
  if (why)
    snprintf(why, whylen, "%s", rc == UVH_E_PROTOCOL ? uvh__decoder_reason(d) : "");
  uvh__decoder_free(d);
  return rc;
}

static int same(const uvh_buf_t *b, const char *want, size_t len) {
  return b->len == len && (len == 0 || memcmp(b->data, want, len) == 0);
}

static void test_codings(void) {
  size_t big_len = 200000, small_len = 3000, i, k;
  char *big = payload(big_len), *small = payload(small_len);
  for (i = 0; i < NCASES; i++) {
    const case_t *t = &cases[i];
    blob_t zb = encode(t->coding, t->zlib_wrapped, big, big_len);
    blob_t zs = encode(t->coding, t->zlib_wrapped, small, small_len);
    uvh_buf_t out;
    int rc, all_ok = 1;
    ok(zb.len > 0 && zb.len < big_len / 2, "%s: test data made (%zu bytes from %zu)", t->name, zb.len, big_len);
    rc = decode(t->coding, zb.data, zb.len, 0, 0, 0, &out, NULL, 0);
    ok(rc == 0 && same(&out, big, big_len), "%s: decoded whole (%zu bytes)", t->name, out.len);
    uvh_buf_free_body(&out);
    rc = decode(t->coding, zb.data, zb.len, 0, 1, 0, &out, NULL, 0);
    ok(rc == 0 && same(&out, big, big_len), "%s: decoded byte by byte", t->name);
    uvh_buf_free_body(&out);
    for (k = 1; k < zs.len && all_ok; k++) {
      rc = decode(t->coding, zs.data, zs.len, k, 0, 0, &out, NULL, 0);
      if (rc != 0 || !same(&out, small, small_len)) {
        all_ok = 0;
        printf("# split at %zu: rc %d, %zu bytes\n", k, rc, out.len);
      }
      uvh_buf_free_body(&out);
    }
    ok(all_ok, "%s: decoded when split at each of the %zu byte boundaries", t->name, zs.len - 1);
    /* the limit counts decoded bytes, and is exact */
    rc = decode(t->coding, zb.data, zb.len, 0, 0, big_len, &out, NULL, 0);
    ok(rc == 0 && out.len == big_len, "%s: a body of exactly max_out passes", t->name);
    uvh_buf_free_body(&out);
    rc = decode(t->coding, zb.data, zb.len, 0, 0, big_len - 1, &out, NULL, 0);
    ok(rc == UVH_E_TOO_LARGE && out.len <= big_len, "%s: one byte over max_out is too large", t->name);
    uvh_buf_free_body(&out);
    free(zb.data);
    free(zs.data);
  }
  free(big);
  free(small);
}

/* Corrupt streams: a bad header, a bad checksum, a truncated stream,
 * bytes after its end. Each is UVH_E_PROTOCOL with a reason. */
static void test_corrupt(void) {
  size_t len = 5000, i;
  char *text = payload(len), why[160];
  for (i = 0; i < NCASES; i++) {
    const case_t *t = &cases[i];
    blob_t z = encode(t->coding, t->zlib_wrapped, text, len);
    char *bad = malloc(z.len + 8);
    uvh_buf_t out;
    int rc;

    if (t->coding != UVH_CODING_DEFLATE || t->zlib_wrapped) {
      /* raw deflate has no header to break */
      memcpy(bad, z.data, z.len);
      bad[0] ^= 0x55;
      rc = decode(t->coding, bad, z.len, 0, 0, 0, &out, why, sizeof why);
      ok(rc == UVH_E_PROTOCOL && *why, "%s: a bad header is refused (%s)", t->name, why);
      uvh_buf_free_body(&out);
    }
    if (t->coding == UVH_CODING_GZIP || t->zlib_wrapped) {
      /* gzip ends in CRC-32 and length, zlib in Adler-32 */
      memcpy(bad, z.data, z.len);
      bad[z.len - (t->coding == UVH_CODING_GZIP ? 8 : 1)] ^= 1;
      rc = decode(t->coding, bad, z.len, 0, 0, 0, &out, why, sizeof why);
      ok(rc == UVH_E_PROTOCOL && *why, "%s: a bad checksum is refused (%s)", t->name, why);
      uvh_buf_free_body(&out);
    }
    rc = decode(t->coding, z.data, z.len - 1, 0, 0, 0, &out, why, sizeof why);
    ok(rc == UVH_E_PROTOCOL && strstr(why, "truncated"), "%s: a stream cut short is refused (%s)", t->name, why);
    uvh_buf_free_body(&out);
    rc = decode(t->coding, z.data, z.len / 2, 0, 0, 0, &out, why, sizeof why);
    ok(rc == UVH_E_PROTOCOL, "%s: half a stream is refused (%s)", t->name, why);
    uvh_buf_free_body(&out);
    memcpy(bad, z.data, z.len);
    memcpy(bad + z.len, "garbage", 7);
    rc = decode(t->coding, bad, z.len + 7, 0, 0, 0, &out, why, sizeof why);
    ok(rc == UVH_E_PROTOCOL && *why, "%s: trailing garbage is refused (%s)", t->name, why);
    uvh_buf_free_body(&out);
    rc = decode(t->coding, bad, z.len + 7, z.len + 1, 0, 0, &out, why, sizeof why);
    ok(rc == UVH_E_PROTOCOL, "%s: and so when it comes in a feed of its own", t->name);
    uvh_buf_free_body(&out);
    rc = decode(t->coding, "", 0, 0, 0, 0, &out, why, sizeof why);
    ok(rc == 0 && out.len == 0, "%s: an empty body is an empty body", t->name);
    uvh_buf_free_body(&out);
    free(bad);
    free(z.data);
  }
  {
    /* gzip: several members follow each other (RFC 1952 2.2) */
    blob_t a = z_compress("first ", 6, 31), b = z_compress("second", 6, 31);
    char *two = malloc(a.len + b.len);
    uvh_buf_t out;
    memcpy(two, a.data, a.len);
    memcpy(two + a.len, b.data, b.len);
    ok(decode(UVH_CODING_GZIP, two, a.len + b.len, a.len, 1, 0, &out, why, sizeof why) == 0 &&
       same(&out, "first second", 12), "gzip: two members decode as one body");
    uvh_buf_free_body(&out);
    ok(decode(UVH_CODING_GZIP, two, a.len + b.len - 3, 0, 0, 0, &out, why, sizeof why) == UVH_E_PROTOCOL,
       "gzip: a truncated second member is refused");
    uvh_buf_free_body(&out);
    ok(decode(UVH_CODING_DEFLATE, "\x78", 1, 0, 0, 0, &out, why, sizeof why) == UVH_E_PROTOCOL,
       "deflate: a single byte is a truncated stream");
    uvh_buf_free_body(&out);
    free(two);
    free(a.data);
    free(b.data);
  }
  free(text);
}

/* A bomb: 16 MiB of zeros in about 16 KiB of gzip stops at the limit,
 * having written no more than the limit and one byte. */
static void test_bomb(void) {
  blob_t z = gzip_zeros((size_t)16 << 20);
  uvh_buf_t out;
  size_t limit = 1 << 20;
  int rc = decode(UVH_CODING_GZIP, z.data, z.len, 0, 4096, limit, &out, NULL, 0);
  ok(z.len < 65536, "the bomb is small (%zu bytes)", z.len);
  is_int(rc, UVH_E_TOO_LARGE, "the bomb is too large");
  ok(out.len <= limit + 1 && out.cap <= 2 * limit + 64, "it stopped at the limit (%zu bytes decoded, %zu held)",
     out.len, out.cap);
  uvh_buf_free_body(&out);
  free(z.data);
}

static void test_names(void) {
  is_int(uvh__coding_from_header("gzip", 4), UVH_CODING_GZIP, "gzip");
  is_int(uvh__coding_from_header(" GZip\t", 6), UVH_CODING_GZIP, "GZip with blanks");
  is_int(uvh__coding_from_header("x-gzip", 6), UVH_CODING_GZIP, "x-gzip");
  is_int(uvh__coding_from_header("Deflate", 7), UVH_CODING_DEFLATE, "Deflate");
  is_int(uvh__coding_from_header("identity", 8), UVH_CODING_NONE, "identity is left alone");
  is_int(uvh__coding_from_header("gzip, br", 8), UVH_CODING_NONE, "stacked codings are left alone");
  is_int(uvh__coding_from_header("gzip,", 5), UVH_CODING_NONE, "a list is left alone");
  is_int(uvh__coding_from_header("", 0), UVH_CODING_NONE, "empty");
  is_int(uvh__coding_from_header("compress", 8), UVH_CODING_NONE, "compress (unknown)");
#ifdef UVH_HAVE_BROTLI
  is_int(uvh__coding_from_header("br", 2), UVH_CODING_BR, "br");
  ok(strstr(uvh_decoders(), ", br") != NULL, "br is built in: %s", uvh_decoders());
#else
  is_int(uvh__coding_from_header("br", 2), UVH_CODING_NONE, "br is not built in");
#endif
#ifdef UVH_HAVE_ZSTD
  is_int(uvh__coding_from_header("zstd", 4), UVH_CODING_ZSTD, "zstd");
  ok(strstr(uvh_decoders(), ", zstd") != NULL, "zstd is built in: %s", uvh_decoders());
#endif
  ok(strncmp(uvh_decoders(), "gzip, deflate", 13) == 0, "gzip and deflate always: %s", uvh_decoders());
}

/* ---- inside the response parser ---- */

typedef struct {
  int rc;
  uvh_h1_message_t m;
  char reason[200];
} parsed_t;

/* Parse a response fed at `at`, then by `step` bytes; decode as asked;
 * EOF at the end when the feeds did not complete it. */
static void parse(parsed_t *r, const char *in, size_t len, size_t at, size_t step, int decode_on, int is_head,
                  size_t max_body, size_t max_count) {
  uvh_parser_t p;
  size_t off = 0, used;
  uvh__h1_message_init(&r->m);
  uvh__parser_init(&p, &r->m, is_head, 65536, max_body);
  p.decode = decode_on ? 1 : 0;
  if (max_count != (size_t)-1)
    p.max_header_count = max_count;
  r->rc = 0;
  while (r->rc == 0 && off < len) {
    size_t n = len - off;
    if (at && off < at)
      n = at - off;
    else if (step && step < n)
      n = step;
    r->rc = uvh__parser_feed(&p, in + off, n, &used);
    off += n;
  }
  if (r->rc == 0)
    r->rc = uvh__parser_eof(&p);
  snprintf(r->reason, sizeof r->reason, "%s", r->rc < 0 ? uvh__parser_reason(&p) : "");
  uvh__parser_release(&p);
}

static int has(const uvh_h1_message_t *m, const char *name) {
  size_t len;
  return uvh__h1_header(m, name, &len) != NULL;
}

/* "HTTP/1.1 200 OK" with `headers`, then the body, as is or chunked in
 * pieces of `chunk` bytes. */
static blob_t response(const char *headers, const char *body, size_t len, size_t chunk) {
  uvh_buf_t b;
  blob_t r;
  uvh_buf_init(&b);
  uvh_buf_append_str(&b, "HTTP/1.1 200 OK\r\nX-Before: 1\r\n");
  uvh_buf_append_str(&b, headers);
  if (chunk) {
    size_t off;
    uvh_buf_append_str(&b, "Transfer-Encoding: chunked\r\nX-After: 2\r\n\r\n");
    for (off = 0; off < len; off += chunk)
      uvh__h1_chunk(&b, body + off, len - off < chunk ? len - off : chunk);
    uvh_buf_append_str(&b, "0\r\nX-Trailer: 3\r\n\r\n");
  } else {
    uvh_buf_append_str(&b, "Content-Length: ");
    uvh_buf_append_uint(&b, len);
    uvh_buf_append_str(&b, "\r\nX-After: 2\r\n\r\n");
    uvh_buf_append(&b, body, len);
  }
  r.data = b.data;
  r.len = b.len;
  return r;
}

static void test_parser(void) {
  size_t len = 20000, i, k;
  char *text = payload(len);
  parsed_t r;
  for (i = 0; i < NCASES; i++) {
    const case_t *t = &cases[i];
    blob_t z = encode(t->coding, t->zlib_wrapped, text, len);
    char head[64];
    size_t chunk;
    snprintf(head, sizeof head, "Content-Encoding: %s\r\n", uvh__coding_name(t->coding));
    for (chunk = 0; chunk <= 700; chunk += 700) {
      const char *how = chunk ? "chunked" : "with Content-Length";
      blob_t resp = response(head, z.data, z.len, chunk);
      int all_ok = 1;
      parse(&r, resp.data, resp.len, 0, 0, 1, 0, 0, (size_t)-1);
      ok(r.rc == 1 && same(&r.m.body, text, len), "%s %s: decoded (%s)", t->name, how, r.reason);
      ok(r.m.decoded == t->coding && strcmp(uvh_response_decoded(&r.m), uvh__coding_name(t->coding)) == 0,
         "%s %s: decoded names %s", t->name, how, uvh_response_decoded(&r.m));
      ok(!has(&r.m, "content-encoding") && !has(&r.m, "content-length") && has(&r.m, "x-before") &&
         has(&r.m, "x-after"), "%s %s: Content-Encoding and Content-Length are removed, the rest kept", t->name, how);
      if (chunk)
        ok(r.m.ntrailers == 1, "%s chunked: the trailer stays", t->name);
      uvh__h1_message_free(&r.m);
      /* every split point of the whole response, head included */
      for (k = 1; k < resp.len && all_ok; k += (t->coding == UVH_CODING_GZIP ? 1 : 7)) {
        parse(&r, resp.data, resp.len, k, 0, 1, 0, 0, (size_t)-1);
        if (r.rc != 1 || !same(&r.m.body, text, len)) {
          all_ok = 0;
          printf("# split at %zu: rc %d (%s)\n", k, r.rc, r.reason);
        }
        uvh__h1_message_free(&r.m);
      }
      ok(all_ok, "%s %s: decoded when split at %s byte boundary", t->name, how,
         t->coding == UVH_CODING_GZIP ? "every" : "every 7th");
      parse(&r, resp.data, resp.len, 0, 1, 1, 0, 0, (size_t)-1);
      ok(r.rc == 1 && same(&r.m.body, text, len), "%s %s: decoded byte by byte", t->name, how);
      uvh__h1_message_free(&r.m);
      parse(&r, resp.data, resp.len, 0, 0, 0, 0, 0, (size_t)-1);
      ok(r.rc == 1 && same(&r.m.body, z.data, z.len) && r.m.decoded == 0 && has(&r.m, "content-encoding") &&
         *uvh_response_decoded(&r.m) == '\0', "%s %s: without decode the body and headers are as sent", t->name, how);
      uvh__h1_message_free(&r.m);
      parse(&r, resp.data, resp.len - (chunk ? 25 : 1), 0, 0, 1, 0, 0, (size_t)-1);
      ok(r.rc == UVH_E_CONN_CLOSED, "%s %s: a connection closed mid-body is closed, not corrupt", t->name, how);
      uvh__h1_message_free(&r.m);
      free(resp.data);
    }
    {
      /* the body is whole as HTTP goes, the stream is not */
      blob_t resp = response(head, z.data, z.len - 1, 0);
      char want[64];
      parse(&r, resp.data, resp.len, 0, 0, 1, 0, 0, (size_t)-1);
      snprintf(want, sizeof want, "corrupt %s-encoded body", uvh__coding_name(t->coding));
      ok(r.rc == UVH_E_PROTOCOL && strstr(r.reason, want) && strstr(r.reason, "truncated"),
         "%s: a stream truncated at the end of the body is a protocol error naming it (%s)", t->name, r.reason);
      uvh__h1_message_free(&r.m);
      free(resp.data);
    }
    {
      /* close-delimited */
      uvh_buf_t b;
      uvh_buf_init(&b);
      uvh_buf_append_str(&b, "HTTP/1.1 200 OK\r\n");
      uvh_buf_append_str(&b, head);
      uvh_buf_append_str(&b, "Connection: close\r\n\r\n");
      uvh_buf_append(&b, z.data, z.len);
      parse(&r, b.data, b.len, 0, 0, 1, 0, 0, (size_t)-1);
      ok(r.rc == 1 && same(&r.m.body, text, len) && r.m.decoded == t->coding, "%s: a body delimited by the close",
         t->name);
      uvh__h1_message_free(&r.m);
      parse(&r, b.data, b.len - 1, 0, 0, 1, 0, 0, (size_t)-1);
      ok(r.rc == UVH_E_PROTOCOL && strstr(r.reason, uvh__coding_name(t->coding)),
         "%s: delimited by the close, cut short: protocol (%s)", t->name, r.reason);
      uvh__h1_message_free(&r.m);
      uvh_buf_free(&b);
    }
    free(z.data);
  }
  free(text);
}

static void test_parser_edges(void) {
  blob_t z = z_compress("hello", 5, 31), bomb = gzip_zeros((size_t)8 << 20);
  parsed_t r;
  blob_t resp;
  static const char *no_body[] = {
    "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\nContent-Length: 25\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
  };
  size_t i;
  for (i = 0; i < 3; i++) {
    parse(&r, no_body[i], strlen(no_body[i]), 0, 0, 1, 0, 0, (size_t)-1);
    ok(r.rc == 1 && r.m.body.len == 0 && r.m.decoded == 0 && has(&r.m, "content-encoding"),
       "no body to decode, headers left as sent: %.15s", no_body[i]);
    uvh__h1_message_free(&r.m);
  }
  resp = response("Content-Encoding: gzip\r\n", z.data, z.len, 0);
  parse(&r, resp.data, resp.len, 0, 0, 1, 1, 0, (size_t)-1);
  ok(r.rc == 1 && r.m.body.len == 0 && r.m.decoded == 0 && has(&r.m, "content-encoding"),
     "HEAD: nothing decoded, headers left as sent");
  uvh__h1_message_free(&r.m);
  free(resp.data);
  resp = response("Content-Encoding: gzip\r\n", "", 0, 100);
  parse(&r, resp.data, resp.len, 0, 0, 1, 0, 0, (size_t)-1);
  ok(r.rc == 1 && r.m.body.len == 0 && r.m.decoded == UVH_CODING_GZIP, "an empty chunked gzip body is empty (%s)",
     r.reason);
  uvh__h1_message_free(&r.m);
  free(resp.data);

  {
    static const char *left[] = {"Content-Encoding: gzip, br\r\n", "Content-Encoding: identity\r\n",
                                 "Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n",
                                 "Content-Encoding: compress\r\n"};
    static const char *label[] = {"gzip, br (stacked)", "identity", "gzip in two headers (stacked)", "compress"};
    for (i = 0; i < 4; i++) {
      resp = response(left[i], z.data, z.len, 0);
      parse(&r, resp.data, resp.len, 0, 0, 1, 0, 0, (size_t)-1);
      ok(r.rc == 1 && same(&r.m.body, z.data, z.len) && r.m.decoded == 0 && has(&r.m, "content-length"),
         "left alone: %s", label[i]);
      uvh__h1_message_free(&r.m);
      free(resp.data);
    }
  }
  {
    char *bad = malloc(z.len);
    memcpy(bad, z.data, z.len);
    bad[z.len - 8] ^= 1;
    resp = response("Content-Encoding: gzip\r\n", bad, z.len, 0);
    parse(&r, resp.data, resp.len, 0, 0, 1, 0, 0, (size_t)-1);
    ok(r.rc == UVH_E_PROTOCOL && strstr(r.reason, "corrupt gzip-encoded body: incorrect data check"),
       "a bad checksum: %s", r.reason);
    uvh__h1_message_free(&r.m);
    free(resp.data);
    free(bad);
  }
  resp = response("Content-Encoding: gzip\r\n", bomb.data, bomb.len, 4000);
  parse(&r, resp.data, resp.len, 0, 0, 1, 0, 1 << 20, (size_t)-1);
  ok(r.rc == UVH_E_TOO_LARGE && strstr(r.reason, "max_body_size (1048576 bytes) once decoded from gzip") &&
     r.m.body.cap <= (2u << 20) + 64, "a bomb stops at max_body_size, counted decoded: %s", r.reason);
  uvh__h1_message_free(&r.m);
  free(resp.data);
  resp = response("Content-Encoding: gzip\r\n", bomb.data, bomb.len, 4000);
  parse(&r, resp.data, resp.len, 0, 0, 1, 0, 1000, (size_t)-1);
  ok(r.rc == UVH_E_TOO_LARGE, "the coded bytes count too (%s)", r.reason);
  uvh__h1_message_free(&r.m);
  free(resp.data);
  free(z.data);
  free(bomb.data);
}

static void test_header_count(void) {
  static const char three[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n";
  static const char trailer[] = "HTTP/1.1 200 OK\r\nA: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n\r\n";
  static const char info[] = "HTTP/1.1 100 Continue\r\nA: 1\r\nB: 2\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  parsed_t r;
  parse(&r, three, sizeof three - 1, 0, 0, 0, 0, 0, 3);
  ok(r.rc == 1, "three header lines with max_header_count 3");
  uvh__h1_message_free(&r.m);
  parse(&r, three, sizeof three - 1, 0, 1, 0, 0, 0, 2);
  ok(r.rc == UVH_E_TOO_LARGE && strstr(r.reason, "more than max_header_count (2)"), "three with 2: %s", r.reason);
  uvh__h1_message_free(&r.m);
  parse(&r, three, sizeof three - 1, 0, 0, 0, 0, 0, 0);
  ok(r.rc == 1, "0 is no limit");
  uvh__h1_message_free(&r.m);
  parse(&r, trailer, sizeof trailer - 1, 0, 0, 0, 0, 0, 3);
  ok(r.rc == 1 && r.m.ntrailers == 1, "two headers and a trailer with 3");
  uvh__h1_message_free(&r.m);
  parse(&r, trailer, sizeof trailer - 1, 0, 0, 0, 0, 0, 2);
  ok(r.rc == UVH_E_TOO_LARGE, "trailers count (%s)", r.reason);
  uvh__h1_message_free(&r.m);
  parse(&r, info, sizeof info - 1, 0, 0, 0, 0, 0, 2);
  ok(r.rc == 1, "a 1xx's header lines do not count against the final response's");
  uvh__h1_message_free(&r.m);
  {
    uvh_parser_t p;
    uvh_h1_message_t m;
    uvh__h1_message_init(&m);
    uvh__parser_init(&p, &m, 0, 0, 0);
    is_int(p.max_header_count, 1000, "the default is 1000");
    uvh__parser_release(&p);
    uvh__h1_message_free(&m);
  }
}

/* The head a request sends: Accept-Encoding unless turned off or the
 * user's own. */
static void test_request_head(void) {
  uvh_request_t *req;
  const char *head;
  size_t len;
  char want[96];
  snprintf(want, sizeof want, "\r\nAccept-Encoding: %s\r\n", uvh_decoders());
  uvh_request_new(&req);
  uvh_request_set_url(req, "http://127.0.0.1/", 17);
  ok(uvh_request_head(req, &head, &len) == 0 && memmem(head, len, want, strlen(want)), "by default: %s", want + 2);
  uvh_request_set_decompress(req, 0);
  ok(uvh_request_head(req, &head, &len) == 0 && !memmem(head, len, "Accept-Encoding", 15), "decompress 0: none");
  uvh_request_set_decompress(req, -1);
  uvh_request_add_header(req, "accept-encoding", 15, "br", 2);
  ok(uvh_request_head(req, &head, &len) == 0 && memmem(head, len, "\r\naccept-encoding: br\r\n", 23) &&
     !memmem(head, len, "Accept-Encoding", 15), "the user's own alone");
  uvh_request_unref(req);
}

int main(void) {
  test_names();
  test_codings();
  test_corrupt();
  test_bomb();
  test_parser();
  test_parser_edges();
  test_header_count();
  test_request_head();
  return done_testing();
}
