/* net/stream on its own, over a loopback TCP pair whose far end the test
 * drives with plain system calls: writes taken at once and partial ones
 * finished by uv_write, bytes in, EOF, a reset, a write after the peer
 * left, and a close while a write is in flight; then net/listen accepting
 * a connection a stream reads from. Every upcall is counted. */
#include "uvh.h"
#include "net/stream.h"
#include "net/listen.h"
#include "tap.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;
static uvh_stream_bufs_t bufs;

typedef struct {
  uvh_stream_t s;
  int held, write_done, write_failed, closed, closed_err, handle_closed, errors;
  size_t data_len;
  char data[64];
} fixture_t;

#define FIX(s) uvh_container_of(s, fixture_t, s)

static void on_data(uvh_stream_t *s, const char *data, size_t len, size_t more) {
  fixture_t *f = FIX(s);
  if (f->data_len + len <= sizeof f->data) {
    memcpy(f->data + f->data_len, data, len);
    f->data_len += len;
  }
  uv_stop(&loop);
}
static void on_closed(uvh_stream_t *s, int err, int clean) {
  FIX(s)->closed++;
  FIX(s)->closed_err = err;
  uv_stop(&loop);
}
static void on_handshake(uvh_stream_t *s) {}
static void on_error(uvh_stream_t *s, int code, int sys_err) { FIX(s)->errors++; }
static void on_write_done(uvh_stream_t *s, int status) {
  fixture_t *f = FIX(s);
  f->held--;
  if (status < 0)
    f->write_failed++;
  else
    f->write_done++;
}
static void on_hold(uvh_stream_t *s) { FIX(s)->held++; }
static void on_handle_closed(uvh_stream_t *s) { FIX(s)->handle_closed++; }

static const uvh_stream_ops_t ops = {on_data, on_closed, on_handshake, on_error, on_write_done, on_hold,
                                     on_handle_closed, NULL /* read_room: into the shared buffer */};

/* A connected loopback pair: *ours for the stream, the peer's fd returned. */
static int tcp_pair(int *ours) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), p;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen) ||
      connect(c, (struct sockaddr *)&a, sizeof a) || (p = accept(l, NULL, NULL)) < 0)
    return -1;
  close(l);
  *ours = c;
  return p;
}

static int open_fixture(fixture_t *f) {
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  int fd = -1, peer = tcp_pair(&fd);
  memset(f, 0, sizeof *f);
  uvh__stream_init(&f->s, &bufs, &ops);
  uv_tcp_init(&loop, tcp);
  uv_tcp_open(tcp, fd);
  uvh__stream_open(&f->s, (uv_stream_t *)tcp);
  return peer;
}

