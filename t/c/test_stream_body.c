/* Streamed response bodies (uvh_request_set_partial) and back-pressure
 * (uvh_request_pause/resume), against a small libuv server in the same
 * loop: the order of the calls (head, pieces, the request's callback),
 * every framing, a decoded body, declining at the head, the limit over
 * the streamed bytes, a cancel from the hook (the connection discarded),
 * and a pause that holds the body in the socket while the read timeout
 * does not fire. Ends with uvh_loop_destroy closing the owned loop. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>
#include <zlib.h>

/* ------------------------------------------------------------ test server */

typedef struct {
  uv_tcp_t tcp;
  char buf[8192];
  size_t len;
  int closed;
  int slot;
} sconn_t;

#define MAXSCONN 64
static sconn_t *sconns[MAXSCONN]; /* open server sides, closed at the end */
static int nsconns;

static uv_tcp_t server;
static sconn_t *last_sconn;
static int server_port;

#define BIG (8u << 20) /* the body a pause holds back: far more than the socket buffers */

static void s_free(uv_handle_t *h) {
  sconns[((sconn_t *)h)->slot] = NULL;
  free(h);
}
static void s_write_done(uv_write_t *w, int status) {
  free(w->data);
  free(w);
}

static void s_send_n(sconn_t *c, const char *data, size_t len) {
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b;
  w->data = malloc(len ? len : 1);
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_write_done);
}

static void s_send(sconn_t *c, const char *data) { s_send_n(c, data, strlen(data)); }

static void s_close(sconn_t *c) {
  if (!c->closed) {
    c->closed = 1;
    uv_close((uv_handle_t *)&c->tcp, s_free);
  }
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  sconn_t *c = (sconn_t *)h;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len - 1));
}

/* byte i of every test body: a hash of i, which no coding shrinks much, so
 * a gzip body takes many reads */
static char pattern(size_t i) {
  uint32_t h = (uint32_t)i;
  h ^= h >> 16, h *= 0x85ebca6bu, h ^= h >> 13, h *= 0xc2b2ae35u, h ^= h >> 16; /* murmur3's finalizer */
  return (char)('a' + h % 26);
}

static char *pattern_block(size_t n) {
  char *p = malloc(n);
  size_t i;
  for (i = 0; i < n; i++)
    p[i] = pattern(i);
  return p;
}

static unsigned char *gz, *zeros_gz;
static size_t gz_len, zeros_gz_len;
#define ZEROS (20u << 20) /* /zeros: a gzip body of that many zero bytes, a thousandth of it coded */

static unsigned char *gzip_of(const char *text, size_t len, size_t *out_len) {
  z_stream z;
  unsigned char *out;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  *out_len = deflateBound(&z, len);
  out = malloc(*out_len);
  z.next_in = (unsigned char *)text;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)*out_len;
  deflate(&z, Z_FINISH);
  *out_len -= z.avail_out;
  deflateEnd(&z);
  return out;
}
#define GZ_TEXT 300000 /* decoded size of /gzip: many pieces from few coded bytes */

static void make_gzip(void) {
  char *text = pattern_block(GZ_TEXT), *zeros = calloc(1, ZEROS);
  gz = gzip_of(text, GZ_TEXT, &gz_len);
  zeros_gz = gzip_of(zeros, ZEROS, &zeros_gz_len);
  free(text);
  free(zeros);
}

static char *big_body; /* BIG bytes of pattern(), made before the loop runs */

/* The body of a route in several writes (each a read or more for the client). */
static void send_body(sconn_t *c, size_t n) {
  size_t off, step = n / 5 + 1;
  for (off = 0; off < n; off += step)
    s_send_n(c, big_body + off, off + step <= n ? step : n - off);
}

static void s_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn_t *c = (sconn_t *)s;
  char head[256];
  if (n < 0) {
    s_close(c);
    return;
  }
  c->len += (size_t)n;
  if (memmem(c->buf, c->len, "\r\n\r\n", 4) == NULL)
    return;
  c->buf[c->len] = '\0';
  if (strstr(c->buf, " /cl ")) {
    s_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
    send_body(c, 200000);
  } else if (strstr(c->buf, " /big ")) {
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BIG);
    s_send(c, head);
    send_body(c, BIG);
  } else if (strstr(c->buf, " /chunked ")) {
    s_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    s_send(c, "6\r\n world\r\n");
    s_send(c, "0\r\n\r\n");
  } else if (strstr(c->buf, " /close ")) {
    s_send(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    send_body(c, 100000);
    s_close(c);
  } else if (strstr(c->buf, " /gzip ")) {
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gz_len);
    s_send(c, head);
    s_send_n(c, (const char *)gz, gz_len);
  } else if (strstr(c->buf, " /zeros ")) {
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             zeros_gz_len);
    s_send(c, head);
    s_send_n(c, (const char *)zeros_gz, zeros_gz_len);
  } else if (strstr(c->buf, " /204 ")) {
    s_send(c, "HTTP/1.1 204 No Content\r\n\r\n");
  }
  c->len = 0;
}

