/* http1.c - HTTP/1.1 on the wire: request heads out, responses in.
 *
 * The response side wraps llhttp in strict mode. Parser callbacks only
 * copy bytes into the response (the read buffer is reused right after)
 * and enforce the size limits; decisions are left to conn.c.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

/* ---------------------------------------------------------------- request */

static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int append_base64(uvh_buf_t *b, const unsigned char *s, size_t len) {
  size_t i;
  int rc = uvh_buf_reserve(b, (len + 2) / 3 * 4);
  if (rc)
    return rc;
  for (i = 0; i + 2 < len; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    char out[4] = {base64_chars[v >> 18], base64_chars[(v >> 12) & 63], base64_chars[(v >> 6) & 63],
                   base64_chars[v & 63]};
    uvh_buf_append(b, out, 4);
  }
  if (i < len) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0);
    char out[4] = {base64_chars[v >> 18], base64_chars[(v >> 12) & 63],
                   i + 1 < len ? base64_chars[(v >> 6) & 63] : '=', '='};
    uvh_buf_append(b, out, 4);
  }
  return 0;
}

static char *put(char *w, const char *s, size_t len) {
  memcpy(w, s, len);
  return w + len;
}
#define PUT_LIT(w, lit) put(w, lit, sizeof(lit) - 1)

/* Decimal digits of n into w; returns the end. */
static char *put_uint(char *w, unsigned long long n) {
  char tmp[24];
  size_t i = sizeof tmp;
  do
    tmp[--i] = (char)('0' + n % 10);
  while ((n /= 10) > 0);
  return put(w, tmp + i, sizeof tmp - i);
}

/* The request head in one buffer, sized up front: this runs per request. */
int uvh__request_build_head(uvh_request_t *req) {
  static const char ua[] = "User-Agent: Uvent/" UVH_VERSION "\r\n";
  uvh_buf_t *b = &req->head;
  int body_methods = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                     strcmp(req->method, "PATCH") == 0;
  size_t method_len = strlen(req->method), target_len = strlen(req->url.target);
  size_t authority_len = strlen(req->url.authority);
  size_t userinfo_len = req->url.userinfo && !req->has_authorization ? strlen(req->url.userinfo) : 0;
  int send_length = !req->has_content_length && (req->body_len > 0 || body_methods);
  size_t need = method_len + 1 + target_len + 11 + (req->has_host ? 0 : 6 + authority_len + 2) +
                (req->has_user_agent ? 0 : sizeof ua - 1) +
                (userinfo_len ? 21 + (userinfo_len + 2) / 3 * 4 + 2 : 0) + (send_length ? 16 + 20 + 2 : 0) +
                req->user_headers.len + 2;
  char *w;

  uvh_buf_clear(b);
  if (uvh_buf_reserve(b, need))
    return UVH_E_NOMEM;
  w = b->data;
  w = put(w, req->method, method_len);
  *w++ = ' ';
  w = put(w, req->url.target, target_len);
  w = PUT_LIT(w, " HTTP/1.1\r\n");
  if (!req->has_host) {
    w = PUT_LIT(w, "Host: ");
    w = put(w, req->url.authority, authority_len);
    w = PUT_LIT(w, "\r\n");
  }
  if (!req->has_user_agent)
    w = put(w, ua, sizeof ua - 1);
  if (send_length) {
    w = PUT_LIT(w, "Content-Length: ");
    w = put_uint(w, req->body_len);
    w = PUT_LIT(w, "\r\n");
  }
  b->len = (size_t)(w - b->data);
  /* the space for these was reserved above: the appends cannot fail */
  if (userinfo_len) {
    uvh_buf_append_str(b, "Authorization: Basic ");
    append_base64(b, (const unsigned char *)req->url.userinfo, userinfo_len);
    uvh_buf_append(b, "\r\n", 2);
  }
  uvh_buf_append(b, req->user_headers.data, req->user_headers.len);
  uvh_buf_append(b, "\r\n", 2);
  return 0;
}

/* --------------------------------------------------------------- response */

