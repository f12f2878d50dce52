/* conn.c - one accepted connection of the server: its state machine and
 * the response writer (see server.h).
 *
 * Requests are parsed one at a time: bytes beyond the current request
 * wait in `pending` (reading pauses past UVH_SERVER_READ_AHEAD) until its
 * response is written, so pipelined requests are answered in order. A
 * response given inside on_request lets the dispatch loop go on with the
 * next pipelined request; one given later resumes it from the loop (the
 * timer at 0), so no call of the owner's ever runs its callback again.
 */
#include "server/server.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONN(st) uvh_container_of(st, uvh_server_conn_t, s)


/* The request is the owner's now, or done with: tell the activity watcher. */
static void activity_start(uvh_server_t *srv, uvh_server_req_t *req) {
  if (req->counted || srv->activity == NULL || srv->loop == NULL)
    return;
  req->counted = 1;
  /* the clock now, not the loop's cached time: a handler that blocked
   * earlier in this iteration must not make this request look old */
  srv->activity(srv->activity_data, 1, uvh_monotonic_ms());
}

static void activity_end(uvh_server_t *srv, uvh_server_req_t *req) {
  if (!req->counted)
    return;
  req->counted = 0;
  if (srv->activity && srv->loop)
    srv->activity(srv->activity_data, -1, uvh_monotonic_ms());
}

static void conn_process(uvh_server_conn_t *c);
static void conn_ref(uvh_server_conn_t *c) { c->refs++; }

static void conn_unref(uvh_server_conn_t *c) {
  uvh_server_t *srv = c->srv;
  if (--c->refs > 0)
    return;
  uvh__stream_free(&c->s);
  uvh__parser_release(&c->parser);
  if (c->req)
    uvh_server_req_unref(c->req);
  uvh_buf_free(&c->pending);
  uvh_buf_free(&c->out);
  uvh_buf_free(&c->wbuf);
  free(c);
  uvh__server_handle_gone(srv);
}

static uint64_t ms(double seconds) { return (uint64_t)(seconds * 1000 + 0.5); }

static void on_timer(uv_timer_t *t);

/* The one writer of c->state; it also arms the timer each state wants. */
static void set_state(uvh_server_conn_t *c, uvh_server_conn_state_t state) {
  const uvh_server_config_t *cfg = &c->srv->cfg;
  c->state = state;
  switch (state) {
  case UVH_SC_IDLE:
    if (cfg->idle_timeout > 0)
      uv_timer_start(&c->timer, on_timer, ms(cfg->idle_timeout), 0);
    else
      uv_timer_stop(&c->timer);
    break;
  case UVH_SC_READING:
    if (cfg->read_timeout > 0)
      uv_timer_start(&c->timer, on_timer, ms(cfg->read_timeout), 0);
    else
      uv_timer_stop(&c->timer);
    break;
  case UVH_SC_LINGER:
    uv_timer_start(&c->timer, on_timer, UVH_SERVER_LINGER_MS, 0);
    break;
  default:
    uv_timer_stop(&c->timer);
    break;
  }
}

static void on_timer_closed(uv_handle_t *h) { conn_unref(h->data); }

void uvh__server_conn_close(uvh_server_conn_t *c, int notify) {
  uvh_server_t *srv = c->srv;
  uvh_server_req_t *req = c->req;
  int dropped = 0, drain_gone = 0;
  if (c->state == UVH_SC_CLOSED)
    return;
  c->state = UVH_SC_CLOSED;
  uvh_list_remove(&c->link);
  srv->nopen--;
  if (c->counted) {
    srv->nconns--;
    c->counted = 0;
  }
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
  uvh__stream_close(&c->s, 1);
  uvh__server_conn_gone(srv);
  /* a request handed to the owner and not answered is dropped */
  if (req && req->conn == c) {
    req->conn = NULL;
    activity_end(srv, req);
    /* one still being read was never the owner's: no on_drop for it */
    if (req->dispatched && !req->answered) {
      req->dropped = 1;
      dropped = 1;
    } else if (req->want_drain) {
      /* a streamed body waiting for the socket: its owner learns it is gone */
      req->want_drain = 0;
      drain_gone = notify;
    }
  }
  if ((dropped && notify && srv->ops.on_drop) || drain_gone) {
    uvh_server_req_ref(req);
    if (dropped)
      srv->ops.on_drop(srv, req, srv->data); /* the last thing */
    else
      srv->ops.on_drain(srv, req, srv->data);
    uvh_server_req_unref(req);
  }
}

/* ----------------------------------------------------------------- writing */

/* Write `wbuf`. The stream has one plain write in flight at a time, so
 * `out` collects what comes meanwhile (pump). */
static int write_wbuf(uvh_server_conn_t *c) {
  uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
  int nothing;
  if (c->s.peer_gone)
    return UV_EPIPE;
  if (c->s.tls) {
    if (uvh__tls_write(c->s.tls, c->wbuf.data, c->wbuf.len) != 0)
      return UV_EPROTO;
    return uvh__stream_flush(&c->s, NULL);
  }
  return uvh__stream_write(&c->s, &b, 1, &nothing);
}

static void on_shutdown(uv_shutdown_t *r, int status) {
  uvh_server_conn_t *c = r->data;
  if (status < 0 && c->state == UVH_SC_LINGER)
    uvh__server_conn_close(c, 1);
  conn_unref(c);
}

/* The last response is out: say so (a TLS close_notify, then a FIN) and
 * drain what the client still sends, for a while, before closing. */