static void s_accept(uv_stream_t *srv, int status) {
  sconn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(srv->loop, &c->tcp);
  uv_accept(srv, (uv_stream_t *)&c->tcp);
  last_sconn = c;
  c->slot = nsconns < MAXSCONN ? nsconns++ : MAXSCONN - 1;
  sconns[c->slot] = c;
  uv_unref((uv_handle_t *)&c->tcp);
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
  uv_unref((uv_handle_t *)&server);
}

/* ------------------------------------------------- the parser, streaming */

/* Feed `msg` to a streaming parser in reads of `chunk` bytes from `split`
 * on (the first read `split` bytes), as the client does: after the head
 * (UVH_PARSER_HEAD) the rest of the read is fed again, and after each
 * feed the body is taken and emptied. Returns the last result; `got` gets
 * what was taken, *heads the head returns, *body_before_head whether a
 * body byte came before the head. */
static int stream_feed(const char *msg, size_t len, size_t split, size_t chunk, int eof, char *got, size_t *got_len,
                       int *heads, int *body_before_head) {
  uvh_response_t *r;
  uvh_parser_t p;
  size_t off = 0;
  int rc = 0;
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  p.stream = 1;
  p.decode = 1;
  *got_len = 0;
  *heads = *body_before_head = 0;
  while (off < len && rc != 1 && rc >= 0) {
    size_t n = off == 0 && split ? split : chunk, used;
    const char *at = msg + off;
    if (n > len - off)
      n = len - off;
    off += n;
    for (;;) {
      rc = uvh__parser_feed(&p, at, n, &used);
      if (rc != UVH_PARSER_HEAD)
        break;
      ++*heads;
      at += used;
      n -= used;
    }
    if (r->body.len) {
      if (!*heads)
        *body_before_head = 1;
      memcpy(got + *got_len, r->body.data, r->body.len);
      *got_len += r->body.len;
      p.body_taken += r->body.len;
      r->body.len = 0;
    }
  }
  if (rc == 0 && eof)
    rc = uvh__parser_eof(&p);
  uvh__parser_release(&p);
  uvh_response_unref(r);
  return rc;
}

static void check_stream_parse(const char *name, const char *head, const char *body, size_t body_len, int eof,
                               const char *want, size_t want_len) {
  static char msg[8192], got[8192];
  size_t hl = strlen(head), len = hl + body_len, split, chunk, got_len;
  int all_ok = 1;
  memcpy(msg, head, hl);
  memcpy(msg + hl, body, body_len);
  for (chunk = 1; chunk <= 7; chunk += 6)
    for (split = 0; split <= len; split++) {
      int heads, early, rc = stream_feed(msg, len, split, chunk, eof, got, &got_len, &heads, &early);
      if (rc != 1 || heads != 1 || early || got_len != want_len || memcmp(got, want, want_len) != 0) {
        if (all_ok)
          printf("# %s: split %zu chunk %zu: rc %d heads %d early %d, %zu bytes\n", name, split, chunk, rc, heads, early,
                 got_len);
        all_ok = 0;
      }
    }
  ok(all_ok, "%s: the head once before any body byte, then the whole body, at every split, 1 and 7 bytes a read",
     name);
}

static size_t hl_max(const char *head) { return strlen(head) + 1; }

