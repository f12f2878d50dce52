/* uvh.h - public API of the Uvent HTTP/1.1 client core.
 *
 * Plain C on libuv and llhttp; no Perl. Objects:
 *   uvh_loop_t     a libuv loop plus the pools and timers living on it
 *   uvh_pool_t     per-destination connection pool with a FIFO queue
 *   uvh_request_t  one request/response exchange (refcounted)
 *   uvh_response_t the parsed response of an exchange (refcounted)
 *   uvh_conn_t     one HTTP connection (refcounted)
 *   uvh_timer_t    a plain timer for applications and tests
 *
 * https:// runs TLS (OpenSSL) inside the connection; see uvh_tls_config_t.
 *
 * Conventions: functions return 0 or a negative UVH_E_* code (error.h).
 * A function that returns an error synchronously never runs the callback
 * of the work it was asked to start. Refcounted objects start with one
 * reference owned by the caller of *_new.
 */
#ifndef UVH_H
#define UVH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "base/error.h"

#define UVH_VERSION "0.06"

/* The longest timeout or delay accepted, in seconds (about 31 years): its
 * milliseconds fit a uint64_t with room to add the loop's time. Every
 * setter taking seconds refuses NaN, infinities, negatives and more. */
#define UVH_MAX_SECONDS 1e9
#define UVH_SECONDS_OK(s) ((s) >= 0 && (s) <= UVH_MAX_SECONDS)

typedef struct uvh_loop_s uvh_loop_t;
typedef struct uvh_pool_s uvh_pool_t;
typedef struct uvh_request_s uvh_request_t;
typedef struct uvh_response_s uvh_response_t;
typedef struct uvh_conn_s uvh_conn_t;
typedef struct uvh_timer_s uvh_timer_t;

/* ---- errors passed to completion callbacks ---- */
typedef struct {
  int code;          /* UVH_E_* */
  int sys_err;       /* libuv error (negative errno) behind it, or 0 */
  char message[320]; /* sentence naming the destination */
} uvh_error_t;

/* ---- loop ---- */
/* A new private libuv loop owned by the wrapper. */
int uvh_loop_new(uvh_loop_t **out);
/* Wrap an existing libuv loop (e.g. uv_default_loop()); it is not closed by destroy. */
int uvh_loop_wrap(uv_loop_t *uv, uvh_loop_t **out);
uv_loop_t *uvh_loop_uv(uvh_loop_t *loop);
/* Shut down every pool on the loop (their requests complete as cancelled),
 * stop every timer, run until every handle is closed, close an owned loop
 * and free the wrapper. Pools and timers still referenced elsewhere stay
 * valid objects but refuse new work. Returns uv_loop_close's result for
 * an owned loop (0, or UV_EBUSY if a handle was left open: a leak), 0 for
 * a wrapped one. */
int uvh_loop_destroy(uvh_loop_t *loop);
/* In a child after fork, the first call drops everything inherited: the
 * libuv loop is re-initialised (uv_loop_fork), every connection is closed
 * without writing to it, and every request is completed with
 * UVH_E_INHERITED. Returns 1 when it did that, else 0. Pools call it on
 * every entry; call it before running the loop. */
int uvh_loop_check_fork(uvh_loop_t *loop);
void *uvh_loop_get_data(uvh_loop_t *loop);
void uvh_loop_set_data(uvh_loop_t *loop, void *data);

/* Driving the loop from another event loop (a "host": EV, a Perl loop).
 * The host watches uvh_loop_backend_fd for readability and arms a timer
 * for uvh_loop_backend_timeout; when either fires it calls
 * uvh_loop_run_nowait and asks both again.
 *
 * uvh_loop_alive: 1 while the loop has referenced work (requests pending,
 * started timers, handles closing); idle keep-alive connections and the
 * pools' housekeeping timers are not referenced and must not keep a host
 * loop alive, yet they are still served while it runs.
 *
 * uvh_loop_backend_timeout: milliseconds until the loop next needs to run
 * with no I/O (0 = at once, -1 = only on I/O). Unlike uv_backend_timeout
 * it counts the unreferenced timers too when nothing else is left (libuv
 * answers 0 then, which would make a host spin). Updates the loop's time.
 *
 * The work callback is called synchronously by every call that gives the
 * loop work from outside uv_run (a request submitted or cancelled, a
 * timer started or stopped, a pool shut down or released), so that the
 * host re-arms at once instead of waiting for its old timeout. It must
 * not run the loop; it is also called from inside uv_run, where it can be
 * ignored (the host re-arms after every run anyway). */
typedef void (*uvh_loop_work_cb)(uvh_loop_t *loop);
/* One iteration of the loop without blocking, for a host whose watcher
 * fired: like uv_run(UV_RUN_NOWAIT), but it also runs when only
 * unreferenced work is left (uv_run returns at once then, so an idle
 * connection's end or deadline would never be seen). Returns 0 or
 * UVH_E_NOMEM. */
int uvh_loop_run_nowait(uvh_loop_t *loop);
int uvh_loop_backend_fd(uvh_loop_t *loop);
/* Changes in a child after fork (its first look re-creates the loop for
 * it): a driver compares it to know its watchers are the parent's. */
unsigned uvh_loop_fork_generation(uvh_loop_t *loop);
int uvh_loop_backend_timeout(uvh_loop_t *loop);
int uvh_loop_alive(uvh_loop_t *loop);
void uvh_loop_set_work_cb(uvh_loop_t *loop, uvh_loop_work_cb cb);
/* Load measurement: from uvh_loop_measure_load on, the loop's time spent
 * running callbacks (not waiting in the poll) accumulates; *busy_ns is it.
 * Counted only while uv_run itself waits (not under an adapter's loop).
 * uvh_loop_busy_ns returns UVH_E_BADARG before uvh_loop_measure_load. */
