/* internal.h - struct layouts and uvh__ functions shared by the core modules.
 * Nothing here is part of the public API.
 */
#ifndef UVH_INTERNAL_H
#define UVH_INTERNAL_H

#include "uvh.h"
#include "base/buf.h"
#include "base/list.h"
#include "base/time.h"
#include "base/check.h"
#include "base/url.h"
#include "base/proxy.h"
#include "net/socks5.h"
#include "net/tls.h"
#include "net/stream.h"
#include "net/dial.h"
#include "net/resolve.h"
#include "loop/loop.h"
#include "http/h1.h"

/* TLS sessions a destination keeps for resumption (TLS 1.3 tickets are
 * used once each, so a few are kept for connections opened together) */
#define UVH_TLS_SESSIONS_KEPT 16
/* Distinct TLS settings whose contexts a pool keeps cached */
#define UVH_TLS_CTXS_KEPT 16
/* How long a connection whose request went elsewhere may keep connecting
 * when the request had set no connect deadline. */
#define UVH_ORPHAN_CONNECT_MS 10000
/* Bytes of a streamed body the pump writes in one go when the socket takes
 * them all at once; then it lets the loop poll (for the response) first */
#define UVH_BODY_BURST (256 * 1024)

/* ---- response (response.c; the struct is the parser's message, http/h1.h) ---- */
int uvh__response_new(uvh_response_t **out);

/* ---- request (request.c) ---- */
typedef enum {
  REQ_NEW,
  REQ_QUEUED,                /* in its destination's queue */
  REQ_RUNNING,               /* on a connection (req->conn) */
  REQ_FAILING,               /* on no connection, its failure (deferred_err) reported from the pool's next tick */
  REQ_DONE
} uvh_request_state_t;

struct uvh_request_s {
  int refcount;
  uvh_request_state_t state; /* written by uvh__request_set_state only */
  uvh_url_t url;
  char *method;              /* owned, upper-case as given: method_inline, or malloc'ed when longer */
  char method_inline[16];    /* the usual methods, with no allocation of their own */
  uvh_buf_t user_headers;    /* "Name: value\r\n" lines, validated */
  unsigned has_user_agent : 1, has_authorization : 1, has_host : 1, has_content_length : 1;
  unsigned wants_close : 1;  /* request carries Connection: close */
  unsigned is_head : 1;
  unsigned has_idempotency_key : 1;
  unsigned retry : 1;        /* may be sent again after a stale connection (default) */
  unsigned idempotent : 1;   /* the user says it is safe to repeat */
  unsigned retried : 1;      /* was sent again */
  unsigned fresh_conn_only : 1; /* a retry: must go out on a new connection */
  unsigned on_reused_conn : 1;  /* running on a connection that served before */
  unsigned checked : 1;      /* uvh_request_check passed and no field it reads changed since: head is current */
  unsigned proxy_set : 1;    /* `proxy` decides the route (NULL: direct), not the pool's default */
  unsigned has_proxy_authorization : 1;
  unsigned has_accept_encoding : 1; /* the user's own: no decoding */
  unsigned head_decompress : 1; /* the head asks for (and the response is) decoded: the request's
                                 * decompress, or the pool's at submit when it is -1 */
  unsigned body_stream : 1;  /* the body comes in pieces (uvh_request_send_body), not from `body` */
  unsigned chunked : 1;      /* the body goes out with chunked framing */
  unsigned body_ended : 1;   /* body_stream: the last piece was given */
  unsigned expects_continue : 1; /* carries Expect: 100-continue: the body waits for the 100 */
  unsigned paused : 1;       /* the user paused reading (uvh_request_pause); cleared at completion */
  int decompress;            /* 1, 0, or -1 for the pool's */
  size_t max_header_count;   /* UVH_LIMIT_INHERIT: the pool's */
  uvh_tls_opts_t tls;        /* owned; unset fields take the pool's */
  uvh_dial_opts_t sock;      /* socket options; unset fields (not in sock.set) take the pool's */
  uvh_proxy_t *proxy;        /* owned, when proxy_set and not direct (a pointer: most requests have none) */
  char *body;                /* owned copy */
  size_t body_len;
  uint64_t body_declared;    /* body_stream with a Content-Length header: its value */
  uint64_t body_given;       /* body_stream: bytes given so far */
  uvh_buf_t body_next;       /* body_stream: framed pieces given and not yet written, owned */
  uvh_request_pull_cb pull;  /* body_stream: asks for the next piece; NULL when pushed */
  uvh_request_continue_cb on_continue;
  double expect_timeout;     /* seconds the body waits for a 100; < 0: the pool's */
  double timeout, connect_timeout;
  double read_timeout;       /* < 0: the pool's */
  size_t max_headers_size, max_body_size;
  uvh_buf_t head;            /* serialized request head, built at submit */
  uvh_request_cb cb;
  void *cb_data;
  uvh_request_partial_cb partial_cb; /* streams the response body when set (uvh_request_set_partial) */

