/* dial.h - opening a TCP connection to host:port: resolve (an IP literal
 * needs no resolver), walk the addresses until one connects, set the
 * socket options.
 *
 * Owns: the resolver's result and each attempt's handle until one
 * connects; that one is handed to the owner (on_connected). Tells its
 * owner through `ops`, never by name.
 */
#ifndef UVH_NET_DIAL_H
#define UVH_NET_DIAL_H
#include "uvh.h"

typedef struct uvh_dial_s uvh_dial_t;

typedef struct {
  /* The name resolved; connecting starts. */
  void (*on_resolved)(uvh_dial_t *d);
  /* Connected: the handle is the owner's now (its data is the owner's to set). */
  void (*on_connected)(uvh_dial_t *d, uv_tcp_t *tcp);
  /* Resolving or every address failed: UVH_E_RESOLVE, UVH_E_CONNECT or
   * UVH_E_NOMEM with the libuv error. in_start: reached from
   * uvh__dial_start itself (the owner reports it later, not from there). */
  void (*on_failed)(uvh_dial_t *d, int code, int sys_err, int in_start);
  /* A handle or request started: the owner stays alive until on_released. */
  void (*on_hold)(uvh_dial_t *d);
  void (*on_released)(uvh_dial_t *d);
} uvh_dial_ops_t;

struct uvh_dial_s {
  uv_loop_t *uv;
  const uvh_dial_ops_t *ops;
  uv_tcp_t *tcp;             /* the attempt in progress, or NULL */
  uv_getaddrinfo_t gai;
  uv_connect_t connect_req;
  struct addrinfo *addrs, *next_addr;
  int last_connect_err;
  unsigned addrs_literal : 1;/* addrs is our own single entry for an IP literal */
  unsigned resolving : 1;
  unsigned cancelled : 1;
};

/* Start. 0 (the outcome comes through ops, possibly on_failed from within
 * this call with in_start set) or UVH_E_NOMEM, with nothing started. */
int uvh__dial_start(uvh_dial_t *d, uv_loop_t *uv, const char *host, uint16_t port, const uvh_dial_ops_t *ops);
/* Stop: close the attempt, cancel a resolve; their ends come back as
 * on_released only. */
void uvh__dial_cancel(uvh_dial_t *d);
/* Free the addresses (when the owner's memory goes). */
void uvh__dial_free(uvh_dial_t *d);

#endif
