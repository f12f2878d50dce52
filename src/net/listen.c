/* listen.c - see listen.h. */
#include "net/listen.h"
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static void on_accepted_closed(uv_handle_t *h) { free(h); }

static void on_connection(uv_stream_t *server, int status) {
  uvh_listener_t *l = server->data;
  uv_stream_t *conn;
  int rc;
  if (status < 0) {
    l->ops->on_error(l, status);
    return;
  }
  if ((conn = malloc(l->pipe ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t))) == NULL) {
    l->ops->on_error(l, UV_ENOMEM);
    return;
  }
  if (l->pipe)
    uv_pipe_init(server->loop, (uv_pipe_t *)conn, 0);
  else
    uv_tcp_init(server->loop, (uv_tcp_t *)conn);
  if ((rc = uv_accept(server, conn)) < 0) {
    uv_close((uv_handle_t *)conn, on_accepted_closed);
    l->ops->on_error(l, rc);
    return;
  }
  if (!l->pipe)
    uv_tcp_nodelay((uv_tcp_t *)conn, 1);
  l->ops->on_connection(l, conn);
}

static long long ctime_ns(const struct stat *st) { return (long long)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec; }

/* The socket file goes with the listener that made it: not from a forked
 * child's copy, and not when another file has taken its place. */
static void unlink_path(uvh_listener_t *l) {
  struct stat st;
  if (l->path == NULL)
    return;
  if ((long)getpid() == l->path_pid && lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
      (unsigned long)st.st_dev == l->path_dev && (unsigned long)st.st_ino == l->path_ino &&
      ctime_ns(&st) == l->path_ctime_ns)
    unlink(l->path);
  free(l->path);
  l->path = NULL;
}

static void on_listener_closed(uv_handle_t *h) {
  uvh_listener_t *l = h->data;
  free(l->path); /* unlinked at the close already */
  l->path = NULL;
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
  if ((rc = uv_tcp_init_ex(uv, &l->h.tcp, ss.ss_family)) < 0)
    return rc;
  l->h.tcp.data = l;
  if (reuse_port && uv_fileno((uv_handle_t *)&l->h.tcp, &fd) == 0 &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc < 0 || (rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0)) < 0 ||
      (rc = uv_listen((uv_stream_t *)&l->h.tcp, backlog, on_connection)) < 0) {
    /* the handle exists: it closes from the loop, and on_closed says when */
    l->closing = 1;
    uv_close((uv_handle_t *)&l->h.tcp, on_listener_closed);
    return rc;
  }
  return 0;
}

size_t uvh__listen_path_max(void) { return sizeof(((struct sockaddr_un *)0)->sun_path) - 1; }

/* The address of a unix socket at `path` (no longer than the caller checked). */
static void unix_address(struct sockaddr_un *sun, const char *path) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, strlen(path));
}

/* A file at path: 0 when there is none or it was a stale socket (now
 * removed), else why it stays. */
static int clear_stale(const char *path) {
  struct sockaddr_un sun;
  struct stat st;
  int fd, rc;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : uv_translate_sys_error(errno);
  if (!S_ISSOCK(st.st_mode))
    return UV_EEXIST;
  /* a non-blocking unix connect answers at once: refused means nobody
   * listens, EAGAIN a full backlog (somebody does) */
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
    return uv_translate_sys_error(errno);
  unix_address(&sun, path);
  rc = connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ? UV_EADDRINUSE
     : errno == ECONNREFUSED ? 0
     : errno == EAGAIN ? UV_EADDRINUSE
     : uv_translate_sys_error(errno);
  close(fd);
  if (rc == 0 && unlink(path) != 0 && errno != ENOENT)
    rc = uv_translate_sys_error(errno);
  return rc;
}

