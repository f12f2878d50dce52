/* server.h - the HTTP/1.1 server: listeners, connections and their
 * requests (uvh_server_* in uvh.h).
 *
 * server.c owns the server object, its listeners and the request
 * objects' accessors; conn.c owns a connection's state machine (read,
 * parse, dispatch, write, keep-alive or close) and the response writer.
 * It uses net/ (listen, stream, tls in server mode), http/ (the request
 * parser and the chunk framing) and loop/ (it is a loop user, detached
 * when the loop goes); it knows nothing of client/.
 */
#ifndef UVH_SERVER_SERVER_H
#define UVH_SERVER_SERVER_H
#include "uvh.h"
#include "base/buf.h"
#include "base/list.h"
#include "loop/loop.h"
#include "net/listen.h"
#include "net/stream.h"
#include "net/tls.h"
#include "http/h1.h"

/* After a response that closes the connection, its reading side is
 * drained this long (a lingering close): closing at once with unread
 * bytes would reset the connection and lose the response. */
#define UVH_SERVER_LINGER_MS 2000
/* Bytes read ahead of the request being answered (pipelining) before
 * reading pauses. */
#define UVH_SERVER_READ_AHEAD 65536

typedef struct uvh_server_conn_s uvh_server_conn_t;

typedef struct {
  uvh_listener_t l;          /* embedded: this memory lives until its on_closed */
  uvh_server_t *srv;
  struct ssl_ctx_st *tls_ctx; /* owned reference; NULL for plain */
  char host[108];             /* an IP literal, or a unix socket's path (l.pipe) */
  unsigned port;             /* 0 for a unix socket */
  unsigned tcp_nodelay : 1;
  unsigned listening : 1;    /* it came to listen (a failed one keeps its slot until the server goes) */
  unsigned open : 1;         /* listening, or its handle still closing */
} uvh_server_listener_t;

struct uvh_server_s {
  uvh_loop_user_t user;      /* on loop->users while not detached */
  uvh_loop_t *loop;          /* NULL once detached */
  int refcount;              /* the owner's references */
  uvh_server_config_t cfg;
  uvh_server_ops_t ops;
  void *data;
  uvh_server_activity_cb activity; /* may be NULL */
  void *activity_data;
  uvh_server_listener_t **listeners; /* owned, each freed once its handle closed */
  unsigned nlisteners;
  unsigned handles;          /* listeners open and connections not yet freed: memory waits for 0 */
  uvh_list_t conns;          /* uvh_server_conn_t.link, open ones */
  unsigned nconns;           /* open connections counted for max_connections */
  unsigned nopen;            /* open connections, refused ones included (the length of conns) */
  uvh_stream_bufs_t bufs;    /* the read buffers of every connection */
  unsigned stopped : 1;
  unsigned draining : 1;     /* graceful_stop: no new requests, on_stopped when the last connection goes */
  uv_timer_t *drain_timer;   /* graceful_stop's deadline and its "done" tick; freed in its close callback */
  char last_error[320];
  char date[40];             /* "Date: ...\r\n" value cache */
  long long date_at;         /* the second it is for */
};

/* Connection states; conn.c's set_state is their one writer. */
typedef enum {
  UVH_SC_IDLE,       /* waiting for a request's first byte */
  UVH_SC_READING,    /* a request (or a TLS handshake) is arriving */
  UVH_SC_HANDLING,   /* the owner has the request */
  UVH_SC_WRITING,    /* its response is being written */
  UVH_SC_LINGER,     /* the last response is sent: draining until the peer closes */
  UVH_SC_CLOSED
} uvh_server_conn_state_t;

/* How a response's body is framed. */
typedef enum {
  UVH_SB_NONE,       /* no body (HEAD, 204, 304) */
  UVH_SB_WHOLE,      /* given whole, with Content-Length */
  UVH_SB_CHUNKED,    /* streamed, chunked (HTTP/1.1) */
  UVH_SB_TO_CLOSE,   /* streamed, up to the close (HTTP/1.0) */
  UVH_SB_LENGTH      /* streamed, with the owner's Content-Length (body_left counts down) */
} uvh_server_body_mode_t;