  /* while active */
  uvh_pool_t *pool;          /* strong ref */
  uvh_pool_t *submitted_to;  /* borrowed: the pool of the last submit, kept for its callback (uvh_request_pool) */
  struct uvh_dest_s *dest;   /* borrowed: counted in dest->nactive while active */
  uvh_conn_t *conn;          /* borrowed: set while running on a connection */
  uvh_list_t queue_link;     /* in dest->queue while queued */
  uint64_t deadline;         /* loop ms; 0 = none */
  uint64_t queued_at;        /* loop ms when queued */
  uint64_t queue_deadline;   /* loop ms by which it must leave the queue; 0 = none */
  size_t due_slot;           /* index + 1 in pool->due_heap while in it, else 0; pool.c's heap functions only */
  int deferred_err;          /* failure to report from the pool's next tick (queue_full) */
  uvh_response_t *resp;      /* owned ref, created at submit */
  uvh_error_t error;
};

/* Does the body go out chunked: asked for, or streamed with no Content-Length to frame it? */
#define UVH_REQ_CHUNKED(r) ((r)->chunked || ((r)->body_stream && !(r)->has_content_length))

/* The one writer of req->state. */
void uvh__request_set_state(uvh_request_t *req, uvh_request_state_t state);
/* Queued, running or failing: submitted and not yet completed. */
int uvh__request_active(const uvh_request_t *req);
/* uvh_request_check with the head for its route: through the HTTP proxy
 * `p` (an http:// request) an absolute-form target and Proxy-Authorization
 * from its credentials; NULL: the origin form. */
int uvh__request_check_via(uvh_request_t *req, const uvh_proxy_t *p);
/* A proxy URL s[0..len) for a message, its credentials hidden. */
void uvh__proxy_shown(char *out, size_t cap, const char *s, size_t len);

/* ---- pool and destinations (pool.c) ---- */
/* An entry of the pool's due heap; the key is kept in it, so ordering
 * the heap never has to read the requests. */
typedef struct {
  uint64_t due;              /* loop ms: the earlier of deadline and queue_deadline */
  uint64_t seq;              /* enqueue order: FIFO among equal due times */
  uvh_request_t *req;        /* borrowed */
} uvh_due_entry_t;

typedef struct uvh_dest_s {
  uvh_list_t pool_link;
  uvh_pool_stats_t stats;    /* this destination's share of the pool's counters */
  char *key;               /* "http://host:port", then through a proxy "\nvia " and its key; for https
                            * followed by "\n", the server name, "\n" and the TLS settings */
  size_t name_len;         /* length of the "scheme://host:port" part of key */
  char *host;              /* for getaddrinfo */
  uint16_t port;
  uvh_dial_opts_t sock;      /* socket options of its connections */
  char *tls_name;          /* https: name for SNI and verification (in the same block as key), else NULL */
  struct ssl_ctx_st *ssl_ctx;       /* https: own reference */
  uvh_proxy_t proxy;       /* owned: the proxy its connections go through; kind 0 (mem NULL) when direct */
  struct ssl_session_st *sessions[UVH_TLS_SESSIONS_KEPT]; /* to resume, oldest first; own references */
  unsigned nsessions;
  struct ssl_session_st *last_offered; /* TLS 1.3 session offered last, own reference, or NULL */
  uvh_list_t idle;         /* idle conns, most recently used first */
  uvh_list_t conns;        /* every open conn */
  uvh_list_t queue;        /* queued requests, FIFO */
  unsigned nconns, nqueued;
  unsigned nactive;          /* submitted requests not yet completed (they point here) */
} uvh_dest_t;

/* Count an event in the pool's and the destination's counters. */
#define UVH_COUNT(pool, d, field) \
  do {                            \
    (pool)->stats.field++;        \
    if (d)                        \
      (d)->stats.field++;         \
  } while (0)