int uvh_loop_measure_load(uvh_loop_t *loop);
int uvh_loop_busy_ns(uvh_loop_t *loop, uint64_t *busy_ns);
/* The monotonic clock in milliseconds (uv_now's clock), read now rather
 * than cached by the loop; the same in every process. */
uint64_t uvh_monotonic_ms(void);

/* ---- timer ---- */
typedef void (*uvh_timer_cb)(uvh_timer_t *timer, void *data);
int uvh_timer_new(uvh_loop_t *loop, uvh_timer_cb cb, void *data, uvh_timer_t **out);
/* after/repeat in seconds; repeat 0 = one-shot. */
int uvh_timer_start(uvh_timer_t *timer, double after, double repeat);
void uvh_timer_stop(uvh_timer_t *timer);
int uvh_timer_active(const uvh_timer_t *timer);
void uvh_timer_ref(uvh_timer_t *timer);
/* Dropping the last reference stops and closes the timer. */
void uvh_timer_unref(uvh_timer_t *timer);

/* ---- TLS settings (https:// destinations) ---- */
/* Every field may be left unset (-1, 0 or NULL): a request's unset fields
 * take the pool's, the pool's take the defaults. Strings are copied. */
typedef struct {
  int verify;              /* 1: verify the chain and the host name (default); 0: accept anything (unsafe) */
  int min_version;         /* 12 = TLS 1.2 (default), 13 = TLS 1.3 */
  const char *ca_file;     /* PEM bundle trusted instead of the system store */
  const char *ca_path;     /* hashed CA directory trusted instead of the system store */
  const char *cert_file;   /* client certificate chain, PEM */
  const char *key_file;    /* its private key, PEM; default: cert_file */
  const char *ciphers;     /* OpenSSL cipher list for TLS 1.2 */
  const char *server_name; /* name sent as SNI and verified, instead of the URL's host */
} uvh_tls_config_t;

void uvh_tls_config_init(uvh_tls_config_t *cfg);

/* ---- socket options (every new connection's socket) ---- */
/* Each field may be left unset (UVH_SOCKET_UNSET, NULL): a request's
 * unset fields take the pool's, the pool's the defaults. Options a
 * request sets that differ from its pool's make a destination of their
 * own: connections with different options are never shared. */
#define UVH_SOCKET_UNSET (-2147483647 - 1)
typedef struct {
  int family;                /* 4: IPv4 only, 6: IPv6 only, 0: both (default) */
  int tcp_nodelay;           /* 1 (default) or 0 */
  int tcp_keepalive;         /* seconds idle before keepalive probes, 0 = off (default) */
  int so_linger;             /* seconds, -1 = the system's default (default) */
  int socket_buffer_size;    /* SO_RCVBUF and SO_SNDBUF, bytes; 0 = the system's default */
  const char *local_address; /* IP literal the socket is bound to before connecting, or NULL; copied */
} uvh_socket_config_t;

void uvh_socket_config_init(uvh_socket_config_t *cfg);

/* ---- pool ---- */
/* Counters since the pool was created; plain integers, always on. */
typedef struct {
  uint64_t requests;            /* submitted */
  uint64_t responses;           /* completed with a response */
  uint64_t errors[UVH_ERROR_SLOTS];
  uint64_t errors_other;        /* out of memory */
  uint64_t connections_opened;
  uint64_t connections_closed;
  uint64_t reused;              /* requests that ran on an already used connection */
  uint64_t retried;             /* requests sent again after a stale connection failed */
  uint64_t idle_closed_timeout; /* idle connections closed by the idle timeout */
  uint64_t idle_closed_peer;    /* idle connections the server closed, reset or wrote to */
  uint64_t max_queued;          /* longest the queue has been (all destinations) */
  uint64_t queue_wait_ms;       /* total time requests spent queued */
  uint64_t tls_handshakes;      /* TLS handshakes completed with a full key exchange */
  uint64_t tls_resumed;         /* TLS handshakes that resumed an earlier session */
  uint64_t dns_lookups;         /* getaddrinfo calls made (IP literals and `resolve` entries make none) */
  uint64_t dns_cache_hits;      /* dials answered by the DNS cache (a remembered failure included) */
  uint64_t dns_shared;          /* dials that joined a lookup another dial had started */
} uvh_pool_stats_t;

/* A buffered body is bounded by default: 1 GiB */
#define UVH_DEFAULT_MAX_BODY_SIZE ((size_t)1 << 30)

typedef struct {
  double idle_timeout;       /* seconds a kept-alive connection may idle; 0 = forever. Default 60 */
  unsigned max_connections;  /* per destination, >= 1. Default 10 */
  size_t max_headers_size;   /* whole response header block incl. trailers. Default 64 KiB */
  size_t max_body_size;      /* 0 = unlimited. Default UVH_DEFAULT_MAX_BODY_SIZE */
  double max_lifetime;       /* seconds after connect a connection may still be reused; 0 = no limit */
  unsigned max_requests_per_connection; /* 0 = unlimited */
  unsigned max_queue;        /* queued requests per destination; 0 = unlimited */
  double queue_timeout;      /* seconds a request may wait for a connection; 0 = no limit */
  unsigned max_total;        /* open connections across destinations; 0 = unlimited */
  double read_timeout;       /* default of requests that set none: see uvh_request_set_read_timeout */
  double happy_eyeballs_delay; /* seconds between connect attempts to a name's addresses. Default 0.25 */
  double dns_cache_ttl;      /* seconds a looked-up name is remembered; 0 = no cache. Default 60 */
  int decompress;            /* default of requests that set none: see uvh_request_set_decompress. Default 1 */
  size_t max_header_count;   /* response header plus trailer lines; 0 = unlimited. Default 1000 */
  double expect_timeout;     /* default of requests that set none: see uvh_request_set_expect_timeout. Default 1 */
} uvh_pool_config_t;

