/* pool.c - the per-destination connection pool and its FIFO queue.
 *
 * Owns: destinations (created on demand; an empty one is kept for its
 * counters until there are more than UVH_DESTS_KEPT), the queue timer with
 * the heap of queued requests' due times it watches, and the check/idle
 * pair that runs deferred work right after each poll phase.
 * Borrows: the loop. A pool is referenced by its owner, by every active
 * request and by every connection, so it outlives all of them.
 *
 * Re-entrancy: completion callbacks may submit, cancel, shut down or drop
 * the pool. Every path finishes its bookkeeping before the callback, and
 * sweeps over many requests first move them to a private list.
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UVH_DESTS_KEPT 256


void uvh_pool_config_init(uvh_pool_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->idle_timeout = 60;
  cfg->max_connections = 10;
  cfg->max_headers_size = 64 * 1024;
  cfg->max_body_size = UVH_DEFAULT_MAX_BODY_SIZE;
  cfg->happy_eyeballs_delay = 0.25;
  cfg->dns_cache_ttl = 60;
  cfg->decompress = 1;
  cfg->max_header_count = UVH_DEFAULT_MAX_HEADER_COUNT;
  cfg->expect_timeout = 1;
}

static void on_check(uv_check_t *h);
static const uvh_loop_user_ops_t pool_loop_ops;
static void on_idle(uv_idle_t *h) {}

int uvh_pool_new(uvh_loop_t *loop, const uvh_pool_config_t *cfg, uvh_pool_t **out) {
  uvh_pool_t *pool;
  if (cfg->max_connections < 1 || !UVH_SECONDS_OK(cfg->idle_timeout) || !UVH_SECONDS_OK(cfg->max_lifetime) ||
      !UVH_SECONDS_OK(cfg->queue_timeout) || !UVH_SECONDS_OK(cfg->read_timeout) ||
      !UVH_SECONDS_OK(cfg->happy_eyeballs_delay) || !UVH_SECONDS_OK(cfg->dns_cache_ttl) ||
      !UVH_SECONDS_OK(cfg->expect_timeout))
    return UVH_E_BADARG;
  pool = calloc(1, sizeof *pool);
  if (pool == NULL)
    return UVH_E_NOMEM;
  if (uvh__resolver_new(uvh__seconds_to_ms(cfg->dns_cache_ttl), &pool->resolver) != 0) {
    free(pool);
    return UVH_E_NOMEM;
  }
  uvh__dial_opts_init(&pool->sock);
  pool->sock.happy_eyeballs_delay_ms = uvh__seconds_to_ms(cfg->happy_eyeballs_delay);
  uvh__dial_opts_key(&pool->sock, pool->sock_key, sizeof pool->sock_key);
  uvh__fork_init();
  pool->refcount = 1;
  pool->loop = loop;
  pool->cfg = *cfg;
  pool->rng = (uint32_t)(uintptr_t)pool ^ (uint32_t)uv_hrtime() ^ 0x9e3779b9u;
  if (pool->rng == 0)
    pool->rng = 1;
  uvh_list_init(&pool->dests);
  uvh_list_init(&pool->idle_lru);
  uvh_list_init(&pool->pending_writes);
  uvh_list_init(&pool->deferred);
  uvh__tls_ctx_cache_init(&pool->tls_ctxs, UVH_TLS_CTXS_KEPT);
  uvh__tls_opts_init(&pool->tls);
  uv_timer_init(loop->uv, &pool->queue_timer);
  uv_check_init(loop->uv, &pool->check);
  uv_idle_init(loop->uv, &pool->idle);
  pool->queue_timer.data = pool->check.data = pool->idle.data = pool;
  pool->handles_open = 3;
  /* queued requests wait on busy connections, which keep the loop alive;
   * the idle handle (active only while deferred work waits) does */
  uv_unref((uv_handle_t *)&pool->queue_timer);
  uv_unref((uv_handle_t *)&pool->check);
  uv_check_start(&pool->check, on_check);
  uvh__loop_add_user(loop, &pool->loop_user, &pool_loop_ops);
  *out = pool;
  return 0;
}

void uvh_pool_ref(uvh_pool_t *pool) { pool->refcount++; }

static void dest_free(uvh_dest_t *d) {
  while (d->nsessions)
    uvh__tls_session_free(d->sessions[--d->nsessions]);
  if (d->last_offered)
    uvh__tls_session_free(d->last_offered);
  if (d->ssl_ctx)
    uvh__tls_ctx_free(d->ssl_ctx);
  uvh_proxy_free(&d->proxy);
  free(d);
}

static void pool_free(uvh_pool_t *pool) {
  int i;
  while (!uvh_list_empty(&pool->dests)) {
    uvh_dest_t *d = uvh_container_of(pool->dests.next, uvh_dest_t, pool_link);
    uvh_list_remove(&d->pool_link);
    dest_free(d);
  }
  uvh__tls_ctx_cache_clear(&pool->tls_ctxs);
  uvh__tls_opts_free(&pool->tls);
  uvh__resolver_unref(pool->resolver);
  for (i = 0; i < UVH_PROXY_SLOTS; i++)
    uvh_proxy_free(&pool->proxies[i]);
  free(pool->no_proxy);
  free(pool->bufs.plain);
  free(pool->due_heap);
  free(pool);
}

static void on_handle_closed(uv_handle_t *h) {
  uvh_pool_t *pool = h->data;
  if (--pool->handles_open == 0 && pool->refcount == 0)
    pool_free(pool);
}

static void close_handles(uvh_pool_t *pool) {
  uv_close((uv_handle_t *)&pool->queue_timer, on_handle_closed);
  uv_close((uv_handle_t *)&pool->check, on_handle_closed);
  uv_close((uv_handle_t *)&pool->idle, on_handle_closed);
}

void uvh_pool_unref(uvh_pool_t *pool) {
  if (--pool->refcount > 0)
    return;
  if (pool->loop) {
    uvh_loop_t *loop = pool->loop;
    uvh__loop_remove_user(&pool->loop_user);
    pool->loop = NULL;
    close_handles(pool);
    uvh__loop_work(loop); /* the close callbacks free it */
  } else if (pool->handles_open == 0) {
    pool_free(pool);
  }
}

/* Every public entry notices a fork before touching anything. */
static int pool_usable(uvh_pool_t *pool) {
  UVH_CHECK_FORK(pool->loop);
  return pool->loop != NULL && !pool->detaching;
}

