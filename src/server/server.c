/* server.c - see server.h: the server object, its listeners, and the
 * accessors of the requests its connections hand to the owner. */
#include "server/server.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void uvh_server_config_init(uvh_server_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->idle_timeout = 300;
  cfg->read_timeout = 10;
  cfg->write_timeout = 60;
  cfg->max_headers_size = 16384;
}

void uvh_server_set_activity(uvh_server_t *srv, uvh_server_activity_cb cb, void *data) {
  srv->activity = cb;
  srv->activity_data = data;
}

void uvh_server_location_init(uvh_server_location_t *loc) {
  memset(loc, 0, sizeof *loc);
  loc->host = "127.0.0.1";
  loc->backlog = 4096;
  loc->tcp_nodelay = 1;
  loc->fd = -1;
}

/* --------------------------------------------------------------- lifetime */

static void server_free(uvh_server_t *srv) {
  unsigned i;
  for (i = 0; i < srv->nlisteners; i++) {
    if (srv->listeners[i]->tls_ctx)
      uvh__tls_ctx_free(srv->listeners[i]->tls_ctx);
    free(srv->listeners[i]);
  }
  free(srv->listeners);
  free(srv->bufs.plain);
  free(srv);
}

static void maybe_free(uvh_server_t *srv) {
  if (srv->refcount == 0 && srv->handles == 0 && srv->loop == NULL)
    server_free(srv);
}

void uvh__server_handle_gone(uvh_server_t *srv) {
  srv->handles--;
  maybe_free(srv);
}

static void on_drain_timer_closed(uv_handle_t *h) {
  uvh_server_t *srv = h->data;
  free(h);
  uvh__server_handle_gone(srv);
}

static void close_drain_timer(uvh_server_t *srv) {
  if (srv->drain_timer) {
    uv_close((uv_handle_t *)srv->drain_timer, on_drain_timer_closed);
    srv->drain_timer = NULL;
  }
}

/* graceful_stop's end: the last connection went, or its deadline came. */
static void on_drain_timer(uv_timer_t *t) {
  uvh_server_t *srv = t->data;
  void (*cb)(uvh_server_t *, void *) = srv->ops.on_stopped;
  srv->refcount++; /* held through the callbacks */
  if (!uvh_list_empty(&srv->conns))
    uvh_server_stop(srv); /* the deadline: the rest goes now (their drops' callbacks run) */
  srv->draining = 0;
  srv->stopped = 1;
  close_drain_timer(srv);
  if (cb)
    cb(srv, srv->data); /* the last thing */
  uvh_server_unref(srv);
}

void uvh__server_conn_gone(uvh_server_t *srv) {
  if (srv->draining && uvh_list_empty(&srv->conns) && srv->drain_timer)
    uv_timer_start(srv->drain_timer, on_drain_timer, 0, 0);
}

int uvh_server_graceful_stop(uvh_server_t *srv, double timeout) {
  uvh_list_t *it;
  unsigned i;
  if (!UVH_SECONDS_OK(timeout))
    return UVH_E_BADARG;
  if (srv->loop)
    uvh_loop_check_fork(srv->loop); /* closing a handle must not touch the parent's epoll set */
  if (srv->draining) {
    /* a second call: the rest is closed now */
    uv_timer_start(srv->drain_timer, on_drain_timer, 0, 0);
    return 0;
  }
  if (srv->stopped || srv->loop == NULL)
    return UVH_E_CLOSED_POOL;
  if ((srv->drain_timer = malloc(sizeof *srv->drain_timer)) == NULL)
    return UVH_E_NOMEM;
  uv_timer_init(uvh_loop_uv(srv->loop), srv->drain_timer);
  srv->drain_timer->data = srv;
  srv->handles++;
  srv->draining = 1;
  for (i = 0; i < srv->nlisteners; i++)
    if (srv->listeners[i]->open && !srv->listeners[i]->l.closing)
      uvh__listener_close(&srv->listeners[i]->l);
  /* idle connections go now; the others once their request is answered */
  for (it = srv->conns.next; it != &srv->conns;) {
    uvh_server_conn_t *c = uvh_container_of(it, uvh_server_conn_t, link);
    it = it->next;
    uvh__server_conn_drain(c);
  }
  if (uvh_list_empty(&srv->conns))
    uv_timer_start(srv->drain_timer, on_drain_timer, 0, 0);
  else if (timeout > 0)
    uv_timer_start(srv->drain_timer, on_drain_timer, (uint64_t)(timeout * 1000 + 0.5), 0);
  uvh__loop_work(srv->loop);
  return 0;
}

