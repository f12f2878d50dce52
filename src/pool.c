/* pool.c - the per-destination connection pool and its FIFO queue.
 *
 * Owns: destinations (created on demand, freed when they have neither
 * connections nor queued requests) and the queue timer. Borrows: the loop.
 * A pool is referenced by its owner, by every active request and by every
 * connection, so it outlives all of them.
 *
 * Re-entrancy: completion callbacks may submit, cancel, shut down or drop
 * the pool. Every path finishes its bookkeeping before the callback, and
 * sweeps over many requests first move them to a private list.
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t uvh__seconds_to_ms(double s) {
  if (s <= 0)
    return 0;
  s = s * 1000.0 + 0.5;
  return s < 1 ? 1 : (uint64_t)s;
}

void uvh_pool_config_init(uvh_pool_config_t *cfg) {
  cfg->idle_timeout = 60;
  cfg->max_connections = 10;
  cfg->max_headers_size = 64 * 1024;
  cfg->max_body_size = 0;
}

int uvh_pool_new(uvh_loop_t *loop, const uvh_pool_config_t *cfg, uvh_pool_t **out) {
  uvh_pool_t *pool;
  if (cfg->max_connections < 1 || !(cfg->idle_timeout >= 0))
    return UVH_E_BADARG;
  pool = calloc(1, sizeof *pool);
  if (pool == NULL)
    return UVH_E_NOMEM;
  pool->refcount = 1;
  pool->loop = loop;
  pool->cfg = *cfg;
  uvh_list_init(&pool->dests);
  uv_timer_init(loop->uv, &pool->queue_timer);
  pool->queue_timer.data = pool;
  /* queued requests wait on busy connections, which keep the loop alive */
  uv_unref((uv_handle_t *)&pool->queue_timer);
  uvh_list_push_back(&loop->pools, &pool->loop_link);
  *out = pool;
  return 0;
}

void uvh_pool_ref(uvh_pool_t *pool) { pool->refcount++; }

static void free_pool_cb(uv_handle_t *h) { free(h->data); }

void uvh_pool_unref(uvh_pool_t *pool) {
  if (--pool->refcount > 0)
    return;
  if (pool->loop) {
    uvh_list_remove(&pool->loop_link);
    pool->loop = NULL;
    uv_close((uv_handle_t *)&pool->queue_timer, free_pool_cb);
  } else {
    free(pool);
  }
}

uvh_loop_t *uvh_pool_loop(uvh_pool_t *pool) { return pool->loop; }
unsigned uvh_pool_size(const uvh_pool_t *pool) { return pool->size; }
unsigned uvh_pool_nbusy(const uvh_pool_t *pool) { return pool->nbusy; }
unsigned uvh_pool_nqueued(const uvh_pool_t *pool) { return pool->nqueued; }
double uvh_pool_idle_timeout(const uvh_pool_t *pool) { return pool->cfg.idle_timeout; }
unsigned uvh_pool_max_connections(const uvh_pool_t *pool) { return pool->cfg.max_connections; }
size_t uvh_pool_max_headers_size(const uvh_pool_t *pool) { return pool->cfg.max_headers_size; }
size_t uvh_pool_max_body_size(const uvh_pool_t *pool) { return pool->cfg.max_body_size; }
const uvh_pool_stats_t *uvh_pool_stats(const uvh_pool_t *pool) { return &pool->stats; }
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

static uvh_dest_t *get_dest(uvh_pool_t *pool, const uvh_url_t *url) {
  uvh_dest_t *d = find_dest(pool, url->key);
  size_t klen, hlen;
  if (d)
    return d;
  klen = strlen(url->key) + 1;
  hlen = strlen(url->host) + 1;
  d = calloc(1, sizeof *d + klen + hlen);
  if (d == NULL)
    return NULL;
  d->key = (char *)(d + 1);
  d->host = d->key + klen;
  memcpy(d->key, url->key, klen);
  memcpy(d->host, url->host, hlen);
  d->port = url->port;
  uvh_list_init(&d->idle);
  uvh_list_init(&d->conns);
  uvh_list_init(&d->queue);
  uvh_list_push_back(&pool->dests, &d->pool_link);
  return d;
}

