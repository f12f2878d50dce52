/* request.c - the request object: validated fields and lifetime.
 *
 * A request is one exchange. Setters validate everything that reaches the
 * wire, so a submitted request can never carry CR/LF into the head.
 * Ownership: the creator holds one reference; the pool holds another from
 * submit until the callback has run.
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

int uvh_request_new(uvh_request_t **out) {
  uvh_request_t *req = calloc(1, sizeof *req);
  if (req == NULL)
    return UVH_E_NOMEM;
  req->refcount = 1;
  memcpy(req->method_inline, "GET", 4);
  req->method = req->method_inline;
  uvh_buf_init(&req->user_headers);
  uvh_buf_init(&req->head);
  uvh_buf_init(&req->body_next);
  uvh_list_init(&req->queue_link);
  req->timeout = 20;
  req->connect_timeout = -1;
  req->read_timeout = -1;
  req->max_headers_size = UVH_LIMIT_INHERIT;
  req->max_body_size = UVH_LIMIT_INHERIT;
  req->max_header_count = UVH_LIMIT_INHERIT;
  req->decompress = -1;
  req->head_decompress = 1; /* the pool's default; submit checks the pool's */
  req->retry = 1;
  req->expect_timeout = -1;
  uvh__tls_opts_init(&req->tls);
  uvh__dial_opts_init(&req->sock); /* nothing set: the pool's */
  *out = req;
  return 0;
}

void uvh_request_ref(uvh_request_t *req) { req->refcount++; }

void uvh_request_unref(uvh_request_t *req) {
  if (--req->refcount > 0)
    return;
  uvh_url_free(&req->url);
  if (req->method != req->method_inline)
    free(req->method);
  free(req->body);
  uvh_buf_free(&req->user_headers);
  uvh_buf_free(&req->head);
  if (req->body_next.data)
    uvh_buf_free(&req->body_next);
  uvh__tls_opts_free(&req->tls);
  if (req->proxy) {
    uvh_proxy_free(req->proxy);
    free(req->proxy);
  }
  if (req->resp)
    uvh_response_unref(req->resp);
  free(req);
}

/* `fmt` has one %s: the user's value, escaped (a NUL or CR/LF in it would
 * cut or split the message) and cut at about 100 characters. */
static void set_error(uvh_request_t *req, const char *fmt, const char *a, size_t alen) {
  char shown[112];
  size_t used = uvh_escape(shown, 101, a, alen);
  if (used < alen)
    memcpy(shown + strlen(shown), "...", 4);
  snprintf(req->error.message, sizeof req->error.message, fmt, shown);
}

const char *uvh_request_last_error(const uvh_request_t *req) { return req->error.message; }

int uvh_request_set_url(uvh_request_t *req, const char *s, size_t len) {
  uvh_url_t url;
  int rc;
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* what the check and the head read changes */
  rc = uvh_url_parse(&url, s, len);
  if (rc) {
    const char *why = rc == UVH_E_BADSCHEME ? "invalid URL '%s': unsupported scheme (only http:// and https:// are supported)"
                      : rc == UVH_E_NOHOST  ? "invalid URL '%s': no host"
                      : rc == UVH_E_LONGHOST ? "invalid URL '%s': the host is longer than 255 characters"
                                            : "invalid URL '%s': malformed (it must be an absolute http:// URL with no spaces or control characters)";
    set_error(req, why, s, len);
    return rc;
  }
  uvh_url_free(&req->url);
  req->url = url;
  return 0;
}

int uvh_request_set_method(uvh_request_t *req, const char *s, size_t len) {
  char *m;
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* what the check and the head read changes */
  if (!uvh__h1_is_token(s, len)) {
    set_error(req, "invalid method '%s': a method must be a non-empty token (letters, digits, !#$%%&'*+-.^_`|~)", s, len);
    return UVH_E_BADMETHOD;
  }
  m = len < sizeof req->method_inline ? req->method_inline : malloc(len + 1);
  if (m == NULL)
    return UVH_E_NOMEM;
  memmove(m, s, len); /* `s` may be the method itself */
  m[len] = '\0';
  if (req->method != req->method_inline)
    free(req->method);
  req->method = m;
  req->is_head = strcmp(m, "HEAD") == 0;
  return 0;
}

static int name_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Does a comma-separated header value contain the token `tok`? */
static int has_token(const char *v, size_t len, const char *tok) {
  size_t tlen = strlen(tok), i = 0;
  while (i < len) {
    size_t start, end;
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    start = i;
    while (i < len && v[i] != ',')
      i++;
    end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
      end--;
    if (end - start == tlen && strncasecmp(v + start, tok, tlen) == 0)
      return 1;
  }
  return 0;
}