void uvh_server_stop(uvh_server_t *srv) {
  unsigned i;
  if (srv->loop)
    uvh_loop_check_fork(srv->loop); /* closing a handle must not touch the parent's epoll set */
  srv->stopped = 1;
  for (i = 0; i < srv->nlisteners; i++)
    if (srv->listeners[i]->open && !srv->listeners[i]->l.closing)
      uvh__listener_close(&srv->listeners[i]->l);
  /* each close unlinks its connection; on_drop callbacks may stop again */
  while (!uvh_list_empty(&srv->conns))
    uvh__server_conn_close(uvh_container_of(srv->conns.next, uvh_server_conn_t, link), 1);
  if (srv->loop)
    uvh__loop_work(srv->loop);
}

/* Freeing or detaching: a graceful stop under way ends without its callback. */
static void cancel_drain(uvh_server_t *srv) {
  srv->draining = 0;
  close_drain_timer(srv);
}

static void detach(uvh_loop_user_t *u) {
  uvh_server_t *srv = uvh_container_of(u, uvh_server_t, user);
  srv->refcount++; /* held through the drops' callbacks */
  uvh_server_stop(srv);
  cancel_drain(srv);
  uvh__loop_remove_user(&srv->user);
  srv->loop = NULL;
  srv->refcount--;
  maybe_free(srv);
}

/* A child after fork keeps the listeners (a prefork server accepts in
 * every child) and drops the connections, which are the parent's. */
static void drop_inherited(uvh_loop_user_t *u) {
  uvh_server_t *srv = uvh_container_of(u, uvh_server_t, user);
  while (!uvh_list_empty(&srv->conns))
    uvh__server_conn_close(uvh_container_of(srv->conns.next, uvh_server_conn_t, link), 0);
}

static void user_ref(uvh_loop_user_t *u) { uvh_container_of(u, uvh_server_t, user)->refcount++; }
static void user_unref(uvh_loop_user_t *u) { uvh_server_unref(uvh_container_of(u, uvh_server_t, user)); }
/* every handle of the server is referenced while it exists: nothing to wake up for */
static uint64_t next_deadline(uvh_loop_user_t *u) { return 0; }

static const uvh_loop_user_ops_t user_ops = {detach, drop_inherited, user_ref, user_unref, next_deadline};

int uvh_server_new(uvh_loop_t *loop, const uvh_server_config_t *cfg, const uvh_server_ops_t *ops, void *data,
                   uvh_server_t **out) {
  uvh_server_t *srv;
  *out = NULL;
  if (ops == NULL || ops->on_request == NULL || !UVH_SECONDS_OK(cfg->idle_timeout) ||
      !UVH_SECONDS_OK(cfg->read_timeout) || !UVH_SECONDS_OK(cfg->write_timeout))
    return UVH_E_BADARG;
  if ((srv = calloc(1, sizeof *srv)) == NULL)
    return UVH_E_NOMEM;
  srv->refcount = 1;
  srv->loop = loop;
  srv->cfg = *cfg;
  srv->ops = *ops;
  srv->data = data;
  srv->date_at = -1;
  uvh_list_init(&srv->conns);
  uvh__loop_add_user(loop, &srv->user, &user_ops);
  *out = srv;
  return 0;
}

void uvh_server_ref(uvh_server_t *srv) { srv->refcount++; }

void uvh_server_unref(uvh_server_t *srv) {
  if (--srv->refcount > 0)
    return;
  srv->refcount++; /* held through the drops' callbacks */
  if (!srv->stopped)
    uvh_server_stop(srv);
  cancel_drain(srv);
  if (srv->loop) {
    uvh__loop_remove_user(&srv->user);
    srv->loop = NULL;
  }
  srv->refcount--;
  maybe_free(srv);
}

