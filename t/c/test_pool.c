/* Pool, connections and their lifetimes, against a small libuv server
 * living in the same loop. Every callback is counted; every scenario
 * ends with the pool's counters at zero, and the test ends with
 * uvh_loop_destroy closing an owned loop (so no handle may leak). */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include "tap.h"
#include <signal.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ test server */

typedef struct {
  uv_tcp_t tcp;
  char buf[8192];
  size_t len;
  int closed;
  int served; /* requests seen on this connection */
} sconn_t;

static uv_tcp_t server;
static sconn_t *last_sconn; /* the server side of the newest connection */
static int server_port;
static int accepted;
static int server_requests;

static void s_free(uv_handle_t *h) { free(h); }
static void s_write_done(uv_write_t *w, int status) { free(w->data); free(w); }

static void s_send(sconn_t *c, const char *data) {
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b;
  w->data = strdup(data);
  b = uv_buf_init(w->data, (unsigned)strlen(data));
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_write_done);
}

static void s_close(sconn_t *c) {
  if (!c->closed) {
    c->closed = 1;
    uv_close((uv_handle_t *)&c->tcp, s_free);
  }
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  sconn_t *c = (sconn_t *)h;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

/* One request per read is enough for these tests: the client never pipelines. */
static void s_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn_t *c = (sconn_t *)s;
  char *end;
  if (n < 0) {
    s_close(c);
    return;
  }
  c->len += (size_t)n;
  if ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
    return;
  server_requests++;
  c->served++;
  c->buf[c->len] = '\0';
  if (strstr(c->buf, " /ok "))
    s_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  else if (strstr(c->buf, " /close "))
    s_send(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  else if (strstr(c->buf, " /max0 "))
    s_send(c, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=0\r\nContent-Length: 2\r\n\r\nok");
  else if (strstr(c->buf, " /max0last "))
    s_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=30, max=0\r\n\r\nok");
  else if (strstr(c->buf, " /max0digit "))
    s_send(c, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=30, max=0\r\n7-Extra: y\r\nContent-Length: 2\r\n\r\nok");
  else if (strstr(c->buf, " /max1digit "))
    s_send(c, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=30, max=1\r\n5-Extra: y\r\nContent-Length: 2\r\n\r\nok");
  else if (strstr(c->buf, " /bye ")) {
    s_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye");
    s_close(c); /* keep-alive response, then the server closes the idle connection */
  } else if (strstr(c->buf, " /drop "))
    s_close(c);
  else if (strstr(c->buf, " /drop2 ")) {
    /* the keep-alive race: answer the first request, drop the second */
    if (c->served == 1)
      s_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    else
      s_close(c);
  }
  /* " /stall ": never answer */
  c->len = 0;
}

static void s_accept(uv_stream_t *srv, int status) {
  sconn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(srv->loop, &c->tcp);
  uv_accept(srv, (uv_stream_t *)&c->tcp);
  accepted++;
  last_sconn = c;
  uv_unref((uv_handle_t *)&c->tcp); /* only the client side may keep the loop running */
  uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
}

static void server_start(uv_loop_t *uv) {
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int len = sizeof name;
  uv_tcp_init(uv, &server);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  uv_listen((uv_stream_t *)&server, 128, s_accept);
  uv_tcp_getsockname(&server, (struct sockaddr *)&name, &len);
  server_port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  /* the server must not keep uv_run from returning */
  uv_unref((uv_handle_t *)&server);
}

/* ---------------------------------------------------------------- helpers */

#define MAXREQ 64
typedef struct {
  int calls;
  int err;
  int status;
  int sys_err;
} outcome_t;

static outcome_t out[MAXREQ];
static uvh_loop_t *loop;

static void on_done(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  outcome_t *o = data;
  o->calls++;
  o->err = err ? err->code : 0;
  o->sys_err = err ? err->sys_err : 0;
  o->status = uvh_response_status(resp);
}

/* A request for `url` whose outcome lands in out[i]. */
static uvh_request_t *mkreq_url(const char *url, int i) {
  uvh_request_t *r;
  uvh_request_new(&r);
  uvh_request_set_url(r, url, strlen(url));
  uvh_request_set_callback(r, on_done, &out[i]);
  memset(&out[i], 0, sizeof out[i]);
  return r;
}

/* The same for `path` on the test server. */
static uvh_request_t *mkreq(const char *path, int i) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", server_port, path);
  return mkreq_url(url, i);
}

/* Submit and drop our reference: the pool holds the request until done. */
static uvh_conn_t *submit_req(uvh_pool_t *pool, uvh_request_t *r) {
  uvh_conn_t *conn = NULL;
  int rc = uvh_pool_submit(pool, r, &conn);
  if (rc)
    printf("# submit failed: %s\n", uvh_strerror(rc));
  uvh_request_unref(r);
  return conn;
}

static uvh_conn_t *submit(uvh_pool_t *pool, const char *path, int i) { return submit_req(pool, mkreq(path, i)); }
static uvh_conn_t *submit_url(uvh_pool_t *pool, const char *url, int i) { return submit_req(pool, mkreq_url(url, i)); }

static void run(void) { uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT); }

static uvh_pool_t *mkpool(double idle, unsigned maxc) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_pool_config_init(&cfg);
  cfg.idle_timeout = idle;
  cfg.max_connections = maxc;
  uvh_pool_new(loop, &cfg, &pool);
  return pool;
}

static void noop_timer(uvh_timer_t *t, void *data) { uv_stop(uvh_loop_uv(loop)); }

static void sleep_loop(double s) {
  uvh_timer_t *t;
  uvh_timer_new(loop, noop_timer, NULL, &t);
  uvh_timer_start(t, s, 0);
  run();
  uvh_timer_unref(t);
}

/* ------------------------------------------------------------------ tests */

/* What a redirect step reads in the callback: the pool, the time left. */
static uvh_pool_t *seen_pool;
static double seen_left = -2;
static void on_done_hop(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  seen_pool = uvh_request_pool(req);
  seen_left = uvh_request_time_left(req);
  on_done(req, resp, err, data);
}

static void test_redirect_hooks(void) {
  uvh_pool_t *pool = mkpool(60, 10);
  uvh_request_t *r = mkreq("/ok", 0);
  ok(uvh_request_pool(r) == NULL, "a new request has no pool");
  is_int((int)uvh_request_time_left(r), -1, "nor a deadline");
  uvh_request_set_timeout(r, 5);
  uvh_request_set_callback(r, on_done_hop, &out[0]);
  submit_req(pool, r);
  run();
  is_int(out[0].calls, 1, "one callback");
  ok(seen_pool == pool, "uvh_request_pool gives the pool in the callback");
  ok(seen_left > 0 && seen_left <= 5, "uvh_request_time_left: what is left of the 5 s (%g)", seen_left);
  r = mkreq("/ok", 1);
  uvh_request_set_timeout(r, 0);
  uvh_request_set_callback(r, on_done_hop, &out[1]);
  submit_req(pool, r);
  run();
  is_int((int)seen_left, -1, "no timeout: -1");
  uvh_pool_count_error(pool, UVH_E_REDIRECTION_LIMIT);
  uvh_pool_count_error(pool, UVH_E_BADARG); /* no slot: ignored */
  is_int((int)uvh_pool_stats(pool)->errors[uvh_error_slot(UVH_E_REDIRECTION_LIMIT)], 1, "uvh_pool_count_error counts");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_reuse(void) {
  uvh_pool_t *pool = mkpool(60, 10);
  int i, good = 0;
  accepted = 0;
  for (i = 0; i < 3; i++) {
    ok(submit(pool, "/ok", i) != NULL, "request %d runs at once", i);
    run();
    good += out[i].calls == 1 && out[i].err == 0 && out[i].status == 200;
  }
  is_int(good, 3, "three sequential requests succeeded once each");
  is_int(accepted, 1, "one connection reused");
  is_int(uvh_pool_size(pool), 1, "idle connection stays open");
  is_int(uvh_pool_nbusy(pool), 0, "none busy");
  uvh_pool_release(pool);
  is_int(uvh_pool_size(pool), 0, "release closes idle connections");
  uvh_pool_unref(pool);
  run();
}

static void test_queue(void) {
  uvh_pool_t *pool = mkpool(60, 2);
  int i, good = 0, queued = 0;
  accepted = 0;
  for (i = 0; i < 6; i++)
    queued += submit(pool, "/ok", i) == NULL;
  is_int(queued, 4, "beyond max_connections requests queue");
  is_int(uvh_pool_nqueued(pool), 4, "nqueued");
  is_int(uvh_pool_nbusy(pool), 2, "nbusy");
  is_int(uvh_pool_size(pool), 2, "size");
  run();
  for (i = 0; i < 6; i++)
    good += out[i].calls == 1 && out[i].err == 0;
  is_int(good, 6, "all six completed once");
  is_int(accepted, 2, "two connections served six requests");
  is_int(uvh_pool_nqueued(pool) + uvh_pool_nbusy(pool), 0, "nothing left");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_close_and_max0(void) {
  uvh_pool_t *pool = mkpool(60, 10);
  accepted = 0;
  submit(pool, "/close", 0);
  run();
  is_int(out[0].err, 0, "Connection: close response succeeds");
  is_int(uvh_pool_size(pool), 0, "Connection: close is not kept");
  submit(pool, "/max0", 1);
  run();
  is_int(uvh_pool_size(pool), 0, "Keep-Alive max=0 is not kept");
  submit(pool, "/bye", 2);
  run();
  is_int(out[2].err, 0, "response ok");
  sleep_loop(0.05);
  is_int(uvh_pool_size(pool), 0, "server-closed idle connection removed");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Regression: the Keep-Alive parameters were read past the end of their
 * value, into the next header's name ("max=0" then "7-Extra" read as 7)
 * or into bytes of the string store never written (valgrind sees those):
 * connections were reused past max=. Fresh pools, many rounds. */
static void test_keep_alive_max_rounds(void) {
  static const char *const max0[] = {"/max0last", "/max0digit"};
  int round, bad0 = 0, bad1 = 0, calls = 0;
  for (round = 0; round < 20; round++) {
    uvh_pool_t *pool = mkpool(60, 10);
    int i;
    accepted = 0;
    submit(pool, max0[round % 2], 0);
    run();
    submit(pool, "/ok", 1);
    run();
    calls += out[0].calls + out[1].calls;
    bad0 += accepted != 2 || uvh_pool_stats(pool)->reused != 0 || uvh_pool_stats(pool)->connections_opened != 2;
    uvh_pool_release(pool);
    uvh_pool_unref(pool);
    run();

    /* max=1 on every response: two requests per connection */
    pool = mkpool(60, 10);
    accepted = 0;
    for (i = 0; i < 5; i++) {
      submit(pool, "/max1digit", 2 + i);
      run();
      calls += out[2 + i].calls;
    }
    bad1 += accepted != 3 || uvh_pool_stats(pool)->reused != 2;
    uvh_pool_release(pool);
    uvh_pool_unref(pool);
    run();
  }
  is_int(calls, 20 * 7, "one callback per request");
  is_int(bad0, 0, "max=0: never reused (20 fresh pools)");
  is_int(bad1, 0, "max=1: five requests on three connections (20 fresh pools)");
}

/* ------------------------------------------------- the queue's due heap */

/* The heap's own invariants: heap order, and every entry's back index. */
static int due_heap_sound(const uvh_pool_t *pool) {
  size_t i;
  for (i = 0; i < pool->ndue; i++) {
    const uvh_due_entry_t *e = &pool->due_heap[i], *parent = i > 0 ? &pool->due_heap[(i - 1) / 2] : NULL;
    if (e->req->due_slot != i + 1 || e->req->state != REQ_QUEUED)
      return 0;
    if (parent && (parent->due > e->due || (parent->due == e->due && parent->seq > e->seq)))
      return 0;
  }
  return pool->ndue <= pool->nactive && pool->nactive <= pool->due_cap;
}

/* Completion order of the requests of one scenario. */
#define MAXORDER 20000
static int order[MAXORDER], norder, order_calls[MAXORDER], order_err[MAXORDER];

static void on_ordered(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  int i = (int)(intptr_t)data;
  if (order_calls[i]++ == 0 && norder < MAXORDER)
    order[norder++] = i;
  order_err[i] = err ? err->code : 0;
}

static uvh_request_t *mkreq_ordered(const char *path, int i, double timeout) {
  uvh_request_t *r = mkreq(path, 0);
  uvh_request_set_callback(r, on_ordered, (void *)(intptr_t)i);
  uvh_request_set_timeout(r, timeout);
  order_calls[i] = order_err[i] = 0;
  return r;
}

/* Queued behind a stalled request: requests leave the queue at the earlier
 * of their own deadline and queue_timeout, earliest first, first come first
 * among equal times, whatever the order they were queued in. */
static void test_queue_expiry_order(void) {
  static const double timeouts[] = {0.09, 0.02, 0, 0.035, 0.2, 0.02, 0};
  /* queue_timeout 0.05: due 50 ms unless the timeout is earlier */
  static const int expect[] = {1, 5, 3, 0, 2, 4, 6};
  static const int expect_err[] = {UVH_E_QUEUE_TIMEOUT, UVH_E_TIMEOUT, UVH_E_QUEUE_TIMEOUT, UVH_E_TIMEOUT,
                                   UVH_E_QUEUE_TIMEOUT, UVH_E_TIMEOUT, UVH_E_QUEUE_TIMEOUT};
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_request_t *stall;
  int i, in_order = 1, errs = 0, once = 0;
  uvh_pool_config_init(&cfg);
  cfg.max_connections = 1;
  cfg.queue_timeout = 0.05;
  uvh_pool_new(loop, &cfg, &pool);
  stall = mkreq_ordered("/stall", 100, 0);
  uvh_pool_submit(pool, stall, NULL);
  norder = 0;
  for (i = 0; i < 7; i++)
    submit_req(pool, mkreq_ordered("/ok", i, timeouts[i]));
  is_int(uvh_pool_nqueued(pool), 7, "seven queued");
  is_int(pool->ndue, 7, "all seven in the due heap");
  ok(due_heap_sound(pool), "heap sound after the inserts");
  sleep_loop(0.3);
  is_int(norder, 7, "all seven left the queue");
  for (i = 0; i < 7; i++) {
    in_order &= order[i] == expect[i];
    errs += order_err[i] == expect_err[i];
    once += order_calls[i] == 1;
  }
  ok(in_order, "in due order: %d %d %d %d %d %d %d", order[0], order[1], order[2], order[3], order[4], order[5],
     order[6]);
  is_int(errs, 7, "timeout or queue_timeout, whichever came first");
  is_int(once, 7, "one callback each");
  is_int(pool->ndue, 0, "heap empty");
  ok(!uv_is_active((uv_handle_t *)&pool->queue_timer), "queue timer stopped");
  is_int(order_calls[100], 0, "the stalled request is still running");
  uvh_request_cancel(stall);
  uvh_request_unref(stall);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Regression: when several queued requests of different destinations were
 * due by the time the queue timer ran, they were completed destination by
 * destination, not by deadline. The loop is kept from running until all
 * four are due, so one timer callback finds them all. */
static void test_queue_expiry_across_destinations(void) {
  static const double timeouts[] = {0.03, 0.02, 0.05, 0.04};
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *stall[2];
  char url[2][96];
  int i;
  snprintf(url[0], sizeof url[0], "http://127.0.0.1:%d/stall", server_port);
  snprintf(url[1], sizeof url[1], "http://localhost:%d/stall", server_port);
  for (i = 0; i < 2; i++) {
    stall[i] = mkreq_url(url[i], 0);
    uvh_request_set_callback(stall[i], on_ordered, (void *)(intptr_t)(100 + i));
    uvh_request_set_timeout(stall[i], 0);
    order_calls[100 + i] = 0;
    uvh_pool_submit(pool, stall[i], NULL);
  }
  norder = 0;
  for (i = 0; i < 4; i++) {
    uvh_request_t *r = mkreq_url(url[i % 2], 0);
    uvh_request_set_callback(r, on_ordered, (void *)(intptr_t)i);
    uvh_request_set_timeout(r, timeouts[i]);
    order_calls[i] = 0;
    submit_req(pool, r);
  }
  is_int(uvh_pool_nqueued(pool), 4, "two queued per destination");
  usleep(150 * 1000);
  sleep_loop(0.01);
  ok(norder == 4 && order[0] == 1 && order[1] == 0 && order[2] == 3 && order[3] == 2,
     "timed out in deadline order across destinations: %d %d %d %d", order[0], order[1], order[2], order[3]);
  is_int(order_calls[0] + order_calls[1] + order_calls[2] + order_calls[3], 4, "one callback each");
  for (i = 0; i < 2; i++) {
    uvh_request_cancel(stall[i]);
    uvh_request_unref(stall[i]);
  }
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Cancelling from the middle and the first of the heap, then a retry put
 * back at the head of the queue: the heap stays sound and the timer
 * follows its first entry. */
static void test_queue_cancel_and_requeue(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *stall, *r[6];
  int i, once = 0;
  stall = mkreq_ordered("/stall", 100, 0);
  uvh_pool_submit(pool, stall, NULL);
  norder = 0;
  for (i = 0; i < 6; i++) {
    r[i] = mkreq_ordered("/ok", i, 0.02 * (i + 1));
    uvh_pool_submit(pool, r[i], NULL);
  }
  uvh_request_cancel(r[3]);
  is_int(order_calls[3], 1, "a request cancelled from the middle calls back at once");
  is_int(order_err[3], UVH_E_CANCELLED, "with cancelled");
  ok(due_heap_sound(pool) && pool->ndue == 5, "it left the heap, which stays sound");
  uvh_request_cancel(r[0]);
  ok(due_heap_sound(pool) && pool->ndue == 4, "the first of the heap cancelled: sound");
  ok(pool->queue_timer_due == pool->due_heap[0].due && pool->due_heap[0].req == r[1],
     "the timer follows the new first (request 1)");
  sleep_loop(0.2);
  is_int(norder, 6, "every request called back");
  ok(order[0] == 3 && order[1] == 0 && order[2] == 1 && order[3] == 2 && order[4] == 4 && order[5] == 5,
     "cancelled ones first, then the rest in due order");
  for (i = 0; i < 6; i++)
    once += order_calls[i] == 1;
  is_int(once, 6, "one callback each");
  uvh_request_cancel(r[1]);
  is_int(order_calls[1], 1, "cancelling an expired request does nothing");
  for (i = 0; i < 6; i++)
    uvh_request_unref(r[i]);
  uvh_request_cancel(stall);
  uvh_request_unref(stall);

  /* a retry goes back to the head of the queue, before requests queued
   * earlier than it was (re)queued, and is served first */
  accepted = 0;
  submit_req(pool, mkreq_ordered("/drop2", 10, 5));
  run();
  norder = 0;
  submit_req(pool, mkreq_ordered("/drop2", 11, 5));     /* runs on the reused connection: dropped, retried */
  submit_req(pool, mkreq_ordered("/ok", 12, 5));
  submit_req(pool, mkreq_ordered("/ok", 13, 5));
  ok(due_heap_sound(pool) && pool->ndue == 2, "two queued behind it");
  run();
  ok(norder == 3 && order[0] == 11 && order[1] == 12 && order[2] == 13, "the retry first, then FIFO");
  is_int(order_err[11] + order_err[12] + order_err[13], 0, "all answered");
  is_int(uvh_pool_stats(pool)->retried, 1, "one retry");
  is_int(pool->ndue, 0, "heap empty");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Many entries: 20,000 queued with deadlines in a scrambled order, every
 * seventh cancelled, the rest expiring; then 20,000 more cut short by a
 * shutdown. Each calls back once; expiry is in due order. */
static void test_queue_many(void) {
  enum { N = 20000 };
  static uint64_t due[N];
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *stall;
  int i, once = 0, cancelled = 0, timed_out = 0, monotonic = 1;
  size_t cap_full;
  stall = mkreq_ordered("/stall", N - 1, 0);
  uvh_pool_submit(pool, stall, NULL);
  norder = 0;
  for (i = 0; i < N - 1; i++) {
    /* 10..200 ms, scrambled (a multiplicative permutation) */
    double t = 0.01 + (double)((i * 7919) % 191) / 1000.0;
    uvh_request_t *r = mkreq_ordered("/ok", i, t);
    uvh_pool_submit(pool, r, NULL);
    due[i] = r->deadline;
    if (i % 7 == 3)
      uvh_request_cancel(r);
    uvh_request_unref(r);
  }
  ok(due_heap_sound(pool), "heap sound with %zu entries", pool->ndue);
  cap_full = pool->due_cap;
  sleep_loop(0.4);
  for (i = 0; i < N - 1; i++) {
    once += order_calls[i] == 1;
    cancelled += order_err[i] == UVH_E_CANCELLED;
    timed_out += order_err[i] == UVH_E_TIMEOUT;
  }
  for (i = 1; i < norder; i++)
    if (order_err[order[i]] == UVH_E_TIMEOUT && order_err[order[i - 1]] == UVH_E_TIMEOUT &&
        due[order[i]] < due[order[i - 1]])
      monotonic = 0;
  is_int(once, N - 1, "one callback each");
  is_int(cancelled, (N - 1 + 3) / 7, "the cancelled ones cancelled");
  is_int(timed_out, N - 1 - (N - 1 + 3) / 7, "the rest timed out in the queue");
  ok(monotonic, "in due order");
  is_int(pool->ndue, 0, "heap empty");
  ok(pool->due_cap < cap_full, "its room given back (%zu of %zu)", pool->due_cap, cap_full);

  norder = 0;
  for (i = 0; i < N - 1; i++)
    submit_req(pool, mkreq_ordered("/ok", i, 60));
  ok(due_heap_sound(pool) && pool->ndue == N - 1, "refilled");
  uvh_pool_shutdown(pool);
  once = 0;
  for (i = 0; i < N - 1; i++)
    once += order_calls[i] == 1 && order_err[i] == UVH_E_CANCELLED;
  is_int(once, N - 1, "shutdown cancels each once");
  is_int(order_calls[N - 1], 1, "and the running one");
  is_int(pool->ndue + uvh_pool_nqueued(pool), 0, "heap and queue empty");
  uvh_request_unref(stall);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_errors(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *r;
  char url[64];

  r = mkreq("/stall", 0);
  uvh_request_set_timeout(r, 0.1);
  uvh_pool_submit(pool, r, NULL);
  uvh_request_unref(r);
  r = mkreq("/ok", 1); /* queued behind the stalled one; times out in the queue */
  uvh_request_set_timeout(r, 0.05);
  ok(uvh_pool_submit(pool, r, NULL) == 0 && uvh_request_active(r), "second request queued");
  uvh_request_unref(r);
  run();
  is_int(out[0].err, UVH_E_TIMEOUT, "running request times out");
  is_int(out[1].err, UVH_E_TIMEOUT, "queued request times out");
  is_int(out[0].calls + out[1].calls, 2, "one callback each");
  is_int(uvh_pool_size(pool), 0, "timed-out connection discarded");

  submit(pool, "/drop", 2);
  run();
  is_int(out[2].err, UVH_E_CONN_CLOSED, "server closing before a response");

  /* a port nobody listens on: bind one, close it, use it */
  {
    uv_tcp_t t;
    struct sockaddr_in a;
    struct sockaddr_storage n;
    int len = sizeof n, port;
    uv_tcp_init(uvh_loop_uv(loop), &t);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&n, &len);
    port = ntohs(((struct sockaddr_in *)&n)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    run();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
  }
  submit_url(pool, url, 3);
  run();
  is_int(out[3].err, UVH_E_CONNECT, "connection refused");
  is_int(out[3].sys_err, UV_ECONNREFUSED, "errno kept");

  submit_url(pool, "http://nonexistent.invalid/", 4);
  run();
  is_int(out[4].err, UVH_E_RESOLVE, "unresolvable host");
  is_int(uvh_pool_size(pool), 0, "no connection left");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_cancel_shutdown(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *a = mkreq("/stall", 0), *b = mkreq("/ok", 1);
  uvh_pool_submit(pool, a, NULL);
  uvh_pool_submit(pool, b, NULL);
  uvh_request_cancel(b);
  is_int(out[1].err, UVH_E_CANCELLED, "queued request cancelled synchronously");
  is_int(uvh_pool_nqueued(pool), 0, "queue empty");
  sleep_loop(0.02);
  uvh_request_cancel(a);
  is_int(out[0].err, UVH_E_CANCELLED, "running request cancelled");
  is_int(uvh_pool_size(pool), 0, "its connection discarded");
  uvh_request_cancel(a);
  is_int(out[0].calls, 1, "second cancel is a no-op");
  uvh_request_unref(a);
  uvh_request_unref(b);

  submit(pool, "/stall", 2);
  submit(pool, "/stall", 3);
  sleep_loop(0.02);
  uvh_pool_shutdown(pool);
  is_int(out[2].err, UVH_E_CANCELLED, "shutdown cancels the running request");
  is_int(out[3].err, UVH_E_CANCELLED, "shutdown cancels the queued request");
  is_int(uvh_pool_size(pool) + uvh_pool_nqueued(pool) + uvh_pool_nbusy(pool), 0, "pool empty");
  submit(pool, "/ok", 4);
  run();
  is_int(out[4].err, 0, "pool usable after shutdown");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* cancel with another code: delivered as that code, counted as it, message with the detail */
static const char *last_message;
static void on_done_message(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  static char copy[sizeof err->message];
  on_done(req, resp, err, data);
  snprintf(copy, sizeof copy, "%s", err ? err->message : "");
  last_message = copy;
}

static void test_cancel_with(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *a = mkreq("/stall", 5), *b = mkreq("/ok", 6);
  unsigned timeouts = uvh_pool_stats(pool)->errors[uvh_error_slot(UVH_E_TIMEOUT)];
  uvh_request_set_callback(b, on_done_message, &out[6]);
  uvh_pool_submit(pool, a, NULL);
  uvh_pool_submit(pool, b, NULL);
  is_int(uvh_request_cancel_with(b, UVH_E_BADURL, NULL), UVH_E_BADARG, "a usage code is refused");
  is_int(uvh_request_cancel_with(b, UVH_E_INHERITED, NULL), UVH_E_BADARG, "inherited is refused");
  is_int(uvh_request_cancel_with(b, 0, NULL), UVH_E_BADARG, "0 is refused");
  is_int(out[6].calls, 0, "a refused cancel does nothing");
  is_int(uvh_request_cancel_with(b, UVH_E_TIMEOUT, "given up"), 0, "queued request cancelled with timeout");
  is_int(out[6].err, UVH_E_TIMEOUT, "callback got the given code");
  ok(strstr(last_message, "request timed out (GET http://127.0.0.1:") && strstr(last_message, "/ok): given up"),
     "message of that code with the detail: %s", last_message);
  is_int(uvh_pool_stats(pool)->errors[uvh_error_slot(UVH_E_TIMEOUT)], timeouts + 1, "counted as a timeout");
  sleep_loop(0.02);
  uvh_request_set_callback(a, on_done_message, &out[5]);
  is_int(uvh_request_cancel_with(a, UVH_E_CONN_CLOSED, NULL), 0, "running request cancelled with connection_closed");
  is_int(out[5].err, UVH_E_CONN_CLOSED, "callback got it");
  is_int(out[5].calls, 1, "once");
  is_int(uvh_pool_size(pool), 0, "its connection discarded, not retried");
  is_int(uvh_request_cancel_with(a, UVH_E_TIMEOUT, NULL), 0, "cancelling a finished request is a no-op");
  is_int(out[5].calls, 1, "no second callback");
  uvh_request_unref(a);
  uvh_request_unref(b);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_idle_timeout(void) {
  uvh_pool_t *pool = mkpool(0.05, 10);
  submit(pool, "/ok", 0);
  run();
  is_int(uvh_pool_size(pool), 1, "kept alive");
  sleep_loop(0.2);
  is_int(uvh_pool_size(pool), 0, "closed after the idle timeout");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Driven from outside, as a host event loop does it: poll the backend fd
 * for at most the backend timeout, then run without blocking. */
static int work_calls;
static void on_work(uvh_loop_t *l) { work_calls += l == loop; }

/* One wakeup: wait for the backend fd at most the backend timeout (capped). */
static void drive_once(int max_ms) {
  struct pollfd p = {uvh_loop_backend_fd(loop), POLLIN, 0};
  int t = uvh_loop_backend_timeout(loop);
  if (t < 0 || t > max_ms)
    t = max_ms;
  poll(&p, 1, t);
  uvh_loop_run_nowait(loop);
}

/* Wakeups spent until *flag reaches want (or the ms bound passes). */
static int drive_until(const int *flag, int want, int max_ms) {
  uint64_t end = uv_hrtime() + (uint64_t)max_ms * 1000000;
  int wakeups = 0;
  while (*flag < want && uv_hrtime() < end) {
    drive_once(max_ms);
    wakeups++;
  }
  return wakeups;
}

static int pool_size_left(uvh_pool_t *pool) { return (int)uvh_pool_size(pool); }

static void test_driven_from_outside(void) {
  uvh_pool_t *pool = mkpool(0.3, 4);
  uvh_timer_t *t;
  int closed, wakeups, before, timeout;
  uint64_t t0;

  ok(uvh_loop_backend_fd(loop) >= 0, "a backend fd");
  is_int(uvh_loop_alive(loop), 0, "nothing referenced: not alive");
  is_int(uvh_loop_backend_timeout(loop), -1, "and no timeout: a host may sleep on I/O alone");
  uvh_loop_set_work_cb(loop, on_work);

  work_calls = 0;
  submit(pool, "/ok", 0);
  ok(work_calls >= 1, "submitting told the driver (%d calls)", work_calls);
  is_int(uvh_loop_alive(loop), 1, "a pending request is referenced work");
  wakeups = drive_until(&out[0].calls, 1, 5000);
  is_int(out[0].calls, 1, "the request completed, driven from outside");
  is_int(out[0].status, 200, "with its response");
  ok(wakeups <= 20, "in a few wakeups (%d), no spinning", wakeups);

  is_int(uvh_pool_size(pool), 1, "its connection stays open, idle");
  is_int(uvh_loop_alive(loop), 0, "an idle connection is not referenced work");
  timeout = uvh_loop_backend_timeout(loop);
  ok(timeout > 0 && timeout <= 400, "the timeout is the idle deadline (%d ms), not 0 (which would spin)", timeout);

  before = work_calls;
  uvh_timer_new(loop, noop_timer, NULL, &t);
  uvh_timer_start(t, 10, 0);
  ok(work_calls > before, "starting a timer told the driver");
  is_int(uvh_loop_alive(loop), 1, "a started timer is referenced");
  timeout = uvh_loop_backend_timeout(loop);
  ok(timeout > 0 && timeout <= 400, "the idle deadline still comes first (%d ms)", timeout);
  before = work_calls;
  uvh_timer_stop(t);
  ok(work_calls > before, "stopping it too");
  is_int(uvh_loop_alive(loop), 0, "stopped: not alive again");

  /* the idle timeout expires while only the driver's poll waits */
  t0 = uv_hrtime();
  wakeups = 0;
  while (pool_size_left(pool) > 0 && uv_hrtime() - t0 < 2000000000ull && ++wakeups)
    drive_once(1000);
  is_int(uvh_pool_size(pool), 0, "the idle connection closed at its deadline");
  ok(wakeups <= 5, "sleeping until it (%d wakeups in %.0f ms)", wakeups,
     (uv_hrtime() - t0) / 1e6);
  closed = (int)((uv_hrtime() - t0) / 1000000);
  ok(closed < 1500, "on time (%d ms after, idle timeout 300 ms)", closed);

  /* a server closing an idle connection is noticed at once, with no request pending */
  uvh_pool_set_idle_timeout(pool, 30);
  submit(pool, "/bye", 1);
  drive_until(&out[1].calls, 1, 5000);
  is_int(out[1].status, 200, "a response, then the server closes");
  t0 = uv_hrtime();
  while (pool_size_left(pool) > 0 && uv_hrtime() - t0 < 2000000000ull)
    drive_once(1000);
  is_int(uvh_pool_size(pool), 0, "the closed idle connection is dropped while only the driver polls");
  ok(uv_hrtime() - t0 < 500000000ull, "at once, not at a timeout (%.0f ms)", (uv_hrtime() - t0) / 1e6);

  uvh_timer_unref(t);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  before = work_calls;
  run();
  uvh_loop_set_work_cb(loop, NULL);
}

/* A callback that starts another request, and one that drops the pool. */
static uvh_pool_t *reentrant_pool;
static int chain_left;

static void on_chain(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  on_done(req, resp, err, data);
  if (chain_left-- > 0) {
    uvh_request_t *r = mkreq("/ok", 10 + chain_left);
    uvh_request_set_callback(r, on_chain, &out[10 + chain_left]);
    uvh_pool_submit(reentrant_pool, r, NULL);
    uvh_request_unref(r);
  } else {
    uvh_pool_release(reentrant_pool);
    uvh_pool_unref(reentrant_pool);
  }
}

static void test_reentrancy(void) {
  uvh_request_t *r;
  int i, good = 0;
  reentrant_pool = mkpool(60, 1);
  accepted = 0;
  chain_left = 5;
  r = mkreq("/ok", 20);
  uvh_request_set_callback(r, on_chain, &out[20]);
  uvh_pool_submit(reentrant_pool, r, NULL);
  uvh_request_unref(r);
  run();
  for (i = 10; i < 15; i++)
    good += out[i].calls == 1 && out[i].err == 0;
  is_int(good + (out[20].calls == 1), 6, "six chained requests, each called once");
  is_int(accepted, 1, "chained requests reused one connection");
}

static int retried_flag;
static void on_done_retried(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  on_done(req, resp, err, data);
  retried_flag = uvh_response_retried(resp);
}

static void test_retry(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *r;
  accepted = 0;
  server_requests = 0;
  submit(pool, "/drop2", 0);
  run();
  is_int(out[0].err, 0, "first request on the connection answered");
  r = mkreq("/drop2", 1);
  uvh_request_set_callback(r, on_done_retried, &out[1]);
  uvh_pool_submit(pool, r, NULL);
  uvh_request_unref(r);
  run();
  is_int(out[1].err, 0, "GET dropped on a reused connection: retried and answered");
  ok(retried_flag, "response says it was retried");
  is_int(uvh_pool_stats(pool)->retried, 1, "stats count one retry");
  is_int(accepted, 2, "the retry went out on a new connection");

  r = mkreq("/drop2", 2);
  uvh_request_set_method(r, "POST", 4);
  uvh_pool_submit(pool, r, NULL);
  uvh_request_unref(r);
  server_requests = 0;
  run();
  is_int(out[2].err, UVH_E_CONN_CLOSED, "POST dropped on a reused connection: not retried");
  is_int(server_requests, 1, "the server saw the POST once");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* The server resets an idle connection after the poll phase has looked
 * and before the pre-write check writes on it: the write meets the reset.
 * The connection must not be written to again (that write would raise
 * SIGPIPE, fatal by default) and the request goes out on a new one. */
static void test_reset_before_deferred_write(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uvh_request_t *r;
  struct linger lg = {1, 0};
  uv_os_fd_t fd;
  void (*old)(int) = signal(SIGPIPE, SIG_DFL);
  accepted = 0;
  retried_flag = 0;
  submit(pool, "/ok", 0);
  run();
  is_int(out[0].err, 0, "first request answered; its connection is idle");
  uv_fileno((uv_handle_t *)&last_sconn->tcp, &fd);
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  s_close(last_sconn); /* closes the descriptor now: the reset is on its way */
  r = mkreq("/ok", 1);
  uvh_request_set_callback(r, on_done_retried, &out[1]);
  uvh_pool_submit(pool, r, NULL);
  uvh_request_unref(r);
  /* the check handle's work, with no poll phase in between to see the reset */
  pool->check.check_cb(&pool->check);
  run();
  is_int(out[1].calls, 1, "one callback");
  is_int(out[1].err, 0, "answered on a new connection, no SIGPIPE");
  ok(retried_flag, "the response says it was sent again");
  is_int(accepted, 2, "a second connection was opened");
  signal(SIGPIPE, old);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_queue_limits(void) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_pool_config_init(&cfg);
  cfg.max_connections = 1;
  cfg.max_queue = 1;
  cfg.queue_timeout = 0.05;
  uvh_pool_new(loop, &cfg, &pool);
  submit(pool, "/stall", 0);
  submit(pool, "/ok", 1);
  submit(pool, "/ok", 2);
  is_int(out[2].calls, 0, "queue_full is not reported inside submit");
  sleep_loop(0.02);
  is_int(out[2].err, UVH_E_QUEUE_FULL, "beyond max_queue: queue_full on the next tick");
  sleep_loop(0.1);
  is_int(out[1].err, UVH_E_QUEUE_TIMEOUT, "waited longer than queue_timeout");
  uvh_pool_shutdown(pool);
  is_int(out[0].err, UVH_E_CANCELLED, "stalled request cancelled by shutdown");
  is_int(uvh_pool_stats(pool)->errors[uvh_error_slot(UVH_E_QUEUE_FULL)], 1, "stats count queue_full");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Regression: pumping every destination at max_total evicted an idle
 * connection of the next destination in the list, which was then freed
 * (more than 256 kept) under the iteration. Valgrind/ASan catch it. */
static void test_many_destinations(void) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  char url[96];
  int i, refused = 0;
  uvh_pool_config_init(&cfg);
  cfg.max_total = 2;
  cfg.max_connections = 1;
  uvh_pool_new(loop, &cfg, &pool);
  for (i = 0; i < 257; i++) {
    snprintf(url, sizeof url, "http://127.0.1.%d:%d/", i % 250 + 1, 1 + i / 250);
    submit_url(pool, url, 30);
    run();
    refused += out[30].err == UVH_E_CONNECT;
  }
  is_int(refused, 257, "257 destinations refused");
  submit(pool, "/ok", 31);
  run();
  is_int(uvh_pool_size(pool), 1, "an idle connection to the server");
  snprintf(url, sizeof url, "http://localhost:%d/stall", server_port);
  for (i = 32; i < 34; i++)
    submit_url(pool, url, i);
  uvh_pool_set_max_connections(pool, 2);
  sleep_loop(0.05);
  is_int(uvh_pool_size(pool), 2, "at max_total the idle connection made room");
  uvh_pool_shutdown(pool);
  is_int(out[32].err + out[33].err, 2 * UVH_E_CANCELLED, "both stalled requests cancelled");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

/* Regression: closing the idle connection of a destination ran a pump
 * that pruned that very destination (more than 256 kept), and the close
 * then read it. Valgrind/ASan catch it. */
static void test_idle_close_prunes_destination(void) {
  uvh_pool_t *pool = mkpool(0.05, 1);
  uvh_request_t *r;
  char url[96];
  int i;
  for (i = 0; i < 257; i++) {
    snprintf(url, sizeof url, "http://127.0.2.%d:%d/", i % 250 + 1, 1 + i / 250);
    uvh_request_new(&r);
    uvh_request_set_url(r, url, strlen(url));
    uvh_pool_submit(pool, r, NULL);
    uvh_request_unref(r);
    run();
  }
  submit(pool, "/ok", 40);
  run();
  is_int(uvh_pool_size(pool), 1, "idle connection next to 257 empty destinations");
  sleep_loop(0.2);
  is_int(uvh_pool_size(pool), 0, "closed by the idle timeout");
  is_int(uvh_pool_stats(pool)->idle_closed_timeout, 1, "counted once");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_fork(void) {
  uvh_pool_t *pool = mkpool(60, 2);
  pid_t pid;
  int status = -1, fds[2];
  char verdict = '?';
  submit(pool, "/ok", 0);
  run();
  is_int(uvh_pool_size(pool), 1, "an idle connection before fork");
  fflush(stdout);
  if (pipe(fds) != 0)
    return;
  pid = fork();
  if (pid == 0) {
    /* child: the first use drops the inherited connection without writing.
     * The verdict goes through a pipe: under valgrind the exit status of a
     * child that _exits holding the parent's memory is valgrind's. */
    char v = uvh_pool_size(pool) == 0 ? 'y' : 'n';
    if (write(fds[1], &v, 1) != 1)
      v = 'n';
    _exit(0);
  }
  close(fds[1]);
  if (read(fds[0], &verdict, 1) != 1)
    verdict = '?';
  close(fds[0]);
  waitpid(pid, &status, 0);
  ok(verdict == 'y', "in the child the inherited connection is dropped");
  is_int(uvh_pool_size(pool), 1, "the parent's connection is untouched");
  accepted = 0;
  submit(pool, "/ok", 1);
  run();
  ok(out[1].err == 0 && accepted == 0, "and reused by the parent");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

static void test_loop_destroy(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  submit(pool, "/stall", 0);
  submit(pool, "/stall", 1);
  sleep_loop(0.02);
  uv_close((uv_handle_t *)&server, NULL);
  is_int(uvh_loop_destroy(loop), 0, "the loop closes: no handle left open");
  is_int(out[0].err, UVH_E_CANCELLED, "destroying the loop cancels running requests");
  is_int(out[1].err, UVH_E_CANCELLED, "and queued ones");
  {
    uvh_request_t *r = mkreq("/ok", 2);
    is_int(uvh_pool_submit(pool, r, NULL), UVH_E_CLOSED_POOL, "pool refuses new work");
    uvh_request_unref(r);
  }
  uvh_pool_unref(pool);
}

/* A response buffer that cannot grow fails the request with nomem (not
 * too_large), counted in errors_other, and discards the connection. */
static void *realloc_fails(void *ptr, size_t size) { return NULL; }

static void test_nomem_delivered(void) {
  uvh_pool_t *pool = mkpool(60, 1);
  uint64_t closed = uvh_pool_stats(pool)->connections_closed;
  submit(pool, "/ok", 0); /* the request head is built here, before the hook */
  uvh__realloc = realloc_fails;
  run();
  uvh__realloc = realloc;
  is_int(out[0].calls, 1, "one callback");
  is_int(out[0].err, UVH_E_NOMEM, "nomem delivered to the callback");
  is_str(uvh_err_code(out[0].err), "nomem", "public code nomem");
  is_int(uvh_pool_stats(pool)->errors_other, 1, "counted in errors_other");
  is_int(uvh_pool_stats(pool)->connections_closed, closed + 1, "the connection is discarded");
  is_int(uvh_pool_size(pool), 0, "no connection left");
  submit(pool, "/ok", 1);
  run();
  is_int(out[1].err, 0, "the next request succeeds on a new connection");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  run();
}

int main(void) {
  is_int(uvh_loop_new(&loop), 0, "new loop");
  server_start(uvh_loop_uv(loop));
  test_reuse();
  test_redirect_hooks();
  test_queue();
  test_close_and_max0();
  test_keep_alive_max_rounds();
  test_errors();
  test_cancel_shutdown();
  test_cancel_with();
  test_idle_timeout();
  test_driven_from_outside();
  test_reentrancy();
  test_retry();
  test_reset_before_deferred_write();
  test_queue_limits();
  test_queue_expiry_order();
  test_queue_expiry_across_destinations();
  test_queue_cancel_and_requeue();
  test_queue_many();
  test_many_destinations();
  test_idle_close_prunes_destination();
  test_nomem_delivered();
  test_fork();
  test_loop_destroy();
  return done_testing();
}