int uvh_request_add_header(uvh_request_t *req, const char *name, size_t name_len, const char *value,
                           size_t value_len) {
  size_t i;
  int rc = 0;
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* what the check and the head read changes */
  if (!uvh__h1_is_token(name, name_len)) {
    set_error(req, "invalid header name '%s': it must be a non-empty token (no spaces, colons, CR, LF or NUL)", name, name_len);
    return UVH_E_BADHEADER;
  }
  for (i = 0; i < value_len; i++) {
    unsigned char c = (unsigned char)value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      set_error(req, "invalid value for header '%s': it contains CR, LF, NUL or another control character", name, name_len);
      return UVH_E_BADHEADER;
    }
  }
  if (name_is(name, name_len, "transfer-encoding")) {
    set_error(req, "header '%s' cannot be set: Uvent frames the body itself (give chunked => 1 for chunked encoding)", name, name_len);
    return UVH_E_BADHEADER;
  }
  if (name_is(name, name_len, "host"))
    req->has_host = 1;
  else if (name_is(name, name_len, "user-agent"))
    req->has_user_agent = 1;
  else if (name_is(name, name_len, "authorization"))
    req->has_authorization = 1;
  else if (name_is(name, name_len, "content-length"))
    req->has_content_length = 1;
  else if (name_is(name, name_len, "connection") && has_token(value, value_len, "close"))
    req->wants_close = 1;
  else if (name_is(name, name_len, "idempotency-key"))
    req->has_idempotency_key = 1;
  else if (name_is(name, name_len, "proxy-authorization"))
    req->has_proxy_authorization = 1;
  else if (name_is(name, name_len, "accept-encoding"))
    req->has_accept_encoding = 1;
  else if (name_is(name, name_len, "expect") && has_token(value, value_len, "100-continue"))
    req->expects_continue = 1;
  rc |= uvh_buf_append(&req->user_headers, name, name_len);
  rc |= uvh_buf_append(&req->user_headers, ": ", 2);
  rc |= uvh_buf_append(&req->user_headers, value, value_len);
  rc |= uvh_buf_append(&req->user_headers, "\r\n", 2);
  return rc ? UVH_E_NOMEM : 0;
}

int uvh_request_set_body(uvh_request_t *req, const char *body, size_t len) {
  char *copy = NULL;
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* what the check and the head read changes */
  if (len > UINT32_MAX) {
    /* libuv writes buffers of at most 4 GiB - 1 */
    snprintf(req->error.message, sizeof req->error.message, "'body' is too large (%zu bytes; at most 4294967295)", len);
    return UVH_E_BADARG;
  }
  if (req->body_stream && len) {
    snprintf(req->error.message, sizeof req->error.message, "a request has a string body or a streamed one, not both");
    return UVH_E_BADARG;
  }
  if (len) {
    copy = malloc(len);
    if (copy == NULL)
      return UVH_E_NOMEM;
    memcpy(copy, body, len);
  }
  free(req->body);
  req->body = copy;
  req->body_len = len;
  return 0;
}

int uvh_request_set_body_stream(uvh_request_t *req, uvh_request_pull_cb pull) {
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  if (req->body_len) {
    snprintf(req->error.message, sizeof req->error.message, "a request has a string body or a streamed one, not both");
    return UVH_E_BADARG;
  }
  req->checked = 0; /* the head's framing */
  req->body_stream = 1;
  req->pull = pull;
  return 0;
}

int uvh_request_set_chunked(uvh_request_t *req, int chunked) {
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0;
  req->chunked = chunked ? 1 : 0;
  return 0;
}

void uvh_request_set_continue_cb(uvh_request_t *req, uvh_request_continue_cb cb) { req->on_continue = cb; }

/* The streamed body broke its Content-Length: the request ends now. */
static int body_length_broken(uvh_request_t *req, const char *fmt, uint64_t n) {
  char why[160];
  snprintf(why, sizeof why, fmt, (unsigned long long)n, (unsigned long long)req->body_declared);
  uvh__pool_cancel(req, UVH_E_REQUEST_BODY, why);
  return UVH_E_REQUEST_BODY;
}

