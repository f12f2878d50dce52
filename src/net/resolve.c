/* resolve.c - see resolve.h. */
#include "net/resolve.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* A cached answer (port 0) or a fixed one (its port), in one block with
 * its name and addresses. */
typedef struct {
  uvh_list_t link;           /* r->cache (most recently stored first) or r->fixed */
  char *name;
  uint16_t port;             /* fixed answers only */
  uint64_t expires;          /* loop ms; cached answers only */
  int status;                /* 0, or the failure remembered */
  unsigned n;
  struct sockaddr_storage *addrs;
} entry_t;

struct uvh_lookup_s {
  uv_getaddrinfo_t req;
  uvh_resolver_t *r;         /* strong ref: the callback may come after the owner let go */
  uvh_list_t link;           /* r->lookups */
  uvh_list_t waiters;        /* uvh_resolve_waiter_t, borrowed */
  unsigned generation;       /* r->generation when started: a dropped cache does not take its answer */
  unsigned cancelled : 1;    /* uv_cancel succeeded: nobody may join */
  char name[1];              /* the rest of the block */
};

struct uvh_resolver_s {
  int refcount;              /* the owner's + one per lookup in flight */
  uint64_t ttl_ms;
  unsigned generation;
  uvh_list_t cache, fixed, lookups;
  unsigned ncache;
};

int uvh__resolver_new(uint64_t ttl_ms, uvh_resolver_t **out) {
  uvh_resolver_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return UVH_E_NOMEM;
  r->refcount = 1;
  r->ttl_ms = ttl_ms;
  uvh_list_init(&r->cache);
  uvh_list_init(&r->fixed);
  uvh_list_init(&r->lookups);
  *out = r;
  return 0;
}

void uvh__resolver_ref(uvh_resolver_t *r) { r->refcount++; }

static void entry_free(uvh_resolver_t *r, entry_t *e, int cached) {
  uvh_list_remove(&e->link);
  if (cached)
    r->ncache--;
  free(e);
}

static void free_all(uvh_resolver_t *r, uvh_list_t *list, int cached) {
  while (!uvh_list_empty(list))
    entry_free(r, uvh_container_of(list->next, entry_t, link), cached);
}

void uvh__resolver_drop_cache(uvh_resolver_t *r) {
  free_all(r, &r->cache, 1);
  r->generation++;
}

void uvh__resolver_unref(uvh_resolver_t *r) {
  if (--r->refcount > 0)
    return;
  free_all(r, &r->cache, 1);
  free_all(r, &r->fixed, 0);
  free(r);
}

static entry_t *entry_new(const char *name, unsigned n) {
  size_t nlen = strlen(name) + 1;
  /* the addresses first, where the block's alignment suits them */
  entry_t *e = malloc(sizeof *e + n * sizeof(struct sockaddr_storage) + nlen);
  if (e == NULL)
    return NULL;
  memset(e, 0, sizeof *e);
  e->addrs = (struct sockaddr_storage *)(e + 1);
  e->name = (char *)(e->addrs + n);
  memcpy(e->name, name, nlen);
  e->n = n;
  uvh_list_init(&e->link);
  return e;
}

/* An IP literal into *ss (port set), or -1. */
static int parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0 && strchr(ip, ':') == NULL)
    return 0;
  memset(ss, 0, sizeof *ss);
  if (strchr(ip, ':') && uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return -1;
}

int uvh__resolver_set_fixed(uvh_resolver_t *r, const char *host, uint16_t port, const char *const *ips, unsigned n,
                            char *why, size_t why_cap) {
  entry_t *e;
  uvh_list_t *it;
  unsigned i;
  char *p;
  if (n == 0) {
    snprintf(why, why_cap, "resolve '%s:%u': no addresses given", host, (unsigned)port);
    return UVH_E_BADARG;
  }
  if ((e = entry_new(host, n)) == NULL)
    return UVH_E_NOMEM;
  for (p = e->name; *p; p++)
    *p = (char)tolower((unsigned char)*p); /* URL hosts are lower-cased */
  e->port = port;
  for (i = 0; i < n; i++) {
    if (parse_ip(ips[i], port, &e->addrs[i]) != 0) {
      char shown[64];
      uvh_escape(shown, sizeof shown, ips[i], strlen(ips[i]));
      snprintf(why, why_cap, "resolve '%s:%u': '%s' is not an IPv4 or IPv6 address", host, (unsigned)port, shown);
      free(e);
      return UVH_E_BADARG;
    }
  }
  for (it = r->fixed.next; it != &r->fixed; it = it->next) {
    entry_t *old = uvh_container_of(it, entry_t, link);
    if (old->port == port && strcmp(old->name, e->name) == 0) {
      entry_free(r, old, 0);
      break;
    }
  }
  uvh_list_push_back(&r->fixed, &e->link);
  return 0;
}

