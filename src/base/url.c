/* url.c - absolute http:// URL parsing (RFC 3986 subset a client needs). */
#include "base/url.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static int hex_val(unsigned char c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

/* Bytes allowed anywhere in a URL we will put on the wire: visible ASCII. */
static int is_url_char(unsigned char c) { return c > 0x20 && c < 0x7f; }

/* reg-name characters: unreserved, sub-delims and pct-encoded. Letters,
 * digits and dots (nearly every host) need no strchr. */
static int is_host_char(unsigned char c) {
  if (is_alpha(c) || is_digit(c) || c == '.')
    return 1;
  return c && strchr("-_~%!$&'()*+,;=", c) != NULL;
}

static const unsigned char ends_authority[256] = {['/'] = 1, ['?'] = 1, ['#'] = 1};

static size_t percent_decode(char *dst, const char *src, size_t len) {
  size_t i, o = 0;
  for (i = 0; i < len; i++) {
    if (src[i] == '%' && i + 2 < len && is_hex((unsigned char)src[i + 1]) &&
        is_hex((unsigned char)src[i + 2])) {
      dst[o++] = (char)(hex_val((unsigned char)src[i + 1]) * 16 + hex_val((unsigned char)src[i + 2]));
      i += 2;
    } else {
      dst[o++] = src[i];
    }
  }
  dst[o] = '\0';
  return o;
}

/* Write host (bracketed when IPv6), then ":port" if port is given, NUL-terminated.
 * Returns the position after the NUL. */
static char *put_host_port(char *w, const char *host, size_t host_len, int ipv6, const char *port,
                           size_t port_len) {
  if (ipv6)
    *w++ = '[';
  memcpy(w, host, host_len);
  w += host_len;
  if (ipv6)
    *w++ = ']';
  if (port) {
    *w++ = ':';
    memcpy(w, port, port_len);
    w += port_len;
  }
  *w++ = '\0';
  return w;
}

int uvh_url_parse(uvh_url_t *url, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  const char *auth, *auth_end, *at, *host, *host_end, *port_s = NULL, *path, *path_end;
  size_t i, host_len, path_len, userinfo_len = 0, cap;
  unsigned long port = 80, default_port;
  int ipv6 = 0, tls;
  char *m, *w;
  char portbuf[8];
  size_t plen;

  memset(url, 0, sizeof *url);
  for (i = 0; i < len; i++)
    if (!is_url_char((unsigned char)s[i]))
      return UVH_E_BADURL;

  /* scheme "://" */
  if (p == end || !is_alpha((unsigned char)*p))
    return UVH_E_BADURL;
  while (p < end && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '+' ||
                     *p == '-' || *p == '.'))
    p++;
  if (end - p < 3 || memcmp(p, "://", 3) != 0)
    return UVH_E_BADURL;
  if (p - s == 4 && strncasecmp(s, "http", 4) == 0)
    tls = 0;
  else if (p - s == 5 && strncasecmp(s, "https", 5) == 0)
    tls = 1;
  else
    return UVH_E_BADSCHEME;
  port = default_port = tls ? 443 : 80;
  auth = p + 3;

  /* the authority ends at the first '/', '?' or '#' (a table: one load a byte) */
  auth_end = auth;
  while (auth_end < end && !ends_authority[(unsigned char)*auth_end])
    auth_end++;

  /* userinfo is everything before the last '@' of the authority */
  at = NULL;
  for (p = auth_end; p > auth;)
    if (*--p == '@') {
      at = p;
      break;
    }
  host = at ? at + 1 : auth;
  if (at)
    userinfo_len = (size_t)(at - auth);

  if (host < auth_end && *host == '[') {
    host_end = memchr(host, ']', (size_t)(auth_end - host));
    if (host_end == NULL)
      return UVH_E_BADURL;
    for (p = host + 1; p < host_end; p++)
      if (!is_hex((unsigned char)*p) && *p != ':' && *p != '.')
        return UVH_E_BADURL;
    host++;
    ipv6 = 1;
    p = host_end + 1;
    if (p < auth_end && *p != ':')
      return UVH_E_BADURL;
    if (p < auth_end)
      port_s = p + 1;
  } else {
    host_end = host;
    while (host_end < auth_end && *host_end != ':') {
      if (!is_host_char((unsigned char)*host_end))
        return UVH_E_BADURL;
      host_end++;
    }
    if (host_end < auth_end)
      port_s = host_end + 1;
  }
  host_len = (size_t)(host_end - host);
  if (host_len == 0)
    return UVH_E_NOHOST;
  if (host_len > UVH_URL_HOST_MAX)
    return UVH_E_LONGHOST;

  if (port_s && port_s < auth_end) {
    port = 0;
    for (p = port_s; p < auth_end; p++) {
      if (!is_digit((unsigned char)*p))
        return UVH_E_BADURL;
      port = port * 10 + (unsigned long)(*p - '0');
      if (port > 65535)
        return UVH_E_BADURL;
    }
    if (port == 0)
      return UVH_E_BADURL;
  }

  path = auth_end;
  path_end = memchr(path, '#', (size_t)(end - path));
  if (path_end == NULL)
    path_end = end;
  path_len = (size_t)(path_end - path);

  /* one block: scheme, host, authority, target, userinfo, key (built with
   * memcpy: this runs once per request) */
  /* the port's digits by hand: snprintf cost more than the rest of the parse */
  {
    char digits[8];
    unsigned long n = port;
    size_t k = 0;
    do
      digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0 && k < sizeof digits);
    for (plen = 0; plen < k; plen++)
      portbuf[plen] = digits[k - 1 - plen];
    portbuf[plen] = '\0';
  }
  cap = 6 + (host_len + 1) + (host_len + 2 + 1 + plen + 1) + (path_len + 2) + (userinfo_len + 1) +
        (8 + host_len + 2 + 1 + plen + 1);
  m = malloc(cap);
  if (m == NULL)
    return UVH_E_NOMEM;
  w = m;

  url->scheme = w;
  memcpy(w, tls ? "https" : "http", tls ? 6 : 5);
  w += tls ? 6 : 5;

  url->host = w;
  for (i = 0; i < host_len; i++) {
    unsigned char c = (unsigned char)host[i];
    *w++ = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
  }
  *w++ = '\0';

  url->authority = w;
  w = put_host_port(w, url->host, host_len, ipv6, port != default_port ? portbuf : NULL, plen);

  url->target = w;
  if (path_len == 0 || *path != '/')
    *w++ = '/';
  memcpy(w, path, path_len);
  w += path_len;
  *w++ = '\0';

  if (at) {
    url->userinfo = w;
    w += percent_decode(w, auth, userinfo_len) + 1;
  }

  url->key = w;
  memcpy(w, tls ? "https://" : "http://", tls ? 8 : 7);
  put_host_port(w + (tls ? 8 : 7), url->host, host_len, ipv6, portbuf, plen);

  url->port = (uint16_t)port;
  url->is_ipv6 = (unsigned)ipv6;
  url->is_tls = (unsigned)tls;
  url->mem = m;
  return 0;
}

