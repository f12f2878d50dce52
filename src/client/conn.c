/* conn.c - one client connection's life: dial (resolve, connect), TLS
 * set-up and session reuse, the stream it then reads and writes, its
 * timer (deadlines, failures reported on the next tick), idle and close.
 * What one request does on it is exchange.c.
 *
 * Owns: its dial and stream (each attempt's handle, then the connected
 * socket, freed in their close callbacks; the TLS state), its timer, and
 * a reference to the running request. Borrows: its destination (valid
 * while the conn is open). Holds a pool reference for its whole life.
 *
 * Memory is freed when refcount (the pool's "open" reference plus external
 * ones) and `pending` (open handles plus in-flight libuv requests, counted
 * through the dial's and stream's on_hold and their releases) are both
 * zero, so no libuv callback can ever see freed memory.
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

static void on_timer(uv_timer_t *t);
static const uvh_stream_ops_t stream_ops;
static const uvh_dial_ops_t dial_ops;

static uv_loop_t *conn_uv(uvh_conn_t *conn) { return conn->pool->loop->uv; }

/* The one writer of conn->state. A closed connection stays closed, and
 * an active one carries a request that points back to it. */
static void conn_set_state(uvh_conn_t *conn, uvh_conn_state_t state) {
  UVH_ASSERT(conn->state != CONN_CLOSING);
  UVH_ASSERT(state != CONN_ACTIVE || (conn->req && conn->req->conn == conn));
  conn->state = state;
}

/* A failure met inside a call from the user: report it on the next tick. */
void uvh__conn_fail_soon(uvh_conn_t *conn, int code, int sys_err) {
  conn->deferred_code = code;
  conn->deferred_err = sys_err;
  uv_ref((uv_handle_t *)&conn->timer); /* nothing else may keep the loop alive for it */
  uv_timer_start(&conn->timer, on_timer, 0, 0);
}

void uvh__conn_maybe_free(uvh_conn_t *conn) {
  if (conn->refcount > 0 || conn->pending > 0)
    return;
  uvh__dial_free(&conn->dial);
  uvh__stream_free(&conn->stream);
  uvh_buf_free(&conn->body_out);
  uvh__tunnel_free(conn);
  free(conn->key);
  uvh_pool_unref(conn->pool);
  free(conn);
}

void uvh_conn_ref(uvh_conn_t *conn) { conn->refcount++; }

void uvh_conn_unref(uvh_conn_t *conn) {
  conn->refcount--;
  uvh__conn_maybe_free(conn);
}

uvh_pool_t *uvh_conn_pool(const uvh_conn_t *conn) { return conn->pool; }
const char *uvh_conn_destination(const uvh_conn_t *conn) { return conn->key; }
int uvh_conn_busy(const uvh_conn_t *conn) { return conn->req != NULL; }
int uvh_conn_open(const uvh_conn_t *conn) { return conn->state != CONN_CLOSING; }
int uvh__conn_connecting(const uvh_conn_t *conn) {
  return conn->state == CONN_RESOLVING || conn->state == CONN_CONNECTING || conn->state == CONN_TUNNELING ||
         conn->state == CONN_HANDSHAKING;
}
unsigned uvh_conn_requests_served(const uvh_conn_t *conn) { return conn->requests_served; }
void *uvh_conn_get_data(uvh_conn_t *conn) { return conn->data; }
void uvh_conn_set_data(uvh_conn_t *conn, void *data) { conn->data = data; }

static void on_timer_closed(uv_handle_t *h) {
  uvh_conn_t *conn = h->data;
  conn->pending--;
  UVH_ASSERT(conn->pending >= 0);
  uvh__conn_maybe_free(conn);
}

/* ------------------------------------------------------------------ timer */

/* When the read timeout fires: read_timeout after the later of the
 * request's last byte written and the last byte read; none before the
 * request is sent unless the response started early. The timer is not
 * moved on every read: it fires at the first possible moment and is set
 * again from the last read (as libuv's users do with activity timers). */
static uint64_t read_deadline(const uvh_conn_t *conn) {
  uint64_t base = conn->sent_at;
  if (conn->read_timeout_ms == 0 || (base == 0 && conn->response_bytes == 0) || conn->req->paused)
    return 0; /* a pause by the user is no silence of the server's */
  if (conn->stream.last_read_at > base)
    base = conn->stream.last_read_at;
  if (conn->resumed_at > base)
    base = conn->resumed_at;
  return base + conn->read_timeout_ms;
}

