MODULE = Uvent    PACKAGE = Uvent::HTTP::Response

int
code(uvh_response_t *resp)
  CODE:
    RETVAL = uvh_response_status(resp);
  OUTPUT:
    RETVAL

SV *
message(uvh_response_t *resp)
  CODE:
    size_t len;
    const char *s = uvh_response_reason(resp, &len);
    RETVAL = newSVpvn(s, len);
  OUTPUT:
    RETVAL

SV *
http_version(uvh_response_t *resp)
  CODE:
    RETVAL = uvh_response_status(resp)
           ? newSVpvf("%d.%d", uvh_response_http_major(resp), uvh_response_http_minor(resp))
           : &PL_sv_undef;
  OUTPUT:
    RETVAL

bool
keep_alive(uvh_response_t *resp)
  ALIAS:
    retried = 1
    is_done = 2
    streamed = 3
  CODE:
    RETVAL = (ix == 0 ? uvh_response_keep_alive(resp) : ix == 1 ? uvh_response_retried(resp)
              : ix == 2 ? uvh_response_is_done(resp) : uvh_response_streamed(resp)) != 0;
  OUTPUT:
    RETVAL

const char *
decoded(uvh_response_t *resp)
  CODE:
    RETVAL = uvh_response_decoded(resp);
  OUTPUT:
    RETVAL

SV *
body(uvh_response_t *resp)
  CODE:
    RETVAL = uvx_response_body(aTHX_ resp);
  OUTPUT:
    RETVAL

SV *
header(uvh_response_t *resp, SV *name)
  CODE:
    STRLEN nlen;
    const char *n = SvPV(name, nlen);
    size_t i, count = uvh_response_header_count(resp);
    RETVAL = NULL;
    /* repeated headers are joined with ", " as in the headers hash */
    for (i = 0; i < count; i++) {
      const char *hn, *hv;
      size_t hnl, hvl;
      uvh_response_header_at(resp, i, &hn, &hnl, &hv, &hvl);
      if (hnl == nlen && strncasecmp(hn, n, nlen) == 0) {
        if (RETVAL) {
          sv_catpvs(RETVAL, ", ");
          sv_catpvn(RETVAL, hv, hvl);
        } else {
          RETVAL = newSVpvn(hv, hvl);
        }
      }
    }
    if (RETVAL == NULL)
      RETVAL = &PL_sv_undef;
  OUTPUT:
    RETVAL

SV *
headers(uvh_response_t *resp)
  ALIAS:
    trailers = 1
  CODE:
    HV *hv = newHV();
    SV *name = sv_2mortal(newSV(64));
    size_t i, count = ix ? uvh_response_trailer_count(resp) : uvh_response_header_count(resp);
    for (i = 0; i < count; i++) {
      const char *hn, *hv_;
      size_t hnl, hvl, k;
      char *lc;
      SV **existing;
      if (ix)
        uvh_response_trailer_at(resp, i, &hn, &hnl, &hv_, &hvl);
      else
        uvh_response_header_at(resp, i, &hn, &hnl, &hv_, &hvl);
      lc = SvGROW(name, hnl + 1);
      for (k = 0; k < hnl; k++)
        lc[k] = toLOWER(hn[k]);
      existing = hv_fetch(hv, lc, (I32)hnl, 0);
      if (existing) {
        sv_catpvs(*existing, ", ");
        sv_catpvn(*existing, hv_, hvl);
      } else {
        hv_store(hv, lc, (I32)hnl, newSVpvn(hv_, hvl), 0);
      }
    }
    RETVAL = newRV_noinc((SV *)hv);
  OUTPUT:
    RETVAL

SV *
header_list(uvh_response_t *resp)
  CODE:
    AV *av = newAV();
    size_t i, count = uvh_response_header_count(resp);
    for (i = 0; i < count; i++) {
      const char *hn, *hv;
      size_t hnl, hvl;
      AV *pair = newAV();
      uvh_response_header_at(resp, i, &hn, &hnl, &hv, &hvl);
      av_push(pair, newSVpvn(hn, hnl));
      av_push(pair, newSVpvn(hv, hvl));
      av_push(av, newRV_noinc((SV *)pair));
    }
    RETVAL = newRV_noinc((SV *)av);
  OUTPUT:
    RETVAL

SV *
uri(SV *self)
  ALIAS:
    redirects = 1
  CODE:
    /* uvx_response_new: the request's uri, or [final uri, [responses]] */
    MAGIC *mg = uvx_response_magic(aTHX_ self);
    SV *where = mg ? mg->mg_obj : NULL;
    if (mg == NULL)
      UVX_CROAK("Uvent::HTTP::Response->%s: not a response object", ix ? "redirects" : "uri");
    if (where && SvTYPE(where) == SVt_PVAV) {
      SV **e = av_fetch((AV *)where, ix, 0);
      if (ix) {
        AV *list = e && SvROK(*e) ? (AV *)SvRV(*e) : NULL;
        RETVAL = newRV_noinc((SV *)(list ? av_make(av_len(list) + 1, AvARRAY(list)) : newAV()));
      } else {
        RETVAL = e ? newSVsv(*e) : &PL_sv_undef;
      }
    } else if (ix) {
      RETVAL = newRV_noinc((SV *)newAV());
    } else {
      RETVAL = where ? newSVsv(where) : &PL_sv_undef;
    }
  OUTPUT:
    RETVAL

void
_set_chain(SV *self, SV *uri, SV *redirects)
  CODE:
    /* the redirect step (Pool.pm's _hop_done): the final URI and the earlier responses */
    MAGIC *mg = uvx_response_magic(aTHX_ self);
    AV *chain;
    if (mg == NULL)
      UVX_CROAK("Uvent::HTTP::Response->_set_chain: not a response object");
    chain = newAV();
    av_push(chain, newSVsv(uri));
    av_push(chain, newSVsv(redirects));
    if (mg->mg_obj && (mg->mg_flags & MGf_REFCOUNTED))
      SvREFCNT_dec(mg->mg_obj);
    mg->mg_obj = (SV *)chain;
    mg->mg_flags |= MGf_REFCOUNTED;