void uvh_pool_config_init(uvh_pool_config_t *cfg);
int uvh_pool_new(uvh_loop_t *loop, const uvh_pool_config_t *cfg, uvh_pool_t **out);
void uvh_pool_ref(uvh_pool_t *pool);
void uvh_pool_unref(uvh_pool_t *pool);
/* The owner lets go: idle connections close now, busy ones close when
 * their request completes, queued requests still run. Call before the
 * owner's final uvh_pool_unref. */
void uvh_pool_release(uvh_pool_t *pool);
/* Cancel every queued and running request (callbacks run, in order) and
 * close every connection. The pool stays usable afterwards. */
void uvh_pool_shutdown(uvh_pool_t *pool);
/* Start `req`. On success the pool holds a reference to `req` until its
 * callback has run; *conn_out (may be NULL) is the connection that runs
 * it, or NULL when it was queued. */
int uvh_pool_submit(uvh_pool_t *pool, uvh_request_t *req, uvh_conn_t **conn_out);
uvh_loop_t *uvh_pool_loop(uvh_pool_t *pool);
unsigned uvh_pool_size(const uvh_pool_t *pool);
unsigned uvh_pool_nbusy(const uvh_pool_t *pool);
unsigned uvh_pool_nqueued(const uvh_pool_t *pool);
double uvh_pool_idle_timeout(const uvh_pool_t *pool);
/* UVH_E_BADARG (nothing changed) unless 0 <= seconds <= UVH_MAX_SECONDS. */
int uvh_pool_set_idle_timeout(uvh_pool_t *pool, double seconds);
unsigned uvh_pool_max_connections(const uvh_pool_t *pool);
void uvh_pool_set_max_connections(uvh_pool_t *pool, unsigned n);
size_t uvh_pool_max_headers_size(const uvh_pool_t *pool);
size_t uvh_pool_max_body_size(const uvh_pool_t *pool);
const uvh_pool_stats_t *uvh_pool_stats(const uvh_pool_t *pool);
/* Counters of the destination `req` would go to (its URL, its socket
 * options and, for https, its TLS settings), or NULL if unknown; *nqueued gets its requests queued
 * now. */
const uvh_pool_stats_t *uvh_pool_dest_stats(uvh_pool_t *pool, uvh_request_t *req, unsigned *nqueued);
/* Count an error that a binding's own request logic produced (the
 * redirect step's UVH_E_REDIRECTION_LIMIT, say) in the pool's errors. */
void uvh_pool_count_error(uvh_pool_t *pool, int err);
/* Default TLS settings of the pool's requests. The settings are checked
 * by building their context (files are read now): UVH_E_TLS_CONFIG or
 * UVH_E_BADARG with uvh_pool_last_error() naming the problem. */
int uvh_pool_set_tls(uvh_pool_t *pool, const uvh_tls_config_t *cfg);
const char *uvh_pool_last_error(const uvh_pool_t *pool);
/* Default socket options of the pool's connections (before its first
 * request). UVH_E_BADARG with uvh_pool_last_error() naming the option. */
int uvh_pool_set_socket(uvh_pool_t *pool, const uvh_socket_config_t *cfg);
/* host:port resolves to these IP literals, with no lookup (curl's
 * --resolve). UVH_E_BADARG with uvh_pool_last_error() naming the bad
 * entry, or UVH_E_NOMEM. */
int uvh_pool_set_resolve(uvh_pool_t *pool, const char *host, uint16_t port, const char *const *ips, unsigned n);
/* Proxies (http://, socks5://, socks5h:// URLs with optional
 * user:password@): the pool's default for requests that set none, and
 * the ones taken from the environment (env_proxy: by the target's scheme,
 * else the "all" one, unless the no_proxy list exempts the target). A
 * request's own proxy wins over the default, which wins over the
 * environment's. url NULL or len 0 clears the slot. UVH_E_BADARG with
 * uvh_pool_last_error() naming the problem. */
typedef enum { UVH_PROXY_DEFAULT, UVH_PROXY_ENV_HTTP, UVH_PROXY_ENV_HTTPS, UVH_PROXY_ENV_ALL, UVH_PROXY_SLOTS } uvh_proxy_slot_t;
int uvh_pool_set_proxy(uvh_pool_t *pool, uvh_proxy_slot_t slot, const char *url, size_t len);
/* The environment's no_proxy list (NULL: none); see uvh_no_proxy_match. */
int uvh_pool_set_no_proxy(uvh_pool_t *pool, const char *list);
void *uvh_pool_get_data(uvh_pool_t *pool);
void uvh_pool_set_data(uvh_pool_t *pool, void *data);

/* ---- request ---- */
/* Called exactly once per submitted request: on success `err` is NULL. The
 * response is always non-NULL (code 0 when no response head arrived).
 * The callback may submit, cancel, shut down or drop references freely. */
typedef void (*uvh_request_cb)(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err,
                               void *data);

#define UVH_LIMIT_INHERIT ((size_t)-1)

int uvh_request_new(uvh_request_t **out);
void uvh_request_ref(uvh_request_t *req);
void uvh_request_unref(uvh_request_t *req);
/* Setters validate and copy; they fail with UVH_E_BUSY once submitted. */
int uvh_request_set_url(uvh_request_t *req, const char *url, size_t len);
int uvh_request_set_method(uvh_request_t *req, const char *method, size_t len);
int uvh_request_add_header(uvh_request_t *req, const char *name, size_t name_len, const char *value,
                           size_t value_len);
int uvh_request_set_body(uvh_request_t *req, const char *body, size_t len);
/* Seconds; 0 = none. connect_timeout < 0 means "same as timeout". */
int uvh_request_set_timeout(uvh_request_t *req, double timeout);
int uvh_request_set_connect_timeout(uvh_request_t *req, double timeout);
/* The longest time without a byte arriving while the response is awaited
 * (the request fully sent) or being read; 0 = none, < 0 = the pool's
 * (the default). It fails the request with UVH_E_TIMEOUT. */
