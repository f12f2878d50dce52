#define _GNU_SOURCE /* memmem */
/* The HTTP/1 codec from bytes alone (it includes only http/h1.h): the
 * request direction (a server's) fed whole and byte by byte, its limits and
 * refusals, and the writer's chunked framing read back by both directions. */
#include "http/h1.h"
#include "tap.h"
#include <stdlib.h>

static uvh_h1_message_t *message_new(void) {
  uvh_h1_message_t *m = calloc(1, sizeof *m);
  uvh__h1_message_init(m);
  return m;
}

static void message_free(uvh_h1_message_t *m) {
  uvh__h1_message_free(m);
  free(m);
}

typedef struct {
  int rc;          /* 1 complete, 0 wants more, < 0 refused */
  size_t consumed; /* of the whole input, when complete (or at UVH_PARSER_HEAD) */
} result_t;

/* Feed `in` in pieces of `step` bytes (0: all at once). */
static result_t feed(uvh_parser_t *p, const char *in, size_t len, size_t step) {
  result_t r = {0, 0};
  size_t off = 0;
  while (off < len && r.rc == 0) {
    size_t n = step && step < len - off ? step : len - off, used;
    r.rc = uvh__parser_feed(p, in + off, n, &used);
    if (r.rc == 1 || r.rc == UVH_PARSER_HEAD)
      r.consumed = off + used;
    off += n;
  }
  return r;
}

static result_t parse_request(uvh_h1_message_t *m, const char *in, size_t step, size_t max_h, size_t max_b,
                              uvh_parser_t *p) {
  uvh__parser_init_request(p, m, max_h, max_b);
  return feed(p, in, strlen(in), step);
}

static int has_header(const uvh_h1_message_t *m, const char *name, const char *value) {
  size_t len;
  const char *v = uvh__h1_header(m, name, &len);
  return v && len == strlen(value) && memcmp(v, value, len) == 0;
}

static const char *body_of(const uvh_h1_message_t *m, size_t *len) {
  *len = m->body.len;
  return m->body.data ? m->body.data : "";
}

static void test_requests(size_t step) {
  static const char get[] = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Two: 1\r\n\r\nGET /next HTTP/1.1\r\n";
  static const char post[] = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  static const char chunked[] = "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n";
  const char *how = step ? "byte by byte" : "whole";
  uvh_h1_message_t *m = message_new();
  uvh_parser_t p;
  result_t r;
  const char *b;
  size_t blen;

  r = parse_request(m, get, step, 65536, 0, &p);
  is_int(r.rc, 1, "GET parses");
  ok(strcmp(uvh__h1_method_name(m), "GET") == 0, "method GET (%s)", how);
  ok(m->target_len == 8 && memcmp(m->strings.data + m->target_off, "/a/b?c=d", 8) == 0, "its target (%s)", how);
  ok(m->http_major == 1 && m->http_minor == 1, "HTTP/1.1 (%s)", how);
  ok(has_header(m, "host", "example.com") && has_header(m, "X-Two", "1"), "its headers (%s)", how);
  ok(has_header(m, "HOST", "example.com") && has_header(m, "x-two", "1") && !has_header(m, "X-Twp", "1") &&
     !has_header(m, "Y-Two", "1") && !has_header(m, "X-Tw", "1"), "found in any case, no other name (%s)", how);
  is_int(r.consumed, sizeof get - 1 - strlen("GET /next HTTP/1.1\r\n"), "the next request's bytes are left over");
  ok(m->keep_alive, "HTTP/1.1 keeps the connection (%s)", how);

  r = parse_request(m, post, step, 65536, 0, &p);
  is_int(r.rc, 1, "POST with Content-Length parses");
  b = body_of(m, &blen);
  ok(strcmp(uvh__h1_method_name(m), "POST") == 0 && blen == 5 && memcmp(b, "hello", 5) == 0, "method and body (%s)", how);

  r = parse_request(m, chunked, step, 65536, 0, &p);
  is_int(r.rc, 1, "a chunked PUT parses");
  b = body_of(m, &blen);
  ok(blen == 5 && memcmp(b, "abcde", 5) == 0, "its chunks joined (%s)", how);
  ok(m->ntrailers == 1, "and its trailer (%s)", how);
  message_free(m);
}

static void refused(const char *in, size_t step, size_t max_h, size_t max_b, int want, const char *what) {
  uvh_h1_message_t *m = message_new();
  uvh_parser_t p;
  result_t r = parse_request(m, in, step, max_h, max_b, &p);
  is_int(r.rc, want, what);
  if (r.rc < 0)
    ok(uvh__parser_reason(&p) && *uvh__parser_reason(&p), "with a reason: %s", uvh__parser_reason(&p));
  message_free(m);
}