uvh_loop_t *uvh_pool_loop(uvh_pool_t *pool) { return pool->loop; }

static uint64_t pool_next_idle_deadline(uvh_pool_t *pool) {
  uvh_list_t *it;
  uint64_t next = 0;
  for (it = pool->idle_lru.next; it != &pool->idle_lru; it = it->next) {
    uvh_conn_t *conn = uvh_container_of(it, uvh_conn_t, lru_link);
    if (conn->idle_deadline && (next == 0 || conn->idle_deadline < next))
      next = conn->idle_deadline;
  }
  return next;
}
unsigned uvh_pool_size(const uvh_pool_t *pool) {
  pool_usable((uvh_pool_t *)pool);
  return pool->size;
}
unsigned uvh_pool_nbusy(const uvh_pool_t *pool) {
  pool_usable((uvh_pool_t *)pool);
  return pool->nbusy;
}
unsigned uvh_pool_nqueued(const uvh_pool_t *pool) {
  pool_usable((uvh_pool_t *)pool);
  return pool->nqueued;
}
double uvh_pool_idle_timeout(const uvh_pool_t *pool) { return pool->cfg.idle_timeout; }
unsigned uvh_pool_max_connections(const uvh_pool_t *pool) { return pool->cfg.max_connections; }
size_t uvh_pool_max_headers_size(const uvh_pool_t *pool) { return pool->cfg.max_headers_size; }
size_t uvh_pool_max_body_size(const uvh_pool_t *pool) { return pool->cfg.max_body_size; }
const uvh_pool_stats_t *uvh_pool_stats(const uvh_pool_t *pool) {
  pool_usable((uvh_pool_t *)pool);
  return &pool->stats;
}
void *uvh_pool_get_data(uvh_pool_t *pool) { return pool->data; }
void uvh_pool_set_data(uvh_pool_t *pool, void *data) { pool->data = data; }

/* ------------------------------------------------------------ destinations */

static uvh_dest_t *find_dest(uvh_pool_t *pool, const char *key) {
  uvh_list_t *it;
  for (it = pool->dests.next; it != &pool->dests; it = it->next) {
    uvh_dest_t *d = uvh_container_of(it, uvh_dest_t, pool_link);
    if (strcmp(d->key, key) == 0)
      return d;
  }
  return NULL;
}

/* The pool's cached context for settings `o` (whose context key is
 * `ctx_key`), built on first use: 0, UVH_E_NOMEM, or UVH_E_TLS_CONFIG with
 * pool->last_error saying why. */
static int tls_ctx_for(uvh_pool_t *pool, const uvh_tls_opts_t *o, const char *ctx_key, struct ssl_ctx_st **out) {
  struct ssl_ctx_st *ctx = uvh__tls_ctx_cache_find(&pool->tls_ctxs, ctx_key);
  int rc;
  if (ctx == NULL) {
    if ((ctx = uvh__tls_ctx_new(o, pool->last_error, sizeof pool->last_error)) == NULL)
      return UVH_E_TLS_CONFIG;
    /* destinations hold their own references: the least recently used
     * context can go from the cache at any time */
    if ((rc = uvh__tls_ctx_cache_add(&pool->tls_ctxs, ctx_key, ctx)) != 0)
      return rc;
  }
  *out = ctx;
  return 0;
}

/* Room for the canonical text of settings `o` (see uvh__tls_ctx_key). */
static size_t tls_key_cap(const uvh_tls_opts_t *o) {
  size_t cap = 64;
  int i;
  for (i = 0; i < TLS_NSTR; i++)
    cap += o->str[i] ? strlen(o->str[i]) + 16 : 0;
  return cap;
}

/* The name an https destination sends as SNI and verifies. */
static const char *tls_name(const uvh_tls_opts_t *o, const uvh_url_t *url) {
  return o->str[TLS_SERVER_NAME] ? o->str[TLS_SERVER_NAME] : url->host;
}

/* The socket options of `req` in a destination key: "" when they are the
 * pool's, else "\n" and their text. *merged gets them. */
static void sock_suffix(const uvh_pool_t *pool, const uvh_request_t *req, uvh_dial_opts_t *merged, char *buf,
                        size_t cap) {
  uvh__dial_opts_merge(merged, &req->sock, &pool->sock);
  buf[0] = '\0';
  if (req->sock.set && (uvh__dial_opts_key(merged, buf + 1, cap - 1) < 0 || strcmp(buf + 1, pool->sock_key) != 0))
    buf[0] = '\n';
}

/* Does a connection for `req` through `proxy` run TLS: to an https://
 * target (end to end), or to an https:// proxy (for an http:// target). */
static int dest_tls(const uvh_request_t *req, const uvh_proxy_t *proxy) {
  return req->url.is_tls || (proxy && proxy->kind == UVH_PROXY_HTTPS);
}

/* The name its TLS sends as SNI and verifies: the target's, or for an
 * http:// target through an https:// proxy, the proxy's. */
static const char *dest_tls_name(const uvh_tls_opts_t *o, const uvh_request_t *req, const uvh_proxy_t *proxy) {
  return req->url.is_tls ? tls_name(o, &req->url) : proxy->host;
}

/* The proxy `req` goes through, or NULL for direct: its own setting, else
 * the pool's default, else the environment's for its scheme (or for all)
 * unless no_proxy exempts the target. */
static const uvh_proxy_t *route_proxy(const uvh_pool_t *pool, const uvh_request_t *req) {
  const uvh_proxy_t *p;
  if (req->proxy_set)
    return req->proxy;
  if (pool->proxies[UVH_PROXY_DEFAULT].mem)
    return &pool->proxies[UVH_PROXY_DEFAULT];
  p = &pool->proxies[req->url.is_tls ? UVH_PROXY_ENV_HTTPS : UVH_PROXY_ENV_HTTP];
  if (p->mem == NULL)
    p = &pool->proxies[UVH_PROXY_ENV_ALL];
  if (p->mem == NULL || uvh_no_proxy_match(pool->no_proxy, req->url.host, req->url.port))
    return NULL;
  return p;
}

/* The destination key of `req` through `proxy` (NULL: direct): its URL's,
 * its socket options when they are not the pool's, the proxy's key by
 * value (credentials included, so connections with other credentials are
 * never shared), and for https the server name and the TLS settings in
 * force, by value. Malloc'd; *o gets the merged settings (borrowing
 * strings), *ctx_key_off where their context key starts in the returned
 * string. */
