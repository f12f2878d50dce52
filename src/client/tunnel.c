/* tunnel.c - the handshake with a proxy on a connection's stream, between
 * the TCP connect to the proxy and TLS with the target (or the first
 * request): HTTP CONNECT (for https:// through an HTTP proxy; the answer is
 * read with the codec's response parser), or SOCKS5 (the byte-level state
 * machine of net/socks5.c; for socks5:// the target's name is looked up
 * here first, for socks5h:// the proxy gets the name).
 *
 * Owns: the tunnel state (conn->tunnel), its output buffer (which an
 * unfinished uv_write may still read, so it lives as long as the conn)
 * and its wait on the pool's resolver. Borrows: the connection and its destination
 * (the proxy, the target, its name).
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct uvh_tunnel_s {
  uvh_buf_t out;             /* what we sent last: kept until the conn's memory goes */
  uvh_socks5_t socks5;       /* SOCKS5 */
  uvh_parser_t parser;       /* CONNECT: its answer */
  uvh_h1_message_t answer;
  uvh_resolve_waiter_t lookup; /* socks5://: waiting on the pool's resolver for the target */
  uvh_conn_t *conn;          /* the tunnel's connection (for the resolver's callback) */
  unsigned resolving : 1;
  unsigned answer_init : 1;
} uvh_tunnel_t;

/* The room the tunnel's messages need at most: none may grow the buffer
 * once a write of it is in flight. */
#define TUNNEL_OUT_ROOM 2048

int uvh__tunnel_needed(const uvh_dest_t *d) {
  /* an https:// proxy carries http:// targets only (TLS to the proxy, no tunnel) */
  return d->proxy.mem && (d->proxy.kind == UVH_PROXY_SOCKS5 || d->proxy.kind == UVH_PROXY_SOCKS5H ||
                          (d->proxy.kind == UVH_PROXY_HTTP && d->ssl_ctx != NULL));
}

static const char *kind_name(const uvh_dest_t *d) {
  return d->proxy.kind == UVH_PROXY_HTTP ? "CONNECT" : "SOCKS5 handshake";
}

/* The target as the proxy is asked for it: "host:port", "[v6]:port" (the
 * name part of the key, after its scheme). */
static void target_authority(const uvh_dest_t *d, char *out, size_t cap) {
  const char *a = strstr(d->key, "://") + 3;
  snprintf(out, cap, "%.*s", (int)(d->name_len - (size_t)(a - d->key)), a);
}

/* Fail the connection; `fmt` (always one of this file's literals) has two
 * %s: the proxy's host:port, then `why`. */
static void fail(uvh_conn_t *conn, int code, int sys_err, const char *fmt, const char *why) {
  char detail[300];
  snprintf(detail, sizeof detail, fmt, conn->dest->proxy.authority, why);
  uvh__conn_fail(conn, code, sys_err, detail);
}

/* Send what the handshake queued in t->out. */
static void send_out(uvh_conn_t *conn) {
  uvh_tunnel_t *t = conn->tunnel;
  uv_buf_t buf = uv_buf_init(t->out.data, (unsigned)t->out.len);
  int nothing, rc;
  if (t->out.len == 0)
    return;
  if ((rc = uvh__stream_write(&conn->stream, &buf, 1, &nothing)) < 0)
    fail(conn, UVH_E_CONNECT, rc, "proxy %s: %s", uv_strerror(rc));
}

static void tunnel_up(uvh_conn_t *conn, size_t extra) {
  char n[32];
  if (extra) {
    snprintf(n, sizeof n, "%zu", extra);
    fail(conn, UVH_E_PROXY, 0, "proxy %s: the target sent %s bytes before the request", n);
    return;
  }
  if (conn->tunnel->answer_init) {
    uvh__h1_message_free(&conn->tunnel->answer);
    conn->tunnel->answer_init = 0;
  }
  uvh__conn_tunnel_up(conn);
}

/* --------------------------------------------------------------- SOCKS5 */

static void socks5_begin(uvh_conn_t *conn, int atyp, const void *addr, size_t addr_len) {
  uvh_tunnel_t *t = conn->tunnel;
  const uvh_proxy_t *p = &conn->dest->proxy;
  if (uvh__socks5_init(&t->socks5, p->user, p->pass, atyp, addr, addr_len, conn->dest->port) != 0) {
    fail(conn, UVH_E_PROXY, 0, "proxy %s: %s", "the target or the credentials do not fit a SOCKS5 request");
    return;
  }
  uvh_buf_clear(&t->out);
  if (uvh__socks5_start(&t->socks5, &t->out) != 0) {
    uvh__conn_fail(conn, UVH_E_NOMEM, 0, NULL);
    return;
  }
  send_out(conn);
}

/* The target's address as SOCKS5 sends it (ATYP 1 or 4), from a lookup's
 * result or an IP literal: 0, or -1 for no usable address. */
