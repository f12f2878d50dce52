/* Uvent.xs - Perl glue for the Uvent core. Each class lives in its own
 * .xsh file; shared helpers are in glue.h, callbacks in callbacks.h.
 * The glue converts arguments, calls one core function, maps errors. */
#include "glue.h"
#include "callbacks.h"

static void uvx_croak_request(pTHX_ uvh_request_t *r, int rc) {
  SV *msg = sv_2mortal(newSVpvf("Uvent::HTTP::Pool->request: %s",
                                *uvh_request_last_error(r) ? uvh_request_last_error(r) : uvh_strerror(rc)));
  uvh_request_unref(r);
  uvx_croak_sv(aTHX_ msg);
}

static SV *uvx_field(pTHX_ HV *hv, const char *key, I32 klen) {
  SV **svp = hv_fetch(hv, key, klen, 0);
  return svp && SvOK(*svp) ? *svp : NULL;
}
#define FIELD(hv, key) uvx_field(aTHX_ hv, "" key "", sizeof(key) - 1)

static int uvx_add_header(pTHX_ uvh_request_t *r, SV *name, SV *value) {
  STRLEN nl, vl;
  const char *n, *v;
  if (!SvOK(name) || SvROK(name) || !SvOK(value) || SvROK(value)) {
    SV *msg = sv_2mortal(newSVpvf("Uvent::HTTP::Pool->request: header names and values must be defined strings (header '%" SVf "')",
                                  SVfARG(SvOK(name) ? name : &PL_sv_no)));
    uvh_request_unref(r);
    uvx_croak_sv(aTHX_ msg);
  }
  n = SvPVbyte(name, nl);
  v = SvPVbyte(value, vl);
  return uvh_request_add_header(r, n, nl, v, vl);
}

/* Build a core request from a Uvent::HTTP::Request hash. Croaks, having
 * freed it, on any bad field: nothing is sent. */
static uvh_request_t *uvx_build_request(pTHX_ HV *hv) {
  uvh_request_t *r;
  SV *sv;
  STRLEN len;
  const char *s;
  int rc;

  if (uvh_request_new(&r))
    UVX_CROAK("Uvent::HTTP::Pool->request: out of memory");
  if ((sv = FIELD(hv, "uri")) == NULL) {
    uvh_request_unref(r);
    UVX_CROAK("Uvent::HTTP::Pool->request: 'uri' is required");
  }
  if (SvROK(sv) && !sv_isobject(sv)) {
    uvh_request_unref(r);
    UVX_CROAK("Uvent::HTTP::Pool->request: 'uri' must be a string, not a reference");
  }
  s = SvPVbyte(sv, len);
  if ((rc = uvh_request_set_url(r, s, len)))
    uvx_croak_request(aTHX_ r, rc);
  if ((sv = FIELD(hv, "method"))) {
    s = SvPVbyte(sv, len);
    if ((rc = uvh_request_set_method(r, s, len)))
      uvx_croak_request(aTHX_ r, rc);
  }
  if ((sv = FIELD(hv, "headers"))) {
    if (SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVHV) {
      HV *h = (HV *)SvRV(sv);
      HE *he;
      hv_iterinit(h);
      while ((he = hv_iternext(h))) {
        SV *name = hv_iterkeysv(he), *val = hv_iterval(h, he);
        if (SvROK(val) && SvTYPE(SvRV(val)) == SVt_PVAV) { /* one name, several values */
          AV *vals = (AV *)SvRV(val);
          SSize_t i;
          for (i = 0; i <= av_len(vals); i++) {
            SV **v = av_fetch(vals, i, 0);
            if ((rc = uvx_add_header(aTHX_ r, name, v ? *v : &PL_sv_undef)))
              uvx_croak_request(aTHX_ r, rc);
          }
        } else if ((rc = uvx_add_header(aTHX_ r, name, val))) {
          uvx_croak_request(aTHX_ r, rc);
        }
      }
    } else if (SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVAV) {
      AV *a = (AV *)SvRV(sv);
      SSize_t i, n = av_len(a) + 1;
      if (n % 2) {
        uvh_request_unref(r);
        UVX_CROAK("Uvent::HTTP::Pool->request: 'headers' arrayref must hold name => value pairs (odd number of elements)");
      }
      for (i = 0; i < n; i += 2) {
        SV **name = av_fetch(a, i, 0), **val = av_fetch(a, i + 1, 0);
        if ((rc = uvx_add_header(aTHX_ r, name ? *name : &PL_sv_undef, val ? *val : &PL_sv_undef)))
          uvx_croak_request(aTHX_ r, rc);
      }
    } else {
      uvh_request_unref(r);
      UVX_CROAK("Uvent::HTTP::Pool->request: 'headers' must be a hashref or an arrayref of name => value pairs");
    }
  }
  if ((sv = FIELD(hv, "body"))) {
    if (SvROK(sv)) {
      uvh_request_unref(r);
      UVX_CROAK("Uvent::HTTP::Pool->request: 'body' must be a string, not a reference");
    }
    s = SvPVbyte(sv, len);
    if ((rc = uvh_request_set_body(r, s, len)))
      uvx_croak_request(aTHX_ r, rc);
  }
  if ((sv = FIELD(hv, "timeout")) && (rc = uvh_request_set_timeout(r, uvx_num(aTHX_ sv, "'timeout'"))))
    uvx_croak_request(aTHX_ r, rc);
  if ((sv = FIELD(hv, "connect_timeout")) &&
      (rc = uvh_request_set_connect_timeout(r, uvx_num(aTHX_ sv, "'connect_timeout'"))))
    uvx_croak_request(aTHX_ r, rc);
  {
    SV *mh = FIELD(hv, "max_headers_size"), *mb = FIELD(hv, "max_body_size");
    uvh_request_set_limits(r, mh ? (size_t)uvx_num(aTHX_ mh, "'max_headers_size'") : UVH_LIMIT_INHERIT,
                           mb ? (size_t)uvx_num(aTHX_ mb, "'max_body_size'") : UVH_LIMIT_INHERIT);
  }
  if ((sv = FIELD(hv, "response_callback")) && !(SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVCV)) {
    uvh_request_unref(r);
    UVX_CROAK("Uvent::HTTP::Pool->request: 'response_callback' must be a CODE reference");
  }
  uvh_request_set_callback(r, uvx_on_response, hv);
  return r;
}

MODULE = Uvent    PACKAGE = Uvent

PROTOTYPES: DISABLE

BOOT:
{
  MY_CXT_INIT;
  MY_CXT.pending_error = NULL;
  MY_CXT.running = NULL;
  MY_CXT.default_loop = NULL;
  MY_CXT.in_sync = 0;
  MY_CXT.stash_response = gv_stashpv("Uvent::HTTP::Response", GV_ADD);
  MY_CXT.stash_client = gv_stashpv("Uvent::HTTP::Client", GV_ADD);
  MY_CXT.stash_error = gv_stashpv("Uvent::Error", GV_ADD);
  MY_CXT.stash_pool = gv_stashpv("Uvent::HTTP::Pool", GV_ADD);
  MY_CXT.stash_loop = gv_stashpv("Uvent::Loop", GV_ADD);
  MY_CXT.stash_timer = gv_stashpv("Uvent::Timer", GV_ADD);
}

const char *
core_version()
  CODE:
    RETVAL = UVH_VERSION;
  OUTPUT:
    RETVAL

INCLUDE: loop.xsh

INCLUDE: timer.xsh

INCLUDE: pool.xsh

INCLUDE: request.xsh

INCLUDE: response.xsh

INCLUDE: client.xsh
