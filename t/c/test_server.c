/* server/: the HTTP/1.1 server over real loopback sockets. A raw libuv
 * client writes bytes (often several requests in one write) and reads
 * until the server closes; the test then reads the responses. Covers
 * pipelining in order, keep-alive by HTTP/1.1 and 1.0 rules,
 * max_keepalive_requests, HEAD, the automatic answers (400 for every
 * smuggling shape, 408, 413, 431, 501, 505, 503 beyond max_connections),
 * max_multipart_size in place of max_body_size for multipart/form-data,
 * responses given later from a timer, on_drop at stop, 1xx responses,
 * bodies paced by on_drain or framed by a given length, a connection
 * handed over (detach), and the loop closing with no handle left; and the
 * same over a unix socket (a path, stale and busy paths, an inherited unix
 * fd). */
#include "uvh.h"
#include "tap.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static uvh_loop_t *loop;
static uv_loop_t *uv;
static uvh_server_t *srv;
static unsigned port;
static int requests_seen, drops_seen, async_mode, hint_errors, hint_sent = -1;
static int drain_pieces, drains_seen, drain_errors, sized_errors, detach_rc = -1, detach_errors;
/* /bigdrain, /bigfinal: a piece larger than the socket takes at once */
#define BIG_PIECE (16u << 20)
static char *big_piece;
static int big_mode, big_drains;

/* ------------------------------------------------------------ the owner */

typedef struct {
  uv_timer_t t;
  uvh_server_req_t *req;
} later_t;

static void answer(uvh_server_req_t *req) {
  char body[256];
  size_t tlen, blen;
  const char *target = uvh_server_req_target(req, &tlen);
  uvh_server_header_t h[1] = {{"Content-Type", "text/plain", 12, 10}};
  int n;
  uvh_server_req_body(req, &blen);
  n = snprintf(body, sizeof body, "%s %.*s %zu", uvh_server_req_method(req), (int)tlen, target, blen);
  if (uvh_server_respond(req, 200, NULL, 0, h, 1, body, (size_t)n) != 0)
    printf("# respond failed: %s\n", uvh_server_req_last_error(req));
}

static void later_closed(uv_handle_t *h) { free(h); }

static void on_later(uv_timer_t *t) {
  later_t *l = (later_t *)t;
  if (uvh_server_req_active(l->req))
    answer(l->req);
  uvh_server_req_unref(l->req);
  uv_close((uv_handle_t *)t, later_closed);
}

static int stream_errors;

static void on_stream_later(uv_timer_t *t) {
  later_t *l = (later_t *)t;
  uvh_server_send_chunk(l->req, "cd", 2);
  uvh_server_send_final_chunk(l->req, "e", 1);
  stream_errors += uvh_server_send_chunk(l->req, "x", 1) == UVH_E_BADARG; /* after the last */
  uvh_server_req_unref(l->req);
  uv_close((uv_handle_t *)t, later_closed);
}

static char last_peer[128];
static unsigned last_peer_port;

static void on_request(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  size_t tlen;
  const char *target = uvh_server_req_target(req, &tlen);
  requests_seen++;
  snprintf(last_peer, sizeof last_peer, "%s", uvh_server_req_peer_address(req));
  last_peer_port = uvh_server_req_peer_port(req);
  if (async_mode || (tlen >= 6 && memcmp(target, "/later", 6) == 0)) {
    later_t *l = malloc(sizeof *l);
    uv_timer_init(uv, &l->t);
    uvh_server_req_ref(req);
    l->req = req;
    /* the first one waits longest: an in-order answer cannot be by chance */
    uv_timer_start(&l->t, on_later, async_mode ? 100 / (uint64_t)requests_seen : 50, 0);
    return;
  }
  if (tlen >= 7 && memcmp(target, "/stream", 7) == 0) {
    uvh_server_header_t cl[1] = {{"Content-Length", "abc", 14, 3}};
    later_t *l = malloc(sizeof *l);
    stream_errors = 0;
    stream_errors += uvh_server_send_chunk(req, "x", 1) == UVH_E_BADARG;   /* before the start */
    stream_errors += uvh_server_respond_start(req, 200, NULL, 0, cl, 1) == UVH_E_BADHEADER;
    uvh_server_respond_start(req, 200, NULL, 0, NULL, 0);
    stream_errors += uvh_server_respond(req, 200, NULL, 0, NULL, 0, "", 0) == UVH_E_BUSY;
    uvh_server_send_chunk(req, "ab", 2);
    uvh_server_send_chunk(req, "", 0); /* nothing: an empty chunk would end the body */
    /* the rest from a timer */
    uv_timer_init(uv, &l->t);
    uvh_server_req_ref(req);
    l->req = req;
    uv_timer_start(&l->t, on_stream_later, 30, 0);
    return;
  }
  if (tlen >= 5 && memcmp(target, "/hang", 5) == 0)
    return; /* never answered: stop drops it */
  if (tlen >= 6 && memcmp(target, "/hints", 6) == 0) {
    uvh_server_header_t link[1] = {{"Link", "</s.css>; rel=preload", 4, 21}}, bad[1] = {{"Content-Length", "1", 14, 1}};
    hint_errors = 0;
    hint_errors += uvh_server_send_informational(req, 101, NULL, 0, NULL, 0) == UVH_E_BADARG;
    hint_errors += uvh_server_send_informational(req, 200, NULL, 0, NULL, 0) == UVH_E_BADARG;
    hint_errors += uvh_server_send_informational(req, 103, NULL, 0, bad, 1) == UVH_E_BADHEADER;
    hint_sent = uvh_server_send_informational(req, 103, NULL, 0, link, 1);
    answer(req);
    hint_errors += uvh_server_send_informational(req, 103, NULL, 0, link, 1) == UVH_E_BUSY;
    return;
  }
  if (tlen >= 6 && (memcmp(target, "/sized", 6) == 0 || memcmp(target, "/short", 6) == 0)) {
    /* a streamed body framed by the owner's Content-Length */
    uvh_server_header_t cl[1] = {{"Content-Length", "5", 14, 1}};
    uvh_server_respond_start(req, 200, NULL, 0, cl, 1);
    uvh_server_send_chunk(req, "abc", 3);
    sized_errors = uvh_server_send_chunk(req, "xyz", 3) == UVH_E_BADARG; /* past the length */
    if (target[2] == 'i')
      uvh_server_send_final_chunk(req, "de", 2);
    else
      uvh_server_send_final_chunk(req, "", 0); /* /short: 2 bytes short */
    return;
  }
  if (tlen >= 7 && memcmp(target, "/detach", 7) == 0) {
    /* the connection handed over: the owner speaks on it, then closes it */
    static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nnew protocol";
    int fd = -1;
    detach_rc = uvh_server_req_detach(req, &fd);
    if (detach_rc != 0) {
      answer(req);
      return;
    }
    detach_errors = uvh_server_respond(req, 200, NULL, 0, NULL, 0, "", 0) != UVH_E_BUSY;
    detach_errors += write(fd, up, sizeof up - 1) != (ssize_t)(sizeof up - 1);
    close(fd);
    return;
  }
  if (tlen >= 9 && (memcmp(target, "/bigdrain", 9) == 0 || memcmp(target, "/bigfinal", 9) == 0)) {
    /* on_drain asked for while drained (due on the next tick), then a
     * piece the socket takes only in part, in the same call */
    big_mode = target[4] == 'd' ? 1 : 2;
    big_drains = 0;
    uvh_server_respond_start(req, 200, NULL, 0, NULL, 0);
    uvh_server_req_want_drain(req);
    if (big_mode == 1)
      uvh_server_send_chunk(req, big_piece, BIG_PIECE);
    else
      uvh_server_send_final_chunk(req, big_piece, BIG_PIECE);
    return;
  }
  if (tlen >= 6 && memcmp(target, "/drain", 6) == 0) {
    /* pieces paced by on_drain: the next one only once the last is with the socket */
    drain_errors = uvh_server_req_want_drain(req) == UVH_E_BADARG;
    drain_pieces = drains_seen = 0;
    uvh_server_respond_start(req, 200, NULL, 0, NULL, 0);
    uvh_server_send_chunk(req, "0123456789", 10);
    drain_pieces++;
    drain_errors += uvh_server_req_want_drain(req) != 0;
    drain_errors += drains_seen != 0; /* never from inside the call */
    return;
  }
  answer(req);
}

