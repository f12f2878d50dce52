/* dial.c - see dial.h. */
#include "net/dial.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void uvh__dial_free(uvh_dial_t *d) {
  if (d->addrs_literal)
    free(d->addrs);
  else if (d->addrs)
    uv_freeaddrinfo(d->addrs);
  d->addrs = d->next_addr = NULL;
  d->addrs_literal = 0;
}

/* An IP literal needs no resolver, so no thread-pool round trip. */
static struct addrinfo *literal_address(const char *host, uint16_t port) {
  struct literal {
    struct addrinfo ai;
    struct sockaddr_storage ss;
  } *lit = calloc(1, sizeof *lit);
  if (lit == NULL)
    return NULL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&lit->ss) == 0) {
    lit->ai.ai_family = AF_INET;
    lit->ai.ai_addrlen = sizeof(struct sockaddr_in);
  } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&lit->ss) == 0) {
    lit->ai.ai_family = AF_INET6;
    lit->ai.ai_addrlen = sizeof(struct sockaddr_in6);
  } else {
    free(lit);
    return NULL;
  }
  lit->ai.ai_socktype = SOCK_STREAM;
  lit->ai.ai_addr = (struct sockaddr *)&lit->ss;
  return &lit->ai;
}

static void on_handle_closed(uv_handle_t *h) {
  uvh_dial_t *d = h->data;
  free(h);
  d->ops->on_released(d);
}

static void try_next_address(uvh_dial_t *d, int in_start);

static void on_connect(uv_connect_t *c, int status) {
  uvh_dial_t *d = c->data;
  uv_tcp_t *tcp = d->tcp;
  /* once cancelled, the release may free the owner (and so `d`) */
  if (d->cancelled) {
    d->ops->on_released(d);
    return;
  }
  d->ops->on_released(d);
  if (status < 0) {
    d->last_connect_err = status;
    uv_close((uv_handle_t *)d->tcp, on_handle_closed);
    d->tcp = NULL;
    d->next_addr = d->next_addr->ai_next;
    try_next_address(d, 0);
    return;
  }
  uvh__dial_free(d);
  d->tcp = NULL; /* the owner's now */
  d->ops->on_connected(d, tcp);
}

static void try_next_address(uvh_dial_t *d, int in_start) {
  while (d->next_addr) {
    struct addrinfo *ai = d->next_addr;
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    int rc;
    if (tcp == NULL) {
      d->ops->on_failed(d, UVH_E_NOMEM, 0, in_start);
      return;
    }
    uv_tcp_init(d->uv, tcp);
    tcp->data = d;
    d->ops->on_hold(d);
    d->tcp = tcp;
    uv_tcp_nodelay(tcp, 1);
    d->connect_req.data = d;
    rc = uv_tcp_connect(&d->connect_req, tcp, ai->ai_addr, on_connect);
    if (rc == 0) {
      d->ops->on_hold(d);
      return;
    }
    d->last_connect_err = rc;
    uv_close((uv_handle_t *)tcp, on_handle_closed);
    d->tcp = NULL;
    d->next_addr = ai->ai_next;
  }
  d->ops->on_failed(d, UVH_E_CONNECT, d->last_connect_err ? d->last_connect_err : UV_EADDRNOTAVAIL, in_start);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  uvh_dial_t *d = g->data;
  d->resolving = 0;
  /* once cancelled, the release may free the owner (and so `d`) */
  if (d->cancelled) {
    if (res)
      uv_freeaddrinfo(res);
    d->ops->on_released(d);
    return;
  }
  d->ops->on_released(d);
  if (status < 0) {
    d->ops->on_failed(d, UVH_E_RESOLVE, status, 0);
    return;
  }
  d->addrs = d->next_addr = res;
  d->ops->on_resolved(d);
  try_next_address(d, 0);
}

int uvh__dial_start(uvh_dial_t *d, uv_loop_t *uv, const char *host, uint16_t port, const uvh_dial_ops_t *ops) {
  struct addrinfo hints;
  char service[8];
  int rc;
  memset(d, 0, sizeof *d);
  d->uv = uv;
  d->ops = ops;
  if ((d->addrs = literal_address(host, port)) != NULL) {
    d->addrs_literal = 1;
    d->next_addr = d->addrs;
    d->ops->on_resolved(d);
    try_next_address(d, 1);
    return 0;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  snprintf(service, sizeof service, "%u", (unsigned)port);
  d->gai.data = d;
  rc = uv_getaddrinfo(uv, &d->gai, on_resolved, host, service, &hints);
  if (rc == UV_ENOMEM)
    return UVH_E_NOMEM;
  if (rc < 0) {
    /* a name the resolver refuses outright fails like one it cannot find */
    d->ops->on_failed(d, UVH_E_RESOLVE, rc, 1);
    return 0;
  }
  d->ops->on_hold(d);
  d->resolving = 1;
  return 0;
}

void uvh__dial_cancel(uvh_dial_t *d) {
  d->cancelled = 1;
  if (d->tcp) {
    uv_close((uv_handle_t *)d->tcp, on_handle_closed);
    d->tcp = NULL;
  }
  /* a resolve in progress finishes (or is cancelled) into on_resolved */
  if (d->resolving)
    uv_cancel((uv_req_t *)&d->gai);
}
