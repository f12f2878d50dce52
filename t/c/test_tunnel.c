/* The tunnel through a proxy (client/tunnel.c) on real connections, against
 * a scripted proxy living in the same loop: SOCKS5 with and without
 * credentials, by address and by name (with the client's own lookup),
 * failure replies, CONNECT answered 200 and 407, a proxy that closes or
 * stalls, a request cancelled mid-handshake, keep-alive through the tunnel.
 * Every callback is counted; the test ends with uvh_loop_destroy closing an
 * owned loop (so no handle may leak). */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>

/* ------------------------------------------------------- scripted proxy */

typedef enum { P_SOCKS_OK, P_SOCKS_AUTH, P_SOCKS_REFUSE, P_CONNECT_OK, P_CONNECT_407, P_CLOSE, P_STALL } pmode_t;

typedef struct {
  uv_tcp_t tcp;
  unsigned char buf[8192];
  size_t len;
  int stage;   /* 0 greeting, 1 auth, 2 connect, 3 HTTP inside the tunnel */
  int closed;
} pconn_t;

static uv_tcp_t proxy;
static int proxy_port, accepted, tunneled_requests;
static pmode_t mode;
static unsigned char seen_atyp;
static char seen_name[256], seen_connect[512], seen_user[64];

static void p_free(uv_handle_t *h) { free(h); }
static void p_write_done(uv_write_t *w, int status) { free(w->data); free(w); }

static void p_send(pconn_t *c, const void *data, size_t len) {
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b;
  w->data = malloc(len);
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, p_write_done);
}

static void p_close(pconn_t *c) {
  if (!c->closed) {
    c->closed = 1;
    uv_close((uv_handle_t *)&c->tcp, p_free);
  }
}

static void p_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  pconn_t *c = (pconn_t *)h;
  *b = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof c->buf - c->len - 1));
}