static size_t drain_queued_max;

static void on_drain(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  size_t q = uvh_server_req_queued_bytes(req);
  if (big_mode) {
    /* /bigdrain: after the big piece, a small one and on_drain again; then the end */
    if (++big_drains == 1) {
      uvh_server_send_chunk(req, "tail", 4);
      uvh_server_req_want_drain(req);
    } else {
      uvh_server_send_final_chunk(req, "", 0);
    }
    return;
  }
  drains_seen++;
  if (q > drain_queued_max)
    drain_queued_max = q;
  if (drain_pieces == 5) {
    uvh_server_send_final_chunk(req, "", 0);
    drain_errors += uvh_server_req_want_drain(req) != UVH_E_BADARG; /* complete */
    return;
  }
  uvh_server_send_chunk(req, "0123456789", 10);
  drain_pieces++;
  uvh_server_req_want_drain(req);
}

static void on_drain(uvh_server_t *s, uvh_server_req_t *req, void *data);
static void on_drop(uvh_server_t *s, uvh_server_req_t *req, void *data) { drops_seen++; }

static int stopped_seen;
static void on_stopped(uvh_server_t *s, void *data) { stopped_seen++; }

static const uvh_server_ops_t ops = {on_request, on_drop, on_stopped, NULL, NULL, on_drain};

/* the route step: /partial streams its body, /deny is answered before its body */
static size_t partial_bytes;
static int partial_pieces, enable_late, early_hint_rc = 1;

static void on_head(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  size_t tlen;
  const char *target = uvh_server_req_target(req, &tlen);
  if (tlen >= 8 && memcmp(target, "/partial", 8) == 0)
    uvh_server_req_enable_partial(req);
  else if (tlen >= 5 && memcmp(target, "/deny", 5) == 0)
    uvh_server_respond(req, 403, NULL, 0, NULL, 0, "no", 2);
  else if (tlen >= 10 && memcmp(target, "/hintearly", 10) == 0)
    early_hint_rc = uvh_server_send_informational(req, 103, NULL, 0, NULL, 0); /* the body is still to come */
}

static void on_body(uvh_server_t *s, uvh_server_req_t *req, const char *d, size_t len, void *data) {
  partial_bytes += len;
  partial_pieces++;
  enable_late += uvh_server_req_enable_partial(req) == UVH_E_BADARG;
}

static const uvh_server_ops_t route_ops = {on_request, on_drop, on_stopped, on_head, on_body, NULL};

static void start_server(const uvh_server_config_t *cfg) {
  uvh_server_location_t loc;
  const char *host;
  int tls;
  uvh_server_location_init(&loc);
  loc.port = 0;
  if (uvh_server_new(loop, cfg, &ops, NULL, &srv) != 0 || uvh_server_listen(srv, &loc) != 0 ||
      uvh_server_listener_at(srv, 0, &host, &port, &tls) != 0) {
    printf("# server failed: %s\n", srv ? uvh_server_last_error(srv) : "");
    exit(1);
  }
  requests_seen = drops_seen = 0;
}

static void stop_server(void) {
  uvh_server_unref(srv);
  srv = NULL;
  uv_run(uv, UV_RUN_DEFAULT); /* the closes */
}

/* ------------------------------------------------------------- a client */

typedef struct {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;                  /* pipe when unix_path is set */
  uv_connect_t conn;
  uv_write_t w;
  uv_timer_t guard, pause;
  const char *send;
  size_t send_len, sent;
  size_t drip;          /* >0: send this many bytes at a time, a pause apart */
  char got[65536];
  size_t got_len;
  int eof, timed_out, closed;
  double seconds;
  int discard;          /* keep only the last bytes in got; total counts them all */
  size_t total;
} client_t;

