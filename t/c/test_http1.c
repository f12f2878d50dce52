/* HTTP/1.1 wire format: request heads, and the response parser fed at
 * once and byte by byte. */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>
#include <limits.h>

#define S(x) x, strlen(x)

static uvh_request_t *mkreq(const char *url, const char *method) {
  uvh_request_t *r;
  uvh_request_new(&r);
  uvh_request_set_url(r, S(url));
  uvh_request_set_decompress(r, 0); /* these heads without Accept-Encoding: test_decode has it */
  if (method)
    uvh_request_set_method(r, S(method));
  return r;
}

static void test_request_heads(void) {
  uvh_request_t *r = mkreq("http://u%3A1:p%40ss@127.0.0.1:8080/p?q=1#f", NULL);
  const char *h;
  size_t len;

  is_int(uvh_request_add_header(r, S("X-A"), S("1")), 0, "add header");
  is_int(uvh_request_add_header(r, S("X-A"), S("2")), 0, "repeat header");
  is_int(uvh_request_head(r, &h, &len), 0, "build head");
  is_mem(h, len,
         "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Uvent/" UVH_VERSION "\r\n"
         "Authorization: Basic dToxOnBAc3M=\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
         "GET head: Host with port, UA, Basic auth, user headers in order, no fragment");
  uvh_request_unref(r);

  r = mkreq("http://example.com/", "POST");
  uvh_request_add_header(r, S("User-Agent"), S("mine"));
  uvh_request_head(r, &h, &len);
  is_mem(h, len, "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nUser-Agent: mine\r\n\r\n",
         "POST without body gets Content-Length: 0; user UA replaces ours; no default port");
  uvh_request_set_body(r, S("hello"));
  uvh_request_head(r, &h, &len);
  ok(strstr(h, "Content-Length: 5\r\n") != NULL, "body length sent");
  uvh_request_unref(r);

  r = mkreq("http://[::1]:81/", "HEAD");
  uvh_request_head(r, &h, &len);
  is_mem(h, len, "HEAD / HTTP/1.1\r\nHost: [::1]:81\r\nUser-Agent: Uvent/" UVH_VERSION "\r\n\r\n",
         "IPv6 Host header");
  uvh_request_unref(r);

  r = mkreq("http://h/", NULL);
  is_int(uvh_request_add_header(r, S("X-B"), S("a\r\nInjected: 1")), UVH_E_BADHEADER, "CRLF in value");
  ok(strstr(uvh_request_last_error(r), "X-B") != NULL, "message names the header: %s", uvh_request_last_error(r));
  is_int(uvh_request_add_header(r, "X-C", 3, "a\0b", 3), UVH_E_BADHEADER, "NUL in value");
  is_int(uvh_request_add_header(r, S("X D"), S("v")), UVH_E_BADHEADER, "space in name");
  is_int(uvh_request_add_header(r, S(""), S("v")), UVH_E_BADHEADER, "empty name");
  is_int(uvh_request_add_header(r, S("Bad:Name"), S("v")), UVH_E_BADHEADER, "colon in name");
  is_int(uvh_request_add_header(r, S("Transfer-Encoding"), S("chunked")), UVH_E_BADHEADER,
         "Transfer-Encoding refused");
  is_int(uvh_request_add_header(r, S("X-Tab"), S("a\tb")), 0, "tab allowed in value");
  is_int(uvh_request_set_method(r, S("GE T")), UVH_E_BADMETHOD, "space in method");
  is_int(uvh_request_set_method(r, S("")), UVH_E_BADMETHOD, "empty method");
  is_int(uvh_request_set_method(r, S("GET\r\n")), UVH_E_BADMETHOD, "CRLF in method");
  is_int(uvh_request_set_method(r, S("PROPFIND")), 0, "extension method");
  is_int(uvh_request_set_url(r, S("ftp://x/")), UVH_E_BADSCHEME, "bad scheme");
  ok(strstr(uvh_request_last_error(r), "ftp://x/") != NULL, "message names the URL: %s", uvh_request_last_error(r));
  is_int(uvh_request_set_timeout(r, -1), UVH_E_BADARG, "negative timeout");
  uvh_request_unref(r);
}

typedef struct {
  int rc;
  size_t consumed;
} feed_result_t;

/* Feed `data` in pieces of `step` bytes (0 = all at once). */
static feed_result_t feed(uvh_parser_t *p, const char *data, size_t len, size_t step) {
  feed_result_t fr = {0, 0};
  size_t off = 0;
  while (off < len) {
    size_t n = step && step < len - off ? step : len - off, used;
    fr.rc = uvh__parser_feed(p, data + off, n, &used);
    if (fr.rc != 0) {
      fr.consumed = off + used;
      return fr;
    }
    off += n;
  }
  fr.consumed = off;
  return fr;
}

