/* resolve.h - names to addresses for dials: fixed answers for given
 * host:port pairs (the pool's `resolve` option, like curl's --resolve), a
 * cache of getaddrinfo results per name (successes for a TTL, failures for
 * UVH_RESOLVE_FAIL_TTL_MS), and one getaddrinfo shared by every dial that
 * asks for the same uncached name while it runs.
 *
 * Owns: the cache entries and fixed answers (copies of the addresses),
 * each lookup in flight (its uv_getaddrinfo_t and waiter list). A lookup
 * holds a reference on the resolver, so its callback never sees freed
 * memory even when the owner (a pool) let go meanwhile. Borrows: the
 * waiters, which are their dials' (a waiter leaves when its dial is
 * cancelled).
 *
 * Addresses are handed out as arrays of sockaddr_storage; cached ones have
 * port 0 (the cache is per name: the dial sets its port).
 */
#ifndef UVH_NET_RESOLVE_H
#define UVH_NET_RESOLVE_H
#include "uvh.h"
#include "base/list.h"
#include <sys/socket.h>

/* How long a failed lookup is remembered */
#define UVH_RESOLVE_FAIL_TTL_MS 1000
/* Names the cache keeps at most (the least recently stored goes first) */
#define UVH_RESOLVE_CACHE_KEPT 256

typedef struct uvh_resolver_s uvh_resolver_t;
typedef struct uvh_lookup_s uvh_lookup_t;
typedef struct uvh_resolve_waiter_s uvh_resolve_waiter_t;

/* The lookup a waiter joined finished: status 0 with n >= 1 addresses
 * (borrowed for the call), or a libuv error. Never called from within
 * uvh__resolver_lookup, never after uvh__resolve_waiter_leave. */
typedef void (*uvh_resolve_cb)(uvh_resolve_waiter_t *w, int status, const struct sockaddr_storage *addrs,
                               unsigned n);

struct uvh_resolve_waiter_s {
  uvh_list_t link;           /* in lookup->waiters while waiting */
  uvh_lookup_t *lookup;      /* borrowed while waiting, else NULL */
  uvh_resolve_cb cb;
};

/* What uvh__resolver_lookup found. */
typedef enum {
  UVH_RESOLVED_FIXED,        /* a `resolve` entry: *addrs set */
  UVH_RESOLVED_CACHED,       /* the cache: *addrs set, or *status a remembered failure */
  UVH_RESOLVED_SHARED,       /* waiting on a lookup another dial started */
  UVH_RESOLVED_LOOKUP        /* waiting on a getaddrinfo started for this dial */
} uvh_resolved_t;

/* ttl_ms 0: nothing is cached (lookups in flight are still shared). */
int uvh__resolver_new(uint64_t ttl_ms, uvh_resolver_t **out);
void uvh__resolver_ref(uvh_resolver_t *r);
void uvh__resolver_unref(uvh_resolver_t *r);
/* Forget every cached answer; lookups in flight will not be cached (in a
 * child after fork). Fixed answers stay. */
void uvh__resolver_drop_cache(uvh_resolver_t *r);
/* A fixed answer for host:port: n IP literals. UVH_E_BADARG with `why`
 * naming the bad entry, or UVH_E_NOMEM. A second call for the same pair
 * replaces the first. */
int uvh__resolver_set_fixed(uvh_resolver_t *r, const char *host, uint16_t port, const char *const *ips, unsigned n,
                            char *why, size_t why_cap);
/* Resolve `host` (port for fixed answers). Returns a uvh_resolved_t: for
 * FIXED and CACHED *addrs and *n (borrowed until the next call into the
 * resolver: copy them) or *status < 0; for SHARED and LOOKUP `w` waits
 * and its cb runs once later. Or UVH_E_NOMEM, or a negative libuv error
 * from uv_getaddrinfo in *status with UVH_RESOLVED_LOOKUP returned and no
 * waiting (w->lookup NULL). */
int uvh__resolver_lookup(uvh_resolver_t *r, uv_loop_t *uv, const char *host, uint16_t port, uvh_resolve_waiter_t *w,
                         int *status, const struct sockaddr_storage **addrs, unsigned *n);
/* Stop waiting (the dial was cancelled): the callback will not run. The
 * last waiter to leave cancels the getaddrinfo if it has not started. */
void uvh__resolve_waiter_leave(uvh_resolve_waiter_t *w);

#endif
