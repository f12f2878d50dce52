/* h1_parser.c - HTTP/1.1 responses in, from bytes alone.
 *
 * It wraps llhttp (built in strict mode by src/Makefile) and
 * adds the checks llhttp 8 lacks, which also stand in for strict mode when
 * a system libllhttp is used. Parser callbacks only copy bytes into the
 * response (the read buffer is reused right after), check what llhttp
 * does not and enforce the size limits; decisions are left to the caller (the client).
 */
#include "http/h1.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

/* ----------------------------------------------------------------- parser */

#define PARSER(l) uvh_container_of(l, uvh_parser_t, llhttp)

const char *uvh__h1_header(const uvh_h1_message_t *m, const char *name, size_t *value_len) {
  size_t i, nlen = strlen(name);
  for (i = 0; i < m->nheaders; i++) {
    const uvh_header_t *h = &m->headers[i];
    const char *hn = m->strings.data + h->name_off;
    /* the first byte alone (any case) rules out most names without a call */
    if (h->name_len == nlen && (nlen == 0 || ((unsigned char)*hn | 0x20) == ((unsigned char)*name | 0x20)) &&
        strncasecmp(hn, name, nlen) == 0) {
      *value_len = h->value_len;
      return m->strings.data + h->value_off;
    }
  }
  return NULL;
}

/* Refuse the rest of the message: `err` is what the feed returns, and
 * `why` is kept as our own reason (llhttp replaces the reason of a failed
 * callback with its own). */
static int refuse(uvh_parser_t *p, int err, const char *why) {
  p->cb_error = err;
  p->reason = why;
  return HPE_USER;
}

static int refuse_limit(uvh_parser_t *p, const char *what, const char *limit, size_t value) {
  if (p->body_limit && strcmp(limit, "max_body_size") == 0)
    limit = p->body_limit; /* a request's own limit in its place (uvh__parser_body_limit) */
  snprintf(p->reason_buf, sizeof p->reason_buf, "%s %s exceeds %s (%zu bytes); raise %s, or set it to 0 for no limit",
           p->is_request ? "request" : "response", what, limit, value, limit);
  return refuse(p, UVH_E_TOO_LARGE, p->reason_buf);
}

/* Count header-block bytes (with a little per-line overhead, as on the wire). */
static int count_header_bytes(uvh_parser_t *p, size_t len) {
  p->header_bytes += len;
  if (p->max_headers_size && p->header_bytes > p->max_headers_size)
    return refuse_limit(p, "headers", "max_headers_size", p->max_headers_size);
  return 0;
}

static inline int append_string(uvh_parser_t *p, const char *at, size_t len) {
  uvh_buf_t *b = &p->resp->strings;
  if (b->cap - b->len >= len && len) { /* the usual case: reserved from the head's length in the feed */
    memcpy(b->data + b->len, at, len);
    b->len += len;
    return 0;
  }
  if (uvh_buf_append(b, at, len))
    return refuse(p, UVH_E_NOMEM, "could not grow the buffer of the response's headers");
  return 0;
}

/* RFC 9110 5.6.2: the characters of a token (a header name), as a table
 * (one load per byte instead of ranges and a strchr) */
static unsigned char tchar_table[256];

static int tchar_table_ready;