const char *uvh_server_last_error(const uvh_server_t *srv) { return srv->last_error; }
unsigned uvh_server_connection_count(const uvh_server_t *srv) { return srv->nopen; }
void *uvh_server_get_data(uvh_server_t *srv) { return srv->data; }

/* -------------------------------------------------------------- listeners */

#define LISTENER(l) uvh_container_of(l, uvh_server_listener_t, l)

static void on_connection(uvh_listener_t *l, uv_stream_t *conn) {
  uvh_server_listener_t *ls = LISTENER(l);
  uvh_server_t *srv = ls->srv;
  int refuse = srv->cfg.max_connections && srv->nconns >= srv->cfg.max_connections;
  uvh__server_conn_accept(srv, ls, conn, refuse);
}

/* EMFILE and the like: the connection waits in the backlog, and the next
 * accept tries again */
static void on_accept_error(uvh_listener_t *l, int status) {}

static void on_listener_closed(uvh_listener_t *l) {
  uvh_server_listener_t *ls = LISTENER(l);
  ls->open = 0;
  uvh__server_handle_gone(ls->srv);
}

static const uvh_listener_ops_t listener_ops = {on_connection, on_accept_error, on_listener_closed};

static int listen_error(uvh_server_t *srv, int code, const char *fmt, const char *a, unsigned port, const char *b) {
  snprintf(srv->last_error, sizeof srv->last_error, fmt, a, port, b);
  return code;
}

/* Why a unix socket's path cannot be listened on, in words. */
static const char *path_reason(int rc) {
  switch (rc) {
  case UV_EADDRINUSE: return "a server is already listening there";
  case UV_EEXIST: return "a file that is not a socket is in the way (remove it, or choose another path)";
  case UV_ENAMETOOLONG: return "the path is too long for a unix socket";
  case UV_EINVAL: return "the path is empty";
  default: return uv_strerror(rc);
  }
}

static int path_error(uvh_server_t *srv, const char *path, int rc) {
  if (rc == UV_ENAMETOOLONG)
    snprintf(srv->last_error, sizeof srv->last_error, "cannot listen on unix socket %.200s%s: %s (%u bytes, at most %u)",
             path, strlen(path) > 200 ? "..." : "", path_reason(rc), (unsigned)strlen(path),
             (unsigned)uvh__listen_path_max());
  else
    snprintf(srv->last_error, sizeof srv->last_error, "cannot listen on unix socket %s: %s", path, path_reason(rc));
  return UVH_E_BADARG;
}

