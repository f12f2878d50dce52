/* stream.c - see stream.h. */
#include "net/stream.h"
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

void uvh__stream_init(uvh_stream_t *s, uvh_stream_bufs_t *bufs, const uvh_stream_ops_t *ops) {
  memset(s, 0, sizeof *s);
  s->bufs = bufs;
  s->ops = ops;
}

void uvh__stream_free(uvh_stream_t *s) {
  if (s->tls) {
    uvh__tls_free(s->tls);
    free(s->tls);
    s->tls = NULL;
  }
}

void uvh__stream_ref(uvh_stream_t *s, int ref) {
  if (ref)
    uv_ref((uv_handle_t *)s->handle);
  else
    uv_unref((uv_handle_t *)s->handle);
}

static void on_handle_closed(uv_handle_t *h) {
  uvh_stream_t *s = h->data;
  free(h);
  s->ops->on_handle_closed(s);
}

/* ------------------------------------------------------------------ write */

static void write_done(uvh_stream_t *s, int status) {
  s->writing--;
  if (status < 0)
    s->peer_gone = 1; /* never write on a socket that has failed a write */
  s->ops->on_write_done(s, status);
}

static void on_write(uv_write_t *w, int status) { write_done(w->data, status); }

int uvh__stream_write(uvh_stream_t *s, uv_buf_t *bufs, unsigned n, int *nothing_written) {
  unsigned i = 0;
  size_t written;
  int rc;
  *nothing_written = 0;
  /* Most writes (a request, a response head) fit in the socket buffer:
   * write them now, with no write request and no poll-for-writable round
   * trip. uv_write takes the rest. */
  rc = uv_try_write(s->handle, bufs, n);
  if (rc < 0 && rc != UV_EAGAIN) {
    /* never write again after a failed write: the socket has reported its
     * error (a reset), and a second write would raise SIGPIPE */
    *nothing_written = 1;
    s->peer_gone = 1;
    return rc;
  }
  written = rc > 0 ? (size_t)rc : 0;
  while (i < n && written >= bufs[i].len)
    written -= bufs[i++].len;
  if (i == n)
    return 0;
  bufs[i].base += written;
  bufs[i].len -= (unsigned)written;
  s->write_req.data = s;
  rc = uv_write(&s->write_req, s->handle, bufs + i, n - i, on_write);
  if (rc < 0)
    return rc;
  s->ops->on_hold(s);
  s->writing++;
  return 0;
}

/* Ciphertext on its way out: the buffer lives until libuv is done with it. */
typedef struct {
  uv_write_t req;
  char data[];
} tls_write_t;

static void on_tls_write(uv_write_t *w, int status) {
  uvh_stream_t *s = w->data;
  free(w); /* the whole tls_write_t */
  write_done(s, status);
}

int uvh__stream_flush(uvh_stream_t *s, int *nothing_sent) {
  size_t n = uvh__tls_out_pending(s->tls);
  tls_write_t *w;
  uv_buf_t buf;
  int rc;
  if (nothing_sent)
    *nothing_sent = 0;
  if (n == 0 || s->handle == NULL)
    return 0;
  if (s->peer_gone) {
    /* the socket already failed or the peer left: a write now could
     * raise SIGPIPE */
    if (nothing_sent)
      *nothing_sent = 1;
    return UV_EPIPE;
  }
  if ((w = malloc(sizeof *w + n)) == NULL)
    return UV_ENOMEM;
  buf = uv_buf_init(w->data, (unsigned)uvh__tls_take_out(s->tls, w->data, n));
  rc = uv_try_write(s->handle, &buf, 1);
  if (rc == (int)buf.len) {
    free(w);
    return 0;
  }
  if (rc < 0 && rc != UV_EAGAIN) {
    if (nothing_sent)
      *nothing_sent = 1;
    s->peer_gone = 1; /* no second write after the socket's error: it would raise SIGPIPE */
    free(w);
    return rc;
  }
  if (rc > 0) {
    buf.base += rc;
    buf.len -= (unsigned)rc;
  }
  w->req.data = s;
  if ((rc = uv_write(&w->req, s->handle, &buf, 1, on_tls_write)) < 0) {
    free(w);
    return rc;
  }
  s->ops->on_hold(s);
  s->writing++;
  return 0;
}

int uvh__stream_handshake(uvh_stream_t *s, int *sys_err) {
  int rc = uvh__tls_handshake(s->tls);
  /* our next flight (or the alert explaining a failure) goes out first */
  int flush = uvh__stream_flush(s, NULL);
  *sys_err = 0;
  if (rc < 0)
    return rc;
  if (flush < 0) {
    s->peer_gone = 1;
    *sys_err = flush;
    return UVH_E_CONN_CLOSED;
  }
  return rc;
}

/* ------------------------------------------------------------------- read */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  uvh_stream_t *s = h->data;
  size_t len;
  char *room;
  (void)suggested;
  /* ciphertext always goes to the shared buffer: only plaintext has a
   * final place */
  if (s->tls == NULL && s->ops->read_room && (room = s->ops->read_room(s, &len)) != NULL) {
    *buf = uv_buf_init(room, len < UINT_MAX ? (unsigned)len : UINT_MAX);
    return;
  }
  *buf = uv_buf_init(s->bufs->read, sizeof s->bufs->read);
}