void uvh__conn_request_sent(uvh_conn_t *conn) {
  if (conn->sent_at == 0 && conn->req && conn->state == CONN_ACTIVE) {
    conn->sent_at = uv_now(conn_uv(conn));
    if (conn->read_timeout_ms)
      uvh__conn_arm_timer(conn);
  }
}

/* What a dial failure says beyond its code: the attempts (each address
 * and its error), and through a proxy that it was the proxy (it, not the
 * target, could not be reached); NULL when there is nothing to add. */
static const char *dial_detail(const uvh_conn_t *conn, int code, int sys_err, char *buf, size_t cap) {
  const uvh_dest_t *d = conn->dest;
  const char *attempts = conn->dial.detail[0] ? conn->dial.detail : NULL;
  if (code != UVH_E_CONNECT && code != UVH_E_RESOLVE)
    return NULL;
  if (d == NULL || d->proxy.mem == NULL)
    return attempts;
  if (code == UVH_E_RESOLVE)
    snprintf(buf, cap, "proxy host '%s' (%s)", d->proxy.host, sys_err ? uv_strerror(sys_err) : "no address");
  else if (attempts && strchr(attempts, ';'))
    snprintf(buf, cap, "proxy %s: %s", d->proxy.authority, attempts);
  else /* one attempt: "ADDR: reason" says no more than the reason does */
    snprintf(buf, cap, "proxy %s: %s", d->proxy.authority,
             attempts && strstr(attempts, ": ") ? strstr(attempts, ": ") + 2
             : sys_err                           ? uv_strerror(sys_err)
                                                 : "could not connect");
  return buf;
}

void uvh__conn_arm_timer(uvh_conn_t *conn) {
  uint64_t due = 0, now = uv_now(conn_uv(conn));
  if (conn->deferred_code)
    return; /* a failure is due on the next tick */
  if (conn->state == CONN_IDLE) {
    due = conn->idle_deadline;
  } else {
    uint64_t rd = conn->req ? read_deadline(conn) : 0;
    due = conn->req ? conn->req->deadline : 0;
    if (conn->connect_deadline && (due == 0 || conn->connect_deadline < due))
      due = conn->connect_deadline;
    if (rd && (due == 0 || rd < due))
      due = rd;
    if (conn->awaiting_continue && (due == 0 || conn->expect_deadline < due))
      due = conn->expect_deadline;
  }
  if (due == 0)
    uv_timer_stop(&conn->timer);
  else
    uv_timer_start(&conn->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  uvh_conn_t *conn = t->data;
  uint64_t now = uv_now(conn_uv(conn));
  uvh_request_t *req = conn->req;

  if (conn->deferred_code) {
    int code = conn->deferred_code, err = conn->deferred_err;
    char why[320];
    const char *detail = code == UVH_E_TLS && conn->stream.tls ? conn->stream.tls->reason
                                                                : dial_detail(conn, code, err, why, sizeof why);
    conn->deferred_code = conn->deferred_err = 0;
    uv_unref((uv_handle_t *)t);
    uvh__conn_fail(conn, code, err, detail);
    return;
  }

  if (conn->state == CONN_IDLE) {
    if (conn->idle_deadline && now >= conn->idle_deadline) {
      UVH_COUNT(conn->pool, conn->dest, idle_closed_timeout);
      uvh__conn_close(conn);
      return;
    }
  } else if (req == NULL) {
    /* connecting for a request another connection took meanwhile */
    if (conn->connect_deadline && now >= conn->connect_deadline) {
      uvh__conn_close(conn);
      return;
    }
  } else {
    char detail[256];
    uint64_t rd = read_deadline(conn);
    if (conn->awaiting_continue && now >= conn->expect_deadline && (req->deadline == 0 || now < req->deadline)) {
      uvh__conn_body_go(conn, 0); /* no 100 came: the body goes anyway (RFC 9110 10.1.1) */
      return;
    }
    if (rd && now >= rd && conn->state == CONN_ACTIVE) {
      snprintf(detail, sizeof detail, "read timeout: no byte arrived for %g s (%zu bytes of the response had arrived)",
               (double)conn->read_timeout_ms / 1000, conn->response_bytes);
      uvh__conn_fail(conn, UVH_E_TIMEOUT, 0, detail);
      return;
    }
    if (req->deadline && now >= req->deadline) {
      snprintf(detail, sizeof detail, "no complete response within %g s", req->timeout);
      uvh__conn_fail(conn, UVH_E_TIMEOUT, 0, detail);
      return;
    }
    if (conn->connect_deadline && now >= conn->connect_deadline) {
      double ct = req->connect_timeout >= 0 ? req->connect_timeout : req->timeout;
      if (conn->state == CONN_TUNNELING) {
        char step[200];
        uvh__tunnel_describe(conn, step, sizeof step);
        snprintf(detail, sizeof detail, "%s, not finished within %g s", step, ct);
      } else if (conn->state != CONN_HANDSHAKING && conn->dest->proxy.mem) {
        snprintf(detail, sizeof detail, "proxy %s: not connected within %g s", conn->dest->proxy.authority, ct);
      } else {
        snprintf(detail, sizeof detail, conn->state == CONN_HANDSHAKING ? "TLS handshake not finished within %g s"
                                                                        : "not connected within %g s", ct);
      }
      uvh__conn_fail(conn, UVH_E_CONNECT_TIMEOUT, 0, detail);
      return;
    }
  }
  uvh__conn_arm_timer(conn);
}

/* ----------------------------------------------------- stream, upcalls */

#define CONN_OF_STREAM(s) uvh_container_of(s, uvh_conn_t, stream)

static void tls_handshake(uvh_conn_t *conn);
static void conn_ready(uvh_conn_t *conn);

static void stream_on_data(uvh_stream_t *s, const char *data, size_t len, size_t more) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  if (conn->state == CONN_TUNNELING)
    uvh__tunnel_on_bytes(conn, data, len);
  else
    uvh__conn_on_bytes(conn, data, len, more);
}

