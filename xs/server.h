/* server.h - the glue of Uvent::HTTP::Server and ::ServerRequest: the
 * Perl-side server state and the core server's callbacks into Perl
 * (through the one trampoline, uvx_call_in_scope).
 *
 * A ServerRequest is a blessed reference to a scalar holding the core
 * request, which owns one reference to it through ext magic (freed with
 * the scalar, no DESTROY call); the magic's object is the request's
 * drop_callback. The core request's data points back at that scalar
 * while it lives (not counted), for on_drop. A drain_callback waiting
 * for on_drain sits in a second ext magic (uvx_sdrain_vtbl) and pins the
 * scalar (one count) until it runs or is cancelled.
 */
#ifndef UVX_SERVER_H
#define UVX_SERVER_H
#include "glue.h"

typedef struct {
  uvh_server_t *core;
  SV *self;       /* the object's inner SV, not counted */
  SV *loop_rv;    /* counted */
  SV *request_cb; /* counted CODE ref, or NULL */
  SV *route_cb;   /* counted CODE ref, or NULL */
  SV *partial_cb; /* counted CODE ref, or NULL */
  SV *stopped_cb; /* counted CODE ref for the graceful stop under way, or NULL */
  SV *scoreboard_rv; /* counted: the manager's scoreboard this server's requests are counted in, or NULL */
} uvx_server_t;

static int uvx_sreq_mg_free(pTHX_ SV *sv, MAGIC *mg) {
  uvh_server_req_t *req = (uvh_server_req_t *)mg->mg_ptr;
  if (req == NULL)
    return 0;
  mg->mg_ptr = NULL;
  uvh_server_req_set_data(req, NULL);
  /* nobody can answer it any more: the server does (500, and the close),
   * unless it is only past its route step (request_callback comes) */
  if (PL_phase != PERL_PHASE_DESTRUCT)
    uvh_server_req_abandon(req);
  uvh_server_req_unref(req);
  return 0;
}

static MGVTBL uvx_sreq_vtbl = {0, 0, 0, 0, uvx_sreq_mg_free, 0, 0, 0};

static MGVTBL uvx_sdrain_vtbl = {0, 0, 0, 0, 0, 0, 0, 0};

/* The waiting drain_callback's magic on the request's scalar, added when `add`. */
static MAGIC *uvx_sreq_drain_magic(pTHX_ SV *inner, int add) {
  MAGIC *mg = SvMAGICAL(inner) ? mg_findext(inner, PERL_MAGIC_ext, &uvx_sdrain_vtbl) : NULL;
  if (mg == NULL && add) {
    mg = sv_magicext(inner, NULL, PERL_MAGIC_ext, &uvx_sdrain_vtbl, NULL, 0);
    mg->mg_flags |= MGf_REFCOUNTED;
  }
  return mg;
}

/* The waiting drain_callback, taken off (NULL for none); the caller owns
 * it and the pin on `inner`, which it must drop. */
static SV *uvx_sreq_drain_take(pTHX_ SV *inner) {
  MAGIC *mg = uvx_sreq_drain_magic(aTHX_ inner, 0);
  SV *cb = mg ? mg->mg_obj : NULL;
  if (cb)
    mg->mg_obj = NULL;
  return cb;
}

/* A drain_callback that will not run (the final chunk, drop): let go of it and its pin. */
static void uvx_sreq_drain_cancel(pTHX_ SV *inner) {
  SV *cb = uvx_sreq_drain_take(aTHX_ inner);
  if (cb == NULL)
    return;
  SvREFCNT_dec(cb);
  sv_2mortal(inner); /* the pin; the caller's argument still holds it */
}

