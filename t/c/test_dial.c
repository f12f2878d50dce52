/* net/dial and net/resolve on their own, against loopback listeners the
 * test makes with plain system calls: every socket option read back with
 * getsockopt (and the local address with getsockname), the Happy Eyeballs
 * order (families alternating from IPv6, family filters), the delay
 * before the next attempt when the first hangs (an IPv6 listener whose
 * accept queue is full), one failure naming every attempt, a local
 * address of the wrong family, shared lookups and the cache, and a cancel
 * at every stage. Every upcall is counted; holds and releases balance and
 * uv_loop_close succeeds at the end. */
#include "uvh.h"
#include "net/dial.h"
#include "net/resolve.h"
#include "tap.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;

typedef struct {
  uvh_dial_t d;
  int resolved, connected, failed, held, released;
  int code, sys_err, in_start;
  uv_tcp_t *tcp;             /* the connected handle, ours */
  char order[256];           /* the sorted addresses at on_resolved */
  char detail[256];
  int peer_family;
  uint64_t connected_at;
} fix_t;

#define FIX(d) uvh_container_of(d, fix_t, d)

static void on_resolved(uvh_dial_t *d) {
  fix_t *f = FIX(d);
  unsigned i;
  f->resolved++;
  for (i = 0; i < d->naddrs; i++) {
    char a[80];
    size_t len = strlen(f->order);
    uvh__dial_addr_text(&d->addrs[i], a, sizeof a);
    snprintf(f->order + len, sizeof f->order - len, "%s%s", len ? " " : "", a);
  }
}
static void on_connected(uvh_dial_t *d, uv_tcp_t *tcp) {
  fix_t *f = FIX(d);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  f->connected++;
  f->tcp = tcp;
  f->connected_at = uv_now(&loop);
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0)
    f->peer_family = ss.ss_family;
  uv_stop(&loop);
}
static void on_failed(uvh_dial_t *d, int code, int sys_err, int in_start) {
  fix_t *f = FIX(d);
  f->failed++;
  f->code = code;
  f->sys_err = sys_err;
  f->in_start = in_start;
  snprintf(f->detail, sizeof f->detail, "%s", d->detail);
  uv_stop(&loop);
}
static void on_hold(uvh_dial_t *d) { FIX(d)->held++; }
static void on_released(uvh_dial_t *d) { FIX(d)->released++; }

static const uvh_dial_ops_t ops = {on_resolved, on_connected, on_failed, on_hold, on_released};

static void on_tcp_closed(uv_handle_t *h) {
  fix_t *f = h->data;
  free(h);
  f->released++; /* the handle's hold, now ours */
}

/* Run until all of the dial's handles and requests are released. */
static void settle(fix_t *f) {
  if (f->tcp) {
    f->tcp->data = f;
    uv_close((uv_handle_t *)f->tcp, on_tcp_closed);
    f->tcp = NULL;
  }
  while (f->released < f->held && uv_run(&loop, UV_RUN_ONCE))
    ;
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void run_for(unsigned ms) {
  uint64_t end = uv_now(&loop) + ms;
  while (uv_now(&loop) < end) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(2000);
    uv_update_time(&loop);
  }
}

/* Run until the dial has an outcome (at most 5 s). */
static void wait_outcome(fix_t *f) {
  uint64_t end = uv_now(&loop) + 5000;
  while (!f->connected && !f->failed && uv_now(&loop) < end) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(1000);
    uv_update_time(&loop);
  }
}

static int have_ipv6;

/* A listening socket on ip (port 0: any), its port in *port; -1 if none. */
static int listener(int family, uint16_t *port, int backlog) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = socket(family, SOCK_STREAM, 0), one = 1;
  memset(&ss, 0, sizeof ss);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(*port);
    len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(*port);
    len = sizeof *a;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  len = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
  return fd;
}

/* A port nobody listens on (one just closed). */
static uint16_t closed_port(void) {
  uint16_t port = 0;
  int fd = listener(AF_INET, &port, 1);
  close(fd);
  return port;
}

/* Fill the accept queue of the IPv6 listener on `port` with connections
 * nobody accepts, until a further connect hangs: their fds in fill[].
 * Returns how many, or -1 when connects never hang here. */
