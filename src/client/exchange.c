/* exchange.c - one request on one connection: attach and detach, writing
 * the request, the response's bytes into the parser, the one keep-alive
 * decision (conn_reusable), retry after a stale keep-alive connection,
 * the pre-write stale check and late binding; a body streamed piece by
 * piece (the body pump) and the wait for a 100 Continue.
 *
 * Borrows the connection (conn.c owns its lifetime, timer, dial and
 * stream) and holds a reference to the running request.
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_request_tls(uvh_conn_t *conn);

void uvh__conn_attach(uvh_conn_t *conn, uvh_request_t *req) {
  uvh_pool_t *pool = conn->pool;
  size_t mh = req->max_headers_size == UVH_LIMIT_INHERIT ? pool->cfg.max_headers_size : req->max_headers_size;
  size_t mb = req->max_body_size == UVH_LIMIT_INHERIT ? pool->cfg.max_body_size : req->max_body_size;
  conn->req = req;
  req->conn = conn;
  uvh__request_set_state(req, REQ_RUNNING);
  req->on_reused_conn = conn->requests_served > 0;
  conn->nothing_written = 0;
  conn->bytes_hooked = 0;
  conn->body_pending = 0;
  conn->body_streaming = 0;
  conn->string_due = 0;
  conn->awaiting_continue = 0;
  conn->read_timeout_ms = uvh__seconds_to_ms(req->read_timeout >= 0 ? req->read_timeout : pool->cfg.read_timeout);
  conn->sent_at = 0;
  conn->response_bytes = 0;
  conn->resumed_at = 0;
  pool->nbusy++;
  uvh__parser_init(&conn->parser, req->resp, req->is_head, mh, mb);
  conn->parser.max_header_count =
      req->max_header_count == UVH_LIMIT_INHERIT ? pool->cfg.max_header_count : req->max_header_count;
  conn->parser.decode = req->head_decompress && !req->has_accept_encoding;
  if (req->partial_cb || req->paused) {
    conn->parser.stream = req->partial_cb != NULL;
    conn->bytes_hooked = 1;
  }
}

void uvh__conn_pause_changed(uvh_conn_t *conn) {
  if (conn->req->paused) {
    conn->bytes_hooked = 1;
    /* a request not yet answered stops at the first bytes of its response
     * (on_bytes_streamed): the TLS handshake and the write need reading */
    if (conn->state == CONN_ACTIVE && conn->response_bytes)
      uvh__stream_read_stop(&conn->stream);
  } else {
    conn->resumed_at = uv_now(conn->pool->loop->uv);
    uvh__stream_read_start(&conn->stream);
  }
  uvh__conn_arm_timer(conn);
}