struct uvh_server_conn_s {
  uvh_list_t link;           /* srv->conns while open */
  uvh_server_t *srv;
  uvh_stream_t s;
  uv_timer_t timer;          /* idle, read, write, linger, and the resume after an asynchronous response */
  uv_shutdown_t shutdown_req;
  int refs;                  /* the handle, the timer, writes and a shutdown in flight: freed at 0 */
  uvh_server_conn_state_t state;
  uvh_parser_t parser;
  uvh_server_req_t *req;     /* owned reference: the request being read or answered */
  uvh_buf_t pending;         /* bytes read beyond the current request */
  uvh_buf_t out;             /* response bytes not yet handed to the stream */
  uvh_buf_t wbuf;            /* the write in flight (one at a time) */
  unsigned served;           /* responses begun */
  size_t write_mark;         /* unsent bytes when write_timeout was armed: fewer later is progress */
  struct sockaddr_storage peer;
  unsigned counted : 1;      /* counts in srv->nconns (not a refused one) */
  unsigned secure : 1;
  unsigned tcp_nodelay : 1;
  unsigned in_dispatch : 1;  /* inside on_request: a response given now lets the dispatch loop go on */
  unsigned resume : 1;       /* the timer fires at once to go on with pipelined bytes */
  unsigned close_after : 1;  /* the response being written is the last */
  unsigned peer_eof : 1;     /* the client closed its sending side */
  unsigned read_paused : 1;
  unsigned owner_paused : 1; /* uvh_server_req_pause */
  unsigned continued : 1;    /* the current request's 100 Continue is decided (sent or not wanted) */
  unsigned resp_done : 1;    /* all of the response is in `out` or written */
  unsigned drain_tick : 1;   /* the timer fires at once for an on_drain already due */
  uvh_server_body_mode_t body_mode; /* how the response's body goes out */
  unsigned long long body_left; /* UVH_SB_LENGTH: bytes still promised */
};

struct uvh_server_req_s {
  int refcount;
  uvh_server_conn_t *conn;   /* borrowed; NULL once answered and written, or dropped */
  uvh_h1_message_t msg;
  char peer_addr[108];       /* an IP literal, or a unix client's path (mostly "") */
  unsigned peer_port;
  unsigned dispatched : 1;   /* the owner has it (on_head or on_request ran) */
  unsigned counted : 1;      /* told to srv->activity as started, not yet as done */
  unsigned requested : 1;    /* on_request ran */
  unsigned routed : 1;       /* on_head has returned (or there is none) */
  unsigned partial : 1;      /* the body goes to on_body */
  size_t partial_bytes;      /* of the body delivered so far */
  unsigned answered : 1;     /* a response was begun */
  unsigned complete : 1;     /* all of it was given */
  unsigned dropped : 1;
  unsigned secure : 1;
  unsigned want_drain : 1;   /* on_drain is asked for (uvh_server_req_want_drain) */
  void *data;
  char last_error[200];
  char *client_subject, *client_issuer; /* owned; NULL without a verified client certificate */
  struct x509_st *client_cert; /* owned reference to that certificate (its PEM made only when asked); or NULL */
};

/* conn.c */
/* A connection was accepted on `ls` (already checked against max_connections: `refuse` answers 503). */
void uvh__server_conn_accept(uvh_server_t *srv, uvh_server_listener_t *ls, uv_stream_t *conn, int refuse);
/* Close it now; an unanswered request gets on_drop when `notify`. */
void uvh__server_conn_close(uvh_server_conn_t *c, int notify);
/* graceful_stop began: an idle kept-alive connection closes now. */
void uvh__server_conn_drain(uvh_server_conn_t *c);
/* server.c */
/* A connection closed (it left srv->conns). */
void uvh__server_conn_gone(uvh_server_t *srv);
/* A connection's memory is gone. */
void uvh__server_handle_gone(uvh_server_t *srv);
/* "Date: <now>\r\n" */
const char *uvh__server_date(uvh_server_t *srv);
uvh_server_req_t *uvh__server_req_new(void);

#endif
