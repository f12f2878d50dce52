/* listen.h - a listener on TCP or a unix socket: bind, listen, accept. Each accepted
 * connection's handle is handed to the owner (who opens a stream on it);
 * what the owner does with it, the listener never learns.
 *
 * Owns: its listening handle (embedded; the owner's memory must live until
 * on_closed). Tells its owner through `ops`, never by name.
 */
#ifndef UVH_NET_LISTEN_H
#define UVH_NET_LISTEN_H
#include "uvh.h"

typedef struct uvh_listener_s uvh_listener_t;

typedef struct {
  /* A connection was accepted: `conn` (malloc'd and initialised: a
   * uv_tcp_t with TCP_NODELAY set, or a uv_pipe_t when l->pipe) is the
   * owner's, to open a stream on or to close. */
  void (*on_connection)(uvh_listener_t *l, uv_stream_t *conn);
  /* Accepting failed (status < 0, e.g. UV_EMFILE); listening goes on. */
  void (*on_error)(uvh_listener_t *l, int status);
  /* The listening handle is closed: the owner's memory may go. */
  void (*on_closed)(uvh_listener_t *l);
} uvh_listener_ops_t;

struct uvh_listener_s {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;                       /* the listening handle: pipe when `pipe` */
  const uvh_listener_ops_t *ops;
  char *path;                /* malloc'd: the socket file this listener made (unlinked when it closes); or NULL */
  unsigned long path_dev, path_ino; /* that file's identity (with its change time: inode numbers are */
  long long path_ctime_ns;           /* reused at once): one put in its place is not ours to unlink */
  long path_pid;             /* the process that made it: a forked child closing its copy leaves it */
  unsigned closing : 1;
  unsigned pipe : 1;         /* a unix-socket listener */
};

/* Listen on host (an IPv4 or IPv6 literal) and port (0: any free one).
 * 0, or a libuv error: after a bad address nothing was made; after a
 * failed bind or listen the handle closes from the loop and on_closed
 * follows, as after uvh__listener_close. */
int uvh__listen(uvh_listener_t *l, uv_loop_t *uv, const char *host, uint16_t port, int backlog,
                const uvh_listener_ops_t *ops);
/* The same with SO_REUSEPORT set before the bind when reuse_port (other
 * processes may then listen on the same address and port). */
int uvh__listen_ex(uvh_listener_t *l, uv_loop_t *uv, const char *host, uint16_t port, int backlog,
                   int reuse_port, const uvh_listener_ops_t *ops);
/* Listen on a unix socket at `path`, made now and removed when the
 * listener closes. A file already there is refused (UV_EADDRINUSE) unless
 * it is a stale socket (one that refuses a connection: nobody listens),
 * which is removed first; not a socket: UV_EEXIST. A path too long for
 * sun_path: UV_ENAMETOOLONG. Up to the bind, a failure leaves nothing
 * (l->closing 0, no on_closed); a failed listen closes as above. The file
 * is removed only by the process that made it, and only while it is
 * still the one made (not another put in its place). */
int uvh__listen_path(uvh_listener_t *l, uv_loop_t *uv, const char *path, int backlog, const uvh_listener_ops_t *ops);
/* The most bytes a unix socket's path may have. */
size_t uvh__listen_path_max(void);
/* Listen on an already bound socket `fd` (one a parent process bound and
 * passed down: the worker-process manager, Server::Starter), TCP or unix
 * (l->pipe then tells). The listener owns the fd from here: it is closed
 * with the handle (its socket file, if any, is left: the parent's).
 * Errors as above. */
int uvh__listen_fd(uvh_listener_t *l, uv_loop_t *uv, int fd, int backlog, const uvh_listener_ops_t *ops);
/* The address it listens on, as an IP literal into buf (cap >= 46), or
 * a unix socket's path (cap >= 108). 0 or a libuv error. */
int uvh__listener_host(const uvh_listener_t *l, char *buf, size_t cap);
/* The port it listens on, or 0 (always for a unix socket). */
uint16_t uvh__listener_port(const uvh_listener_t *l);
/* Stop listening; on_closed follows from the loop. */
void uvh__listener_close(uvh_listener_t *l);

#endif