struct uvh_pool_s {
  int refcount;              /* owner + active requests + conns */
  uvh_loop_t *loop;          /* NULL once the loop is destroyed */
  uvh_loop_user_t loop_user; /* in loop->users while loop is set */
  uvh_pool_config_t cfg;
  uvh_list_t dests;
  unsigned size, nbusy, nqueued;
  uvh_pool_stats_t stats;
  unsigned ndests;
  unsigned released : 1;     /* owner let go: keep no idle connections */
  unsigned sweeping : 1;     /* mid-sweep: no pumping, no freeing of destinations */
  unsigned detaching : 1;    /* the loop is being destroyed: no new work */
  unsigned pumping;          /* pumps in progress: destinations are not freed under them */
  uvh_list_t idle_lru;       /* every idle conn, least recently used first (max_total eviction) */
  uvh_list_t pending_writes; /* conns whose request is written from the check handle */
  uvh_list_t deferred;       /* requests failed at submit, completed from the check handle */
  int handles_open;          /* the three handles below; memory freed when all closed */
  uv_timer_t queue_timer;    /* fires when due_heap's first request is due */
  /* Every queued request that has a due time (the earlier of deadline and
   * queue_deadline, neither of which changes while it is queued): a binary
   * min-heap by (due, seq), so submit, dequeue, cancel and expiry cost
   * O(log n) and the timer needs only the first. Invariants: an entry's
   * request is REQ_QUEUED and in its destination's queue (a sweep or the
   * timer takes requests out of both at once); its due_slot is the entry's index
   * + 1; ndue <= nactive <= due_cap, the room being reserved at submit
   * (where a failure can be returned), so a requeue from a connection's
   * callback never allocates. The array is owned, the requests borrowed
   * (the pool holds a reference on each active one). Only the due_heap_*
   * functions write due_heap, ndue, due_cap and due_slot. */
  uvh_due_entry_t *due_heap;
  size_t ndue, due_cap;
  size_t nactive;            /* submitted requests not yet completed; written by submit and completion */
  uint64_t queue_seq;        /* the last uvh_due_entry_t.seq given out */
  uint64_t queue_timer_due;  /* loop ms queue_timer is armed for, 0 = stopped; written by queue_timer_set
                              * (and cleared by on_queue_timer: a fired timer is stopped) */
  uv_check_t check;          /* runs right after the poll phase: deferred writes and failures */
  uv_idle_t idle;            /* active while deferred work waits, so poll does not block */
  uint32_t rng;              /* xorshift state for idle-timeout jitter */
  uvh_tls_opts_t tls;        /* owned: default TLS settings */
  uvh_proxy_t proxies[UVH_PROXY_SLOTS]; /* owned: the default proxy and the environment's (uvh_proxy_slot_t) */
  char *no_proxy;            /* owned: the environment's no_proxy list, or NULL */
  uvh_tls_ctx_cache_t tls_ctxs; /* contexts by settings, at most UVH_TLS_CTXS_KEPT */
  uvh_dial_opts_t sock;      /* default socket options (every field set) */
  char sock_key[160];        /* their uvh__dial_opts_key */
  uvh_resolver_t *resolver;  /* own reference: fixed answers, the DNS cache (lookups in flight hold theirs) */
  unsigned dropping_inherited : 1; /* in a child after fork: close without a word to the server */
  char last_error[320];
  uvh_stream_bufs_t bufs;    /* read buffers shared by all conns: reads are consumed at once */
  void *data;
};

/* A connection closed or finished: start queued requests of its destination. */
void uvh__pool_pump(uvh_pool_t *pool, uvh_dest_t *dest);
/* The conn finished its request and may be reused: next queued request or idle. */
void uvh__pool_conn_reusable(uvh_pool_t *pool, uvh_conn_t *conn);
/* Conn is gone from the destination; forget it. */
void uvh__pool_conn_closed(uvh_pool_t *pool, uvh_conn_t *conn);
/* Complete a request: detach, record `err` (0 = success), run the callback last. */
void uvh__request_complete(uvh_request_t *req, int err, int sys_err, const char *detail);
/* End a queued or running request with `err` (a cancel): its connection,
 * if any, is discarded; the callback runs last. */