static void stream_on_closed(uvh_stream_t *s, int err, int clean) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  if (conn->state == CONN_TUNNELING) {
    conn->stream.peer_gone = 1;
    uvh__tunnel_on_closed(conn, err);
    return;
  }
  if (conn->state == CONN_HANDSHAKING) {
    conn->stream.peer_gone = 1;
    uvh__conn_fail(conn, UVH_E_TLS, err == UV_EOF ? 0 : err, "the server closed the connection during the TLS handshake");
    return;
  }
  uvh__conn_on_peer_closed(conn, err, clean);
}

static void stream_on_handshake(uvh_stream_t *s) { tls_handshake(CONN_OF_STREAM(s)); }

static void stream_on_error(uvh_stream_t *s, int code, int sys_err) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  if (code != UVH_E_TLS)
    uvh__conn_fail(conn, code, sys_err, NULL);
  else if (!uvh__conn_settled_without_request(conn))
    uvh__conn_fail(conn, UVH_E_TLS, 0, conn->stream.tls->reason);
}

static void stream_on_write_done(uvh_stream_t *s, int status) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  conn->pending--;
  UVH_ASSERT(conn->pending >= 0);
  if (status < 0) {
    if (conn->state == CONN_ACTIVE && conn->req)
      uvh__conn_fail(conn, UVH_E_CONN_CLOSED, status, NULL);
    else if (conn->state == CONN_TUNNELING)
      uvh__tunnel_on_closed(conn, status);
  } else if (conn->stream.writing == 0 && conn->state == CONN_ACTIVE) {
    if (conn->body_pending)
      uvh__conn_tls_send(conn, 0);
    else if (conn->body_streaming)
      uvh__conn_body_pump(conn);
    else if (!conn->awaiting_continue)
      uvh__conn_request_sent(conn);
  }
  if (conn->body_out.data && conn->stream.writing == 0 && !conn->body_streaming)
    uvh_buf_free(&conn->body_out); /* the last piece of a body, or of one abandoned */
  uvh__conn_maybe_free(conn);
}

static void stream_on_hold(uvh_stream_t *s) { CONN_OF_STREAM(s)->pending++; }