static void dest_maybe_free(uvh_pool_t *pool, uvh_dest_t *d) {
  if (d->nconns || d->nqueued || pool->sweeping)
    return;
  uvh_list_remove(&d->pool_link);
  free(d);
}

/* Take a request off its destination's queue (it stays REQ_QUEUED). */
static void unqueue(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req) {
  uvh_list_remove(&req->queue_link);
  d->nqueued--;
  pool->nqueued--;
  if (pool->loop)
    pool->stats.queue_wait_ms += uv_now(pool->loop->uv) - req->queued_at;
}

static uvh_request_t *dequeue(uvh_pool_t *pool, uvh_dest_t *d) {
  uvh_request_t *req = uvh_container_of(d->queue.next, uvh_request_t, queue_link);
  unqueue(pool, d, req);
  return req;
}

static uvh_conn_t *pop_idle(uvh_dest_t *d) {
  uvh_conn_t *conn = uvh_container_of(d->idle.next, uvh_conn_t, idle_link);
  uvh_list_remove(&conn->idle_link);
  return conn;
}

void uvh__pool_pump(uvh_pool_t *pool, uvh_dest_t *d) {
  while (!uvh_list_empty(&d->queue) && pool->loop && !pool->sweeping) {
    uvh_request_t *req;
    if (!uvh_list_empty(&d->idle)) {
      uvh_conn_t *conn = pop_idle(d);
      req = dequeue(pool, d);
      uvh__conn_run(conn, req);
    } else if (d->nconns < pool->cfg.max_connections) {
      int rc;
      req = dequeue(pool, d);
      rc = uvh__conn_start(pool, d, req, NULL);
      if (rc)
        uvh__request_complete(req, rc, 0, NULL);
    } else {
      break;
    }
  }
}

void uvh__pool_conn_reusable(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  if (!uvh_list_empty(&d->queue))
    uvh__conn_run(conn, dequeue(pool, d));
  else
    uvh__conn_make_idle(conn);
}

void uvh__pool_conn_closed(uvh_pool_t *pool, uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  uvh_list_remove(&conn->dest_link);
  conn->dest = NULL;
  d->nconns--;
  pool->size--;
  uvh__pool_pump(pool, d);
  dest_maybe_free(pool, d);
}

/* ------------------------------------------------------------------ queue */

static void on_queue_timer(uv_timer_t *t);

void uvh__pool_arm_queue_timer(uvh_pool_t *pool) {
  uint64_t earliest = 0, now;
  uvh_list_t *di, *qi;
  if (pool->loop == NULL)
    return;
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    for (qi = d->queue.next; qi != &d->queue; qi = qi->next) {
      uvh_request_t *req = uvh_container_of(qi, uvh_request_t, queue_link);
      if (req->deadline && (earliest == 0 || req->deadline < earliest))
        earliest = req->deadline;
    }
  }
  if (earliest == 0) {
    uv_timer_stop(&pool->queue_timer);
    return;
  }
  now = uv_now(pool->loop->uv);
  uv_timer_start(&pool->queue_timer, on_queue_timer, earliest > now ? earliest - now : 0, 0);
}

static void on_queue_timer(uv_timer_t *t) {
  uvh_pool_t *pool = t->data;
  uint64_t now = uv_now(pool->loop->uv);
  uvh_list_t expired, *di, *qi, *next;

  uvh_list_init(&expired);
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    for (qi = d->queue.next; qi != &d->queue; qi = next) {
      uvh_request_t *req = uvh_container_of(qi, uvh_request_t, queue_link);
      next = qi->next;
      if (req->deadline && req->deadline <= now) {
        uvh_list_remove(qi);
        uvh_list_push_back(&expired, qi);
      }
    }
  }
  uvh_pool_ref(pool);
  uvh__pool_arm_queue_timer(pool);
  while (!uvh_list_empty(&expired)) {
    uvh_request_t *req = uvh_container_of(expired.next, uvh_request_t, queue_link);
    uvh__request_complete(req, UVH_E_TIMEOUT, 0, "no connection became free in time");
  }
  uvh_pool_unref(pool);
}

/* ---------------------------------------------------------------- submit */