static void init_tchar_table(void) {
  const char *extra = "!#$%&'*+-.^_`|~";
  int c;
  if (tchar_table_ready)
    return;
  for (c = 0; c < 256; c++)
    tchar_table[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  for (; *extra; extra++)
    tchar_table[(unsigned char)*extra] = 1;
  tchar_table_ready = 1;
}

int uvh__h1_is_token(const char *s, size_t len) {
  size_t i;
  init_tchar_table();
  if (len == 0)
    return 0;
  for (i = 0; i < len; i++)
    if (!tchar_table[(unsigned char)s[i]])
      return 0;
  return 1;
}

static int on_message_begin(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_h1_message_t *r = p->resp;
  uvh_buf_clear(&r->strings);
  uvh_buf_clear(&r->body);
  r->nheaders = r->ntrailers = 0;
  r->reason_off = r->reason_len = 0;
  r->target_off = r->target_len = 0;
  r->status = 0;
  p->in_trailers = 0;
  p->in_body = 0;
  p->informational = 0;
  p->in_header_value = 0;
  p->header_bytes = 0;
  r->decoded = 0;
  if (p->max_header_count && r->cap_headers > p->max_header_count)
    r->cap_headers = p->max_header_count; /* the storage stays, counted as no more (see on_header_value_complete) */
  p->ka_max = -1;
  p->ka_timeout = -1;
  return 0;
}

static int on_status(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  size_t i;
  int rc = count_header_bytes(p, len);
  if (rc)
    return rc;
  /* RFC 9112 4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
  for (i = 0; i < len; i++)
    if (((unsigned char)at[i] < 0x20 && at[i] != '\t') || at[i] == 0x7f)
      return refuse(p, UVH_E_PROTOCOL, "control character in the reason phrase of the status line");
  if (p->resp->reason_len == 0)
    p->resp->reason_off = (uint32_t)p->resp->strings.len;
  p->resp->reason_len += (uint32_t)len;
  return append_string(p, at, len);
}

static int on_url(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  int rc = count_header_bytes(p, len);
  if (rc)
    return rc;
  /* the pieces of one target are appended one after the other */
  if (p->resp->target_len == 0)
    p->resp->target_off = (uint32_t)p->resp->strings.len;
  p->resp->target_len += (uint32_t)len;
  return append_string(p, at, len);
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  size_t i;
  int rc = count_header_bytes(p, len + 4);
  if (rc)
    return rc;
  /* strict llhttp (built in by src/Makefile) refuses these bytes itself,
   * before this callback; a system libllhttp may not be strict */
#if !defined(LLHTTP_STRICT_MODE) || !LLHTTP_STRICT_MODE
  for (i = 0; i < len; i++)
    if (!tchar_table[(unsigned char)at[i]])
      return refuse(p, UVH_E_PROTOCOL, "invalid character in a header name (a space, a control character or a "
                                       "separator; a space before the colon is not allowed either)");
#else
  (void)i;
#endif
  if (p->in_header_value || p->cur.name_len == 0) {
    p->in_header_value = 0;
    p->cur.name_off = (uint32_t)p->resp->strings.len;
    p->cur.name_len = 0;
    p->cur.value_off = 0;
    p->cur.value_len = 0;
  }
  p->cur.name_len += (uint32_t)len;
  return append_string(p, at, len);
}

static int on_header_value(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  int rc = count_header_bytes(p, len);
  if (rc)
    return rc;
  if (!p->in_header_value) {
    p->in_header_value = 1;
    p->cur.value_off = (uint32_t)p->resp->strings.len;
    p->cur.value_len = 0;
  }
  p->cur.value_len += (uint32_t)len;
  return append_string(p, at, len);
}

static int on_header_value_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_h1_message_t *r = p->resp;
  const char *v;

  if (p->cur.name_len == 0) /* llhttp takes ": value" for a header */
    return refuse(p, UVH_E_PROTOCOL, "a header line has no name");
  if (!p->in_header_value) { /* empty value: no on_header_value call */
    p->cur.value_off = (uint32_t)r->strings.len;
    p->cur.value_len = 0;
  }
  if (p->cur.value_len > 0) {
    v = r->strings.data + p->cur.value_off;
    while (p->cur.value_len > 0 && (v[p->cur.value_len - 1] == ' ' || v[p->cur.value_len - 1] == '\t'))
      p->cur.value_len--;
  }
  if (!p->informational) {
    size_t n = r->nheaders + r->ntrailers;
    /* max_header_count is checked when the table is full: it never holds
     * more (on_message_begin trims a larger one's recorded size) */
    if (n == r->cap_headers) {
      size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
      if (p->max_header_count && n >= p->max_header_count) {
        snprintf(p->reason_buf, sizeof p->reason_buf,
                 "%s has more than max_header_count (%zu) header and trailer lines; raise max_header_count, or set "
                 "it to 0 for no limit", p->is_request ? "request" : "response", p->max_header_count);
        return refuse(p, UVH_E_TOO_LARGE, p->reason_buf);
      }
      if (p->max_header_count && cap > p->max_header_count)
        cap = p->max_header_count;
      uvh_header_t *h = uvh__realloc(r->headers, cap * sizeof *h);
      if (h == NULL)
        return refuse(p, UVH_E_NOMEM, "could not grow the table of the response's headers");
      r->headers = h;
      r->cap_headers = cap;
    }
    r->headers[n] = p->cur;
    if (p->in_trailers)
      r->ntrailers++;
    else
      r->nheaders++;
  }
  p->cur.name_len = 0;
  p->in_header_value = 0;
  return 0;
}