static void linger(uvh_server_conn_t *c) {
  set_state(c, UVH_SC_LINGER);
  if (c->peer_eof || c->s.peer_gone || c->s.handle == NULL) {
    uvh__server_conn_close(c, 1);
    return;
  }
  if (c->s.tls && c->s.tls->handshake_done && !c->s.tls->fatal) {
    uvh__tls_shutdown(c->s.tls);
    if (uvh__stream_flush(&c->s, NULL) < 0) {
      uvh__server_conn_close(c, 1);
      return;
    }
  }
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, c->s.handle, on_shutdown) == 0)
    conn_ref(c);
  else
    uvh__server_conn_close(c, 1);
}

/* The response is written: the request is done with. */
static void response_written(uvh_server_conn_t *c) {
  uvh_server_req_t *req = c->req;
  uvh_buf_clear(&c->out);
  uvh_buf_clear(&c->wbuf);
  c->resp_done = 0;
  c->drain_tick = 0;
  c->body_mode = UVH_SB_NONE;
  if (req) {
    req->conn = NULL;
    c->req = NULL;
    activity_end(c->srv, req);
    uvh_server_req_unref(req);
  }
  /* graceful_stop came while it was written: kept alive, it would now sit
   * idle until the deadline; it goes as idle ones did then (one with a
   * request read ahead answers it first, with Connection: close) */
  if (c->close_after || (c->srv->draining && c->pending.len == 0)) {
    linger(c);
    return;
  }
  set_state(c, UVH_SC_IDLE);
  if (c->in_dispatch)
    return; /* the dispatch loop goes on */
  /* a response from outside the dispatch: the next request is parsed from
   * the loop, never inside the owner's call */
  c->resume = 1;
  uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* A big write that the client drains slowly makes progress that shows
 * only in the unsent bytes (libuv's and the kernel's queues). */
static void arm_write_timeout(uvh_server_conn_t *c) {
  c->write_mark = uvh__stream_unsent(&c->s);
  c->drain_tick = 0; /* the timer is the write's now: its end runs drain_notify */
  uv_timer_start(&c->timer, on_timer, ms(c->srv->cfg.write_timeout), 0);
}

/* Write what `out` holds, one write at a time; once all of a complete
 * response is out, it is done. */
static void pump(uvh_server_conn_t *c) {
  while (c->state == UVH_SC_WRITING && c->s.writing == 0) {
    uvh_buf_t t;
    uvh_buf_clear(&c->wbuf);
    if (c->out.len == 0) {
      if (c->resp_done)
        response_written(c);
      return;
    }
    t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    if (write_wbuf(c) < 0) {
      uvh__server_conn_close(c, 1);
      return;
    }
    /* armed only while a write waits on the client: a handler that is
     * slow to send its next chunk is not the client's fault */
    if (c->srv->cfg.write_timeout > 0 && c->s.writing > 0)
      arm_write_timeout(c);
  }
}

static void send_out(uvh_server_conn_t *c) {
  if (c->state != UVH_SC_WRITING)
    set_state(c, UVH_SC_WRITING);
  pump(c);
}

/* All of a streamed response given so far is with the socket. */
static int drained(const uvh_server_conn_t *c) {
  return c->state == UVH_SC_WRITING && c->s.writing == 0 && c->out.len == 0 && !c->resp_done;
}

/* on_drain, when it is wanted and due; from the loop only. */
static void drain_notify(uvh_server_conn_t *c) {
  uvh_server_req_t *req = c->req;
  if (req == NULL || !req->want_drain || !drained(c))
    return;
  req->want_drain = 0;
  uvh_server_req_ref(req);
  conn_ref(c);
  c->srv->ops.on_drain(c->srv, req, c->srv->data); /* the last thing */
  conn_unref(c);
  uvh_server_req_unref(req);
}

/* An automatic response (an error the server answers itself); the
 * connection closes after it. */
static void send_error(uvh_server_conn_t *c, int status, const char *reason) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                   status, reason, uvh__server_date(c->srv), strlen(reason) + 1, reason);
  uvh_buf_clear(&c->out);
  if (uvh_buf_append(&c->out, head, (size_t)n) != 0) {
    uvh__server_conn_close(c, 1);
    return;
  }
  c->close_after = 1;
  c->resp_done = 1;
  if (c->req)
    c->req->answered = c->req->complete = 1;
  send_out(c);
}

static const char *reason_for(int status) {
  switch (status) {
  case 100: return "Continue";
  case 102: return "Processing";
  case 103: return "Early Hints";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default:
    return status < 200   ? "Informational"
           : status < 300 ? "OK"
           : status < 400 ? "Redirect"
           : status < 500 ? "Client Error"
                          : "Server Error";
  }
}

static int req_error(uvh_server_req_t *req, int code, const char *fmt, const char *what, size_t len) {
  char shown[80];
  uvh_escape(shown, sizeof shown, what, len);
  snprintf(req->last_error, sizeof req->last_error, fmt, shown);
  return code;
}

