/* Streamed request bodies and Expect: 100-continue, against a small libuv
 * server in the same loop that parses requests with the codec's request
 * parser (so chunked framing is checked by the same code both ways) and
 * answers with the body's length and FNV-1a hash. Every callback is
 * counted; the test ends with uvh_loop_destroy closing an owned loop. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>

/* ------------------------------------------------------------ test server */

typedef enum { S_ECHO, S_CONTINUE, S_SILENT, S_REFUSE } server_mode_t;

typedef struct {
  uv_tcp_t tcp;
  uvh_parser_t parser;
  uvh_h1_message_t msg;
  int head_seen, answered;
  size_t after_answer; /* bytes that arrived after a refusal */
} sconn_t;

static uv_tcp_t server;
static int server_port;
static server_mode_t mode;
static int refuse_code;
static size_t refused_bytes; /* after_answer of the last refused connection, once it closed */
static int refused_closed;
static uvh_loop_t *loop;
#define MAXSCONN 64
static sconn_t *sconns[MAXSCONN]; /* open server connections, closed at the end */

static uint32_t fnv(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void s_write_done(uv_write_t *w, int status) {
  free(w->data);
  free(w);
}

static void s_send(sconn_t *c, const char *data) {
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b;
  w->data = strdup(data);
  b = uv_buf_init(w->data, (unsigned)strlen(data));
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_write_done);
}

static void s_closed(uv_handle_t *h) {
  sconn_t *c = (sconn_t *)h;
  if (c->answered && mode == S_REFUSE) {
    refused_bytes = c->after_answer;
    refused_closed = 1;
  }
  int i;
  for (i = 0; i < MAXSCONN; i++)
    if (sconns[i] == c)
      sconns[i] = NULL;
  uvh__parser_release(&c->parser);
  uvh__h1_message_free(&c->msg);
  free(c);
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  static char buf[65536];
  *b = uv_buf_init(buf, sizeof buf);
}

static void s_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn_t *c = (sconn_t *)s;
  size_t used;
  int rc;
  if (n < 0) {
    uv_close((uv_handle_t *)s, s_closed);
    return;
  }
  if (c->answered) {
    c->after_answer += (size_t)n; /* a refusal: what still comes is counted, then dropped */
    return;
  }
  if (!c->head_seen) {
    /* the client writes a head in one piece: it is in this read */
    const char *end = memmem(b->base, (size_t)n, "\r\n\r\n", 4);
    if (end) {
      size_t head_len = (size_t)(end + 4 - b->base);
      c->head_seen = 1;
      if (mode == S_REFUSE) {
        char head[160];
        snprintf(head, sizeof head, "HTTP/1.1 %d No\r\nContent-Length: 2\r\n\r\nno", refuse_code);
        s_send(c, head);
        c->answered = 1;
        c->after_answer = (size_t)n - head_len;
        return;
      }
      if (mode == S_CONTINUE && memmem(b->base, head_len, "Expect: 100-continue", 20))
        s_send(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
  }
  rc = uvh__parser_feed(&c->parser, b->base, (size_t)n, &used);
  if (rc == 1) {
    char resp[200], body[64];
    snprintf(body, sizeof body, "%zu %08x", c->msg.body.len, fnv(c->msg.body.data, c->msg.body.len));
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    s_send(c, resp);
    uvh__parser_release(&c->parser);
    uvh__parser_init_request(&c->parser, &c->msg, 1 << 16, 0);
    c->head_seen = 0;
  } else if (rc < 0) {
    uv_close((uv_handle_t *)s, s_closed);
  }
}

static void s_accept(uv_stream_t *srv, int status) {
  sconn_t *c = calloc(1, sizeof *c);
  int i;
  for (i = 0; i < MAXSCONN && sconns[i]; i++)
    ;
  if (i < MAXSCONN)
    sconns[i] = c;
  uv_tcp_init(srv->loop, &c->tcp);
  uvh__h1_message_init(&c->msg);
  uvh__parser_init_request(&c->parser, &c->msg, 1 << 16, 0);
  uv_accept(srv, (uv_stream_t *)&c->tcp);
  uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
  uv_unref((uv_handle_t *)&c->tcp); /* the client side keeps the loop alive while it waits */
}

static void server_start(uv_loop_t *uv) {
  struct sockaddr_in a;
  int len = sizeof a;
  uv_tcp_init(uv, &server);
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&server, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&server, 16, s_accept);
  uv_tcp_getsockname(&server, (struct sockaddr *)&a, &len);
  server_port = ntohs(a.sin_port);
  uv_unref((uv_handle_t *)&server);
}