static void test_parser_streaming(void) {
  char *text = pattern_block(GZ_TEXT);
  char head[160];
  check_stream_parse("parser: Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", "hello world", 11, 0,
                     "hello world", 11);
  check_stream_parse("parser: chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                     "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", 34, 0, "hello world", 11);
  check_stream_parse("parser: close-delimited", "HTTP/1.1 200 OK\r\n\r\n", "hello world", 11, 1, "hello world", 11);
  check_stream_parse("parser: after a 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                     "hello", 5, 0, "hello", 5);
  snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gz_len);
  /* the decoded body is larger than got[]: compare its first part only at one split */
  {
    char *msg = malloc(hl_max(head) + gz_len), *got;
    size_t hl = strlen(head), got_len;
    int heads, early, rc;
    got = malloc(GZ_TEXT);
    memcpy(msg, head, hl);
    memcpy(msg + hl, gz, gz_len);
    rc = stream_feed(msg, hl + gz_len, hl + 10, 97, 0, got, &got_len, &heads, &early);
    ok(rc == 1 && heads == 1 && !early && got_len == GZ_TEXT && memcmp(got, text, GZ_TEXT) == 0,
       "parser: gzip streams its decoded bytes (%zu)", got_len);
    free(got);
    free(msg);
  }
  free(text);
}

/* ---------------------------------------------------------------- client */

static uvh_loop_t *loop;

/* What one request saw, in order: 'H' head, 'P' piece, 'D' its callback. */
typedef struct {
  char order[64];
  size_t norder;
  int heads, pieces, done_calls;
  int head_body_empty;      /* the body was empty at the head call */
  int head_not_done;        /* is_done was 0 at the head and at every piece */
  int content_ok;           /* every piece held the expected bytes */
  int final_streamed, final_done, err;
  size_t total, final_body_len, max_piece;
  int decline;              /* the head call answers UVH_PARTIAL_BUFFER */
  int cancel_at_piece;      /* cancel from the piece call of that number */
  int pause_at_piece;       /* pause from the piece call of that number */
  int pieces_while_paused;
  int expect_text;          /* pieces carry pattern() bytes */
  uvh_pool_t *pool;
} seen_t;

static void note(seen_t *s, char c) {
  if (s->norder < sizeof s->order - 1)
    s->order[s->norder++] = c;
  else
    s->order[sizeof s->order - 2] = '+'; /* more pieces than recorded */
}

static int on_partial(uvh_request_t *req, uvh_response_t *resp, int head, void *data) {
  seen_t *s = data;
  size_t len, i;
  const char *b = uvh_response_body(resp, &len);
  if (uvh_response_is_done(resp))
    s->head_not_done = 0;
  if (head) {
    s->heads++;
    note(s, 'H');
    s->head_body_empty = len == 0 && uvh_response_status(resp) > 0;
    return s->decline ? UVH_PARTIAL_BUFFER : 0;
  }
  s->pieces++;
  if (s->norder < 40)
    note(s, 'P');
  if (uvh_request_paused(req))
    s->pieces_while_paused++;
  if (len > s->max_piece)
    s->max_piece = len;
  if (s->expect_text)
    for (i = 0; i < len; i++)
      if (b[i] != pattern(s->total + i)) {
        s->content_ok = 0;
        break;
      }
  s->total += len;
  if (s->pieces == s->pause_at_piece)
    uvh_request_pause(req);
  if (s->pieces == s->cancel_at_piece)
    uvh_request_cancel(req);
  return 0;
}

static void on_done(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  seen_t *s = data;
  size_t len;
  s->done_calls++;
  note(s, 'D');
  s->err = err ? err->code : 0;
  s->final_streamed = uvh_response_streamed(resp);
  s->final_done = uvh_response_is_done(resp);
  uvh_response_body(resp, &s->final_body_len);
  (void)len;
}

static void seen_init(seen_t *s) {
  memset(s, 0, sizeof *s);
  s->head_not_done = 1;
  s->content_ok = 1;
  s->expect_text = 1;
}

static uvh_request_t *mkreq(const char *path, seen_t *s) {
  char url[128];
  uvh_request_t *r;
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", server_port, path);
  uvh_request_new(&r);
  uvh_request_set_url(r, url, strlen(url));
  uvh_request_set_callback(r, on_done, s);
  uvh_request_set_partial(r, on_partial);
  return r;
}

static uvh_pool_t *mkpool(void) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_pool_config_init(&cfg);
  cfg.idle_timeout = 30;
  uvh_pool_new(loop, &cfg, &pool);
  return pool;
}

static void run(void) { uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT); }

static void fetch(uvh_pool_t *pool, uvh_request_t *r) {
  if (uvh_pool_submit(pool, r, NULL))
    printf("# submit failed\n");
  uvh_request_unref(r);
  run();
}

