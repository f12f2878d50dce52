/* dial.h - opening a TCP connection to host:port: resolve (through a
 * uvh_resolver_t; an IP literal needs none), then connect with Happy
 * Eyeballs (RFC 8305): the addresses filtered by family and sorted to
 * alternate families, IPv6 first; one attempt starts, the next every
 * happy_eyeballs_delay while earlier ones are pending, or at once when
 * one fails; the first connected wins and the others are closed. Each
 * socket gets its options (nodelay, keepalive, linger, buffer sizes, a
 * local address) before it connects.
 *
 * Owns: its sorted addresses, each attempt (handle and connect request)
 * until one connects, that one is handed to the owner (on_connected), and
 * the delay timer. Each handle and request is announced by on_hold and
 * ends with on_released, from its own callback. Borrows: the resolver (a
 * waiter of a shared lookup while resolving). Tells its owner through
 * `ops`, never by name.
 */
#ifndef UVH_NET_DIAL_H
#define UVH_NET_DIAL_H
#include "uvh.h"
#include "net/resolve.h"

typedef struct uvh_dial_s uvh_dial_t;

/* Socket options of a dial, checked (uvh__dial_opts_set). A request's set
 * fields (`set`, UVH_DIAL_OPT_* bits) override the pool's. */
enum {
  UVH_DIAL_OPT_FAMILY = 1, UVH_DIAL_OPT_NODELAY = 2, UVH_DIAL_OPT_KEEPALIVE = 4, UVH_DIAL_OPT_LINGER = 8,
  UVH_DIAL_OPT_BUFSIZE = 16, UVH_DIAL_OPT_LOCAL = 32
};
typedef struct {
  unsigned set;              /* UVH_DIAL_OPT_* given */
  int family;                /* 0 both, 4 or 6 */
  int tcp_nodelay;           /* 0 or 1 (default 1) */
  int tcp_keepalive;         /* seconds idle before probes, 0 off */
  int so_linger;             /* seconds, -1 the system's default */
  int socket_buffer_size;    /* SO_RCVBUF and SO_SNDBUF bytes, 0 the system's default */
  uint64_t happy_eyeballs_delay_ms;
  struct sockaddr_storage local; /* bind before connecting (port 0), when local_text[0] */
  char local_text[48];       /* the local address, canonical */
} uvh_dial_opts_t;

/* The defaults: both families, nodelay on, the system's keepalive,
 * linger and buffers, no local address, 250 ms between attempts. */
void uvh__dial_opts_init(uvh_dial_opts_t *o);
/* The set fields of `cfg` into `o` (marked in o->set); UVH_E_BADARG with
 * `why` naming the bad option, and `o` unchanged. */
int uvh__dial_opts_set(uvh_dial_opts_t *o, const uvh_socket_config_t *cfg, char *why, size_t why_cap);
/* `base` with the set fields of `over` */
void uvh__dial_opts_merge(uvh_dial_opts_t *out, const uvh_dial_opts_t *over, const uvh_dial_opts_t *base);
/* Canonical text of the options that change a connection (not the delay),
 * for destination keys: its length, or -1 when `cap` is too small. */
int uvh__dial_opts_key(const uvh_dial_opts_t *o, char *buf, size_t cap);

typedef struct {
  /* The name resolved; connecting starts. */
  void (*on_resolved)(uvh_dial_t *d);
  /* Connected: the handle is the owner's now (its data is the owner's to
   * set; it was announced by on_hold and is freed with free()). */
  void (*on_connected)(uvh_dial_t *d, uv_tcp_t *tcp);
  /* Resolving or every address failed: UVH_E_RESOLVE, UVH_E_CONNECT or
   * UVH_E_NOMEM with the libuv error; d->detail names every attempt.
   * in_start: reached from uvh__dial_start itself (the owner reports it
   * later, not from there). */
  void (*on_failed)(uvh_dial_t *d, int code, int sys_err, int in_start);
  /* A handle or request started: the owner stays alive until on_released. */
  void (*on_hold)(uvh_dial_t *d);
  void (*on_released)(uvh_dial_t *d);
} uvh_dial_ops_t;

/* One connect attempt: the handle first (the winner's block is freed
 * by its new owner through the handle). */
typedef struct uvh_dial_attempt_s {
  uv_tcp_t tcp;
  uv_connect_t req;
  uvh_dial_t *dial;
  struct uvh_dial_attempt_s *next; /* d->attempts while connecting */
  unsigned addr;             /* index in d->addrs */
} uvh_dial_attempt_t;

struct uvh_dial_s {
  uv_loop_t *uv;
  const uvh_dial_ops_t *ops;
  uvh_dial_opts_t opts;      /* a copy */
  uvh_resolve_waiter_t waiter; /* while resolving through a shared lookup */
  uint16_t port;
  struct sockaddr_storage *addrs; /* owned: sorted, port set; freed when the dial ends */
  unsigned naddrs, next_addr;
  uvh_dial_attempt_t *attempts; /* pending attempts (closed ones leave at once) */
  uv_timer_t *timer;         /* owned, the delay between attempts; freed in its close callback */
  int last_err;
  int how;                   /* how the name was found (a uvh_resolved_t), or -1 for an IP literal */
  unsigned resolving : 1;
  unsigned cancelled : 1;
  unsigned done : 1;         /* connected or failed: nothing more is reported */
  char detail[256];          /* "ADDR: reason; ADDR: reason" of the failed attempts */
};

/* Start. 0 (the outcome comes through ops, possibly on_failed from within
 * this call with in_start set) or UVH_E_NOMEM, with nothing started. */
int uvh__dial_start(uvh_dial_t *d, uv_loop_t *uv, uvh_resolver_t *resolver, const char *host, uint16_t port,
                    const uvh_dial_opts_t *opts, const uvh_dial_ops_t *ops);
/* Stop: close the attempts and the timer, leave a lookup; only
 * on_released follows. */
void uvh__dial_cancel(uvh_dial_t *d);
/* Free the addresses (when the owner's memory goes). */
void uvh__dial_free(uvh_dial_t *d);
/* "127.0.0.1:80" or "[::1]:80" */
void uvh__dial_addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap);

#endif