static char *dest_key(uvh_pool_t *pool, const uvh_request_t *req, const uvh_proxy_t *proxy, uvh_tls_opts_t *o,
                      size_t *ctx_key_off) {
  const char *name;
  char *key, sock[sizeof pool->sock_key + 1];
  size_t base, cap, via = proxy ? 5 + strlen(proxy->key) : 0;
  uvh_dial_opts_t merged;
  sock_suffix(pool, req, &merged, sock, sizeof sock);
  if (!dest_tls(req, proxy)) {
    cap = strlen(req->url.key) + strlen(sock) + via + 1;
    if ((key = malloc(cap)) != NULL)
      snprintf(key, cap, "%s%s%s%s", req->url.key, sock, proxy ? "\nvia " : "", proxy ? proxy->key : "");
    return key;
  }
  uvh__tls_opts_merge(o, &req->tls, &pool->tls);
  name = dest_tls_name(o, req, proxy);
  base = strlen(req->url.key) + strlen(sock) + via + 1 + strlen(name) + 1;
  cap = base + tls_key_cap(o);
  if ((key = malloc(cap)) == NULL)
    return NULL;
  snprintf(key, cap, "%s%s%s%s\n%s\n", req->url.key, sock, proxy ? "\nvia " : "", proxy ? proxy->key : "", name);
  if (uvh__tls_ctx_key(o, key + base, cap - base) < 0) {
    free(key);
    return NULL;
  }
  *ctx_key_off = base;
  return key;
}

/* Find or create the destination of `req` through `proxy`. NULL when out
 * of memory (*err UVH_E_NOMEM) or its TLS settings are unusable (*err
 * UVH_E_TLS_CONFIG, pool->last_error says why). */
static uvh_dest_t *get_dest(uvh_pool_t *pool, const uvh_request_t *req, const uvh_proxy_t *proxy, int *err) {
  const uvh_url_t *url = &req->url;
  uvh_tls_opts_t o;
  size_t ctx_key_off = 0, klen, hlen, nlen = 0;
  struct ssl_ctx_st *ctx = NULL;
  char *key;
  uvh_dest_t *d;

  /* plain http, direct, with the pool's socket options: the URL's key as it is, without a copy */
  if (!url->is_tls && proxy == NULL && req->sock.set == 0 && (d = find_dest(pool, url->key)) != NULL) {
    uvh_list_remove(&d->pool_link);
    uvh_list_push_front(&pool->dests, &d->pool_link);
    return d;
  }
  *err = UVH_E_NOMEM;
  if ((key = dest_key(pool, req, proxy, &o, &ctx_key_off)) == NULL)
    return NULL;
  if ((d = find_dest(pool, key)) != NULL) {
    free(key);
    /* most recently used first keeps the lookup short */
    uvh_list_remove(&d->pool_link);
    uvh_list_push_front(&pool->dests, &d->pool_link);
    return d;
  }
  if (dest_tls(req, proxy) && (*err = tls_ctx_for(pool, &o, key + ctx_key_off, &ctx)) != 0) {
    free(key);
    return NULL;
  }
  *err = UVH_E_NOMEM;
  klen = strlen(key) + 1;
  hlen = strlen(url->host) + 1;
  if (dest_tls(req, proxy))
    nlen = strlen(dest_tls_name(&o, req, proxy)) + 1;
  d = calloc(1, sizeof *d + klen + hlen + nlen);
  if (d == NULL || (proxy && uvh_proxy_copy(&d->proxy, proxy) != 0)) {
    free(d);
    free(key);
    return NULL;
  }
  d->key = (char *)(d + 1);
  d->host = d->key + klen;
  memcpy(d->key, key, klen);
  memcpy(d->host, url->host, hlen);
  free(key);
  d->name_len = strlen(url->key);
  if (dest_tls(req, proxy)) {
    d->tls_name = d->host + hlen;
    memcpy(d->tls_name, dest_tls_name(&o, req, proxy), nlen);
    d->ssl_ctx = ctx;
    uvh__tls_ctx_up_ref(ctx);
  }
  d->port = url->port;
  uvh__dial_opts_merge(&d->sock, &req->sock, &pool->sock);
  uvh_list_init(&d->idle);
  uvh_list_init(&d->conns);
  uvh_list_init(&d->queue);
  uvh_list_push_front(&pool->dests, &d->pool_link);
  pool->ndests++;
  return d;
}

/* An empty destination is kept for its counters, unless there are many.
 * Never while a pump or sweep runs: they hold pointers to destinations
 * (prune_dests catches up afterwards). */
static void dest_maybe_free(uvh_pool_t *pool, uvh_dest_t *d) {
  if (d->nconns || d->nactive || pool->sweeping || pool->pumping || pool->ndests <= UVH_DESTS_KEPT)
    return;
  uvh_list_remove(&d->pool_link);
  pool->ndests--;
  dest_free(d);
}

static void prune_dests(uvh_pool_t *pool) {
  uvh_list_t *it, *next;
  for (it = pool->dests.next; it != &pool->dests && pool->ndests > UVH_DESTS_KEPT; it = next) {
    next = it->next;
    dest_maybe_free(pool, uvh_container_of(it, uvh_dest_t, pool_link));
  }
}

const uvh_pool_stats_t *uvh_pool_dest_stats(uvh_pool_t *pool, uvh_request_t *req, unsigned *nqueued) {
  uvh_dest_t *d = NULL;
  uvh_tls_opts_t o;
  size_t off;
  char *key;
  pool_usable(pool);
  *nqueued = 0;
  if (req->url.mem == NULL || (key = dest_key(pool, req, route_proxy(pool, req), &o, &off)) == NULL)
    return NULL;
  d = find_dest(pool, key);
  free(key);
  if (d)
    *nqueued = d->nqueued;
  return d ? &d->stats : NULL;
}

