/* callbacks.h - core callbacks that enter Perl, each through uvx_call.
 * Each opens its own ENTER/SAVETMPS scope: they run from inside uv_run,
 * where no Perl statement would otherwise free temporaries.
 */
#ifndef UVX_CALLBACKS_H
#define UVX_CALLBACKS_H
#include "glue.h"

/* The core request of a Uvent::HTTP::Request hash lives in ext magic;
 * freeing the hash drops the reference. */
static int uvx_request_mg_free(pTHX_ SV *sv, MAGIC *mg) {
  if (mg->mg_ptr)
    uvh_request_unref((uvh_request_t *)mg->mg_ptr);
  mg->mg_ptr = NULL;
  return 0;
}

static MGVTBL uvx_request_vtbl = {0, 0, 0, 0, uvx_request_mg_free, 0, 0, 0};

static MAGIC *uvx_request_magic(pTHX_ SV *hv) {
  return SvMAGICAL(hv) ? mg_findext(hv, PERL_MAGIC_ext, &uvx_request_vtbl) : NULL;
}

/* A Uvent::HTTP::Response holds its core response by ext magic on the
 * object's scalar (the pointer is also its IV, for uvx_unwrap): freeing
 * the object drops the reference with no DESTROY method call, which
 * would cost more than the rest of the object. */
static int uvx_response_mg_free(pTHX_ SV *sv, MAGIC *mg) {
  if (mg->mg_ptr)
    uvh_response_unref((uvh_response_t *)mg->mg_ptr);
  mg->mg_ptr = NULL;
  return 0;
}

static MGVTBL uvx_response_vtbl = {0, 0, 0, 0, uvx_response_mg_free, 0, 0, 0};

/* A new Uvent::HTTP::Response object owning one reference to `resp`.
 * `where` (counted by the magic, may be NULL) is what its uri and
 * redirects methods read: the request's uri, or after redirects an
 * array [final uri, [earlier responses]] (Pool.pm's _hop_done sets it
 * with Uvent::HTTP::Response::_set_chain). */
static SV *uvx_response_new(pTHX_ uvh_response_t *resp, SV *where) {
  dMY_CXT;
  SV *inner = newSViv(PTR2IV(resp));
  uvh_response_ref(resp);
  sv_magicext(inner, where, PERL_MAGIC_ext, &uvx_response_vtbl, (const char *)resp, 0);
  return sv_bless(newRV_noinc(inner), MY_CXT.stash_response);
}

/* The response's magic (uvx_response_new), for uri and redirects. */
static MAGIC *uvx_response_magic(pTHX_ SV *obj) {
  return SvROK(obj) && SvMAGICAL(SvRV(obj)) ? mg_findext(SvRV(obj), PERL_MAGIC_ext, &uvx_response_vtbl) : NULL;
}

/* The uri the request's current core request was built from, which
 * uvx_pool_submit keeps in the request's magic (an earlier value set
 * through the accessor is a new scalar: Request.pm), for the response. */
static SV *uvx_request_uri(pTHX_ HV *hv) {
  MAGIC *mg = uvx_request_magic(aTHX_ (SV *)hv);
  return mg ? mg->mg_obj : NULL;
}

static SV *uvx_make_error(pTHX_ const uvh_error_t *err) {
  dMY_CXT;
  HV *hv = newHV();
  hv_stores(hv, "code", newSVpv(uvh_err_code(err->code), 0));
  hv_stores(hv, "errno", err->sys_err ? newSVpv(uv_err_name(err->sys_err), 0) : newSV(0));
  hv_stores(hv, "message", newSVpv(err->message, 0));
  return sv_bless(newRV_noinc((SV *)hv), MY_CXT.stash_error);
}

/* The statuses the redirect step follows. */
#define UVX_IS_REDIRECT(s) ((s) == 301 || (s) == 302 || (s) == 303 || (s) == 307 || (s) == 308)

/* The key of a request hash whose partial_callback died: it is not
 * called again (uvx_partial_done), and the key goes with the request's
 * end, as Pool.pm's _uvent_chain does. */
#define UVX_PARTIAL_DIED "_uvent_partial_died"

/* The core's partial hook (uvh_request_set_partial): the head and each
 * piece of a streamed body go to the request's partial_callback as
 * ($request, $response, undef), the response's body holding only the
 * piece. A redirect status is buffered: the redirect step reads it, and
 * only the response that ends a chain streams. If the callback dies, the
 * request is cancelled (its connection discarded), its response_callback
 * runs once with that error, and run rethrows the exception. */