int uvh_request_send_body(uvh_request_t *req, const char *data, size_t len, int last) {
  uvh_conn_t *conn = req->conn;
  int rc = 0;
  if (!req->body_stream) {
    snprintf(req->error.message, sizeof req->error.message, "the request has no streamed body (give it a filehandle, "
             "a code ref, or chunked => 1 and no body)");
    return UVH_E_BADARG;
  }
  if (!uvh__request_active(req))
    return 1;
  if (req->body_ended) {
    snprintf(req->error.message, sizeof req->error.message, "the body has already ended (its last piece was sent)");
    return UVH_E_BADARG;
  }
  if (!UVH_REQ_CHUNKED(req)) {
    if (len > req->body_declared - req->body_given)
      return body_length_broken(req, "the body is longer than its Content-Length (more than %llu of %llu bytes)",
                                req->body_given + len);
    if (last && req->body_given + len < req->body_declared)
      return body_length_broken(req, "the body ended after %llu bytes, short of its Content-Length of %llu",
                                req->body_given + len);
    if (len)
      rc = uvh_buf_append(&req->body_next, data, len);
  } else {
    rc = uvh__h1_chunk(&req->body_next, data, len);
    if (rc == 0 && last)
      rc = uvh__h1_last_chunk(&req->body_next);
  }
  if (rc) {
    uvh__pool_cancel(req, UVH_E_NOMEM, "the body's next piece");
    return UVH_E_NOMEM;
  }
  req->body_given += len;
  req->body_ended = last ? 1 : 0;
  if (conn && conn->body_streaming && !conn->in_pull)
    uvh__conn_body_pump(conn);
  return 0;
}

static int check_seconds(uvh_request_t *req, double s, const char *what) {
  if (!UVH_SECONDS_OK(s)) { /* also rejects NaN */
    snprintf(req->error.message, sizeof req->error.message,
             "'%s' must be a finite number of seconds >= 0 (at most 1e9), got %g", what, s);
    return UVH_E_BADARG;
  }
  return 0;
}

int uvh_request_set_timeout(uvh_request_t *req, double s) {
  int rc = check_seconds(req, s, "timeout");
  if (rc == 0)
    req->timeout = s;
  return rc;
}

/* A timeout that may be unset: a negative value stores -1 (take the
 * default), any other must pass check_seconds. */
static int set_optional_seconds(uvh_request_t *req, double s, const char *what, double *field) {
  int rc;
  if (s < 0) {
    *field = -1;
    return 0;
  }
  rc = check_seconds(req, s, what);
  if (rc == 0)
    *field = s;
  return rc;
}

int uvh_request_set_connect_timeout(uvh_request_t *req, double s) {
  return set_optional_seconds(req, s, "connect_timeout", &req->connect_timeout);
}

int uvh_request_set_read_timeout(uvh_request_t *req, double s) {
  return set_optional_seconds(req, s, "read_timeout", &req->read_timeout);
}

int uvh_request_set_expect_timeout(uvh_request_t *req, double s) {
  return set_optional_seconds(req, s, "expect_timeout", &req->expect_timeout);
}

int uvh_request_set_limits(uvh_request_t *req, size_t max_headers_size, size_t max_body_size) {
  req->max_headers_size = max_headers_size;
  req->max_body_size = max_body_size;
  return 0;
}

int uvh_request_set_decompress(uvh_request_t *req, int decompress) {
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* the head's Accept-Encoding */
  req->decompress = decompress < 0 ? -1 : decompress != 0;
  if (decompress >= 0)
    req->head_decompress = decompress != 0;
  return 0;
}

int uvh_request_set_max_header_count(uvh_request_t *req, size_t n) {
  req->max_header_count = n;
  return 0;
}

int uvh_request_set_retry(uvh_request_t *req, int retry, int idempotent) {
  req->retry = retry ? 1 : 0;
  req->idempotent = idempotent ? 1 : 0;
  return 0;
}

int uvh_request_retried(const uvh_request_t *req) { return req->retried; }

int uvh_request_set_tls(uvh_request_t *req, const uvh_tls_config_t *cfg) {
  if (uvh_request_active(req))
    return UVH_E_BUSY;
  return uvh__tls_opts_set(&req->tls, cfg, req->error.message, sizeof req->error.message);
}

int uvh_request_set_socket(uvh_request_t *req, const uvh_socket_config_t *cfg) {
  if (uvh_request_active(req))
    return UVH_E_BUSY;
  return uvh__dial_opts_set(&req->sock, cfg, req->error.message, sizeof req->error.message);
}

