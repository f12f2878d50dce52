MODULE = Uvent    PACKAGE = Uvent::HTTP::Server::Core

SV *
_new(const char *klass, SV *loop_rv, double idle_timeout, double read_timeout, UV max_headers_size, UV max_body_size, UV max_multipart_size, UV max_keepalive_requests, UV max_connections, double write_timeout)
  CODE:
    uvx_loop_t *loop = (uvx_loop_t *)uvx_unwrap(aTHX_ loop_rv, "Uvent::Loop", "loop");
    uvh_server_config_t cfg;
    uvx_server_t *srv;
    int rc;
    uvh_server_config_init(&cfg);
    cfg.idle_timeout = idle_timeout;
    cfg.read_timeout = read_timeout;
    cfg.max_headers_size = (size_t)max_headers_size;
    cfg.max_body_size = (size_t)max_body_size;
    cfg.max_multipart_size = (size_t)max_multipart_size;
    cfg.max_keepalive_requests = (unsigned)max_keepalive_requests;
    cfg.max_connections = (unsigned)max_connections;
    cfg.write_timeout = write_timeout;
    Newxz(srv, 1, uvx_server_t);
    if ((rc = uvh_server_new(loop->core, &cfg, &uvx_server_ops, srv, &srv->core)) != 0) {
      Safefree(srv);
      UVX_CROAK("Uvent::HTTP::Server->new: %s", uvh_strerror(rc));
    }
    srv->loop_rv = newSVsv(loop_rv);
    RETVAL = uvx_wrap(aTHX_ srv, gv_stashpv(klass, GV_ADD));
    srv->self = SvRV(RETVAL);
  OUTPUT:
    RETVAL

void
_set_request_callback(uvx_server_t *srv, SV *cb)
  ALIAS:
    _set_route_callback = 1
    _set_partial_callback = 2
  CODE:
    SV **slot = ix == 0 ? &srv->request_cb : ix == 1 ? &srv->route_cb : &srv->partial_cb;
    if (*slot)
      SvREFCNT_dec(*slot);
    *slot = SvOK(cb) ? newSVsv(cb) : NULL;

void
_listen(uvx_server_t *srv, const char *host, UV port, int backlog, int reuse_port, int tcp_nodelay, SV *cert_file, SV *key_file, SV *ca_file, SV *ca_path, SV *ciphers, int verify_client, int min_version, int fd, SV *path)
  CODE:
    uvh_server_location_t loc;
    uvh_server_location_init(&loc);
    loc.fd = fd;
    loc.path = SvOK(path) ? SvPV_nolen(path) : NULL;
    loc.host = host;
    loc.port = (unsigned)port;
    loc.backlog = backlog;
    loc.reuse_port = reuse_port;
    loc.tcp_nodelay = tcp_nodelay;
    loc.cert_file = SvOK(cert_file) ? SvPV_nolen(cert_file) : NULL;
    loc.key_file = SvOK(key_file) ? SvPV_nolen(key_file) : NULL;
    loc.ca_file = SvOK(ca_file) ? SvPV_nolen(ca_file) : NULL;
    loc.ca_path = SvOK(ca_path) ? SvPV_nolen(ca_path) : NULL;
    loc.ciphers = SvOK(ciphers) ? SvPV_nolen(ciphers) : NULL;
    loc.verify_client = verify_client;
    loc.min_version = min_version;
    if (uvh_server_listen(srv->core, &loc) != 0)
      UVX_CROAK("Uvent::HTTP::Server->run: %s", uvh_server_last_error(srv->core));
    uvx_wake(aTHX);

void
listeners(uvx_server_t *srv)
  PPCODE:
    /* each listener as { host, port, tls }, a unix socket's as { path, tls } */
    unsigned i, n = uvh_server_listener_count(srv->core), port;
    const char *host;
    int tls;
    for (i = 0; i < n; i++) {
      HV *hv = newHV();
      uvh_server_listener_at(srv->core, i, &host, &port, &tls);
      if (port == 0) {
        hv_stores(hv, "path", newSVpv(host, 0));
      } else {
        hv_stores(hv, "host", newSVpv(host, 0));
        hv_stores(hv, "port", newSVuv(port));
      }
      hv_stores(hv, "tls", tls ? &PL_sv_yes : &PL_sv_no);
      mXPUSHs(newRV_noinc((SV *)hv));
    }

