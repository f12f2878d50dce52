MODULE = Uvent    PACKAGE = Uvent::HTTP::Request

void
cancel(SV *self)
  CODE:
    MAGIC *mg;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      croak("Uvent::HTTP::Request->cancel: not a request object");
    mg = uvx_request_magic(aTHX_ SvRV(self));
    if (mg && mg->mg_ptr) {
      uvh_request_cancel((uvh_request_t *)mg->mg_ptr);
      uvx_rethrow(aTHX);
    }

void
validate(SV *self)
  CODE:
    uvh_request_t *r;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      UVX_CROAK("Uvent::HTTP::Request->validate: not a request object");
    uvx_hold(aTHX_ SvRV(self)); /* an overloaded uri may drop the request */
    /* builds the core request exactly as request() would, croaking on the first problem */
    r = uvx_build_request(aTHX_ (HV *)SvRV(self), "Uvent::HTTP::Request->validate");
    uvh_request_unref(r);

bool
active(SV *self)
  CODE:
    MAGIC *mg;
    if (!SvROK(self) || SvTYPE(SvRV(self)) != SVt_PVHV)
      croak("Uvent::HTTP::Request->active: not a request object");
    mg = uvx_request_magic(aTHX_ SvRV(self));
    RETVAL = mg && mg->mg_ptr && uvh_request_active((uvh_request_t *)mg->mg_ptr);
  OUTPUT:
    RETVAL
