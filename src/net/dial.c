/* dial.c - see dial.h. */
#include "net/dial.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* ------------------------------------------------------------- options */

void uvh__dial_opts_init(uvh_dial_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->tcp_nodelay = 1;
  o->so_linger = -1;
  o->happy_eyeballs_delay_ms = 250;
}

void uvh_socket_config_init(uvh_socket_config_t *cfg) {
  cfg->family = cfg->tcp_nodelay = cfg->tcp_keepalive = cfg->so_linger = cfg->socket_buffer_size = UVH_SOCKET_UNSET;
  cfg->local_address = NULL;
}

/* An IP literal (no brackets) into *ss with `port`, or -1. */
static int parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (strchr(ip, ':') == NULL)
    return uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0 ? 0 : -1;
  return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -1;
}

static void ip_text(const struct sockaddr_storage *ss, char *buf, size_t cap) {
  if (ss->ss_family == AF_INET6)
    uv_ip6_name((const struct sockaddr_in6 *)ss, buf, cap);
  else
    uv_ip4_name((const struct sockaddr_in *)ss, buf, cap);
}

void uvh__dial_addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap) {
  char ip[64];
  ip_text(ss, ip, sizeof ip);
  if (ss->ss_family == AF_INET6)
    snprintf(buf, cap, "[%s]:%u", ip, (unsigned)ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
  else
    snprintf(buf, cap, "%s:%u", ip, (unsigned)ntohs(((const struct sockaddr_in *)ss)->sin_port));
}

/* Linux caps TCP_KEEPIDLE at 32767 s; a linger of more than 18 hours means nothing */
#define KEEPALIVE_MAX 32767
#define LINGER_MAX 65535
#define BUFSIZE_MAX (1 << 30)

int uvh__dial_opts_set(uvh_dial_opts_t *o, const uvh_socket_config_t *cfg, char *why, size_t why_cap) {
  uvh_dial_opts_t n = *o;
#define RANGE(field, bit, lo, hi, text)                                                              \
  if (cfg->field != UVH_SOCKET_UNSET) {                                                              \
    if (cfg->field < (lo) || cfg->field > (hi)) {                                                    \
      snprintf(why, why_cap, "'%s' must be %s, got '%d'", #field, text, cfg->field);                 \
      return UVH_E_BADARG;                                                                           \
    }                                                                                                \
    n.field = cfg->field;                                                                            \
    n.set |= (bit);                                                                                  \
  }
  if (cfg->family != UVH_SOCKET_UNSET) {
    if (cfg->family != 0 && cfg->family != 4 && cfg->family != 6) {
      snprintf(why, why_cap, "'family' must be 4 (IPv4), 6 (IPv6) or 0 (both), got '%d'", cfg->family);
      return UVH_E_BADARG;
    }
    n.family = cfg->family;
    n.set |= UVH_DIAL_OPT_FAMILY;
  }
  RANGE(tcp_nodelay, UVH_DIAL_OPT_NODELAY, 0, 1, "0 or 1")
  RANGE(tcp_keepalive, UVH_DIAL_OPT_KEEPALIVE, 0, KEEPALIVE_MAX, "a whole number of seconds from 0 (off) to 32767")
  RANGE(so_linger, UVH_DIAL_OPT_LINGER, -1, LINGER_MAX,
        "-1 (the system's default) or a whole number of seconds from 0 to 65535")
  RANGE(socket_buffer_size, UVH_DIAL_OPT_BUFSIZE, 0, BUFSIZE_MAX,
        "a whole number of bytes from 0 (the system's default) to 1073741824")
#undef RANGE
  if (cfg->local_address) {
    if (parse_ip(cfg->local_address, 0, &n.local) != 0) {
      char shown[64];
      uvh_escape(shown, sizeof shown, cfg->local_address, strlen(cfg->local_address));
      snprintf(why, why_cap, "'local_address' must be an IPv4 or IPv6 address (such as 127.0.0.2 or ::1), got '%s'",
               shown);
      return UVH_E_BADARG;
    }
    ip_text(&n.local, n.local_text, sizeof n.local_text);
    n.set |= UVH_DIAL_OPT_LOCAL;
  }
  *o = n;
  return 0;
}

void uvh__dial_opts_merge(uvh_dial_opts_t *out, const uvh_dial_opts_t *over, const uvh_dial_opts_t *base) {
  *out = *base;
  if (over->set & UVH_DIAL_OPT_FAMILY)
    out->family = over->family;
  if (over->set & UVH_DIAL_OPT_NODELAY)
    out->tcp_nodelay = over->tcp_nodelay;
  if (over->set & UVH_DIAL_OPT_KEEPALIVE)
    out->tcp_keepalive = over->tcp_keepalive;
  if (over->set & UVH_DIAL_OPT_LINGER)
    out->so_linger = over->so_linger;
  if (over->set & UVH_DIAL_OPT_BUFSIZE)
    out->socket_buffer_size = over->socket_buffer_size;
  if (over->set & UVH_DIAL_OPT_LOCAL) {
    out->local = over->local;
    memcpy(out->local_text, over->local_text, sizeof out->local_text);
  }
  out->set = base->set | over->set;
}

int uvh__dial_opts_key(const uvh_dial_opts_t *o, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "socket family=%d nodelay=%d keepalive=%d linger=%d buffers=%d local=%s", o->family,
                   o->tcp_nodelay, o->tcp_keepalive, o->so_linger, o->socket_buffer_size, o->local_text);
  return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ------------------------------------------------------------ the dial */

static void on_connect(uv_connect_t *c, int status);
static void on_delay(uv_timer_t *t);

void uvh__dial_free(uvh_dial_t *d) {
  free(d->addrs);
  d->addrs = NULL;
  d->naddrs = d->next_addr = 0;
}

/* "ADDR: reason" of a failed attempt, after the earlier ones. */
static void add_detail(uvh_dial_t *d, const struct sockaddr_storage *ss, int err, const char *why) {
  size_t len = strlen(d->detail);
  char addr[80];
  uvh__dial_addr_text(ss, addr, sizeof addr);
  if (len + 1 < sizeof d->detail)
    snprintf(d->detail + len, sizeof d->detail - len, "%s%s: %s", len ? "; " : "", addr, why ? why : uv_strerror(err));
}

static void on_attempt_closed(uv_handle_t *h) {
  uvh_dial_attempt_t *a = h->data;
  uvh_dial_t *d = a->dial;
  free(a);
  d->ops->on_released(d);
}

static void attempt_unlink(uvh_dial_attempt_t *a) {
  uvh_dial_attempt_t **p;
  for (p = &a->dial->attempts; *p; p = &(*p)->next)
    if (*p == a) {
      *p = a->next;
      break;
    }
}

static void attempt_close(uvh_dial_attempt_t *a) {
  attempt_unlink(a);
  uv_close((uv_handle_t *)&a->tcp, on_attempt_closed);
}

static void on_timer_closed(uv_handle_t *h) {
  uvh_dial_t *d = h->data;
  free(h);
  d->ops->on_released(d);
}

static void timer_close(uvh_dial_t *d) {
  if (d->timer) {
    uv_close((uv_handle_t *)d->timer, on_timer_closed);
    d->timer = NULL;
  }
}

/* Nothing more will happen: the owner hears the failure last. */
static void dial_fail(uvh_dial_t *d, int code, int sys_err, int in_start) {
  d->done = 1;
  timer_close(d);
  uvh__dial_free(d);
  d->ops->on_failed(d, code, sys_err, in_start);
}

/* The options on a new socket, before it connects: 0, or a libuv error
 * with *what naming the option. */
static int set_options(uvh_dial_t *d, uv_tcp_t *tcp, const char **what) {
  const uvh_dial_opts_t *o = &d->opts;
  int rc;
  if ((rc = uv_tcp_nodelay(tcp, o->tcp_nodelay)) != 0) {
    *what = "TCP_NODELAY";
    return rc;
  }
  if (o->tcp_keepalive > 0 && (rc = uv_tcp_keepalive(tcp, 1, (unsigned)o->tcp_keepalive)) != 0) {
    *what = "SO_KEEPALIVE";
    return rc;
  }
  if (o->socket_buffer_size > 0) {
    int v = o->socket_buffer_size;
    if ((rc = uv_recv_buffer_size((uv_handle_t *)tcp, &v)) != 0) {
      *what = "SO_RCVBUF";
      return rc;
    }
    v = o->socket_buffer_size;
    if ((rc = uv_send_buffer_size((uv_handle_t *)tcp, &v)) != 0) {
      *what = "SO_SNDBUF";
      return rc;
    }
  }
  if (o->so_linger >= 0) {
    uv_os_fd_t fd;
    struct linger l;
    l.l_onoff = 1;
    l.l_linger = o->so_linger;
    if ((rc = uv_fileno((uv_handle_t *)tcp, &fd)) != 0 ||
        (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0 && (rc = uv_translate_sys_error(errno)) != 0)) {
      *what = "SO_LINGER";
      return rc;
    }
  }
  if (o->local_text[0] && (rc = uv_tcp_bind(tcp, (const struct sockaddr *)&o->local, 0)) != 0) {
    *what = "binding to local_address";
    return rc;
  }
  return 0;
}

/* Start the attempt for the next address: 0 (it is pending), 1 (it failed
 * at once, in d->detail) or UVH_E_NOMEM. */
static int attempt_start(uvh_dial_t *d) {
  unsigned i = d->next_addr++;
  const struct sockaddr_storage *ss = &d->addrs[i];
  uvh_dial_attempt_t *a;
  const char *what = NULL;
  int rc;
  if (d->opts.local_text[0] && d->opts.local.ss_family != ss->ss_family) {
    char why[96];
    snprintf(why, sizeof why, "skipped, local_address %s is %s", d->opts.local_text,
             d->opts.local.ss_family == AF_INET ? "IPv4" : "IPv6");
    add_detail(d, ss, 0, why);
    d->last_err = UV_EAFNOSUPPORT;
    return 1;
  }
  if ((a = malloc(sizeof *a)) == NULL)
    return UVH_E_NOMEM;
  if ((rc = uv_tcp_init_ex(d->uv, &a->tcp, ss->ss_family)) != 0) {
    free(a);
    add_detail(d, ss, rc, NULL);
    d->last_err = rc;
    return 1;
  }
  a->tcp.data = a;
  a->dial = d;
  a->addr = i;
  a->next = d->attempts;
  d->attempts = a;
  d->ops->on_hold(d);
  a->req.data = a;
  if ((rc = set_options(d, &a->tcp, &what)) == 0 &&
      (rc = uv_tcp_connect(&a->req, &a->tcp, (const struct sockaddr *)ss, on_connect)) == 0) {
    d->ops->on_hold(d);
    return 0;
  }
  if (what) {
    char why[128];
    snprintf(why, sizeof why, "%s: %s", what, uv_strerror(rc));
    add_detail(d, ss, rc, why);
  } else {
    add_detail(d, ss, rc, NULL);
  }
  d->last_err = rc;
  attempt_close(a);
  return 1;
}

/* Start attempts until one is pending or no address is left, then arm
 * the delay for the next; with nothing pending and nothing left, fail. */
static void advance(uvh_dial_t *d, int in_start) {
  while (d->next_addr < d->naddrs) {
    int rc = attempt_start(d);
    if (rc == 0)
      break;
    if (rc == UVH_E_NOMEM) {
      if (d->attempts == NULL) {
        dial_fail(d, UVH_E_NOMEM, 0, in_start);
        return;
      }
      d->next_addr--; /* try it again when the pending one fails or the delay ends */
      break;
    }
  }
  if (d->attempts == NULL) {
    dial_fail(d, UVH_E_CONNECT, d->last_err ? d->last_err : UV_EADDRNOTAVAIL, in_start);
    return;
  }
  if (d->next_addr >= d->naddrs) {
    if (d->timer)
      uv_timer_stop(d->timer);
    return;
  }
  if (d->timer == NULL) {
    if ((d->timer = malloc(sizeof *d->timer)) == NULL)
      return; /* no delay then: the next starts when this one fails */
    uv_timer_init(d->uv, d->timer);
    d->timer->data = d;
    d->ops->on_hold(d);
  }
  uv_timer_start(d->timer, on_delay, d->opts.happy_eyeballs_delay_ms, 0);
}

static void on_delay(uv_timer_t *t) { advance(t->data, 0); }

static void on_connect(uv_connect_t *c, int status) {
  uvh_dial_attempt_t *a = c->data;
  uvh_dial_t *d = a->dial;
  /* once cancelled (or won by another attempt), the release may free the
   * owner (and so `d`) */
  if (d->cancelled || d->done) {
    d->ops->on_released(d);
    return;
  }
  d->ops->on_released(d);
  if (status < 0) {
    add_detail(d, &d->addrs[a->addr], status, NULL);
    d->last_err = status;
    attempt_close(a);
    advance(d, 0); /* the next one now, not after the delay */
    return;
  }
  attempt_unlink(a); /* the winner: the owner's from here */
  d->done = 1;
  while (d->attempts)
    attempt_close(d->attempts);
  timer_close(d);
  uvh__dial_free(d);
  d->ops->on_connected(d, &a->tcp);
}

/* The addresses to try: those of the family asked for, alternating
 * families from IPv6 (RFC 8305 section 4), each family in the resolver's
 * order, with our port. */
static void addresses_found(uvh_dial_t *d, const struct sockaddr_storage *in, unsigned n, int in_start) {
  unsigned i, i6 = 0, i4 = 0, n6 = 0, n4 = 0, k = 0;
  for (i = 0; i < n; i++) {
    if (in[i].ss_family == AF_INET6 && d->opts.family != 4)
      n6++;
    else if (in[i].ss_family == AF_INET && d->opts.family != 6)
      n4++;
  }
  if (n6 + n4 == 0) {
    snprintf(d->detail, sizeof d->detail, "it has no IPv%d address (family %d)", d->opts.family,
             d->opts.family);
    dial_fail(d, UVH_E_RESOLVE, 0, in_start);
    return;
  }
  if ((d->addrs = calloc(n6 + n4, sizeof *d->addrs)) == NULL) {
    dial_fail(d, UVH_E_NOMEM, 0, in_start);
    return;
  }
  while (k < n6 + n4) {
    int want6 = (k % 2 == 0 && i6 < n6) || i4 >= n4;
    unsigned *seen = want6 ? &i6 : &i4, skip = *seen;
    int fam = want6 ? AF_INET6 : AF_INET;
    for (i = 0; i < n; i++)
      if (in[i].ss_family == fam && skip-- == 0)
        break;
    d->addrs[k] = in[i];
    if (fam == AF_INET6)
      ((struct sockaddr_in6 *)&d->addrs[k])->sin6_port = htons(d->port);
    else
      ((struct sockaddr_in *)&d->addrs[k])->sin_port = htons(d->port);
    (*seen)++;
    k++;
  }
  d->naddrs = k;
  d->ops->on_resolved(d);
  advance(d, in_start);
}

static void on_resolved(uvh_resolve_waiter_t *w, int status, const struct sockaddr_storage *addrs, unsigned n) {
  uvh_dial_t *d = uvh_container_of(w, uvh_dial_t, waiter);
  d->resolving = 0;
  if (status < 0) {
    dial_fail(d, UVH_E_RESOLVE, status, 0);
    return;
  }
  addresses_found(d, addrs, n, 0);
}

int uvh__dial_start(uvh_dial_t *d, uv_loop_t *uv, uvh_resolver_t *resolver, const char *host, uint16_t port,
                    const uvh_dial_opts_t *opts, const uvh_dial_ops_t *ops) {
  struct sockaddr_storage literal;
  const struct sockaddr_storage *addrs = NULL;
  unsigned n = 0;
  int status, how;
  memset(d, 0, sizeof *d);
  d->uv = uv;
  d->ops = ops;
  d->opts = *opts;
  d->port = port;
  d->how = -1;
  /* an IP literal needs no resolver, so no thread-pool round trip */
  if (parse_ip(host, port, &literal) == 0) {
    addresses_found(d, &literal, 1, 1);
    return 0;
  }
  d->waiter.cb = on_resolved;
  how = uvh__resolver_lookup(resolver, uv, host, port, &d->waiter, &status, &addrs, &n);
  if (how < 0)
    return how;
  d->how = how;
  if (status < 0) {
    /* remembered, or a name the resolver refuses outright: it fails like one it cannot find */
    dial_fail(d, UVH_E_RESOLVE, status, 1);
  } else if (how == UVH_RESOLVED_FIXED || how == UVH_RESOLVED_CACHED) {
    addresses_found(d, addrs, n, 1);
  } else {
    d->resolving = 1;
  }
  return 0;
}

void uvh__dial_cancel(uvh_dial_t *d) {
  if (d->cancelled)
    return;
  d->cancelled = 1;
  /* no libuv request points at a waiter: it leaves, nothing to release */
  uvh__resolve_waiter_leave(&d->waiter);
  d->resolving = 0;
  while (d->attempts)
    attempt_close(d->attempts);
  timer_close(d);
  uvh__dial_free(d);
}