int uvh_pool_set_tls(uvh_pool_t *pool, const uvh_tls_config_t *cfg) {
  uvh_tls_opts_t o, merged, none;
  struct ssl_ctx_st *ctx;
  size_t cap;
  char *key;
  int rc;
  uvh__tls_opts_init(&o);
  uvh__tls_opts_init(&none);
  pool->last_error[0] = '\0';
  if ((rc = uvh__tls_opts_set(&o, cfg, pool->last_error, sizeof pool->last_error)) != 0)
    return rc;
  /* settings that cannot work are refused now, not at the first request */
  uvh__tls_opts_merge(&merged, &none, &o);
  cap = tls_key_cap(&merged);
  if ((key = malloc(cap)) == NULL || uvh__tls_ctx_key(&merged, key, cap) < 0)
    rc = UVH_E_NOMEM;
  else
    rc = tls_ctx_for(pool, &merged, key, &ctx);
  free(key);
  if (rc != 0) {
    uvh__tls_opts_free(&o);
    return rc;
  }
  uvh__tls_opts_free(&pool->tls);
  pool->tls = o;
  return 0;
}

const char *uvh_pool_last_error(const uvh_pool_t *pool) { return pool->last_error; }

int uvh_pool_set_socket(uvh_pool_t *pool, const uvh_socket_config_t *cfg) {
  uvh_dial_opts_t o = pool->sock;
  int rc;
  pool->last_error[0] = '\0';
  if ((rc = uvh__dial_opts_set(&o, cfg, pool->last_error, sizeof pool->last_error)) != 0)
    return rc;
  /* destinations made before keep the options they were made with */
  pool->sock = o;
  pool->sock.set = 0;
  uvh__dial_opts_key(&pool->sock, pool->sock_key, sizeof pool->sock_key);
  return 0;
}

int uvh_pool_set_resolve(uvh_pool_t *pool, const char *host, uint16_t port, const char *const *ips, unsigned n) {
  pool->last_error[0] = '\0';
  return uvh__resolver_set_fixed(pool->resolver, host, port, ips, n, pool->last_error, sizeof pool->last_error);
}

int uvh_pool_set_proxy(uvh_pool_t *pool, uvh_proxy_slot_t slot, const char *url, size_t len) {
  uvh_proxy_t p;
  char why[128], shown[160];
  int rc;
  if ((unsigned)slot >= UVH_PROXY_SLOTS)
    return UVH_E_BADARG;
  memset(&p, 0, sizeof p);
  pool->last_error[0] = '\0';
  if (url && len && (rc = uvh_proxy_parse(&p, url, len, why, sizeof why)) != 0) {
    uvh__proxy_shown(shown, sizeof shown, url, len);
    snprintf(pool->last_error, sizeof pool->last_error, "invalid proxy URL '%s': %s", shown,
             rc == UVH_E_NOMEM ? "out of memory" : why);
    return rc;
  }
  uvh_proxy_free(&pool->proxies[slot]);
  pool->proxies[slot] = p;
  return 0;
}

int uvh_pool_set_no_proxy(uvh_pool_t *pool, const char *list) {
  char *copy = NULL;
  if (list && (copy = strdup(list)) == NULL)
    return UVH_E_NOMEM;
  free(pool->no_proxy);
  pool->no_proxy = copy;
  return 0;
}

/* ------------------------------------------------- queue deadlines (heap) */

static void on_queue_timer(uv_timer_t *t);

static uint64_t queue_due(const uvh_request_t *req) {
  uint64_t due = req->deadline;
  if (req->queue_deadline && (due == 0 || req->queue_deadline < due))
    due = req->queue_deadline;
  return due;
}