static uvh_response_t *parse(const char *data, size_t step, int is_head, size_t max_h, size_t max_b,
                             feed_result_t *fr) {
  static uvh_parser_t p;
  uvh_response_t *r;
  uvh__response_new(&r);
  uvh__parser_init(&p, r, is_head, max_h, max_b);
  *fr = feed(&p, data, strlen(data), step);
  if (fr->rc == 0)
    fr->rc = uvh__parser_eof(&p) == 1 ? 2 : uvh__parser_eof(&p);
  return r;
}

static const char *hdr(uvh_response_t *r, const char *name) {
  static char out[256];
  size_t len;
  const char *v = uvh_response_header(r, name, &len);
  if (!v)
    return NULL;
  snprintf(out, sizeof out, "%.*s", (int)len, v);
  return out;
}

static void test_parser(size_t step) {
  feed_result_t fr;
  uvh_response_t *r;
  const char *body, *n, *v;
  size_t blen, nl, vl;
  char name[64];
  const char *chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Multi: a\r\nX-Multi: b  \r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";

  snprintf(name, sizeof name, "[step %zu]", step);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Y: z\r\n\r\nhelloEXTRA", step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "content-length response completes");
  is_int(fr.consumed, strlen("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Y: z\r\n\r\nhello"),
         "bytes after the response are not consumed");
  is_int(uvh_response_status(r), 200, "status");
  body = uvh_response_body(r, &blen);
  is_mem(body, blen, "hello", "body");
  is_str(hdr(r, "x-y"), "z", "header lookup is case-insensitive");
  ok(uvh_response_keep_alive(r), "HTTP/1.1 keep-alive");
  uvh_response_unref(r);

  r = parse(chunked, step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "chunked completes");
  body = uvh_response_body(r, &blen);
  is_mem(body, blen, "hello world", "chunked body with extension");
  is_int(uvh_response_header_count(r), 3, "three headers");
  uvh_response_header_at(r, 2, &n, &nl, &v, &vl);
  is_mem(v, vl, "b", "trailing spaces trimmed from value");
  is_int(uvh_response_trailer_count(r), 1, "one trailer");
  uvh_response_trailer_at(r, 0, &n, &nl, &v, &vl);
  is_mem(n, nl, "X-Checksum", "trailer name");
  is_mem(v, vl, "abc", "trailer value");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
            step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "1xx then final");
  is_int(uvh_response_status(r), 200, "1xx skipped");
  ok(hdr(r, "link") == NULL, "1xx headers dropped");
  body = uvh_response_body(r, &blen);
  is_mem(body, blen, "final", "final body");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", step, 1, 65536, 0, &fr);
  is_int(fr.rc, 1, "HEAD response completes without body");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "204 has no body");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "304 has no body");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\n\r\nuntil close", step, 0, 65536, 0, &fr);
  is_int(fr.rc, 2, "close-delimited body completes at EOF");
  body = uvh_response_body(r, &blen);
  is_mem(body, blen, "until close", "close-delimited body");
  uvh_response_unref(r);

  r = parse("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", step, 0, 65536, 0, &fr);
  ok(!uvh_response_keep_alive(r), "HTTP/1.0 without keep-alive is not reusable");
  is_int(uvh_response_http_minor(r), 0, "minor version 0");
  uvh_response_unref(r);

  r = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", step, 0, 65536, 0, &fr);
  ok(uvh_response_keep_alive(r), "HTTP/1.0 with keep-alive is reusable");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", step, 0, 65536, 0, &fr);
  ok(!uvh_response_keep_alive(r), "Connection: close");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_PROTOCOL, "conflicting Content-Length");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_PROTOCOL, "Content-Length with Transfer-Encoding");
  uvh_response_unref(r);

  r = parse("HTTP/1.0 20 OK\r\n\r\nbody", step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_PROTOCOL, "two-digit status (found by fuzzing)");
  uvh_response_unref(r);

  r = parse("THIS IS NOT HTTP\r\n\r\n", step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_PROTOCOL, "garbage");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_PROTOCOL, "unrequested 101");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nX-Big: 0123456789012345678901234567890123456789\r\n\r\n", step, 0, 40, 0, &fr);
  is_int(fr.rc, UVH_E_TOO_LARGE, "header block over max_headers_size");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789", step, 0, 65536, 10, &fr);
  is_int(fr.rc, UVH_E_TOO_LARGE, "body over max_body_size");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123", step, 0, 65536, 0, &fr);
  is_int(fr.rc, UVH_E_CONN_CLOSED, "EOF inside the body");
  uvh_response_unref(r);

  r = parse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=0\r\nContent-Length: 0\r\n\r\n", step, 0, 65536, 0, &fr);
  is_int(fr.rc, 1, "Keep-Alive header parsed");
  uvh_response_unref(r);
  (void)name;
}

