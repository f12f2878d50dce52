/* Fuzz target: arbitrary client bytes through a server connection (the
 * state machine of server/conn.c, not the parser alone), over one end of
 * a socketpair handed to the server as an accepted handle; the bytes go
 * in at arbitrary split points, then the client's sending side closes.
 *
 * Input layout: byte 0 = flags (bit 0: answers come later, from a timer;
 * bit 1: small limits; bit 2: streamed answers; bit 3: every other
 * request unanswered, so the close drops it; bit 4: the route step
 * enables partial bodies; bit 5: it answers every third request; bit 6:
 * each body piece pauses and resumes reading; bit 7: max_multipart_size,
 * so a multipart/form-data head stops the parse for its limit), byte 1 = seed for the split
 * points, the rest = client bytes. Checks: no crash or sanitizer report,
 * the connection always ends (no state waits forever once the client has
 * closed), every request reaches the owner whole and exactly once is
 * answered or dropped, and the loop closes with no handle left. */
#include "server/server.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int flags, requests, seen, answered, dropped; /* seen: requests the owner got, at its head or whole */
static uv_loop_t *uv;

typedef struct {
  uv_timer_t t;
  uvh_server_req_t *req;
} later_t;

static void answer(uvh_server_req_t *req) {
  size_t len;
  const char *body = uvh_server_req_body(req, &len);
  if (flags & 4) {
    assert(uvh_server_respond_start(req, 200, NULL, 0, NULL, 0) == 0);
    uvh_server_send_chunk(req, body, len);
    assert(uvh_server_send_final_chunk(req, "x", 1) == 0 || !uvh_server_req_active(req));
  } else {
    uvh_server_header_t h = {"X-Fuzz", "1", 6, 1};
    int rc = uvh_server_respond(req, 200, NULL, 0, &h, 1, body, len);
    assert(rc == 0);
  }
  answered++;
}

static void on_later_closed(uv_handle_t *h) { free(h); }

static void on_later(uv_timer_t *t) {
  later_t *l = (later_t *)t;
  if (uvh_server_req_active(l->req))
    answer(l->req);
  uvh_server_req_unref(l->req);
  uv_close((uv_handle_t *)t, on_later_closed);
}

static void on_request(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  size_t tlen, i, n = uvh_server_req_header_count(req);
  const char *target = uvh_server_req_target(req, &tlen);
  requests++;
  if (!(flags & 48))
    seen++;
  assert(tlen > 0 && uvh_server_req_active(req));
  assert(uvh_server_req_http_minor(req) <= 1);
  for (i = 0; i < tlen; i++)
    assert(target[i] > ' ' && target[i] != 0x7f);
  for (i = 0; i < n; i++) {
    const char *hn, *hv;
    size_t nl, vl, j;
    uvh_server_req_header_at(req, i, &hn, &nl, &hv, &vl);
    assert(nl > 0);
    for (j = 0; j < vl; j++)
      assert(hv[j] != '\r' && hv[j] != '\n');
  }
  if ((flags & 8) && requests % 2 == 0) {
    uvh_server_req_ref(req);
    uvh_server_req_set_data(req, req); /* released at its drop */
    return;
  }
  if (flags & 1) {
    later_t *l = malloc(sizeof *l);
    uv_timer_init(uv, &l->t);
    uvh_server_req_ref(req);
    l->req = req;
    uv_timer_start(&l->t, on_later, 0, 0);
    return;
  }
  answer(req);
}

static void on_drop(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  dropped++;
  assert(!uvh_server_req_active(req));
  if (uvh_server_req_get_data(req) == req) {
    uvh_server_req_set_data(req, NULL);
    uvh_server_req_unref(req);
  }
}

static size_t partial_bytes;

static void on_head(uvh_server_t *s, uvh_server_req_t *req, void *data) {
  seen++;
  if (flags & 16)
    uvh_server_req_enable_partial(req);
  if ((flags & 32) && seen % 3 == 0)
    answer(req); /* on_request does not run for it */
}

static void on_body(uvh_server_t *s, uvh_server_req_t *req, const char *d, size_t len, void *data) {
  assert(len > 0);
  partial_bytes += len;
  if (flags & 64)
    uvh_server_req_pause(req), uvh_server_req_resume(req);
}

static const uvh_server_ops_t ops = {on_request, on_drop, NULL, NULL, NULL, NULL};
static const uvh_server_ops_t route_ops = {on_request, on_drop, NULL, on_head, on_body, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvh_loop_t *loop;
  uvh_server_t *srv;
  uvh_server_config_t cfg;
  uvh_server_listener_t ls;
  uv_tcp_t *tcp;
  int sv[2], spins = 0;
  size_t off = 2;
  unsigned seed;

  if (size < 2 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return 0;
  flags = data[0];
  seed = data[1] | 1u;
  requests = seen = answered = dropped = 0;
  uvh_loop_new(&loop);
  uv = uvh_loop_uv(loop);
  uvh_server_config_init(&cfg);
  if (flags & 2) {
    cfg.max_headers_size = 64;
    cfg.max_body_size = 32;
    cfg.max_keepalive_requests = 3;
  }
  if (flags & 128)
    cfg.max_multipart_size = (flags & 2) ? 48 : 16;
  assert(uvh_server_new(loop, &cfg, (flags & 48) ? &route_ops : &ops, NULL, &srv) == 0);
  memset(&ls, 0, sizeof ls);
  ls.srv = srv;
  ls.tcp_nodelay = 1;
  tcp = malloc(sizeof *tcp);
  uv_tcp_init(uv, tcp);
  uv_tcp_open(tcp, sv[0]);
  uvh__server_conn_accept(srv, &ls, (uv_stream_t *)tcp, 0);

  while (off < size) {
    size_t piece;
    ssize_t n;
    seed = seed * 1103515245u + 12345u;
    piece = 1 + (seed >> 16) % 512;
    if (piece > size - off)
      piece = size - off;
    n = write(sv[1], data + off, piece);
    if (n <= 0)
      break; /* the server closed its end */
    off += (size_t)n;
    uv_run(uv, UV_RUN_NOWAIT);
  }
  shutdown(sv[1], SHUT_WR);
  /* every state ends once the client has closed, but one waiting for an
   * owner who never answers: the stop drops that */
  while (uvh_server_connection_count(srv) > 0 && spins++ < 20000) {
    if (spins == 2000)
      uvh_server_stop(srv);
    uv_run(uv, UV_RUN_NOWAIT);
  }
  assert(uvh_server_connection_count(srv) == 0);
  assert(spins < 2000 || (flags & 8) || !seen || dropped); /* only an unanswered request waits */
  assert(answered + dropped <= seen && requests <= seen);
  uvh_server_unref(srv);
  assert(uvh_loop_destroy(loop) == 0);
  close(sv[1]);
  return 0;
}