unsigned
connection_count(uvx_server_t *srv)
  CODE:
    RETVAL = uvh_server_connection_count(srv->core);
  OUTPUT:
    RETVAL

void
stop(uvx_server_t *srv)
  CODE:
    uvh_server_stop(srv->core);
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);

void
_graceful_stop(uvx_server_t *srv, double timeout, SV *cb)
  CODE:
    int rc;
    if (srv->stopped_cb == NULL)
      srv->stopped_cb = newSVsv(cb);
    if ((rc = uvh_server_graceful_stop(srv->core, timeout)) != 0)
      UVX_CROAK("Uvent::HTTP::Server->graceful_stop: %s", rc == UVH_E_CLOSED_POOL ? "the server is stopped" : uvh_strerror(rc));
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);

void
DESTROY(SV *self)
  CODE:
    uvx_server_t *srv = INT2PTR(uvx_server_t *, SvIV(SvRV(self)));
    if (srv == NULL)
      return;
    sv_setiv(SvRV(self), 0);
    if (PL_phase != PERL_PHASE_DESTRUCT) {
      /* stops it: unanswered requests are dropped (their drop_callback runs) */
      uvh_server_unref(srv->core);
      uvx_wake(aTHX);
    }
    if (srv->request_cb)
      SvREFCNT_dec(srv->request_cb);
    if (srv->route_cb)
      SvREFCNT_dec(srv->route_cb);
    if (srv->partial_cb)
      SvREFCNT_dec(srv->partial_cb);
    if (srv->stopped_cb)
      SvREFCNT_dec(srv->stopped_cb);
    if (srv->scoreboard_rv) {
      if (PL_phase != PERL_PHASE_DESTRUCT)
        uvh_server_set_activity(srv->core, NULL, NULL);
      SvREFCNT_dec(srv->scoreboard_rv);
    }
    SvREFCNT_dec(srv->loop_rv);
    Safefree(srv);

void
_watch_scoreboard(uvx_server_t *srv, SV *board_rv, UV slot)
  CODE:
    /* Uvent::HTTP::Manager's workers: each request counted in the slot */
    uvh_scoreboard_t *sb = (uvh_scoreboard_t *)uvx_unwrap(aTHX_ board_rv, "Uvent::HTTP::Manager::Scoreboard", "scoreboard");
    if (slot >= uvh_scoreboard_size(sb))
      UVX_CROAK("Uvent::HTTP::Server: scoreboard slot %" UVuf " is past its end", slot);
    if (srv->scoreboard_rv)
      SvREFCNT_dec(srv->scoreboard_rv);
    srv->scoreboard_rv = newSVsv(board_rv);
    uvh_scoreboard_watch_server(sb, (unsigned)slot, srv->core);

MODULE = Uvent    PACKAGE = Uvent::HTTP::ServerRequest

const char *
method(SV *obj)
  CODE:
    RETVAL = uvh_server_req_method(uvx_sreq(aTHX_ obj));
  OUTPUT:
    RETVAL

SV *
uri(SV *obj)
  ALIAS:
    body = 1
    peer_address = 2
  CODE:
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    size_t len;
    const char *s = ix == 0 ? uvh_server_req_target(req, &len)
                  : ix == 1 ? uvh_server_req_body(req, &len)
                  : uvh_server_req_peer_address(req);
    if (ix == 2)
      len = strlen(s);
    RETVAL = newSVpvn(s, len);
  OUTPUT:
    RETVAL

SV *
http_version(SV *obj)
  CODE:
    RETVAL = newSVpvf("1.%d", uvh_server_req_http_minor(uvx_sreq(aTHX_ obj)));
  OUTPUT:
    RETVAL

unsigned
peer_port(SV *obj)
  CODE:
    RETVAL = uvh_server_req_peer_port(uvx_sreq(aTHX_ obj));
  OUTPUT:
    RETVAL