static int socks5_address(const struct sockaddr *sa, int *atyp, const void **addr, size_t *len) {
  if (sa->sa_family == AF_INET) {
    *atyp = UVH_SOCKS5_ATYP_IPV4;
    *addr = &((const struct sockaddr_in *)sa)->sin_addr;
    *len = 4;
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    *atyp = UVH_SOCKS5_ATYP_IPV6;
    *addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    *len = 16;
    return 0;
  }
  return -1;
}

/* The target's lookup for socks5:// failed. */
static void target_lookup_failed(uvh_conn_t *conn, int status) {
  char detail[400];
  snprintf(detail, sizeof detail, "host '%s' for the SOCKS5 proxy %s (%s)", conn->dest->host,
           conn->dest->proxy.authority, status < 0 ? uv_strerror(status) : "no address");
  uvh__conn_fail(conn, status == UV_ENOMEM ? UVH_E_NOMEM : UVH_E_RESOLVE, status, detail);
}

/* Start SOCKS5 with the first address of the target's lookup in the
 * family asked for (`family`, as a direct dial takes it). */
static void socks5_begin_resolved(uvh_conn_t *conn, int status, const struct sockaddr_storage *addrs, unsigned n) {
  int family = conn->dest->sock.family, atyp;
  const void *addr;
  size_t len;
  unsigned i = 0;
  while (status >= 0 && i < n &&
         ((family == 4 && addrs[i].ss_family != AF_INET) || (family == 6 && addrs[i].ss_family != AF_INET6)))
    i++;
  if (status < 0 || i == n || socks5_address((const struct sockaddr *)&addrs[i], &atyp, &addr, &len) != 0) {
    target_lookup_failed(conn, status);
    return;
  }
  socks5_begin(conn, atyp, addr, len);
}

static void on_target_resolved(uvh_resolve_waiter_t *w, int status, const struct sockaddr_storage *addrs,
                               unsigned n) {
  uvh_tunnel_t *t = uvh_container_of(w, uvh_tunnel_t, lookup);
  uvh_conn_t *conn = t->conn;
  t->resolving = 0;
  if (conn->state == CONN_TUNNELING)
    socks5_begin_resolved(conn, status, addrs, n);
}

