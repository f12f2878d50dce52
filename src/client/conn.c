/* conn.c - one HTTP/1.1 connection: resolve, connect, TLS, write, read, idle.
 *
 * Owns: its TCP handle (allocated per connect attempt, freed in the close
 * callback), its timer, the getaddrinfo result, its TLS state (https), the
 * buffers of its TLS writes in flight, and a reference to the running
 * request. Borrows: its destination (valid while the conn is open).
 * Holds a pool reference for its whole life.
 *
 * Memory is freed when refcount (the pool's "open" reference plus external
 * ones) and `pending` (open handles plus in-flight libuv requests) are both
 * zero, so no libuv callback can ever see freed memory.
 *
 * State changes go through the functions below; the single keep-alive
 * decision is conn_reusable().
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>

static void on_timer(uv_timer_t *t);

static void free_addrs(uvh_conn_t *conn) {
  if (conn->addrs_literal)
    free(conn->addrs);
  else if (conn->addrs)
    uv_freeaddrinfo(conn->addrs);
  conn->addrs = conn->next_addr = NULL;
  conn->addrs_literal = 0;
}

/* An IP literal needs no resolver, so no thread-pool round trip. */
static struct addrinfo *literal_address(const char *host, uint16_t port) {
  struct literal {
    struct addrinfo ai;
    struct sockaddr_storage ss;
  } *lit = calloc(1, sizeof *lit);
  if (lit == NULL)
    return NULL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&lit->ss) == 0) {
    lit->ai.ai_family = AF_INET;
    lit->ai.ai_addrlen = sizeof(struct sockaddr_in);
  } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&lit->ss) == 0) {
    lit->ai.ai_family = AF_INET6;
    lit->ai.ai_addrlen = sizeof(struct sockaddr_in6);
  } else {
    free(lit);
    return NULL;
  }
  lit->ai.ai_socktype = SOCK_STREAM;
  lit->ai.ai_addr = (struct sockaddr *)&lit->ss;
  return &lit->ai;
}

/* A failure met inside a call from the user: report it on the next tick. */
static void fail_soon(uvh_conn_t *conn, int code, int sys_err) {
  conn->deferred_code = code;
  conn->deferred_err = sys_err;
  uv_ref((uv_handle_t *)&conn->timer); /* nothing else may keep the loop alive for it */
  uv_timer_start(&conn->timer, on_timer, 0, 0);
}

static void conn_maybe_free(uvh_conn_t *conn) {
  if (conn->refcount > 0 || conn->pending > 0)
    return;
  free_addrs(conn);
  if (conn->tls) {
    uvh__tls_free(conn->tls);
    free(conn->tls);
  }
  free(conn->key);
  uvh_pool_unref(conn->pool);
  free(conn);
}

void uvh_conn_ref(uvh_conn_t *conn) { conn->refcount++; }

void uvh_conn_unref(uvh_conn_t *conn) {
  conn->refcount--;
  conn_maybe_free(conn);
}

uvh_pool_t *uvh_conn_pool(const uvh_conn_t *conn) { return conn->pool; }
const char *uvh_conn_destination(const uvh_conn_t *conn) { return conn->key; }
int uvh_conn_busy(const uvh_conn_t *conn) { return conn->req != NULL; }
int uvh_conn_open(const uvh_conn_t *conn) { return conn->state != CONN_CLOSING; }
int uvh__conn_connecting(const uvh_conn_t *conn) {
  return conn->state == CONN_RESOLVING || conn->state == CONN_CONNECTING || conn->state == CONN_HANDSHAKING;
}
unsigned uvh_conn_requests_served(const uvh_conn_t *conn) { return conn->requests_served; }
void *uvh_conn_get_data(uvh_conn_t *conn) { return conn->data; }
void uvh_conn_set_data(uvh_conn_t *conn, void *data) { conn->data = data; }

static void on_handle_closed(uv_handle_t *h) {
  uvh_conn_t *conn = h->data;
  if ((void *)h != (void *)&conn->timer)
    free(h);
  conn->pending--;
  conn_maybe_free(conn);
}