/* The decimal number that is all of [v, end): digits, for a timeout also a
 * fraction. 0 and *out, or -1 when it is anything else. Never reads past
 * `end`: the value lies in the response's string store, where the next
 * header's name, or bytes never written, follow it (reading on there made
 * "max=0" followed by a digit count as more requests). */
static int parse_ka_number(const char *v, const char *end, int fraction, double *out) {
  double n = 0, scale = 1;
  int digits = 0, dot = 0;
  if (end - v >= 2 && *v == '"' && end[-1] == '"')
    v++, end--; /* quoted-string form */
  for (; v < end; v++) {
    if (*v >= '0' && *v <= '9') {
      if (dot)
        n += (*v - '0') * (scale /= 10);
      else
        n = n * 10 + (*v - '0');
      digits++;
    } else if (*v == '.' && fraction && !dot && digits) {
      dot = 1;
    } else {
      return -1;
    }
  }
  if (!digits)
    return -1;
  *out = n;
  return 0;
}

/* Keep-Alive: timeout=N, max=M (RFC 2068 19.7.1.1 style parameters); a
 * parameter whose value is not a number is ignored. */
static void parse_keep_alive(uvh_parser_t *p, const char *v, size_t len) {
  const char *end = v + len;
  while (v < end) {
    const char *name = v, *name_end, *val, *val_end;
    double n;
    while (v < end && *v != ',')
      v++;
    val_end = v;
    if (v < end)
      v++;
    while (name < val_end && (*name == ' ' || *name == '\t'))
      name++;
    while (val_end > name && (val_end[-1] == ' ' || val_end[-1] == '\t'))
      val_end--;
    for (name_end = name; name_end < val_end && *name_end != '='; name_end++)
      ;
    if (name_end == val_end)
      continue;
    val = name_end + 1;
    while (name_end > name && (name_end[-1] == ' ' || name_end[-1] == '\t'))
      name_end--;
    while (val < val_end && (*val == ' ' || *val == '\t'))
      val++;
    if (name_end - name == 7 && strncasecmp(name, "timeout", 7) == 0) {
      /* capped so that seconds never overflow as milliseconds */
      /* a server that says it twice (or in two Keep-Alive headers) is
       * held to the stricter value */
      if (parse_ka_number(val, val_end, 1, &n) == 0 && (p->ka_timeout < 0 || n < p->ka_timeout))
        p->ka_timeout = n < 1e9 ? n : 1e9;
    } else if (name_end - name == 3 && strncasecmp(name, "max", 3) == 0) {
      if (parse_ka_number(val, val_end, 0, &n) == 0 && (p->ka_max < 0 || n < p->ka_max))
        p->ka_max = n < INT_MAX ? (int)n : INT_MAX;
    }
  }
}

/* The only transfer coding we decode, and so the only one we accept, is a
 * single chunked: with another coding llhttp would deliver the coded bytes
 * (a final one other than chunked even makes the body run to the close,
 * RFC 9112 6.3), and HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1). */
static const char *check_transfer_encoding(const uvh_h1_message_t *r, int is_request) {
  size_t i, headers = 0, codings = 0, bad = 0;
  for (i = 0; i < r->nheaders; i++) {
    const uvh_header_t *h = &r->headers[i];
    const char *v = r->strings.data + h->value_off, *end = v + h->value_len;
    if (h->name_len != 17 || strncasecmp(r->strings.data + h->name_off, "transfer-encoding", 17) != 0)
      continue;
    headers++;
    for (;;) {
      const char *e = memchr(v, ',', (size_t)(end - v));
      size_t n;
      if (e == NULL)
        e = end;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      n = (size_t)(e - v);
      while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
      if (n) { /* empty list elements do not count (RFC 9110 5.6.1) */
        codings++;
        if (n != 7 || strncasecmp(v, "chunked", 7) != 0)
          bad++;
      }
      if (e == end)
        break;
      v = e + 1;
    }
  }
  if (headers == 0)
    return NULL;
  if (r->http_minor == 0)
    return is_request ? "Transfer-Encoding in an HTTP/1.0 request" : "Transfer-Encoding in an HTTP/1.0 response";
  if (bad || codings != 1) /* an empty one would make llhttp read to the close */
    return "unsupported Transfer-Encoding: only a single chunked coding is accepted";
  return NULL;
}

/* The request direction's end of head: the client rules (1xx, HEAD,
 * Keep-Alive) are not a server's. RFC 9112 6.3: a request's body is
 * framed by chunked or Content-Length only. */