int uvh_server_listen(uvh_server_t *srv, const uvh_server_location_t *loc) {
  uvh_server_listener_t *ls, **grown;
  const char *path = loc->fd < 0 ? loc->path : NULL;
  const char *host = path ? path : loc->host ? loc->host : "127.0.0.1";
  char why[300] = "";
  int rc;

  if (srv->loop)
    uvh_loop_check_fork(srv->loop); /* a child listens on its own epoll instance */
  if (path) {
    if (srv->stopped || srv->loop == NULL) {
      snprintf(srv->last_error, sizeof srv->last_error, "cannot listen on unix socket %s: %s", path, "the server is stopped");
      return UVH_E_BADARG;
    }
    if (loc->reuse_port) {
      snprintf(srv->last_error, sizeof srv->last_error, "cannot listen on unix socket %s: %s", path,
               "reuse_port is for TCP (one process binds a unix socket)");
      return UVH_E_BADARG;
    }
    if (strlen(path) > uvh__listen_path_max() || *path == '\0')
      return path_error(srv, path, strlen(path) ? UV_ENAMETOOLONG : UV_EINVAL);
  } else {
    if (srv->stopped || srv->loop == NULL)
      return listen_error(srv, UVH_E_BADARG, "cannot listen on %s:%u: %s", host, loc->port, "the server is stopped");
    if (loc->port > 65535)
      return listen_error(srv, UVH_E_BADARG, "cannot listen on %s:%u: %s", host, loc->port,
                          "the port must be 0 to 65535");
    if (strlen(host) >= 64)
      return listen_error(srv, UVH_E_BADARG, "cannot listen on %.60s...:%u: %s", host, loc->port,
                          "the host is too long for an IP literal");
  }
  if ((ls = calloc(1, sizeof *ls)) == NULL)
    return UVH_E_NOMEM;
  ls->srv = srv;
  ls->tcp_nodelay = loc->tcp_nodelay ? 1 : 0;
  snprintf(ls->host, sizeof ls->host, "%s", host);
  if (loc->cert_file || loc->key_file || loc->ca_file || loc->ca_path || loc->ciphers || loc->verify_client) {
    uvh_tls_server_opts_t o;
    memset(&o, 0, sizeof o);
    o.cert_file = loc->cert_file;
    o.key_file = loc->key_file;
    o.ca_file = loc->ca_file;
    o.ca_path = loc->ca_path;
    o.ciphers = loc->ciphers;
    o.client_cert = loc->verify_client;
    o.min_version = loc->min_version;
    if ((ls->tls_ctx = uvh__tls_server_ctx_new(&o, why, sizeof why)) == NULL) {
      free(ls);
      if (path) {
        snprintf(srv->last_error, sizeof srv->last_error, "cannot listen on unix socket %s with TLS: %s", path, why);
        return UVH_E_TLS_CONFIG;
      }
      return listen_error(srv, UVH_E_TLS_CONFIG, "cannot listen on %s:%u with TLS: %s", host, loc->port, why);
    }
  }
  if ((grown = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof *grown)) == NULL) {
    if (ls->tls_ctx)
      uvh__tls_ctx_free(ls->tls_ctx);
    free(ls);
    return UVH_E_NOMEM;
  }
  srv->listeners = grown;
  if (loc->fd >= 0)
    rc = uvh__listen_fd(&ls->l, uvh_loop_uv(srv->loop), loc->fd, loc->backlog > 0 ? loc->backlog : 4096, &listener_ops);
  else if (path)
    rc = uvh__listen_path(&ls->l, uvh_loop_uv(srv->loop), path, loc->backlog > 0 ? loc->backlog : 4096, &listener_ops);
  else
    rc = uvh__listen_ex(&ls->l, uvh_loop_uv(srv->loop), host, (uint16_t)loc->port,
                        loc->backlog > 0 ? loc->backlog : 4096, loc->reuse_port, &listener_ops);
  if (rc < 0 && !ls->l.closing) {
    /* a bad address, a path in the way (or, for an fd, no handle could be made): nothing to close */
    if (ls->tls_ctx)
      uvh__tls_ctx_free(ls->tls_ctx);
    free(ls);
    if (loc->fd >= 0)
      return listen_error(srv, UVH_E_BADARG, "cannot listen on %s (fd %u): %s", "an inherited socket",
                          (unsigned)loc->fd, uv_strerror(rc));
    if (path)
      return path_error(srv, path, rc);
    return listen_error(srv, UVH_E_BADARG, "cannot listen on %s:%u: %s", host, loc->port,
                        "the host must be an IPv4 or IPv6 address");
  }
  /* from here the handle exists: the listener is kept until the server goes */
  srv->listeners[srv->nlisteners++] = ls;
  ls->open = 1;
  srv->handles++;
  if (rc < 0)
    return loc->fd >= 0 ? listen_error(srv, UVH_E_BADARG, "cannot listen on %s (fd %u): %s", "an inherited socket",
                                       (unsigned)loc->fd, uv_strerror(rc))
           : path     ? path_error(srv, path, rc)
                      : listen_error(srv, UVH_E_BADARG, "cannot listen on %s:%u: %s", host, loc->port, uv_strerror(rc));
  ls->listening = 1;
  ls->port = uvh__listener_port(&ls->l);
  if (loc->fd >= 0 && uvh__listener_host(&ls->l, ls->host, sizeof ls->host) != 0) /* the address the socket was bound to */
    ls->host[0] = '\0';
  return 0;
}

unsigned uvh_server_listener_count(const uvh_server_t *srv) {
  unsigned i, n = 0;
  for (i = 0; i < srv->nlisteners; i++)
    n += srv->listeners[i]->listening;
  return n;
}