int uvh__response_new(uvh_response_t **out) {
  uvh_response_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return UVH_E_NOMEM;
  r->refcount = 1;
  uvh_buf_init(&r->strings);
  uvh_buf_init(&r->body);
  *out = r;
  return 0;
}

void uvh_response_ref(uvh_response_t *r) { r->refcount++; }

void uvh_response_unref(uvh_response_t *r) {
  if (--r->refcount > 0)
    return;
  uvh_buf_free(&r->strings);
  uvh_buf_free(&r->body);
  free(r->headers);
  free(r);
}

int uvh_response_status(const uvh_response_t *r) { return r->status; }
int uvh_response_http_major(const uvh_response_t *r) { return r->http_major; }
int uvh_response_http_minor(const uvh_response_t *r) { return r->http_minor; }
int uvh_response_keep_alive(const uvh_response_t *r) { return r->keep_alive; }
int uvh_response_retried(const uvh_response_t *r) { return r->retried; }
size_t uvh_response_header_count(const uvh_response_t *r) { return r->nheaders; }
size_t uvh_response_trailer_count(const uvh_response_t *r) { return r->ntrailers; }

const char *uvh_response_reason(const uvh_response_t *r, size_t *len) {
  *len = r->reason_len;
  return r->strings.data ? r->strings.data + r->reason_off : "";
}

static void header_at(const uvh_response_t *r, size_t i, const char **name, size_t *name_len,
                      const char **value, size_t *value_len) {
  const uvh_header_t *h = &r->headers[i];
  const char *base = r->strings.data ? r->strings.data : "";
  *name = base + h->name_off;
  *name_len = h->name_len;
  *value = base + h->value_off;
  *value_len = h->value_len;
}

void uvh_response_header_at(const uvh_response_t *r, size_t i, const char **name, size_t *name_len,
                            const char **value, size_t *value_len) {
  header_at(r, i, name, name_len, value, value_len);
}

void uvh_response_trailer_at(const uvh_response_t *r, size_t i, const char **name,
                             size_t *name_len, const char **value, size_t *value_len) {
  header_at(r, r->nheaders + i, name, name_len, value, value_len);
}

const char *uvh_response_header(const uvh_response_t *r, const char *name, size_t *value_len) {
  size_t i, nlen = strlen(name);
  for (i = 0; i < r->nheaders; i++) {
    const uvh_header_t *h = &r->headers[i];
    if (h->name_len == nlen && strncasecmp(r->strings.data + h->name_off, name, nlen) == 0) {
      *value_len = h->value_len;
      return r->strings.data + h->value_off;
    }
  }
  return NULL;
}

const char *uvh_response_body(const uvh_response_t *r, size_t *len) {
  *len = r->body.len;
  return r->body.data ? r->body.data : "";
}

/* ----------------------------------------------------------------- parser */

#define PARSER(l) uvh_container_of(l, uvh_parser_t, llhttp)

/* Refuse the rest of a message that grew past a limit. */
static int over_limit(uvh_parser_t *p, const char *why) {
  p->limit_hit = UVH_E_TOO_LARGE;
  llhttp_set_error_reason(&p->llhttp, why);
  return HPE_USER;
}

/* Count header-block bytes (with a little per-line overhead, as on the wire). */
static int count_header_bytes(uvh_parser_t *p, size_t len) {
  p->header_bytes += len;
  if (p->max_headers_size && p->header_bytes > p->max_headers_size)
    return over_limit(p, "response headers exceed max_headers_size");
  return 0;
}

static int append_string(uvh_parser_t *p, const char *at, size_t len) {
  if (uvh_buf_append(&p->resp->strings, at, len))
    return over_limit(p, "out of memory");
  return 0;
}

static int on_message_begin(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_response_t *r = p->resp;
  uvh_buf_clear(&r->strings);
  uvh_buf_clear(&r->body);
  r->nheaders = r->ntrailers = 0;
  r->reason_off = r->reason_len = 0;
  r->status = 0;
  p->in_trailers = 0;
  p->informational = 0;
  p->in_header_value = 0;
  p->header_bytes = 0;
  p->ka_max = -1;
  p->ka_timeout = -1;
  return 0;
}