static int request_headers_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_h1_message_t *r = p->resp;
  const char *bad;
  r->http_major = llhttp_get_http_major(l);
  r->http_minor = llhttp_get_http_minor(l);
  r->method = llhttp_get_method(l);
  if (r->http_major != 1)
    return refuse(p, UVH_E_PROTOCOL, "the request line names an HTTP version other than 1.0 and 1.1");
  /* an Upgrade request is an ordinary one to the parser: the message ends
   * at its head (or body), and the owner either answers it in HTTP/1.1 or
   * takes the connection (uvh_server_req_detach) before the new protocol's
   * bytes, which a client sends only after the 101 */
  if (r->method == HTTP_CONNECT)
    return refuse(p, UVH_E_PROTOCOL, "CONNECT is not supported");
  p->in_trailers = 1;
  r->keep_alive = llhttp_should_keep_alive(l) ? 1 : 0;
  if ((bad = check_transfer_encoding(r, p->is_request)) != NULL)
    return refuse(p, UVH_E_PROTOCOL, bad);
  if (p->max_multipart_size && ((l->flags & F_CHUNKED) || ((l->flags & F_CONTENT_LENGTH) && l->content_length))) {
    /* a multipart/form-data body (the media type in any case, parameters
     * after it) may have a limit of its own: the caller settles it
     * (uvh__parser_body_limit) before any of the body is taken */
    size_t vlen;
    const char *ct = uvh__h1_header(r, "content-type", &vlen);
    while (ct && vlen && (*ct == ' ' || *ct == '\t'))
      ct++, vlen--;
    if (ct && vlen >= 19 && strncasecmp(ct, "multipart/form-data", 19) == 0 &&
        (vlen == 19 || ct[19] == ';' || ct[19] == ' ' || ct[19] == '\t')) {
      p->multipart = 1;
      p->head_paused = 1;
      return HPE_PAUSED;
    }
  }
  if (p->max_body_size && (l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body_size)
    return refuse_limit(p, "body", "max_body_size", p->max_body_size);
  return 0;
}

static int start_decoding(uvh_parser_t *p, size_t from);

/* The final head is parsed and a body follows: a streaming caller gets
 * the head before any of it, so the feed stops here. */
static inline int body_follows(uvh_parser_t *p) {
  if (!p->stream)
    return 0;
  p->head_paused = 1;
  return HPE_PAUSED;
}

static int on_headers_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_h1_message_t *r = p->resp;
  int status = llhttp_get_status_code(l);
  size_t vlen;
  const char *ka, *bad;
  if (p->is_request)
    return request_headers_complete(l);

  r->status = status;
  r->http_major = llhttp_get_http_major(l);
  r->http_minor = llhttp_get_http_minor(l);
  /* llhttp also takes HTTP/0.9 and HTTP/2.0 status lines */
  if (r->http_major != 1)
    return refuse(p, UVH_E_PROTOCOL, "the status line names an HTTP version other than 1.0 and 1.1");
  if (status < 100) {
    /* llhttp accepts fewer than three digits; HTTP does not (found by fuzzing) */
    p->reason = "status code is not three digits";
    return -1;
  }
  if (status >= 100 && status < 200) {
    if (status == 101) {
      /* llhttp replaces the reason of a failed callback: keep our own */
      p->reason = "unexpected 101 Switching Protocols (no upgrade was requested)";
      return -1;
    }
    p->informational = 1;
    if (status == 100)
      p->continue_seen = 1;
    return 1; /* no body; the final response follows */
  }
  p->in_trailers = 1; /* any header after this point is a trailer */
  r->keep_alive = llhttp_should_keep_alive(l) ? 1 : 0;
  ka = uvh__h1_header(r, "keep-alive", &vlen);
  if (ka)
    parse_keep_alive(p, ka, vlen);
  /* these never have a body, whatever Content-Length says (RFC 9112 6.3) */
  if (p->is_head || status == 204 || status == 304)
    return 1;
  if ((bad = check_transfer_encoding(r, p->is_request)) != NULL)
    return refuse(p, UVH_E_PROTOCOL, bad);
  /* a declared length over the limit fails now, before any of the body */
  if (p->max_body_size && (l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body_size)
    return refuse_limit(p, "body", "max_body_size", p->max_body_size);
  /* llhttp_message_needs_eof is only meaningful once the head is known */
  p->needs_eof = llhttp_message_needs_eof(l) ? 1 : 0;
  if (!(l->flags & F_CHUNKED) && ((l->flags & F_CONTENT_LENGTH) || p->needs_eof)) {
    p->in_body = 1;
    p->body_length_known = (l->flags & F_CONTENT_LENGTH) ? 1 : 0;
  }
  /* a coded body is decoded as it arrives (an empty one, Content-Length:
   * 0, is left as it is, as for HEAD, 204 and 304) */
  if (p->decode && r->nheaders && !((l->flags & F_CONTENT_LENGTH) && l->content_length == 0)) {
    /* a quick look first: most responses have no name as long as
     * Content-Encoding's */
    const uvh_header_t *h, *end = r->headers + r->nheaders;
    for (h = r->headers; h < end; h++)
      if (h->name_len == 16) {
        int rc = start_decoding(p, (size_t)(h - r->headers));
        if (rc)
          return rc;
        if (p->decoder)
          return body_follows(p);
        break;
      }
  }
  /* the whole body in one buffer of its own size, read straight into; if
   * that fails the body grows as it arrives (and fails then, if it must) */
  if ((l->flags & F_CONTENT_LENGTH) && l->content_length > 0) {
    size_t most = p->stream ? UVH_BODY_STREAM_PIECE : UVH_BODY_PREALLOC_MAX;
    size_t n = l->content_length < most ? (size_t)l->content_length : most;
    (void)uvh_buf_reserve_body(&r->body, n + UVH_BODY_SPARE, 1);
  }
  return body_follows(p);
}