int uvh_pool_submit(uvh_pool_t *pool, uvh_request_t *req, uvh_conn_t **conn_out) {
  uvh_dest_t *d;
  uvh_response_t *resp;
  uvh_conn_t *conn = NULL;
  int rc;
  double timeout;

  if (conn_out)
    *conn_out = NULL;
  if (uvh_request_active(req))
    return UVH_E_BUSY;
  if (pool->loop == NULL)
    return UVH_E_CLOSED_POOL;
  if ((rc = uvh_request_check(req)) != 0)
    return rc;
  if ((rc = uvh__response_new(&resp)) != 0)
    return rc;
  d = get_dest(pool, &req->url);
  if (d == NULL) {
    uvh_response_unref(resp);
    return UVH_E_NOMEM;
  }
  if (req->resp)
    uvh_response_unref(req->resp);
  req->resp = resp;
  memset(&req->error, 0, sizeof req->error);

  uv_update_time(pool->loop->uv);
  timeout = req->timeout;
  req->deadline = timeout > 0 ? uv_now(pool->loop->uv) + uvh__seconds_to_ms(timeout) : 0;
  req->pool = pool;
  req->dest = d;
  uvh_pool_ref(pool);
  uvh_request_ref(req);

  if (!uvh_list_empty(&d->idle)) {
    conn = pop_idle(d);
    uvh__conn_run(conn, req);
  } else if (d->nconns < pool->cfg.max_connections) {
    rc = uvh__conn_start(pool, d, req, &conn);
    if (rc) {
      req->pool = NULL;
      req->dest = NULL;
      dest_maybe_free(pool, d);
      uvh_request_unref(req);
      uvh_pool_unref(pool);
      return rc;
    }
  } else {
    req->state = REQ_QUEUED;
    req->queued_at = uv_now(pool->loop->uv);
    uvh_list_push_back(&d->queue, &req->queue_link);
    d->nqueued++;
    pool->nqueued++;
    if (pool->nqueued > pool->stats.max_queued)
      pool->stats.max_queued = pool->nqueued;
    if (req->deadline)
      uvh__pool_arm_queue_timer(pool);
  }
  pool->stats.requests++;
  if (conn_out)
    *conn_out = conn;
  return 0;
}

/* ------------------------------------------------------------- completion */

static void format_error(uvh_request_t *req, int err, int sys_err, const char *detail) {
  uvh_error_t *e = &req->error;
  const char *dest = req->url.key ? req->url.key : "?";
  int n;
  e->code = err;
  e->sys_err = sys_err;
  if (err == UVH_E_RESOLVE)
    n = snprintf(e->message, sizeof e->message, "could not resolve host '%s' (%s)", req->url.host, dest);
  else
    n = snprintf(e->message, sizeof e->message, "%s (%s %s%s)", uvh_strerror(err), req->method, dest,
                 req->url.target);
  if (n > 0 && (size_t)n < sizeof e->message) {
    if (detail && *detail)
      snprintf(e->message + n, sizeof e->message - (size_t)n, ": %s", detail);
    else if (sys_err)
      snprintf(e->message + n, sizeof e->message - (size_t)n, ": %s", uv_strerror(sys_err));
  }
}

void uvh__request_complete(uvh_request_t *req, int err, int sys_err, const char *detail) {
  uvh_pool_t *pool = req->pool;
  uvh_dest_t *d = req->dest;
  uvh_request_cb cb = req->cb;
  void *data = req->cb_data;

  req->conn = NULL;
  req->dest = NULL;
  req->pool = NULL;
  if (req->state == REQ_QUEUED) {
    unqueue(pool, d, req);
    dest_maybe_free(pool, d);
  }
  req->state = REQ_DONE;
  if (err) {
    int slot = uvh_error_slot(err);
    if (req->resp)
      req->resp->keep_alive = 0; /* the connection was discarded */
    format_error(req, err, sys_err, detail);
    if (slot >= 0)
      pool->stats.errors[slot]++;
    else
      pool->stats.errors_other++;
  } else {
    pool->stats.responses++;
  }
  /* the pool's references keep both alive through the callback */
  if (cb)
    cb(req, req->resp, err ? &req->error : NULL, data);
  uvh_request_unref(req);
  uvh_pool_unref(pool);
}