static void close_fixture(fixture_t *f) {
  uvh__stream_close(&f->s, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uvh__stream_free(&f->s);
}

/* Read from the peer until `want` bytes came (or it fails); runs the loop
 * between reads so the stream's uv_write can go on. */
static size_t peer_drain(int peer, size_t want) {
  static char buf[65536];
  size_t got = 0;
  int spins = 0;
  fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
  while (got < want && spins < 100000) {
    ssize_t n = read(peer, buf, sizeof buf);
    if (n > 0) {
      got += (size_t)n;
    } else if (n == 0 || errno != EAGAIN) {
      break;
    } else {
      spins++;
      uv_run(&loop, UV_RUN_NOWAIT);
    }
  }
  return got;
}

static void run_until_stopped(void) { uv_run(&loop, UV_RUN_DEFAULT); }

static void test_writes(void) {
  fixture_t f;
  int peer = open_fixture(&f), nothing;
  size_t big = 8 << 20;
  char *data = malloc(big);
  uv_buf_t b[2];
  memset(data, 'x', big);
  b[0] = uv_buf_init("head ", 5);
  b[1] = uv_buf_init("body", 4);
  is_int(uvh__stream_write(&f.s, b, 2, &nothing), 0, "a small write");
  is_int(f.s.writing, 0, "is taken by the socket at once: no write request");
  is_int(f.held, 0, "and nothing held");
  is_int(peer_drain(peer, 9), 9, "the peer reads all of it");

  b[0] = uv_buf_init(data, (unsigned)big);
  is_int(uvh__stream_write(&f.s, b, 1, &nothing), 0, "an 8 MiB write");
  is_int(f.s.writing, 1, "is partial: the rest goes through uv_write");
  is_int(f.held, 1, "holding the owner");
  is_int(peer_drain(peer, big), big, "the peer reads every byte");
  uv_run(&loop, UV_RUN_NOWAIT);
  is_int(f.write_done, 1, "and the write is reported done");
  is_int(f.held, 0, "releasing the owner");
  is_int(f.write_failed, 0, "without a failure");
  close(peer);
  close_fixture(&f);
  is_int(f.handle_closed, 1, "closing frees the handle");
  free(data);
}

static void test_reads(void) {
  fixture_t f;
  int peer = open_fixture(&f);
  ok(write(peer, "hello", 5) == 5, "peer sends 5 bytes");
  run_until_stopped();
  ok(f.data_len == 5 && memcmp(f.data, "hello", 5) == 0, "they arrive as data");
  shutdown(peer, SHUT_WR);
  run_until_stopped();
  is_int(f.closed, 1, "the peer's FIN is reported once");
  is_int(f.closed_err, UV_EOF, "as EOF");
  close(peer);
  close_fixture(&f);
  is_int(f.errors, 0, "no error upcall");
}

static void test_reset(void) {
  fixture_t f;
  int peer = open_fixture(&f), nothing;
  struct linger lg = {1, 0};
  uv_buf_t b = uv_buf_init("late", 4);
  setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(peer); /* an RST */
  run_until_stopped();
  is_int(f.closed, 1, "a reset is reported once");
  is_int(f.closed_err, UV_ECONNRESET, "as ECONNRESET");
  ok(uvh__stream_write(&f.s, &b, 1, &nothing) < 0, "a write after it fails");
  ok(nothing == 1 && f.s.peer_gone, "with nothing written, and the stream knows the peer is gone");
  is_int(f.held, 0, "no write request was left behind");
  close_fixture(&f);
  is_int(f.handle_closed, 1, "closing frees the handle");
}

static void test_close_during_write(void) {
  fixture_t f;
  int peer = open_fixture(&f), nothing;
  size_t big = 8 << 20;
  char *data = malloc(big);
  uv_buf_t b;
  memset(data, 'y', big);
  b = uv_buf_init(data, (unsigned)big);
  is_int(uvh__stream_write(&f.s, &b, 1, &nothing), 0, "an 8 MiB write");
  is_int(f.s.writing, 1, "waits in uv_write (the peer reads nothing)");
  uvh__stream_close(&f.s, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  is_int(f.write_failed, 1, "closing reports the write failed");
  is_int(f.write_done, 0, "not done");
  is_int(f.held, 0, "the owner is released");
  is_int(f.handle_closed, 1, "and the handle freed");
  uvh__stream_free(&f.s);
  close(peer);
  free(data);
}

/* ---------------------------------------------------------------- listen */

static int accepted, listen_errors, listener_closed;
static uv_tcp_t *accepted_tcp;

static void on_listen_connection(uvh_listener_t *l, uv_stream_t *conn) {
  accepted++;
  accepted_tcp = (uv_tcp_t *)conn;
  uv_stop(&loop);
}
static void on_listen_error(uvh_listener_t *l, int status) { listen_errors++; }
static void on_listen_closed(uvh_listener_t *l) { listener_closed++; }

static const uvh_listener_ops_t listen_ops = {on_listen_connection, on_listen_error, on_listen_closed};

static void test_listen(void) {
  uvh_listener_t l, again;
  struct sockaddr_in a;
  fixture_t f;
  uint16_t port;
  int c = socket(AF_INET, SOCK_STREAM, 0);
  is_int(uvh__listen(&l, &loop, "127.0.0.1", 0, 16, &listen_ops), 0, "listening on 127.0.0.1, any port");
  port = uvh__listener_port(&l);
  ok(port > 0, "on port %u", (unsigned)port);
  ok(uvh__listen(&again, &loop, "127.0.0.1", port, 16, &listen_ops) < 0, "a second listener on that port fails");
  uv_run(&loop, UV_RUN_NOWAIT);
  is_int(listener_closed, 1, "and its handle closes");
  is_int(uvh__listen(&again, &loop, "not an address", 0, 16, &listen_ops), UV_EINVAL, "a bad address is refused");
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "a client connects");
  run_until_stopped();
  is_int(accepted, 1, "the connection is accepted once");
  memset(&f, 0, sizeof f);
  uvh__stream_init(&f.s, &bufs, &ops);
  uvh__stream_open(&f.s, (uv_stream_t *)accepted_tcp);
  ok(write(c, "ping", 4) == 4, "the client sends 4 bytes");
  run_until_stopped();
  ok(f.data_len == 4 && memcmp(f.data, "ping", 4) == 0, "a stream on the accepted handle reads them");
  uvh__listener_close(&l);
  close_fixture(&f); /* runs the loop until both handles are closed */
  is_int(f.handle_closed, 1, "the accepted handle is freed with its stream");
  is_int(listener_closed, 2, "closing the listener reports it closed");
  is_int(listen_errors, 0, "no accept failed");
  close(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop);
  test_writes();
  test_reads();
  test_reset();
  test_close_during_write();
  test_listen();
  free(bufs.plain);
  is_int(uv_loop_close(&loop), 0, "the loop closes: no handle left open");
  return done_testing();
}