static int name_is(const uvh_server_header_t *h, const char *name) {
  size_t n = strlen(name);
  return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* "Name: value\r\n"; non-zero when out of memory. */
static int append_header(uvh_buf_t *out, const uvh_server_header_t *h) {
  return uvh_buf_append(out, h->name, h->name_len) | uvh_buf_append(out, ": ", 2) |
         uvh_buf_append(out, h->value, h->value_len) | uvh_buf_append(out, "\r\n", 2);
}

/* A header's name is a token and its value has no CR, LF or NUL. */
static int check_header(uvh_server_req_t *req, const uvh_server_header_t *h) {
  size_t j;
  if (!uvh__h1_is_token(h->name, h->name_len))
    return req_error(req, UVH_E_BADHEADER, "header name '%s' is not a token", h->name, h->name_len);
  for (j = 0; j < h->value_len; j++)
    if (h->value[j] == '\r' || h->value[j] == '\n' || h->value[j] == '\0')
      return req_error(req, UVH_E_BADHEADER, "the value of header '%s' has a CR, LF or NUL", h->name, h->name_len);
  return 0;
}

static int check_reason(uvh_server_req_t *req, const char *reason, size_t reason_len) {
  size_t i;
  for (i = 0; i < reason_len; i++)
    if (((unsigned char)reason[i] < 0x20 && reason[i] != '\t') || reason[i] == 0x7f)
      return req_error(req, UVH_E_BADARG, "the reason phrase '%s' has a control character", reason, reason_len);
  return 0;
}

/* Does a Connection value list "close"? */
static int says_close(const char *v, size_t len) {
  size_t i;
  for (i = 0; i + 5 <= len; i++)
    if (strncasecmp(v + i, "close", 5) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
        (i + 5 == len || v[i + 5] == ' ' || v[i + 5] == ','))
      return 1;
  return 0;
}

/* The one keep-alive verdict: both sides allow it, and the server is not
 * stopping or at its limit for the connection. (The request was read
 * whole before the owner had it, so the parser is in a clean state.) */
static int keeps_alive(const uvh_server_conn_t *c, const uvh_server_req_t *req, int owner_close) {
  const uvh_server_config_t *cfg = &c->srv->cfg;
  return req->msg.keep_alive && c->parser.complete && !owner_close && !c->srv->stopped && !c->srv->draining &&
         !c->peer_eof &&
         !c->s.peer_gone &&
         (cfg->max_keepalive_requests == 0 || c->served < cfg->max_keepalive_requests);
}

/* Check a response's status, reason and headers and write its head into
 * `out`; `streaming`: the body follows in pieces (chunked for HTTP/1.1,
 * up to the close for 1.0). 0, or an error with req->last_error set. */
static int start_response(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                          const uvh_server_header_t *headers, size_t nheaders, size_t body_len, int streaming) {
  uvh_server_conn_t *c = req->conn;
  uvh_buf_t *out;
  size_t i;
  int has_date = 0, owner_close = 0, no_body, is_head, given_length = 0, rc = 0;
  unsigned long long stream_length = 0;
  char line[64];

  if (req->answered)
    return req_error(req, UVH_E_BUSY, "the request was already answered%s", "", 0);
  if (c == NULL || req->dropped)
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  if (status < 200 || status > 999) {
    snprintf(line, sizeof line, "%d", status);
    return req_error(req, UVH_E_BADARG, "status must be a number from 200 to 999, got %s", line, strlen(line));
  }
  if (reason == NULL) {
    reason = reason_for(status);
    reason_len = strlen(reason);
  }
  if ((rc = check_reason(req, reason, reason_len)) != 0)
    return rc;
  no_body = status == 204 || status == 304;
  is_head = req->msg.method == HTTP_HEAD;
  if (no_body && body_len)
    return req_error(req, UVH_E_BADARG, "a %s response has no body", status == 204 ? "204" : "304", 3);
  for (i = 0; i < nheaders; i++) {
    const uvh_server_header_t *h = &headers[i];
    size_t j;
    if ((rc = check_header(req, h)) != 0)
      return rc;
    if (name_is(h, "transfer-encoding"))
      return req_error(req, UVH_E_BADHEADER, "header '%s' is the server's to set (it frames the body itself)",
                       h->name, h->name_len);
    if (name_is(h, "content-length")) {
      unsigned long long n = 0;
      int digits = 0;
      for (j = 0; j < h->value_len; j++, digits++)
        if (h->value[j] < '0' || h->value[j] > '9' || n > 1ULL << 60)
          break;
        else
          n = n * 10 + (unsigned)(h->value[j] - '0');
      if (j < h->value_len || digits == 0)
        return req_error(req, UVH_E_BADHEADER, "Content-Length '%s' is not a number", h->value, h->value_len);
      /* HEAD answers with the length a GET would have, and no body; a
       * streamed body is held to it as it comes */
      if (!is_head && !no_body && !streaming && n != body_len)
        return req_error(req, UVH_E_BADHEADER, "Content-Length %s does not match the body's length", h->value,
                         h->value_len);
      given_length = 1;
      stream_length = n;
    }
    if (name_is(h, "date"))
      has_date = 1;
    if (name_is(h, "connection") && says_close(h->value, h->value_len))
      owner_close = 1;
  }

  out = &c->out;
  c->served++;
  c->close_after = !keeps_alive(c, req, owner_close);
  c->body_mode = no_body || is_head ? UVH_SB_NONE : !streaming ? UVH_SB_WHOLE
               : given_length ? UVH_SB_LENGTH : req->msg.http_minor ? UVH_SB_CHUNKED : UVH_SB_TO_CLOSE;
  c->body_left = stream_length;
  /* HTTP/1.0 has no chunked framing: the body runs to the close */
  if (c->body_mode == UVH_SB_TO_CLOSE || (streaming && is_head && !req->msg.http_minor && !given_length))
    c->close_after = 1;
  snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
  rc |= uvh_buf_append_str(out, line);
  rc |= uvh_buf_append(out, reason, reason_len);
  rc |= uvh_buf_append(out, "\r\n", 2);
  if (!has_date)
    rc |= uvh_buf_append_str(out, uvh__server_date(c->srv));
  for (i = 0; i < nheaders; i++) {
    const uvh_server_header_t *h = &headers[i];
    if (name_is(h, "connection") || (name_is(h, "content-length") && !is_head && c->body_mode != UVH_SB_LENGTH))
      continue;
    rc |= append_header(out, h);
  }
  if (!no_body && streaming && req->msg.http_minor && !given_length) {
    /* a HEAD is told what the GET would get */
    rc |= uvh_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
  } else if (!no_body && !streaming && !(is_head && given_length)) {
    rc |= uvh_buf_append_str(out, "Content-Length: ");
    rc |= uvh_buf_append_uint(out, body_len);
    rc |= uvh_buf_append(out, "\r\n", 2);
  }
  if (c->close_after)
    rc |= uvh_buf_append_str(out, "Connection: close\r\n");
  else if (req->msg.http_minor == 0)
    rc |= uvh_buf_append_str(out, "Connection: keep-alive\r\n");
  rc |= uvh_buf_append(out, "\r\n", 2);
  if (rc) {
    c->served--;
    uvh_buf_clear(out);
    return req_error(req, UVH_E_NOMEM, "no memory for the response%s", "", 0);
  }
  req->answered = 1;
  return 0;
}

int uvh_server_respond(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                       const uvh_server_header_t *headers, size_t nheaders, const char *body, size_t body_len) {
  uvh_server_conn_t *c = req->conn;
  int rc = start_response(req, status, reason, reason_len, headers, nheaders, body_len, 0);
  if (rc)
    return rc;
  if (c->body_mode == UVH_SB_WHOLE && body_len && uvh_buf_append(&c->out, body, body_len) != 0) {
    /* the head is promised: nothing sound can follow it */
    uvh__server_conn_close(c, 1);
    return req_error(req, UVH_E_NOMEM, "no memory for the response%s", "", 0);
  }
  req->complete = 1;
  c->resp_done = 1;
  send_out(c);
  return 0;
}

int uvh_server_respond_start(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                             const uvh_server_header_t *headers, size_t nheaders) {
  int rc = start_response(req, status, reason, reason_len, headers, nheaders, 0, 1);
  if (rc)
    return rc;
  send_out(req->conn);
  return 0;
}

/* Why a call for a streamed response being sent does not fit now. */
static const char *not_streaming(const uvh_server_req_t *req) {
  return req->complete ? "the response is complete already" : "no streamed response was started (respond_start)";
}

/* A piece of a streamed body, the last one when `final`. */
static int send_piece(uvh_server_req_t *req, const char *data, size_t len, int final) {
  uvh_server_conn_t *c = req->conn;
  int rc = 0;
  if (!req->complete && (c == NULL || req->dropped))
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  if (!req->answered || req->complete || c->body_mode == UVH_SB_WHOLE)
    return req_error(req, UVH_E_BADARG, "%s", not_streaming(req), strlen(not_streaming(req)));
  if (c->body_mode == UVH_SB_LENGTH && len > c->body_left)
    return req_error(req, UVH_E_BADARG, "the piece goes past the Content-Length given%s", "", 0);
  if (c->body_mode == UVH_SB_CHUNKED) {
    rc |= uvh__h1_chunk(&c->out, data, len);
    if (final)
      rc |= uvh__h1_last_chunk(&c->out);
  } else if ((c->body_mode == UVH_SB_TO_CLOSE || c->body_mode == UVH_SB_LENGTH) && len) {
    rc |= uvh_buf_append(&c->out, data, len);
    c->body_left -= c->body_mode == UVH_SB_LENGTH ? len : 0;
  }
  if (rc) {
    uvh__server_conn_close(c, 1);
    return req_error(req, UVH_E_NOMEM, "no memory for the response%s", "", 0);
  }
  if (final) {
    req->complete = 1;
    req->want_drain = 0; /* the owner is done: nothing to wait for */
    c->resp_done = 1;
    c->drain_tick = 0;
    /* fewer bytes than promised: only the close tells the client */
    if (c->body_mode == UVH_SB_LENGTH && c->body_left)
      c->close_after = 1;
  }
  send_out(c);
  return 0;
}

size_t uvh_server_req_queued_bytes(const uvh_server_req_t *req) {
  const uvh_server_conn_t *c = req->conn;
  if (c == NULL || req->dropped)
    return 0;
  return c->out.len + (c->s.writing ? c->wbuf.len : 0);
}

int uvh_server_req_want_drain(uvh_server_req_t *req) {
  uvh_server_conn_t *c = req->conn;
  if (!req->complete && (c == NULL || req->dropped))
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  if (!req->answered || req->complete)
    return req_error(req, UVH_E_BADARG, "%s", not_streaming(req), strlen(not_streaming(req)));
  if (c->srv->ops.on_drain == NULL)
    return req_error(req, UVH_E_BADARG, "the server's owner takes no on_drain%s", "", 0);
  req->want_drain = 1;
  if (drained(c) && !c->drain_tick) {
    /* due already: on the next tick, never from inside this call */
    c->drain_tick = 1;
    uv_timer_start(&c->timer, on_timer, 0, 0);
  }
  return 0;
}

int uvh_server_send_informational(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                                  const uvh_server_header_t *headers, size_t nheaders) {
  uvh_server_conn_t *c = req->conn;
  uvh_buf_t head;
  char line[64];
  size_t i;
  int rc = 0;
  if (req->answered)
    return req_error(req, UVH_E_BUSY, "the final response began already%s", "", 0);
  if (c == NULL || req->dropped)
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  /* writing it would leave the rest of the request unread (send_out's
   * state takes the body for bytes behind the request) */
  if (c->state == UVH_SC_READING)
    return req_error(req, UVH_E_BADARG, "a 1xx goes after the request is read whole (not from on_head or on_body)%s",
                     "", 0);
  if (status < 100 || status > 199 || status == 101) {
    snprintf(line, sizeof line, "%d", status);
    return req_error(req, UVH_E_BADARG, "an informational status is 100 to 199 but 101, got %s", line, strlen(line));
  }
  if (req->msg.http_minor == 0)
    return req_error(req, UVH_E_BADARG, "an HTTP/1.0 client takes no 1xx response%s", "", 0);
  if (reason == NULL) {
    reason = reason_for(status);
    reason_len = strlen(reason);
  }
  if ((rc = check_reason(req, reason, reason_len)) != 0)
    return rc;
  for (i = 0; i < nheaders; i++) {
    const uvh_server_header_t *h = &headers[i];
    if ((rc = check_header(req, h)) != 0)
      return rc;
    if (name_is(h, "content-length") || name_is(h, "transfer-encoding") || name_is(h, "connection"))
      return req_error(req, UVH_E_BADHEADER, "header '%s' has no place in a 1xx response", h->name, h->name_len);
  }
  uvh_buf_init(&head);
  snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
  rc |= uvh_buf_append_str(&head, line);
  rc |= uvh_buf_append(&head, reason, reason_len);
  rc |= uvh_buf_append(&head, "\r\n", 2);
  for (i = 0; i < nheaders; i++)
    rc |= append_header(&head, &headers[i]);
  rc |= uvh_buf_append(&head, "\r\n", 2);
  rc |= uvh_buf_append(&c->out, head.data, head.len);
  uvh_buf_free(&head);
  if (rc)
    return req_error(req, UVH_E_NOMEM, "no memory for the response%s", "", 0);
  send_out(c);
  return 0;
}

int uvh_server_send_chunk(uvh_server_req_t *req, const char *data, size_t len) {
  return send_piece(req, data, len, 0);
}

int uvh_server_send_final_chunk(uvh_server_req_t *req, const char *data, size_t len) {
  return send_piece(req, data, len, 1);
}

int uvh_server_req_detach(uvh_server_req_t *req, int *fd_out) {
  uvh_server_conn_t *c = req->conn;
  uv_os_fd_t fd;
  int mine;
  if (req->answered)
    return req_error(req, UVH_E_BUSY, "the request was already answered%s", "", 0);
  if (c == NULL || req->dropped || c->s.handle == NULL || c->s.peer_gone)
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  if (c->s.tls)
    return req_error(req, UVH_E_BADARG, "a TLS connection cannot be handed over (its session is the server's)%s", "",
                     0);
  /* what was read ahead or is queued would be lost, or mixed with the owner's */
  if (c->state != UVH_SC_HANDLING || c->pending.len || c->out.len || c->s.writing)
    return req_error(req, UVH_E_BADARG, "the connection has bytes read ahead of the request or queued to write%s",
                     "", 0);
  if (uv_fileno((uv_handle_t *)c->s.handle, &fd) != 0)
    return req_error(req, UVH_E_CONN_CLOSED, "the client's connection is gone%s", "", 0);
  if ((mine = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
    return req_error(req, UVH_E_NOMEM, "no file descriptor for the handover%s", "", 0);
  req->answered = req->complete = 1; /* the owner's now: no on_drop, no 500 */
  /* the server's handle closes; the socket lives on in the owner's descriptor */
  uvh__server_conn_close(c, 0);
  *fd_out = mine;
  return 0;
}

void uvh_server_req_drop(uvh_server_req_t *req) {
  uvh_server_conn_t *c = req->conn;
  if (c == NULL)
    return;
  req->answered = 1; /* no on_drop for the owner's own drop */
  req->want_drain = 0; /* nor on_drain */
  uvh__server_conn_close(c, 0);
}

void uvh_server_req_fail(uvh_server_req_t *req) {
  uvh_server_conn_t *c = req->conn;
  if (c == NULL)
    return;
  if (req->complete) {
    /* the response is on its way: the connection closes after it */
    c->close_after = 1;
    return;
  }
  if (req->answered) {
    /* a streamed body cut short: the close tells the client it is incomplete */
    uvh__server_conn_close(c, 1);
    return;
  }
  send_error(c, 500, "Internal Server Error");
}

/* ----------------------------------------------------------------- reading */

/* Start reading the next request into a new request object. */
static int next_request(uvh_server_conn_t *c) {
  uvh_server_req_t *req = uvh__server_req_new();
  uvh_server_t *srv = c->srv;
  if (req == NULL)
    return UVH_E_NOMEM;
  req->secure = c->secure;
  if (c->peer.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->peer;
    uv_ip6_name(a, req->peer_addr, sizeof req->peer_addr);
    req->peer_port = ntohs(a->sin6_port);
  } else if (c->peer.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&c->peer;
    uv_ip4_name(a, req->peer_addr, sizeof req->peer_addr);
    req->peer_port = ntohs(a->sin_port);
  } else if (c->peer.ss_family == AF_UNIX) {
    /* the client's own path: most clients bind none (""), port 0 */
    const struct sockaddr_un *a = (const struct sockaddr_un *)&c->peer;
    snprintf(req->peer_addr, sizeof req->peer_addr, "%.*s", (int)sizeof a->sun_path, a->sun_path);
  }
  if (c->s.tls) {
    char subject[512], issuer[512];
    if (uvh__tls_peer_names(c->s.tls, subject, sizeof subject, issuer, sizeof issuer) &&
        ((req->client_subject = strdup(subject)) == NULL || (req->client_issuer = strdup(issuer)) == NULL ||
         (req->client_cert = uvh__tls_peer_cert(c->s.tls)) == NULL)) {
      uvh_server_req_unref(req);
      return UVH_E_NOMEM;
    }
  }
  c->req = req;
  req->conn = c;
  c->continued = 0;
  uvh__parser_init_request(&c->parser, &req->msg, srv->cfg.max_headers_size, srv->cfg.max_body_size);
  c->parser.max_multipart_size = srv->cfg.max_multipart_size;
  return 0;
}

/* The parser refused the request: the automatic answer. */
static void refuse_request(uvh_server_conn_t *c, int rc) {
  const char *why = uvh__parser_reason(&c->parser);
  uvh__parser_release(&c->parser);
  if (rc == UVH_E_TOO_LARGE) {
    /* past the head, a limit is the body's */
    if (c->parser.in_trailers)
      send_error(c, 413, "Content Too Large");
    else
      send_error(c, 431, "Request Header Fields Too Large");
  } else if (rc == UVH_E_NOMEM) {
    send_error(c, 503, "Service Unavailable");
  } else if (strncmp(why, "unsupported Transfer-Encoding", 29) == 0) {
    send_error(c, 501, "Not Implemented");
  } else if (llhttp_get_errno(&c->parser.llhttp) == HPE_INVALID_VERSION ||
             llhttp_get_errno(&c->parser.llhttp) == HPE_PAUSED_H2_UPGRADE || c->req->msg.http_major > 1) {
    send_error(c, 505, "HTTP Version Not Supported");
  } else {
    send_error(c, 400, "Bad Request");
  }
}

static void dispatch(uvh_server_conn_t *c) {
  uvh_server_t *srv = c->srv;
  uvh_server_req_t *req = c->req;
  set_state(c, UVH_SC_HANDLING);
  req->dispatched = req->requested = 1;
  activity_start(srv, req);
  uvh_server_req_ref(req); /* the owner's call may close the connection */
  conn_ref(c);
  c->in_dispatch = 1;
  srv->ops.on_request(srv, req, srv->data);
  c->in_dispatch = 0;
  uvh_server_req_unref(req);
  conn_unref(c);
}

/* The head is in and the body is awaited: a client that sent
 * "Expect: 100-continue" waits for a 100 before sending it (RFC 9110
 * 10.1.1). Over a limit the final answer (413) came instead. */
static void expect_continue(uvh_server_conn_t *c) {
  static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
  size_t vlen;
  const char *v = uvh__h1_header(&c->req->msg, "expect", &vlen);
  c->continued = 1;
  if (v == NULL || vlen != 12 || strncasecmp(v, "100-continue", 12) != 0 || c->req->msg.http_minor == 0)
    return;
  if (c->s.tls) {
    if (uvh__tls_write(c->s.tls, interim, sizeof interim - 1) != 0 || uvh__stream_flush(&c->s, NULL) < 0)
      c->s.peer_gone = 1;
  } else {
    uv_buf_t b = uv_buf_init((char *)interim, sizeof interim - 1); /* static: it may be written later */
    int nothing;
    (void)uvh__stream_write(&c->s, &b, 1, &nothing);
  }
}

/* An owner's callback during the read of a request (on_head, on_body):
 * 1 when the request is still the connection's to go on with. */
static int call_owner(uvh_server_conn_t *c, uvh_server_req_t *req, const char *data, size_t len) {
  uvh_server_t *srv = c->srv;
  int going_on;
  req->dispatched = 1;
  activity_start(srv, req);
  uvh_server_req_ref(req); /* the owner's call may close the connection */
  conn_ref(c);
  c->in_dispatch = 1;
  if (data)
    srv->ops.on_body(srv, req, data, len, srv->data);
  else
    srv->ops.on_head(srv, req, srv->data);
  if (!data)
    req->routed = 1; /* enable_partial was for the call only */
  c->in_dispatch = 0;
  going_on = c->state != UVH_SC_CLOSED && c->req == req && !req->answered;
  uvh_server_req_unref(req);
  conn_unref(c);
  return going_on;
}

/* What follows a feed once the head is in: the route step (on_head), the
 * 100 Continue, a partial body's pieces. The feed's result, or 2 when
 * the owner answered or dropped the request before its end. */
static int after_feed(uvh_server_conn_t *c, int rc) {
  uvh_server_req_t *req = c->req;
  uvh_server_t *srv = c->srv;
  if (rc < 0 || !c->parser.in_trailers)
    return rc;
  if (!req->routed) {
    if (!srv->ops.on_head)
      req->routed = 1;
    else if (!call_owner(c, req, NULL, 0))
      return 2; /* req may be gone */
  }
  if (c->parser.multipart) {
    /* a multipart/form-data head stopped the feed: a buffered body has
     * max_multipart_size, a partial one (the owner's to bound) only
     * max_body_size, as any partial body */
    int limited = req->partial ? uvh__parser_body_limit(&c->parser, srv->cfg.max_body_size, "max_body_size")
                               : uvh__parser_body_limit(&c->parser, srv->cfg.max_multipart_size, "max_multipart_size");
    if (limited < 0)
      return limited;
  }
  if (req->partial && req->msg.body.len) {
    size_t n = req->msg.body.len;
    req->partial_bytes += n;
    if (c->parser.max_body_size && req->partial_bytes > c->parser.max_body_size)
      return UVH_E_TOO_LARGE;
    /* the piece is the owner's during the call, then the buffer is reused */
    req->msg.body.len = 0;
    if (srv->ops.on_body && !call_owner(c, req, req->msg.body.data, n))
      return 2;
  }
  if (rc == 0 && !c->continued)
    expect_continue(c);
  return rc;
}

/* Feed `data` to the current request; the rest of it (beyond a complete
 * request) joins `pending`. 1 complete, 0 wants more, < 0 refused. */
static int feed(uvh_server_conn_t *c, const char *data, size_t len, size_t *used) {
  int rc;
  if (c->req == NULL && (rc = next_request(c)) < 0)
    return rc;
  if (c->state == UVH_SC_IDLE && len)
    set_state(c, UVH_SC_READING);
  rc = uvh__parser_feed(&c->parser, data, len, used);
  if (rc == UVH_PARSER_HEAD) {
    /* a multipart/form-data head (uvh__parser_body_limit): the route step
     * and the body's limit, then the rest */
    size_t more = 0;
    if (len > *used)
      c->continued = 1; /* a client that sent some of the body waits for no 100 */
    if ((rc = after_feed(c, 0)) != 0)
      return rc;
    rc = uvh__parser_feed(&c->parser, data + *used, len - *used, &more);
    *used += more;
  }
  return after_feed(c, rc);
}

/* Parse and dispatch what is pending, as long as responses come at once. */
static void conn_process(uvh_server_conn_t *c) {
  while (c->state == UVH_SC_IDLE && c->pending.len) {
    size_t used = 0;
    int rc = feed(c, c->pending.data, c->pending.len, &used);
    if (rc < 0) {
      refuse_request(c, rc);
      return;
    }
    if (c->state == UVH_SC_CLOSED)
      return;
    memmove(c->pending.data, c->pending.data + used, c->pending.len - used);
    c->pending.len -= used;
    if (rc == 0)
      break;
    if (rc == 2)
      continue; /* answered in the route step */
    conn_ref(c);
    dispatch(c);
    if (c->state != UVH_SC_IDLE) {
      conn_unref(c);
      return;
    }
    conn_unref(c);
  }
  if (c->state == UVH_SC_IDLE && c->read_paused && !c->owner_paused && c->s.handle) {
    c->read_paused = 0;
    uvh__stream_open(&c->s, c->s.handle); /* reading again, as the stream started it */
  }
  if (c->state == UVH_SC_IDLE && c->peer_eof)
    uvh__server_conn_close(c, 1);
}

static void on_data(uvh_stream_t *s, const char *data, size_t len, size_t more) {
  uvh_server_conn_t *c = CONN(s);
  size_t used = 0;
  int rc;
  if (c->state == UVH_SC_LINGER)
    return; /* drained */
  if ((c->state != UVH_SC_IDLE && c->state != UVH_SC_READING) || c->pending.len) {
    /* behind the request being answered: kept for later, within bounds */
    if (uvh_buf_append(&c->pending, data, len) != 0) {
      uvh__server_conn_close(c, 1);
      return;
    }
    if (c->pending.len > UVH_SERVER_READ_AHEAD && !c->read_paused && c->s.handle) {
      c->read_paused = 1;
      uv_read_stop(c->s.handle);
    }
    if (c->state == UVH_SC_IDLE)
      conn_process(c);
    return;
  }
  rc = feed(c, data, len, &used);
  if (rc < 0) {
    refuse_request(c, rc);
    return;
  }
  if (c->state == UVH_SC_CLOSED)
    return;
  if (used < len && uvh_buf_append(&c->pending, data + used, len - used) != 0) {
    uvh__server_conn_close(c, 1);
    return;
  }
  if (rc == 2) {
    if (c->state == UVH_SC_IDLE)
      conn_process(c);
    return;
  }
  if (rc == 1) {
    conn_ref(c);
    dispatch(c);
    if (c->state == UVH_SC_IDLE)
      conn_process(c);
    conn_unref(c);
  }
}

static void on_closed(uvh_stream_t *s, int err, int clean) {
  uvh_server_conn_t *c = CONN(s);
  if (err == UV_EOF && (c->state == UVH_SC_HANDLING || c->state == UVH_SC_WRITING)) {
    /* the client is done sending: its response still goes out, then the close */
    c->peer_eof = 1;
    if (c->s.handle && !c->read_paused) {
      c->read_paused = 1;
      uv_read_stop(c->s.handle);
    }
    return;
  }
  if (err == UV_EOF && c->state == UVH_SC_IDLE && c->pending.len) {
    c->peer_eof = 1; /* answer what was sent first */
    return;
  }
  uvh__server_conn_close(c, 1);
}

static void on_handshake(uvh_stream_t *s) {
  uvh_server_conn_t *c = CONN(s);
  int sys_err, rc = uvh__stream_handshake(s, &sys_err);
  if (rc < 0)
    uvh__server_conn_close(c, 1); /* a plain request to a TLS port ends here, with TLS's alert */
  else if (rc == 1) {
    set_state(c, UVH_SC_IDLE);
    /* graceful_stop came during the handshake: an unused connection's wait */
    if (c->srv->draining)
      uvh__server_conn_drain(c);
  }
}

static void on_error(uvh_stream_t *s, int code, int sys_err) { uvh__server_conn_close(CONN(s), 1); }
static void on_hold(uvh_stream_t *s) { conn_ref(CONN(s)); }

static void on_write_done(uvh_stream_t *s, int status) {
  uvh_server_conn_t *c = CONN(s);
  if (status < 0)
    uvh__server_conn_close(c, 1);
  else if (c->state == UVH_SC_WRITING && s->writing == 0) {
    uv_timer_stop(&c->timer); /* progress: pump arms it again for the next write */
    c->drain_tick = 0;        /* (a drain due is told below) */
    pump(c);
    if (c->state == UVH_SC_IDLE && c->resume) {
      /* from the loop already: no need to wait for the timer */
      c->resume = 0;
      set_state(c, UVH_SC_IDLE);
      conn_process(c);
    }
    drain_notify(c);
  }
  conn_unref(c);
}

static void on_handle_closed(uvh_stream_t *s) { conn_unref(CONN(s)); }

static const uvh_stream_ops_t stream_ops = {on_data, on_closed, on_handshake, on_error,
                                            on_write_done, on_hold, on_handle_closed, NULL};

static void on_timer(uv_timer_t *t) {
  uvh_server_conn_t *c = t->data;
  if (c->drain_tick) {
    c->drain_tick = 0;
    drain_notify(c);
    return;
  }
  if (c->resume) {
    c->resume = 0;
    set_state(c, UVH_SC_IDLE);
    conn_process(c);
    return;
  }
  switch (c->state) {
  case UVH_SC_READING:
    if (c->s.tls && !c->s.tls->handshake_done) {
      uvh__server_conn_close(c, 1);
      break;
    }
    send_error(c, 408, "Request Timeout");
    break;
  case UVH_SC_WRITING: /* write_timeout: closed unless the client read some since */
    if (c->s.writing == 0 || c->srv->cfg.write_timeout <= 0)
      break; /* a timer armed for something else (a drain tick taken back): no write waits */
    if (uvh__stream_unsent(&c->s) < c->write_mark) {
      arm_write_timeout(c);
      break;
    }
    uvh__server_conn_close(c, 1);
    break;
  case UVH_SC_IDLE:
  case UVH_SC_LINGER:
    uvh__server_conn_close(c, 1);
    break;
  default:
    break;
  }
}

/* A connection not yet used was accepted for a request still on its way:
 * closing it would fail that request as a refused connection does, so
 * its first request is answered (with Connection: close), and it waits
 * for it no longer than read_timeout. */
void uvh__server_conn_drain(uvh_server_conn_t *c) {
  const uvh_server_config_t *cfg = &c->srv->cfg;
  if (c->state != UVH_SC_IDLE || c->pending.len > 0 || c->resume)
    return;
  if (c->served > 0)
    uvh__server_conn_close(c, 1);
  else if (cfg->read_timeout > 0 && (cfg->idle_timeout <= 0 || cfg->read_timeout < cfg->idle_timeout))
    uv_timer_start(&c->timer, on_timer, ms(cfg->read_timeout), 0);
}

/* -------------------------------------------------------------- accepting */

void uvh__server_conn_accept(uvh_server_t *srv, uvh_server_listener_t *ls, uv_stream_t *conn, int refuse) {
  uvh_server_conn_t *c = calloc(1, sizeof *c);
  socklen_t len = sizeof c->peer;
  uv_os_fd_t fd;
  if (c == NULL || srv->stopped) {
    free(c);
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  c->srv = srv;
  srv->handles++;
  uvh_list_init(&c->link);
  uvh_list_push_back(&srv->conns, &c->link);
  srv->nopen++;
  uvh_buf_init(&c->pending);
  uvh_buf_init(&c->out);
  uvh_buf_init(&c->wbuf);
  uv_timer_init(uvh_loop_uv(srv->loop), &c->timer);
  c->timer.data = c;
  c->refs = 2; /* the handle and the timer */
  uvh__stream_init(&c->s, &srv->bufs, &stream_ops);
  /* TCP or unix alike: the peer's address as the socket has it */
  if (uv_fileno((uv_handle_t *)conn, &fd) != 0 || getpeername(fd, (struct sockaddr *)&c->peer, &len) != 0)
    c->peer.ss_family = AF_UNSPEC;
  if (!ls->tcp_nodelay && !ls->l.pipe)
    uv_tcp_nodelay((uv_tcp_t *)conn, 0);
  if (ls->tls_ctx && !refuse) {
    c->secure = 1;
    if ((c->s.tls = malloc(sizeof *c->s.tls)) == NULL || uvh__tls_accept(c->s.tls, ls->tls_ctx, c) != 0) {
      free(c->s.tls);
      c->s.tls = NULL;
      c->s.handle = conn;
      conn->data = &c->s;
      uvh__server_conn_close(c, 0);
      return;
    }
  }
  uvh__stream_open(&c->s, conn);
  if (refuse) {
    /* beyond max_connections: told so, at once (in plain text, even on a TLS port) */
    send_error(c, 503, "Service Unavailable");
    return;
  }
  c->counted = 1;
  srv->nconns++;
  set_state(c, c->s.tls ? UVH_SC_READING : UVH_SC_IDLE);
}

int uvh_server_req_enable_partial(uvh_server_req_t *req) {
  if (req->conn == NULL || req->routed)
    return req_error(req, UVH_E_BADARG, "enable_partial is for the route step, before the body%s", "", 0);
  req->partial = 1;
  return 0;
}

void uvh_server_req_pause(uvh_server_req_t *req) {
  uvh_server_conn_t *c = req->conn;
  if (c == NULL || c->owner_paused || c->s.handle == NULL)
    return;
  c->owner_paused = 1;
  if (!c->read_paused)
    uv_read_stop(c->s.handle);
}

void uvh_server_req_resume(uvh_server_req_t *req) {
  uvh_server_conn_t *c = req->conn;
  if (c == NULL || !c->owner_paused)
    return;
  c->owner_paused = 0;
  if (!c->read_paused && c->s.handle)
    uvh__stream_open(&c->s, c->s.handle); /* reading again, as the stream started it */
}

void uvh_server_req_abandon(uvh_server_req_t *req) {
  if (req->requested && !req->complete)
    uvh_server_req_fail(req);
}