/* Remember the answer for `name`: successes for the TTL, failures briefly. */
static void cache_store(uvh_resolver_t *r, uint64_t now, const char *name, int status,
                        const struct sockaddr_storage *addrs, unsigned n) {
  uvh_list_t *it;
  entry_t *e;
  if (r->ttl_ms == 0)
    return;
  for (it = r->cache.next; it != &r->cache; it = it->next) {
    entry_t *old = uvh_container_of(it, entry_t, link);
    if (strcmp(old->name, name) == 0) {
      entry_free(r, old, 1);
      break;
    }
  }
  if ((e = entry_new(name, status == 0 ? n : 0)) == NULL)
    return; /* not cached: the next dial asks again */
  e->status = status;
  if (status == 0)
    memcpy(e->addrs, addrs, n * sizeof *addrs);
  e->expires = now + (status == 0 ? r->ttl_ms : UVH_RESOLVE_FAIL_TTL_MS);
  uvh_list_push_front(&r->cache, &e->link);
  if (++r->ncache > UVH_RESOLVE_CACHE_KEPT)
    entry_free(r, uvh_container_of(r->cache.prev, entry_t, link), 1);
}

static void on_lookup_done(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  uvh_lookup_t *l = g->data;
  uvh_resolver_t *r = l->r;
  struct sockaddr_storage *addrs = NULL;
  struct addrinfo *ai;
  unsigned n = 0;

  uvh_list_remove(&l->link);
  if (status == 0) {
    for (ai = res; ai; ai = ai->ai_next)
      n += ai->ai_family == AF_INET || ai->ai_family == AF_INET6;
    if (n == 0)
      status = UV_EAI_NODATA;
    else if ((addrs = calloc(n, sizeof *addrs)) == NULL)
      status = UV_ENOMEM;
    n = 0;
    for (ai = res; addrs && ai; ai = ai->ai_next)
      if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) && ai->ai_addrlen <= sizeof *addrs)
        memcpy(&addrs[n++], ai->ai_addr, ai->ai_addrlen);
  }
  if (res)
    uv_freeaddrinfo(res);
  if (status != UV_EAI_CANCELED && status != UV_ENOMEM && l->generation == r->generation)
    cache_store(r, uv_now(g->loop), l->name, status, addrs, n);
  /* each waiter leaves before its callback, which may make others leave */
  while (!uvh_list_empty(&l->waiters)) {
    uvh_resolve_waiter_t *w = uvh_container_of(l->waiters.next, uvh_resolve_waiter_t, link);
    uvh_list_remove(&w->link);
    w->lookup = NULL;
    w->cb(w, status, addrs, n);
  }
  free(addrs);
  free(l);
  uvh__resolver_unref(r);
}

int uvh__resolver_lookup(uvh_resolver_t *r, uv_loop_t *uv, const char *host, uint16_t port, uvh_resolve_waiter_t *w,
                         int *status, const struct sockaddr_storage **addrs, unsigned *n) {
  uvh_list_t *it, *next;
  uvh_lookup_t *l;
  struct addrinfo hints;
  size_t nlen;
  int rc;

  *status = 0;
  w->lookup = NULL;
  uvh_list_init(&w->link);
  for (it = r->fixed.next; it != &r->fixed; it = it->next) {
    entry_t *e = uvh_container_of(it, entry_t, link);
    if (e->port == port && strcmp(e->name, host) == 0) {
      *addrs = e->addrs;
      *n = e->n;
      return UVH_RESOLVED_FIXED;
    }
  }
  for (it = r->cache.next; it != &r->cache; it = next) {
    entry_t *e = uvh_container_of(it, entry_t, link);
    next = it->next;
    if (strcmp(e->name, host) != 0)
      continue;
    if (uv_now(uv) >= e->expires) {
      entry_free(r, e, 1);
      break;
    }
    *status = e->status;
    *addrs = e->addrs;
    *n = e->n;
    return UVH_RESOLVED_CACHED;
  }
  for (it = r->lookups.next; it != &r->lookups; it = it->next) {
    l = uvh_container_of(it, uvh_lookup_t, link);
    if (!l->cancelled && l->generation == r->generation && strcmp(l->name, host) == 0) {
      w->lookup = l;
      uvh_list_push_back(&l->waiters, &w->link);
      return UVH_RESOLVED_SHARED;
    }
  }
  nlen = strlen(host);
  if ((l = calloc(1, sizeof *l + nlen)) == NULL)
    return UVH_E_NOMEM;
  memcpy(l->name, host, nlen + 1);
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  l->req.data = l;
  rc = uv_getaddrinfo(uv, &l->req, on_lookup_done, l->name, NULL, &hints);
  if (rc < 0) {
    free(l);
    if (rc == UV_ENOMEM)
      return UVH_E_NOMEM;
    *status = rc;
    return UVH_RESOLVED_LOOKUP;
  }
  l->r = r;
  uvh__resolver_ref(r);
  l->generation = r->generation;
  uvh_list_init(&l->waiters);
  uvh_list_push_back(&r->lookups, &l->link);
  w->lookup = l;
  uvh_list_push_back(&l->waiters, &w->link);
  return UVH_RESOLVED_LOOKUP;
}

void uvh__resolve_waiter_leave(uvh_resolve_waiter_t *w) {
  uvh_lookup_t *l = w->lookup;
  if (l == NULL)
    return;
  uvh_list_remove(&w->link);
  w->lookup = NULL;
  /* nobody wants the answer: do not keep a thread busy for it */
  if (uvh_list_empty(&l->waiters) && uv_cancel((uv_req_t *)&l->req) == 0)
    l->cancelled = 1;
}