static int uvx_on_partial(uvh_request_t *req, uvh_response_t *resp, int head, void *data) {
  dTHX;
  HV *hv = (HV *)data;
  SV *args[3], **cbp, *body;
  int died;
  if (PL_phase == PERL_PHASE_DESTRUCT)
    return head ? UVH_PARTIAL_BUFFER : 0;
  if (head && UVX_IS_REDIRECT(uvh_response_status(resp)))
    return UVH_PARTIAL_BUFFER;
  ENTER;
  SAVETMPS;
  cbp = hv_fetchs(hv, "partial_callback", 0);
  args[0] = sv_2mortal(newRV_inc((SV *)hv));
  args[1] = sv_2mortal(uvx_response_new(aTHX_ resp, uvx_request_uri(aTHX_ hv)));
  args[2] = &PL_sv_undef;
  /* a copy: the callback may replace its own field while it runs */
  died = uvx_call_in_scope(aTHX_ cbp ? sv_2mortal(newSVsv(*cbp)) : NULL, args, 3);
  /* the piece's string (uvx_response_body) goes: the next piece is another */
  if ((body = (SV *)uvh_response_get_data(resp)) != NULL) {
    uvh_response_set_data(resp, NULL, NULL);
    SvREFCNT_dec(body);
  }
  if (died) {
    (void)hv_stores(hv, UVX_PARTIAL_DIED, newSViv(1));
    uvh_request_cancel_with(req, UVH_E_CANCELLED, "the partial_callback died");
  }
  FREETMPS;
  LEAVE;
  return 0;
}

/* A streamed response's last call of its partial_callback, with
 * $response->is_done true and the request's $error: before the
 * response_callback, in the caller's scope, unless it died before. */
static void uvx_partial_done(pTHX_ HV *hv, SV **args) {
  SV **cbp;
  if (hv_delete(hv, UVX_PARTIAL_DIED, sizeof(UVX_PARTIAL_DIED) - 1, 0))
    return;
  cbp = hv_fetchs(hv, "partial_callback", 0);
  uvx_call_in_scope(aTHX_ cbp ? sv_2mortal(newSVsv(*cbp)) : NULL, args, 3);
}

/* A hop of a request that the redirect step handles (Pool.pm's
 * _hop_done): a redirect response of any request, and every response of
 * a request with a cookie jar or one past its first hop. _hop_done
 * submits the next hop or calls the response_callback, once per chain;
 * it gets ($request, $response, $error, $pool, $time_left), $pool undef
 * when the Perl pool is gone, $time_left -1 for no timeout. */
static void uvx_on_hop(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  dTHX;
  HV *hv = (HV *)data;
  SV *args[5];
  uvh_pool_t *core_pool = uvh_request_pool(req);
  uvx_pool_t *pool = core_pool ? (uvx_pool_t *)uvh_pool_get_data(core_pool) : NULL;

  if (PL_phase == PERL_PHASE_DESTRUCT)
    return;
  if (err && err->code == UVH_E_INHERITED) {
    SvREFCNT_dec((SV *)hv);
    return;
  }
  ENTER;
  SAVETMPS;
  args[0] = sv_2mortal(newRV_inc((SV *)hv));
  SvREFCNT_dec((SV *)hv); /* the pin taken at submit */
  args[1] = sv_2mortal(uvx_response_new(aTHX_ resp, uvx_request_uri(aTHX_ hv)));
  args[2] = err ? sv_2mortal(uvx_make_error(aTHX_ err)) : &PL_sv_undef;
  args[3] = pool ? sv_2mortal(newRV_inc(pool->self)) : &PL_sv_undef;
  args[4] = sv_2mortal(newSVnv(uvh_request_time_left(req)));
  if (uvh_response_streamed(resp)) /* the final hop: a redirect is never streamed */
    uvx_partial_done(aTHX_ hv, args);
  uvx_call_in_scope(aTHX_ sv_2mortal(newRV_inc((SV *)get_cv("Uvent::HTTP::Pool::_hop_done", GV_ADD))), args, 5);
  FREETMPS;
  LEAVE;
}