int uvh_request_set_read_timeout(uvh_request_t *req, double timeout);
/* UVH_LIMIT_INHERIT takes the pool's value. */
int uvh_request_set_limits(uvh_request_t *req, size_t max_headers_size, size_t max_body_size);
/* decompress 1: send Accept-Encoding with the codings built in
 * (uvh_decoders) and decode a body whose Content-Encoding is exactly one
 * of them, removing Content-Encoding and Content-Length from the
 * response (uvh_response_decoded names the coding); max_body_size then
 * counts decoded bytes. A user's Accept-Encoding header turns it off.
 * 0: neither; -1: the pool's (the default). */
int uvh_request_set_decompress(uvh_request_t *req, int decompress);
/* Response header plus trailer lines allowed; 0 = no limit,
 * UVH_LIMIT_INHERIT the pool's (the default). Beyond it: UVH_E_TOO_LARGE. */
int uvh_request_set_max_header_count(uvh_request_t *req, size_t n);
/* retry: send again once, on a new connection, when a reused connection
 * fails before any response byte and the request is safe to repeat
 * (default 1). idempotent: treat the request as idempotent whatever its
 * method (default 0). */
int uvh_request_set_retry(uvh_request_t *req, int retry, int idempotent);
/* TLS settings of this request, over the pool's key by key. Submitting an
 * https request whose settings cannot be used (unreadable files, a key
 * not matching its certificate) fails with UVH_E_TLS_CONFIG. */
int uvh_request_set_tls(uvh_request_t *req, const uvh_tls_config_t *cfg);
/* Socket options of this request's connection, over the pool's. */
int uvh_request_set_socket(uvh_request_t *req, const uvh_socket_config_t *cfg);
/* The proxy of this request: url NULL takes the pool's (the default), len
 * 0 goes direct whatever the pool says. UVH_E_BADARG with
 * uvh_request_last_error() naming the problem. */
int uvh_request_set_proxy(uvh_request_t *req, const char *url, size_t len);
/* ---- streamed request bodies and Expect: 100-continue ---- */
/* The core wants the next piece of a streamed body (the socket took the
 * last one): answer with uvh_request_send_body, from inside the call or
 * later. `data` is the request callback's. */
typedef void (*uvh_request_pull_cb)(uvh_request_t *req, void *data);
/* A 100 Continue arrived for a request carrying Expect: 100-continue,
 * just before its body goes out (a piece sent from here goes first). */
typedef void (*uvh_request_continue_cb)(uvh_request_t *req, void *data);
/* The body comes in pieces through uvh_request_send_body instead of
 * uvh_request_set_body: pulled (`pull` asks for each piece once the
 * previous one has been written, so one piece at a time is in memory) or,
 * with pull NULL, pushed by the owner whenever it likes (pieces wait in
 * the request until the socket takes them). It goes out chunked unless
 * the request carries a Content-Length header, which it must then match
 * exactly. A streamed body is never sent twice: no retry. */
int uvh_request_set_body_stream(uvh_request_t *req, uvh_request_pull_cb pull);
/* chunked 1: Transfer-Encoding: chunked for any body (a string one too);
 * a Content-Length header is refused with it. */
int uvh_request_set_chunked(uvh_request_t *req, int chunked);
/* The next piece of a streamed body; last: the body ends with it (len may
 * be 0). Returns 0 (the piece was taken), UVH_E_BADARG with
 * uvh_request_last_error() naming the problem (the body is not streamed,
 * or has already ended: nothing done), or UVH_E_REQUEST_BODY when the
 * piece broke the body's Content-Length (too many bytes, or too few at
 * the last): the request then completes with that error before this
 * returns, its connection discarded. A piece for a request that is not
 * active (it has completed, an early response say) is dropped: 1. */
int uvh_request_send_body(uvh_request_t *req, const char *data, size_t len, int last);
void uvh_request_set_continue_cb(uvh_request_t *req, uvh_request_continue_cb cb);
/* Seconds a request carrying Expect: 100-continue waits for the 100
 * before it sends its body anyway; < 0: the pool's (the default). */
int uvh_request_set_expect_timeout(uvh_request_t *req, double seconds);
/* Was the request sent a second time? */
int uvh_request_retried(const uvh_request_t *req);
void uvh_request_set_callback(uvh_request_t *req, uvh_request_cb cb, void *data);
/* Streaming a response body (a download): the core calls `cb` from the
 * read path, never from inside the parser, with the callback's data
 * (uvh_request_set_callback):
 *   - once the final response's head has arrived (`head` 1, the body
 *     empty): return 0 to stream its body, or UVH_PARTIAL_BUFFER to have
 *     it buffered as without the hook (no more calls for this response);
 *   - then for each piece of the body as it arrives (`head` 0; the body
 *     holds only that piece, the return value is ignored): after the call
 *     the body is emptied, so the core never holds more than one read of
 *     it. A decoded body streams its decoded pieces, each what 4 KiB of
 *     the coded bytes decode to at most.
 * The request's callback still runs exactly once at the end, with the
 * body empty (uvh_response_streamed tells it was streamed). The hook may
 * cancel the request (its connection is then discarded), pause or resume
 * it, but must not drop its last reference. max_body_size counts every
 * byte streamed. NULL (the default) buffers every body. */
#define UVH_PARTIAL_BUFFER 1
typedef int (*uvh_request_partial_cb)(uvh_request_t *req, uvh_response_t *resp, int head, void *data);
int uvh_request_set_partial(uvh_request_t *req, uvh_request_partial_cb cb);
/* Back-pressure: stop reading the response from the socket (bytes
 * already read are still delivered), and start again. While paused the
 * read timeout does not run (it starts over at the resume; the total
 * timeout still does). A request paused before its response starts stops
 * reading at the first bytes of it. Completing the request ends the
 * pause. Always 0. */