/* The content coding of the response (headers before `from` are not
 * Content-Encoding): its one Content-Encoding header
 * naming exactly one coding we decode, else none (two such headers are a
 * list of codings, RFC 9110 5.3). */
static uvh_coding_t content_coding(const uvh_h1_message_t *r, size_t from) {
  size_t i;
  uvh_coding_t c = UVH_CODING_NONE;
  int seen = 0;
  for (i = from; i < r->nheaders; i++) {
    const uvh_header_t *h = &r->headers[i];
    if (h->name_len == 16 && strncasecmp(r->strings.data + h->name_off, "content-encoding", 16) == 0) {
      if (seen++)
        return UVH_CODING_NONE;
      c = uvh__coding_from_header(r->strings.data + h->value_off, h->value_len);
    }
  }
  return c;
}

/* Go's rule: a body we decode loses its Content-Encoding and
 * Content-Length, which described the coded bytes. */
static void drop_coding_headers(uvh_h1_message_t *r) {
  size_t i, kept = 0;
  for (i = 0; i < r->nheaders; i++) {
    const uvh_header_t *h = &r->headers[i];
    const char *n = r->strings.data + h->name_off;
    if ((h->name_len == 16 && strncasecmp(n, "content-encoding", 16) == 0) ||
        (h->name_len == 14 && strncasecmp(n, "content-length", 14) == 0))
      continue;
    r->headers[kept++] = *h;
  }
  r->nheaders = kept; /* no trailer yet: they follow the headers */
}

/* The response has a body: decode it if it has a coding we know. Its
 * bytes then come through the read buffer (in_body off: no reading in
 * place), and only the decoded ones reach the body. */
static int start_decoding(uvh_parser_t *p, size_t from) {
  uvh_h1_message_t *r = p->resp;
  uvh_coding_t c = content_coding(r, from);
  if (c == UVH_CODING_NONE)
    return 0;
  if (uvh__decoder_new(c, &p->decoder))
    return refuse(p, UVH_E_NOMEM, "could not allocate the decoder of the response body");
  r->decoded = (uint8_t)c;
  p->coded_bytes = 0;
  p->in_body = 0;
  drop_coding_headers(r);
  return 0;
}