/* The request's Perl object: the one that lives, or a new one. */
static SV *uvx_sreq_obj(pTHX_ uvh_server_req_t *req) {
  SV *inner = (SV *)uvh_server_req_get_data(req);
  if (inner)
    return newRV_inc(inner);
  inner = newSViv(PTR2IV(req));
  uvh_server_req_ref(req);
  sv_magicext(inner, NULL, PERL_MAGIC_ext, &uvx_sreq_vtbl, (const char *)req, 0);
  uvh_server_req_set_data(req, inner);
  return sv_bless(newRV_noinc(inner), gv_stashpvs("Uvent::HTTP::ServerRequest", GV_ADD));
}

static MAGIC *uvx_sreq_magic(pTHX_ SV *obj) {
  return SvROK(obj) && SvMAGICAL(SvRV(obj)) ? mg_findext(SvRV(obj), PERL_MAGIC_ext, &uvx_sreq_vtbl) : NULL;
}

/* The core request of a ServerRequest argument, or croak. */
static uvh_server_req_t *uvx_sreq(pTHX_ SV *obj) {
  MAGIC *mg = uvx_sreq_magic(aTHX_ obj);
  if (mg == NULL || !sv_derived_from(obj, "Uvent::HTTP::ServerRequest"))
    UVX_CROAK("request is not of type Uvent::HTTP::ServerRequest");
  uvx_hold(aTHX_ SvRV(obj));
  return (uvh_server_req_t *)mg->mg_ptr;
}

/* cb($request); a callback that died gets its request failed (500 and a close). */
static void uvx_server_call(pTHX_ SV *cb, uvh_server_req_t *req) {
  SV *obj;
  ENTER;
  SAVETMPS;
  obj = sv_2mortal(uvx_sreq_obj(aTHX_ req));
  if (uvx_call_in_scope(aTHX_ cb, &obj, 1))
    uvh_server_req_fail(req);
  FREETMPS;
  LEAVE;
}

/* A whole request arrived: request_callback($request). A callback that
 * died gets its request answered with 500 (if nothing was sent yet) and
 * the connection closed; the exception is rethrown by run. */
static void uvx_server_on_request(uvh_server_t *core, uvh_server_req_t *req, void *data) {
  dTHX;
  uvx_server_t *srv = (uvx_server_t *)data;
  if (PL_phase == PERL_PHASE_DESTRUCT || srv == NULL || srv->request_cb == NULL) {
    uvh_server_req_fail(req);
    return;
  }
  uvx_server_call(aTHX_ srv->request_cb, req);
}

/* The route step: route_callback($request), when set. */
static void uvx_server_on_head(uvh_server_t *core, uvh_server_req_t *req, void *data) {
  dTHX;
  uvx_server_t *srv = (uvx_server_t *)data;
  if (PL_phase == PERL_PHASE_DESTRUCT || srv == NULL || srv->route_cb == NULL)
    return;
  uvx_server_call(aTHX_ srv->route_cb, req);
}

/* A piece of a partial body: partial_callback($request, $chunk). */
static void uvx_server_on_body(uvh_server_t *core, uvh_server_req_t *req, const char *d, size_t len, void *data) {
  dTHX;
  uvx_server_t *srv = (uvx_server_t *)data;
  SV *args[2];
  if (PL_phase == PERL_PHASE_DESTRUCT || srv == NULL || srv->partial_cb == NULL)
    return;
  ENTER;
  SAVETMPS;
  args[0] = sv_2mortal(uvx_sreq_obj(aTHX_ req));
  args[1] = sv_2mortal(newSVpvn(d, len));
  if (uvx_call_in_scope(aTHX_ srv->partial_cb, args, 2))
    uvh_server_req_fail(req);
  FREETMPS;
  LEAVE;
}

