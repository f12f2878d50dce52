/* internal.h - struct layouts and uvh__ functions shared by the core modules.
 * Nothing here is part of the public API.
 */
#ifndef UVH_INTERNAL_H
#define UVH_INTERNAL_H

#include "uvh.h"
#include "buf.h"
#include "list.h"
#include "url.h"
#include "llhttp.h"

#define UVH_READ_BUF_SIZE 65536

/* ---- loop (loop.c) ---- */
struct uvh_loop_s {
  uv_loop_t *uv;     /* owned when owns_uv, else borrowed */
  int owns_uv;
  uvh_list_t pools;  /* uvh_pool_t.loop_link; not owning */
  uvh_list_t timers; /* uvh_timer_t.loop_link; not owning */
  void *data;
};

/* ---- timer (timer.c) ---- */
struct uvh_timer_s {
  uv_timer_t handle;     /* memory freed in its close callback */
  uvh_loop_t *loop;      /* NULL once the loop is destroyed */
  uvh_list_t loop_link;
  int refcount;
  int closing;
  uvh_timer_cb cb;
  void *data;
};
void uvh__timer_close(uvh_timer_t *timer);

/* ---- response parser (http1.c) ---- */
typedef struct {
  uint32_t name_off, name_len, value_off, value_len;
} uvh_header_t;

struct uvh_response_s {
  int refcount;
  int status;
  uint8_t http_major, http_minor;
  unsigned keep_alive : 1;   /* both the response and framing allow reuse */
  uvh_buf_t strings;         /* reason phrase, header names and values */
  uint32_t reason_off, reason_len;
  uvh_header_t *headers;     /* headers then trailers */
  size_t nheaders, ntrailers, cap_headers;
  uvh_buf_t body;
};

int uvh__response_new(uvh_response_t **out);

typedef struct {
  llhttp_t llhttp;
  uvh_response_t *resp;      /* borrowed from the request */
  size_t max_headers_size, max_body_size;
  size_t header_bytes;
  unsigned is_head : 1;      /* request was HEAD: no body whatever the headers say */
  unsigned in_trailers : 1;
  unsigned informational : 1;/* current message is a 1xx to skip */
  unsigned complete : 1;
  unsigned needs_eof : 1;    /* close-delimited body */
  unsigned in_header_value : 1;
  unsigned started : 1;      /* any response byte arrived */
  int limit_hit;             /* UVH_E_TOO_LARGE when a callback refused */
  const char *reason;        /* our own reason for a refusal, static string */
  int ka_max;                /* Keep-Alive: max=N, -1 if absent */
  double ka_timeout;         /* Keep-Alive: timeout=N seconds, -1 if absent */
  uvh_header_t cur;          /* header being accumulated */
} uvh_parser_t;

void uvh__parser_init(uvh_parser_t *p, uvh_response_t *resp, int is_head, size_t max_headers_size,
                      size_t max_body_size);
/* Feed bytes. Returns 0 when more input is wanted, 1 when the response is
 * complete (*consumed tells how much was used; the rest is not part of it),
 * or UVH_E_PROTOCOL / UVH_E_TOO_LARGE. */
int uvh__parser_feed(uvh_parser_t *p, const char *data, size_t len, size_t *consumed);
/* Peer closed. 1 when that completes a close-delimited body, else
 * UVH_E_CONN_CLOSED (nothing or a partial response) or UVH_E_PROTOCOL. */
int uvh__parser_eof(uvh_parser_t *p);
/* Why the last feed failed, for error messages. */
const char *uvh__parser_reason(const uvh_parser_t *p);
/* Did any byte of a response arrive? */
int uvh__parser_started(const uvh_parser_t *p);

/* ---- request (request.c, http1.c) ---- */
typedef enum { REQ_NEW, REQ_QUEUED, REQ_RUNNING, REQ_DONE } uvh_request_state_t;

struct uvh_request_s {
  int refcount;
  uvh_request_state_t state;
  uvh_url_t url;
  char *method;              /* owned, upper-case as given */
  uvh_buf_t user_headers;    /* "Name: value\r\n" lines, validated */
  unsigned has_user_agent : 1, has_authorization : 1, has_host : 1, has_content_length : 1;
  unsigned wants_close : 1;  /* request carries Connection: close */
  unsigned is_head : 1;
  char *body;                /* owned copy */
  size_t body_len;
  double timeout, connect_timeout;
  size_t max_headers_size, max_body_size;
  uvh_buf_t head;            /* serialized request head, built at submit */
  uvh_request_cb cb;
  void *cb_data;