/* Heap order: the earlier due time, then the earlier enqueue. */
static int due_before(const uvh_due_entry_t *a, const uvh_due_entry_t *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void due_heap_put(uvh_pool_t *pool, size_t i, uvh_due_entry_t e) {
  pool->due_heap[i] = e;
  e.req->due_slot = i + 1;
}

/* Move the entry at i up or down until the heap order holds again. */
static void due_heap_fix(uvh_pool_t *pool, size_t i) {
  uvh_due_entry_t *h = pool->due_heap, e = h[i];
  while (i > 0 && due_before(&e, &h[(i - 1) / 2])) {
    due_heap_put(pool, i, h[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= pool->ndue)
      break;
    if (c + 1 < pool->ndue && due_before(&h[c + 1], &h[c]))
      c++;
    if (!due_before(&h[c], &e))
      break;
    due_heap_put(pool, i, h[c]);
    i = c;
  }
  due_heap_put(pool, i, e);
}

/* Room for every active request, `extra` more included: 0 or UVH_E_NOMEM. */
static int due_heap_reserve(uvh_pool_t *pool, size_t extra) {
  size_t cap = pool->due_cap ? pool->due_cap : 64;
  uvh_due_entry_t *h;
  if (pool->nactive + extra <= pool->due_cap)
    return 0;
  while (cap < pool->nactive + extra)
    cap *= 2;
  if ((h = realloc(pool->due_heap, cap * sizeof *h)) == NULL)
    return UVH_E_NOMEM;
  pool->due_heap = h;
  pool->due_cap = cap;
  return 0;
}

/* After a large queue drained: give back most of the room (never below
 * what the active requests need). A failed shrink keeps the old array. */
static void due_heap_shrink(uvh_pool_t *pool) {
  uvh_due_entry_t *h;
  if (pool->due_cap <= 1024 || pool->nactive >= pool->due_cap / 4)
    return;
  if ((h = realloc(pool->due_heap, pool->due_cap / 2 * sizeof *h)) != NULL) {
    pool->due_heap = h;
    pool->due_cap /= 2;
  }
}

/* Never allocates: the room was reserved when the request was submitted. */
static void due_heap_insert(uvh_pool_t *pool, uvh_request_t *req, uint64_t due) {
  uvh_due_entry_t e;
  e.due = due;
  e.seq = ++pool->queue_seq;
  e.req = req;
  due_heap_put(pool, pool->ndue++, e);
  due_heap_fix(pool, pool->ndue - 1);
}

static void due_heap_remove(uvh_pool_t *pool, uvh_request_t *req) {
  size_t i;
  if (req->due_slot == 0)
    return;
  i = req->due_slot - 1;
  req->due_slot = 0;
  if (i != --pool->ndue) {
    due_heap_put(pool, i, pool->due_heap[pool->ndue]);
    due_heap_fix(pool, i);
  }
}

/* A sweep takes every queued request of the pool at once, so the whole
 * heap goes (each entry is in some destination's queue): O(n), not
 * O(n log n). */
static void due_heap_clear(uvh_pool_t *pool) {
  size_t i;
  for (i = 0; i < pool->ndue; i++)
    pool->due_heap[i].req->due_slot = 0;
  pool->ndue = 0;
}

/* The one place the queue timer is started or stopped. */
static void queue_timer_set(uvh_pool_t *pool, uint64_t due) {
  uint64_t now;
  if (pool->loop == NULL || due == pool->queue_timer_due)
    return;
  pool->queue_timer_due = due;
  if (due == 0) {
    uv_timer_stop(&pool->queue_timer);
    return;
  }
  now = uv_now(pool->loop->uv);
  uv_timer_start(&pool->queue_timer, on_queue_timer, due > now ? due - now : 0, 0);
}

void uvh__pool_arm_queue_timer(uvh_pool_t *pool) {
  queue_timer_set(pool, pool->ndue ? pool->due_heap[0].due : 0);
}

/* ------------------------------------------------------------------ queue */

/* Take a request off its destination's queue (it stays REQ_QUEUED). */
static void unqueue(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req) {
  uint64_t waited = pool->loop ? uv_now(pool->loop->uv) - req->queued_at : 0;
  uvh_list_remove(&req->queue_link);
  d->nqueued--;
  pool->nqueued--;
  pool->stats.queue_wait_ms += waited;
  d->stats.queue_wait_ms += waited;
  if (req->due_slot) {
    due_heap_remove(pool, req);
    uvh__pool_arm_queue_timer(pool);
  }
}

static void enqueue(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, int at_front) {
  UVH_ASSERT(!uvh_list_linked(&req->queue_link)); /* on one list at most */
  uvh__request_set_state(req, REQ_QUEUED);
  req->queued_at = uv_now(pool->loop->uv);
  req->queue_deadline = pool->cfg.queue_timeout > 0 ? req->queued_at + uvh__seconds_to_ms(pool->cfg.queue_timeout) : 0;
  if (at_front)
    uvh_list_push_front(&d->queue, &req->queue_link);
  else
    uvh_list_push_back(&d->queue, &req->queue_link);
  d->nqueued++;
  pool->nqueued++;
  if (pool->nqueued > pool->stats.max_queued)
    pool->stats.max_queued = pool->nqueued;
  if (d->nqueued > d->stats.max_queued)
    d->stats.max_queued = d->nqueued;
  if (queue_due(req)) {
    due_heap_insert(pool, req, queue_due(req));
    if (pool->due_heap[0].req == req)
      uvh__pool_arm_queue_timer(pool);
  }
}

/* Hand a request that is leaving the queue (or was just submitted) to a
 * connection of its own; 0 or an error (it is then not attached). */
static int start_new_conn(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, uvh_conn_t **out) {
  int rc = uvh__conn_start(pool, d, req, out);
  if (rc == 0)
    UVH_COUNT(pool, d, connections_opened);
  return rc;
}

static uvh_conn_t *pop_idle(uvh_dest_t *d) {
  uvh_conn_t *conn = uvh_container_of(d->idle.next, uvh_conn_t, idle_link);
  uvh_list_remove(&conn->idle_link);
  uvh_list_remove(&conn->lru_link);
  return conn;
}

static void wake(uvh_pool_t *pool) {
  /* an active idle handle makes the poll phase return at once */
  if (pool->loop && !uv_is_active((uv_handle_t *)&pool->idle))
    uv_idle_start(&pool->idle, on_idle);
}

/* Complete `req` (not queued, not on a connection) with `err` from the next
 * tick: never call back from inside a call the user made. */
static void defer_failure(uvh_pool_t *pool, uvh_request_t *req, int err) {
  UVH_ASSERT(!uvh_list_linked(&req->queue_link)); /* on one list at most */
  req->conn = NULL;
  uvh__request_set_state(req, REQ_FAILING);
  req->deferred_err = err;
  uvh_list_push_back(&pool->deferred, &req->queue_link);
  wake(pool);
}

/* At max_total: close the least recently used idle connection anywhere. */
static int evict_idle(uvh_pool_t *pool) {
  uvh_conn_t *conn;
  if (uvh_list_empty(&pool->idle_lru))
    return 0;
  conn = uvh_container_of(pool->idle_lru.next, uvh_conn_t, lru_link);
  uvh__conn_close(conn);
  return 1;
}

/* May a new connection of `d` be opened now? At max_total an idle
 * connection elsewhere is closed to make room (and the caller re-checks). */
static int room_for_conn(uvh_pool_t *pool, uvh_dest_t *d, int *evicted) {
  *evicted = 0;
  if (d->nconns >= pool->cfg.max_connections)
    return 0;
  if (pool->cfg.max_total && pool->size >= pool->cfg.max_total) {
    *evicted = evict_idle(pool);
    return 0;
  }
  return 1;
}

void uvh__pool_pump(uvh_pool_t *pool, uvh_dest_t *d) {
  pool->pumping++;
  while (!uvh_list_empty(&d->queue) && pool->loop && !pool->sweeping) {
    uvh_request_t *head = uvh_container_of(d->queue.next, uvh_request_t, queue_link);
    int evicted;
    if (!head->fresh_conn_only && !uvh_list_empty(&d->idle)) {
      uvh_conn_t *conn = pop_idle(d);
      unqueue(pool, d, head);
      uvh__conn_run(conn, head);
    } else if (room_for_conn(pool, d, &evicted)) {
      int rc;
      unqueue(pool, d, head);
      rc = start_new_conn(pool, d, head, NULL);
      if (rc)
        defer_failure(pool, head, rc); /* a pump may run inside a user's call */
    } else if (!evicted) {
      break;
    } /* else: an eviction may have changed everything: look again */
  }
  if (--pool->pumping == 0)
    prune_dests(pool);
}

/* Pump every destination: max_total lets a connection closing anywhere
 * start a request queued anywhere. */
static void pump_all(uvh_pool_t *pool) {
  uvh_list_t *it, *next;
  pool->pumping++; /* keeps `next` valid: no destination is freed meanwhile */
  for (it = pool->dests.next; it != &pool->dests; it = next) {
    next = it->next;
    uvh__pool_pump(pool, uvh_container_of(it, uvh_dest_t, pool_link));
  }
  if (--pool->pumping == 0)
    prune_dests(pool);
}

/* The oldest request of `d` still waiting for its new connection to come
 * up: late binding lets it take a connection that became idle first. */
static uvh_request_t *connecting_request(uvh_dest_t *d) {
  uvh_list_t *it;
  for (it = d->conns.next; it != &d->conns; it = it->next) {
    uvh_conn_t *c = uvh_container_of(it, uvh_conn_t, dest_link);
    if (uvh__conn_connecting(c) && c->req && !c->req->fresh_conn_only)
      return c->req;
  }
  return NULL;
}

void uvh__pool_conn_reusable(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  uvh_list_t *it;
  uvh_request_t *req = NULL;
  /* the first queued request that may use a reused connection. The walk
   * passes only retries (fresh_conn_only, put back at the head): one per
   * reused connection that failed, each taken by the next connection
   * slot, so it is bounded by the connections, not the queue length */
  for (it = d->queue.next; it != &d->queue; it = it->next) {
    uvh_request_t *q = uvh_container_of(it, uvh_request_t, queue_link);
    if (!q->fresh_conn_only) {
      req = q;
      break;
    }
  }
  if (req) {
    unqueue(pool, d, req);
    uvh__conn_run(conn, req);
  } else if ((req = connecting_request(d)) != NULL) {
    uvh__conn_take_from_connecting(req->conn);
    uvh__conn_run(conn, req);
  } else {
    uvh__conn_make_idle(conn);
    /* at max_total a request of another destination may be waiting for
     * exactly this room: the pump evicts an idle connection for it */
    if (pool->cfg.max_total && pool->nqueued)
      pump_all(pool);
  }
}

void uvh__pool_conn_closed(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  uvh_list_remove(&conn->dest_link);
  uvh_list_remove(&conn->lru_link);
  uvh_list_remove(&conn->write_link);
  conn->dest = NULL;
  d->nconns--;
  pool->size--;
  /* `d` must outlive the pumps: no destination is freed while one runs */
  pool->pumping++;
  uvh__pool_pump(pool, d);
  if (pool->cfg.max_total && !pool->sweeping)
    pump_all(pool);
  pool->pumping--;
  dest_maybe_free(pool, d);
  if (pool->pumping == 0)
    prune_dests(pool);
}

void uvh__pool_conn_fresh(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  if (!uvh_list_empty(&d->queue)) {
    uvh_request_t *req = uvh_container_of(d->queue.next, uvh_request_t, queue_link);
    unqueue(pool, d, req);
    uvh__conn_run(conn, req);
  } else if (pool->released || !pool->loop || pool->detaching) {
    uvh__conn_close(conn); /* nobody will reuse it */
  } else {
    uvh__conn_make_idle(conn);
    if (pool->cfg.max_total && pool->nqueued)
      pump_all(pool); /* another destination may be waiting for this room */
  }
}

void uvh__pool_requeue(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, int fresh_only) {
  req->fresh_conn_only = fresh_only ? 1 : 0;
  enqueue(pool, d, req, 1);
}

/* ------------------------------------------------------- deferred work */

void uvh__pool_defer_write(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_list_push_back(&pool->pending_writes, &conn->write_link);
  wake(pool);
}

/* After this iteration's reads: write requests assigned to reused
 * connections (a connection the server closed meanwhile has been noticed
 * by now), then report failures decided at submit. */
static void on_check(uv_check_t *h) {
  uvh_pool_t *pool = h->data;
  uvh_list_t due;
  if (uvh_list_empty(&pool->pending_writes) && uvh_list_empty(&pool->deferred)) {
    /* the work went away before this tick (its connection closed): stop
     * keeping the loop awake (found by t/43-exactly-once.t) */
    if (uv_is_active((uv_handle_t *)&pool->idle))
      uv_idle_stop(&pool->idle);
    return;
  }
  uvh_pool_ref(pool);
  /* the writes due now: a body pump that defers again runs next tick */
  uvh_list_init(&due);
  uvh_list_splice(&due, &pool->pending_writes);
  while (!uvh_list_empty(&due)) {
    uvh_conn_t *conn = uvh_container_of(due.next, uvh_conn_t, write_link);
    uvh_list_remove(&conn->write_link);
    uvh__conn_write_deferred(conn);
  }
  while (!uvh_list_empty(&pool->deferred)) {
    uvh_request_t *req = uvh_container_of(pool->deferred.next, uvh_request_t, queue_link);
    uvh_list_remove(&req->queue_link);
    uvh__request_complete(req, req->deferred_err, 0, NULL);
  }
  if (pool->loop && uvh_list_empty(&pool->pending_writes) && uvh_list_empty(&pool->deferred))
    uv_idle_stop(&pool->idle);
  uvh_pool_unref(pool);
}

/* ---------------------------------------------------------- queue timer */

/* The due requests leave the heap in due order (FIFO among equal times)
 * onto a private list, keeping their counts until completed. */
static void on_queue_timer(uv_timer_t *t) {
  uvh_pool_t *pool = t->data;
  uint64_t now = uv_now(pool->loop->uv);
  uvh_list_t expired;

  pool->queue_timer_due = 0; /* it fired: no longer armed */
  uvh_list_init(&expired);
  while (pool->ndue && pool->due_heap[0].due <= now) {
    uvh_request_t *req = pool->due_heap[0].req;
    due_heap_remove(pool, req);
    uvh_list_remove(&req->queue_link);
    uvh_list_push_back(&expired, &req->queue_link);
  }
  uvh_pool_ref(pool);
  uvh__pool_arm_queue_timer(pool);
  while (!uvh_list_empty(&expired)) {
    uvh_request_t *req = uvh_container_of(expired.next, uvh_request_t, queue_link);
    char detail[96];
    if (req->deadline && req->deadline <= now) {
      uvh__request_complete(req, UVH_E_TIMEOUT, 0, "still waiting for a connection");
    } else {
      snprintf(detail, sizeof detail, "waited %g s (queue_timeout)", pool->cfg.queue_timeout);
      uvh__request_complete(req, UVH_E_QUEUE_TIMEOUT, 0, detail);
    }
  }
  uvh_pool_unref(pool);
}

/* ---------------------------------------------------------------- submit */

int uvh_pool_submit(uvh_pool_t *pool, uvh_request_t *req, uvh_conn_t **conn_out) {
  uvh_dest_t *d;
  uvh_response_t *resp;
  uvh_conn_t *conn = NULL;
  const uvh_proxy_t *proxy;
  int rc, evicted;

  if (conn_out)
    *conn_out = NULL;
  if (!pool_usable(pool))
    return UVH_E_CLOSED_POOL;
  if (uvh_request_active(req))
    return UVH_E_BUSY;
  if (req->decompress < 0 && req->head_decompress != (pool->cfg.decompress != 0)) {
    req->head_decompress = pool->cfg.decompress != 0; /* the head asks for it or not */
    req->checked = 0;
  }
  /* the route decides the head's form: an http:// request through an HTTP
   * proxy is sent to the proxy whole */
  proxy = req->url.mem ? route_proxy(pool, req) : NULL;
  if ((rc = uvh__request_check_via(req, proxy && (proxy->kind == UVH_PROXY_HTTP || proxy->kind == UVH_PROXY_HTTPS) &&
                                                 !req->url.is_tls
                                             ? proxy
                                             : NULL)) != 0)
    return rc;
  if ((rc = due_heap_reserve(pool, 1)) != 0)
    return rc;
  if (proxy && proxy->kind == UVH_PROXY_HTTPS && req->url.is_tls) {
    snprintf(req->error.message, sizeof req->error.message,
             "an https:// target through the https:// proxy %s is not supported (TLS inside TLS): use an http:// "
             "proxy URL for it, whose CONNECT tunnel still carries TLS end to end", proxy->authority);
    return UVH_E_BADARG;
  }
  if ((rc = uvh__response_new(&resp)) != 0)
    return rc;
  d = get_dest(pool, req, proxy, &rc);
  if (d == NULL) {
    uvh_response_unref(resp);
    if (rc == UVH_E_TLS_CONFIG)
      snprintf(req->error.message, sizeof req->error.message, "%s", pool->last_error);
    return rc;
  }
  if (req->resp)
    uvh_response_unref(req->resp);
  req->resp = resp;
  memset(&req->error, 0, sizeof req->error);
  req->retried = 0;
  req->fresh_conn_only = 0;
  req->deferred_err = 0;

  uv_update_time(pool->loop->uv);
  req->deadline = req->timeout > 0 ? uv_now(pool->loop->uv) + uvh__seconds_to_ms(req->timeout) : 0;
  req->pool = pool;
  req->submitted_to = pool;
  req->dest = d;
  d->nactive++;
  pool->nactive++;
  uvh_pool_ref(pool);
  uvh_request_ref(req);
  UVH_COUNT(pool, d, requests);

  for (;;) {
    if (!uvh_list_empty(&d->idle)) {
      conn = pop_idle(d);
      uvh__conn_run(conn, req);
    } else if (room_for_conn(pool, d, &evicted)) {
      rc = start_new_conn(pool, d, req, &conn);
      if (rc) {
        req->pool = NULL;
        req->dest = NULL;
        d->nactive--;
        pool->nactive--;
        dest_maybe_free(pool, d);
        uvh_request_unref(req);
        uvh_pool_unref(pool);
        return rc;
      }
    } else if (evicted) {
      continue; /* room was made at max_total: look again */
    } else if (pool->cfg.max_queue && d->nqueued >= pool->cfg.max_queue) {
      defer_failure(pool, req, UVH_E_QUEUE_FULL); /* fail fast, on the next tick */
    } else {
      enqueue(pool, d, req, 0);
    }
    break;
  }
  if (conn_out)
    *conn_out = conn;
  uvh__loop_work(pool->loop);
  return 0;
}

/* ------------------------------------------------------------- completion */

static void format_error(uvh_request_t *req, int err, int sys_err, const char *detail) {
  uvh_error_t *e = &req->error;
  const char *dest = req->url.key ? req->url.key : "?";
  int n;
  e->code = err;
  e->sys_err = sys_err;
  if (err == UVH_E_RESOLVE && detail && (strncmp(detail, "proxy host '", 12) == 0 || strncmp(detail, "host '", 6) == 0)) {
    /* through a proxy the name that failed was the proxy's, or the
     * target's looked up for SOCKS5: the detail names it */
    snprintf(e->message, sizeof e->message, "could not resolve %s (%s)", detail, dest);
    return;
  }
  if (err == UVH_E_RESOLVE)
    n = snprintf(e->message, sizeof e->message, "could not resolve host '%s' (%s)", req->url.host, dest);
  else
    n = snprintf(e->message, sizeof e->message, "%s (%s %s%s)%s", uvh_strerror(err), req->method, dest,
                 req->url.target, req->retried ? " after a retry on a new connection" : "");
  if (n > 0 && (size_t)n < sizeof e->message) {
    if (detail && *detail)
      snprintf(e->message + n, sizeof e->message - (size_t)n, ": %s", detail);
    else if (sys_err)
      snprintf(e->message + n, sizeof e->message - (size_t)n, ": %s", uv_strerror(sys_err));
  }
}

void uvh__pool_cancel(uvh_request_t *req, int err, const char *detail) {
  /* told first: the callback may destroy the loop (a closing connection,
   * a queue that moves: the driver re-arms once the caller is done) */
  uvh__loop_work(req->pool ? req->pool->loop : NULL);
  UVH_ASSERT(req->state != REQ_RUNNING || req->conn != NULL);
  if (req->state == REQ_RUNNING)
    uvh__conn_abort(req->conn);
  else if (req->state == REQ_FAILING)
    uvh_list_remove(&req->queue_link); /* a failure waiting to be reported */
  uvh__request_complete(req, err, 0, detail);
}

void uvh_pool_count_error(uvh_pool_t *pool, int err) {
  int slot = uvh_error_slot(err);
  if (slot >= 0)
    pool->stats.errors[slot]++;
}

double uvh_request_time_left(const uvh_request_t *req) {
  uint64_t now;
  if (req->deadline == 0 || req->submitted_to == NULL)
    return -1;
  now = uv_now(req->submitted_to->loop->uv);
  return req->deadline > now ? (double)(req->deadline - now) / 1000.0 : 0;
}

void uvh__request_complete(uvh_request_t *req, int err, int sys_err, const char *detail) {
  uvh_pool_t *pool = req->pool;
  uvh_dest_t *d = req->dest;
  uvh_request_cb cb = req->cb;
  void *data = req->cb_data;

  req->conn = NULL;
  req->dest = NULL;
  req->pool = NULL;
  if (req->state == REQ_QUEUED)
    unqueue(pool, d, req);
  UVH_ASSERT(!uvh_list_linked(&req->queue_link));
  uvh__request_set_state(req, REQ_DONE);
  req->paused = 0;
  if (req->resp) {
    req->resp->retried = req->retried;
    req->resp->done = 1;
  }
  if (err) {
    int slot = uvh_error_slot(err);
    if (req->resp)
      req->resp->keep_alive = 0; /* the connection was discarded */
    format_error(req, err, sys_err, detail);
    if (slot >= 0) {
      pool->stats.errors[slot]++;
      d->stats.errors[slot]++;
    } else {
      pool->stats.errors_other++;
      d->stats.errors_other++;
    }
  } else {
    UVH_COUNT(pool, d, responses);
  }
  d->nactive--;
  pool->nactive--;
  due_heap_shrink(pool);
  dest_maybe_free(pool, d);
  /* the pool's references keep both alive through the callback */
  if (cb)
    cb(req, req->resp, err ? &req->error : NULL, data);
  uvh_request_unref(req);
  uvh_pool_unref(pool);
}

/* -------------------------------------------------- settings and teardown */

int uvh_pool_set_idle_timeout(uvh_pool_t *pool, double seconds) {
  uvh_list_t *di, *ci;
  if (!UVH_SECONDS_OK(seconds))
    return UVH_E_BADARG;
  pool->cfg.idle_timeout = seconds;
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    for (ci = d->idle.next; ci != &d->idle; ci = ci->next)
      uvh__conn_make_idle(uvh_container_of(ci, uvh_conn_t, idle_link));
  }
  uvh__loop_work(pool->loop); /* new idle deadlines */
  return 0;
}

void uvh_pool_set_max_connections(uvh_pool_t *pool, unsigned n) {
  if (n < 1 || !pool_usable(pool))
    return;
  pool->cfg.max_connections = n;
  uvh_pool_ref(pool);
  pump_all(pool);
  uvh__loop_work(pool->loop);
  uvh_pool_unref(pool);
}

static void close_idle(uvh_pool_t *pool) {
  pool->sweeping = 1;
  while (!uvh_list_empty(&pool->idle_lru))
    uvh__conn_close(uvh_container_of(pool->idle_lru.next, uvh_conn_t, lru_link));
  pool->sweeping = 0;
  prune_dests(pool);
}

void uvh_pool_release(uvh_pool_t *pool) {
  pool->released = 1;
  pool_usable(pool);
  uvh_pool_ref(pool);
  close_idle(pool);
  /* queued requests may now take the room the idle connections held */
  if (pool->loop)
    pump_all(pool);
  uvh__loop_work(pool->loop);
  uvh_pool_unref(pool);
}

/* Detach every request (queued, deferred or running) onto `out`, closing
 * every connection. Queued requests keep state QUEUED (and their counts)
 * until completed. */
static void collect_all(uvh_pool_t *pool, uvh_list_t *out) {
  uvh_list_t *di;
  pool->sweeping = 1;
  uvh_list_splice(out, &pool->deferred);
  due_heap_clear(pool); /* every queue is taken below */
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    while (!uvh_list_empty(&d->queue)) {
      uvh_list_t *q = d->queue.next;
      uvh_list_remove(q);
      uvh_list_push_back(out, q);
    }
    while (!uvh_list_empty(&d->conns)) {
      uvh_conn_t *conn = uvh_container_of(d->conns.next, uvh_conn_t, dest_link);
      uvh_request_t *req = conn->req;
      if (req) {
        uvh__conn_abort(conn);
        UVH_ASSERT(req->conn == NULL && !uvh_list_linked(&req->queue_link));
        uvh_list_push_back(out, &req->queue_link);
      } else {
        uvh__conn_close(conn);
      }
    }
  }
  pool->sweeping = 0;
  uvh__pool_arm_queue_timer(pool);
}