int uvh_request_pause(uvh_request_t *req);
int uvh_request_resume(uvh_request_t *req);
int uvh_request_paused(const uvh_request_t *req);
/* Cancel a queued or running request: its callback runs before this
 * returns, with UVH_E_CANCELLED. No-op (returns 0) when not active. */
int uvh_request_cancel(uvh_request_t *req);
/* The same, completing it with `err` instead: any asynchronous code (not
 * UVH_E_INHERITED) or UVH_E_NOMEM, the message ending in ": detail" when
 * `detail` is not NULL. UVH_E_BADARG, and nothing done, for another code. */
int uvh_request_cancel_with(uvh_request_t *req, int err, const char *detail);
int uvh_request_active(const uvh_request_t *req);
/* After a setter or submit failed: a sentence naming the bad value. */
const char *uvh_request_last_error(const uvh_request_t *req);
/* Everything submit would check, without sending: URL set, a user
 * Content-Length matching the body, the head buildable. */
int uvh_request_check(uvh_request_t *req);
/* The pool the request was last submitted to, or NULL: a borrowed
 * pointer, valid in the request's callback (the pool's reference keeps
 * the pool alive through it), e.g. to submit the next hop of a redirect. */
uvh_pool_t *uvh_request_pool(const uvh_request_t *req);
/* Seconds left, now, before the deadline its `timeout` set at its last
 * submit (<= 0 once passed), or -1 when it has none: in the callback,
 * what a redirect's next hop may still use of the whole timeout. */
double uvh_request_time_left(const uvh_request_t *req);
/* Destination of the parsed URL ("http://host:port", "https://host:port"), or NULL. */
const char *uvh_request_destination(const uvh_request_t *req);
/* The exact request head that is (or would be) written: for tests and debugging. */
int uvh_request_head(uvh_request_t *req, const char **data, size_t *len);

/* ---- response ---- */
void uvh_response_ref(uvh_response_t *resp);
void uvh_response_unref(uvh_response_t *resp);
int uvh_response_status(const uvh_response_t *resp);
/* Reason phrase (not NUL-terminated). */
const char *uvh_response_reason(const uvh_response_t *resp, size_t *len);
int uvh_response_http_major(const uvh_response_t *resp);
int uvh_response_http_minor(const uvh_response_t *resp);
int uvh_response_keep_alive(const uvh_response_t *resp);
/* The request was sent twice (a stale kept-alive connection failed first). */
int uvh_response_retried(const uvh_response_t *resp);
size_t uvh_response_header_count(const uvh_response_t *resp);
/* The i-th header in wire order; name and value are not NUL-terminated. */
void uvh_response_header_at(const uvh_response_t *resp, size_t i, const char **name, size_t *name_len,
                            const char **value, size_t *value_len);
size_t uvh_response_trailer_count(const uvh_response_t *resp);
void uvh_response_trailer_at(const uvh_response_t *resp, size_t i, const char **name,
                             size_t *name_len, const char **value, size_t *value_len);
/* First header named `name` (case-insensitive), or NULL. */
const char *uvh_response_header(const uvh_response_t *resp, const char *name, size_t *value_len);
const char *uvh_response_body(const uvh_response_t *resp, size_t *len);
/* 1 once the exchange is over (the response complete, or the request
 * failed or was cancelled); 0 while it is still arriving. */
int uvh_response_is_done(const uvh_response_t *resp);
/* 1 when the head went to the request's partial hook, which took the
 * body piece by piece (uvh_request_set_partial) instead of having it
 * buffered. */
int uvh_response_streamed(const uvh_response_t *resp);
/* The content coding the body was decoded from ("gzip", "deflate", "br",
 * "zstd"), or "" when it was not decoded. */
const char *uvh_response_decoded(const uvh_response_t *resp);
/* The content codings this build decodes, as sent in Accept-Encoding:
 * "gzip, deflate" then ", br" and ", zstd" when built with them. */
const char *uvh_decoders(void);
/* The allocator of every response body (default: realloc and free). A
 * binding whose strings are freed with `free_fn` sets it, before any
 * request, to take bodies over without a copy (uvh_response_take_body). */
void uvh_set_body_allocator(void *(*realloc_fn)(void *ptr, size_t size), void (*free_fn)(void *ptr));
/* Move the body's storage to the caller, who frees it with the body
 * allocator's free_fn: at least *len + UVH_RESPONSE_BODY_SPARE bytes, the
 * body then a NUL. The response's body is empty afterwards. NULL when
 * there is no storage or no memory (the body then stays). */
#define UVH_RESPONSE_BODY_SPARE 2
char *uvh_response_take_body(uvh_response_t *resp, size_t *len);
/* One pointer of the caller's on the response; free_data(data), unless
 * NULL, runs when the response is freed. */
void uvh_response_set_data(uvh_response_t *resp, void *data, void (*free_data)(void *data));
void *uvh_response_get_data(const uvh_response_t *resp);

/* ---- connection ---- */
void uvh_conn_ref(uvh_conn_t *conn);
void uvh_conn_unref(uvh_conn_t *conn);
/* NULL once the connection has closed and its pool is gone. */
uvh_pool_t *uvh_conn_pool(const uvh_conn_t *conn);
const char *uvh_conn_destination(const uvh_conn_t *conn);
int uvh_conn_busy(const uvh_conn_t *conn);
int uvh_conn_open(const uvh_conn_t *conn);
unsigned uvh_conn_requests_served(const uvh_conn_t *conn);
void *uvh_conn_get_data(uvh_conn_t *conn);
void uvh_conn_set_data(uvh_conn_t *conn, void *data);