static int decode_body(uvh_parser_t *p, const char *at, size_t len) {
  uvh_h1_message_t *r = p->resp;
  const char *name = uvh__coding_name((uvh_coding_t)r->decoded);
  int rc;
  p->coded_bytes += len;
  /* the coded bytes are held to the limit too: empty gzip members or
   * zstd skippable frames decode to nothing */
  if (p->max_body_size && p->coded_bytes > p->max_body_size) {
    snprintf(p->reason_buf, sizeof p->reason_buf,
             "response body exceeds max_body_size (%zu bytes) as received (%s-encoded); raise max_body_size, or set "
             "it to 0 for no limit", p->max_body_size, name);
    return refuse(p, UVH_E_TOO_LARGE, p->reason_buf);
  }
  if (p->body_taken == 0) {
    rc = uvh__decoder_feed(p->decoder, at, len, &r->body, p->max_body_size);
  } else {
    /* streamed: what the caller took counts (what is left, 0 included, as a limit) */
    size_t left = p->max_body_size > p->body_taken ? p->max_body_size - p->body_taken : 0;
    rc = uvh__decoder_feed(p->decoder, at, len, &r->body, p->max_body_size ? (left ? left : 1) : 0);
    if (rc == 0 && p->max_body_size && left == 0 && r->body.len)
      rc = UVH_E_TOO_LARGE;
  }
  if (rc == 0)
    return 0;
  if (rc == UVH_E_TOO_LARGE) {
    snprintf(p->reason_buf, sizeof p->reason_buf,
             "response body exceeds max_body_size (%zu bytes) once decoded from %s (the limit counts decoded bytes); "
             "raise max_body_size, or set it to 0 for no limit", p->max_body_size, name);
    return refuse(p, UVH_E_TOO_LARGE, p->reason_buf);
  }
  if (rc == UVH_E_NOMEM)
    return refuse(p, UVH_E_NOMEM, "could not grow the buffer of the decoded response body");
  snprintf(p->reason_buf, sizeof p->reason_buf, "corrupt %s-encoded body: %s", name, uvh__decoder_reason(p->decoder));
  return refuse(p, UVH_E_PROTOCOL, p->reason_buf);
}

void uvh__parser_release(uvh_parser_t *p) {
  uvh__decoder_free(p->decoder);
  p->decoder = NULL;
}

char *uvh__parser_body_room(uvh_parser_t *p, size_t *room) {
  uvh_buf_t *b = &p->resp->body;
  size_t want;
  if (!p->in_body || p->complete)
    return NULL;
  if (p->body_length_known) {
    if (p->llhttp.content_length == 0)
      return NULL;
    want = p->llhttp.content_length < SIZE_MAX ? (size_t)p->llhttp.content_length : SIZE_MAX;
  } else {
    want = SIZE_MAX;
  }
  /* a streamed body: one piece at a time */
  if (p->stream && want > UVH_BODY_STREAM_PIECE)
    want = UVH_BODY_STREAM_PIECE;
  /* one byte past max_body_size, for on_body to refuse */
  if (p->max_body_size && p->body_taken + b->len <= p->max_body_size &&
      p->max_body_size - p->body_taken - b->len < want)
    want = p->max_body_size - p->body_taken - b->len + 1;
  if (uvh_buf_body_room(b, want, room))
    return NULL;
  return b->data + b->len;
}

static int on_body(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  uvh_h1_message_t *r = p->resp;
  if (p->decoder)
    return decode_body(p, at, len);
  if (p->max_body_size && p->body_taken + r->body.len + len > p->max_body_size)
    return refuse_limit(p, "body", "max_body_size", p->max_body_size);
  /* read into the body buffer itself (uvh__parser_body_room): in place */
  if (r->body.data == NULL || at != r->body.data + r->body.len) {
    if (uvh_buf_reserve_body(&r->body, len + UVH_BODY_SPARE, 0))
      return refuse(p, UVH_E_NOMEM, "could not grow the buffer of the response body");
    memcpy(r->body.data + r->body.len, at, len);
  }
  r->body.len += len;
  return 0;
}

/* The line checks of scan_head start over at the next byte: a status line
 * follows (`status_line`) or trailers do. Pausing tells the feed where. */
static int start_head(uvh_parser_t *p, int status_line) {
  p->in_head = 1;
  p->head_status_line = status_line ? 1 : 0;
  p->head_line_empty = 1;
  p->head_cr = 0;
  return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *l) {
  /* the last chunk: trailers follow */
  return l->content_length == 0 ? start_head(PARSER(l), 0) : 0;
}

static int on_chunk_complete(llhttp_t *l) {
  /* strict llhttp checks the CRLF after chunk data; a system one may not */
  PARSER(l)->check_crlf = 1;
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  if (p->informational) {
    p->informational = 0;
    return start_head(p, 1);
  }
  if (p->decoder) {
    int rc = uvh__decoder_finish(p->decoder);
    if (rc) {
      snprintf(p->reason_buf, sizeof p->reason_buf, "corrupt %s-encoded body: %s",
               uvh__coding_name((uvh_coding_t)p->resp->decoded), uvh__decoder_reason(p->decoder));
      return refuse(p, rc, p->reason_buf);
    }
    uvh__parser_release(p);
  }
  p->complete = 1;
  p->in_body = 0;
  /* stop here: bytes after the response do not belong to this request */
  return HPE_PAUSED;
}

static llhttp_settings_t parser_settings;

