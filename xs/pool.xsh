MODULE = Uvent    PACKAGE = Uvent::HTTP::Pool

SV *
_new(const char *klass, SV *loop_rv, HV *config, int weak_loop)
  CODE:
    uvx_loop_t *loop = (uvx_loop_t *)uvx_unwrap(aTHX_ loop_rv, "Uvent::Loop", "loop");
    uvh_pool_config_t cfg;
    uvx_pool_t *pool;
    SV **v;
    int rc;
    /* Pool.pm has validated and completed the config */
    uvh_pool_config_init(&cfg);
#define CFG(key) ((v = hv_fetchs(config, key, 0)) ? SvNV(*v) : 0)
    cfg.idle_timeout = CFG("timeout");
    cfg.max_connections = (unsigned)CFG("max_connections");
    cfg.max_headers_size = (size_t)CFG("max_headers_size");
    cfg.max_body_size = (size_t)CFG("max_body_size");
    cfg.max_lifetime = CFG("max_lifetime");
    cfg.max_requests_per_connection = (unsigned)CFG("max_requests_per_connection");
    cfg.max_queue = (unsigned)CFG("max_queue");
    cfg.queue_timeout = CFG("queue_timeout");
    cfg.max_total = (unsigned)CFG("max_total");
    cfg.read_timeout = CFG("read_timeout");
    cfg.happy_eyeballs_delay = CFG("happy_eyeballs_delay");
    cfg.dns_cache_ttl = CFG("dns_cache_ttl");
    cfg.decompress = CFG("decompress") != 0;
    cfg.max_header_count = (size_t)CFG("max_header_count");
    cfg.expect_timeout = CFG("expect_timeout");
#undef CFG
    Newxz(pool, 1, uvx_pool_t);
    if ((rc = uvh_pool_new(loop->core, &cfg, &pool->core))) {
      Safefree(pool);
      UVX_CROAK("Uvent::HTTP::Pool->new: %s", rc == UVH_E_BADARG ? "invalid configuration" : uvh_strerror(rc));
    }
    pool->loop = loop;
    /* an instance pool is owned by its loop, so it must not own the loop back */
    pool->loop_rv = weak_loop ? NULL : newSVsv(loop_rv);
    RETVAL = uvx_wrap(aTHX_ pool, gv_stashpv(klass, GV_ADD));
    pool->self = SvRV(RETVAL);
    uvh_pool_set_data(pool->core, pool);
  OUTPUT:
    RETVAL

SV *
request(uvx_pool_t *pool, SV *request)
  CODE:
    dMY_CXT;
    HV *hv;
    MAGIC *mg;
    SV *f[UVX_NFIELDS];
    /* building the request may run Perl code (an overloaded uri, a tied
     * header): the pool is held by the typemap, its loop and the request
     * here, so none of them can go away before the submit */
    uvx_hold_pool_loop(aTHX_ pool);
    request = uvx_plain(aTHX_ request);
    if (SvROK(request))
      uvx_hold(aTHX_ SvRV(request));
    if (SvROK(request) && SvTYPE(SvRV(request)) == SVt_PVHV && !SvOBJECT(SvRV(request)))
      request = uvx_request_from_params(aTHX_ (HV *)SvRV(request));
    /* the class itself is one pointer compare; sv_derived_from walks @ISA */
    if (!SvROK(request) || SvTYPE(SvRV(request)) != SVt_PVHV ||
        !(SvOBJECT(SvRV(request)) && SvSTASH(SvRV(request)) == MY_CXT.stash_request) &&
            !sv_derived_from(request, "Uvent::HTTP::Request"))
      UVX_CROAK("Uvent::HTTP::Pool->request: expects a hashref of parameters or a Uvent::HTTP::Request");
    hv = (HV *)SvRV(request);
    mg = uvx_request_magic(aTHX_ (SV *)hv);
    if (mg && mg->mg_ptr && uvh_request_active((uvh_request_t *)mg->mg_ptr))
      UVX_CROAK("Uvent::HTTP::Pool->request: this request is already in progress");
    if (pool->loop == NULL)
      UVX_CROAK("Uvent::HTTP::Pool->request: the pool's loop has been destroyed");
    uvx_request_values(aTHX_ hv, f);
    if (UVX_NEEDS_PERL(f) || pool->has_jar) {
      /* the body or headers are made in Perl, which submits with _submit_hop */
      dSP;
      uvx_check_redirect_fields(aTHX_ f, "Uvent::HTTP::Pool->request");
      PUSHMARK(SP);
      XPUSHs(ST(0));
      XPUSHs(sv_2mortal(newRV_inc((SV *)hv)));
      PUTBACK;
      call_pv("Uvent::HTTP::Pool::_submit_first", G_SCALAR);
      SPAGAIN;
      RETVAL = newSVsv(POPs);
      PUTBACK;
    } else {
      RETVAL = uvx_pool_submit(aTHX_ pool, hv, f, uvx_on_response, GIMME_V != G_VOID, "Uvent::HTTP::Pool->request");
    }
  OUTPUT:
    RETVAL