static void client_close(client_t *c) {
  if (c->closed)
    return;
  c->closed = 1;
  uv_close((uv_handle_t *)&c->h.tcp, NULL);
  uv_close((uv_handle_t *)&c->guard, NULL);
  uv_close((uv_handle_t *)&c->pause, NULL);
}

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b) {
  client_t *c = h->data;
  *b = uv_buf_init(c->got + c->got_len, (unsigned)(sizeof c->got - 1 - c->got_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  client_t *c = s->data;
  if (n > 0) {
    c->got_len += (size_t)n;
    c->total += (size_t)n;
    if (c->discard && c->got_len > sizeof c->got / 2) {
      memmove(c->got, c->got + c->got_len - 64, 64);
      c->got_len = 64;
    }
    c->got[c->got_len] = '\0';
  } else if (n < 0) {
    c->eof = n == UV_EOF ? 1 : -1;
    client_close(c);
  }
}

static void send_some(client_t *c);
static void on_pause(uv_timer_t *t) { send_some(t->data); }

static void on_written(uv_write_t *w, int status) {
  client_t *c = w->data;
  if (status == 0 && c->sent < c->send_len && !c->closed)
    uv_timer_start(&c->pause, on_pause, 100, 0);
}

static void send_some(client_t *c) {
  size_t n = c->drip ? c->drip : c->send_len - c->sent;
  uv_buf_t b;
  if (c->closed || c->sent >= c->send_len)
    return;
  if (n > c->send_len - c->sent)
    n = c->send_len - c->sent;
  b = uv_buf_init((char *)c->send + c->sent, (unsigned)n);
  c->sent += n;
  c->w.data = c;
  uv_write(&c->w, (uv_stream_t *)&c->h.tcp, &b, 1, on_written);
}

static void on_connect(uv_connect_t *r, int status) {
  client_t *c = r->data;
  if (status < 0) {
    c->eof = -1;
    client_close(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->h.tcp, on_alloc, on_read);
  send_some(c);
}

static void on_guard(uv_timer_t *t) {
  client_t *c = t->data;
  c->timed_out = 1;
  client_close(c);
}

/* Set: clients connect to this unix socket instead of 127.0.0.1:port. */
static const char *unix_path;

static void client_start(client_t *c, const char *data, size_t drip) {
  struct sockaddr_in a;
  memset(c, 0, sizeof *c);
  c->send = data;
  c->send_len = strlen(data);
  c->drip = drip;
  if (unix_path)
    uv_pipe_init(uv, &c->h.pipe, 0);
  else
    uv_tcp_init(uv, &c->h.tcp);
  uv_timer_init(uv, &c->guard);
  uv_timer_init(uv, &c->pause);
  c->h.tcp.data = c->guard.data = c->pause.data = c->conn.data = c;
  uv_timer_start(&c->guard, on_guard, 8000, 0); /* bounds every exchange */
  if (unix_path) {
    uv_pipe_connect(&c->conn, &c->h.pipe, unix_path, on_connect);
    return;
  }
  uv_ip4_addr("127.0.0.1", (int)port, &a);
  uv_tcp_connect(&c->conn, &c->h.tcp, (struct sockaddr *)&a, on_connect);
}

/* The listeners keep the loop alive: run it until the client is done
 * (its guard timer bounds that), then let close callbacks run. */
static void run_until_closed(client_t *c) {
  while (!c->closed && uv_run(uv, UV_RUN_ONCE))
    ;
  uv_run(uv, UV_RUN_NOWAIT);
}

/* Send `data`, read until the server closes (or the guard fires). */
static client_t *talk(const char *data) {
  static client_t c;
  client_start(&c, data, 0);
  run_until_closed(&c);
  return &c;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  const char *p = hay;
  while ((p = strstr(p, needle)) != NULL) {
    n++;
    p += strlen(needle);
  }
  return n;
}

/* ---------------------------------------------------------------- tests */

static void test_pipelining(void) {
  char buf[4096] = "";
  char want[64];
  const char *p;
  int i, in_order = 1;
  client_t *c;
  uvh_server_config_t cfg;
  uvh_server_config_init(&cfg);
  start_server(&cfg);
  for (i = 0; i < 10; i++) {
    char one[128];
    snprintf(one, sizeof one, "GET /r%d HTTP/1.1\r\nHost: x\r\n%s\r\n", i, i == 9 ? "Connection: close\r\n" : "");
    strcat(buf, one);
  }
  c = talk(buf);
  ok(!c->timed_out && c->eof == 1, "ten requests in one write: the server closes after the last (Connection: close)");
  is_int(count(c->got, "HTTP/1.1 200 OK\r\n"), 10, "ten responses");
  for (i = 0, p = c->got; i < 10; i++) {
    snprintf(want, sizeof want, "GET /r%d 0", i);
    if ((p = strstr(p, want)) == NULL)
      in_order = 0;
  }
  ok(in_order, "answered in the order they were sent");
  is_int(count(c->got, "Connection: close\r\n"), 1, "only the last says Connection: close");
  is_int(count(c->got, "\r\nDate: "), 10, "each has a Date");
  ok(strstr(c->got, "Content-Length: 9\r\n") != NULL, "and a Content-Length");
  is_int(requests_seen, 10, "the owner saw ten requests");

  c = talk("POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPOST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ok(strstr(c->got, "POST /p 5") && strstr(c->got, "POST /q 3"), "bodies by Content-Length and chunked");

  {
    /* the head first, then (100 ms later) the body: as a client waiting for the 100 */
    static const char head[] = "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
    static client_t e;
    char all[256];
    snprintf(all, sizeof all, "%shello", head);
    client_start(&e, all, sizeof head - 1);
    run_until_closed(&e);
    ok(strncmp(e.got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0,
       "Expect: 100-continue: a 100 once the head is in, then the response");
    ok(strstr(e.got, "POST /e 5") != NULL, "to the body sent after it");
    c = talk("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    ok(strncmp(c->got, "HTTP/1.1 200 OK\r\n", 17) == 0, "no 100 when the body came with the head");
  }

  c = talk("GET /stream HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "Transfer-Encoding: chunked\r\n") && !strstr(c->got, "Content-Length: 0"),
     "a streamed response is chunked");
  ok(strstr(c->got, "\r\n\r\n2\r\nab\r\n2\r\ncd\r\n1\r\ne\r\n0\r\n\r\nHTTP/1.1 200 OK") != NULL,
     "its pieces (two of them from a timer, the last with data) end with the last chunk, and the next response follows");
  ok(strstr(c->got, "GET /next 0") != NULL, "the pipelined request behind it is answered after it");
  is_int(stream_errors, 4, "a piece before the start or after the last, a bad Content-Length, a second respond: refused");
  c = talk("GET /stream HTTP/1.0\r\n\r\n");
  ok(strstr(c->got, "Connection: close\r\n\r\nabcde") && c->got[c->got_len - 1] == 'e' && !strstr(c->got, "chunked"),
     "HTTP/1.0: a streamed body runs to the close, unframed");
  c = talk("HEAD /stream HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "Transfer-Encoding: chunked\r\n") && strstr(c->got, "\r\n\r\n")[4] == '\0',
     "HEAD: the head of a streamed response, no body");

  c = talk("HEAD /h HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "Content-Length: 9\r\n") != NULL, "HEAD: the length a GET would have");
  ok(strstr(c->got, "\r\n\r\n") && strstr(c->got, "\r\n\r\n")[4] == '\0', "and no body");

  c = talk("GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
  is_int(count(c->got, "HTTP/1.1 200"), 1, "HTTP/1.0 without keep-alive: one response, then the close");
  ok(strstr(c->got, "Connection: close\r\n") != NULL, "saying Connection: close");
  c = talk("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
  is_int(count(c->got, "HTTP/1.1 200"), 2, "HTTP/1.0 with Connection: keep-alive: kept alive for the next");
  ok(strstr(c->got, "Connection: keep-alive\r\n") != NULL, "saying Connection: keep-alive");
  stop_server();

  uvh_server_config_init(&cfg);
  cfg.max_keepalive_requests = 2;
  start_server(&cfg);
  c = talk("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  is_int(count(c->got, "HTTP/1.1 200"), 2, "max_keepalive_requests 2: two responses");
  ok(strstr(c->got, "GET /2 0") && strstr(strstr(c->got, "GET /1 0"), "Connection: close"),
     "the second says Connection: close, and the connection closes");
  stop_server();
}

static void refused(const char *req, const char *status, const char *name) {
  client_t *c = talk(req);
  char want[64];
  snprintf(want, sizeof want, "HTTP/1.1 %s", status);
  ok(!c->timed_out && strncmp(c->got, want, strlen(want)) == 0 && strstr(c->got, "Connection: close\r\n") &&
         c->eof == 1,
     "%s: %s and a close", name, status);
  if (strncmp(c->got, want, strlen(want)) != 0)
    printf("#   got (%zu bytes, eof %d): %.60s\n", c->got_len, c->eof, c->got);
}

static void test_refusals(void) {
  uvh_server_config_t cfg;
  char big[20000];
  uvh_server_config_init(&cfg);
  cfg.max_body_size = 100;
  cfg.max_headers_size = 1024;
  start_server(&cfg);
  refused("GARBAGE\r\n\r\n", "400", "a malformed request line");
  refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400",
          "Content-Length with Transfer-Encoding");
  refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400", "two Content-Lengths");
  refused("GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", "400", "obs-fold");
  refused("GET / HTTP/1.1\nHost: x\n\n", "400", "bare LF");
  refused("GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n", "400", "bare CR");
  refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400", "a space before the colon");
  refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501", "an unsupported Transfer-Encoding");
  refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "505", "the HTTP/2 preface");
  refused("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", "413", "a declared body over max_body_size");
  refused("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n", "413",
          "Expect: 100-continue with a body over max_body_size: the final answer, no 100,");
  refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n",
          "413", "a chunked body over max_body_size");
  memset(big, 'a', sizeof big);
  memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
  memcpy(big + sizeof big - 5, "\r\n\r\n", 5);
  refused(big, "431", "headers over max_headers_size");
  is_int(requests_seen, 0, "none of them reached the owner");
  stop_server();
}

static void test_timeouts(void) {
  uvh_server_config_t cfg;
  client_t slow, *c;
  uvh_server_config_init(&cfg);
  cfg.read_timeout = 0.3;
  cfg.idle_timeout = 0.5;
  start_server(&cfg);
  /* slowloris: a byte every 100 ms */
  client_start(&slow, "GET / HTTP/1.1\r\nHost: a-long-host-name-to-take-some-time\r\n\r\n", 1);
  run_until_closed(&slow);
  ok(strncmp(slow.got, "HTTP/1.1 408", 12) == 0 && slow.eof == 1 && !slow.timed_out,
     "a request dripping in past read_timeout: 408 and a close");
  client_start(&slow, "", 0);
  run_until_closed(&slow);
  ok(slow.got_len == 0 && slow.eof == 1 && !slow.timed_out, "a connection idle past idle_timeout closes, unanswered");
  c = talk("GET /later HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "GET /later 0") != NULL, "a response given 50 ms later, from a timer");
  stop_server();

  uvh_server_config_init(&cfg);
  start_server(&cfg);
  async_mode = 1;
  c = talk("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\nConnection: close\r\n\r\n");
  async_mode = 0;
  ok(strstr(c->got, "GET /1") && strstr(strstr(c->got, "GET /1"), "GET /2") &&
         strstr(strstr(c->got, "GET /2"), "GET /3"),
     "pipelined requests answered later (the first last to be ready) come back in order");
  stop_server();
}

static void test_connections(void) {
  uvh_server_config_t cfg;
  client_t first, second, partial;
  uvh_server_config_init(&cfg);
  /* a request still being read when the server stops was never the owner's */
  start_server(&cfg);
  client_start(&partial, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab", 0);
  while (uvh_server_connection_count(srv) == 0 || partial.sent == 0)
    if (uv_run(uv, UV_RUN_ONCE) == 0)
      break;
  uv_run(uv, UV_RUN_NOWAIT);
  uvh_server_stop(srv);
  run_until_closed(&partial);
  is_int(drops_seen, 0, "stop: no on_drop for a request still being read");
  stop_server();

  cfg.max_connections = 1;
  start_server(&cfg);
  client_start(&first, "GET /hang HTTP/1.1\r\n\r\n", 0);
  client_start(&second, "GET / HTTP/1.1\r\n\r\n", 0);
  while (requests_seen == 0 || second.eof == 0)
    if (uv_run(uv, UV_RUN_ONCE) == 0)
      break;
  ok(strncmp(second.got, "HTTP/1.1 503", 12) == 0 && second.eof == 1,
     "max_connections 1: a second connection gets 503 and a close");
  /* the refused one goes once the server has seen its client close */
  while (uvh_server_connection_count(srv) > 1 && !first.closed && uv_run(uv, UV_RUN_ONCE))
    ;
  is_int(uvh_server_connection_count(srv), 1, "one connection stays");
  uvh_server_stop(srv);
  is_int(drops_seen, 1, "stop drops the unanswered request (on_drop)");
  run_until_closed(&first);
  run_until_closed(&second);
  ok(first.eof != 0, "and closes its connection");
  stop_server();
}

static void test_graceful(void) {
  uvh_server_config_t cfg;
  client_t busy[3], idle, late;
  int i, called_at_once;
  uvh_server_config_init(&cfg);
  start_server(&cfg);
  stopped_seen = 0;
  /* three requests answered 50 ms later, and a kept-alive idle connection */
  for (i = 0; i < 3; i++)
    client_start(&busy[i], "GET /later HTTP/1.1\r\n\r\n", 0);
  client_start(&idle, "GET /now HTTP/1.1\r\n\r\n", 0);
  while ((requests_seen < 4 || idle.got_len == 0) && !idle.closed && uv_run(uv, UV_RUN_ONCE))
    ;
  is_int(uvh_server_graceful_stop(srv, 5), 0, "graceful_stop with requests in flight");
  called_at_once = stopped_seen;
  client_start(&late, "GET / HTTP/1.1\r\n\r\n", 0);
  for (i = 0; i < 3; i++)
    run_until_closed(&busy[i]);
  run_until_closed(&idle);
  run_until_closed(&late);
  while (stopped_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  is_int(called_at_once, 0, "on_stopped never runs from the call");
  for (i = 0; i < 3; i++)
    ok(strstr(busy[i].got, "GET /later 0") && strstr(busy[i].got, "Connection: close\r\n") && busy[i].eof == 1,
       "request %d in flight is answered, with Connection: close, then closed", i + 1);
  ok(idle.eof == 1 && count(idle.got, "HTTP/1.1") == 1, "the idle kept-alive connection is closed");
  ok(late.got_len == 0 && late.eof != 0, "a new connection is refused (no listener)");
  is_int(stopped_seen, 1, "on_stopped once, when the last connection went");
  is_int(uvh_server_graceful_stop(srv, 5), UVH_E_CLOSED_POOL, "a stopped server cannot stop again");
  stop_server();

  /* a kept-alive response being written when graceful_stop came: the
   * connection goes once it is out (it stayed idle until the deadline) */
  start_server(&cfg);
  stopped_seen = 0;
  client_start(&busy[0], "GET /stream HTTP/1.1\r\n\r\n", 0);
  while (requests_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  {
    uint64_t t0 = uv_now(uv);
    uvh_server_graceful_stop(srv, 5);
    run_until_closed(&busy[0]);
    while (stopped_seen == 0 && uv_run(uv, UV_RUN_ONCE))
      ;
    ok(strstr(busy[0].got, "\r\n\r\n2\r\nab\r\n") != NULL && strstr(busy[0].got, "0\r\n\r\n") != NULL &&
           busy[0].eof == 1 && uv_now(uv) - t0 < 2000,
       "a response under way at graceful_stop is finished, then its connection closes (%u ms)",
       (unsigned)(uv_now(uv) - t0));
  }
  stop_server();

  /* the deadline closes what is left: an unanswered request is dropped */
  start_server(&cfg);
  stopped_seen = 0;
  client_start(&busy[0], "GET /hang HTTP/1.1\r\n\r\n", 0);
  while (requests_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  uvh_server_graceful_stop(srv, 0.1);
  run_until_closed(&busy[0]);
  while (stopped_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  ok(drops_seen == 1 && stopped_seen == 1 && busy[0].got_len == 0,
     "termination timeout: the hanging request is dropped, then on_stopped");
  stop_server();

  /* a second call forces it */
  start_server(&cfg);
  stopped_seen = 0;
  client_start(&busy[0], "GET /hang HTTP/1.1\r\n\r\n", 0);
  while (requests_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  uvh_server_graceful_stop(srv, 0);
  uvh_server_graceful_stop(srv, 0);
  run_until_closed(&busy[0]);
  while (stopped_seen == 0 && uv_run(uv, UV_RUN_ONCE))
    ;
  ok(drops_seen == 1 && stopped_seen == 1, "a second graceful_stop closes the rest at once");
  stop_server();
}

static void test_partial(void) {
  uvh_server_config_t cfg;
  uvh_server_location_t loc;
  const char *host;
  int tls;
  client_t *c;
  static client_t slow;
  static char big[300000];
  char want[64];
  uvh_server_config_init(&cfg);
  cfg.max_body_size = 200000;
  uvh_server_location_init(&loc);
  uvh_server_new(loop, &cfg, &route_ops, NULL, &srv);
  uvh_server_listen(srv, &loc);
  uvh_server_listener_at(srv, 0, &host, &port, &tls);
  requests_seen = drops_seen = 0;

  /* a body in pieces (the head first, the rest 100 ms later) */
  partial_bytes = 0;
  partial_pieces = enable_late = 0;
  client_start(&slow, "POST /partial HTTP/1.1\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789", 70);
  run_until_closed(&slow);
  ok(partial_bytes == 10 && partial_pieces >= 2, "enable_partial: the body comes to on_body in pieces (%d)", partial_pieces);
  ok(strstr(slow.got, "POST /partial 0") != NULL, "then on_request, with an empty body");
  ok(enable_late > 0, "enable_partial after the route step is refused");

  /* a 1xx from the route step, the body still to come: refused, and the
   * body is still read (it was left unread, the request hung) */
  {
    static const char hinted[] = "POST /hintearly HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    client_start(&slow, hinted, sizeof hinted - 1 - 5);
    run_until_closed(&slow);
    is_int(early_hint_rc, UVH_E_BADARG, "send_informational before the request is read whole is refused");
    ok(strstr(slow.got, "POST /hintearly 5") != NULL && !slow.timed_out, "and the body is read, the request answered");
  }

  /* max_body_size counts a partial body too (chunked: not declared) */
  memset(big, 'z', sizeof big);
  {
    int n = snprintf(big, 120, "POST /partial HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 250000);
    big[n] = 'z'; /* over snprintf's NUL */
    big[n + 250000] = '\0';
  }
  partial_bytes = 0;
  c = talk(big);
  ok(strncmp(c->got, "HTTP/1.1 413", 12) == 0 && partial_bytes <= 200000,
     "a partial body over max_body_size: 413 (after %zu bytes)", partial_bytes);

  /* answered in the route step, before the body */
  requests_seen = 0;
  client_start(&slow, "POST /deny HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /after HTTP/1.1\r\n\r\n", 42);
  run_until_closed(&slow);
  ok(strncmp(slow.got, "HTTP/1.1 403", 12) == 0 && count(slow.got, "HTTP/1.1") == 1 && slow.eof == 1,
     "answered in the route step before the body came: 403, and the connection closes after it");
  ok(strstr(slow.got, "Connection: close\r\n") != NULL, "saying so");
  is_int(requests_seen, 0, "on_request does not run for it");
  c = talk("POST /deny HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /after HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strncmp(c->got, "HTTP/1.1 403", 12) == 0 && strstr(c->got, "GET /after 0"),
     "answered in the route step with the body already read: kept alive for the next request");
  snprintf(want, sizeof want, "GET /plain 0");
  c = talk("GET /plain HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, want) != NULL, "other requests pass the route step to on_request");
  stop_server();
}

/* A POST of `n` bytes of Content-Type `type` (declared, or `chunked`),
 * `tail` after it (another request, or ""), into `out`. */
static const char *upload(char *out, size_t size, const char *target, const char *type, size_t n, int chunked,
                          const char *extra, const char *tail) {
  int k = chunked ? snprintf(out, size, "POST %s HTTP/1.1\r\nContent-Type: %s\r\n%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
                             target, type, extra, n)
                  : snprintf(out, size, "POST %s HTTP/1.1\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n\r\n", target,
                             type, extra, n);
  memset(out + k, 'm', n);
  snprintf(out + k + n, size - (size_t)k - n, "%s%s", chunked ? "\r\n0\r\n\r\n" : "", tail);
  return out;
}

/* max_multipart_size: a buffered multipart/form-data body's limit in
 * place of max_body_size, smaller or larger; a partial one's is
 * max_body_size alone */
static void test_multipart(void) {
  static const char mp[] = "multipart/form-data; boundary=x", plain[] = "text/plain";
  static const char close_[] = "Connection: close\r\n";
  uvh_server_config_t cfg;
  uvh_server_location_t loc;
  const char *host;
  int tls;
  client_t *c;
  static client_t slow;
  char buf[4096];
  uvh_server_config_init(&cfg);
  is_int(cfg.max_multipart_size, 0, "max_multipart_size defaults to 0 (max_body_size applies)");

  cfg.max_body_size = 1000;
  cfg.max_multipart_size = 100;
  start_server(&cfg);
  refused(upload(buf, sizeof buf, "/m", mp, 500, 0, close_, ""), "413",
          "max_body_size 1000, max_multipart_size 100: a declared 500-byte multipart/form-data body");
  refused(upload(buf, sizeof buf, "/m", "Multipart/Form-Data; boundary=x", 500, 0, close_, ""), "413",
          "the media type in any case, with a parameter");
  refused(upload(buf, sizeof buf, "/m", " multipart/form-data", 500, 0, close_, ""), "413", "after a space");
  refused(upload(buf, sizeof buf, "/m", mp, 500, 1, close_, ""), "413", "a chunked 500-byte multipart/form-data body");
  refused(upload(buf, sizeof buf, "/m", mp, 101, 1, close_, ""), "413", "a chunked one a byte over");
  /* the head alone: the answer comes before the body */
  c = talk("POST /m HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\nExpect: 100-continue\r\n"
           "Content-Length: 500\r\n\r\n");
  ok(strncmp(c->got, "HTTP/1.1 413", 12) == 0 && strstr(c->got, "100 Continue") == NULL && c->eof == 1,
     "Expect: 100-continue and a declared multipart body over max_multipart_size: 413, no 100, a close");
  is_int(requests_seen, 0, "none of them reached the owner");
  c = talk(upload(buf, sizeof buf, "/m", plain, 500, 0, close_, ""));
  ok(strncmp(c->got, "HTTP/1.1 200", 12) == 0 && strstr(c->got, "POST /m 500"), "a 500-byte text/plain body: 200");
  c = talk(upload(buf, sizeof buf, "/m", "multipart/form-datax", 500, 0, close_, ""));
  ok(strstr(c->got, "POST /m 500") != NULL, "multipart/form-datax is another media type: max_body_size");
  c = talk(upload(buf, sizeof buf, "/m", mp, 100, 1, close_, ""));
  ok(strstr(c->got, "POST /m 100") != NULL, "a chunked multipart body at max_multipart_size: 200");
  /* pipelined after one at the limit: the feed resumes after the head */
  c = talk(upload(buf, sizeof buf, "/m", mp, 100, 0, "", "GET /next HTTP/1.1\r\nConnection: close\r\n\r\n"));
  ok(strstr(c->got, "POST /m 100") && strstr(c->got, "GET /next 0") && count(c->got, "HTTP/1.1 200") == 2,
     "a multipart body at the limit and the request after it in one write: both answered");
  stop_server();

  cfg.max_body_size = 100;
  cfg.max_multipart_size = 1000;
  start_server(&cfg);
  c = talk(upload(buf, sizeof buf, "/m", mp, 500, 0, close_, ""));
  ok(strncmp(c->got, "HTTP/1.1 200", 12) == 0 && strstr(c->got, "POST /m 500"),
     "max_body_size 100, max_multipart_size 1000: a 500-byte multipart/form-data body is taken");
  c = talk(upload(buf, sizeof buf, "/m", mp, 500, 1, close_, ""));
  ok(strstr(c->got, "POST /m 500") != NULL, "a chunked one too");
  client_start(&slow, upload(buf, sizeof buf, "/m", mp, 500, 0, close_, ""), 150);
  run_until_closed(&slow);
  ok(strstr(slow.got, "POST /m 500") != NULL, "and one that comes in pieces");
  refused(upload(buf, sizeof buf, "/m", plain, 500, 0, close_, ""), "413", "a 500-byte text/plain body");
  refused(upload(buf, sizeof buf, "/m", mp, 1001, 1, close_, ""), "413", "a chunked multipart body over 1000");
  refused(upload(buf, sizeof buf, "/m", mp, 1001, 0, close_, ""), "413", "a declared one");
  stop_server();

  /* a partial body: max_body_size alone */
  cfg.max_body_size = 0;
  cfg.max_multipart_size = 100;
  uvh_server_location_init(&loc);
  uvh_server_new(loop, &cfg, &route_ops, NULL, &srv);
  uvh_server_listen(srv, &loc);
  uvh_server_listener_at(srv, 0, &host, &port, &tls);
  requests_seen = 0;
  partial_bytes = 0;
  c = talk(upload(buf, sizeof buf, "/partial", mp, 500, 0, close_, ""));
  ok(strstr(c->got, "POST /partial 0") && partial_bytes == 500,
     "enable_partial: a 500-byte multipart body is not limited by max_multipart_size 100 (%zu bytes)", partial_bytes);
  partial_bytes = 0;
  c = talk(upload(buf, sizeof buf, "/partial", mp, 500, 1, close_, ""));
  ok(strstr(c->got, "POST /partial 0") && partial_bytes == 500, "nor a chunked one (%zu bytes)", partial_bytes);
  refused(upload(buf, sizeof buf, "/buffered", mp, 500, 0, close_, ""), "413",
          "the route step without enable_partial: max_multipart_size");
  uvh_server_unref(srv);
  uv_run(uv, UV_RUN_DEFAULT);

  cfg.max_body_size = 300;
  cfg.max_multipart_size = 1000;
  uvh_server_new(loop, &cfg, &route_ops, NULL, &srv);
  uvh_server_listen(srv, &loc);
  uvh_server_listener_at(srv, 0, &host, &port, &tls);
  partial_bytes = 0;
  refused(upload(buf, sizeof buf, "/partial", mp, 500, 0, close_, ""), "413",
          "max_body_size 300 still bounds a partial multipart body, declared");
  refused(upload(buf, sizeof buf, "/partial", mp, 500, 1, close_, ""), "413", "and chunked");
  ok(partial_bytes <= 300, "no more than max_body_size reached on_body (%zu)", partial_bytes);
  c = talk(upload(buf, sizeof buf, "/buffered", mp, 500, 0, close_, ""));
  ok(strstr(c->got, "POST /buffered 500") != NULL, "while a buffered one has max_multipart_size 1000");
  stop_server();
}

/* A drain asked for while due (its tick pending), then a piece the socket
 * takes in part: the drain comes once the piece is out, and a later one
 * still comes (the tick taken back is not left marked); a last piece so
 * sent goes out whole, with write_timeout 0 too (the tick's timer does not
 * pass for a write that timed out). */
static void big_test(const uvh_server_config_t *base) {
  static client_t c;
  uvh_server_config_t cfg = *base;
  int pass;
  big_piece = malloc(BIG_PIECE);
  memset(big_piece, 'b', BIG_PIECE);
  for (pass = 0; pass < 3; pass++) {
    if (pass == 2) {
      /* write_timeout 0 */
      stop_server();
      cfg.write_timeout = 0;
      start_server(&cfg);
    }
    client_start(&c, pass == 0 ? "GET /bigdrain HTTP/1.1\r\nConnection: close\r\n\r\n"
                               : "GET /bigfinal HTTP/1.1\r\nConnection: close\r\n\r\n", 0);
    c.discard = 1;
    run_until_closed(&c);
    if (pass == 0) {
      is_int(big_drains, 2, "on_drain after the big piece, then again after a small one (the tick taken back)");
      ok(c.eof == 1 && !c.timed_out && c.got_len >= 5 && strcmp(c.got + c.got_len - 5, "0\r\n\r\n") == 0,
         "and the body ended");
    } else {
      ok(c.eof == 1 && !c.timed_out && c.total > BIG_PIECE && c.got_len >= 5 &&
             strcmp(c.got + c.got_len - 5, "0\r\n\r\n") == 0,
         "a big last piece after want_drain arrives whole (write_timeout %s)", pass == 1 ? "60" : "0");
    }
    is_int(big_drains, pass == 0 ? 2 : 0, "(on_drain count)");
  }
  big_mode = 0;
  free(big_piece);
  big_piece = NULL;
}

/* 1xx responses before the final one; a streamed body paced by on_drain,
 * and one framed by the owner's Content-Length */
static void test_hints_and_drain(void) {
  uvh_server_config_t cfg;
  client_t *c;
  const char *hint, *final;
  uvh_server_config_init(&cfg);
  start_server(&cfg);
  c = talk("GET /hints HTTP/1.1\r\nConnection: close\r\n\r\n");
  is_int(hint_sent, 0, "send_informational 103 succeeds");
  is_int(hint_errors, 4, "101, 200, a Content-Length in a 1xx, a 1xx after the final response: refused");
  hint = strstr(c->got, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
  final = strstr(c->got, "HTTP/1.1 200 OK\r\n");
  ok(hint == c->got && final != NULL && final > hint, "the 103 with its Link header comes first, then the 200");
  c = talk("GET /hints HTTP/1.0\r\n\r\n");
  ok(strstr(c->got, " 103 ") == NULL && strncmp(c->got, "HTTP/1.1 200 ", 13) == 0, "an HTTP/1.0 client gets no 1xx");
  is_int(hint_sent, UVH_E_BADARG, "send_informational to HTTP/1.0 is refused");
  c = talk("GET /drain HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  is_int(drain_errors, 1, "want_drain before respond_start and after the final piece refused, no on_drain inside the call");
  is_int(drains_seen, 5, "on_drain ran once per piece asked for");
  is_int(drain_pieces, 5, "five pieces sent");
  is_int(count(c->got, "a\r\n0123456789\r\n"), 5, "all of them arrived, chunked");
  ok(strstr(c->got, "GET /next") != NULL, "and the next request was answered after the body");
  is_int(drain_queued_max, 0, "nothing was queued at any on_drain");
  big_test(&cfg);
  c = talk("GET /sized HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "\r\nContent-Length: 5\r\n") != NULL && strstr(c->got, "chunked") == NULL,
     "a Content-Length given to respond_start frames the body (not chunked)");
  is_int(sized_errors, 1, "a piece past it is refused");
  ok(strstr(c->got, "\r\n\r\nabcdeHTTP/1.1 200 OK\r\n") != NULL && strstr(c->got, "GET /next") != NULL,
     "the body, then the next request on the same connection");
  c = talk("GET /short HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  ok(strstr(c->got, "\r\n\r\nabc") != NULL && strstr(c->got, "GET /next") == NULL && c->eof == 1,
     "a body short of it: the connection closes after it (the next request unanswered)");
  ok(strstr(c->got, "Connection: close\r\n") == NULL, "(the head had promised more: only the close tells)");
  c = talk("GET /detach HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n");
  is_int(detach_rc, 0, "uvh_server_req_detach hands an Upgrade request's connection over");
  is_int(detach_errors, 0, "a response after it is refused (answered), the owner's descriptor writes");
  ok(strcmp(c->got, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nnew protocol") == 0 && c->eof == 1,
     "the client gets only the owner's bytes, then the close (the server kept no copy)");
  is_int(uvh_server_connection_count(srv), 0, "and the server forgot the connection");
  c = talk("GET /detach HTTP/1.1\r\nUpgrade: x\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  is_int(detach_rc, UVH_E_BADARG, "not with a request read ahead behind it");
  ok(strstr(c->got, "GET /detach") != NULL && strstr(c->got, "GET /next") != NULL, "(both then answered in HTTP/1.1)");
  stop_server();
}

static void test_api(void) {
  uvh_server_config_t cfg;
  uvh_server_location_t loc;
  uvh_server_t *s;
  uvh_server_config_init(&cfg);
  is_int(cfg.max_headers_size, 16384, "max_headers_size defaults to 16384");
  ok(cfg.idle_timeout == 300 && cfg.read_timeout == 10, "idle_timeout 300, read_timeout 10");
  cfg.read_timeout = -1;
  is_int(uvh_server_new(loop, &cfg, &ops, NULL, &s), UVH_E_BADARG, "a negative read_timeout is refused");
  uvh_server_config_init(&cfg);
  uvh_server_new(loop, &cfg, &ops, NULL, &s);
  uvh_server_location_init(&loc);
  loc.host = "not-an-ip";
  is_int(uvh_server_listen(s, &loc), UVH_E_BADARG, "a host that is no IP literal is refused");
  ok(strstr(uvh_server_last_error(s), "not-an-ip") != NULL, "naming it: %s", uvh_server_last_error(s));
  loc.host = "127.0.0.1";
  loc.port = port; /* the last server's, now free: take it, then try it twice */
  loc.port = 0;
  is_int(uvh_server_listen(s, &loc), 0, "port 0 listens");
  {
    const char *h;
    unsigned p;
    int tls;
    uvh_server_listener_at(s, 0, &h, &p, &tls);
    loc.port = p;
    ok(p != 0 && !tls, "on a port it tells (%u)", p);
  }
  is_int(uvh_server_listen(s, &loc), UVH_E_BADARG, "the same port again fails");
  ok(strstr(uvh_server_last_error(s), "address already in use") != NULL, "saying why: %s", uvh_server_last_error(s));
  is_int(uvh_server_listener_count(s), 1, "one listener counts");
  loc.port = 0;
  loc.reuse_port = 1;
  is_int(uvh_server_listen(s, &loc), 0, "reuse_port listens");
  {
    const char *h;
    unsigned p;
    int tls;
    uvh_server_listener_at(s, 1, &h, &p, &tls);
    loc.port = p;
  }
  is_int(uvh_server_listen(s, &loc), 0, "and a second reuse_port listener shares its port");
  loc.reuse_port = 0;
  loc.port = 0;
  loc.cert_file = "/nonexistent.pem";
  is_int(uvh_server_listen(s, &loc), UVH_E_TLS_CONFIG, "an unreadable certificate is refused");
  uvh_server_unref(s);
  uv_run(uv, UV_RUN_DEFAULT);
}


/* A unix socket bound at path (listening when `listen_too`), or -1. */
static int bound_unix(const char *path, int listen_too) {
  struct sockaddr_un a;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || (listen_too && listen(fd, 16) != 0)) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

static int listen_unix(uvh_server_t *s, const char *path) {
  uvh_server_location_t loc;
  uvh_server_location_init(&loc);
  loc.path = path;
  return uvh_server_listen(s, &loc);
}

static int is_socket_file(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void test_unix(void) {
  char path[108], other[108], longp[200];
  uvh_server_config_t cfg;
  uvh_server_t *s2 = NULL;
  const char *host;
  unsigned p;
  int tls, fd;
  client_t *c;
  FILE *f;
  snprintf(path, sizeof path, "/tmp/uvh-test-server-%ld.sock", (long)getpid());
  snprintf(other, sizeof other, "/tmp/uvh-test-server-%ld.other", (long)getpid());
  unlink(path);
  unlink(other);
  uvh_server_config_init(&cfg);
  uvh_server_new(loop, &cfg, &ops, NULL, &srv);
  requests_seen = 0;
  is_int(listen_unix(srv, path), 0, "unix: listens on a path");
  ok(is_socket_file(path), "unix: the socket file is made");
  is_int(uvh_server_listener_count(srv), 1, "unix: one listener");
  uvh_server_listener_at(srv, 0, &host, &p, &tls);
  ok(strcmp(host, path) == 0 && p == 0 && !tls, "unix: listener_at gives the path and port 0");

  unix_path = path;
  c = talk("GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  ok(!c->timed_out && c->eof == 1, "unix: two requests on one connection, closed after the second");
  is_int(count(c->got, "HTTP/1.1 200 OK\r\n"), 2, "unix: two responses");
  ok(strstr(c->got, "GET /one 0") && strstr(c->got, "POST /two 3"), "unix: each answered, the body read");
  is_int(requests_seen, 2, "unix: the owner saw two requests");
  ok(strcmp(last_peer, "") == 0 && last_peer_port == 0, "unix: peer address '' (an unnamed client) and port 0");
  unix_path = NULL;

  /* a second server on the same path: refused, and the first one's file stays */
  uvh_server_new(loop, &cfg, &ops, NULL, &s2);
  is_int(listen_unix(s2, path), UVH_E_BADARG, "unix: a path being listened on is refused");
  ok(strstr(uvh_server_last_error(s2), "already listening") != NULL, "unix: ... saying a server listens there");
  ok(is_socket_file(path), "unix: ... and the first server's file is left");
  /* not a socket */
  f = fopen(other, "w");
  if (f)
    fclose(f);
  is_int(listen_unix(s2, other), UVH_E_BADARG, "unix: a file that is not a socket is refused");
  ok(strstr(uvh_server_last_error(s2), "not a socket") != NULL, "unix: ... saying so");
  ok(access(other, F_OK) == 0, "unix: ... and left alone");
  unlink(other);
  /* a stale socket (bound, nobody listens) is replaced */
  fd = bound_unix(other, 0);
  if (fd >= 0)
    close(fd);
  ok(is_socket_file(other), "unix: a stale socket file is there");
  is_int(listen_unix(s2, other), 0, "unix: a stale socket is replaced");
  /* too long for sun_path */
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = '\0';
  is_int(listen_unix(s2, longp), UVH_E_BADARG, "unix: a path too long for sun_path is refused");
  ok(strstr(uvh_server_last_error(s2), "too long") && strstr(uvh_server_last_error(s2), "at most 107"),
     "unix: ... naming the limit");
  {
    uvh_server_location_t loc;
    uvh_server_location_init(&loc);
    loc.path = path;
    loc.reuse_port = 1;
    is_int(uvh_server_listen(s2, &loc), UVH_E_BADARG, "unix: reuse_port with a path is refused");
  }
  is_int(uvh_server_listener_count(s2), 1, "unix: the refused ones did not count");
  uvh_server_unref(s2);
  uv_run(uv, UV_RUN_NOWAIT);
  ok(!is_socket_file(other), "unix: the replaced stale socket's file is removed when its server goes");

  uvh_server_stop(srv);
  ok(!is_socket_file(path), "unix: stop removes the socket file the server made");
  stop_server();

  /* a file that took the place of ours is not ours to remove */
  uvh_server_new(loop, &cfg, &ops, NULL, &s2);
  is_int(listen_unix(s2, path), 0, "unix: listens on the path again");
  unlink(path);
  fd = bound_unix(path, 1); /* another program's socket now */
  uvh_server_unref(s2);
  uv_run(uv, UV_RUN_NOWAIT);
  ok(fd >= 0 && is_socket_file(path), "unix: a socket file put in its place is left when the server goes");
  if (fd >= 0)
    close(fd);
  unlink(path);

  /* an inherited unix socket (the manager's workers): served as a pipe, its file left */
  fd = bound_unix(path, 1);
  ok(fd >= 0, "unix: a parent's listening unix socket");
  uvh_server_new(loop, &cfg, &ops, NULL, &srv);
  {
    uvh_server_location_t loc;
    uvh_server_location_init(&loc);
    loc.fd = fd;
    is_int(uvh_server_listen(srv, &loc), 0, "unix: listens on the inherited fd");
  }
  uvh_server_listener_at(srv, 0, &host, &p, &tls);
  ok(strcmp(host, path) == 0 && p == 0, "unix: ... and reports its path");
  unix_path = path;
  requests_seen = 0;
  c = talk("GET /fd HTTP/1.1\r\nConnection: close\r\n\r\n");
  unix_path = NULL;
  ok(strstr(c->got, "HTTP/1.1 200 OK\r\n") && strstr(c->got, "GET /fd 0"), "unix: a request over the inherited socket");
  stop_server();
  ok(is_socket_file(path), "unix: the inherited socket's file is the parent's: left");
  unlink(path);
}

int main(void) {
  uvh_loop_new(&loop);
  uv = uvh_loop_uv(loop);
  test_api();
  test_pipelining();
  test_refusals();
  test_timeouts();
  test_connections();
  test_graceful();
  test_partial();
  test_multipart();
  test_hints_and_drain();
  test_unix();
  /* a server left running is closed by the loop's destroy */
  {
    uvh_server_config_t cfg;
    uvh_server_config_init(&cfg);
    start_server(&cfg);
  }
  is_int(uvh_loop_destroy(loop), 0, "the loop closes with no handle left (a running server is detached)");
  uvh_server_unref(srv);
  return done_testing();
}