static int fill_queue(uint16_t port, int *fill, int max) {
  struct sockaddr_in6 a;
  int n;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  a.sin6_port = htons(port);
  for (n = 0; n < max; n++) {
    struct pollfd p;
    fill[n] = socket(AF_INET6, SOCK_STREAM, 0);
    fcntl(fill[n], F_SETFL, O_NONBLOCK);
    if (connect(fill[n], (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
      return -1;
    p.fd = fill[n];
    p.events = POLLOUT;
    if (poll(&p, 1, 200) == 0)
      return n + 1; /* this one hangs: the queue is full */
  }
  return -1;
}

static int sockopt_int(uv_tcp_t *tcp, int level, int name) {
  uv_os_fd_t fd;
  int v = -12345;
  socklen_t len = sizeof v;
  uv_fileno((uv_handle_t *)tcp, &fd);
  getsockopt(fd, level, name, &v, &len);
  return v;
}

static void test_socket_options(void) {
  uint16_t port = 0;
  int lfd = listener(AF_INET, &port, 16);
  uvh_resolver_t *r;
  uvh_socket_config_t cfg;
  uvh_dial_opts_t o;
  char why[200];
  fix_t f;
  uv_os_fd_t fd;
  struct linger lg;
  socklen_t len = sizeof lg;
  struct sockaddr_in local;
  int llen = sizeof local;
  char ip[32] = "";

  uvh__resolver_new(0, &r);
  uvh__dial_opts_init(&o);
  uvh_socket_config_init(&cfg);
  cfg.tcp_nodelay = 1;
  cfg.tcp_keepalive = 7;
  cfg.so_linger = 3;
  cfg.socket_buffer_size = 65536;
  cfg.local_address = "127.0.0.2";
  is_int(uvh__dial_opts_set(&o, &cfg, why, sizeof why), 0, "options accepted");
  memset(&f, 0, sizeof f);
  is_int(uvh__dial_start(&f.d, &loop, r, "127.0.0.1", port, &o, &ops), 0, "dial to 127.0.0.1 started");
  is_int(f.d.how, -1, "an IP literal needs no resolver");
  wait_outcome(&f);
  is_int(f.connected, 1, "connected");
  if (f.tcp) {
    is_int(sockopt_int(f.tcp, IPPROTO_TCP, TCP_NODELAY) != 0, 1, "TCP_NODELAY is on");
    is_int(sockopt_int(f.tcp, SOL_SOCKET, SO_KEEPALIVE) != 0, 1, "SO_KEEPALIVE is on");
    is_int(sockopt_int(f.tcp, IPPROTO_TCP, TCP_KEEPIDLE), 7, "TCP_KEEPIDLE is tcp_keepalive");
    ok(sockopt_int(f.tcp, SOL_SOCKET, SO_RCVBUF) >= 65536, "SO_RCVBUF >= socket_buffer_size (Linux doubles it)");
    ok(sockopt_int(f.tcp, SOL_SOCKET, SO_SNDBUF) >= 65536, "SO_SNDBUF >= socket_buffer_size");
    uv_fileno((uv_handle_t *)f.tcp, &fd);
    memset(&lg, 0, sizeof lg);
    getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
    ok(lg.l_onoff && lg.l_linger == 3, "SO_LINGER is on, 3 s");
    uv_tcp_getsockname(f.tcp, (struct sockaddr *)&local, &llen);
    uv_ip4_name(&local, ip, sizeof ip);
    is_str(ip, "127.0.0.2", "bound to local_address");
  }
  settle(&f);
  is_int(f.released, f.held, "every hold released");

  /* the defaults: nodelay on, no keepalive, the system's linger */
  uvh__dial_opts_init(&o);
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "127.0.0.1", port, &o, &ops);
  wait_outcome(&f);
  if (f.tcp) {
    is_int(sockopt_int(f.tcp, IPPROTO_TCP, TCP_NODELAY) != 0, 1, "default: TCP_NODELAY on");
    is_int(sockopt_int(f.tcp, SOL_SOCKET, SO_KEEPALIVE), 0, "default: no SO_KEEPALIVE");
    uv_fileno((uv_handle_t *)f.tcp, &fd);
    memset(&lg, 0, sizeof lg);
    len = sizeof lg;
    getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
    is_int(lg.l_onoff, 0, "default: no SO_LINGER");
  } else {
    ok(0, "default dial connected");
  }
  settle(&f);

  uvh_socket_config_init(&cfg);
  cfg.tcp_nodelay = 0;
  uvh__dial_opts_set(&o, &cfg, why, sizeof why);
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "127.0.0.1", port, &o, &ops);
  wait_outcome(&f);
  is_int(f.tcp ? sockopt_int(f.tcp, IPPROTO_TCP, TCP_NODELAY) : -1, 0, "tcp_nodelay 0: TCP_NODELAY off");
  settle(&f);

  /* checks: each names the option */
  uvh__dial_opts_init(&o);
  uvh_socket_config_init(&cfg);
  cfg.so_linger = -2;
  is_int(uvh__dial_opts_set(&o, &cfg, why, sizeof why), UVH_E_BADARG, "so_linger -2 refused");
  ok(strstr(why, "'so_linger'") != NULL, "the message names so_linger: %s", why);
  uvh_socket_config_init(&cfg);
  cfg.family = 5;
  is_int(uvh__dial_opts_set(&o, &cfg, why, sizeof why), UVH_E_BADARG, "family 5 refused");
  uvh_socket_config_init(&cfg);
  cfg.local_address = "127.0.0.256";
  is_int(uvh__dial_opts_set(&o, &cfg, why, sizeof why), UVH_E_BADARG, "a bad local_address refused");
  ok(strstr(why, "127.0.0.256") != NULL, "the message names it: %s", why);
  is_int(o.set, 0, "a refused option changes nothing");
  uvh__resolver_unref(r);
  close(lfd);
}

static void test_order_and_failure(void) {
  const char *ips[] = {"127.0.0.1", "127.0.0.2", "::1", "127.0.0.3", "::1"};
  uint16_t port = closed_port();
  uvh_resolver_t *r;
  uvh_dial_opts_t o;
  uvh_socket_config_t cfg;
  char want[256], why[200];
  uint64_t started;
  fix_t f;

  uvh__resolver_new(60000, &r);
  is_int(uvh__resolver_set_fixed(r, "HE.test", port, ips, 5, why, sizeof why), 0, "fixed answer set");
  uvh__dial_opts_init(&o);
  o.happy_eyeballs_delay_ms = 5000; /* a refused attempt starts the next at once */
  memset(&f, 0, sizeof f);
  uv_update_time(&loop);
  started = uv_now(&loop);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  is_int(f.d.how, UVH_RESOLVED_FIXED, "the fixed answer, no lookup");
  snprintf(want, sizeof want, "[::1]:%u 127.0.0.1:%u [::1]:%u 127.0.0.2:%u 127.0.0.3:%u", port, port, port, port,
           port);
  is_str(f.order, want, "families alternate from IPv6, each in its order");
  wait_outcome(&f);
  is_int(f.failed, 1, "every attempt refused: one failure");
  is_int(f.code, UVH_E_CONNECT, "UVH_E_CONNECT");
  is_int(f.in_start, 0, "reported from the loop");
  ok(uv_now(&loop) - started < 5000, "a refused attempt started the next without the delay");
  snprintf(want, sizeof want,
           "[::1]:%u: connection refused; 127.0.0.1:%u: connection refused; [::1]:%u: connection refused; "
           "127.0.0.2:%u: connection refused; 127.0.0.3:%u: connection refused",
           port, port, port, port, port);
  if (!have_ipv6)
    printf("# no IPv6 here: the ::1 attempts fail otherwise\n");
  else
    is_str(f.detail, want, "the failure names every attempt");
  settle(&f);
  is_int(f.released, f.held, "every hold released");

  uvh_socket_config_init(&cfg);
  cfg.family = 4;
  uvh__dial_opts_set(&o, &cfg, why, sizeof why);
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  snprintf(want, sizeof want, "127.0.0.1:%u 127.0.0.2:%u 127.0.0.3:%u", port, port, port);
  is_str(f.order, want, "family 4: IPv4 only");
  uvh__dial_cancel(&f.d);
  settle(&f);
  is_int(f.connected + f.failed, 0, "cancelled: no outcome");
  is_int(f.released, f.held, "cancelled: every hold released");

  cfg.family = 6;
  uvh__dial_opts_set(&o, &cfg, why, sizeof why);
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  snprintf(want, sizeof want, "[::1]:%u [::1]:%u", port, port);
  is_str(f.order, want, "family 6: IPv6 only");
  uvh__dial_cancel(&f.d);
  settle(&f);

  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "127.0.0.1", port, &o, &ops);
  is_int(f.failed, 1, "family 6 and an IPv4 literal: failed at once");
  is_int(f.code, UVH_E_RESOLVE, "as a name with no address of that family");
  is_int(f.in_start, 1, "in_start: the owner reports it later");
  settle(&f);

  /* a local address of the other family: that address is skipped, saying why */
  uvh_socket_config_init(&cfg);
  cfg.family = 0;
  cfg.local_address = "127.0.0.1";
  uvh__dial_opts_set(&o, &cfg, why, sizeof why);
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "::1", port, &o, &ops);
  is_int(f.failed, 1, "local_address IPv4, target IPv6: failed");
  is_int(f.code, UVH_E_CONNECT, "UVH_E_CONNECT");
  ok(strstr(f.detail, "skipped, local_address 127.0.0.1 is IPv4") != NULL, "the detail says why: %s", f.detail);
  is_int(f.held, 0, "no socket was made");
  settle(&f);

  is_int(uvh__resolver_set_fixed(r, "x", 1, ips + 2, 0, why, sizeof why), UVH_E_BADARG, "no addresses: refused");
  {
    const char *bad[] = {"::1", "1.2.3"};
    is_int(uvh__resolver_set_fixed(r, "x", 1, bad, 2, why, sizeof why), UVH_E_BADARG, "a bad address: refused");
    ok(strstr(why, "'1.2.3'") != NULL, "the message names it: %s", why);
  }
  uvh__resolver_unref(r);
}