/* What a strict parser refuses (RFC 9112; issue 9): each shape is also a
 * fuzz corpus entry t/fuzz/corpus/response/strict-NAME-0. `why` is a piece
 * of the reason Uvent itself gives, NULL where llhttp's reason is given
 * (strict llhttp refuses those before our own check would). */
#define SHAPE(name, lit, why) {name, lit, sizeof(lit) - 1, why}
static const struct {
  const char *name, *data;
  size_t len;
  const char *why;
} refused[] = {
    SHAPE("chunk-no-crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n", NULL),
    SHAPE("chunk-lf-only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", NULL),
    SHAPE("name-space", "HTTP/1.1 200 OK\r\nFoo Bar: x\r\nContent-Length: 0\r\n\r\n", NULL),
    SHAPE("space-colon", "HTTP/1.1 200 OK\r\nFoo : x\r\nContent-Length: 0\r\n\r\n", NULL),
    SHAPE("trailer-name-space", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX T: a\r\n\r\n", NULL),
    SHAPE("empty-name", "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n", "has no name"),
    SHAPE("reason-ctl", "HTTP/1.1 200 O\001K\r\nContent-Length: 0\r\n\r\n", "control character in the reason"),
    SHAPE("reason-del", "HTTP/1.1 200 O\177K\r\nContent-Length: 0\r\n\r\n", "control character in the reason"),
    SHAPE("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    SHAPE("obs-fold-tab", "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    SHAPE("obs-fold-empty", "HTTP/1.1 200 OK\r\nX-A:\r\n b\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    SHAPE("obs-fold-trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n",
          "obs-fold"),
    SHAPE("lf-status", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"),
    SHAPE("lf-header", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", "bare LF"),
    SHAPE("lf-end", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", "bare LF"),
    SHAPE("lf-trailer-end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n\n", "bare LF"),
    SHAPE("cr-alone", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", "CR not followed by LF"),
    SHAPE("nul-value", "HTTP/1.1 200 OK\r\nX-A: a\000b\r\nContent-Length: 0\r\n\r\n", NULL),
    SHAPE("ctl-value", "HTTP/1.1 200 OK\r\nX-A: a\001b\r\nContent-Length: 0\r\n\r\n", NULL),
    SHAPE("chunk-size-char", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("chunk-size-0x", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("chunk-size-neg", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("chunk-size-overflow",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("chunk-ext-ctl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\001=b\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("chunk-ext-nul", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\000b\r\nhello\r\n0\r\n\r\n", NULL),
    SHAPE("cl-duplicate", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", NULL),
    SHAPE("cl-conflict", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", NULL),
    SHAPE("cl-list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", NULL),
    SHAPE("cl-then-te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          NULL),
    SHAPE("te-then-cl", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          NULL),
    SHAPE("te-chunked-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          "only a single chunked"),
    SHAPE("te-gzip-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          "only a single chunked"),
    SHAPE("te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello", "only a single chunked"),
    SHAPE("te-twice",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          "only a single chunked"),
    SHAPE("te-empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\nhello", "only a single chunked"),
    SHAPE("te-http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.0"),
    SHAPE("version-2", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP version"),
};

/* ... and what it still takes: the nearest valid shapes. */
static const struct {
  const char *name, *data, *body;
} accepted[] = {
    {"tab and obs-text in the reason", "HTTP/1.1 200 O\tK caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", "ok"},
    {"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "ok"},
    {"tab and obs-text in a value", "HTTP/1.1 200 OK\r\nX-A: a\tcaf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", "ok"},
    {"chunk extensions", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\r\nhello\r\n1;q=\"x\"\r\n!\r\n0;z=1\r\n\r\n",
     "hello!"},
    {"Transfer-Encoding with OWS, case and an empty list element",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: , Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok"},
    {"CRLF-looking bytes inside a body", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\n \r\r\n\t", "\n \r\r\n\t"},
    {"bare LF in chunk data", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na\nb\r\n0\r\n\r\n", "a\nb"},
    {"1xx, chunked final with trailers",
     "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
     "ok"},
};

static uvh_response_t *parse_len(const char *data, size_t len, size_t step, feed_result_t *fr, uvh_parser_t *p) {
  uvh_response_t *r;
  uvh__response_new(&r);
  uvh__parser_init(p, r, 0, 65536, 0);
  *fr = feed(p, data, len, step);
  if (fr->rc == 0)
    fr->rc = uvh__parser_eof(p) == 1 ? 2 : uvh__parser_eof(p);
  return r;
}

static void test_strict(size_t step) {
  size_t i;
  for (i = 0; i < sizeof refused / sizeof *refused; i++) {
    uvh_parser_t p;
    feed_result_t fr;
    uvh_response_t *r = parse_len(refused[i].data, refused[i].len, step, &fr, &p);
    const char *why = uvh__parser_reason(&p);
    char name[300];
    snprintf(name, sizeof name, "[step %zu] %s refused: %s", step, refused[i].name, why);
    is_int(fr.rc, UVH_E_PROTOCOL, name);
    if (refused[i].why)
      ok(strstr(why, refused[i].why) != NULL, "[step %zu] %s: the reason says '%s'", step, refused[i].name,
         refused[i].why);
    uvh_response_unref(r);
  }
  for (i = 0; i < sizeof accepted / sizeof *accepted; i++) {
    uvh_parser_t p;
    feed_result_t fr;
    uvh_response_t *r = parse_len(accepted[i].data, strlen(accepted[i].data), step, &fr, &p);
    const char *body;
    size_t blen;
    char name[300];
    snprintf(name, sizeof name, "[step %zu] %s accepted%s%s", step, accepted[i].name, fr.rc < 0 ? ": " : "",
             fr.rc < 0 ? uvh__parser_reason(&p) : "");
    is_int(fr.rc, 1, name);
    body = uvh_response_body(r, &blen);
    snprintf(name, sizeof name, "[step %zu] %s: body", step, accepted[i].name);
    is_mem(body, blen, accepted[i].body, name);
    uvh_response_unref(r);
  }
}

/* Growth of a response's buffers fails: nomem, not too_large. */
static size_t fail_above;
static void *realloc_limited(void *ptr, size_t size) { return size > fail_above ? NULL : realloc(ptr, size); }

static void test_nomem(void) {
  static char big[20000];
  char head[100];
  uvh_parser_t p;
  feed_result_t fr;
  uvh_response_t *r;
  size_t hl;

  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789", 0, 0, 65536, 10, &fr);
  is_int(fr.rc, UVH_E_TOO_LARGE, "a body over max_body_size is too_large");
  uvh_response_unref(r);
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 10);
  feed(&p, S("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789"), 0);
  is_str(uvh__parser_reason(&p),
         "response body exceeds max_body_size (10 bytes); raise max_body_size, or set it to 0 for no limit",
         "the message names the limit and how to raise it");
  uvh_response_unref(r);

  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 10);
  fr = feed(&p, S("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"), 0);
  is_int(fr.rc, UVH_E_TOO_LARGE, "a declared Content-Length over max_body_size fails before the body");
  uvh_response_unref(r);
  r = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0, 0, 65536, 10, &fr);
  is_int(fr.rc, 1, "a body of exactly max_body_size fits");
  uvh_response_unref(r);

  hl = (size_t)snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof big);
  memset(big, 'x', sizeof big);
  uvh__realloc = realloc_limited;
  fail_above = 4096; /* the header strings fit, the body does not */
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  fr = feed(&p, head, hl, 0);
  is_int(fr.rc, 0, "the head is stored");
  fr = feed(&p, big, sizeof big, 1000);
  is_int(fr.rc, UVH_E_NOMEM, "the body buffer cannot grow: nomem, not too_large");
  ok(strstr(uvh__parser_reason(&p), "response body") != NULL, "reason: %s", uvh__parser_reason(&p));
  uvh_response_unref(r);

  fail_above = 0; /* nothing can grow: the first header string fails */
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  fr = feed(&p, head, hl, 0);
  is_int(fr.rc, UVH_E_NOMEM, "the header buffer cannot grow: nomem");
  ok(strstr(uvh__parser_reason(&p), "headers") != NULL, "reason: %s", uvh__parser_reason(&p));
  uvh_response_unref(r);
  uvh__realloc = realloc;
}

static void test_keep_alive_params(void) {
  uvh_parser_t p;
  uvh_response_t *r;
  size_t used;
  const char *s = "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=7, max=3\r\nContent-Length: 0\r\n\r\n";
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  is_int(uvh__parser_feed(&p, s, strlen(s), &used), 1, "complete");
  ok(p.ka_timeout == 7, "Keep-Alive timeout=7");
  is_int(p.ka_max, 3, "Keep-Alive max=3");
  uvh_response_unref(r);

  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  is_int(uvh__parser_eof(&p), UVH_E_CONN_CLOSED, "EOF before any byte");
  uvh_response_unref(r);
}

/* Parse `s` into a response whose string store already holds `stale`
 * beyond its length (as in memory reused from an earlier response); the
 * parser's Keep-Alive verdict lands in *max and *timeout. */
static void ka_parse(const char *s, const char *stale, int *max, double *timeout) {
  uvh_parser_t p;
  uvh_response_t *r;
  size_t used;
  uvh__response_new(&r);
  uvh_buf_append_str(&r->strings, stale);
  uvh_buf_clear(&r->strings);
  uvh__parser_init(&p, r, 0, 65536, 0);
  if (uvh__parser_feed(&p, s, strlen(s), &used) != 1)
    printf("# not parsed: %s\n", s);
  *max = p.ka_max;
  *timeout = p.ka_timeout;
  uvh_response_unref(r);
}

/* Regression: the parameters were read with atoi/strtod, which ran past
 * the end of the value into whatever followed it in the string store. */
static void test_keep_alive_bounds(void) {
  int max;
  double t;
  /* Keep-Alive is the last header: only stale bytes follow its value */
  ka_parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: timeout=30, max=0\r\n\r\n",
           "99999999999999999999999999999999999999999999999999999999999999999999999999999999", &max, &t);
  is_int(max, 0, "max=0 as the last header, stale digits after it: 0");
  ka_parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: max=1, timeout=0\r\n\r\n",
           "77777777777777777777777777777777777777777777777777777777777777777777777777777777", &max, &t);
  ok(t == 0, "timeout=0 last, stale digits after it: 0 (got %g)", t);
  is_int(max, 1, "and max=1");
  /* the next header's name starts with a digit */
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=0\r\n7-Extra: y\r\nContent-Length: 0\r\n\r\n", "",
           &max, &t);
  is_int(max, 0, "max=0 followed by a header named 7-Extra: 0");
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: max=3, timeout=0\r\n5: y\r\nContent-Length: 0\r\n\r\n", "", &max, &t);
  ok(t == 0, "timeout=0 followed by a header named 5: 0 (got %g)", t);
  /* the same, after a 1xx whose longer head is still in the store */
  ka_parse("HTTP/1.1 103 Early Hints\r\nLink: 1111111111111111111111111111111111111111111111111111111111\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: max=0\r\n\r\n", "", &max, &t);
  is_int(max, 0, "max=0 after a 1xx with digits: 0");
  /* the forms RFC 2068 allows, and what is not a number */
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout = 2.5 , MAX = \"4\"\r\nContent-Length: 0\r\n\r\n", "", &max, &t);
  ok(t == 2.5, "timeout = 2.5 with spaces (got %g)", t);
  is_int(max, 4, "quoted MAX = \"4\"");
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5x, max=-1, max=1e3\r\nContent-Length: 0\r\n\r\n", "", &max, &t);
  ok(t == -1, "timeout=5x is ignored (got %g)", t);
  is_int(max, -1, "max=-1 and max=1e3 are ignored");
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: max=99999999999999999999, timeout=99999999999999999999\r\n"
           "Content-Length: 0\r\n\r\n", "", &max, &t);
  is_int(max, INT_MAX, "a huge max saturates");
  ok(t == 1e9, "a huge timeout is capped (got %g)", t);
  /* said twice: the stricter value holds */
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: max=0\r\nKeep-Alive: timeout=9, max=5\r\nContent-Length: 0\r\n\r\n", "",
           &max, &t);
  is_int(max, 0, "max=0 then max=5 in a second Keep-Alive header: 0");
  ka_parse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2, max=3, timeout=30, max=7\r\nContent-Length: 0\r\n\r\n", "",
           &max, &t);
  ok(t == 2, "timeout=2 then timeout=30: 2 (got %g)", t);
  is_int(max, 3, "max=3 then max=7: 3");
}

int main(void) {
  test_request_heads();
  test_parser(0);
  test_parser(1);
  test_parser(7);
  test_strict(0);
  test_strict(1);
  test_strict(7);
  test_nomem();
  test_keep_alive_params();
  test_keep_alive_bounds();
  return done_testing();
}