/* ---------------------------------------------------------------- client */

typedef struct {
  int calls, err;
  int status;
  char body[128];
  char message[320];
  int pulls, continues;
  int pull_with_pending; /* pull was asked while a piece still waited: never */
  size_t npieces, next;  /* the pieces a pull gives: sizes from piece_size */
  size_t given;
  uint32_t hash;         /* of what was given */
  int die_at;            /* pull cancels the request at this call (1-based), 0 never */
  size_t length_extra;   /* with a Content-Length: give this many bytes more than the pieces */
} outcome_t;

static outcome_t o;
static char piece_buf[70000];

static size_t piece_size(size_t i) { return 1 + (i * 7919) % 65000; }

static void on_done(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  size_t len;
  const char *b = uvh_response_body(resp, &len);
  o.calls++;
  o.err = err ? err->code : 0;
  o.status = uvh_response_status(resp);
  snprintf(o.message, sizeof o.message, "%s", err ? err->message : "");
  snprintf(o.body, sizeof o.body, "%.*s", (int)len, b);
}

static uint32_t hash_add(uint32_t h, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void on_pull(uvh_request_t *req, void *data) {
  o.pulls++;
  if (req->body_next.len)
    o.pull_with_pending = 1;
  if (o.die_at && o.pulls == o.die_at) {
    uvh_request_cancel_with(req, UVH_E_REQUEST_BODY, "the source failed");
    return;
  }
  if (o.next == o.npieces) {
    if (o.length_extra) {
      memset(piece_buf, 'z', o.length_extra);
      uvh_request_send_body(req, piece_buf, o.length_extra, 1);
      return;
    }
    uvh_request_send_body(req, "", 0, 1);
    return;
  }
  {
    size_t n = piece_size(o.next), i;
    for (i = 0; i < n; i++)
      piece_buf[i] = (char)('a' + (o.next + i) % 26);
    o.hash = hash_add(o.hash, piece_buf, n);
    o.given += n;
    o.next++;
    uvh_request_send_body(req, piece_buf, n, 0);
  }
}

static void on_continue(uvh_request_t *req, void *data) { o.continues++; }

static void run(void) { uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT); }

/* Run until *flag is set (the server's side of a close), 5 s at most. */
static const int *wait_flag;
static int waited;
static void wait_tick(uvh_timer_t *t, void *data) {
  if (*wait_flag || ++waited > 5000)
    uvh_timer_stop(t);
}
static void run_until(const int *flag) {
  uvh_timer_t *t;
  wait_flag = flag;
  waited = 0;
  uvh_timer_new(loop, wait_tick, NULL, &t);
  uvh_timer_start(t, 0.001, 0.001);
  run();
  uvh_timer_unref(t);
}

static uvh_request_t *mkreq(const char *path) {
  uvh_request_t *r;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", server_port, path);
  uvh_request_new(&r);
  uvh_request_set_url(r, url, strlen(url));
  uvh_request_set_method(r, "PUT", 3);
  uvh_request_set_callback(r, on_done, NULL);
  uvh_request_set_timeout(r, 10);
  return r;
}

static void submit(uvh_pool_t *pool, uvh_request_t *r) {
  int rc = uvh_pool_submit(pool, r, NULL);
  if (rc)
    printf("# submit failed: %s\n", uvh_request_last_error(r));
  uvh_request_unref(r);
}

static void expect_echo(const char *name) {
  char want[64];
  snprintf(want, sizeof want, "%zu %08x", o.given, o.hash);
  is_str(o.body, want, name);
}

static void reset(size_t npieces) {
  memset(&o, 0, sizeof o);
  o.hash = 2166136261u;
  o.npieces = npieces;
}

/* ------------------------------------------------------------------ tests */