/* A proxy URL for a message: its userinfo (credentials) is not shown. */
void uvh__proxy_shown(char *out, size_t cap, const char *s, size_t len) {
  const char *at = NULL, *sep = NULL, *p;
  char rest[112];
  size_t used;
  for (p = s; p < s + len; p++) {
    if (*p == '@')
      at = p;
    if (*p == '/' && p + 1 < s + len && p[1] == '/' && sep == NULL)
      sep = p + 2;
  }
  /* userinfo without a "//" before it ("user:pass@host:port") is still hidden */
  if (at && (sep == NULL || sep > at))
    sep = s;
  if (at) {
    used = uvh_escape(rest, 101, at + 1, (size_t)(s + len - at - 1));
    snprintf(out, cap, "%.*s***@%s%s", (int)(sep - s) < 16 ? (int)(sep - s) : 16, s, rest,
             used < (size_t)(s + len - at - 1) ? "..." : "");
  } else {
    used = uvh_escape(rest, 101, s, len);
    snprintf(out, cap, "%s%s", rest, used < len ? "..." : "");
  }
}

int uvh_request_set_proxy(uvh_request_t *req, const char *s, size_t len) {
  uvh_proxy_t *p = NULL;
  char why[128], shown[160];
  int rc;
  if (uvh__request_active(req))
    return UVH_E_BUSY;
  req->checked = 0; /* the head depends on the route */
  if (s && len) {
    if ((p = malloc(sizeof *p)) == NULL)
      return UVH_E_NOMEM;
    if ((rc = uvh_proxy_parse(p, s, len, why, sizeof why)) != 0) {
      free(p);
      uvh__proxy_shown(shown, sizeof shown, s, len);
      snprintf(req->error.message, sizeof req->error.message, "invalid 'proxy' '%s': %s", shown,
               rc == UVH_E_NOMEM ? "out of memory" : why);
      return rc;
    }
  }
  if (req->proxy) {
    uvh_proxy_free(req->proxy);
    free(req->proxy);
  }
  req->proxy = p;
  req->proxy_set = s != NULL;
  return 0;
}

void uvh_request_set_callback(uvh_request_t *req, uvh_request_cb cb, void *data) {
  req->cb = cb;
  req->cb_data = data;
}

int uvh_request_set_partial(uvh_request_t *req, uvh_request_partial_cb cb) {
  if (uvh_request_active(req))
    return UVH_E_BUSY;
  req->partial_cb = cb;
  return 0;
}

static int set_paused(uvh_request_t *req, int paused) {
  if (req->paused == (unsigned)paused)
    return 0;
  req->paused = paused ? 1 : 0;
  if (req->state == REQ_RUNNING && req->conn)
    uvh__conn_pause_changed(req->conn);
  return 0;
}

int uvh_request_pause(uvh_request_t *req) { return set_paused(req, 1); }
int uvh_request_resume(uvh_request_t *req) { return set_paused(req, 0); }
int uvh_request_paused(const uvh_request_t *req) { return req->paused; }

int uvh_request_active(const uvh_request_t *req) {
  return uvh__request_active(req);
}

const char *uvh_request_destination(const uvh_request_t *req) { return req->url.key; }

uvh_pool_t *uvh_request_pool(const uvh_request_t *req) { return req->submitted_to; }

static int check_content_length(uvh_request_t *req) {
  const char *h, *end;
  if (!req->has_content_length)
    return 0;
  if (req->chunked) {
    snprintf(req->error.message, sizeof req->error.message,
             "header 'Content-Length' cannot be sent with chunked => 1 (leave one of them out)");
    return UVH_E_BADHEADER;
  }
  h = req->user_headers.data;
  end = h + req->user_headers.len;
  /* find the user's Content-Length line; it must match the body */
  while (h < end) {
    const char *eol = memchr(h, '\r', (size_t)(end - h));
    if (eol - h > 15 && strncasecmp(h, "content-length:", 15) == 0) {
      /* digits only, between optional blanks: strtoull would also take a
       * sign ("+5", or "-18446744073709551611" wrapping round to 5) */
      const char *p = h + 15;
      unsigned long long v = 0;
      int digits = 0, overflow = 0;
      while (p < eol && (*p == ' ' || *p == '\t'))
        p++;
      for (; p < eol && *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
          overflow = 1;
        v = v * 10 + (unsigned)(*p - '0');
      }
      while (p < eol && (*p == ' ' || *p == '\t'))
        p++;
      if (req->body_stream && p == eol && digits && !overflow) {
        req->body_declared = v; /* a streamed body must match it as it goes */
      } else if (p != eol || digits == 0 || overflow || v != req->body_len) {
        if (req->body_stream) {
          snprintf(req->error.message, sizeof req->error.message,
                   "header 'Content-Length' of a streamed body must be a number of bytes");
          return UVH_E_BADHEADER;
        }
        snprintf(req->error.message, sizeof req->error.message,
                 "header 'Content-Length' does not match the body length %zu (leave it out: Uvent sets it)",
                 req->body_len);
        return UVH_E_BADHEADER;
      }
    }
    h = eol + 2;
  }
  return 0;
}