static void stream_on_handle_closed(uvh_stream_t *s) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  conn->pending--;
  UVH_ASSERT(conn->pending >= 0);
  uvh__conn_maybe_free(conn);
}

/* The body of the running response is read into its own buffer. */
static char *stream_read_room(uvh_stream_t *s, size_t *len) {
  uvh_conn_t *conn = CONN_OF_STREAM(s);
  return conn->req && conn->state == CONN_ACTIVE ? uvh__parser_body_room(&conn->parser, len) : NULL;
}

static const uvh_stream_ops_t stream_ops = {
  stream_on_data, stream_on_closed, stream_on_handshake, stream_on_error,
  stream_on_write_done, stream_on_hold, stream_on_handle_closed, stream_read_room,
};

/* ------------------------------------------------------------- TLS set-up */

static void tls_handshake(uvh_conn_t *conn) {
  int sys_err, rc = uvh__stream_handshake(&conn->stream, &sys_err);
  if (rc == UVH_E_TLS) {
    uvh__conn_fail(conn, UVH_E_TLS, 0, conn->stream.tls->reason);
  } else if (rc < 0) {
    uvh__conn_fail(conn, UVH_E_TLS, sys_err, "the connection failed during the TLS handshake");
  } else if (rc == 1) {
    if (conn->stream.tls->resumed)
      UVH_COUNT(conn->pool, conn->dest, tls_resumed);
    else
      UVH_COUNT(conn->pool, conn->dest, tls_handshakes);
    conn_ready(conn);
  }
}

/* The session a new connection of `d` offers: the newest resumable one.
 * A TLS 1.3 ticket is meant to be used once (RFC 8446 C.4; OpenSSL will not
 * resume one a second time), so it leaves the list. Only when many
 * connections open at once and no unused ticket is left is the one offered
 * last offered again, while it has not been resumed yet. */
static struct ssl_session_st *take_session(uvh_dest_t *d) {
  while (d->nsessions) {
    struct ssl_session_st *s = d->sessions[d->nsessions - 1];
    if (!uvh__tls_session_resumable(s)) {
      d->nsessions--;
      uvh__tls_session_free(s);
    } else if (uvh__tls_session_single_use(s)) {
      d->nsessions--;
      if (d->last_offered)
        uvh__tls_session_free(d->last_offered);
      d->last_offered = s; /* the list's reference moves here */
      return s;
    } else {
      return s;
    }
  }
  if (d->last_offered && uvh__tls_session_resumable(d->last_offered))
    return d->last_offered;
  return NULL;
}

static int keep_session(void *c, struct ssl_session_st *session);

static void tls_start(uvh_conn_t *conn) {
  uvh_dest_t *d = conn->dest;
  int rc;
  struct ssl_session_st *session = take_session(d); /* borrowed: the SSL object takes its own */
  conn_set_state(conn, CONN_HANDSHAKING);
  rc = (conn->stream.tls = malloc(sizeof *conn->stream.tls)) == NULL
           ? UVH_E_NOMEM
           : uvh__tls_start(conn->stream.tls, d->ssl_ctx, d->tls_name, session, conn, keep_session);
  if (rc != 0) {
    char why[sizeof conn->stream.tls->reason] = "";
    if (conn->stream.tls)
      memcpy(why, conn->stream.tls->reason, sizeof why);
    free(conn->stream.tls);
    conn->stream.tls = NULL;
    uvh__conn_fail(conn, rc, 0, why[0] ? why : NULL);
    return;
  }
  tls_handshake(conn);
}

/* OpenSSL's new-session callback: the destination keeps the newest
 * sessions, offered by its next connections. */
static int keep_session(void *c, struct ssl_session_st *session) {
  uvh_conn_t *conn = c;
  uvh_dest_t *d = conn->dest;
  if (d == NULL || conn->state == CONN_CLOSING)
    return 0;
  if (d->nsessions == UVH_TLS_SESSIONS_KEPT) {
    uvh__tls_session_free(d->sessions[0]);
    memmove(d->sessions, d->sessions + 1, (UVH_TLS_SESSIONS_KEPT - 1) * sizeof d->sessions[0]);
    d->nsessions--;
  }
  d->sessions[d->nsessions++] = session;
  return 1;
}