static void test_pulled(uvh_pool_t *pool) {
  uvh_request_t *r;
  const char *head;
  size_t hlen;
  mode = S_ECHO;
  reset(40);
  r = mkreq("/up");
  is_int(uvh_request_set_body_stream(r, on_pull), 0, "a pulled body");
  is_int(uvh_request_head(r, &head, &hlen), 0, "its head");
  ok(memmem(head, hlen, "Transfer-Encoding: chunked\r\n", 28) != NULL, "goes out chunked");
  ok(memmem(head, hlen, "Content-Length", 14) == NULL, "with no Content-Length");
  submit(pool, r);
  run();
  is_int(o.calls, 1, "one callback");
  is_int(o.err, 0, "no error");
  expect_echo("the server parsed every byte, in order (chunked)");
  is_int(o.pulls, 41, "one pull per piece, then the end");
  is_int(o.pull_with_pending, 0, "never asked for more while a piece waited: one piece at a time");

  reset(25);
  {
    size_t i, total = 0;
    char cl[32];
    for (i = 0; i < 25; i++)
      total += piece_size(i);
    snprintf(cl, sizeof cl, "%zu", total);
    r = mkreq("/up");
    uvh_request_add_header(r, "Content-Length", 14, cl, strlen(cl));
    uvh_request_set_body_stream(r, on_pull);
    uvh_request_head(r, &head, &hlen);
    ok(memmem(head, hlen, "Transfer-Encoding", 17) == NULL, "with a Content-Length: not chunked");
    submit(pool, r);
    run();
    expect_echo("the server received exactly the declared bytes");

    reset(25);
    o.length_extra = 3;
    r = mkreq("/up");
    uvh_request_add_header(r, "Content-Length", 14, cl, strlen(cl));
    uvh_request_set_body_stream(r, on_pull);
    submit(pool, r);
    run();
    is_int(o.calls, 1, "too long: one callback");
    is_int(o.err, UVH_E_REQUEST_BODY, "too long: request_body");
    ok(strstr(o.message, "the body is longer than its Content-Length") != NULL, "says so: %s", o.message);

    reset(24);
    r = mkreq("/up");
    uvh_request_add_header(r, "Content-Length", 14, cl, strlen(cl));
    uvh_request_set_body_stream(r, on_pull);
    submit(pool, r);
    run();
    is_int(o.err, UVH_E_REQUEST_BODY, "too short: request_body");
    ok(strstr(o.message, "short of its Content-Length") != NULL, "says so: %s", o.message);
  }

  reset(10);
  o.die_at = 4;
  r = mkreq("/up");
  uvh_request_set_body_stream(r, on_pull);
  submit(pool, r);
  run();
  is_int(o.calls, 1, "a failing source: one callback");
  is_int(o.err, UVH_E_REQUEST_BODY, "with its error");
  is_int(o.pulls, 4, "and no pull after it");

  /* a string body, chunked */
  reset(0);
  r = mkreq("/up");
  uvh_request_set_body(r, "hello", 5);
  uvh_request_set_chunked(r, 1);
  submit(pool, r);
  run();
  o.given = 5;
  o.hash = hash_add(2166136261u, "hello", 5);
  expect_echo("a string body sent chunked");
  r = mkreq("/up");
  uvh_request_add_header(r, "Content-Length", 14, "5", 1);
  uvh_request_set_body(r, "hello", 5);
  uvh_request_set_chunked(r, 1);
  is_int(uvh_request_check(r), UVH_E_BADHEADER, "chunked and a Content-Length are refused");
  uvh_request_unref(r);
}

/* Pushed pieces from a timer, faster and slower than the socket. */
static uvh_request_t *pushed;
static int push_left;
static void push_tick(uvh_timer_t *t, void *data) {
  char piece[3000];
  memset(piece, 'p', sizeof piece);
  if (push_left-- > 0) {
    o.hash = hash_add(o.hash, piece, sizeof piece);
    o.given += sizeof piece;
    is_int(uvh_request_send_body(pushed, piece, sizeof piece, 0), 0, "a pushed piece is taken");
  } else {
    is_int(uvh_request_send_body(pushed, "", 0, 1), 0, "the last piece");
    is_int(uvh_request_send_body(pushed, "x", 1, 0), UVH_E_BADARG, "a piece after the last is refused");
    uvh_timer_stop(t);
  }
}

static void test_pushed(uvh_pool_t *pool) {
  uvh_timer_t *t;
  mode = S_ECHO;
  reset(0);
  pushed = mkreq("/up");
  uvh_request_set_body_stream(pushed, NULL);
  uvh_request_set_chunked(pushed, 1);
  is_int(uvh_request_send_body(pushed, "x", 1, 0), 1, "before submit a piece is dropped");
  uvh_request_ref(pushed);
  submit(pool, pushed);
  is_int(uvh_request_send_body(pushed, "first", 5, 0), 0, "a piece while connecting waits in the request");
  o.hash = hash_add(o.hash, "first", 5);
  o.given = 5;
  push_left = 5;
  uvh_timer_new(loop, push_tick, NULL, &t);
  uvh_timer_start(t, 0.001, 0.001);
  run();
  uvh_timer_unref(t);
  is_int(o.calls, 1, "pushed: one callback");
  expect_echo("pushed: the server received every piece");
  is_int(uvh_request_send_body(pushed, "y", 1, 0), 1, "after completion a piece is dropped");
  uvh_request_unref(pushed);
  {
    uvh_request_t *r = mkreq("/up");
    uvh_request_set_body(r, "s", 1);
    is_int(uvh_request_send_body(r, "x", 1, 0), UVH_E_BADARG, "a string body takes no pieces");
    uvh_request_unref(r);
  }
}

