/* url.h - absolute http:// and https:// URL parsing.
 *
 * A parsed uvh_url_t owns one allocation holding all of its strings;
 * uvh_url_free releases it. Parsing validates everything that will be
 * written on the wire, so a request built from a parsed URL cannot
 * smuggle CR/LF or spaces into the request line or Host header.
 */
#ifndef UVH_URL_H
#define UVH_URL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *scheme;    /* "http" or "https" */
  const char *host;      /* lower-cased; IPv6 literal without brackets */
  const char *authority; /* Host header value: host, [v6], with ":port" only when not default */
  const char *target;    /* origin-form request target: path + query, never empty, no fragment */
  const char *userinfo;  /* percent-decoded "user:password", or NULL */
  const char *key;       /* destination key: scheme "://" authority-with-port, e.g. "http://a:80", "https://a:443" */
  uint16_t port;
  unsigned is_ipv6 : 1;
  unsigned is_tls : 1;   /* https */
  char *mem;             /* owns every string above */
} uvh_url_t;

/* The longest host a URL may name: a DNS name is at most 253 characters
 * (254 with the root's dot), and the resolver takes no more than 255. */
#define UVH_URL_HOST_MAX 255

/* Parse `len` bytes at `s`. Returns 0, UVH_E_BADURL, UVH_E_BADSCHEME,
 * UVH_E_NOHOST, UVH_E_LONGHOST or UVH_E_NOMEM. On error `url` holds
 * nothing to free. */
int uvh_url_parse(uvh_url_t *url, const char *s, size_t len);
void uvh_url_free(uvh_url_t *url);

/* Resolve the reference `ref` (a Location header value: absolute,
 * protocol-relative, absolute-path, relative, "?query" or "#fragment")
 * against the absolute URL `base`, as RFC 3986 section 5.2 says (dot
 * segments removed), into a new NUL-terminated string in *out (free()
 * it). A reference without a fragment takes the base's (RFC 9110 10.2.2).
 * Spaces and bytes above 0x7e in `ref` are percent-encoded (as browsers
 * do). Returns 0, UVH_E_BADURL (a control byte, no scheme in `base`),
 * UVH_E_BADSCHEME (the result is not http or https) or UVH_E_NOMEM. The
 * result is not checked further: uvh_url_parse does that. */
int uvh_url_resolve(const char *base, size_t base_len, const char *ref, size_t ref_len, char **out);

#endif