/* The connection can carry requests: TCP is up, and TLS when https. */
static void conn_ready(uvh_conn_t *conn) {
  conn->connect_deadline = 0;
  if (conn->req == NULL) {
    /* its request went to a connection that became idle first */
    conn_set_state(conn, CONN_IDLE); /* not in the idle lists yet: make_idle/run settle it */
    uvh__pool_conn_fresh(conn->pool, conn);
    return;
  }
  conn_set_state(conn, CONN_ACTIVE);
  uvh__conn_arm_timer(conn);
  uvh__conn_write_request(conn);
}

/* ------------------------------------------------------- dial, upcalls */

#define CONN_OF_DIAL(d) uvh_container_of(d, uvh_conn_t, dial)

static void dial_on_resolved(uvh_dial_t *d) { conn_set_state(CONN_OF_DIAL(d), CONN_CONNECTING); }

static void dial_on_connected(uvh_dial_t *d, uv_tcp_t *tcp) {
  uvh_conn_t *conn = CONN_OF_DIAL(d);
  conn->connected_at = uv_now(conn_uv(conn));
  uvh__stream_open(&conn->stream, (uv_stream_t *)tcp);
  if (uvh__tunnel_needed(conn->dest)) {
    conn_set_state(conn, CONN_TUNNELING);
    uvh__tunnel_start(conn);
    return;
  }
  uvh__conn_tunnel_up(conn);
}

/* Connected to the target (directly, or through the proxy's tunnel). */
void uvh__conn_tunnel_up(uvh_conn_t *conn) {
  if (conn->dest->ssl_ctx) {
    tls_start(conn);
    return;
  }
  conn_ready(conn);
}

static void dial_on_failed(uvh_dial_t *d, int code, int sys_err, int in_start) {
  uvh_conn_t *conn = CONN_OF_DIAL(d);
  char why[320];
  if (in_start)
    uvh__conn_fail_soon(conn, code, sys_err);
  else
    uvh__conn_fail(conn, code, sys_err, dial_detail(conn, code, sys_err, why, sizeof why));
}

static void dial_on_hold(uvh_dial_t *d) { CONN_OF_DIAL(d)->pending++; }

static void dial_on_released(uvh_dial_t *d) {
  uvh_conn_t *conn = CONN_OF_DIAL(d);
  conn->pending--;
  UVH_ASSERT(conn->pending >= 0);
  uvh__conn_maybe_free(conn);
}

static const uvh_dial_ops_t dial_ops = {
  dial_on_resolved, dial_on_connected, dial_on_failed, dial_on_hold, dial_on_released,
};

int uvh__conn_start(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, uvh_conn_t **out) {
  uvh_conn_t *conn = calloc(1, sizeof *conn);
  double ct;

  if (conn == NULL || (conn->key = strndup(d->key, d->name_len)) == NULL) {
    free(conn);
    return UVH_E_NOMEM;
  }
  conn->refcount = 1; /* the pool's, dropped by uvh__conn_close */
  conn->pool = pool;
  uvh_pool_ref(pool);
  conn->dest = d;
  conn->ka_timeout = -1;
  conn->allowed_requests = UINT_MAX;
  uvh_list_init(&conn->idle_link);
  uvh_list_init(&conn->lru_link);
  uvh_list_init(&conn->write_link);
  uvh__stream_init(&conn->stream, &pool->bufs, &stream_ops);
  uvh_list_push_back(&d->conns, &conn->dest_link);
  d->nconns++;
  pool->size++;

  uv_timer_init(conn_uv(conn), &conn->timer);
  conn->timer.data = conn;
  /* the conn's other activity (a uv request or an active read) keeps the loop alive */
  uv_unref((uv_handle_t *)&conn->timer);
  conn->pending++;

  uvh__conn_attach(conn, req);
  conn_set_state(conn, CONN_RESOLVING);
  ct = req->connect_timeout >= 0 ? req->connect_timeout : req->timeout;
  conn->connect_deadline = ct > 0 ? uv_now(conn_uv(conn)) + uvh__seconds_to_ms(ct) : 0;
  uvh__conn_arm_timer(conn);

  /* through a proxy the connection goes to the proxy; the target is named in its handshake or request */
  if (uvh__dial_start(&conn->dial, conn_uv(conn), pool->resolver, d->proxy.mem ? d->proxy.host : d->host,
                      d->proxy.mem ? d->proxy.port : d->port, &d->sock, &dial_ops) != 0) {
    /* undo everything: the caller reports the error synchronously */
    uvh__conn_detach(conn);
    uvh__request_set_state(req, REQ_NEW);
    uvh__conn_close(conn);
    return UVH_E_NOMEM;
  }
  uvh__conn_count_lookup(conn, conn->dial.how);
  if (out)
    *out = conn;
  return 0;
}