static void init_settings(void) {
  if (parser_settings.on_message_complete)
    return;
  init_tchar_table();
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_status = on_status;
  parser_settings.on_url = on_url;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_header_value_complete = on_header_value_complete;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_chunk_header = on_chunk_header;
  parser_settings.on_chunk_complete = on_chunk_complete;
  parser_settings.on_message_complete = on_message_complete;
}

/* Either direction: a parser of responses (HTTP_RESPONSE) or requests. */
static void parser_init(uvh_parser_t *p, llhttp_type_t type, uvh_h1_message_t *msg, size_t max_headers_size,
                        size_t max_body_size) {
  init_settings();
  memset(p, 0, sizeof *p);
  /* every lenient flag stays off (llhttp_init clears them): no
   * llhttp_set_lenient_* call is made anywhere */
  llhttp_init(&p->llhttp, type, &parser_settings);
  p->resp = msg;
  p->is_request = type == HTTP_REQUEST;
  p->max_headers_size = max_headers_size;
  p->max_body_size = max_body_size;
  p->max_header_count = UVH_DEFAULT_MAX_HEADER_COUNT;
  p->ka_max = -1;
  p->ka_timeout = -1;
  start_head(p, 1);
}

void uvh__parser_init(uvh_parser_t *p, uvh_h1_message_t *resp, int is_head, size_t max_headers_size,
                      size_t max_body_size) {
  parser_init(p, HTTP_RESPONSE, resp, max_headers_size, max_body_size);
  p->is_head = is_head ? 1 : 0;
}

void uvh__parser_init_request(uvh_parser_t *p, uvh_h1_message_t *msg, size_t max_headers_size,
                              size_t max_body_size) {
  parser_init(p, HTTP_REQUEST, msg, max_headers_size, max_body_size);
}

int uvh__parser_body_limit(uvh_parser_t *p, size_t max_body_size, const char *name) {
  p->multipart = 0;
  p->max_body_size = max_body_size;
  p->body_limit = strcmp(name, "max_body_size") == 0 ? NULL : name;
  if (max_body_size && (p->llhttp.flags & F_CONTENT_LENGTH) && p->llhttp.content_length > max_body_size) {
    refuse_limit(p, "body", name, max_body_size);
    return p->cb_error;
  }
  return 0;
}

const char *uvh__h1_method_name(const uvh_h1_message_t *m) { return llhttp_method_name((llhttp_method_t)m->method); }

void uvh__h1_message_init(uvh_h1_message_t *m) {
  memset(m, 0, sizeof *m);
  uvh_buf_init(&m->strings);
  uvh_buf_init(&m->body);
}

void uvh__h1_message_free(uvh_h1_message_t *m) {
  uvh_buf_free(&m->strings);
  uvh_buf_free_body(&m->body); /* the body allocator's memory */
  free(m->headers);
  m->headers = NULL;
}

/* The lines of a head (status line and headers, or trailers), which llhttp
 * 8 parses more leniently than RFC 9112 2.2 and 5.2 allow even in strict
 * mode: each line must end in CRLF, not a bare LF, and a line that starts
 * with whitespace (obs-fold, which llhttp would join to the previous
 * value) is refused. Checks s[0..len) and sets *head_len to the bytes up to
 * the end of the head (its empty line), or to len if it goes on. */
static int scan_head(uvh_parser_t *p, const char *s, size_t len, size_t *head_len) {
  size_t i;
  for (i = 0; i < len; i++) {
    char c = s[i];
    if (p->head_cr) {
      if (c != '\n')
        return refuse(p, UVH_E_PROTOCOL, p->is_request ? "a CR not followed by LF in the request head" : "a CR not followed by LF in the response head");
      p->head_cr = 0;
      if (p->head_line_empty && !p->head_status_line) {
        p->in_head = 0; /* the empty line: the head ends here */
        *head_len = i + 1;
        return 0;
      }
      /* an empty line before the status line is llhttp's to judge */
      if (!p->head_line_empty)
        p->head_status_line = 0;
      p->head_line_empty = 1;
    } else if (c == '\r') {
      p->head_cr = 1;
    } else if (c == '\n') {
      return refuse(p, UVH_E_PROTOCOL, p->is_request ? "a line of the request head ends in a bare LF instead of CRLF" : "a line of the response head ends in a bare LF instead of CRLF");
    } else {
      if (p->head_line_empty && !p->head_status_line && (c == ' ' || c == '\t'))
        return refuse(p, UVH_E_PROTOCOL, "obs-fold header continuation is not allowed (a header line starts "
                                         "with whitespace)");
      p->head_line_empty = 0;
      /* the rest of the line up to its CR (or a bare LF) needs no check:
       * find the CR, then look for a LF before it */
      if (i + 1 < len) {
        const char *from = s + i + 1, *cr = memchr(from, '\r', len - i - 1);
        const char *stop = cr ? cr : s + len, *lf = memchr(from, '\n', (size_t)(stop - from));
        i = (size_t)((lf ? lf : stop) - s) - 1;
      }
    }
  }
  *head_len = len;
  return 0;
}