/* Ciphertext (or EOF/error) from the peer. */
static void on_tls_read(uvh_stream_t *s, ssize_t nread, const char *data) {
  uvh_tls_t *tls = s->tls;
  uvh_stream_bufs_t *bufs = s->bufs;
  int rc;
  if (nread < 0) {
    s->ops->on_closed(s, (int)nread, 0);
    return;
  }
  if (uvh__tls_feed(tls, data, (size_t)nread) != 0) {
    s->ops->on_error(s, UVH_E_NOMEM, 0);
    return;
  }
  if (!tls->handshake_done) {
    s->ops->on_handshake(s);
    /* records behind the peer's last handshake flight (a client's first
     * request often shares a read with its Finished) are read now: no
     * further read may come to fetch them out of the engine */
    if (s->closed || s->tls != tls || !tls->handshake_done)
      return;
  }
  if (bufs->plain == NULL && (bufs->plain = malloc(UVH_TLS_PLAIN_SIZE)) == NULL) {
    s->ops->on_error(s, UVH_E_NOMEM, 0);
    return;
  }
  while (!s->closed) {
    char *to = bufs->plain;
    size_t room = UVH_TLS_PLAIN_SIZE;
    long n;
    if (s->ops->read_room && (to = s->ops->read_room(s, &room)) == NULL) {
      to = bufs->plain;
      room = UVH_TLS_PLAIN_SIZE;
    }
    n = uvh__tls_read(tls, to, room);
    if (n > 0)
      s->ops->on_data(s, to, (size_t)n, uvh__tls_read_pending(tls));
    else if (n == 0)
      break;
    else if (n == UVH_TLS_CLOSED)
      s->ops->on_closed(s, UV_EOF, 1);
    else
      s->ops->on_error(s, UVH_E_TLS, 0);
  }
  /* reading may have queued records of its own (a key update) */
  if (!s->closed && (rc = uvh__stream_flush(s, NULL)) < 0)
    s->ops->on_error(s, UVH_E_CONN_CLOSED, rc);
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  uvh_stream_t *s = h->data;
  if (nread == 0 || s->closed)
    return;
  if (nread > 0)
    s->last_read_at = uv_now(h->loop);
  if (s->tls)
    on_tls_read(s, nread, buf->base);
  else if (nread < 0)
    s->ops->on_closed(s, (int)nread, 0);
  else
    s->ops->on_data(s, buf->base, (size_t)nread, 0);
}

void uvh__stream_open(uvh_stream_t *s, uv_stream_t *handle) {
  s->handle = handle;
  handle->data = s;
  uv_read_start(handle, on_alloc, on_read);
}

void uvh__stream_read_stop(uvh_stream_t *s) {
  if (s->read_stopped || s->handle == NULL || s->closed)
    return;
  s->read_stopped = 1;
  uv_read_stop(s->handle);
}

void uvh__stream_read_start(uvh_stream_t *s) {
  if (!s->read_stopped || s->handle == NULL || s->closed)
    return;
  s->read_stopped = 0;
  uv_read_start(s->handle, on_alloc, on_read);
}

/* ------------------------------------------------------------------ close */

void uvh__stream_close(uvh_stream_t *s, int notify) {
  s->closed = 1;
  /* a graceful close says so (close_notify), when the session is sound */
  if (notify && s->tls && s->handle && s->tls->handshake_done && !s->tls->fatal && !s->peer_gone) {
    char alert[256]; /* one alert record, whatever the cipher */
    uv_os_fd_t fd;
    size_t len = 0;
    uvh__tls_shutdown(s->tls);
    if (uvh__tls_out_pending(s->tls) <= sizeof alert)
      len = uvh__tls_take_out(s->tls, alert, sizeof alert);
    /* best effort, never waited for; only behind everything already sent,
     * and with MSG_NOSIGNAL: a peer that just went away must not raise
     * SIGPIPE in the user's process */
    if (len && uv_stream_get_write_queue_size(s->handle) == 0 &&
        uv_fileno((uv_handle_t *)s->handle, &fd) == 0 && send(fd, alert, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
      s->peer_gone = 1;
  }
  if (s->handle) {
    uv_close((uv_handle_t *)s->handle, on_handle_closed);
    s->handle = NULL;
  }
}

size_t uvh__stream_unsent(uvh_stream_t *s) {
  size_t n;
  if (s->handle == NULL)
    return 0;
  n = uv_stream_get_write_queue_size(s->handle);
#if defined(TIOCOUTQ) || defined(FIONWRITE)
  {
    uv_os_fd_t fd;
    int queued = 0;
#ifdef TIOCOUTQ
    const unsigned long what = TIOCOUTQ;
#else
    const unsigned long what = FIONWRITE;
#endif
    if (uv_fileno((uv_handle_t *)s->handle, &fd) == 0 && ioctl(fd, what, &queued) == 0 && queued > 0)
      n += (size_t)queued;
  }
#endif
  return n;
}
