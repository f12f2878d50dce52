/* h1_writer.c - HTTP/1.1 heads on the wire: the request head from its
 * parts (the client decides which headers it adds), and chunked framing.
 * Knows no connection and no request object.
 */
#include "http/h1.h"
#include <string.h>

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
int uvh__h1_request_head(uvh_buf_t *b, const uvh_h1_request_head_t *h) {
  int body_methods = strcmp(h->method, "POST") == 0 || strcmp(h->method, "PUT") == 0 ||
                     strcmp(h->method, "PATCH") == 0;
  size_t method_len = strlen(h->method), target_len = strlen(h->target);
  size_t host_len = h->host ? strlen(h->host) : 0;
  size_t ua_len = h->user_agent ? strlen(h->user_agent) : 0;
  size_t ae_len = h->accept_encoding_len;
  size_t userinfo_len = h->userinfo ? strlen(h->userinfo) : 0;
  size_t proxy_len = h->proxy_userinfo ? strlen(h->proxy_userinfo) : 0;
  int send_length = !h->has_content_length && !h->chunked && (h->body_len > 0 || body_methods);
  size_t need = method_len + 1 + target_len + 11 + (h->host ? 6 + host_len + 2 : 0) +
                (h->user_agent ? 12 + ua_len + 2 : 0) + (h->accept_encoding ? 17 + ae_len + 2 : 0) +
                (userinfo_len ? 21 + (userinfo_len + 2) / 3 * 4 + 2 : 0) +
                (h->proxy_userinfo ? 27 + (proxy_len + 2) / 3 * 4 + 2 : 0) + (send_length ? 16 + 20 + 2 : 0) + (h->chunked ? 28 : 0) +
                h->headers_len + 2;
  char *w;

  uvh_buf_clear(b);
  if (uvh_buf_reserve(b, need))
    return UVH_E_NOMEM;
  w = b->data;
  w = put(w, h->method, method_len);
  *w++ = ' ';
  w = put(w, h->target, target_len);
  w = PUT_LIT(w, " HTTP/1.1\r\n");
  if (h->host) {
    w = PUT_LIT(w, "Host: ");
    w = put(w, h->host, host_len);
    w = PUT_LIT(w, "\r\n");
  }
  if (h->user_agent) {
    w = PUT_LIT(w, "User-Agent: ");
    w = put(w, h->user_agent, ua_len);
    w = PUT_LIT(w, "\r\n");
  }
  if (h->accept_encoding) {
    w = PUT_LIT(w, "Accept-Encoding: ");
    w = put(w, h->accept_encoding, ae_len);
    w = PUT_LIT(w, "\r\n");
  }
  if (send_length) {
    w = PUT_LIT(w, "Content-Length: ");
    w = put_uint(w, h->body_len);
    w = PUT_LIT(w, "\r\n");
  }
  if (h->chunked)
    w = PUT_LIT(w, "Transfer-Encoding: chunked\r\n");
  b->len = (size_t)(w - b->data);
  /* the space for these was reserved above: the appends cannot fail */
  if (userinfo_len) {
    uvh_buf_append_str(b, "Authorization: Basic ");
    append_base64(b, (const unsigned char *)h->userinfo, userinfo_len);
    uvh_buf_append(b, "\r\n", 2);
  }
  if (h->proxy_userinfo) {
    uvh_buf_append_str(b, "Proxy-Authorization: Basic ");
    append_base64(b, (const unsigned char *)h->proxy_userinfo, proxy_len);
    uvh_buf_append(b, "\r\n", 2);
  }
  uvh_buf_append(b, h->headers, h->headers_len);
  uvh_buf_append(b, "\r\n", 2);
  return 0;
}

int uvh__h1_connect_head(uvh_buf_t *b, const char *authority, const char *proxy_userinfo, const char *user_agent) {
  int rc = 0;
  uvh_buf_clear(b);
  rc |= uvh_buf_append_str(b, "CONNECT ");
  rc |= uvh_buf_append_str(b, authority);
  rc |= uvh_buf_append_str(b, " HTTP/1.1\r\nHost: ");
  rc |= uvh_buf_append_str(b, authority);
  rc |= uvh_buf_append(b, "\r\n", 2);
  if (proxy_userinfo) {
    rc |= uvh_buf_append_str(b, "Proxy-Authorization: Basic ");
    rc |= append_base64(b, (const unsigned char *)proxy_userinfo, strlen(proxy_userinfo));
    rc |= uvh_buf_append(b, "\r\n", 2);
  }
  if (user_agent) {
    rc |= uvh_buf_append_str(b, "User-Agent: ");
    rc |= uvh_buf_append_str(b, user_agent);
    rc |= uvh_buf_append(b, "\r\n", 2);
  }
  rc |= uvh_buf_append(b, "\r\n", 2);
  return rc ? UVH_E_NOMEM : 0;
}

int uvh__h1_chunk(uvh_buf_t *out, const char *data, size_t len) {
  static const char hex[] = "0123456789abcdef";
  char size[2 * sizeof(size_t) + 2], *w = size + sizeof size;
  size_t n = len;
  if (len == 0)
    return 0; /* a zero-size chunk is the last one */
  *--w = '\n';
  *--w = '\r';
  do
    *--w = hex[n & 15];
  while ((n >>= 4) > 0);
  if (uvh_buf_reserve(out, (size_t)(size + sizeof size - w) + len + 2))
    return UVH_E_NOMEM;
  uvh_buf_append(out, w, (size_t)(size + sizeof size - w));
  uvh_buf_append(out, data, len);
  uvh_buf_append(out, "\r\n", 2);
  return 0;
}

int uvh__h1_last_chunk(uvh_buf_t *out) { return uvh_buf_append(out, "0\r\n\r\n", 5) ? UVH_E_NOMEM : 0; }