/* ---- server ---- */
/* An HTTP/1.1 server on the loop: listeners (uvh_server_listen), each
 * accepted connection read, parsed (llhttp strict, one request at a time:
 * pipelined requests are answered in order) and each complete request
 * (head and body) handed to the owner's on_request. The owner answers
 * with uvh_server_respond, at once or later (from any callback); the
 * server adds Date, Content-Length and Connection, keeps the connection
 * alive by the HTTP/1.1 and 1.0 rules, and answers bad requests itself
 * (400, 408, 413, 431, 501, 505; 503 beyond max_connections), closing
 * the connection after each of those. */
typedef struct uvh_server_s uvh_server_t;
typedef struct uvh_server_req_s uvh_server_req_t;

typedef struct {
  double idle_timeout;       /* seconds a connection may wait for a request's first byte; 0 = forever. Default 300 */
  double read_timeout;       /* seconds from a request's first byte (or a TLS handshake's) until it is all read,
                                else 408; 0 = no limit. Default 10 */
  size_t max_headers_size;   /* a request's head; beyond it 431. 0 = no limit. Default 16384 */
  size_t max_body_size;      /* a request's body; beyond it 413 (before reading it, when declared). 0 = no limit (default) */
  size_t max_multipart_size; /* a multipart/form-data request's body, in place of max_body_size; beyond it 413.
                                0 = max_body_size applies (default) */
  unsigned max_keepalive_requests; /* requests per connection, the last answered with Connection: close; 0 = unlimited */
  unsigned max_connections;  /* open connections; beyond it 503 and a close. 0 = unlimited (default) */
  double write_timeout;      /* seconds a response write may make no progress (a client that does not read)
                                before the connection is closed; 0 = no limit. Default 60 */
} uvh_server_config_t;

void uvh_server_config_init(uvh_server_config_t *cfg);

/* Where to listen. TLS when cert_file is set. Strings are read by
 * uvh_server_listen only. */
typedef struct {
  const char *host;          /* IPv4 or IPv6 literal */
  unsigned port;             /* 0 = any free port (uvh_server_listener_port tells which) */
  int backlog;               /* default 4096 */
  int reuse_port;            /* SO_REUSEPORT, default 0 */
  int tcp_nodelay;           /* default 1 */
  const char *cert_file, *key_file; /* PEM chain and its key (key_file NULL: in cert_file) */
  const char *ca_file;       /* PEM CAs a client certificate must chain to */
  const char *ca_path;       /* a hashed directory of them; neither ca_file nor ca_path: the system store */
  const char *ciphers;       /* OpenSSL cipher list (TLS 1.2); NULL: OpenSSL's default */
  int verify_client;         /* 0 none (default), 1 optional, 2 require */
  int min_version;           /* 12 (default) or 13 */
  int fd;                    /* >= 0: a socket already bound (and maybe listening) by a parent process,
                              * TCP or unix, owned by the server from here; host, port, path and
                              * reuse_port are not used. Default -1 */
  const char *path;          /* a unix socket to make and listen on instead of host and port (NULL:
                              * none). A stale socket file there (nobody listens) is replaced, any
                              * other file refused; the server removes the one it made when its
                              * listener closes. tcp_nodelay does not apply; reuse_port is refused */
} uvh_server_location_t;

void uvh_server_location_init(uvh_server_location_t *loc);

/* Who watches the server's load (the worker-process manager's scoreboard):
 * called with +1 when a request is handed to the owner (on_head or
 * on_request) and -1 when it is done with (its response written, or
 * dropped), with the loop's cached time in ms; from inside the server, so
 * it must not call back into it. NULL stops it. */
typedef void (*uvh_server_activity_cb)(void *data, int delta, uint64_t now_ms);

typedef struct {
  /* A whole request arrived. `req` is borrowed: uvh_server_req_ref it to
   * answer after the callback returns. */
  void (*on_request)(uvh_server_t *srv, uvh_server_req_t *req, void *data);
  /* Optional: an unanswered request's connection went away (a reset, a
   * read error, uvh_server_stop, the loop destroyed); responding to it
   * now fails with UVH_E_CONN_CLOSED. */
  void (*on_drop)(uvh_server_t *srv, uvh_server_req_t *req, void *data);
  /* Optional: a graceful stop is done (every connection closed). */
  void (*on_stopped)(uvh_server_t *srv, void *data);
  /* Optional: a request's head arrived (the route step, before its
   * body): the owner may answer now (on_request then does not run; an
   * unread body closes the connection after the answer) or call
   * uvh_server_req_enable_partial. `req` is borrowed as for on_request. */
  void (*on_head)(uvh_server_t *srv, uvh_server_req_t *req, void *data);
  /* A piece of the body of a request with partial delivery on (instead
   * of buffering it); on_request follows with an empty body. */
  void (*on_body)(uvh_server_t *srv, uvh_server_req_t *req, const char *data, size_t len, void *data_);
  /* Optional: after uvh_server_req_want_drain, once: every byte of the
   * streamed response given so far has been handed to the socket, or the
   * connection is gone (a piece sent now fails with UVH_E_CONN_CLOSED).
   * From the loop, never from inside a call of the owner's. */
  void (*on_drain)(uvh_server_t *srv, uvh_server_req_t *req, void *data);
} uvh_server_ops_t;

/* A server with no listener yet. `ops` is copied. */
int uvh_server_new(uvh_loop_t *loop, const uvh_server_config_t *cfg, const uvh_server_ops_t *ops, void *data,
                   uvh_server_t **out);
void uvh_server_set_activity(uvh_server_t *srv, uvh_server_activity_cb cb, void *data);
void uvh_server_ref(uvh_server_t *srv);
/* Dropping the last reference stops the server (uvh_server_stop). */
void uvh_server_unref(uvh_server_t *srv);
/* Listen on `loc` now. 0, or UVH_E_BADARG / UVH_E_TLS_CONFIG with
 * uvh_server_last_error() naming the address or the file and the reason
 * (a port in use, a bad address, unusable certificates). */