int uvh_server_listener_at(const uvh_server_t *srv, unsigned i, const char **host, unsigned *port, int *tls) {
  unsigned j;
  /* the i-th of those that listen (a failed one keeps its slot until the server goes) */
  for (j = 0; j < srv->nlisteners; j++) {
    const uvh_server_listener_t *ls = srv->listeners[j];
    if (!ls->listening || i-- > 0)
      continue;
    *host = ls->host;
    *port = ls->port;
    *tls = ls->tls_ctx != NULL;
    return 0;
  }
  return UVH_E_BADARG;
}

const char *uvh__server_date(uvh_server_t *srv) {
  time_t now = time(NULL);
  if ((long long)now != srv->date_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(srv->date, sizeof srv->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    srv->date_at = (long long)now;
  }
  return srv->date;
}

/* --------------------------------------------------------------- requests */

uvh_server_req_t *uvh__server_req_new(void) {
  uvh_server_req_t *req = calloc(1, sizeof *req);
  if (req == NULL)
    return NULL;
  req->refcount = 1;
  uvh__h1_message_init(&req->msg);
  return req;
}

void uvh_server_req_ref(uvh_server_req_t *req) { req->refcount++; }

void uvh_server_req_unref(uvh_server_req_t *req) {
  if (--req->refcount > 0)
    return;
  uvh__h1_message_free(&req->msg);
  free(req->client_subject);
  free(req->client_issuer);
  if (req->client_cert)
    uvh__tls_cert_free(req->client_cert);
  free(req);
}

const char *uvh_server_req_method(const uvh_server_req_t *req) { return uvh__h1_method_name(&req->msg); }

const char *uvh_server_req_target(const uvh_server_req_t *req, size_t *len) {
  *len = req->msg.target_len;
  return req->msg.strings.data ? req->msg.strings.data + req->msg.target_off : "";
}

int uvh_server_req_http_minor(const uvh_server_req_t *req) { return req->msg.http_minor; }

size_t uvh_server_req_header_count(const uvh_server_req_t *req) { return req->msg.nheaders + req->msg.ntrailers; }

void uvh_server_req_header_at(const uvh_server_req_t *req, size_t i, const char **name, size_t *name_len,
                              const char **value, size_t *value_len) {
  const uvh_header_t *h = &req->msg.headers[i];
  *name = req->msg.strings.data + h->name_off;
  *name_len = h->name_len;
  *value = req->msg.strings.data + h->value_off;
  *value_len = h->value_len;
}

const char *uvh_server_req_header(const uvh_server_req_t *req, const char *name, size_t *value_len) {
  return uvh__h1_header(&req->msg, name, value_len);
}

const char *uvh_server_req_body(const uvh_server_req_t *req, size_t *len) {
  *len = req->msg.body.len;
  return req->msg.body.data ? req->msg.body.data : "";
}

const char *uvh_server_req_peer_address(const uvh_server_req_t *req) { return req->peer_addr; }
unsigned uvh_server_req_peer_port(const uvh_server_req_t *req) { return req->peer_port; }
int uvh_server_req_is_secure(const uvh_server_req_t *req) { return req->secure; }
int uvh_server_req_active(const uvh_server_req_t *req) { return req->conn != NULL && !req->complete; }
const char *uvh_server_req_last_error(const uvh_server_req_t *req) { return req->last_error; }
void *uvh_server_req_get_data(const uvh_server_req_t *req) { return req->data; }
void uvh_server_req_set_data(uvh_server_req_t *req, void *data) { req->data = data; }

int uvh_server_req_client_certificate(const uvh_server_req_t *req, const char **subject, const char **issuer) {
  *subject = req->client_subject ? req->client_subject : "";
  *issuer = req->client_issuer ? req->client_issuer : "";
  return req->client_subject != NULL;
}

int uvh_server_req_client_certificate_pem(const uvh_server_req_t *req, char **pem, size_t *len) {
  *pem = NULL;
  *len = 0;
  if (req->client_cert == NULL)
    return 0;
  return (*pem = uvh__tls_cert_pem(req->client_cert, len)) != NULL ? 1 : UVH_E_NOMEM;
}