/* The client went away before its answer: the request's drop_callback($request). */
static void uvx_server_on_drop(uvh_server_t *core, uvh_server_req_t *req, void *data) {
  dTHX;
  SV *inner = (SV *)uvh_server_req_get_data(req), *obj;
  MAGIC *mg;
  if (PL_phase == PERL_PHASE_DESTRUCT || inner == NULL)
    return;
  mg = mg_findext(inner, PERL_MAGIC_ext, &uvx_sreq_vtbl);
  if (mg == NULL || mg->mg_obj == NULL)
    return;
  ENTER;
  SAVETMPS;
  obj = sv_2mortal(newRV_inc(inner));
  uvx_call_in_scope(aTHX_ sv_2mortal(newSVsv(mg->mg_obj)), &obj, 1);
  FREETMPS;
  LEAVE;
}

/* The socket took what was queued, or the connection went: the waiting
 * drain_callback($request), once. One that died fails the request (the
 * connection closes) and is rethrown by run. */
static void uvx_server_on_drain(uvh_server_t *core, uvh_server_req_t *req, void *data) {
  dTHX;
  SV *inner = (SV *)uvh_server_req_get_data(req), *obj, *cb;
  if (PL_phase == PERL_PHASE_DESTRUCT || inner == NULL || (cb = uvx_sreq_drain_take(aTHX_ inner)) == NULL)
    return;
  ENTER;
  SAVETMPS;
  sv_2mortal(cb);
  obj = sv_2mortal(newRV_noinc(inner)); /* takes over the pin */
  if (uvx_call_in_scope(aTHX_ cb, &obj, 1))
    uvh_server_req_fail(req);
  FREETMPS;
  LEAVE;
}

/* A response's [name, value, ...] as core headers (freed with the
 * XSUB's scope); *n gets their count. */
static uvh_server_header_t *uvx_server_headers(pTHX_ AV *headers, size_t *n) {
  SSize_t i, count = (av_top_index(headers) + 1) / 2;
  uvh_server_header_t *h = NULL;
  *n = (size_t)count;
  if (count == 0)
    return NULL;
  Newx(h, count, uvh_server_header_t);
  SAVEFREEPV(h);
  for (i = 0; i < count; i++) {
    SV **nsv = av_fetch(headers, 2 * i, 0), **vsv = av_fetch(headers, 2 * i + 1, 0);
    STRLEN nl, vl;
    h[i].name = uvx_bytes(aTHX_ nsv ? *nsv : &PL_sv_undef, &nl, "respond", "header name", NULL);
    h[i].value = uvx_bytes(aTHX_ vsv ? *vsv : &PL_sv_undef, &vl, "respond", "header", nsv ? *nsv : NULL);
    h[i].name_len = nl;
    h[i].value_len = vl;
  }
  return h;
}

/* A refused response croaks (nothing was sent); a gone connection is 0 for the caller. */
static void uvx_server_check(pTHX_ uvh_server_req_t *req, int rc, const char *what) {
  if (rc == UVH_E_BADHEADER || rc == UVH_E_BADARG || rc == UVH_E_BUSY)
    UVX_CROAK("Uvent::HTTP::ServerRequest->%s: %s", what, uvh_server_req_last_error(req));
  if (rc == UVH_E_NOMEM)
    UVX_CROAK("Uvent::HTTP::ServerRequest->%s: out of memory", what);
}

/* A graceful stop is done: its callback, once. */
static void uvx_server_on_stopped(uvh_server_t *core, void *data) {
  dTHX;
  uvx_server_t *srv = (uvx_server_t *)data;
  SV *cb = srv ? srv->stopped_cb : NULL;
  if (cb == NULL)
    return;
  srv->stopped_cb = NULL;
  if (PL_phase == PERL_PHASE_DESTRUCT) {
    SvREFCNT_dec(cb);
    return;
  }
  ENTER;
  SAVETMPS;
  sv_2mortal(cb); /* the callback may free the server (and srv) */
  uvx_call_in_scope(aTHX_ cb, NULL, 0);
  FREETMPS;
  LEAVE;
}

static const uvh_server_ops_t uvx_server_ops = {uvx_server_on_request, uvx_server_on_drop, uvx_server_on_stopped,
                                                uvx_server_on_head, uvx_server_on_body, uvx_server_on_drain};

#endif