void uvh_url_free(uvh_url_t *url) {
  free(url->mem);
  memset(url, 0, sizeof *url);
}

/* ---- reference resolution (RFC 3986 section 5) ---- */

/* The five parts of a URI reference, each absent (NULL) or a piece of the
 * input, without its delimiters ("//", "?", "#"). */
typedef struct {
  const char *scheme, *authority, *path, *query, *fragment;
  size_t scheme_len, authority_len, path_len, query_len, fragment_len;
} uri_parts_t;

static void split_reference(const char *s, size_t len, uri_parts_t *p) {
  size_t i = 0, start;
  memset(p, 0, sizeof *p);
  /* a scheme is letters, digits, + - . up to a ':' before any / ? # */
  if (len && is_alpha((unsigned char)s[0])) {
    for (i = 1; i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '+' ||
                            s[i] == '-' || s[i] == '.');
         i++)
      ;
    if (i < len && s[i] == ':') {
      p->scheme = s;
      p->scheme_len = i;
      i++;
    } else {
      i = 0;
    }
  }
  if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') {
    start = i += 2;
    while (i < len && !ends_authority[(unsigned char)s[i]])
      i++;
    p->authority = s + start;
    p->authority_len = i - start;
  }
  start = i;
  while (i < len && s[i] != '?' && s[i] != '#')
    i++;
  p->path = s + start; /* the path is always defined, maybe empty */
  p->path_len = i - start;
  if (i < len && s[i] == '?') {
    start = ++i;
    while (i < len && s[i] != '#')
      i++;
    p->query = s + start;
    p->query_len = i - start;
  }
  if (i < len && s[i] == '#') {
    p->fragment = s + i + 1;
    p->fragment_len = len - i - 1;
  }
}

/* RFC 3986 5.2.4 over `in` (len bytes) into `out` (room for len + 1),
 * returning the output length. */
static size_t remove_dot_segments(char *out, const char *in, size_t len) {
  size_t o = 0, i = 0;
  while (i < len) {
    size_t rest = len - i, seg;
    const char *p = in + i;
    if (rest >= 3 && memcmp(p, "../", 3) == 0) {
      i += 3;
    } else if (rest >= 2 && memcmp(p, "./", 2) == 0) {
      i += 2;
    } else if ((rest >= 3 && memcmp(p, "/./", 3) == 0) || (rest == 2 && memcmp(p, "/.", 2) == 0)) {
      i += 2; /* "/./x" -> "/x", "/." -> "/" */
      if (rest == 2) {
        out[o++] = '/';
        break;
      }
    } else if ((rest >= 4 && memcmp(p, "/../", 4) == 0) || (rest == 3 && memcmp(p, "/..", 3) == 0)) {
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--; /* the last segment and its "/" go */
      i += 3;
      if (rest == 3) {
        out[o++] = '/';
        break;
      }
    } else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0)) {
      break;
    } else {
      seg = p[0] == '/' ? 1 : 0;
      while (seg < rest && p[seg] != '/')
        seg++;
      memcpy(out + o, p, seg);
      o += seg;
      i += seg;
    }
  }
  out[o] = '\0';
  return o;
}