/* A request finished: call its response_callback with ($request, $response, $error). */
static void uvx_on_response(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  dTHX;
  dMY_CXT;
  HV *hv = (HV *)data;
  SV *args[3], **cbp;
  SV *cb = NULL;

  if (PL_phase == PERL_PHASE_DESTRUCT)
    return; /* the pin on `hv` is left to global destruction */
  if (err && err->code == UVH_E_INHERITED) {
    /* a child after fork: the request belongs to the parent, which gets
     * the callback; here it is only released */
    SvREFCNT_dec((SV *)hv);
    return;
  }
  if (err == NULL && UVX_IS_REDIRECT(uvh_response_status(resp))) {
    uvx_on_hop(req, resp, err, data); /* maybe followed: Pool.pm decides */
    return;
  }
  ENTER;
  SAVETMPS;
  args[0] = sv_2mortal(newRV_inc((SV *)hv)); /* keeps the request alive past the unpin */
  SvREFCNT_dec((SV *)hv);                    /* the pin taken by _submit */
  args[1] = sv_2mortal(uvx_response_new(aTHX_ resp, uvx_request_uri(aTHX_ hv)));
  args[2] = err ? sv_2mortal(uvx_make_error(aTHX_ err)) : &PL_sv_undef;
  if (uvh_response_streamed(resp))
    uvx_partial_done(aTHX_ hv, args);
  cbp = hv_fetchs(hv, "response_callback", 0);
  /* no Perl code runs before call_sv takes the CV (and holds it while it
   * runs): the hash's own value serves, unless reading it runs magic */
  if (cbp && SvGMAGICAL(*cbp))
    cb = sv_2mortal(newSVsv(*cbp));
  else if (cbp && SvROK(*cbp))
    cb = *cbp;
  uvx_call_in_scope(aTHX_ cb, args, 3); /* the scope opened above */
  FREETMPS;
  LEAVE;
}

/* A body read in pieces: a CODE reference, or a filehandle (a glob, a
 * reference to one, an IO::Handle). */
#define UVX_IS_BODY_SOURCE(sv)                                                                         \
  (SvROK(sv) && (SvTYPE(SvRV(sv)) == SVt_PVCV || SvTYPE(SvRV(sv)) == SVt_PVGV || SvTYPE(SvRV(sv)) == SVt_PVIO))

/* The core wants the next piece of a streamed body: Pool.pm's _body_piece
 * reads it from the source (a CODE reference called, a filehandle read);
 * its death (the code ref died, a read failed) ends the request with
 * request_body, and an empty piece ends the body. $@ is kept. */
static void uvx_on_pull(uvh_request_t *req, void *data) {
  dTHX;
  HV *hv = (HV *)data;
  SV *piece, *saved_errsv;
  int count;
  if (PL_phase == PERL_PHASE_DESTRUCT)
    return;
  ENTER;
  SAVETMPS;
  saved_errsv = SvTRUE(ERRSV) ? sv_2mortal(newSVsv(ERRSV)) : NULL;
  {
    dSP;
    PUSHMARK(SP);
    XPUSHs(sv_2mortal(newRV_inc((SV *)hv)));
    PUTBACK;
    count = call_pv("Uvent::HTTP::Pool::_body_piece", G_SCALAR | G_EVAL);
    SPAGAIN;
    piece = count ? POPs : &PL_sv_undef;
    PUTBACK;
  }
  if (SvTRUE(ERRSV)) {
    STRLEN len;
    const char *m = SvPV(ERRSV, len);
    SV *why = sv_2mortal(newSVpvn(m, len && m[len - 1] == '\n' ? len - 1 : len));
    uvh_request_cancel_with(req, UVH_E_REQUEST_BODY, SvPV_nolen(why));
  } else {
    STRLEN len = 0;
    const char *p = SvOK(piece) ? SvPV(piece, len) : "";
    uvh_request_send_body(req, p, len, len == 0);
  }
  if (saved_errsv)
    sv_setsv(ERRSV, saved_errsv);
  else
    sv_setpvs(ERRSV, "");
  FREETMPS;
  LEAVE;
}

/* A 100 Continue arrived: the continue_callback gets ($request). */
static void uvx_on_continue(uvh_request_t *req, void *data) {
  dTHX;
  HV *hv = (HV *)data;
  SV **cbp, *arg;
  if (PL_phase == PERL_PHASE_DESTRUCT || (cbp = hv_fetchs(hv, "continue_callback", 0)) == NULL)
    return;
  ENTER;
  SAVETMPS;
  arg = sv_2mortal(newRV_inc((SV *)hv));
  uvx_call_in_scope(aTHX_ sv_2mortal(newSVsv(*cbp)), &arg, 1);
  FREETMPS;
  LEAVE;
}

static void uvx_on_timer(uvh_timer_t *core, void *data) {
  dTHX;
  uvx_timer_t *t = (uvx_timer_t *)data;
  SV *self_rv, *cb;
  if (PL_phase == PERL_PHASE_DESTRUCT)
    return;
  ENTER;
  SAVETMPS;
  self_rv = sv_2mortal(newRV_inc(t->self));
  cb = sv_2mortal(newSVsv(t->cb));
  if (t->pinned && !uvh_timer_active(core)) {
    t->pinned = 0; /* a fired one-shot timer no longer keeps itself alive */
    SvREFCNT_dec(t->self);
  }
  uvx_call(aTHX_ cb, &self_rv, 1);
  FREETMPS;
  LEAVE;
}

#endif
