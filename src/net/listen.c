/* listen.c - see listen.h. */
#include "net/listen.h"
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>

static void on_accepted_closed(uv_handle_t *h) { free(h); }

static void on_connection(uv_stream_t *server, int status) {
  uvh_listener_t *l = server->data;
  uv_tcp_t *tcp;
  int rc;
  if (status < 0) {
    l->ops->on_error(l, status);
    return;
  }
  if ((tcp = malloc(sizeof *tcp)) == NULL) {
    l->ops->on_error(l, UV_ENOMEM);
    return;
  }
  uv_tcp_init(server->loop, tcp);
  if ((rc = uv_accept(server, (uv_stream_t *)tcp)) < 0) {
    uv_close((uv_handle_t *)tcp, on_accepted_closed);
    l->ops->on_error(l, rc);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  l->ops->on_connection(l, tcp);
}

static void on_listener_closed(uv_handle_t *h) {
  uvh_listener_t *l = h->data;
  l->ops->on_closed(l);
}

int uvh__listen(uvh_listener_t *l, uv_loop_t *uv, const char *host, uint16_t port, int backlog,
                const uvh_listener_ops_t *ops) {
  return uvh__listen_ex(l, uv, host, port, backlog, 0, ops);
}

int uvh__listen_ex(uvh_listener_t *l, uv_loop_t *uv, const char *host, uint16_t port, int backlog,
                   int reuse_port, const uvh_listener_ops_t *ops) {
  struct sockaddr_storage ss;
  int rc, one = 1;
  uv_os_fd_t fd;
  memset(l, 0, sizeof *l);
  l->ops = ops;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      (rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)) != 0)
    return rc;
  /* with the socket made now (not at the bind), its options can be set first */
  if ((rc = uv_tcp_init_ex(uv, &l->tcp, ss.ss_family)) < 0)
    return rc;
  l->tcp.data = l;
  if (reuse_port && uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc < 0 || (rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
      (rc = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection)) < 0) {
    /* the handle exists: it closes from the loop, and on_closed says when */
    l->closing = 1;
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return rc;
  }
  return 0;
}

int uvh__listen_fd(uvh_listener_t *l, uv_loop_t *uv, int fd, int backlog, const uvh_listener_ops_t *ops) {
  int rc;
  memset(l, 0, sizeof *l);
  l->ops = ops;
  if ((rc = uv_tcp_init(uv, &l->tcp)) < 0) {
    close(fd); /* it was given to us */
    return rc;
  }
  l->tcp.data = l;
  if ((rc = uv_tcp_open(&l->tcp, (uv_os_sock_t)fd)) < 0)
    close(fd); /* the handle never owned it: uv_close will not close it */
  if (rc < 0 || (rc = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection)) < 0) {
    l->closing = 1;
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return rc;
  }
  return 0;
}

int uvh__listener_host(const uvh_listener_t *l, char *buf, size_t cap) {
  struct sockaddr_storage ss;
  int len = sizeof ss, rc;
  if ((rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len)) != 0)
    return rc;
  return ss.ss_family == AF_INET6 ? uv_ip6_name((struct sockaddr_in6 *)&ss, buf, cap)
                                  : uv_ip4_name((struct sockaddr_in *)&ss, buf, cap);
}

uint16_t uvh__listener_port(const uvh_listener_t *l) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                        : ((struct sockaddr_in *)&ss)->sin_port);
}

void uvh__listener_close(uvh_listener_t *l) {
  if (l->closing)
    return;
  l->closing = 1;
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