/* IPv6 hangs (a full accept queue), IPv4 answers: the second attempt
 * starts after the delay and wins; the first is closed. */
static void test_happy_eyeballs(void) {
  const char *ips[] = {"::1", "127.0.0.1"};
  int fill[64], nfill, l6, l4, i;
  uint16_t port = 0;
  uvh_resolver_t *r;
  uvh_dial_opts_t o;
  char why[200];
  uint64_t started;
  fix_t f;

  l4 = listener(AF_INET, &port, 16);
  l6 = listener(AF_INET6, &port, 0);
  if (l6 < 0 || (nfill = fill_queue(port, fill, 64)) < 0) {
    printf("# skip: no IPv6 listener whose full accept queue drops SYNs\n");
    if (l6 >= 0)
      close(l6);
    close(l4);
    return;
  }
  uvh__resolver_new(60000, &r);
  uvh__resolver_set_fixed(r, "he.test", port, ips, 2, why, sizeof why);
  uvh__dial_opts_init(&o);
  o.happy_eyeballs_delay_ms = 100;
  memset(&f, 0, sizeof f);
  uv_update_time(&loop);
  started = uv_now(&loop);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  wait_outcome(&f);
  is_int(f.connected, 1, "connected");
  is_int(f.peer_family, AF_INET, "through IPv4");
  ok(f.connected_at - started >= 100, "after the delay (%u ms)", (unsigned)(f.connected_at - started));
  settle(&f);
  is_int(f.released, f.held, "the hanging attempt and the timer released");

  /* cancel while the first attempt hangs and the delay runs */
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  run_for(20);
  is_int(f.held, 3, "an attempt (handle, request) and the timer held");
  uvh__dial_cancel(&f.d);
  settle(&f);
  is_int(f.connected + f.failed, 0, "cancelled during the delay: no outcome");
  is_int(f.released, f.held, "every hold released");

  /* cancel with both attempts pending: a 0 delay starts the second next tick */
  o.happy_eyeballs_delay_ms = 0;
  memset(&f, 0, sizeof f);
  uvh__dial_start(&f.d, &loop, r, "he.test", port, &o, &ops);
  uvh__dial_cancel(&f.d);
  settle(&f);
  is_int(f.connected + f.failed, 0, "cancelled at once: no outcome");
  is_int(f.released, f.held, "every hold released");

  /* cancel with two attempts pending (both to the hanging ::1) */
  {
    const char *both6[] = {"::1", "::1"};
    uvh__resolver_set_fixed(r, "he6.test", port, both6, 2, why, sizeof why);
    o.happy_eyeballs_delay_ms = 10;
    memset(&f, 0, sizeof f);
    uvh__dial_start(&f.d, &loop, r, "he6.test", port, &o, &ops);
    run_for(60);
    is_int(f.held, 5, "two attempts (handles, requests) and the timer held");
    uvh__dial_cancel(&f.d);
    settle(&f);
    is_int(f.connected + f.failed, 0, "cancelled with two attempts pending: no outcome");
    is_int(f.released, f.held, "every hold released");
  }

  for (i = 0; i < nfill; i++)
    close(fill[i]);
  close(l6);
  close(l4);
  uvh__resolver_unref(r);
}