static void consume(pconn_t *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

static const char ok_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* Act on what has arrived; returns 0 when more is needed. */
static int p_step(pconn_t *c) {
  unsigned char *b = c->buf;
  if (c->stage == 3 || (c->stage == 0 && (mode == P_CONNECT_OK || mode == P_CONNECT_407))) {
    unsigned char *end = memmem(b, c->len, "\r\n\r\n", 4);
    size_t n;
    if (end == NULL)
      return 0;
    n = (size_t)(end + 4 - b);
    if (c->stage == 0) {
      snprintf(seen_connect, sizeof seen_connect, "%.*s", (int)n, (char *)b);
      consume(c, n);
      if (mode == P_CONNECT_407) {
        const char a[] = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope";
        p_send(c, a, sizeof a - 1);
        return 0;
      }
      if (strncmp(seen_connect, "CONNECT ", 8) != 0) {
        /* a request in absolute form (no tunnel): the proxy answers it */
        p_send(c, ok_response, sizeof ok_response - 1);
        return 1;
      }
      p_send(c, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
      c->stage = 3;
      return 1;
    }
    consume(c, n);
    tunneled_requests++;
    p_send(c, ok_response, sizeof ok_response - 1);
    return 1;
  }
  if (c->stage == 0) {
    if (c->len < 2 || c->len < 2u + b[1])
      return 0;
    consume(c, 2u + b[1]);
    if (mode == P_CLOSE) {
      p_close(c);
      return 0;
    }
    if (mode == P_STALL)
      return 0;
    p_send(c, mode == P_SOCKS_AUTH ? "\x05\x02" : "\x05\x00", 2);
    c->stage = mode == P_SOCKS_AUTH ? 1 : 2;
    return 1;
  }
  if (c->stage == 1) {
    size_t ul, pl;
    if (c->len < 2 || c->len < 3u + b[1] || c->len < 3u + b[1] + b[2 + b[1]])
      return 0;
    ul = b[1];
    pl = b[2 + ul];
    snprintf(seen_user, sizeof seen_user, "%.*s:%.*s", (int)ul, (char *)b + 2, (int)pl, (char *)b + 3 + ul);
    consume(c, 3 + ul + pl);
    p_send(c, "\x01\x00", 2);
    c->stage = 2;
    return 1;
  }
  if (c->stage == 2) {
    size_t need;
    if (c->len < 5)
      return 0;
    need = b[3] == 1 ? 10 : b[3] == 4 ? 22 : 7u + b[4];
    if (c->len < need)
      return 0;
    seen_atyp = b[3];
    if (b[3] == 3)
      snprintf(seen_name, sizeof seen_name, "%.*s", (int)b[4], (char *)b + 5);
    consume(c, need);
    if (mode == P_SOCKS_REFUSE) {
      p_send(c, "\x05\x05\x00\x01\0\0\0\0\0\0", 10);
      return 0;
    }
    p_send(c, "\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50", 10);
    c->stage = 3;
    return 1;
  }
  return 0;
}

static void p_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  pconn_t *c = (pconn_t *)s;
  if (n < 0) {
    p_close(c);
    return;
  }
  c->len += (size_t)n;
  while (!c->closed && c->len && p_step(c))
    ;
}

static void p_accept(uv_stream_t *srv, int status) {
  pconn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(srv->loop, &c->tcp);
  uv_accept(srv, (uv_stream_t *)&c->tcp);
  accepted++;
  uv_unref((uv_handle_t *)&c->tcp);
  uv_read_start((uv_stream_t *)&c->tcp, p_alloc, p_read);
}

static void proxy_start(uv_loop_t *uv) {
  struct sockaddr_in addr;
  struct sockaddr_storage name;
  int len = sizeof name;
  uv_tcp_init(uv, &proxy);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_bind(&proxy, (const struct sockaddr *)&addr, 0);
  uv_listen((uv_stream_t *)&proxy, 128, p_accept);
  uv_tcp_getsockname(&proxy, (struct sockaddr *)&name, &len);
  proxy_port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  uv_unref((uv_handle_t *)&proxy);
}

/* ---------------------------------------------------------------- client */

static uvh_loop_t *loop;
static int calls, last_err, last_status;
static char last_msg[320];

static void on_done(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  calls++;
  last_err = err ? err->code : 0;
  last_status = uvh_response_status(resp);
  snprintf(last_msg, sizeof last_msg, "%s", err ? err->message : "");
}

/* One request through `proxy_url` (a %d for the proxy's port), run to its end. */
static void fetch(uvh_pool_t *pool, const char *url, const char *proxy_fmt, double connect_timeout) {
  uvh_request_t *r;
  char p[128];
  snprintf(p, sizeof p, proxy_fmt, proxy_port);
  calls = last_err = last_status = 0;
  uvh_request_new(&r);
  uvh_request_set_url(r, url, strlen(url));
  uvh_request_set_proxy(r, p, strlen(p));
  if (connect_timeout > 0)
    uvh_request_set_connect_timeout(r, connect_timeout);
  uvh_request_set_callback(r, on_done, NULL);
  if (uvh_pool_submit(pool, r, NULL) != 0)
    ok(0, "submit %s", url);
  uvh_request_unref(r);
  uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT);
  is_int(calls, 1, "exactly one callback");
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void cancel_timer_cb(uvh_timer_t *t, void *data) { uvh_request_cancel(data); }

int main(void) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_request_t *r;
  uvh_timer_t *t;

  uvh_loop_new(&loop);
  proxy_start(uvh_loop_uv(loop));
  uvh_pool_config_init(&cfg);
  uvh_pool_new(loop, &cfg, &pool);

  mode = P_SOCKS_OK;
  fetch(pool, "http://127.0.0.9:80/a", "socks5://127.0.0.1:%d", 0);
  is_int(last_err, 0, "socks5 by address: success");
  is_int(last_status, 200, "... the response through the tunnel");
  is_int(seen_atyp, 1, "... ATYP 1");
  fetch(pool, "http://127.0.0.9:80/b", "socks5://127.0.0.1:%d", 0);
  is_int(last_status, 200, "again");
  is_int(accepted, 1, "... on the same tunnel, kept alive");
  is_int(tunneled_requests, 2, "two requests through it");

  fetch(pool, "http://localhost:80/", "socks5://127.0.0.1:%d", 0);
  is_int(last_status, 200, "socks5 with a name: the client looks it up");
  ok(seen_atyp == 1 || seen_atyp == 4, "... and sends an address (ATYP %d)", seen_atyp);
  fetch(pool, "http://name.invalid:80/", "socks5h://127.0.0.1:%d", 0);
  is_int(last_status, 200, "socks5h");
  is_int(seen_atyp, 3, "... ATYP 3");
  is_str(seen_name, "name.invalid", "... the name");

  fetch(pool, "http://127.0.0.9:88/", "socks5h://127.0.0.1:%d", 0);
  is_int(seen_atyp, 1, "socks5h with an IP literal: the address, ATYP 1");

  mode = P_SOCKS_AUTH;
  fetch(pool, "http://127.0.0.9:81/", "socks5://us%%65r:pw@127.0.0.1:%d", 0);
  is_int(last_status, 200, "socks5 with username/password");
  is_str(seen_user, "user:pw", "... credentials decoded");

  mode = P_SOCKS_REFUSE;
  fetch(pool, "http://127.0.0.9:82/", "socks5://127.0.0.1:%d", 0);
  is_int(last_err, UVH_E_PROXY, "a failure reply: UVH_E_PROXY");
  ok(strstr(last_msg, "connection refused (SOCKS5 reply 5)") != NULL, "... in words: %s", last_msg);

  mode = P_CLOSE;
  fetch(pool, "http://127.0.0.9:83/", "socks5://127.0.0.1:%d", 0);
  is_int(last_err, UVH_E_PROXY, "the proxy closes: UVH_E_PROXY");
  ok(strstr(last_msg, "closed the connection during the SOCKS5 handshake") != NULL, "... %s", last_msg);

  mode = P_STALL;
  fetch(pool, "http://127.0.0.9:84/", "socks5://127.0.0.1:%d", 0.2);
  is_int(last_err, UVH_E_CONNECT_TIMEOUT, "a stalled handshake: UVH_E_CONNECT_TIMEOUT");
  ok(strstr(last_msg, "waiting for the method reply, not finished within 0.2 s") != NULL, "... %s", last_msg);

  /* cancelled while the handshake waits */
  uvh_request_new(&r);
  uvh_request_set_url(r, "http://127.0.0.9:85/", 20);
  {
    char p[64];
    snprintf(p, sizeof p, "socks5://127.0.0.1:%d", proxy_port);
    uvh_request_set_proxy(r, p, strlen(p));
  }
  uvh_request_set_callback(r, on_done, NULL);
  calls = 0;
  uvh_pool_submit(pool, r, NULL);
  uvh_timer_new(loop, cancel_timer_cb, r, &t);
  uvh_timer_start(t, 0.1, 0);
  uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT);
  is_int(calls, 1, "cancelled mid-handshake: one callback");
  is_int(last_err, UVH_E_CANCELLED, "... cancelled");
  uvh_timer_unref(t);
  uvh_request_unref(r);

  mode = P_CONNECT_OK;
  fetch(pool, "http://127.0.0.9:86/", "http://127.0.0.1:%d", 0);
  is_int(last_err, 0, "http:// through an HTTP proxy: no error");
  is_int(last_status, 200, "... no tunnel: the proxy's answer");
  ok(starts_with(seen_connect, "GET http://127.0.0.9:86/ HTTP/1.1\r\n"), "... absolute form");

  mode = P_CONNECT_407;
  fetch(pool, "https://127.0.0.9:87/", "http://u:p@127.0.0.1:%d", 0);
  is_int(last_err, UVH_E_PROXY, "CONNECT answered 407: UVH_E_PROXY");
  ok(strstr(last_msg, "answered CONNECT with 'HTTP/1.1 407 Proxy Authentication Required'") != NULL, "... %s", last_msg);
  ok(starts_with(seen_connect, "CONNECT 127.0.0.9:87 HTTP/1.1\r\nHost: 127.0.0.9:87\r\nProxy-Authorization: Basic dTpw\r\n"),
     "CONNECT host:port, Host and Proxy-Authorization");

  /* teardown with a conn through the proxy still idle */
  uvh_pool_shutdown(pool);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  uv_close((uv_handle_t *)&proxy, NULL);
  is_int(uvh_loop_destroy(loop), 0, "loop closes: no handle left");
  return done_testing();
}