static int map_parser_error(uvh_parser_t *p, llhttp_errno_t e) {
  (void)e;
  return p->cb_error ? p->cb_error : UVH_E_PROTOCOL;
}

/* The byte `back` (1 or 2) bytes before `at`, a position in the current
 * feed of `data`, from earlier feeds if need be. */
static unsigned char byte_before(const uvh_parser_t *p, const char *data, const char *at, size_t back) {
  size_t off = (size_t)(at - data);
  return off >= back ? (unsigned char)at[-(ptrdiff_t)back] : p->tail[2 - (back - off)];
}

/* The last two bytes of the feeds so far, data[0..len) being the latest. */
static void remember_tail(uvh_parser_t *p, const char *data, size_t len) {
  if (len >= 2) {
    p->tail[0] = (unsigned char)data[len - 2];
    p->tail[1] = (unsigned char)data[len - 1];
  } else if (len == 1) {
    p->tail[0] = p->tail[1];
    p->tail[1] = (unsigned char)data[0];
  }
}

int uvh__parser_feed(uvh_parser_t *p, const char *data, size_t len, size_t *consumed) {
  const char *pos = data, *end = data + len;
  *consumed = 0;
  if (p->complete)
    return 1;
  if (len)
    p->started = 1;
  for (;;) {
    size_t n = (size_t)(end - pos);
    llhttp_errno_t e;
    /* a head goes to llhttp only once its lines are checked, and the body
     * after it only once llhttp has taken the head */
    if (p->in_head) {
      if (scan_head(p, pos, n, &n) != 0)
        return map_parser_error(p, HPE_USER);
      /* the head's strings never take more than its bytes: one allocation
       * instead of a growth per append (a failure is left to the append) */
      (void)uvh_buf_reserve(&p->resp->strings, n);
    }
    e = llhttp_execute(&p->llhttp, pos, n);
    if (e == HPE_OK) {
      pos += n;
      if (pos == end)
        break;
      continue;
    }
    if (e != HPE_PAUSED)
      return map_parser_error(p, e);
    /* paused by one of our callbacks */
    pos = llhttp_get_error_pos(&p->llhttp);
    if (p->check_crlf) {
      p->check_crlf = 0;
      if (byte_before(p, data, pos, 2) != '\r' || byte_before(p, data, pos, 1) != '\n') {
        p->reason = "chunk data is not followed by CRLF";
        return UVH_E_PROTOCOL;
      }
    }
    if (p->complete) {
      *consumed = (size_t)(pos - data);
      return 1;
    }
    if (p->head_paused) {
      /* the caller takes the head before the body (resumed at the next feed) */
      p->head_paused = 0;
      llhttp_resume(&p->llhttp);
      *consumed = (size_t)(pos - data);
      remember_tail(p, data, *consumed);
      return UVH_PARSER_HEAD;
    }
    /* even with no byte left: llhttp may have a callback still to make */
    llhttp_resume(&p->llhttp);
  }
  remember_tail(p, data, len);
  *consumed = len;
  return 0;
}

int uvh__parser_eof(uvh_parser_t *p) {
  llhttp_errno_t e;
  if (p->complete)
    return 1;
  if (!uvh__parser_started(p))
    return UVH_E_CONN_CLOSED;
  e = llhttp_finish(&p->llhttp);
  if (e == HPE_OK || (e == HPE_PAUSED && p->complete))
    return p->complete ? 1 : UVH_E_CONN_CLOSED;
  if (e == HPE_INVALID_EOF_STATE)
    return UVH_E_CONN_CLOSED;
  return map_parser_error(p, e);
}

int uvh__parser_started(const uvh_parser_t *p) { return p->started; }

const char *uvh__parser_reason(const uvh_parser_t *p) {
  const char *r = p->reason ? p->reason : llhttp_get_error_reason(&p->llhttp);
  return r ? r : p->is_request ? "malformed request" : "malformed response";
}