/* -------------------------------------------------- settings and teardown */

void uvh_pool_set_idle_timeout(uvh_pool_t *pool, double seconds) {
  uvh_list_t *di, *ci;
  if (!(seconds >= 0))
    return;
  pool->cfg.idle_timeout = seconds;
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    for (ci = d->idle.next; ci != &d->idle; ci = ci->next)
      uvh__conn_make_idle(uvh_container_of(ci, uvh_conn_t, idle_link));
  }
}

void uvh_pool_set_max_connections(uvh_pool_t *pool, unsigned n) {
  uvh_list_t *di, *next;
  if (n < 1)
    return;
  pool->cfg.max_connections = n;
  uvh_pool_ref(pool);
  for (di = pool->dests.next; di != &pool->dests; di = next) {
    next = di->next;
    uvh__pool_pump(pool, uvh_container_of(di, uvh_dest_t, pool_link));
  }
  uvh_pool_unref(pool);
}

static void close_idle(uvh_pool_t *pool) {
  uvh_list_t *di, *dnext;
  pool->sweeping = 1;
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    while (!uvh_list_empty(&d->idle))
      uvh__conn_close(uvh_container_of(d->idle.next, uvh_conn_t, idle_link));
  }
  pool->sweeping = 0;
  for (di = pool->dests.next; di != &pool->dests; di = dnext) {
    dnext = di->next;
    dest_maybe_free(pool, uvh_container_of(di, uvh_dest_t, pool_link));
  }
}

void uvh_pool_release(uvh_pool_t *pool) {
  pool->released = 1;
  uvh_pool_ref(pool);
  close_idle(pool);
  uvh_pool_unref(pool);
}

void uvh_pool_shutdown(uvh_pool_t *pool) {
  uvh_list_t cancelled, *di, *dnext;

  uvh_list_init(&cancelled);
  uvh_pool_ref(pool);
  pool->sweeping = 1;
  for (di = pool->dests.next; di != &pool->dests; di = di->next) {
    uvh_dest_t *d = uvh_container_of(di, uvh_dest_t, pool_link);
    uvh_list_t *q;
    /* queued requests keep state QUEUED (and their counts) until completed */
    for (q = d->queue.next; q != &d->queue; q = d->queue.next) {
      uvh_list_remove(q);
      uvh_list_push_back(&cancelled, q);
    }
    while (!uvh_list_empty(&d->conns)) {
      uvh_conn_t *conn = uvh_container_of(d->conns.next, uvh_conn_t, dest_link);
      uvh_request_t *req = conn->req;
      if (req) {
        uvh__conn_abort(conn);
        uvh_list_push_back(&cancelled, &req->queue_link);
      } else {
        uvh__conn_close(conn);
      }
    }
  }
  pool->sweeping = 0;
  for (di = pool->dests.next; di != &pool->dests; di = dnext) {
    dnext = di->next;
    dest_maybe_free(pool, uvh_container_of(di, uvh_dest_t, pool_link));
  }
  if (pool->loop)
    uv_timer_stop(&pool->queue_timer);
  while (!uvh_list_empty(&cancelled)) {
    uvh_request_t *req = uvh_container_of(cancelled.next, uvh_request_t, queue_link);
    if (req->state != REQ_QUEUED)
      uvh_list_remove(&req->queue_link);
    uvh__request_complete(req, UVH_E_CANCELLED, 0, "pool shut down");
  }
  uvh_pool_unref(pool);
}

static void unref_pool_cb(uv_handle_t *h) { uvh_pool_unref(h->data); }

/* The loop is going away: finish everything and stop using it. */
void uvh__pool_detach_loop(uvh_pool_t *pool) {
  uvh_pool_ref(pool);
  uvh_pool_shutdown(pool);
  close_idle(pool);
  if (pool->loop) {
    uvh_list_remove(&pool->loop_link);
    pool->loop = NULL;
    uvh_pool_ref(pool); /* dropped by the close callback */
    uv_close((uv_handle_t *)&pool->queue_timer, unref_pool_cb);
  }
  uvh_pool_unref(pool);
}