static void test_refusals(size_t step) {
  refused("GET / HTTP/1.1\nHost: h\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL, "a bare LF is refused");
  refused("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL, "obs-fold is refused");
  refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL, "HTTP/2.0 in a request line is refused");
  refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL,
          "a Transfer-Encoding that does not end in chunked is refused");
  refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL,
          "Transfer-Encoding in HTTP/1.0 is refused");
  refused("GET / HTTP/1.1\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n", step, 32, 0, UVH_E_TOO_LARGE,
          "headers over max_headers_size are refused");
  refused("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", step, 0, 4, UVH_E_TOO_LARGE,
          "a declared body over max_body_size is refused");
  refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n0\r\n\r\n", step, 0, 4, UVH_E_TOO_LARGE,
          "a chunked body over max_body_size is refused");
  refused("G@T / HTTP/1.1\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL, "a bad method is refused");
  refused("GET / HTTP/1.1\r\nX-A: a\nb: c\r\n\r\n", step, 0, 0, UVH_E_PROTOCOL,
          "a bare LF inside a header line, a CRLF after it, is refused");
}

/* Every byte in a header name, of a request and of a response: taken
 * when it is a token character (RFC 9110 5.6.2), refused otherwise (by
 * strict llhttp, or by the parser's own table over a lenient one). */