bool
is_secure(SV *obj)
  ALIAS:
    is_active = 1
  CODE:
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    RETVAL = (ix ? uvh_server_req_active(req) : uvh_server_req_is_secure(req)) != 0;
  OUTPUT:
    RETVAL

SV *
_client_certificate(SV *obj, int want_pem)
  CODE:
    /* { subject, issuer } of the verified client certificate (and its pem when asked), or undef */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    const char *subject, *issuer;
    if (uvh_server_req_client_certificate(req, &subject, &issuer)) {
      HV *hv = newHV();
      hv_stores(hv, "subject", newSVpv(subject, 0));
      hv_stores(hv, "issuer", newSVpv(issuer, 0));
      if (want_pem) {
        char *pem;
        size_t len;
        int rc = uvh_server_req_client_certificate_pem(req, &pem, &len);
        if (rc < 0) {
          SvREFCNT_dec((SV *)hv);
          UVX_CROAK("Uvent::HTTP::ServerRequest->client_certificate: %s", uvh_strerror(rc));
        }
        hv_stores(hv, "pem", rc ? newSVpvn(pem, len) : newSV(0));
        free(pem);
      }
      RETVAL = newRV_noinc((SV *)hv);
    } else {
      RETVAL = &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

void
header_list(SV *obj)
  PPCODE:
    /* name, value, name, value ... as received */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    size_t i, n = uvh_server_req_header_count(req);
    EXTEND(SP, (SSize_t)(2 * n));
    for (i = 0; i < n; i++) {
      const char *hn, *hv;
      size_t nl, vl;
      uvh_server_req_header_at(req, i, &hn, &nl, &hv, &vl);
      mPUSHp(hn, nl);
      mPUSHp(hv, vl);
    }

SV *
header(SV *obj, SV *name)
  CODE:
    /* repeated headers joined with ", " as in the headers hash */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    STRLEN nlen;
    const char *want = SvPV(name, nlen);
    size_t i, n = uvh_server_req_header_count(req);
    RETVAL = NULL;
    for (i = 0; i < n; i++) {
      const char *hn, *hv;
      size_t nl, vl;
      uvh_server_req_header_at(req, i, &hn, &nl, &hv, &vl);
      if (nl != nlen || strncasecmp(hn, want, nl) != 0)
        continue;
      if (RETVAL) {
        sv_catpvs(RETVAL, ", ");
        sv_catpvn(RETVAL, hv, vl);
      } else {
        RETVAL = newSVpvn(hv, vl);
      }
    }
    if (RETVAL == NULL)
      RETVAL = &PL_sv_undef;
  OUTPUT:
    RETVAL

int
_respond(SV *obj, int code, SV *message, AV *headers, SV *body)
  ALIAS:
    _respond_start = 1
  CODE:
    /* headers: [name, value, ...], already checked by ServerRequest.pm */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    size_t n;
    STRLEN rl = 0, bl = 0;
    const char *reason = SvOK(message) ? uvx_bytes(aTHX_ message, &rl, "respond", "message", NULL) : NULL;
    const char *b = !ix && SvOK(body) ? uvx_bytes(aTHX_ body, &bl, "respond", "body", NULL) : "";
    uvh_server_header_t *h = uvx_server_headers(aTHX_ headers, &n);
    RETVAL = ix ? uvh_server_respond_start(req, code, reason, rl, h, n)
                : uvh_server_respond(req, code, reason, rl, h, n, b, bl);
    uvx_server_check(aTHX_ req, RETVAL, ix ? "respond_start" : "respond");
    uvx_wake(aTHX);
  OUTPUT:
    RETVAL

bool
send_chunk(SV *obj, SV *data = &PL_sv_undef)
  ALIAS:
    send_final_chunk = 1
  CODE:
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    STRLEN len = 0;
    const char *d = SvOK(data) ? uvx_bytes(aTHX_ data, &len, ix ? "send_final_chunk" : "send_chunk", "data", NULL) : "";
    int rc;
    if (!ix && !SvOK(data))
      UVX_CROAK("Uvent::HTTP::ServerRequest->send_chunk: the data is undef (send_final_chunk ends the body)");
    rc = ix ? uvh_server_send_final_chunk(req, d, len) : uvh_server_send_chunk(req, d, len);
    uvx_server_check(aTHX_ req, rc, ix ? "send_final_chunk" : "send_chunk");
    if (ix)
      uvx_sreq_drain_cancel(aTHX_ SvRV(obj)); /* the body is done: nothing to wait for */
    RETVAL = rc == 0;
    uvx_wake(aTHX);
  OUTPUT:
    RETVAL

void
drop(SV *obj)
  ALIAS:
    pause = 1
    resume = 2
  CODE:
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    if (ix == 0) {
      uvh_server_req_drop(req);
      uvx_sreq_drain_cancel(aTHX_ SvRV(obj));
    }
    else if (ix == 1)
      uvh_server_req_pause(req);
    else
      uvh_server_req_resume(req);
    uvx_wake(aTHX);

void
enable_partial(SV *obj)
  CODE:
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    if (uvh_server_req_enable_partial(req) != 0)
      UVX_CROAK("Uvent::HTTP::ServerRequest->enable_partial: %s (call it from route_callback)", uvh_server_req_last_error(req));

void
_set_drop_callback(SV *obj, SV *cb)
  CODE:
    MAGIC *mg;
    uvx_sreq(aTHX_ obj);
    mg = uvx_sreq_magic(aTHX_ obj);
    if (mg->mg_obj && (mg->mg_flags & MGf_REFCOUNTED))
      SvREFCNT_dec(mg->mg_obj);
    mg->mg_obj = SvOK(cb) ? newSVsv(cb) : NULL;
    mg->mg_flags |= MGf_REFCOUNTED;

bool
_drain_callback(SV *obj, SV *cb)
  CODE:
    /* cb is a CODE ref (checked by ServerRequest.pm); one waiting is replaced */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    SV *inner = SvRV(obj);
    MAGIC *mg;
    int rc = uvh_server_req_want_drain(req);
    uvx_server_check(aTHX_ req, rc, "drain_callback");
    RETVAL = rc == 0;
    if (RETVAL) {
      mg = uvx_sreq_drain_magic(aTHX_ inner, 1);
      if (mg->mg_obj)
        SvREFCNT_dec(mg->mg_obj);
      else
        SvREFCNT_inc_simple_void_NN(inner); /* the pin, until it runs */
      mg->mg_obj = newSVsv(cb);
    }
    uvx_wake(aTHX);
  OUTPUT:
    RETVAL

UV
queued_bytes(SV *obj)
  CODE:
    RETVAL = (UV)uvh_server_req_queued_bytes(uvx_sreq(aTHX_ obj));
  OUTPUT:
    RETVAL

int
_send_informational(SV *obj, int code, SV *message, AV *headers)
  CODE:
    /* headers: [name, value, ...], already checked by ServerRequest.pm */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    size_t n;
    STRLEN rl = 0;
    const char *reason = SvOK(message) ? uvx_bytes(aTHX_ message, &rl, "send_informational", "message", NULL) : NULL;
    uvh_server_header_t *h = uvx_server_headers(aTHX_ headers, &n);
    RETVAL = uvh_server_send_informational(req, code, reason, rl, h, n);
    uvx_server_check(aTHX_ req, RETVAL, "send_informational");
    uvx_wake(aTHX);
  OUTPUT:
    RETVAL

int
_detach(SV *obj)
  CODE:
    /* the socket's descriptor for the owner, or -1 when the connection is gone */
    uvh_server_req_t *req = uvx_sreq(aTHX_ obj);
    int fd = -1, rc = uvh_server_req_detach(req, &fd);
    if (rc == UVH_E_BADARG || rc == UVH_E_BUSY || rc == UVH_E_NOMEM)
      UVX_CROAK("Uvent::HTTP::ServerRequest->detach: %s", uvh_server_req_last_error(req));
    RETVAL = rc == 0 ? fd : -1;
    uvx_wake(aTHX);
  OUTPUT:
    RETVAL