void uvh__pool_cancel(uvh_request_t *req, int err, const char *detail);
/* Arm (or stop) the queue timer for the first due queued request. */
void uvh__pool_arm_queue_timer(uvh_pool_t *pool);
/* Write conn's request from the check handle, after this iteration's reads. */
void uvh__pool_defer_write(uvh_pool_t *pool, uvh_conn_t *conn);
/* Put a running request back at the head of its destination's queue;
 * fresh_only: it must go out on a new connection (a retry). */
void uvh__pool_requeue(uvh_pool_t *pool, uvh_dest_t *d, uvh_request_t *req, int fresh_only);

/* ---- connection (conn.c) ---- */
typedef enum {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_TUNNELING,            /* TCP up to the proxy, its handshake (CONNECT or SOCKS5) in progress */
  CONN_HANDSHAKING,          /* TCP up, TLS handshake in progress */
  CONN_ACTIVE,
  CONN_IDLE,
  CONN_CLOSING
} uvh_conn_state_t;

struct uvh_conn_s {
  int refcount;              /* pool's while open + external (Perl) refs */
  uvh_conn_state_t state;    /* written by conn_set_state (conn.c) only */
  uvh_pool_t *pool;          /* strong ref for the conn's whole life */
  uvh_dest_t *dest;          /* borrowed while open; NULL after close */
  char *key;                 /* owned copy of the destination key */
  uvh_list_t dest_link;      /* dest->conns */
  uvh_list_t idle_link;      /* dest->idle while idle */
  uvh_list_t lru_link;       /* pool->idle_lru while idle */
  uvh_list_t write_link;     /* pool->pending_writes while its write waits */
  uvh_dial_t dial;           /* resolving and connecting (its attempt's handle until connected) */
  uvh_stream_t stream;       /* the connected socket (and its TLS, https), from on_connected */
  struct uvh_tunnel_s *tunnel; /* owned: the proxy handshake's state (tunnel.c), freed with the conn */
  uv_timer_t timer;
  int pending;               /* open handles + in-flight uv requests; memory is freed at 0 with refcount 0 */
  unsigned body_pending : 1; /* TLS: more of the running request's body is still to encrypt */
  size_t body_sent;          /* TLS: bytes of that body encrypted so far */
  unsigned nothing_written : 1; /* the current request's write failed before any byte */
  unsigned body_streaming : 1; /* the body goes out piece by piece (exchange.c's body pump) and has not ended */
  unsigned string_due : 1;   /* body_streaming: the request's string body is still to write (after a wait for 100) */
  unsigned pump_deferred : 1; /* body_streaming: the pump wrote a burst at once and goes on from the check handle */
  unsigned awaiting_continue : 1; /* the head went out; the body waits for a 100, a final response or expect_deadline */
  unsigned in_pull : 1;      /* inside the request's pull callback: a piece given is written when it returns */
  uvh_buf_t body_out;        /* body_streaming: the piece being written, owned (uv_write reads it until done) */
  uint64_t expect_deadline;  /* loop ms when awaiting_continue ends with the body sent anyway */
  unsigned bytes_hooked : 1; /* the running request streams or was paused: its bytes take on_bytes_streamed */
  uvh_request_t *req;        /* the running request, strong ref */
  uvh_parser_t parser;
  int deferred_code;         /* UVH_E_* of a failure met synchronously, reported from the timer */
  int deferred_err;          /* and its libuv error */
  uint64_t connect_deadline; /* loop ms, 0 = none */
  uint64_t idle_deadline;
  double ka_timeout;         /* per-connection idle limit from Keep-Alive, seconds, < 0 none */
  unsigned requests_served;
  unsigned allowed_requests; /* from Keep-Alive: max=N; UINT_MAX when the server set none */
  uint64_t connected_at;     /* loop ms */
  /* the read timeout of the running request (set at attach): */
  uint64_t read_timeout_ms;  /* 0 = none */
  uint64_t sent_at;          /* loop ms when its last byte was written, 0 = not yet */
  size_t response_bytes;     /* bytes of its response that arrived */
  uint64_t resumed_at;       /* loop ms of its last resume (uvh_request_resume), 0 = none: the read timeout starts over */
  void *data;
};

/* Inside the client connection (conn.c, exchange.c). */
void uvh__conn_maybe_free(uvh_conn_t *conn);
/* A failure met inside a call from the user: reported on the next tick. */
void uvh__conn_fail_soon(uvh_conn_t *conn, int code, int sys_err);
/* Close the connection and fail its request (if any), or send the
 * request again on a new connection when that is safe. */