  /* while active */
  uvh_pool_t *pool;          /* strong ref */
  struct uvh_dest_s *dest;   /* borrowed: lives while it has requests */
  uvh_conn_t *conn;          /* borrowed: set while running */
  uvh_list_t queue_link;     /* in dest->queue while queued */
  uint64_t deadline;         /* loop ms; 0 = none */
  uint64_t queued_at;        /* loop ms when queued */
  uvh_response_t *resp;      /* owned ref, created at submit */
  uvh_error_t error;
};

/* Build req->head from the request's fields. */
int uvh__request_build_head(uvh_request_t *req);

/* ---- pool and destinations (pool.c) ---- */
typedef struct uvh_dest_s {
  uvh_list_t pool_link;
  char *key;               /* "http://host:port" */
  char *host;              /* for getaddrinfo */
  uint16_t port;
  uvh_list_t idle;         /* idle conns, most recently used first */
  uvh_list_t conns;        /* every open conn */
  uvh_list_t queue;        /* queued requests, FIFO */
  unsigned nconns, nqueued;
} uvh_dest_t;

struct uvh_pool_s {
  int refcount;              /* owner + active requests + conns */
  uvh_loop_t *loop;          /* NULL once the loop is destroyed */
  uvh_list_t loop_link;
  uvh_pool_config_t cfg;
  uvh_list_t dests;
  unsigned size, nbusy, nqueued;
  uvh_pool_stats_t stats;
  unsigned released : 1;     /* owner let go: keep no idle connections */
  unsigned sweeping : 1;     /* mid-sweep: no pumping, no freeing of destinations */
  uv_timer_t queue_timer;    /* fires at the earliest queued-request deadline */
  char read_buf[UVH_READ_BUF_SIZE]; /* shared by all conns: reads are consumed at once */
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
void uvh__pool_arm_queue_timer(uvh_pool_t *pool);
/* The loop is being destroyed: shut the pool down and close its handle. */
void uvh__pool_detach_loop(uvh_pool_t *pool);

/* ---- connection (conn.c) ---- */
typedef enum {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_ACTIVE,
  CONN_IDLE,
  CONN_CLOSING
} uvh_conn_state_t;

struct uvh_conn_s {
  int refcount;              /* pool's while open + external (Perl) refs */
  uvh_conn_state_t state;
  uvh_pool_t *pool;          /* strong ref for the conn's whole life */
  uvh_dest_t *dest;          /* borrowed while open; NULL after close */
  char *key;                 /* owned copy of the destination key */
  uvh_list_t dest_link;      /* dest->conns */
  uvh_list_t idle_link;      /* dest->idle while idle */
  uv_tcp_t *tcp_handle;      /* current connect attempt or the connected socket; NULL when none */
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t connect_req;
  uv_write_t write_req;
  struct addrinfo *addrs, *next_addr;
  int pending;               /* open handles + in-flight uv requests; memory is freed at 0 with refcount 0 */
  unsigned writing : 1, resolving : 1;
  uvh_request_t *req;        /* the running request, strong ref */
  uvh_parser_t parser;
  int last_connect_err;
  int deferred_err;          /* write failed synchronously: reported from the timer */
  uint64_t connect_deadline; /* loop ms, 0 = none */
  uint64_t idle_deadline;
  double ka_timeout;         /* per-connection idle limit from Keep-Alive, seconds, < 0 none */
  unsigned requests_served;
  void *data;
};

/* Open a new connection of `dest` running `req`. */
int uvh__conn_start(uvh_pool_t *pool, uvh_dest_t *dest, uvh_request_t *req, uvh_conn_t **out);
/* Run `req` on an idle connection. */
void uvh__conn_run(uvh_conn_t *conn, uvh_request_t *req);
/* Close; the running request (if any) must already be detached. */
void uvh__conn_close(uvh_conn_t *conn);
/* Detach and abort the running request (cancel/timeout): the conn is discarded. */
void uvh__conn_abort(uvh_conn_t *conn);
void uvh__conn_make_idle(uvh_conn_t *conn);
void uvh__conn_arm_timer(uvh_conn_t *conn);

uint64_t uvh__seconds_to_ms(double s);

#endif