static void test_expect(uvh_pool_t *pool) {
  uvh_request_t *r;
  /* a server that answers 100 */
  mode = S_CONTINUE;
  reset(5);
  r = mkreq("/up");
  uvh_request_add_header(r, "Expect", 6, "100-continue", 12);
  uvh_request_set_body_stream(r, on_pull);
  uvh_request_set_continue_cb(r, on_continue);
  uvh_request_set_expect_timeout(r, 5);
  submit(pool, r);
  run();
  is_int(o.continues, 1, "100: the continue callback ran once");
  expect_echo("100: the body followed");

  /* an immediate refusal: the body is never sent */
  mode = S_REFUSE;
  refuse_code = 417;
  refused_closed = 0;
  reset(5);
  r = mkreq("/up");
  uvh_request_add_header(r, "Expect", 6, "100-continue", 12);
  uvh_request_set_body_stream(r, on_pull);
  uvh_request_set_continue_cb(r, on_continue);
  uvh_request_set_expect_timeout(r, 5);
  submit(pool, r);
  run();
  is_int(o.status, 417, "417: delivered");
  is_int(o.pulls, 0, "417: the body was never asked for");
  is_int(o.continues, 0, "417: no continue callback");
  run_until(&refused_closed);
  is_int(refused_closed, 1, "417: the connection was closed");
  is_int(refused_bytes, 0, "417: the server received no byte of the body");
  reset(0);
  r = mkreq("/up");
  uvh_request_add_header(r, "Expect", 6, "100-continue", 12);
  uvh_request_set_body(r, "string body", 11);
  uvh_request_set_expect_timeout(r, 5);
  refused_closed = 0;
  submit(pool, r);
  run();
  run_until(&refused_closed);
  is_int(o.status, 417, "417 with a string body: delivered");
  is_int(refused_bytes, 0, "417 with a string body: no byte of it was sent");

  /* a silent server: the body goes after the expect timeout */
  mode = S_SILENT;
  reset(3);
  r = mkreq("/up");
  uvh_request_add_header(r, "Expect", 6, "100-continue", 12);
  uvh_request_set_body_stream(r, on_pull);
  uvh_request_set_continue_cb(r, on_continue);
  uvh_request_set_expect_timeout(r, 0.05);
  submit(pool, r);
  run();
  is_int(o.continues, 0, "silent: no continue callback");
  expect_echo("silent: the body went after the expect timeout");
}

static void test_early_response(uvh_pool_t *pool) {
  uvh_request_t *r;
  uint64_t closed = uvh_pool_stats(pool)->connections_closed;
  mode = S_REFUSE;
  refuse_code = 413;
  refused_closed = 0;
  reset(100000); /* about 3 GB if it were all sent */
  r = mkreq("/up");
  uvh_request_set_body_stream(r, on_pull);
  submit(pool, r);
  run();
  is_int(o.calls, 1, "413: one callback");
  is_int(o.err, 0, "413: no error");
  is_int(o.status, 413, "413: the early response is delivered");
  ok(o.next < o.npieces, "413: the upload was abandoned (%zu of %zu pieces)", o.next, o.npieces);
  is_int(uvh_pool_stats(pool)->connections_closed, closed + 1, "413: the connection was discarded");
  run_until(&refused_closed);
  is_int(refused_closed, 1, "413: the server saw the close");
}

int main(void) {
  uvh_pool_t *pool;
  uvh_pool_config_t cfg;
  is_int(uvh_loop_new(&loop), 0, "new loop");
  server_start(uvh_loop_uv(loop));
  uvh_pool_config_init(&cfg);
  is_int(cfg.expect_timeout, 1, "expect_timeout defaults to 1 s");
  uvh_pool_new(loop, &cfg, &pool);
  test_pulled(pool);
  test_pushed(pool);
  test_expect(pool);
  test_early_response(pool);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  {
    int i;
    for (i = 0; i < MAXSCONN; i++)
      if (sconns[i] && !uv_is_closing((uv_handle_t *)&sconns[i]->tcp))
        uv_close((uv_handle_t *)&sconns[i]->tcp, s_closed);
  }
  uv_close((uv_handle_t *)&server, NULL);
  is_int(uvh_loop_destroy(loop), 0, "the loop closes: no handle left open");
  return done_testing();
}
