/* stream.h - a byte stream over TCP or a unix socket, plain or TLS, dialed or accepted (the
 * owner starts the TLS engine for its side and sets `tls`; from then on
 * both sides run the same): the connected handle, reads
 * into a shared buffer (decrypted when TLS), writes (at once when the
 * socket takes them, else through uv_write), the TLS ciphertext pump,
 * close_notify and the handle's close.
 *
 * It knows nothing of what it carries: what arrives and what happens go to
 * its owner through `ops`. Owns: its handle once given one (freed in the
 * close callback), its TLS state, the buffers of TLS writes in flight.
 * Borrows: the read buffers (shared by the streams of one owner, a pool or
 * a server: a read is consumed before the next one).
 */
#ifndef UVH_NET_STREAM_H
#define UVH_NET_STREAM_H
#include "uvh.h"
#include "net/tls.h"

#define UVH_READ_BUF_SIZE 65536
/* Plaintext of one TLS record at most */
#define UVH_TLS_PLAIN_SIZE 16384

/* Read buffers shared by streams whose reads are consumed at once. */
typedef struct {
  char *plain;               /* TLS plaintext, UVH_TLS_PLAIN_SIZE; malloc'd on first use */
  char read[UVH_READ_BUF_SIZE];
} uvh_stream_bufs_t;

typedef struct uvh_stream_s uvh_stream_t;

/* What the stream tells its owner. Every one may close the stream. */
typedef struct {
  /* Plaintext arrived; `more` bytes beyond these are already buffered (TLS). */
  void (*on_data)(uvh_stream_t *s, const char *data, size_t len, size_t more);
  /* The peer closed (err UV_EOF; clean: with a TLS close_notify) or the
   * stream failed (err < 0). */
  void (*on_closed)(uvh_stream_t *s, int err, int clean);
  /* TLS: handshake bytes arrived (fed to the engine): advance it
   * (uvh__stream_handshake). If that finishes the handshake, the records
   * that came behind it go to on_data at once. */
  void (*on_handshake)(uvh_stream_t *s);
  /* Reading failed: UVH_E_NOMEM, UVH_E_TLS (reason in tls->reason), or
   * UVH_E_CONN_CLOSED with a libuv error (a key update could not be sent). */
  void (*on_error)(uvh_stream_t *s, int code, int sys_err);
  /* A write the stream started (it called on_hold) finished; status < 0
   * failed (then nothing more may be written). */
  void (*on_write_done)(uvh_stream_t *s, int status);
  /* A write request started: the owner must stay alive until on_write_done. */
  void (*on_hold)(uvh_stream_t *s);
  /* The handle's close callback ran (its memory is freed). */
  void (*on_handle_closed)(uvh_stream_t *s);
  /* Optional: a buffer of the owner's for the next plaintext (*len bytes at
   * most), which on_data then gets as its data; NULL for the shared one.
   * An owner reads a body straight into its final place this way. */
  char *(*read_room)(uvh_stream_t *s, size_t *len);
} uvh_stream_ops_t;

struct uvh_stream_s {
  uv_stream_t *handle;       /* the connected handle (a uv_tcp_t or a uv_pipe_t); NULL before open and after close */
  uvh_tls_t *tls;            /* owned; NULL for plain */
  uv_write_t write_req;      /* the plain write in flight */
  uvh_stream_bufs_t *bufs;   /* borrowed */
  const uvh_stream_ops_t *ops;
  unsigned writing;          /* writes in flight */
  uint64_t last_read_at;     /* loop ms when bytes last arrived (ciphertext counts), 0 = none yet */
  unsigned peer_gone : 1;    /* closed or reset by the peer, or a write failed: nothing more may be written */
  unsigned closed : 1;       /* uvh__stream_close was called */
  unsigned read_stopped : 1; /* the owner stopped reading (uvh__stream_read_stop) */
};

void uvh__stream_init(uvh_stream_t *s, uvh_stream_bufs_t *bufs, const uvh_stream_ops_t *ops);
/* Take over a connected handle (malloc'd uv_tcp_t or uv_pipe_t) and start reading. */
void uvh__stream_open(uvh_stream_t *s, uv_stream_t *handle);
/* Write bufs: at once as far as the socket takes them, the rest through
 * uv_write (bufs' memory must then live until on_write_done). 0, or a libuv
 * error; *nothing_written tells whether no byte left. */
int uvh__stream_write(uvh_stream_t *s, uv_buf_t *bufs, unsigned n, int *nothing_written);
/* TLS: send the ciphertext the engine has queued. 0, or a libuv error
 * when the socket failed (then *nothing_sent, if given, tells whether no
 * byte left). */
int uvh__stream_flush(uvh_stream_t *s, int *nothing_sent);
/* TLS, either side: advance the handshake and send what it queued (the
 * next flight, or the alert explaining a failure). 1 done, 0 wants more
 * input, UVH_E_TLS (reason in tls->reason), or UVH_E_CONN_CLOSED when the
 * socket failed (*sys_err the libuv error; nothing more may be written). */
int uvh__stream_handshake(uvh_stream_t *s, int *sys_err);
/* Back-pressure: stop reading from the socket (what was read has been
 * delivered; TLS records already decrypted still are), and start again.
 * No callback runs from either. */
/* Bytes written but not yet taken by the peer: libuv's queue, plus the
 * kernel's send queue where the system tells it (Linux, FreeBSD). Less
 * than before means the peer read some. */
size_t uvh__stream_unsent(uvh_stream_t *s);
void uvh__stream_read_stop(uvh_stream_t *s);
void uvh__stream_read_start(uvh_stream_t *s);
/* Close the handle. notify: say so with a TLS close_notify when the
 * session is sound (best effort, never waited for). */
void uvh__stream_close(uvh_stream_t *s, int notify);
/* Keep the loop alive for this stream, or not (an idle connection). */
void uvh__stream_ref(uvh_stream_t *s, int ref);
/* Free the TLS state (when the owner's memory goes). */
void uvh__stream_free(uvh_stream_t *s);

#endif