void uvh__conn_count_lookup(uvh_conn_t *conn, int how) {
  if (how == UVH_RESOLVED_LOOKUP)
    UVH_COUNT(conn->pool, conn->dest, dns_lookups);
  else if (how == UVH_RESOLVED_CACHED)
    UVH_COUNT(conn->pool, conn->dest, dns_cache_hits);
  else if (how == UVH_RESOLVED_SHARED)
    UVH_COUNT(conn->pool, conn->dest, dns_shared);
}

void uvh__conn_run(uvh_conn_t *conn, uvh_request_t *req) {
  if (conn->requests_served > 0)
    UVH_COUNT(conn->pool, conn->dest, reused);
  uvh_list_remove(&conn->idle_link);
  uvh_list_remove(&conn->lru_link);
  uvh__conn_attach(conn, req);
  conn_set_state(conn, CONN_ACTIVE);
  uvh__stream_ref(&conn->stream, 1);
  uvh__conn_arm_timer(conn);
  /* written from the pool's check handle, once this iteration's reads
   * have shown whether the server closed the connection meanwhile */
  uvh__pool_defer_write(conn->pool, conn);
}

void uvh__conn_write_deferred(uvh_conn_t *conn) {
  if (conn->pump_deferred) {
    conn->pump_deferred = 0;
    if (conn->state == CONN_ACTIVE && conn->req)
      uvh__conn_body_pump(conn);
    return;
  }
  if (conn->state == CONN_ACTIVE && conn->req)
    uvh__conn_write_request(conn);
}

void uvh__conn_make_idle(uvh_conn_t *conn) {
  uvh_pool_t *pool = conn->pool;
  double limit = pool->cfg.idle_timeout;
  uint64_t now = uv_now(conn_uv(conn));
  if (conn->ka_timeout > 0) {
    /* leave a margin so we close before the server does */
    double margin = conn->ka_timeout / 10 < 1 ? conn->ka_timeout / 10 : 1;
    double ka = conn->ka_timeout - margin;
    if (limit == 0 || ka < limit)
      limit = ka;
  }
  if (!uvh_list_linked(&conn->idle_link)) {
    conn_set_state(conn, CONN_IDLE);
    uvh_list_push_front(&conn->dest->idle, &conn->idle_link);
    uvh_list_push_back(&pool->idle_lru, &conn->lru_link);
    uvh__stream_ref(&conn->stream, 0);
    /* connections opened together should not all close together */
    limit *= uvh__jitter(&pool->rng);
  }
  conn->idle_deadline = limit > 0 ? now + uvh__seconds_to_ms(limit) : 0;
  if (pool->cfg.max_lifetime > 0) {
    uint64_t end = conn->connected_at + uvh__seconds_to_ms(pool->cfg.max_lifetime);
    if (conn->idle_deadline == 0 || end < conn->idle_deadline)
      conn->idle_deadline = end > now ? end : now;
  }
  uvh__conn_arm_timer(conn);
}

void uvh__conn_close(uvh_conn_t *conn) {
  if (conn->state == CONN_CLOSING)
    return;
  conn_set_state(conn, CONN_CLOSING);
  UVH_COUNT(conn->pool, conn->dest, connections_closed);
  uvh_list_remove(&conn->idle_link);
  uv_timer_stop(&conn->timer);
  uv_close((uv_handle_t *)&conn->timer, on_timer_closed);
  /* a graceful close says so (close_notify): never in a child closing
   * what the parent still uses */
  uvh__stream_close(&conn->stream, !conn->pool->dropping_inherited);
  uvh__dial_cancel(&conn->dial);
  uvh__tunnel_cancel(conn);
  uvh__pool_conn_closed(conn->pool, conn);
  uvh_conn_unref(conn);
}