static void complete_all(uvh_list_t *list, int err, const char *detail) {
  while (!uvh_list_empty(list)) {
    uvh_request_t *req = uvh_container_of(list->next, uvh_request_t, queue_link);
    if (req->state != REQ_QUEUED)
      uvh_list_remove(&req->queue_link);
    uvh__request_complete(req, err, 0, detail);
  }
}

void uvh_pool_shutdown(uvh_pool_t *pool) {
  uvh_list_t cancelled;
  uvh_list_init(&cancelled);
  pool_usable(pool);
  uvh_pool_ref(pool);
  collect_all(pool, &cancelled);
  complete_all(&cancelled, UVH_E_CANCELLED, "pool shut down");
  uvh__loop_work(pool->loop);
  uvh_pool_unref(pool);
}

/* Inherited requests complete from the child's next tick: this runs inside
 * whatever pool call the child made first. */
static void pool_drop_inherited(uvh_pool_t *pool) {
  uvh_list_t inherited;
  uvh_list_init(&inherited);
  /* the parent still talks over these connections: no close_notify */
  pool->dropping_inherited = 1;
  /* the parent's answers may no longer hold for the child, which asks afresh */
  uvh__resolver_drop_cache(pool->resolver);
  collect_all(pool, &inherited);
  pool->dropping_inherited = 0;
  while (!uvh_list_empty(&inherited)) {
    uvh_request_t *req = uvh_container_of(inherited.next, uvh_request_t, queue_link);
    if (req->state == REQ_QUEUED)
      unqueue(pool, req->dest, req);
    else
      uvh_list_remove(&req->queue_link);
    defer_failure(pool, req, UVH_E_INHERITED);
  }
}