static int on_status(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  int rc = count_header_bytes(p, len);
  if (rc)
    return rc;
  if (p->resp->reason_len == 0)
    p->resp->reason_off = (uint32_t)p->resp->strings.len;
  p->resp->reason_len += (uint32_t)len;
  return append_string(p, at, len);
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  int rc = count_header_bytes(p, len + 4);
  if (rc)
    return rc;
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
  uvh_response_t *r = p->resp;
  const char *v;

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
    if (n == r->cap_headers) {
      size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
      uvh_header_t *h = realloc(r->headers, cap * sizeof *h);
      if (h == NULL)
        return over_limit(p, "out of memory");
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
      if (parse_ka_number(val, val_end, 1, &n) == 0)
        p->ka_timeout = n < 1e9 ? n : 1e9;
    } else if (name_end - name == 3 && strncasecmp(name, "max", 3) == 0) {
      if (parse_ka_number(val, val_end, 0, &n) == 0)
        p->ka_max = n < INT_MAX ? (int)n : INT_MAX;
    }
  }
}

static int on_headers_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  uvh_response_t *r = p->resp;
  int status = llhttp_get_status_code(l);
  size_t vlen;
  const char *ka;

  r->status = status;
  r->http_major = llhttp_get_http_major(l);
  r->http_minor = llhttp_get_http_minor(l);
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
    return 1; /* no body; the final response follows */
  }
  p->in_trailers = 1; /* any header after this point is a trailer */
  r->keep_alive = llhttp_should_keep_alive(l) ? 1 : 0;
  ka = uvh_response_header(r, "keep-alive", &vlen);
  if (ka)
    parse_keep_alive(p, ka, vlen);
  /* these never have a body, whatever Content-Length says (RFC 9112 6.3) */
  if (p->is_head || status == 204 || status == 304)
    return 1;
  /* llhttp_message_needs_eof is only meaningful once the head is known */
  p->needs_eof = llhttp_message_needs_eof(l) ? 1 : 0;
  return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len) {
  uvh_parser_t *p = PARSER(l);
  uvh_response_t *r = p->resp;
  if (p->max_body_size && r->body.len + len > p->max_body_size)
    return over_limit(p, "response body exceeds max_body_size");
  if (uvh_buf_append(&r->body, at, len))
    return over_limit(p, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *l) {
  uvh_parser_t *p = PARSER(l);
  if (p->informational) {
    p->informational = 0;
    return 0;
  }
  p->complete = 1;
  /* stop here: bytes after the response do not belong to this request */
  return HPE_PAUSED;
}

static llhttp_settings_t parser_settings;

static void init_settings(void) {
  if (parser_settings.on_message_complete)
    return;
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_status = on_status;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_header_value_complete = on_header_value_complete;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;
}

void uvh__parser_init(uvh_parser_t *p, uvh_response_t *resp, int is_head, size_t max_headers_size,
                      size_t max_body_size) {
  init_settings();
  memset(p, 0, sizeof *p);
  llhttp_init(&p->llhttp, HTTP_RESPONSE, &parser_settings);
  p->resp = resp;
  p->is_head = is_head ? 1 : 0;
  p->max_headers_size = max_headers_size;
  p->max_body_size = max_body_size;
  p->ka_max = -1;
  p->ka_timeout = -1;
}

static int map_parser_error(uvh_parser_t *p, llhttp_errno_t e) {
  (void)e;
  return p->limit_hit ? p->limit_hit : UVH_E_PROTOCOL;
}

int uvh__parser_feed(uvh_parser_t *p, const char *data, size_t len, size_t *consumed) {
  llhttp_errno_t e;
  if (p->complete) {
    *consumed = 0;
    return 1;
  }
  if (len)
    p->started = 1;
  e = llhttp_execute(&p->llhttp, data, len);
  if (e == HPE_OK) {
    *consumed = len;
    return 0;
  }
  if (e == HPE_PAUSED && p->complete) {
    *consumed = (size_t)(llhttp_get_error_pos(&p->llhttp) - data);
    return 1;
  }
  *consumed = 0;
  return map_parser_error(p, e);
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
  return r ? r : "malformed response";
}
