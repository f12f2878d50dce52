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