SV *
_submit_hop(uvx_pool_t *pool, SV *request, HV *fields)
  CODE:
    /* one hop of a request (Pool.pm: the first with a form, json or a
     * cookie jar, and every redirect): the core request is built from
     * `fields`, the callback goes to the redirect step */
    SV *f[UVX_NFIELDS];
    if (!SvROK(request) || SvTYPE(SvRV(request)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Pool->_submit_hop: not a request");
    uvx_hold(aTHX_ SvRV(request));
    uvx_hold(aTHX_ (SV *)fields);
    uvx_hold_pool_loop(aTHX_ pool);
    if (pool->loop == NULL)
      UVX_CROAK("Uvent::HTTP::Pool->request: the pool's loop has been destroyed");
    uvx_request_values(aTHX_ fields, f);
    RETVAL = uvx_pool_submit(aTHX_ pool, (HV *)SvRV(request), f, uvx_on_hop, 1, "Uvent::HTTP::Pool->request");
  OUTPUT:
    RETVAL

void
_count_error(uvx_pool_t *pool, const char *code)
  CODE:
    uvh_pool_count_error(pool->core, uvh_err_by_code(code));

SV *
_defaults(uvx_pool_t *pool, SV *defaults = NULL)
  CODE:
    /* the request defaults Pool.pm keeps for the redirect step and cookies */
    if (defaults) {
      SV **jar;
      if (pool->defaults)
        SvREFCNT_dec(pool->defaults);
      pool->defaults = newSVsv(defaults);
      jar = SvROK(defaults) && SvTYPE(SvRV(defaults)) == SVt_PVHV ? hv_fetchs((HV *)SvRV(defaults), "cookie_jar", 0) : NULL;
      pool->has_jar = jar && SvOK(*jar);
    }
    RETVAL = pool->defaults ? newSVsv(pool->defaults) : &PL_sv_undef;
  OUTPUT:
    RETVAL

SV *
loop(uvx_pool_t *pool)
  CODE:
    RETVAL = pool->loop ? newRV_inc(pool->loop->self) : &PL_sv_undef;
  OUTPUT:
    RETVAL

unsigned
size(uvx_pool_t *pool)
  ALIAS:
    nbusy = 1
    nqueued = 2
  CODE:
    RETVAL = ix == 0 ? uvh_pool_size(pool->core) : ix == 1 ? uvh_pool_nbusy(pool->core) : uvh_pool_nqueued(pool->core);
  OUTPUT:
    RETVAL

double
idle_timeout(uvx_pool_t *pool, SV *value = NULL)
  CODE:
    if (value) {
      double v = uvx_seconds(aTHX_ "Uvent::HTTP::Pool->idle_timeout", value, "seconds");
      if (uvh_pool_set_idle_timeout(pool->core, v))
        UVX_CROAK("Uvent::HTTP::Pool->idle_timeout: 'seconds' must be a finite number of seconds >= 0 (at most "
                  "1e9), got '%g'", v);
      uvx_wake(aTHX);
      uvx_rethrow(aTHX);
    }
    RETVAL = uvh_pool_idle_timeout(pool->core);
  OUTPUT:
    RETVAL

UV
max_connections(uvx_pool_t *pool, SV *value = NULL)
  CODE:
    if (value) {
      double v = uvx_num(aTHX_ value, "Uvent::HTTP::Pool->max_connections", "n");
      if (!(v >= 1 && v <= 1e6) || v != (double)(unsigned)v)
        UVX_CROAK("Uvent::HTTP::Pool->max_connections: must be a whole number >= 1 (at most 1000000), got '%g'", v);
      if (pool->loop == NULL)
        UVX_CROAK("Uvent::HTTP::Pool->max_connections: the pool's loop has been destroyed");
      /* queued requests may start, or fail, and call back */
      uvx_hold_pool_loop(aTHX_ pool);
      uvh_pool_set_max_connections(pool->core, (unsigned)v);
      uvx_wake(aTHX);
      uvx_rethrow(aTHX);
    }
    RETVAL = uvh_pool_max_connections(pool->core);
  OUTPUT:
    RETVAL

UV
max_headers_size(uvx_pool_t *pool)
  ALIAS:
    max_body_size = 1
  CODE:
    RETVAL = ix == 0 ? uvh_pool_max_headers_size(pool->core) : uvh_pool_max_body_size(pool->core);
  OUTPUT:
    RETVAL

void
_set_tls(uvx_pool_t *pool, SV *tls)
  CODE:
    uvh_tls_config_t cfg;
    int rc;
    uvx_hold_pool_loop(aTHX_ pool);
    uvx_tls_config(aTHX_ tls, &cfg, "Uvent::HTTP::Pool->new");
    if ((rc = uvh_pool_set_tls(pool->core, &cfg)))
      UVX_CROAK("Uvent::HTTP::Pool->new: %s",
                *uvh_pool_last_error(pool->core) ? uvh_pool_last_error(pool->core) : uvh_strerror(rc));

void
_set_socket(uvx_pool_t *pool, HV *options)
  CODE:
    uvh_socket_config_t cfg;
    SV *vals[6];
    int i;
    for (i = 0; i < 6; i++) {
      SV **v = hv_fetch(options, uvx_socket_keys[i], (I32)strlen(uvx_socket_keys[i]), 0);
      vals[i] = v ? sv_mortalcopy(*v) : NULL;
    }
    uvx_socket_config(aTHX_ "Uvent::HTTP::Pool->new", vals, &cfg);
    if (uvh_pool_set_socket(pool->core, &cfg))
      UVX_CROAK("Uvent::HTTP::Pool->new: %s", uvh_pool_last_error(pool->core));

void
_set_resolve(uvx_pool_t *pool, SV *host, unsigned port, AV *ips)
  CODE:
    const char **list;
    STRLEN len;
    const char *h = uvx_bytes(aTHX_ host, &len, "Uvent::HTTP::Pool->new", "resolve", NULL);
    SSize_t i, n = av_len(ips) + 1;
    int rc;
    /* Pool.pm has checked the shape: plain strings */
    Newxz(list, n + 1, const char *);
    SAVEFREEPV(list);
    for (i = 0; i < n; i++) {
      SV **v = av_fetch(ips, i, 0);
      list[i] = v ? uvx_bytes(aTHX_ *v, &len, "Uvent::HTTP::Pool->new", "resolve", NULL) : "";
      if (strlen(list[i]) != len)
        list[i] = "";
    }
    if ((rc = uvh_pool_set_resolve(pool->core, h, (uint16_t)port, list, (unsigned)n)))
      UVX_CROAK("Uvent::HTTP::Pool->new: %s", *uvh_pool_last_error(pool->core) ? uvh_pool_last_error(pool->core) : uvh_strerror(rc));

void
_set_proxy(uvx_pool_t *pool, int slot, SV *url, const char *name)
  CODE:
    STRLEN len = 0;
    const char *s = NULL;
    int rc;
    /* Pool.pm has checked that it is a defined plain string */
    if (SvOK(url))
      s = uvx_bytes(aTHX_ url, &len, "Uvent::HTTP::Pool->new", name, NULL);
    if ((rc = uvh_pool_set_proxy(pool->core, (uvh_proxy_slot_t)slot, s, len)))
      UVX_CROAK("Uvent::HTTP::Pool->new: %s: %s", name,
                *uvh_pool_last_error(pool->core) ? uvh_pool_last_error(pool->core) : uvh_strerror(rc));

void
_set_no_proxy(uvx_pool_t *pool, SV *list)
  CODE:
    STRLEN len = 0;
    const char *s = SvOK(list) ? uvx_bytes(aTHX_ list, &len, "Uvent::HTTP::Pool->new", "no_proxy", NULL) : NULL;
    if (s && memchr(s, '\0', len))
      UVX_CROAK("Uvent::HTTP::Pool->new: env_proxy: no_proxy contains a NUL");
    if (uvh_pool_set_no_proxy(pool->core, s))
      UVX_CROAK("Uvent::HTTP::Pool->new: out of memory");

SV *
stats(uvx_pool_t *pool, SV *destination = NULL, SV *tls = NULL)
  CODE:
    const uvh_pool_stats_t *st;
    HV *hv, *errors;
    int slot;
    unsigned queued;
    uvx_hold_pool_loop(aTHX_ pool); /* an overloaded destination runs Perl code */
    if (destination)
      destination = uvx_plain(aTHX_ destination);
    if (destination && SvOK(destination)) {
      /* any URL of the destination will do: its key is what counts */
      STRLEN len;
      const char *s = uvx_bytes(aTHX_ destination, &len, "Uvent::HTTP::Pool->stats", "destination", NULL);
      uvh_request_t *r;
      if (uvh_request_new(&r))
        UVX_CROAK("Uvent::HTTP::Pool->stats: out of memory");
      SAVEDESTRUCTOR_X(uvx_request_release, r);
      if (uvh_request_set_url(r, s, len))
        UVX_CROAK("Uvent::HTTP::Pool->stats: %s", uvh_request_last_error(r));
      if (tls && SvOK(tls)) {
        uvh_tls_config_t cfg;
        uvx_tls_config(aTHX_ tls, &cfg, "Uvent::HTTP::Pool->stats");
        if (uvh_request_set_tls(r, &cfg))
          UVX_CROAK("Uvent::HTTP::Pool->stats: %s", uvh_request_last_error(r));
      }
      uvh_request_ref(r);
      st = uvh_pool_dest_stats(pool->core, r, &queued);
      uvh_request_unref(r);
      if (st == NULL)
        XSRETURN_UNDEF;
    } else {
      st = uvh_pool_stats(pool->core);
      queued = uvh_pool_nqueued(pool->core);
    }
    hv = newHV();
    errors = newHV();
    for (slot = 0; slot < UVH_ERROR_SLOTS; slot++) {
      int code = UVH_E_RESOLVE - slot;
      if (code == UVH_E_INHERITED)
        continue;
      hv_store(errors, uvh_err_code(code), (I32)strlen(uvh_err_code(code)), newSVuv((UV)st->errors[slot]), 0);
    }
    /* the one asynchronous code outside the slots */
    hv_stores(errors, "nomem", newSVuv((UV)st->errors_other));
    hv_stores(hv, "requests", newSVuv((UV)st->requests));
    hv_stores(hv, "responses", newSVuv((UV)st->responses));
    hv_stores(hv, "errors", newRV_noinc((SV *)errors));
    hv_stores(hv, "connections_opened", newSVuv((UV)st->connections_opened));
    hv_stores(hv, "connections_closed", newSVuv((UV)st->connections_closed));
    hv_stores(hv, "reused", newSVuv((UV)st->reused));
    hv_stores(hv, "retried", newSVuv((UV)st->retried));
    hv_stores(hv, "idle_closed_timeout", newSVuv((UV)st->idle_closed_timeout));
    hv_stores(hv, "idle_closed_peer", newSVuv((UV)st->idle_closed_peer));
    hv_stores(hv, "queued", newSVuv(queued));
    hv_stores(hv, "max_queued", newSVuv((UV)st->max_queued));
    hv_stores(hv, "queue_wait", newSVnv((double)st->queue_wait_ms / 1000.0));
    hv_stores(hv, "tls_handshakes", newSVuv((UV)st->tls_handshakes));
    hv_stores(hv, "tls_resumed", newSVuv((UV)st->tls_resumed));
    hv_stores(hv, "dns_lookups", newSVuv((UV)st->dns_lookups));
    hv_stores(hv, "dns_cache_hits", newSVuv((UV)st->dns_cache_hits));
    hv_stores(hv, "dns_shared", newSVuv((UV)st->dns_shared));
    RETVAL = newRV_noinc((SV *)hv);
  OUTPUT:
    RETVAL

void
shutdown(uvx_pool_t *pool)
  CODE:
    uvx_hold_pool_loop(aTHX_ pool); /* the callbacks may drop both */
    uvh_pool_shutdown(pool->core);
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);

void
DESTROY(SV *self)
  CODE:
    uvx_pool_t *pool = INT2PTR(uvx_pool_t *, SvIV(SvRV(self)));
    if (pool == NULL)
      return;
    sv_setiv(SvRV(self), 0);
    uvh_pool_set_data(pool->core, NULL);
    /* at global destruction the core and its loop are left alone */
    if (PL_phase != PERL_PHASE_DESTRUCT) {
      uvh_pool_release(pool->core);
      uvh_pool_unref(pool->core);
      if (pool->loop_rv)
        SvREFCNT_dec(pool->loop_rv);
      if (pool->defaults)
        SvREFCNT_dec(pool->defaults);
      uvx_wake(aTHX); /* its handles close from the next run */
    }
    Safefree(pool);