/* The loop is going away: finish everything and stop using it. */
static void pool_detach_loop(uvh_pool_t *pool) {
  uvh_pool_ref(pool);
  pool->detaching = 1; /* callbacks run by the shutdown may not start new work */
  uvh_pool_shutdown(pool); /* closes every connection, idle ones too */
  if (pool->loop) {
    uvh__loop_remove_user(&pool->loop_user);
    pool->loop = NULL;
    close_handles(pool);
  }
  uvh_pool_unref(pool);
}

/* The loop knows the pool only through these. */
#define POOL_OF(u) uvh_container_of(u, uvh_pool_t, loop_user)
static void user_detach(uvh_loop_user_t *u) { pool_detach_loop(POOL_OF(u)); }
static void user_drop_inherited(uvh_loop_user_t *u) { pool_drop_inherited(POOL_OF(u)); }
static void user_ref(uvh_loop_user_t *u) { uvh_pool_ref(POOL_OF(u)); }
static void user_unref(uvh_loop_user_t *u) { uvh_pool_unref(POOL_OF(u)); }
static uint64_t user_next_deadline(uvh_loop_user_t *u) { return pool_next_idle_deadline(POOL_OF(u)); }

static const uvh_loop_user_ops_t pool_loop_ops = {
  user_detach, user_drop_inherited, user_ref, user_unref, user_next_deadline,
};