/* Append `len` bytes, percent-encoding spaces and bytes above 0x7e;
 * a control byte fails. */
static int put_encoded(char **w, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return UVH_E_BADURL;
    if (c == ' ' || c > 0x7e) {
      *(*w)++ = '%';
      *(*w)++ = hex[c >> 4];
      *(*w)++ = hex[c & 15];
    } else {
      *(*w)++ = (char)c;
    }
  }
  return 0;
}

static int scheme_is(const uri_parts_t *p, const char *name) {
  return p->scheme_len == strlen(name) && strncasecmp(p->scheme, name, p->scheme_len) == 0;
}

int uvh_url_resolve(const char *base, size_t base_len, const char *ref, size_t ref_len, char **out) {
  uri_parts_t b, r, t;
  char *path, *res, *w, *merged = NULL;
  size_t path_len, cap, i;
  int rc = 0;

  *out = NULL;
  split_reference(base, base_len, &b);
  /* leading and trailing spaces of a header value are not part of it */
  while (ref_len && (ref[0] == ' ' || ref[0] == '\t'))
    ref++, ref_len--;
  while (ref_len && (ref[ref_len - 1] == ' ' || ref[ref_len - 1] == '\t'))
    ref_len--;
  split_reference(ref, ref_len, &r);
  if (b.scheme == NULL || b.authority == NULL)
    return UVH_E_BADURL;
  memset(&t, 0, sizeof t);
  if (r.scheme) {
    t = r;
  } else {
    t.scheme = b.scheme;
    t.scheme_len = b.scheme_len;
    if (r.authority) {
      t.authority = r.authority;
      t.authority_len = r.authority_len;
      t.path = r.path;
      t.path_len = r.path_len;
      t.query = r.query;
      t.query_len = r.query_len;
    } else {
      t.authority = b.authority;
      t.authority_len = b.authority_len;
      if (r.path_len == 0) {
        t.path = b.path;
        t.path_len = b.path_len;
        t.query = r.query ? r.query : b.query;
        t.query_len = r.query ? r.query_len : b.query_len;
      } else {
        if (r.path[0] == '/') {
          t.path = r.path;
          t.path_len = r.path_len;
        } else {
          /* merge: the base path up to its last "/", then the reference's */
          size_t keep = b.path_len;
          while (keep > 0 && b.path[keep - 1] != '/')
            keep--;
          if ((merged = malloc(keep + r.path_len + 2)) == NULL)
            return UVH_E_NOMEM;
          if (b.path_len == 0) {
            merged[0] = '/';
            keep = 1;
          } else {
            memcpy(merged, b.path, keep);
          }
          memcpy(merged + keep, r.path, r.path_len);
          t.path = merged;
          t.path_len = keep + r.path_len;
        }
        t.query = r.query;
        t.query_len = r.query_len;
      }
    }
  }
  t.fragment = r.fragment ? r.fragment : b.fragment;
  t.fragment_len = r.fragment ? r.fragment_len : b.fragment_len;
  if (!scheme_is(&t, "http") && !scheme_is(&t, "https")) {
    free(merged);
    return UVH_E_BADSCHEME;
  }
  if (t.authority == NULL) { /* "http:/x" names no host */
    free(merged);
    return UVH_E_BADURL;
  }
  if ((path = malloc(t.path_len + 1)) == NULL) {
    free(merged);
    return UVH_E_NOMEM;
  }
  path_len = remove_dot_segments(path, t.path, t.path_len);
  free(merged);
  /* every byte may grow to three when encoded */
  cap = 3 * (t.authority_len + path_len + t.query_len + t.fragment_len) + t.scheme_len + 8;
  if ((res = malloc(cap)) == NULL) {
    free(path);
    return UVH_E_NOMEM;
  }
  w = res;
  for (i = 0; i < t.scheme_len; i++)
    *w++ = (char)(t.scheme[i] | 0x20);
  memcpy(w, "://", 3);
  w += 3;
  rc = put_encoded(&w, t.authority, t.authority_len);
  if (!rc)
    rc = put_encoded(&w, path, path_len);
  if (!rc && t.query) {
    *w++ = '?';
    rc = put_encoded(&w, t.query, t.query_len);
  }
  if (!rc && t.fragment) {
    *w++ = '#';
    rc = put_encoded(&w, t.fragment, t.fragment_len);
  }
  free(path);
  if (rc) {
    free(res);
    return rc;
  }
  *w = '\0';
  *out = res;
  return 0;
}
