/* proxy.h - proxy URLs (http://, socks5://, socks5h:// with optional
 * userinfo) and the no_proxy rule of the proxy environment variables.
 *
 * Pure functions on strings: no socket, no loop. A parsed uvh_proxy_t
 * owns one allocation holding its strings; uvh_proxy_free releases it.
 * Parsing refuses what could reach the wire unsafely (control characters
 * in the decoded credentials), so a CONNECT or SOCKS5 request built from
 * one cannot be split.
 */
#ifndef UVH_BASE_PROXY_H
#define UVH_BASE_PROXY_H
#include <stddef.h>
#include <stdint.h>

typedef enum {
  UVH_PROXY_HTTP = 1,        /* forward proxy: absolute-form requests, CONNECT for https */
  UVH_PROXY_SOCKS5,          /* SOCKS5, the client resolves the target (an address is sent) */
  UVH_PROXY_SOCKS5H,         /* SOCKS5, the proxy resolves the target (the name is sent) */
  UVH_PROXY_HTTPS            /* forward proxy reached over TLS: http:// targets only (absolute form) */
} uvh_proxy_kind_t;

typedef struct {
  uvh_proxy_kind_t kind;
  const char *host;          /* lower-cased; IPv6 literal without brackets */
  const char *authority;     /* "host:port", "[v6]:port": for messages */
  const char *user, *pass;   /* percent-decoded, or NULL (no userinfo) */
  const char *userinfo;      /* decoded "user:pass" (HTTP Basic), or NULL */
  const char *key;           /* canonical "scheme://userinfo@host:port" (userinfo as written): part of a destination key */
  uint16_t port;
  char *mem;                 /* owns every string above */
} uvh_proxy_t;

/* Parse `len` bytes at `s`: "scheme://[user[:pass]@]host:port[/]" with
 * scheme http, https, socks5 or socks5h.
 * 0, or UVH_E_BADARG with a sentence in why[0..cap) (without the value
 * itself), or UVH_E_NOMEM. On error `p` holds nothing to free. */
int uvh_proxy_parse(uvh_proxy_t *p, const char *s, size_t len, char *why, size_t cap);
void uvh_proxy_free(uvh_proxy_t *p);
/* A deep copy of `src` into `dst`: 0 or UVH_E_NOMEM. */
int uvh_proxy_copy(uvh_proxy_t *dst, const uvh_proxy_t *src);

/* Does the no_proxy list (comma- or space-separated, curl's rules) exempt
 * `host` (lower-case, IPv6 without brackets) on `port`? An entry matches
 * the host itself or any name below it ("example.com" and ".example.com"
 * both match "example.com" and "a.example.com"), an IP literal matches
 * that address (also written with brackets for IPv6), "*" alone matches
 * everything, and "name:port" matches only on that port. Case is ignored;
 * a trailing dot of the host or the entry too. */
int uvh_no_proxy_match(const char *no_proxy, const char *host, uint16_t port);

#endif