int uvh_server_listen(uvh_server_t *srv, const uvh_server_location_t *loc);
const char *uvh_server_last_error(const uvh_server_t *srv);
unsigned uvh_server_listener_count(const uvh_server_t *srv);
/* The i-th listener's address and port (the port chosen for 0), and
 * whether it runs TLS; a unix socket's: its path, and port 0.
 * UVH_E_BADARG for no such listener. */
int uvh_server_listener_at(const uvh_server_t *srv, unsigned i, const char **host, unsigned *port, int *tls);
/* Close every listener and every connection now (unanswered requests
 * get on_drop). The server takes no new work afterwards. */
void uvh_server_stop(uvh_server_t *srv);
/* Stop listening, close idle connections, let the requests being read or
 * answered finish (their responses say Connection: close), then
 * on_stopped runs (from the loop, never from this call). After `timeout`
 * seconds (0: none), or at a second call, the rest is closed as by
 * uvh_server_stop and on_stopped follows. UVH_E_BADARG for a bad timeout,
 * UVH_E_CLOSED_POOL when already stopped. */
int uvh_server_graceful_stop(uvh_server_t *srv, double timeout);
/* Open connections (those beyond max_connections being refused too). */
unsigned uvh_server_connection_count(const uvh_server_t *srv);
void *uvh_server_get_data(uvh_server_t *srv);

/* ---- server request ---- */
typedef struct {
  const char *name, *value;
  size_t name_len, value_len;
} uvh_server_header_t;

void uvh_server_req_ref(uvh_server_req_t *req);
void uvh_server_req_unref(uvh_server_req_t *req);
const char *uvh_server_req_method(const uvh_server_req_t *req);
/* The request target as sent ("/path?query"), not NUL-terminated. */
const char *uvh_server_req_target(const uvh_server_req_t *req, size_t *len);
/* 0 for HTTP/1.0, 1 for HTTP/1.1 */
int uvh_server_req_http_minor(const uvh_server_req_t *req);
size_t uvh_server_req_header_count(const uvh_server_req_t *req);
/* The i-th header line in wire order (trailers of a chunked body after
 * the headers); not NUL-terminated. */
void uvh_server_req_header_at(const uvh_server_req_t *req, size_t i, const char **name, size_t *name_len,
                              const char **value, size_t *value_len);
/* First header named `name` (any case), or NULL. */
const char *uvh_server_req_header(const uvh_server_req_t *req, const char *name, size_t *value_len);
const char *uvh_server_req_body(const uvh_server_req_t *req, size_t *len);
/* The client's address (an IP literal) and port. */
const char *uvh_server_req_peer_address(const uvh_server_req_t *req);
unsigned uvh_server_req_peer_port(const uvh_server_req_t *req);
int uvh_server_req_is_secure(const uvh_server_req_t *req);
/* The verified client certificate's subject and issuer (RFC 2253 text):
 * 1, or 0 when the client presented none (both then ""). */
int uvh_server_req_client_certificate(const uvh_server_req_t *req, const char **subject, const char **issuer);
/* That certificate as PEM text, made now: 1 with *pem malloc'd (the
 * caller frees it) and its length in *len, 0 when the client presented
 * none (*pem NULL), UVH_E_NOMEM. */
int uvh_server_req_client_certificate_pem(const uvh_server_req_t *req, char **pem, size_t *len);
/* Still waiting for (the rest of) its response on an open connection? */
int uvh_server_req_active(const uvh_server_req_t *req);
/* Answer: status 100..999 except 1xx, reason (NULL: the standard one),
 * headers (the server refuses Transfer-Encoding, checks a
 * Content-Length against the body, adds Date unless given, drops
 * Connection and adds its own; "Connection: close" among them closes the
 * connection after), body (copied; none is sent for HEAD, 204 and 304).
 * 0, UVH_E_BUSY (already answered), UVH_E_CONN_CLOSED (dropped: the
 * connection is gone), UVH_E_BADHEADER / UVH_E_BADARG (nothing sent)
 * with uvh_server_req_last_error() naming the problem, UVH_E_NOMEM. */
int uvh_server_respond(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                       const uvh_server_header_t *headers, size_t nheaders, const char *body, size_t body_len);
/* A streamed response: the head now (Transfer-Encoding: chunked for
 * HTTP/1.1; for 1.0 the body runs to the close), then pieces of the body,
 * the last with send_final_chunk (data may be empty). Errors as for
 * uvh_server_respond; a piece before the start or after the last is
 * UVH_E_BADARG. A Content-Length among the headers frames the body
 * instead: a piece past it is UVH_E_BADARG (nothing sent), and a last
 * piece short of it closes the connection after it. */
int uvh_server_respond_start(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                             const uvh_server_header_t *headers, size_t nheaders);
int uvh_server_send_chunk(uvh_server_req_t *req, const char *data, size_t len);
int uvh_server_send_final_chunk(uvh_server_req_t *req, const char *data, size_t len);
/* Back-pressure for a streamed response: the bytes given for it and not
 * yet handed to the socket (0 once the connection is gone). */
size_t uvh_server_req_queued_bytes(const uvh_server_req_t *req);
/* Ask for on_drain once, when the queued bytes are 0 (on the next tick
 * when they are already). 0; UVH_E_CONN_CLOSED when the connection is
 * gone; UVH_E_BADARG outside a streamed response being sent or without
 * ops.on_drain. Asking again before it ran is the same request. */