uvh_request_t *uvh__conn_detach(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  if (req) {
    conn->req = NULL;
    req->conn = NULL;
    UVH_ASSERT(!uvh_list_linked(&req->queue_link));
    conn->body_pending = 0;
    conn->body_streaming = 0;
    conn->string_due = 0;
    conn->awaiting_continue = 0;
    if (conn->pump_deferred) {
      conn->pump_deferred = 0;
      uvh_list_remove(&conn->write_link);
    }
    if (conn->body_out.data && conn->stream.writing == 0)
      uvh_buf_free(&conn->body_out); /* else freed when the write is done */
    conn->pool->nbusy--;
    uvh__parser_release(&conn->parser); /* a decoder of an unfinished body */
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
  /* a streamed body cannot be replayed */
  return err == UVH_E_CONN_CLOSED && req->retry && !req->retried && req->on_reused_conn && !req->body_stream &&
         !uvh__parser_started(&conn->parser) && pool->loop &&
         (idempotent_method(req->method) || req->has_idempotency_key || req->idempotent ||
          conn->nothing_written) &&
         (req->deadline == 0 || uv_now(pool->loop->uv) < req->deadline);
}

/* Close the connection and fail its request (if any) with `err`, or send
 * the request again on a new connection when that is safe. */
void uvh__conn_fail(uvh_conn_t *conn, int err, int sys_err, const char *detail) {
  uvh_request_t *req = conn->req;
  uvh_dest_t *d = conn->dest;
  int retry;
  /* TLS 1.3 servers judge a client certificate after the client's side of
   * the handshake; their alert can be lost to the reset that follows, and
   * the close may meet our write or our read */
  if (err == UVH_E_CONN_CLOSED && conn->stream.tls && conn->stream.tls->cert_requested && conn->requests_served == 0 &&
      !uvh__parser_started(&conn->parser)) {
    err = UVH_E_TLS;
    detail = "the server asked for a client certificate, then closed the connection before answering: "
             "it refused the certificate sent, or wanted one";
  }
  retry = req && may_retry(conn, req, err);
  uvh__conn_detach(conn);
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
  uvh__conn_detach(conn);
  uvh_list_remove(&conn->write_link);
  UVH_COUNT(conn->pool, d, idle_closed_peer);
  uvh__pool_requeue(conn->pool, d, req, 0);
  uvh__conn_close(conn);
}

/* A connection still connecting gives its request to one that became idle
 * first. It goes on connecting to join the idle set, but not forever: with
 * no request's deadline left, it gets one of its own. */
void uvh__conn_take_from_connecting(uvh_conn_t *conn) {
  uvh__conn_detach(conn);
  if (conn->connect_deadline == 0) {
    conn->connect_deadline = uv_now(conn->pool->loop->uv) + UVH_ORPHAN_CONNECT_MS;
    uvh__conn_arm_timer(conn);
  }
}

void uvh__conn_abort(uvh_conn_t *conn) {
  uvh__conn_detach(conn);
  uvh__conn_close(conn);
}

/* ------------------------------------------------------------------ write */

/* The body is encrypted a chunk at a time, the next one once the last
 * has gone: however large the body, one chunk of ciphertext at most waits
 * in memory. */
#define UVH_TLS_BODY_CHUNK (256 * 1024)

/* Encrypt the head, then send it with as much of the body as the socket
 * takes now. */
static void write_request_tls(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  if (uvh__tls_write(conn->stream.tls, req->head.data, req->head.len) != 0) {
    uvh__conn_fail_soon(conn, UVH_E_TLS, 0);
    return;
  }
  conn->body_sent = 0;
  conn->body_pending = req->body_len > 0;
  uvh__conn_tls_send(conn, 1);
}

/* Encrypt the next body chunk (if any) and flush, again while nothing
 * waits to be written. `first`: the request's first flush, whose failure
 * may mean nothing of it was sent. */
void uvh__conn_tls_send(uvh_conn_t *conn, int first) {
  uvh_request_t *req = conn->req;
  int rc, nothing_sent;
  do {
    if (conn->body_pending) {
      size_t n = req->body_len - conn->body_sent;
      if (n > UVH_TLS_BODY_CHUNK)
        n = UVH_TLS_BODY_CHUNK;
      if (uvh__tls_write(conn->stream.tls, req->body + conn->body_sent, n) != 0) {
        conn->body_pending = 0;
        uvh__conn_fail_soon(conn, UVH_E_TLS, 0);
        return;
      }
      conn->body_sent += n;
      conn->body_pending = conn->body_sent < req->body_len;
    }
    if ((rc = uvh__stream_flush(&conn->stream, &nothing_sent)) < 0) {
      conn->nothing_written = first && nothing_sent;
      conn->body_pending = 0;
      uvh__conn_fail_soon(conn, UVH_E_CONN_CLOSED, rc);
      return;
    }
    first = 0;
  } while (conn->body_pending && conn->stream.writing == 0);
  if (conn->stream.writing == 0)
    uvh__conn_request_sent(conn);
}

/* Write `len` bytes of the body on their own: plain, or encrypted and
 * flushed. 0, or the failure (reported on the next tick). */
static int write_piece(uvh_conn_t *conn, char *data, size_t len) {
  int rc, nothing;
  if (conn->stream.tls) {
    if (uvh__tls_write(conn->stream.tls, data, len) != 0) {
      uvh__conn_fail_soon(conn, UVH_E_TLS, 0);
      return UVH_E_TLS;
    }
    rc = uvh__stream_flush(&conn->stream, &nothing);
  } else {
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    rc = uvh__stream_write(&conn->stream, &buf, 1, &nothing);
  }
  if (rc < 0)
    uvh__conn_fail_soon(conn, UVH_E_CONN_CLOSED, rc);
  return rc;
}

/* The body goes out: right after the head, or when the wait for a 100 ends. */
static void body_begin(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  if (!req->body_stream && !req->chunked && conn->stream.tls) {
    /* a string body after the wait: a chunk of ciphertext at a time, as always */
    conn->body_sent = 0;
    conn->body_pending = req->body_len > 0;
    uvh__conn_tls_send(conn, 0);
    return;
  }
  if (!req->body_stream) {
    /* a string body: chunked framing of its own (sent again on a retry),
     * or written as it is once the head has gone */
    uvh_buf_clear(&req->body_next);
    if (req->chunked && ((req->body_len && uvh__h1_chunk(&req->body_next, req->body, req->body_len)) ||
                         uvh__h1_last_chunk(&req->body_next))) {
      uvh__conn_fail(conn, UVH_E_NOMEM, 0, "the chunked body");
      return;
    }
    conn->string_due = !req->chunked && req->body_len > 0;
  }
  conn->body_streaming = 1;
  uvh__conn_body_pump(conn);
}

/* Has the whole body been handed to the socket? */
static int body_done(const uvh_conn_t *conn, const uvh_request_t *req) {
  return req->body_next.len == 0 && !conn->string_due && (!req->body_stream || req->body_ended);
}

/* The body pump: one piece written at a time, the next taken (or asked
 * for) once the socket has the last one, so at most one piece of a pulled
 * body is in memory. It stops while a write is in flight (its completion
 * calls again), while a pushed body waits for its next piece
 * (uvh_request_send_body calls again), and when the body has gone. */
void uvh__conn_body_pump(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  size_t burst = 0; /* bytes the socket took at once in this call */
  while (conn->req == req && conn->body_streaming && conn->stream.writing == 0 && !conn->deferred_code) {
    uvh_buf_t t;
    burst += conn->body_out.len;
    uvh_buf_clear(&conn->body_out); /* the last piece has gone */
    if (burst >= UVH_BODY_BURST) {
      /* a socket that takes every piece at once would keep this loop
       * from the poll: the response (an early 413) must be read */
      if (!uvh_list_linked(&conn->write_link)) {
        conn->pump_deferred = 1;
        uvh__pool_defer_write(conn->pool, conn);
      }
      return;
    }
    if (req->body_next.len) {
      t = conn->body_out;
      conn->body_out = req->body_next;
      req->body_next = t;
      if (write_piece(conn, conn->body_out.data, conn->body_out.len) < 0)
        return;
      continue;
    }
    if (conn->string_due) {
      conn->string_due = 0;
      if (write_piece(conn, req->body, req->body_len) < 0)
        return;
      continue;
    }
    if (body_done(conn, req)) {
      conn->body_streaming = 0;
      uvh__conn_request_sent(conn);
      return;
    }
    if (req->pull == NULL || conn->in_pull)
      return;
    /* the owner's piece, given from inside pull, is written by this loop */
    uvh_conn_ref(conn);
    conn->in_pull = 1;
    req->pull(req, req->cb_data);
    conn->in_pull = 0;
    uvh_conn_unref(conn);
    if (conn->req == req && req->body_next.len == 0 && !req->body_ended)
      return; /* it answers later */
  }
}

void uvh__conn_body_go(uvh_conn_t *conn, int continued) {
  uvh_request_t *req = conn->req;
  conn->awaiting_continue = 0;
  uvh__conn_arm_timer(conn);
  if (continued) {
    /* the 100 is not the response: the read timeout waits for the body to go */
    conn->response_bytes = 0;
    if (req->on_continue) {
      uvh_conn_ref(conn);
      req->on_continue(req, req->cb_data);
      uvh_conn_unref(conn);
      if (conn->req != req)
        return; /* it ended the request */
    }
  }
  body_begin(conn);
}

/* Write the head alone: the body follows it piece by piece, or after a 100. */
static void write_head_alone(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  int rc, nothing = 0;
  if (conn->stream.tls) {
    if (uvh__tls_write(conn->stream.tls, req->head.data, req->head.len) != 0) {
      uvh__conn_fail_soon(conn, UVH_E_TLS, 0);
      return;
    }
    rc = uvh__stream_flush(&conn->stream, &nothing);
  } else {
    uv_buf_t buf = uv_buf_init(req->head.data, (unsigned)req->head.len);
    rc = uvh__stream_write(&conn->stream, &buf, 1, &nothing);
  }
  if (rc < 0) {
    conn->nothing_written = nothing;
    uvh__conn_fail_soon(conn, UVH_E_CONN_CLOSED, rc);
    return;
  }
  if (req->expects_continue) {
    conn->awaiting_continue = 1;
    conn->expect_deadline = uv_now(conn->pool->loop->uv) +
        uvh__seconds_to_ms(req->expect_timeout >= 0 ? req->expect_timeout : conn->pool->cfg.expect_timeout);
    uvh__conn_arm_timer(conn);
    return;
  }
  body_begin(conn);
}

/* Write the running request: at once as far as the socket takes it. */
void uvh__conn_write_request(uvh_conn_t *conn) {
  uvh_request_t *req = conn->req;
  uv_buf_t bufs[2];
  unsigned n = 1;
  int rc, nothing_written;
  if (req->body_stream || req->chunked || (req->expects_continue && req->body_len)) {
    write_head_alone(conn);
    return;
  }
  if (conn->stream.tls) {
    write_request_tls(conn);
    return;
  }
  bufs[0] = uv_buf_init(req->head.data, (unsigned)req->head.len);
  if (req->body_len)
    bufs[n++] = uv_buf_init(req->body, (unsigned)req->body_len);
  if ((rc = uvh__stream_write(&conn->stream, bufs, n, &nothing_written)) < 0) {
    if (nothing_written)
      conn->nothing_written = 1;
    uvh__conn_fail_soon(conn, UVH_E_CONN_CLOSED, rc);
  } else if (conn->stream.writing == 0) {
    uvh__conn_request_sent(conn);
  }
}

/* ------------------------------------------------------------- response */

/* The one keep-alive decision: may this connection carry another request? */
static int conn_reusable(uvh_conn_t *conn, uvh_request_t *req, size_t unread) {
  const uvh_parser_t *p = &conn->parser;
  const uvh_pool_config_t *cfg = &conn->pool->cfg;
  /* a body not wholly sent (an early response, or a final one instead of
   * a 100) leaves the server expecting the rest: never reused */
  return !conn->pool->released && conn->pool->loop && unread == 0 && !conn->stream.writing && !conn->body_pending &&
         !conn->body_streaming && !conn->awaiting_continue &&
         !conn->stream.peer_gone && !conn->deferred_code &&
         !req->wants_close && p->resp->keep_alive && !p->needs_eof && p->ka_timeout != 0 &&
         conn->requests_served < conn->allowed_requests &&
         (cfg->max_requests_per_connection == 0 || conn->requests_served < cfg->max_requests_per_connection) &&
         (cfg->max_lifetime == 0 ||
          uv_now(conn->pool->loop->uv) - conn->connected_at < uvh__seconds_to_ms(cfg->max_lifetime));
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
  uvh__conn_detach(conn);
  if (reuse && conn->stream.read_stopped)
    uvh__stream_read_start(&conn->stream); /* after a pause: an idle connection watches for the server's close */
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

/* Bytes, EOF or an error met a connection with no request in flight: an
 * idle one is unusable now, and one whose request waits for the pre-write
 * check gives the request back. Returns 1 when it handled the event. */
int uvh__conn_settled_without_request(uvh_conn_t *conn) {
  if (conn->state == CONN_IDLE || conn->req == NULL) {
    UVH_COUNT(conn->pool, conn->dest, idle_closed_peer);
    uvh__conn_close(conn);
    return 1;
  }
  if (uvh_list_linked(&conn->write_link) && !conn->pump_deferred) {
    conn_stale_before_write(conn);
    return 1;
  }
  return 0;
}

/* Call the running request's partial hook; 1 while the request still
 * runs on the connection afterwards (the hook may cancel it). */
static int call_partial(uvh_conn_t *conn, uvh_request_t *req, int head) {
  int rc;
  if (head)
    req->resp->streamed = 1; /* the hook was given the head (the request's callback may want to know) */
  rc = req->partial_cb(req, req->resp, head, req->cb_data);
  if (conn->req != req || conn->state != CONN_ACTIVE)
    return 0;
  if (head && rc == UVH_PARTIAL_BUFFER) {
    req->resp->streamed = 0;
    conn->parser.stream = 0; /* buffered after all, as without the hook */
  }
  return 1;
}

/* A decoded body streams through the parser this many coded bytes at a
 * time, so that one piece is bounded by what they decode to (gzip and
 * deflate: about 1000 times as much), not by what a read decodes to. */
#define UVH_DECODED_SLICE 4096

/* uvh__conn_on_bytes when the body streams (or the request was paused):
 * the head goes to the partial hook before any of the body, then each
 * piece the parser made of this read, which leaves the body empty. */
static void on_bytes_streamed(uvh_conn_t *conn, const char *data, size_t len, size_t more) {
  uvh_request_t *req = conn->req;
  uvh_response_t *resp = req->resp;
  size_t used = 0;
  int rc;
  uvh_request_ref(req);
  uvh_conn_ref(conn);
  for (;;) {
    size_t n = conn->parser.decoder && resp->streamed && len > UVH_DECODED_SLICE ? UVH_DECODED_SLICE : len;
    rc = uvh__parser_feed(&conn->parser, data, n, &used);
    /* a response with no body (HEAD, 204, 304) completes without a pause */
    if ((rc == UVH_PARSER_HEAD || rc == 1) && conn->parser.stream && !resp->streamed &&
        !call_partial(conn, req, 1))
      goto out;
    if (rc == UVH_PARSER_HEAD) {
      data += used;
      len -= used;
      continue;
    }
    if (rc >= 0 && resp->streamed && resp->body.len) {
      size_t taken = resp->body.len;
      if (!call_partial(conn, req, 0))
        goto out;
      resp->body.len = 0; /* the hook had it (the binding may have taken its storage) */
      conn->parser.body_taken += taken;
    }
    if (rc != 0 || n == len)
      break;
    data += n;
    len -= n;
  }
  /* `len` counts from the last feed's start: what it did not use is unread */
  if (rc == 1)
    conn_finish(conn, len - used + more);
  else if (rc < 0)
    uvh__conn_fail(conn, rc, 0, uvh__parser_reason(&conn->parser));
  else if (req->paused)
    uvh__stream_read_stop(&conn->stream);
out:
  uvh_conn_unref(conn);
  uvh_request_unref(req);
}

/* Response bytes (plaintext) arrived; `more` bytes beyond these are
 * already buffered (TLS). */
void uvh__conn_on_bytes(uvh_conn_t *conn, const char *data, size_t len, size_t more) {
  size_t used;
  int rc, early;
  if (uvh__conn_settled_without_request(conn))
    return;
  /* a response that starts while the request is still being written:
   * its read timeout runs from now, not only once the request is sent */
  early = conn->response_bytes == 0 && conn->sent_at == 0 && len;
  conn->response_bytes += len;
  if (early && conn->read_timeout_ms)
    uvh__conn_arm_timer(conn);
  if (conn->bytes_hooked) {
    on_bytes_streamed(conn, data, len, more);
    return;
  }
  rc = uvh__parser_feed(&conn->parser, data, len, &used);
  if (rc == 1)
    conn_finish(conn, len - used + more);
  else if (rc < 0)
    uvh__conn_fail(conn, rc, 0, uvh__parser_reason(&conn->parser));
  else if (conn->parser.continue_seen) {
    conn->parser.continue_seen = 0;
    if (conn->awaiting_continue)
      uvh__conn_body_go(conn, 1);
  }
}

/* The server closed (err UV_EOF; `clean`: with a TLS close_notify) or
 * the connection failed (err < 0). */
void uvh__conn_on_peer_closed(uvh_conn_t *conn, int err, int clean) {
  int rc;
  conn->stream.peer_gone = 1;
  if (uvh__conn_settled_without_request(conn))
    return;
  if (err != UV_EOF) {
    uvh__conn_fail(conn, UVH_E_CONN_CLOSED, err, NULL);
    return;
  }
  if (conn->stream.tls && !clean && conn->parser.needs_eof && uvh__parser_started(&conn->parser)) {
    /* only close_notify proves that a close-delimited body is whole */
    uvh__conn_fail(conn, UVH_E_TLS, 0, "the server closed the connection without a TLS close_notify, so the body "
                                  "(delimited by the close) may be truncated");
    return;
  }
  rc = uvh__parser_eof(&conn->parser);
  if (rc == 1)
    conn_finish(conn, 0);
  else
    uvh__conn_fail(conn, rc, 0, rc == UVH_E_PROTOCOL ? uvh__parser_reason(&conn->parser) : "server closed the connection");
}