void uvh__conn_fail(uvh_conn_t *conn, int err, int sys_err, const char *detail);
void uvh__conn_attach(uvh_conn_t *conn, uvh_request_t *req);
/* Count how a name was resolved for `conn` (a uvh_resolved_t: a lookup,
 * the cache, a shared lookup; fixed answers are not counted) in the
 * pool's and the destination's dns_* counters. */
void uvh__conn_count_lookup(uvh_conn_t *conn, int how);
/* The running request was paused or resumed (req->paused): stop or
 * start reading, and move its read timeout. */
void uvh__conn_pause_changed(uvh_conn_t *conn);
/* The running request's last byte was written: its read timeout starts. */
void uvh__conn_request_sent(uvh_conn_t *conn);
uvh_request_t *uvh__conn_detach(uvh_conn_t *conn);
/* Write the running request (the head, then the body). */
void uvh__conn_write_request(uvh_conn_t *conn);
/* TLS: encrypt the next body chunk and flush (first: the request's first flush). */
void uvh__conn_tls_send(uvh_conn_t *conn, int first);
/* A streamed body: write what was given while the socket takes it, ask
 * for more (pull), end when the last piece has gone. */
void uvh__conn_body_pump(uvh_conn_t *conn);
/* The wait for a 100 ended: continued (a 100 arrived) or not (the
 * expect timeout); the body goes out. */
void uvh__conn_body_go(uvh_conn_t *conn, int continued);
/* Response bytes, the peer's close, and bytes or a close with no request in flight. */
void uvh__conn_on_bytes(uvh_conn_t *conn, const char *data, size_t len, size_t more);
void uvh__conn_on_peer_closed(uvh_conn_t *conn, int err, int clean);
int uvh__conn_settled_without_request(uvh_conn_t *conn);

/* Open a new connection of `dest` running `req`. */
int uvh__conn_start(uvh_pool_t *pool, uvh_dest_t *dest, uvh_request_t *req, uvh_conn_t **out);
/* Run `req` on an idle connection. */
void uvh__conn_run(uvh_conn_t *conn, uvh_request_t *req);
/* Late binding: a connecting conn gives up its request to an idle one. */
void uvh__conn_take_from_connecting(uvh_conn_t *conn);
/* A new connection came up without a request: take the queue's head or idle. */
void uvh__pool_conn_fresh(uvh_pool_t *pool, uvh_conn_t *conn);
/* The pre-write check: called from the check handle, writes the request
 * unless the connection turned out to be stale. */
void uvh__conn_write_deferred(uvh_conn_t *conn);
/* Close; the running request (if any) must already be detached. */
void uvh__conn_close(uvh_conn_t *conn);
/* Detach and abort the running request (cancel/timeout): the conn is discarded. */
void uvh__conn_abort(uvh_conn_t *conn);
void uvh__conn_make_idle(uvh_conn_t *conn);
/* Still resolving, connecting or in the TLS handshake. */
int uvh__conn_connecting(const uvh_conn_t *conn);
void uvh__conn_arm_timer(uvh_conn_t *conn);
/* The tunnel through the proxy is up: TLS to the target, or ready. */
void uvh__conn_tunnel_up(uvh_conn_t *conn);

/* ---- the proxy handshake (tunnel.c) ---- */
/* Does a connection of `d` need a handshake with its proxy (SOCKS5, or
 * CONNECT for https)? */
int uvh__tunnel_needed(const uvh_dest_t *d);
/* Start it on conn's connected stream; the end is uvh__conn_tunnel_up or
 * uvh__conn_fail. */
void uvh__tunnel_start(uvh_conn_t *conn);
/* The proxy's bytes during the handshake. */
void uvh__tunnel_on_bytes(uvh_conn_t *conn, const char *data, size_t len);
/* The proxy closed or the stream failed during the handshake. */
void uvh__tunnel_on_closed(uvh_conn_t *conn, int err);
/* What the handshake is waiting for, for a timeout's message. */
void uvh__tunnel_describe(const uvh_conn_t *conn, char *out, size_t cap);
/* The conn closes: stop a lookup in progress. */
void uvh__tunnel_cancel(uvh_conn_t *conn);
/* The conn's memory goes. */
void uvh__tunnel_free(uvh_conn_t *conn);

#endif