static void test_name_bytes(int response) {
  int c, wrong = 0;
  for (c = 1; c < 256; c++) {
    char in[64];
    int tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                (c != ':' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
    uvh_h1_message_t *m = message_new();
    uvh_parser_t p;
    result_t r;
    if (c == '\r' || c == '\n' || c == ':') {
      message_free(m);
      continue; /* these end the name or the line: other checks */
    }
    if (response) {
      snprintf(in, sizeof in, "HTTP/1.1 200 OK\r\nX%cY: v\r\nContent-Length: 0\r\n\r\n", c);
      uvh__parser_init(&p, m, 0, 0, 0);
      r = feed(&p, in, strlen(in), 0);
    } else {
      snprintf(in, sizeof in, "GET / HTTP/1.1\r\nX%cY: v\r\n\r\n", c);
      r = parse_request(m, in, 0, 0, 0, &p);
    }
    if ((r.rc == 1) != tchar) {
      printf("# byte 0x%02x in a header name: rc %d\n", c, r.rc);
      wrong++;
    }
    message_free(m);
  }
  ok(wrong == 0, "%s header names take exactly the token characters", response ? "response" : "request");
}

/* The writer's chunks, then its last chunk, read back by a parser. */
static void test_chunked_writer(void) {
  uvh_buf_t out;
  uvh_h1_message_t *m = message_new();
  uvh_parser_t p;
  result_t r;
  size_t blen, i;
  const char *b;
  char big[300];
  for (i = 0; i < sizeof big; i++)
    big[i] = (char)('a' + i % 26);
  uvh_buf_init(&out);
  uvh_buf_append_str(&out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  is_int(uvh__h1_chunk(&out, "hello", 5), 0, "a chunk of 5 bytes");
  ok(out.len >= 10 && memcmp(out.data + out.len - 10, "5\r\nhello\r\n", 10) == 0, "framed as 5 CRLF hello CRLF");
  is_int(uvh__h1_chunk(&out, big, sizeof big), 0, "a chunk of 300 bytes");
  ok(memmem(out.data, out.len, "12c\r\n", 5) != NULL, "its size in hex");
  is_int(uvh__h1_chunk(&out, "", 0), 0, "an empty chunk writes nothing");
  is_int(uvh__h1_last_chunk(&out), 0, "the last chunk");
  ok(memcmp(out.data + out.len - 5, "0\r\n\r\n", 5) == 0, "is 0 CRLF CRLF");
  uvh__parser_init(&p, m, 0, 65536, 0);
  r = feed(&p, out.data, out.len, 0);
  is_int(r.rc, 1, "a response parser reads it whole");
  b = body_of(m, &blen);
  ok(blen == 5 + sizeof big && memcmp(b, "hello", 5) == 0 && memcmp(b + 5, big, sizeof big) == 0, "the body comes back");
  uvh__parser_init(&p, m, 0, 65536, 0);
  r = feed(&p, out.data, out.len, 1);
  is_int(r.rc, 1, "and byte by byte");
  ok(m->body.len == 5 + sizeof big, "the same body");
  uvh_buf_free(&out);
  message_free(m);
}

/* A 100 Continue is surfaced to the parser's owner (continue_seen), a
 * 103 is not; the final response still follows, whole or byte by byte. */
static void test_continue_seen(size_t step) {
  static const char only100[] = "HTTP/1.1 100 Continue\r\n\r\n";
  static const char hints[] = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  static const char final[] = "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n";
  uvh_h1_message_t *m = message_new();
  uvh_parser_t p;
  result_t r;
  uvh__parser_init(&p, m, 0, 65536, 0);
  r = feed(&p, hints, strlen(hints), step);
  is_int(r.rc, 0, "a 103: more wanted");
  is_int(p.continue_seen, 0, "a 103 is not a 100");
  r = feed(&p, only100, strlen(only100), step);
  is_int(r.rc, 0, "a 100: more wanted");
  is_int(p.continue_seen, 1, "the 100 is seen");
  p.continue_seen = 0;
  r = feed(&p, final, strlen(final), step);
  is_int(r.rc, 1, "then the final response");
  is_int(m->status, 417, "its status");
  is_int(p.continue_seen, 0, "no second 100");
  uvh__parser_release(&p);
  message_free(m);
}

/* The writer's head for a chunked body: Transfer-Encoding, no Content-Length. */
static void test_chunked_head(void) {
  uvh_buf_t out;
  uvh_h1_request_head_t h;
  uvh_buf_init(&out);
  memset(&h, 0, sizeof h);
  h.method = "PUT";
  h.target = "/up";
  h.host = "h";
  h.chunked = 1;
  is_int(uvh__h1_request_head(&out, &h), 0, "a chunked request head");
  is_mem(out.data, out.len, "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
         "Transfer-Encoding: chunked, and no Content-Length for a PUT");
  uvh_buf_free(&out);
}

/* max_multipart_size set: the feed stops after a multipart/form-data
 * head for the caller's limit (uvh__parser_body_limit), whose refusal
 * names it; other heads go on. Fed whole and byte by byte. */
static void test_multipart(size_t step) {
  static const char declared[] = "POST / HTTP/1.1\r\nContent-Type: Multipart/Form-Data; boundary=x\r\n"
                                 "Content-Length: 10\r\n\r\n0123456789";
  static const char chunked[] = "POST / HTTP/1.1\r\nContent-Type: multipart/form-data\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n";
  static const char plain[] = "POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789";
  uvh_h1_message_t *m = message_new();
  uvh_parser_t p;
  result_t r;
  size_t head = strlen(declared) - 10, blen = 0;

  uvh__parser_init_request(&p, m, 0, 100);
  p.max_multipart_size = 4;
  r = feed(&p, declared, strlen(declared), step);
  ok(r.rc == UVH_PARSER_HEAD && p.multipart, "a multipart/form-data head stops the feed (the type in any case)");
  is_int(uvh__parser_body_limit(&p, 4, "max_multipart_size"), UVH_E_TOO_LARGE, "a declared body over its limit");
  ok(strstr(uvh__parser_reason(&p), "exceeds max_multipart_size (4 bytes)") != NULL, "the refusal names it: %s",
     uvh__parser_reason(&p));

  uvh__parser_init_request(&p, m, 0, 100);
  p.max_multipart_size = 4;
  r = feed(&p, chunked, strlen(chunked), step);
  is_int(r.rc, UVH_PARSER_HEAD, "a chunked one stops too");
  is_int(uvh__parser_body_limit(&p, 4, "max_multipart_size"), 0, "its limit is set");
  is_int(r.consumed, strlen(chunked) - strlen("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"), "after the head");
  r = feed(&p, chunked + r.consumed, strlen(chunked) - r.consumed, step);
  is_int(r.rc, UVH_E_TOO_LARGE, "then a chunked body over it is refused");
  ok(strstr(uvh__parser_reason(&p), "request body exceeds max_multipart_size (4 bytes); raise max_multipart_size") != NULL,
     "naming max_multipart_size: %s", uvh__parser_reason(&p));

  uvh__parser_init_request(&p, m, 0, 4);
  p.max_multipart_size = 100;
  r = feed(&p, declared, strlen(declared), step);
  ok(r.rc == UVH_PARSER_HEAD && r.consumed == head, "a larger max_multipart_size: the head stops the feed");
  is_int(uvh__parser_body_limit(&p, 100, "max_multipart_size"), 0, "the declared body is within it");
  r = feed(&p, declared + head, strlen(declared) - head, step);
  ok(r.rc == 1 && body_of(m, &blen) && blen == 10, "the body over max_body_size 4 is taken (%zu bytes)", blen);

  uvh__parser_init_request(&p, m, 0, 4);
  p.max_multipart_size = 100;
  r = feed(&p, plain, strlen(plain), step);
  is_int(r.rc, UVH_E_TOO_LARGE, "another type goes on to max_body_size");
  ok(strstr(uvh__parser_reason(&p), "exceeds max_body_size (4 bytes)") != NULL, "naming it: %s", uvh__parser_reason(&p));
  message_free(m);
}

int main(void) {
  test_continue_seen(0);
  test_continue_seen(1);
  test_chunked_head();
  test_requests(0);
  test_requests(1);
  test_refusals(0);
  test_refusals(1);
  test_name_bytes(0);
  test_name_bytes(1);
  test_chunked_writer();
  test_multipart(0);
  test_multipart(1);
  return done_testing();
}