int uvh__listen_path(uvh_listener_t *l, uv_loop_t *uv, const char *path, int backlog, const uvh_listener_ops_t *ops) {
  struct sockaddr_un sun;
  struct stat st;
  int rc, fd;
  memset(l, 0, sizeof *l);
  l->ops = ops;
  l->pipe = 1;
  /* libuv would cut a longer one short, and bind another path */
  if (strlen(path) > uvh__listen_path_max())
    return UV_ENAMETOOLONG;
  if (*path == '\0')
    return UV_EINVAL;
  if ((rc = clear_stale(path)) < 0)
    return rc;
  /* bound here, not by uv_pipe_bind: libuv would unlink the path at every
   * close, a forked child's too and after another file took its place */
  unix_address(&sun, path);
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return uv_translate_sys_error(errno);
  if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
    rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  if ((l->path = strdup(path)) == NULL || lstat(path, &st) != 0) {
    rc = l->path ? uv_translate_sys_error(errno) : UV_ENOMEM;
    unlink(path);
    free(l->path);
    l->path = NULL;
    close(fd);
    return rc;
  }
  l->path_dev = (unsigned long)st.st_dev;
  l->path_ino = (unsigned long)st.st_ino;
  l->path_ctime_ns = ctime_ns(&st);
  l->path_pid = (long)getpid();
  if ((rc = uv_pipe_init(uv, &l->h.pipe, 0)) < 0) {
    unlink_path(l);
    close(fd);
    return rc;
  }
  l->h.pipe.data = l;
  if ((rc = uv_pipe_open(&l->h.pipe, fd)) < 0)
    close(fd); /* the handle never owned it */
  if (rc < 0 || (rc = uv_listen((uv_stream_t *)&l->h.pipe, backlog, on_connection)) < 0) {
    unlink_path(l);
    l->closing = 1;
    uv_close((uv_handle_t *)&l->h.pipe, on_listener_closed);
    return rc;
  }
  return 0;
}

int uvh__listen_fd(uvh_listener_t *l, uv_loop_t *uv, int fd, int backlog, const uvh_listener_ops_t *ops) {
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  int rc;
  memset(l, 0, sizeof *l);
  l->ops = ops;
  /* a unix socket is served as a pipe; its file stays the parent's */
  l->pipe = getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_UNIX;
  if ((rc = l->pipe ? uv_pipe_init(uv, &l->h.pipe, 0) : uv_tcp_init(uv, &l->h.tcp)) < 0) {
    close(fd); /* it was given to us */
    return rc;
  }
  l->h.tcp.data = l;
  if ((rc = l->pipe ? uv_pipe_open(&l->h.pipe, fd) : uv_tcp_open(&l->h.tcp, (uv_os_sock_t)fd)) < 0)
    close(fd); /* the handle never owned it: uv_close will not close it */
  if (rc < 0 || (rc = uv_listen((uv_stream_t *)&l->h.tcp, backlog, on_connection)) < 0) {
    l->closing = 1;
    uv_close((uv_handle_t *)&l->h.tcp, on_listener_closed);
    return rc;
  }
  return 0;
}

int uvh__listener_host(const uvh_listener_t *l, char *buf, size_t cap) {
  struct sockaddr_storage ss;
  int len = sizeof ss, rc;
  if (l->pipe) {
    size_t n = cap;
    return uv_pipe_getsockname(&l->h.pipe, buf, &n);
  }
  if ((rc = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len)) != 0)
    return rc;
  return ss.ss_family == AF_INET6 ? uv_ip6_name((struct sockaddr_in6 *)&ss, buf, cap)
                                  : uv_ip4_name((struct sockaddr_in *)&ss, buf, cap);
}

uint16_t uvh__listener_port(const uvh_listener_t *l) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (l->pipe || uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                        : ((struct sockaddr_in *)&ss)->sin_port);
}

void uvh__listener_close(uvh_listener_t *l) {
  if (l->closing)
    return;
  l->closing = 1;
  unlink_path(l); /* at once: a new listener may bind the path before the loop runs */
  uv_close((uv_handle_t *)&l->h.tcp, on_listener_closed);
}