int uvh_server_req_want_drain(uvh_server_req_t *req);
/* An informational (1xx) response before the final one, e.g. 103 Early
 * Hints: status 100..199 but 101 (an upgrade is not done this way),
 * reason (NULL: the standard one), headers checked as for
 * uvh_server_respond (no Content-Length, Transfer-Encoding or
 * Connection). 0; UVH_E_BUSY after the final response began;
 * UVH_E_CONN_CLOSED; UVH_E_BADARG for a bad status, an HTTP/1.0 client
 * (it knows no 1xx), or before the request was read whole (from on_head
 * or on_body); UVH_E_BADHEADER; UVH_E_NOMEM. */
int uvh_server_send_informational(uvh_server_req_t *req, int status, const char *reason, size_t reason_len,
                                  const uvh_server_header_t *headers, size_t nheaders);
const char *uvh_server_req_last_error(const uvh_server_req_t *req);
/* Hand the request's connection over to the owner (a protocol upgrade,
 * e.g. WebSocket): *fd gets a descriptor of the owner's (close-on-exec)
 * for the socket, and the server forgets the connection (its handle
 * closes; it never reads or writes it again). Only for a plain TCP
 * connection whose request is being handled, with no byte read ahead of
 * it and none queued to write. 0; UVH_E_BUSY (answered),
 * UVH_E_CONN_CLOSED, UVH_E_BADARG (TLS, bytes read ahead or queued),
 * UVH_E_NOMEM (no descriptor), with uvh_server_req_last_error(). */
int uvh_server_req_detach(uvh_server_req_t *req, int *fd);
/* Close the request's connection now, without a response (no on_drop). */
void uvh_server_req_drop(uvh_server_req_t *req);
/* The owner failed to answer (its callback died): a 500 if nothing was
 * sent yet, and the connection closes after it (at once when a streamed
 * body is unfinished). */
void uvh_server_req_fail(uvh_server_req_t *req);
/* In on_head: deliver the body to on_body as it arrives instead of
 * buffering it (max_body_size still counts it). UVH_E_BADARG after
 * on_head. */
int uvh_server_req_enable_partial(uvh_server_req_t *req);
/* Stop reading the request's connection (back-pressure for a partial
 * body; bytes already read may still come), and read again. */
void uvh_server_req_pause(uvh_server_req_t *req);
void uvh_server_req_resume(uvh_server_req_t *req);
/* The owner lets go of the request: if on_request ran and the response
 * is not complete, it fails (uvh_server_req_fail); else nothing. */
void uvh_server_req_abandon(uvh_server_req_t *req);
void *uvh_server_req_get_data(const uvh_server_req_t *req);
void uvh_server_req_set_data(uvh_server_req_t *req, void *data);
/* ---- worker scoreboard (manager/scoreboard.c) ----
 * Slots in shared anonymous memory, mapped before fork: the master claims
 * and releases slots and sets pids; each worker writes its own slot. No
 * lock and no system call per update (relaxed atomic stores). Times are
 * monotonic milliseconds, the clock of uv_now and uvh_monotonic_ms, the
 * same in every process. */
typedef struct uvh_scoreboard_s uvh_scoreboard_t;
typedef enum {
  UVH_WORKER_FREE = 0,       /* no process */
  UVH_WORKER_STARTING,       /* forked, not accepting yet (worker_init) */
  UVH_WORKER_IDLE,           /* accepting, no request in flight */
  UVH_WORKER_BUSY,           /* requests in flight */
  UVH_WORKER_STOPPING        /* graceful stop: finishing what it has */
} uvh_worker_state_t;
#define UVH_SCOREBOARD_MAX 4096
typedef struct {
  int pid;
  unsigned generation;       /* changes each time the slot is claimed */
  uvh_worker_state_t state;
  unsigned active;
  uint64_t served;
  uint64_t started_ms, last_activity_ms;
  uint64_t busy_ns;          /* loop time spent running, as of sampled_ns */
  uint64_t sampled_ns;       /* uv_hrtime of the sample, 0 = none yet */
} uvh_worker_info_t;
/* 1..UVH_SCOREBOARD_MAX slots, all free. 0, UVH_E_BADARG or UVH_E_NOMEM. */
int uvh_scoreboard_new(unsigned nslots, uvh_scoreboard_t **out);
void uvh_scoreboard_free(uvh_scoreboard_t *sb);
unsigned uvh_scoreboard_size(const uvh_scoreboard_t *sb);
/* The master's: take a free slot (state starting, counters zeroed), its
 * index or -1 when all are taken; name its process; free it once reaped. */
int uvh_scoreboard_claim(uvh_scoreboard_t *sb);
void uvh_scoreboard_set_pid(uvh_scoreboard_t *sb, unsigned slot, int pid);
void uvh_scoreboard_release(uvh_scoreboard_t *sb, unsigned slot);
/* Anyone's: a copy of a slot. 0 or UVH_E_BADARG. */
int uvh_scoreboard_read(const uvh_scoreboard_t *sb, unsigned slot, uvh_worker_info_t *out);
/* The worker's, on its own slot: a state change, a request's start and
 * end (busy while any is in flight, idle after the last), its loop's load. */
void uvh_scoreboard_set_state(uvh_scoreboard_t *sb, unsigned slot, uvh_worker_state_t state, uint64_t now_ms);
void uvh_scoreboard_request_start(uvh_scoreboard_t *sb, unsigned slot, uint64_t now_ms);
void uvh_scoreboard_request_end(uvh_scoreboard_t *sb, unsigned slot, uint64_t now_ms);
int uvh_scoreboard_sample_load(uvh_scoreboard_t *sb, unsigned slot, uvh_loop_t *loop);
/* The worker's: count `srv`'s requests in its slot as they start and end
 * (uvh_server_set_activity). The scoreboard must outlive the server. */
int uvh_scoreboard_watch_server(uvh_scoreboard_t *sb, unsigned slot, uvh_server_t *srv);

#endif