/* head, then pieces, then the callback: the order string is "HP...PD" */
static int ordered(const seen_t *s) {
  size_t i;
  if (s->norder < 2 || s->order[0] != 'H' || s->order[s->norder - 1] != 'D')
    return 0;
  for (i = 1; i + 1 < s->norder; i++)
    if (s->order[i] != 'P' && s->order[i] != '+')
      return 0;
  return 1;
}

static void check_streamed(const char *name, const char *path, size_t size, int expect_text) {
  uvh_pool_t *pool = mkpool();
  seen_t s;
  seen_init(&s);
  s.expect_text = expect_text;
  fetch(pool, mkreq(path, &s));
  is_int(s.err, 0, name);
  ok(ordered(&s) && s.heads == 1 && s.done_calls == 1, "%s: head, %d pieces, then the callback once (%.*s)", name,
     s.pieces, (int)s.norder, s.order);
  ok(s.head_body_empty, "%s: the body is empty at the head call", name);
  ok(s.head_not_done, "%s: is_done is 0 at the head and at every piece", name);
  is_int(s.total, size, "streamed bytes add up to the body");
  ok(s.content_ok, "%s: the pieces hold the body's bytes in order", name);
  ok(s.final_streamed && s.final_done && s.final_body_len == 0,
     "%s: the callback: streamed, is_done, body empty (%zu)", name, s.final_body_len);
  /* a decoded piece is what 4 KiB of coded bytes decode to (gzip: at most 1032 times as much) */
  ok(s.max_piece <= (strcmp(path, "/gzip") == 0 ? 4096 * 1032 : UVH_READ_BUF_SIZE),
     "%s: a piece is one read at most, or what 4 KiB of it decode to (%zu)", name, s.max_piece);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

static void test_framings(void) {
  check_streamed("Content-Length", "/cl", 200000, 1);
  check_streamed("chunked", "/chunked", 11, 0);
  check_streamed("close-delimited", "/close", 100000, 1);
  check_streamed("gzip, decoded pieces", "/gzip", GZ_TEXT, 1);
}

/* A body that decodes to a thousand times its size: each piece is what
 * one slice of the coded bytes decodes to, not what a whole read does. */
static void test_decoded_pieces_bounded(void) {
  uvh_pool_t *pool = mkpool();
  seen_t s;
  uvh_request_t *r;
  seen_init(&s);
  s.expect_text = 0;
  r = mkreq("/zeros", &s);
  uvh_request_set_limits(r, UVH_LIMIT_INHERIT, 0);
  fetch(pool, r);
  ok(s.err == 0 && s.total == ZEROS, "20 MiB of zeros from %zu coded bytes, streamed (%zu)", zeros_gz_len, s.total);
  ok(s.max_piece <= 4096 * 1032, "no piece over what 4 KiB of gzip decode to (the largest: %zu)", s.max_piece);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

static void test_no_body_and_decline(void) {
  uvh_pool_t *pool = mkpool();
  const uvh_pool_stats_t *st = uvh_pool_stats(pool);
  seen_t s;
  uvh_request_t *r;
  seen_init(&s);
  fetch(pool, mkreq("/204", &s));
  ok(s.err == 0 && s.heads == 1 && s.pieces == 0 && s.done_calls == 1 && s.final_streamed,
     "204: a head call, no piece, the callback (%.*s)", (int)s.norder, s.order);

  seen_init(&s);
  s.decline = 1;
  fetch(pool, mkreq("/cl", &s));
  ok(s.err == 0 && s.heads == 1 && s.pieces == 0 && s.done_calls == 1, "declined at the head: no piece call");
  ok(!s.final_streamed && s.final_body_len == 200000, "and the body is buffered whole (%zu)", s.final_body_len);

  /* a streamed response leaves its connection reusable */
  seen_init(&s);
  fetch(pool, mkreq("/cl", &s));
  seen_init(&s);
  fetch(pool, mkreq("/cl", &s));
  ok(s.err == 0 && st->reused >= 2, "the connection of a streamed response is reused (%llu)",
     (unsigned long long)st->reused);

  /* max_body_size counts every streamed byte (a close-delimited body: no
   * Content-Length to refuse at the head) */
  seen_init(&s);
  r = mkreq("/close", &s);
  uvh_request_set_limits(r, UVH_LIMIT_INHERIT, 70000);
  fetch(pool, r);
  ok(s.err == UVH_E_TOO_LARGE && s.total > 0 && s.total <= 70000 && s.done_calls == 1 && s.final_streamed,
     "max_body_size over the streamed total: too_large after %zu bytes streamed", s.total);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

static void test_cancel_from_hook(void) {
  uvh_pool_t *pool = mkpool();
  const uvh_pool_stats_t *st = uvh_pool_stats(pool);
  seen_t s;
  seen_init(&s);
  s.cancel_at_piece = 1;
  fetch(pool, mkreq("/big", &s));
  ok(s.err == UVH_E_CANCELLED && s.done_calls == 1 && s.pieces == 1,
     "a cancel from the first piece: the callback once, cancelled, no more pieces (%d)", s.pieces);
  ok(st->connections_closed == 1 && uvh_pool_size(pool) == 0, "and the connection is discarded, never idle");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

/* ---------------------------------------------------------------- pause */

static uv_timer_t pause_timer;
static uvh_request_t *paused_req;
static seen_t *pause_seen;
static size_t total_at_pause, total_at_resume, server_queue_at_resume;
static int pieces_at_pause;

static void on_resume_timer(uv_timer_t *t) {
  total_at_resume = pause_seen->total;
  server_queue_at_resume = uv_stream_get_write_queue_size((uv_stream_t *)&last_sconn->tcp);
  uvh_request_resume(paused_req);
  uv_close((uv_handle_t *)t, NULL);
}

static int on_partial_pausing(uvh_request_t *req, uvh_response_t *resp, int head, void *data) {
  int rc = on_partial(req, resp, head, data);
  seen_t *s = data;
  if (!head && s->pieces == s->pause_at_piece) {
    total_at_pause = s->total;
    pieces_at_pause = s->pieces;
    uv_timer_init(uvh_loop_uv(loop), &pause_timer);
    uv_timer_start(&pause_timer, on_resume_timer, 1500, 0);
  }
  return rc;
}

static void test_pause(void) {
  uvh_pool_t *pool = mkpool();
  seen_t s;
  uvh_request_t *r;
  seen_init(&s);
  s.pause_at_piece = 2;
  pause_seen = &s;
  r = mkreq("/big", &s);
  uvh_request_set_partial(r, on_partial_pausing);
  /* far shorter than the pause: it must not run while paused */
  uvh_request_set_read_timeout(r, 0.5);
  paused_req = r;
  uvh_request_ref(r);
  fetch(pool, r);
  is_int(s.err, 0, "paused for 1.5 s with a 0.5 s read timeout: no timeout");
  ok(s.pieces_while_paused == 0 && total_at_resume == total_at_pause,
     "no piece while paused (%zu bytes at the pause, %zu at the resume)", total_at_pause, total_at_resume);
  ok(server_queue_at_resume > 0, "the server still had %zu bytes queued: the body waited in the socket",
     server_queue_at_resume);
  ok(s.total == BIG && s.content_ok && s.done_calls == 1 && pieces_at_pause == 2,
     "after the resume the whole body arrives, in order (%zu)", s.total);
  ok(!uvh_request_paused(r), "the pause ends with the request");
  uvh_request_unref(r);

  /* paused before its response: it stops at the first bytes, then resumes */
  seen_init(&s);
  pause_seen = &s;
  r = mkreq("/big", &s);
  paused_req = r;
  uvh_request_ref(r);
  uvh_request_pause(r);
  uv_timer_init(uvh_loop_uv(loop), &pause_timer);
  uv_timer_start(&pause_timer, on_resume_timer, 300, 0);
  fetch(pool, r);
  ok(s.err == 0 && s.total == BIG && s.pieces_while_paused <= 1 && total_at_resume <= UVH_READ_BUF_SIZE,
     "paused before the response: one read at most (%zu bytes) until the resume, then the rest", total_at_resume);
  uvh_request_unref(r);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

int main(void) {
  int i;
  make_gzip();
  big_body = pattern_block(BIG);
  test_parser_streaming();
  is_int(uvh_loop_new(&loop), 0, "new loop");
  server_start(uvh_loop_uv(loop));
  test_framings();
  test_decoded_pieces_bounded();
  test_no_body_and_decline();
  test_cancel_from_hook();
  test_pause();
  uv_close((uv_handle_t *)&server, NULL);
  for (i = 0; i < MAXSCONN; i++)
    if (sconns[i])
      s_close(sconns[i]);
  uv_run(uvh_loop_uv(loop), UV_RUN_NOWAIT);
  is_int(uvh_loop_destroy(loop), 0, "loop destroyed, no handle left");
  free(big_body);
  free(gz);
  free(zeros_gz);
  return done_testing();
}
