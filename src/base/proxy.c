/* proxy.c - see proxy.h. */
#include "base/proxy.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static int hex_val(unsigned char c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

static int is_host_char(unsigned char c) {
  return (lower(c) >= 'a' && lower(c) <= 'z') || is_digit(c) || (c && strchr(".-_~!$&'()*+,;=", c) != NULL);
}

/* Percent-decode src[0..len) into dst (NUL-terminated); -1 when a byte
 * decodes to a control character (it could split a header or a message). */
static long decode(char *dst, const char *src, size_t len) {
  size_t i, o = 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%' && i + 2 < len && is_hex((unsigned char)src[i + 1]) &&
        is_hex((unsigned char)src[i + 2])) {
      c = (unsigned char)(hex_val((unsigned char)src[i + 1]) * 16 + hex_val((unsigned char)src[i + 2]));
      i += 2;
    }
    if (c < 0x20 || c == 0x7f)
      return -1;
    dst[o++] = (char)c;
  }
  dst[o] = '\0';
  return (long)o;
}

#define FAIL(msg)                           \
  do {                                      \
    snprintf(why, cap, "%s", msg);          \
    return UVH_E_BADARG;                    \
  } while (0)

int uvh_proxy_parse(uvh_proxy_t *p, const char *s, size_t len, char *why, size_t cap) {
  const char *end = s + len, *auth, *auth_end, *at = NULL, *colon = NULL, *host, *host_end, *q;
  size_t i, slen, host_len, ui_len = 0, need;
  unsigned long port = 0;
  int ipv6 = 0;
  long ulen = 0, plen = 0;
  char *w;

  memset(p, 0, sizeof *p);
  for (i = 0; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      FAIL("it contains a space, a control character (CR, LF, NUL) or a non-ASCII byte");
  q = memchr(s, ':', len);
  if (q == NULL || end - q < 3 || memcmp(q, "://", 3) != 0)
    FAIL("it must be a URL such as http://host:port, socks5://host:port or socks5h://host:port");
  slen = (size_t)(q - s);
  if (slen == 4 && strncasecmp(s, "http", 4) == 0)
    p->kind = UVH_PROXY_HTTP;
  else if (slen == 6 && strncasecmp(s, "socks5", 6) == 0)
    p->kind = UVH_PROXY_SOCKS5;
  else if (slen == 7 && strncasecmp(s, "socks5h", 7) == 0)
    p->kind = UVH_PROXY_SOCKS5H;
  else if (slen == 5 && strncasecmp(s, "https", 5) == 0)
    p->kind = UVH_PROXY_HTTPS;
  else
    FAIL("unsupported scheme (use http://, https://, socks5:// or socks5h://)");
  auth = q + 3;
  auth_end = auth;
  while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
    auth_end++;
  if (auth_end < end && !(auth_end + 1 == end && *auth_end == '/'))
    FAIL("a proxy URL has no path, query or fragment (at most a final '/')");
  for (q = auth_end; q > auth;)
    if (*--q == '@') {
      at = q;
      break;
    }
  host = at ? at + 1 : auth;
  if (at) {
    ui_len = (size_t)(at - auth);
    colon = memchr(auth, ':', ui_len);
    if ((colon ? (size_t)(colon - auth) : ui_len) == 0)
      FAIL("the user name in its userinfo is empty");
  }
  if (host < auth_end && *host == '[') {
    host_end = memchr(host, ']', (size_t)(auth_end - host));
    if (host_end == NULL)
      FAIL("an IPv6 address must be closed with ']'");
    for (q = host + 1; q < host_end; q++)
      if (!is_hex((unsigned char)*q) && *q != ':' && *q != '.')
        FAIL("malformed IPv6 address");
    host++;
    ipv6 = 1;
    q = host_end + 1;
  } else {
    for (host_end = host; host_end < auth_end && *host_end != ':'; host_end++)
      if (!is_host_char((unsigned char)*host_end))
        FAIL("malformed host");
    q = host_end;
  }
  host_len = (size_t)(host_end - host);
  if (host_len == 0)
    FAIL("no host");
  if (host_len > 255)
    FAIL("the host is longer than 255 characters");
  if (q == auth_end || *q != ':' || q + 1 == auth_end)
    FAIL("no port (write host:port, e.g. http://proxy:3128)");
  for (q++; q < auth_end; q++) {
    if (!is_digit((unsigned char)*q) || (port = port * 10 + (unsigned long)(*q - '0')) > 65535)
      FAIL("the port must be a number from 1 to 65535");
  }
  if (port == 0)
    FAIL("the port must be a number from 1 to 65535");

  /* one block: host, authority, user, pass, userinfo, key */
  need = (host_len + 1) + (host_len + 2 + 7) + 3 * (ui_len + 1) + (10 + ui_len + 1 + host_len + 2 + 7);
  if ((p->mem = w = malloc(need)) == NULL)
    return UVH_E_NOMEM;
  p->host = w;
  for (i = 0; i < host_len; i++)
    *w++ = (char)lower((unsigned char)host[i]);
  *w++ = '\0';
  p->port = (uint16_t)port;
  p->authority = w;
  w += sprintf(w, ipv6 ? "[%s]:%u" : "%s:%u", p->host, (unsigned)port) + 1;
  if (at) {
    size_t uraw = colon ? (size_t)(colon - auth) : ui_len;
    p->user = w;
    ulen = decode(w, auth, uraw);
    if (ulen < 0)
      goto bad_credentials;
    w += ulen + 1;
    p->pass = w;
    plen = colon ? decode(w, colon + 1, (size_t)(at - colon - 1)) : (long)(*w = '\0');
    if (plen < 0)
      goto bad_credentials;
    w += plen + 1;
    p->userinfo = w;
    memcpy(w, p->user, (size_t)ulen);
    w[ulen] = ':';
    memcpy(w + ulen + 1, p->pass, (size_t)plen + 1);
    w += ulen + 1 + plen + 1;
    if ((p->kind == UVH_PROXY_SOCKS5 || p->kind == UVH_PROXY_SOCKS5H) && (ulen > 255 || plen > 255)) {
      uvh_proxy_free(p);
      FAIL("a SOCKS5 user name and password are at most 255 bytes each");
    }
  }
  p->key = w;
  w += sprintf(w, "%s://", p->kind == UVH_PROXY_HTTP     ? "http"
                           : p->kind == UVH_PROXY_HTTPS  ? "https"
                           : p->kind == UVH_PROXY_SOCKS5 ? "socks5"
                                                         : "socks5h");
  if (at) {
    memcpy(w, auth, ui_len);
    w += ui_len;
    *w++ = '@';
  }
  strcpy(w, p->authority);
  return 0;

bad_credentials:
  uvh_proxy_free(p);
  FAIL("its user name or password decodes to a control character (CR, LF, NUL)");
}

void uvh_proxy_free(uvh_proxy_t *p) {
  free(p->mem);
  memset(p, 0, sizeof *p);
}

int uvh_proxy_copy(uvh_proxy_t *dst, const uvh_proxy_t *src) {
  char why[8];
  /* the canonical key parses back to the same proxy */
  return uvh_proxy_parse(dst, src->key, strlen(src->key), why, sizeof why);
}

/* ------------------------------------------------------------ no_proxy */

/* An IP literal (v4 dotted or anything with a ':'), which matches only
 * itself, never as a suffix. */
static int is_ip_literal(const char *h, size_t len) {
  size_t i, dots = 0;
  if (memchr(h, ':', len))
    return 1;
  for (i = 0; i < len; i++) {
    if (h[i] == '.')
      dots++;
    else if (!is_digit((unsigned char)h[i]))
      return 0;
  }
  return dots == 3;
}

static int same(const char *a, const char *b, size_t len) { return strncasecmp(a, b, len) == 0; }

/* "ADDR/BITS" (e[0..len), with a '/') against the host, an IP literal or
 * not (then no match), as curl compares CIDR blocks. */
static int cidr_matches(const char *e, size_t len, const char *host, size_t hlen) {
  const char *slash = memchr(e, '/', len);
  unsigned char net[16], addr[16];
  char a[64], h[64];
  unsigned long bits = 0;
  size_t i, alen = (size_t)(slash - e);
  int family = memchr(e, ':', alen) ? AF_INET6 : AF_INET;
  if (alen == 0 || alen >= sizeof a || hlen >= sizeof h || slash + 1 == e + len || e + len - slash > 4)
    return 0;
  for (i = (size_t)(slash + 1 - e); i < len; i++) {
    if (!is_digit((unsigned char)e[i]))
      return 0;
    bits = bits * 10 + (unsigned long)(e[i] - '0');
  }
  if (bits > (family == AF_INET6 ? 128u : 32u))
    return 0;
  memcpy(a, e, alen);
  a[alen] = '\0';
  memcpy(h, host, hlen);
  h[hlen] = '\0';
  if (inet_pton(family, a, net) != 1 || inet_pton(family, h, addr) != 1)
    return 0;
  for (i = 0; bits >= 8; i++, bits -= 8)
    if (net[i] != addr[i])
      return 0;
  return bits == 0 || ((net[i] ^ addr[i]) & (0xff00 >> bits) & 0xff) == 0;
}

/* One entry e[0..len) against the host. */
/* Two IP literals naming the same address, as curl compares them ("::1"
 * is "0:0::1"): 0 when either is not one. */
static int same_address(const char *a, size_t alen, const char *b, size_t blen) {
  char x[64], y[64];
  unsigned char ax[16], bx[16];
  int fa, fb;
  if (alen >= sizeof x || blen >= sizeof y)
    return 0;
  memcpy(x, a, alen);
  x[alen] = '\0';
  memcpy(y, b, blen);
  y[blen] = '\0';
  fa = strchr(x, ':') ? AF_INET6 : AF_INET;
  fb = strchr(y, ':') ? AF_INET6 : AF_INET;
  return fa == fb && inet_pton(fa, x, ax) == 1 && inet_pton(fb, y, bx) == 1 &&
         memcmp(ax, bx, fa == AF_INET ? 4 : 16) == 0;
}

static int entry_matches(const char *e, size_t len, const char *host, size_t hlen, uint16_t port) {
  const char *port_s = NULL;
  size_t port_len = 0;
  if (e[0] == '[') {
    /* "[v6]" or "[v6]:port" */
    const char *close = memchr(e, ']', len);
    if (close == NULL)
      return 0;
    if ((size_t)(close - e) + 1 < len) {
      if (close[1] != ':')
        return 0;
      port_s = close + 2;
      port_len = len - (size_t)(port_s - e);
    }
    len = (size_t)(close - e) - 1;
    e++;
  } else {
    const char *colon = memchr(e, ':', len);
    /* a bare IPv6 address has more than one colon: none of them is a port */
    if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - e)) == NULL) {
      port_s = colon + 1;
      port_len = len - (size_t)(port_s - e);
      len = (size_t)(colon - e);
    }
  }
  if (port_s) {
    unsigned long n = 0;
    size_t i;
    if (port_len == 0 || port_len > 5)
      return 0;
    for (i = 0; i < port_len; i++) {
      if (!is_digit((unsigned char)port_s[i]))
        return 0;
      n = n * 10 + (unsigned long)(port_s[i] - '0');
    }
    if (n != port)
      return 0;
  }
  if (len && e[len - 1] == '.')
    len--;
  if (len && e[0] == '.') {
    e++;
    len--;
  }
  if (len == 0)
    return 0;
  if (memchr(e, '/', len))
    return cidr_matches(e, len, host, hlen);
  if (is_ip_literal(host, hlen) || is_ip_literal(e, len))
    return same_address(e, len, host, hlen);
  if (len == hlen)
    return same(e, host, len);
  /* a suffix only at a label's start: "example.com" is not "badexample.com" */
  return len < hlen && host[hlen - len - 1] == '.' && same(e, host + hlen - len, len);
}

int uvh_no_proxy_match(const char *no_proxy, const char *host, uint16_t port) {
  const char *p = no_proxy;
  size_t hlen;
  if (no_proxy == NULL || host == NULL)
    return 0;
  hlen = strlen(host);
  if (hlen && host[hlen - 1] == '.')
    hlen--;
  while (*p) {
    const char *start;
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    start = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    if (p - start == 1 && *start == '*')
      return 1;
    if (p > start && entry_matches(start, (size_t)(p - start), host, hlen, port))
      return 1;
  }
  return 0;
}