static void test_cache_and_sharing(void) {
  uint16_t port = 0;
  int lfd = listener(AF_INET, &port, 16), i;
  uvh_resolver_t *r;
  uvh_dial_opts_t o;
  fix_t f[3];

  uvh__dial_opts_init(&o);
  o.family = 4;
  uvh__resolver_new(60000, &r);
  for (i = 0; i < 3; i++) {
    memset(&f[i], 0, sizeof f[i]);
    uvh__dial_start(&f[i].d, &loop, r, "localhost", port, &o, &ops);
  }
  is_int(f[0].d.how, UVH_RESOLVED_LOOKUP, "the first dial starts a lookup");
  is_int(f[1].d.how, UVH_RESOLVED_SHARED, "the second joins it");
  is_int(f[2].d.how, UVH_RESOLVED_SHARED, "so does the third");
  uvh__dial_cancel(&f[1].d); /* a waiter leaves */
  wait_outcome(&f[0]);
  wait_outcome(&f[2]);
  is_int(f[0].connected + f[2].connected, 2, "both waiters connected");
  is_int(f[1].resolved + f[1].connected + f[1].failed, 0, "the one cancelled heard nothing");
  for (i = 0; i < 3; i++) {
    settle(&f[i]);
    is_int(f[i].released, f[i].held, "every hold released");
  }
  memset(&f[0], 0, sizeof f[0]);
  uvh__dial_start(&f[0].d, &loop, r, "localhost", port, &o, &ops);
  is_int(f[0].d.how, UVH_RESOLVED_CACHED, "then the cache answers");
  is_int(f[0].resolved, 1, "resolved at once");
  wait_outcome(&f[0]);
  settle(&f[0]);
  uvh__resolver_drop_cache(r);
  memset(&f[0], 0, sizeof f[0]);
  uvh__dial_start(&f[0].d, &loop, r, "localhost", port, &o, &ops);
  is_int(f[0].d.how, UVH_RESOLVED_LOOKUP, "a dropped cache asks again");
  /* the owner lets go mid-lookup, its dial cancelled: the lookup holds
   * the resolver until its callback */
  uvh__dial_cancel(&f[0].d);
  uvh__resolver_unref(r);
  settle(&f[0]);
  while (uv_run(&loop, UV_RUN_ONCE))
    ;
  is_int(f[0].resolved + f[0].connected + f[0].failed, 0, "cancelled while resolving: no outcome");

  /* no cache: every dial asks */
  uvh__resolver_new(0, &r);
  memset(&f[0], 0, sizeof f[0]);
  uvh__dial_start(&f[0].d, &loop, r, "localhost", port, &o, &ops);
  wait_outcome(&f[0]);
  settle(&f[0]);
  memset(&f[0], 0, sizeof f[0]);
  uvh__dial_start(&f[0].d, &loop, r, "localhost", port, &o, &ops);
  is_int(f[0].d.how, UVH_RESOLVED_LOOKUP, "ttl 0: nothing cached");
  wait_outcome(&f[0]);
  settle(&f[0]);
  uvh__resolver_unref(r);
  close(lfd);
}

int main(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  have_ipv6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  uv_loop_init(&loop);
  test_socket_options();
  test_order_and_failure();
  test_happy_eyeballs();
  test_cache_and_sharing();
  while (uv_run(&loop, UV_RUN_ONCE))
    ;
  is_int(uv_loop_close(&loop), 0, "uv_loop_close: nothing left open");
  return done_testing();
}