/* An IP literal target goes as its address (either scheme): 1 when it was one. */
static int socks5_literal(uvh_conn_t *conn) {
  struct sockaddr_storage ss;
  const void *addr = NULL;
  size_t len = 0;
  int atyp = 0;
  if (uv_ip4_addr(conn->dest->host, conn->dest->port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(conn->dest->host, conn->dest->port, (struct sockaddr_in6 *)&ss) != 0)
    return 0;
  socks5_address((struct sockaddr *)&ss, &atyp, &addr, &len);
  socks5_begin(conn, atyp, addr, len);
  return 1;
}

/* socks5://: the client resolves the target, through the pool's resolver
 * (its fixed answers, cache and shared lookups), counted as dials count. */
static void socks5_resolve_target(uvh_conn_t *conn) {
  uvh_tunnel_t *t = conn->tunnel;
  const struct sockaddr_storage *addrs = NULL;
  unsigned n = 0;
  int status = 0;
  int how = uvh__resolver_lookup(conn->pool->resolver, conn->pool->loop->uv, conn->dest->host, conn->dest->port,
                                 &t->lookup, &status, &addrs, &n);
  if (how == UVH_E_NOMEM) {
    target_lookup_failed(conn, UV_ENOMEM);
    return;
  }
  uvh__conn_count_lookup(conn, how);
  if (how == UVH_RESOLVED_FIXED || how == UVH_RESOLVED_CACHED) {
    socks5_begin_resolved(conn, status, addrs, n);
    return;
  }
  if (t->lookup.lookup == NULL) { /* uv_getaddrinfo refused at once */
    target_lookup_failed(conn, status);
    return;
  }
  t->resolving = 1;
}

static void socks5_on_bytes(uvh_conn_t *conn, const char *data, size_t len) {
  uvh_tunnel_t *t = conn->tunnel;
  size_t used;
  int rc;
  uvh_buf_clear(&t->out);
  rc = uvh__socks5_feed(&t->socks5, data, len, &used, &t->out);
  if (rc == UVH_E_PROXY)
    fail(conn, UVH_E_PROXY, 0, "proxy %s: %s", t->socks5.reason);
  else if (rc < 0)
    uvh__conn_fail(conn, rc, 0, NULL);
  else if (rc == 1)
    tunnel_up(conn, len - used);
  else
    send_out(conn);
}

/* -------------------------------------------------------------- CONNECT */

static void connect_begin(uvh_conn_t *conn) {
  uvh_tunnel_t *t = conn->tunnel;
  char target[UVH_URL_HOST_MAX + 16];
  uvh__h1_message_init(&t->answer);
  t->answer_init = 1;
  /* is_head: a 2xx answer to CONNECT has no body, whatever its headers say;
   * after any other the connection is closed, so its body is not read */
  uvh__parser_init(&t->parser, &t->answer, 1, conn->pool->cfg.max_headers_size, 0);
  target_authority(conn->dest, target, sizeof target);
  if (uvh__h1_connect_head(&t->out, target, conn->dest->proxy.userinfo, "Uvent/" UVH_VERSION) != 0) {
    uvh__conn_fail(conn, UVH_E_NOMEM, 0, NULL);
    return;
  }
  send_out(conn);
}

static void connect_on_bytes(uvh_conn_t *conn, const char *data, size_t len) {
  uvh_tunnel_t *t = conn->tunnel;
  size_t used;
  int rc = uvh__parser_feed(&t->parser, data, len, &used);
  if (rc == 0)
    return;
  if (rc < 0) {
    fail(conn, UVH_E_PROXY, 0, "proxy %s: malformed answer to CONNECT: %s", uvh__parser_reason(&t->parser));
    return;
  }
  if (t->answer.status < 200 || t->answer.status > 299) {
    char line[200];
    snprintf(line, sizeof line, "HTTP/%u.%u %d %.*s", t->answer.http_major, t->answer.http_minor,
             t->answer.status, (int)(t->answer.reason_len < 120 ? t->answer.reason_len : 120),
             t->answer.strings.data ? t->answer.strings.data + t->answer.reason_off : "");
    fail(conn, UVH_E_PROXY, 0, "proxy %s answered CONNECT with '%s'", line);
    return;
  }
  tunnel_up(conn, len - used);
}

/* ----------------------------------------------------------------- entry */

/* Called from the dial's connect callback (never from inside a call of the
 * user's), so a failure is reported at once. */
void uvh__tunnel_start(uvh_conn_t *conn) {
  uvh_tunnel_t *t = conn->tunnel;
  if (t == NULL) {
    if ((t = conn->tunnel = calloc(1, sizeof *t)) == NULL || uvh_buf_reserve(&t->out, TUNNEL_OUT_ROOM) != 0) {
      uvh__conn_fail(conn, UVH_E_NOMEM, 0, NULL);
      return;
    }
    t->conn = conn;
    t->lookup.cb = on_target_resolved;
  }
  if (conn->dest->proxy.kind == UVH_PROXY_HTTP)
    connect_begin(conn);
  else if (socks5_literal(conn))
    return;
  else if (conn->dest->proxy.kind == UVH_PROXY_SOCKS5)
    socks5_resolve_target(conn);
  else
    socks5_begin(conn, UVH_SOCKS5_ATYP_NAME, conn->dest->host, strlen(conn->dest->host));
}

void uvh__tunnel_on_bytes(uvh_conn_t *conn, const char *data, size_t len) {
  if (conn->tunnel == NULL || conn->tunnel->resolving) {
    char n[32];
    snprintf(n, sizeof n, "%zu", len);
    fail(conn, UVH_E_PROXY, 0, "proxy %s sent %s bytes before it was asked anything", n);
  } else if (conn->dest->proxy.kind == UVH_PROXY_HTTP) {
    connect_on_bytes(conn, data, len);
  } else {
    socks5_on_bytes(conn, data, len);
  }
}

void uvh__tunnel_on_closed(uvh_conn_t *conn, int err) {
  char why[160];
  snprintf(why, sizeof why, "%s%s", err == UV_EOF ? "the proxy closed the connection" : "the connection failed: ",
           err == UV_EOF ? "" : uv_strerror(err));
  if (conn->dest->proxy.kind == UVH_PROXY_HTTP)
    fail(conn, UVH_E_PROXY, err == UV_EOF ? 0 : err, "proxy %s: %s before answering CONNECT", why);
  else
    fail(conn, UVH_E_PROXY, err == UV_EOF ? 0 : err, "proxy %s: %s during the SOCKS5 handshake", why);
}

void uvh__tunnel_describe(const uvh_conn_t *conn, char *out, size_t cap) {
  const uvh_tunnel_t *t = conn->tunnel;
  const uvh_dest_t *d = conn->dest;
  if (t && t->resolving)
    snprintf(out, cap, "proxy %s: looking up '%s' for SOCKS5", d->proxy.authority, d->host);
  else if (d->proxy.kind == UVH_PROXY_HTTP) {
    char target[UVH_URL_HOST_MAX + 16];
    target_authority(d, target, sizeof target);
    snprintf(out, cap, "proxy %s: no answer to CONNECT %s", d->proxy.authority, target);
  }
  else
    snprintf(out, cap, "proxy %s: %s %s", d->proxy.authority, kind_name(d),
             !t ? "not started"
             : t->socks5.state == SOCKS5_GREETING ? "waiting for the method reply"
             : t->socks5.state == SOCKS5_AUTH     ? "waiting for the username/password reply"
                                                  : "waiting for the CONNECT reply");
}

void uvh__tunnel_cancel(uvh_conn_t *conn) {
  if (conn->tunnel && conn->tunnel->resolving) {
    uvh__resolve_waiter_leave(&conn->tunnel->lookup);
    conn->tunnel->resolving = 0;
  }
}

void uvh__tunnel_free(uvh_conn_t *conn) {
  uvh_tunnel_t *t = conn->tunnel;
  if (t == NULL)
    return;
  if (t->answer_init)
    uvh__h1_message_free(&t->answer);
  uvh_buf_free(&t->out);
  free(t);
  conn->tunnel = NULL;
}