static uv_loop_t *conn_uv(uvh_conn_t *conn) { return conn->pool->loop->uv; }

/* ----------------------------------------------------------- request attach */

static void attach(uvh_conn_t *conn, uvh_request_t *req) {
  uvh_pool_t *pool = conn->pool;
  size_t mh = req->max_headers_size == UVH_LIMIT_INHERIT ? pool->cfg.max_headers_size : req->max_headers_size;
  size_t mb = req->max_body_size == UVH_LIMIT_INHERIT ? pool->cfg.max_body_size : req->max_body_size;
  conn->req = req;
  req->conn = conn;
  req->state = REQ_RUNNING;
  req->on_reused_conn = conn->requests_served > 0;
  conn->nothing_written = 0;
  conn->body_pending = 0;
  pool->nbusy++;
  uvh__parser_init(&conn->parser, req->resp, req->is_head, mh, mb);
}

static uvh_request_t *detach(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  if (req) {
    conn->req = NULL;
    req->conn = NULL;
    conn->body_pending = 0;
    conn->pool->nbusy--;
  }
  return req;
}

static int idempotent_method(const char *m) {
  return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
         strcmp(m, "TRACE") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

/* The keep-alive race: the server closed a kept-alive connection just as we
 * sent on it. Sending again is safe only when nothing of a response came
 * back and the request may be repeated (or never left). */
static int may_retry(uvh_conn_t *conn, uvh_request_t *req, int err) {
  uvh_pool_t *pool = conn->pool;
  return err == UVH_E_CONN_CLOSED && req->retry && !req->retried && req->on_reused_conn &&
         !uvh__parser_started(&conn->parser) && pool->loop &&
         (idempotent_method(req->method) || req->has_idempotency_key || req->idempotent ||
          conn->nothing_written) &&
         (req->deadline == 0 || uv_now(pool->loop->uv) < req->deadline);
}

/* Close the connection and fail its request (if any) with `err`, or send
 * the request again on a new connection when that is safe. */
static void conn_fail(uvh_conn_t *conn, int err, int sys_err, const char *detail) {
  uvh_request_t *req = conn->req;
  uvh_dest_t *d = conn->dest;
  int retry;
  /* TLS 1.3 servers judge a client certificate after the client's side of
   * the handshake; their alert can be lost to the reset that follows, and
   * the close may meet our write or our read */
  if (err == UVH_E_CONN_CLOSED && conn->tls && conn->tls->cert_requested && conn->requests_served == 0 &&
      !uvh__parser_started(&conn->parser)) {
    err = UVH_E_TLS;
    detail = "the server asked for a client certificate, then closed the connection before answering: "
             "it refused the certificate sent, or wanted one";
  }
  retry = req && may_retry(conn, req, err);
  detach(conn);
  uvh_conn_ref(conn);
  if (retry) {
    req->retried = 1;
    UVH_COUNT(conn->pool, d, retried);
    uvh__pool_requeue(conn->pool, d, req, 1);
    uvh__conn_close(conn); /* its slot goes to the retry at the queue's head */
  } else {
    uvh__conn_close(conn);
    if (req)
      uvh__request_complete(req, err, sys_err, detail);
  }
  uvh_conn_unref(conn);
}

/* The pre-write check caught it: a reused connection went stale before its
 * request was written. Nothing was sent, so the request simply waits for
 * another connection. */
static void conn_stale_before_write(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  uvh_dest_t *d = conn->dest;
  detach(conn);
  uvh_list_remove(&conn->write_link);
  UVH_COUNT(conn->pool, d, idle_closed_peer);
  uvh__pool_requeue(conn->pool, d, req, 0);
  uvh__conn_close(conn);
}

/* A connection still connecting gives its request to one that became idle
 * first. It goes on connecting to join the idle set, but not forever: with
 * no request's deadline left, it gets one of its own. */
void uvh__conn_take_from_connecting(uvh_conn_t *conn) {
  detach(conn);
  if (conn->connect_deadline == 0) {
    conn->connect_deadline = uv_now(conn_uv(conn)) + UVH_ORPHAN_CONNECT_MS;
    uvh__conn_arm_timer(conn);
  }
}

void uvh__conn_abort(uvh_conn_t *conn) {
  detach(conn);
  uvh__conn_close(conn);
}

/* ------------------------------------------------------------------ timer */


void uvh__conn_arm_timer(uvh_conn_t *conn) {
  uint64_t due = 0, now = uv_now(conn_uv(conn));
  if (conn->deferred_code)
    return; /* a failure is due on the next tick */
  if (conn->state == CONN_IDLE) {
    due = conn->idle_deadline;
  } else {
    due = conn->req ? conn->req->deadline : 0;
    if (conn->connect_deadline && (due == 0 || conn->connect_deadline < due))
      due = conn->connect_deadline;
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
    conn->deferred_code = conn->deferred_err = 0;
    uv_unref((uv_handle_t *)t);
    conn_fail(conn, code, err, code == UVH_E_TLS && conn->tls ? conn->tls->reason : NULL);
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
    char detail[96];
    if (req->deadline && now >= req->deadline) {
      snprintf(detail, sizeof detail, "no complete response within %g s", req->timeout);
      conn_fail(conn, UVH_E_TIMEOUT, 0, detail);
      return;
    }
    if (conn->connect_deadline && now >= conn->connect_deadline) {
      double ct = req->connect_timeout >= 0 ? req->connect_timeout : req->timeout;
      snprintf(detail, sizeof detail, conn->state == CONN_HANDSHAKING ? "TLS handshake not finished within %g s"
                                                                      : "not connected within %g s", ct);
      conn_fail(conn, UVH_E_CONNECT_TIMEOUT, 0, detail);
      return;
    }
  }
  uvh__conn_arm_timer(conn);
}

/* ------------------------------------------------------------- write/read */

static void write_done(uvh_conn_t *conn, int status) {
  conn->pending--;
  conn->writing--;
  if (status < 0)
    conn->peer_gone = 1; /* never write on a socket that has failed a write */
  if (status < 0 && conn->state == CONN_ACTIVE && conn->req)
    conn_fail(conn, UVH_E_CONN_CLOSED, status, NULL);
  conn_maybe_free(conn);
}

static void on_write(uv_write_t *w, int status) { write_done(w->data, status); }

/* Ciphertext on its way out: the buffer lives until libuv is done with it. */
typedef struct {
  uv_write_t req;
  char data[];
} tls_write_t;

static void tls_send(uvh_conn_t *conn, int first);

static void on_tls_write(uv_write_t *w, int status) {
  uvh_conn_t *conn = w->data;
  free(w); /* the whole tls_write_t */
  conn->pending--;
  conn->writing--;
  if (status < 0) {
    conn->peer_gone = 1; /* never write on a socket that has failed a write */
    if (conn->state == CONN_ACTIVE && conn->req)
      conn_fail(conn, UVH_E_CONN_CLOSED, status, NULL);
  } else if (conn->body_pending && conn->writing == 0 && conn->state == CONN_ACTIVE) {
    tls_send(conn, 0);
  }
  conn_maybe_free(conn);
}

/* Send what OpenSSL has queued: at once if the socket takes it, the rest
 * through uv_write. 0, or a libuv error when the socket failed (then
 * *nothing_sent tells whether no byte left). */
static int tls_flush(uvh_conn_t *conn, int *nothing_sent) {
  size_t n = uvh__tls_out_pending(conn->tls);
  tls_write_t *w;
  uv_buf_t buf;
  int rc;
  if (nothing_sent)
    *nothing_sent = 0;
  if (n == 0 || conn->tcp_handle == NULL)
    return 0;
  if (conn->peer_gone) {
    /* the socket already failed or the server left: a write now could
     * raise SIGPIPE */
    if (nothing_sent)
      *nothing_sent = 1;
    return UV_EPIPE;
  }
  if ((w = malloc(sizeof *w + n)) == NULL)
    return UV_ENOMEM;
  buf = uv_buf_init(w->data, (unsigned)uvh__tls_take_out(conn->tls, w->data, n));
  rc = uv_try_write((uv_stream_t *)conn->tcp_handle, &buf, 1);
  if (rc == (int)buf.len) {
    free(w);
    return 0;
  }
  if (rc < 0 && rc != UV_EAGAIN) {
    if (nothing_sent)
      *nothing_sent = 1;
    conn->peer_gone = 1; /* no second write after the socket's error: it would raise SIGPIPE */
    free(w);
    return rc;
  }
  if (rc > 0) {
    buf.base += rc;
    buf.len -= (unsigned)rc;
  }
  w->req.data = conn;
  if ((rc = uv_write(&w->req, (uv_stream_t *)conn->tcp_handle, &buf, 1, on_tls_write)) < 0) {
    free(w);
    return rc;
  }
  conn->pending++;
  conn->writing++;
  return 0;
}

/* The body is encrypted a chunk at a time, the next one once the last
 * has gone: however large the body, one chunk of ciphertext at most waits
 * in memory. */
#define UVH_TLS_BODY_CHUNK (256 * 1024)

/* Encrypt the head, then send it with as much of the body as the socket
 * takes now. */
static void write_request_tls(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  if (uvh__tls_write(conn->tls, req->head.data, req->head.len) != 0) {
    fail_soon(conn, UVH_E_TLS, 0);
    return;
  }
  conn->body_sent = 0;
  conn->body_pending = req->body_len > 0;
  tls_send(conn, 1);
}

/* Encrypt the next body chunk (if any) and flush, again while nothing
 * waits to be written. `first`: the request's first flush, whose failure
 * may mean nothing of it was sent. */
static void tls_send(uvh_conn_t *conn, int first) {
  uvh_request_t *req = conn->req;
  int rc, nothing_sent;
  do {
    if (conn->body_pending) {
      size_t n = req->body_len - conn->body_sent;
      if (n > UVH_TLS_BODY_CHUNK)
        n = UVH_TLS_BODY_CHUNK;
      if (uvh__tls_write(conn->tls, req->body + conn->body_sent, n) != 0) {
        conn->body_pending = 0;
        fail_soon(conn, UVH_E_TLS, 0);
        return;
      }
      conn->body_sent += n;
      conn->body_pending = conn->body_sent < req->body_len;
    }
    if ((rc = tls_flush(conn, &nothing_sent)) < 0) {
      conn->nothing_written = first && nothing_sent;
      conn->body_pending = 0;
      fail_soon(conn, UVH_E_CONN_CLOSED, rc);
      return;
    }
    first = 0;
  } while (conn->body_pending && conn->writing == 0);
}

static void write_request(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  uv_buf_t bufs[2];
  unsigned n = 1, i = 0;
  size_t written;
  int rc;
  if (conn->tls) {
    write_request_tls(conn);
    return;
  }
  bufs[0] = uv_buf_init(req->head.data, (unsigned)req->head.len);
  if (req->body_len)
    bufs[n++] = uv_buf_init(req->body, (unsigned)req->body_len);
  /* Most requests fit in the socket buffer: write them now, with no write
   * request and no poll-for-writable round trip. uv_write takes the rest. */
  rc = uv_try_write((uv_stream_t *)conn->tcp_handle, bufs, n);
  if (rc < 0 && rc != UV_EAGAIN) {
    /* never write again after a failed write: the socket has reported its
     * error (a reset), and a second write would raise SIGPIPE */
    conn->nothing_written = 1;
    conn->peer_gone = 1;
    fail_soon(conn, UVH_E_CONN_CLOSED, rc);
    return;
  }
  written = rc > 0 ? (size_t)rc : 0;
  while (i < n && written >= bufs[i].len)
    written -= bufs[i++].len;
  if (i == n)
    return;
  bufs[i].base += written;
  bufs[i].len -= (unsigned)written;
  conn->write_req.data = conn;
  rc = uv_write(&conn->write_req, (uv_stream_t *)conn->tcp_handle, bufs + i, n - i, on_write);
  if (rc < 0) {
    fail_soon(conn, UVH_E_CONN_CLOSED, rc);
    return;
  }
  conn->pending++;
  conn->writing++;
}

/* The one keep-alive decision: may this connection carry another request? */
static int conn_reusable(uvh_conn_t *conn, uvh_request_t *req, size_t unread) {
  const uvh_parser_t *p = &conn->parser;
  const uvh_pool_config_t *cfg = &conn->pool->cfg;
  return !conn->pool->released && conn->pool->loop && unread == 0 && !conn->writing && !conn->body_pending &&
         !conn->peer_gone && !conn->deferred_code &&
         !req->wants_close && p->resp->keep_alive && !p->needs_eof && p->ka_timeout != 0 &&
         conn->requests_served < conn->allowed_requests &&
         (cfg->max_requests_per_connection == 0 || conn->requests_served < cfg->max_requests_per_connection) &&
         (cfg->max_lifetime == 0 ||
          uv_now(conn_uv(conn)) - conn->connected_at < uvh__seconds_to_ms(cfg->max_lifetime));
}

/* The response is complete. */
static void conn_finish(uvh_conn_t *conn, size_t unread) {
  uvh_request_t *req = conn->req;
  uvh_pool_t *pool = conn->pool;
  int reuse;

  conn->requests_served++;
  /* Keep-Alive: max=N allows N more requests after this one */
  if (conn->parser.ka_max >= 0 && conn->requests_served + (unsigned)conn->parser.ka_max < conn->allowed_requests)
    conn->allowed_requests = conn->requests_served + (unsigned)conn->parser.ka_max;
  if (conn->parser.ka_timeout > 0)
    conn->ka_timeout = conn->parser.ka_timeout;
  reuse = conn_reusable(conn, req, unread);
  req->resp->keep_alive = reuse ? 1 : 0;
  detach(conn);
  uvh_conn_ref(conn);
  uvh_pool_ref(pool);
  if (reuse)
    uvh__pool_conn_reusable(pool, conn);
  else
    uvh__conn_close(conn);
  uvh__request_complete(req, 0, 0, NULL);
  uvh_pool_unref(pool);
  uvh_conn_unref(conn);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  uvh_conn_t *conn = h->data;
  (void)suggested;
  *buf = uv_buf_init(conn->pool->read_buf, sizeof conn->pool->read_buf);
}

/* Bytes, EOF or an error met a connection with no request in flight: an
 * idle one is unusable now, and one whose request waits for the pre-write
 * check gives the request back. Returns 1 when it handled the event. */
static int settled_without_request(uvh_conn_t *conn) {
  if (conn->state == CONN_IDLE || conn->req == NULL) {
    UVH_COUNT(conn->pool, conn->dest, idle_closed_peer);
    uvh__conn_close(conn);
    return 1;
  }
  if (uvh_list_linked(&conn->write_link)) {
    conn_stale_before_write(conn);
    return 1;
  }
  return 0;
}

/* Response bytes (plaintext) arrived; `more` bytes beyond these are
 * already buffered (TLS). */
static void on_bytes(uvh_conn_t *conn, const char *data, size_t len, size_t more) {
  size_t used;
  int rc;
  if (settled_without_request(conn))
    return;
  rc = uvh__parser_feed(&conn->parser, data, len, &used);
  if (rc == 1)
    conn_finish(conn, len - used + more);
  else if (rc < 0)
    conn_fail(conn, rc, 0, uvh__parser_reason(&conn->parser));
}

/* The server closed (err UV_EOF; `clean`: with a TLS close_notify) or
 * the connection failed (err < 0). */
static void on_peer_closed(uvh_conn_t *conn, int err, int clean) {
  int rc;
  conn->peer_gone = 1;
  if (settled_without_request(conn))
    return;
  if (err != UV_EOF) {
    conn_fail(conn, UVH_E_CONN_CLOSED, err, NULL);
    return;
  }
  if (conn->tls && !clean && conn->parser.needs_eof && uvh__parser_started(&conn->parser)) {
    /* only close_notify proves that a close-delimited body is whole */
    conn_fail(conn, UVH_E_TLS, 0, "the server closed the connection without a TLS close_notify, so the body "
                                  "(delimited by the close) may be truncated");
    return;
  }
  rc = uvh__parser_eof(&conn->parser);
  if (rc == 1)
    conn_finish(conn, 0);
  else
    conn_fail(conn, rc, 0, rc == UVH_E_PROTOCOL ? uvh__parser_reason(&conn->parser) : "server closed the connection");
}

static void tls_handshake(uvh_conn_t *conn);

/* Ciphertext (or EOF/error) from the server. */
static void on_tls_read(uvh_conn_t *conn, ssize_t nread, const char *data) {
  uvh_tls_t *tls = conn->tls;
  uvh_pool_t *pool = conn->pool;
  int rc;
  if (nread < 0) {
    if (conn->state == CONN_HANDSHAKING) {
      conn->peer_gone = 1;
      conn_fail(conn, UVH_E_TLS, nread == UV_EOF ? 0 : (int)nread,
                "the server closed the connection during the TLS handshake");
    } else {
      on_peer_closed(conn, (int)nread, 0);
    }
    return;
  }
  if (uvh__tls_feed(tls, data, (size_t)nread) != 0) {
    conn_fail(conn, UVH_E_NOMEM, 0, NULL);
    return;
  }
  if (conn->state == CONN_HANDSHAKING) {
    tls_handshake(conn);
    return; /* nothing of a response can follow the handshake before our request */
  }
  if (pool->tls_plain == NULL && (pool->tls_plain = malloc(UVH_TLS_PLAIN_SIZE)) == NULL) {
    conn_fail(conn, UVH_E_NOMEM, 0, NULL);
    return;
  }
  uvh_conn_ref(conn); /* the loop below outlives a completion */
  while (conn->state != CONN_CLOSING) {
    long n = uvh__tls_read(tls, pool->tls_plain, UVH_TLS_PLAIN_SIZE);
    if (n > 0) {
      on_bytes(conn, pool->tls_plain, (size_t)n, uvh__tls_read_pending(tls));
    } else if (n == 0) {
      break;
    } else if (n == UVH_TLS_CLOSED) {
      on_peer_closed(conn, UV_EOF, 1);
    } else if (!settled_without_request(conn)) {
      conn_fail(conn, UVH_E_TLS, 0, tls->reason);
    }
  }
  /* reading may have queued records of its own (a key update) */
  if (conn->state != CONN_CLOSING && (rc = tls_flush(conn, NULL)) < 0)
    conn_fail(conn, UVH_E_CONN_CLOSED, rc, NULL);
  uvh_conn_unref(conn);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  uvh_conn_t *conn = s->data;
  if (nread == 0 || conn->state == CONN_CLOSING)
    return;
  if (conn->tls)
    on_tls_read(conn, nread, buf->base);
  else if (nread < 0)
    on_peer_closed(conn, (int)nread, 0);
  else
    on_bytes(conn, buf->base, (size_t)nread, 0);
}

/* --------------------------------------------------------- resolve/connect */

static void try_next_address(uvh_conn_t *conn, int in_user_call);
static void conn_ready(uvh_conn_t *conn);

static void tls_handshake(uvh_conn_t *conn) {
  int rc = uvh__tls_handshake(conn->tls), flush;
  /* our next flight (or the alert explaining a failure) goes out first */
  flush = tls_flush(conn, NULL);
  if (rc < 0) {
    conn_fail(conn, UVH_E_TLS, 0, conn->tls->reason);
  } else if (flush < 0) {
    conn->peer_gone = 1;
    conn_fail(conn, UVH_E_TLS, flush, "the connection failed during the TLS handshake");
  } else if (rc == 1) {
    if (conn->tls->resumed)
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
  conn->state = CONN_HANDSHAKING;
  rc = (conn->tls = malloc(sizeof *conn->tls)) == NULL
           ? UVH_E_NOMEM
           : uvh__tls_start(conn->tls, d->ssl_ctx, d->tls_name, session, conn, keep_session);
  if (rc != 0) {
    char why[sizeof conn->tls->reason] = "";
    if (conn->tls)
      memcpy(why, conn->tls->reason, sizeof why);
    free(conn->tls);
    conn->tls = NULL;
    conn_fail(conn, rc, 0, why[0] ? why : NULL);
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

static void on_connect(uv_connect_t *c, int status) {
  uvh_conn_t *conn = c->data;
  conn->pending--;
  if (conn->state == CONN_CLOSING) {
    conn_maybe_free(conn);
    return;
  }
  if (status < 0) {
    conn->last_connect_err = status;
    uv_close((uv_handle_t *)conn->tcp_handle, on_handle_closed);
    conn->tcp_handle = NULL;
    conn->next_addr = conn->next_addr->ai_next;
    try_next_address(conn, 0);
    return;
  }
  free_addrs(conn);
  conn->connected_at = uv_now(conn_uv(conn));
  uv_read_start((uv_stream_t *)conn->tcp_handle, on_alloc, on_read);
  if (conn->dest->ssl_ctx) {
    tls_start(conn);
    return;
  }
  conn_ready(conn);
}

/* The connection can carry requests: TCP is up, and TLS when https. */
static void conn_ready(uvh_conn_t *conn) {
  conn->connect_deadline = 0;
  if (conn->req == NULL) {
    /* its request went to a connection that became idle first */
    conn->state = CONN_IDLE; /* not in the idle lists yet: make_idle/run settle it */
    uvh__pool_conn_fresh(conn->pool, conn);
    return;
  }
  conn->state = CONN_ACTIVE;
  uvh__conn_arm_timer(conn);
  write_request(conn);
}

static void try_next_address(uvh_conn_t *conn, int in_user_call) {
  while (conn->next_addr) {
    struct addrinfo *ai = conn->next_addr;
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    int rc;
    if (tcp == NULL) {
      if (in_user_call)
        fail_soon(conn, UVH_E_NOMEM, 0);
      else
        conn_fail(conn, UVH_E_NOMEM, 0, NULL);
      return;
    }
    uv_tcp_init(conn_uv(conn), tcp);
    tcp->data = conn;
    conn->pending++;
    conn->tcp_handle = tcp;
    uv_tcp_nodelay(tcp, 1);
    conn->connect_req.data = conn;
    rc = uv_tcp_connect(&conn->connect_req, tcp, ai->ai_addr, on_connect);
    if (rc == 0) {
      conn->pending++;
      return;
    }
    conn->last_connect_err = rc;
    uv_close((uv_handle_t *)tcp, on_handle_closed);
    conn->tcp_handle = NULL;
    conn->next_addr = ai->ai_next;
  }
  if (in_user_call)
    fail_soon(conn, UVH_E_CONNECT, conn->last_connect_err ? conn->last_connect_err : UV_EADDRNOTAVAIL);
  else
    conn_fail(conn, UVH_E_CONNECT, conn->last_connect_err ? conn->last_connect_err : UV_EADDRNOTAVAIL, NULL);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  uvh_conn_t *conn = g->data;
  conn->pending--;
  conn->resolving = 0;
  if (conn->state == CONN_CLOSING) {
    if (res)
      uv_freeaddrinfo(res);
    conn_maybe_free(conn);
    return;
  }
  if (status < 0) {
    conn_fail(conn, UVH_E_RESOLVE, status, NULL);
    return;
  }
  conn->addrs = conn->next_addr = res;
  conn->state = CONN_CONNECTING;
  try_next_address(conn, 0);
}

int uvh__conn_start(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, uvh_conn_t **out) {
  uvh_conn_t *conn = calloc(1, sizeof *conn);
  struct addrinfo hints;
  char port[8];
  double ct;
  int rc;

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
  uvh_list_push_back(&d->conns, &conn->dest_link);
  d->nconns++;
  pool->size++;

  uv_timer_init(conn_uv(conn), &conn->timer);
  conn->timer.data = conn;
  /* the conn's other activity (a uv request or an active read) keeps the loop alive */
  uv_unref((uv_handle_t *)&conn->timer);
  conn->pending++;

  attach(conn, req);
  conn->state = CONN_RESOLVING;
  ct = req->connect_timeout >= 0 ? req->connect_timeout : req->timeout;
  conn->connect_deadline = ct > 0 ? uv_now(conn_uv(conn)) + uvh__seconds_to_ms(ct) : 0;
  uvh__conn_arm_timer(conn);

  if ((conn->addrs = literal_address(d->host, d->port)) != NULL) {
    conn->addrs_literal = 1;
    conn->next_addr = conn->addrs;
    conn->state = CONN_CONNECTING;
    try_next_address(conn, 1);
    if (out)
      *out = conn;
    return 0;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  snprintf(port, sizeof port, "%u", (unsigned)d->port);
  conn->gai.data = conn;
  rc = uv_getaddrinfo(conn_uv(conn), &conn->gai, on_resolved, d->host, port, &hints);
  if (rc == UV_ENOMEM) {
    /* undo everything: the caller reports the error synchronously */
    detach(conn);
    req->state = REQ_NEW;
    uvh__conn_close(conn);
    return UVH_E_NOMEM;
  }
  if (rc < 0) {
    /* a name the resolver refuses outright fails like one it cannot find */
    fail_soon(conn, UVH_E_RESOLVE, rc);
    if (out)
      *out = conn;
    return 0;
  }
  conn->pending++;
  conn->resolving = 1;
  if (out)
    *out = conn;
  return 0;
}

void uvh__conn_run(uvh_conn_t *conn, uvh_request_t *req) {
  if (conn->requests_served > 0)
    UVH_COUNT(conn->pool, conn->dest, reused);
  uvh_list_remove(&conn->idle_link);
  uvh_list_remove(&conn->lru_link);
  attach(conn, req);
  conn->state = CONN_ACTIVE;
  uv_ref((uv_handle_t *)conn->tcp_handle);
  uvh__conn_arm_timer(conn);
  /* written from the pool's check handle, once this iteration's reads
   * have shown whether the server closed the connection meanwhile */
  uvh__pool_defer_write(conn->pool, conn);
}

void uvh__conn_write_deferred(uvh_conn_t *conn) {
  if (conn->state == CONN_ACTIVE && conn->req)
    write_request(conn);
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
    conn->state = CONN_IDLE;
    uvh_list_push_front(&conn->dest->idle, &conn->idle_link);
    uvh_list_push_back(&pool->idle_lru, &conn->lru_link);
    uv_unref((uv_handle_t *)conn->tcp_handle);
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
  conn->state = CONN_CLOSING;
  UVH_COUNT(conn->pool, conn->dest, connections_closed);
  uvh_list_remove(&conn->idle_link);
  uv_timer_stop(&conn->timer);
  uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
  /* a graceful close says so (close_notify), when the session is sound and
   * the socket ours: never in a child closing what the parent still uses */
  if (conn->tls && conn->tcp_handle && conn->tls->handshake_done && !conn->tls->fatal && !conn->peer_gone &&
      !conn->pool->dropping_inherited) {
    char alert[256]; /* one alert record, whatever the cipher */
    uv_os_fd_t fd;
    size_t len = 0;
    uvh__tls_shutdown(conn->tls);
    if (uvh__tls_out_pending(conn->tls) <= sizeof alert)
      len = uvh__tls_take_out(conn->tls, alert, sizeof alert);
    /* best effort, never waited for; only behind everything already sent,
     * and with MSG_NOSIGNAL: a peer that just went away must not raise
     * SIGPIPE in the user's process */
    if (len && uv_stream_get_write_queue_size((uv_stream_t *)conn->tcp_handle) == 0 &&
        uv_fileno((uv_handle_t *)conn->tcp_handle, &fd) == 0 && send(fd, alert, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
      conn->peer_gone = 1;
  }
  if (conn->tcp_handle) {
    uv_close((uv_handle_t *)conn->tcp_handle, on_handle_closed);
    conn->tcp_handle = NULL;
  }
  /* a resolve in progress finishes (or is cancelled) into on_resolved */
  if (conn->resolving)
    uv_cancel((uv_req_t *)&conn->gai);
  uvh__pool_conn_closed(conn->pool, conn);
  uvh_conn_unref(conn);
}
