MODULE = Uvent    PACKAGE = Uvent::HTTP::Request

void
cancel(SV *self, SV *error = NULL)
  CODE:
    MAGIC *mg;
    int code = UVH_E_CANCELLED;
    SV *detail = NULL;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->cancel: not a request object");
    /* reading `error` may run Perl code (a tied value): keep the request */
    uvx_hold(aTHX_ SvRV(self));
    if (error)
      SvGETMAGIC(error);
    if (error && SvOK(error))
      code = uvx_cancel_code(aTHX_ error, &detail);
    mg = uvx_request_magic(aTHX_ SvRV(self));
    if (mg && mg->mg_ptr) {
      int rc = uvh_request_cancel_with((uvh_request_t *)mg->mg_ptr, code, detail ? SvPV_nolen(detail) : NULL);
      if (rc) /* not reached: uvx_cancel_code checked the code */
        UVX_CROAK("Uvent::HTTP::Request->cancel: %s", uvh_strerror(rc));
      uvx_wake(aTHX);
      uvx_rethrow(aTHX);
    }

bool
_send_body(SV *self, SV *data, int last)
  CODE:
    MAGIC *mg;
    uvh_request_t *r;
    const char *prefix = last ? "Uvent::HTTP::Request->send_final_chunk" : "Uvent::HTTP::Request->send_chunk";
    const char *p = "";
    STRLEN len = 0;
    int rc;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("%s: not a request object", prefix);
    uvx_hold(aTHX_ SvRV(self));
    data = uvx_plain(aTHX_ data);
    if (SvOK(data)) {
      if (SvROK(data) && !sv_isobject(data))
        UVX_CROAK("%s: the piece must be a string of bytes, not a reference", prefix);
      p = uvx_bytes(aTHX_ data, &len, prefix, "the piece", NULL);
    }
    mg = uvx_request_magic(aTHX_ SvRV(self));
    if (!mg || !mg->mg_ptr)
      UVX_CROAK("%s: the request has not been submitted (call the pool's request with chunked => 1 and no body first)",
                prefix);
    r = (uvh_request_t *)mg->mg_ptr;
    rc = uvh_request_send_body(r, p, len, last);
    if (rc == UVH_E_BADARG)
      UVX_CROAK("%s: %s", prefix, uvh_request_last_error(r));
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);
    RETVAL = rc == 0;
  OUTPUT:
    RETVAL

void
validate(SV *self)
  CODE:
    uvh_request_t *r;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->validate: not a request object");
    uvx_hold(aTHX_ SvRV(self)); /* an overloaded uri may drop the request */
    /* builds the core request exactly as request() would, croaking on the first problem */
    {
      SV *f[UVX_NFIELDS];
      uvx_request_values(aTHX_ (HV *)SvRV(self), f);
      if (UVX_NEEDS_PERL(f)) {
        /* the body a form or json makes, as request() would */
        dSP;
        SV *fields;
        uvx_check_redirect_fields(aTHX_ f, "Uvent::HTTP::Request->validate");
        PUSHMARK(SP);
        XPUSHs(self);
        PUTBACK;
        call_pv("Uvent::HTTP::Pool::_validate_fields", G_SCALAR);
        SPAGAIN;
        fields = POPs;
        PUTBACK;
        uvx_hold(aTHX_ fields);
        uvx_request_values(aTHX_ (HV *)SvRV(fields), f);
      }
      r = uvx_build_request(aTHX_ f, (HV *)SvRV(self), uvx_on_response, "Uvent::HTTP::Request->validate");
    }
    uvh_request_unref(r);

void
pause(SV *self)
  ALIAS:
    resume = 1
  CODE:
    /* reading stops or starts again on the request's connection (its current hop) */
    MAGIC *mg;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->%s: not a request object", ix ? "resume" : "pause");
    mg = uvx_request_magic(aTHX_ SvRV(self));
    if (mg && mg->mg_ptr) {
      if (ix)
        uvh_request_resume((uvh_request_t *)mg->mg_ptr);
      else
        uvh_request_pause((uvh_request_t *)mg->mg_ptr);
      uvx_wake(aTHX);
    }

bool
paused(SV *self)
  CODE:
    MAGIC *mg;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->paused: not a request object");
    mg = uvx_request_magic(aTHX_ SvRV(self));
    RETVAL = mg && mg->mg_ptr && uvh_request_paused((uvh_request_t *)mg->mg_ptr);
  OUTPUT:
    RETVAL

bool
active(SV *self)
  CODE:
    MAGIC *mg;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->active: not a request object");
    mg = uvx_request_magic(aTHX_ SvRV(self));
    RETVAL = mg && mg->mg_ptr && uvh_request_active((uvh_request_t *)mg->mg_ptr);
  OUTPUT:
    RETVAL

void
_fields(...)
  PPCODE:
    int i;
    /* the parameters Request->new, request(\%params) and the accessors know */
    for (i = 0; uvx_request_fields[i]; i++)
      mXPUSHp(uvx_request_fields[i], strlen(uvx_request_fields[i]));