int uvh__request_active(const uvh_request_t *req) {
  return req->state == REQ_QUEUED || req->state == REQ_RUNNING || req->state == REQ_FAILING;
}

void uvh__request_set_state(uvh_request_t *req, uvh_request_state_t state) {
  /* only a running request goes back to new (a start undone), only an
   * active one completes, and only a running one has a connection */
  UVH_ASSERT(state != REQ_NEW || req->state == REQ_RUNNING);
  UVH_ASSERT(state != REQ_DONE || uvh__request_active(req));
  UVH_ASSERT(state == REQ_RUNNING || req->conn == NULL);
  req->state = state;
}

/* The head from the request's fields: the client's rules (which headers
 * it adds for the user) here, the wire format in http/. Through an HTTP
 * proxy (`p`, for an http:// target) the target is in absolute form (RFC
 * 9112 3.2.2: the proxy needs the whole URL) with the proxy's credentials. */
static int build_head(uvh_request_t *req, const uvh_proxy_t *p) {
  uvh_h1_request_head_t h;
  uvh_buf_t target;
  int rc;
  uvh_buf_init(&target);
  if (p && (uvh_buf_append_str(&target, "http://") || uvh_buf_append_str(&target, req->url.authority) ||
            uvh_buf_append_str(&target, req->url.target) || uvh_buf_append(&target, "", 1))) {
    uvh_buf_free(&target);
    return UVH_E_NOMEM;
  }
  memset(&h, 0, sizeof h);
  h.method = req->method;
  h.target = p ? target.data : req->url.target;
  h.host = req->has_host ? NULL : req->url.authority;
  h.user_agent = req->has_user_agent ? NULL : "Uvent/" UVH_VERSION;
  if (req->head_decompress && !req->has_accept_encoding)
    h.accept_encoding = uvh__codings_accepted(&h.accept_encoding_len);
  h.userinfo = req->has_authorization ? NULL : req->url.userinfo;
  h.proxy_userinfo = p && !req->has_proxy_authorization ? p->userinfo : NULL;
  h.headers = req->user_headers.data;
  h.headers_len = req->user_headers.len;
  h.body_len = req->body_len;
  h.has_content_length = req->has_content_length;
  h.chunked = UVH_REQ_CHUNKED(req);
  rc = uvh__h1_request_head(&req->head, &h);
  uvh_buf_free(&target);
  return rc;
}

int uvh__request_check_via(uvh_request_t *req, const uvh_proxy_t *p) {
  int rc;
  if (req->checked && p == NULL)
    return 0; /* checked, and the head built, since the last change */
  if (req->url.mem == NULL) {
    snprintf(req->error.message, sizeof req->error.message, "request has no URL");
    return UVH_E_BADURL;
  }
  if ((rc = check_content_length(req)) != 0)
    return rc;
  if ((rc = build_head(req, p)) != 0)
    return rc;
  /* an absolute-form head is built at each submit: the next may take another route */
  req->checked = p == NULL;
  return 0;
}

int uvh_request_check(uvh_request_t *req) { return uvh__request_check_via(req, NULL); }

int uvh_request_head(uvh_request_t *req, const char **data, size_t *len) {
  int rc;
  if (req->url.mem == NULL)
    return UVH_E_BADURL;
  rc = build_head(req, NULL);
  if (rc)
    return rc;
  *data = req->head.data;
  *len = req->head.len;
  return 0;
}

int uvh_request_cancel(uvh_request_t *req) { return uvh_request_cancel_with(req, UVH_E_CANCELLED, NULL); }

int uvh_request_cancel_with(uvh_request_t *req, int err, const char *detail) {
  if (err >= 0 || uvh_err_by_code(uvh_err_code(err)) != err)
    return UVH_E_BADARG; /* a usage code, "inherited", or no code at all */
  /* in a child after fork an inherited request is dropped, not cancelled:
   * cancelling would close a socket the parent still uses */
  if (req->pool)
    UVH_CHECK_FORK(req->pool->loop);
  if (req->state == REQ_FAILING && req->deferred_err == UVH_E_INHERITED)
    return 0; /* the parent's: dropped on the child's next tick, never cancelled here */
  if (uvh__request_active(req))
    uvh__pool_cancel(req, err, detail);
  return 0;
}
