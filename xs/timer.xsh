MODULE = Uvent    PACKAGE = Uvent::Timer

SV *
_new(const char *klass, SV *loop_rv)
  CODE:
    uvx_loop_t *loop = (uvx_loop_t *)uvx_unwrap(aTHX_ loop_rv, "Uvent::Loop", "loop");
    uvx_timer_t *t;
    Newxz(t, 1, uvx_timer_t);
    if (uvh_timer_new(loop->core, uvx_on_timer, t, &t->core)) {
      Safefree(t);
      UVX_CROAK("Uvent::Timer->new: out of memory");
    }
    t->loop_rv = newSVsv(loop_rv);
    RETVAL = uvx_wrap(aTHX_ t, gv_stashpv(klass, GV_ADD));
    t->self = SvRV(RETVAL);
  OUTPUT:
    RETVAL

void
_start(uvx_timer_t *t, SV *after, SV *repeat, SV *cb, int pin)
  CODE:
    double a = uvx_seconds(aTHX_ "Uvent::Timer", after, "delay"), r = uvx_seconds(aTHX_ "Uvent::Timer", repeat, "repeat");
    int rc;
    cb = uvx_plain(aTHX_ cb);
    if (!(SvROK(cb) && SvTYPE(SvRV(cb)) == SVt_PVCV))
      UVX_CROAK("Uvent::Timer: the callback must be a CODE reference");
    {
      /* outside a run (host-loop code, or before run) the loop's cached
       * time may be old: the delay counts from now */
      uvx_loop_t *loop = INT2PTR(uvx_loop_t *, SvIV(SvRV(t->loop_rv)));
      if (loop && !loop->running)
        uv_update_time(uvh_loop_uv(loop->core));
    }
    if ((rc = uvh_timer_start(t->core, a, r)))
      UVX_CROAK("Uvent::Timer: %s", rc == UVH_E_CLOSED_POOL ? "its loop is destroyed" : uvh_strerror(rc));
    if (t->cb)
      SvREFCNT_dec(t->cb);
    t->cb = newSVsv(cb);
    if (pin && !t->pinned) {
      t->pinned = 1;
      SvREFCNT_inc_simple_void_NN(t->self);
    }
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);

void
stop(uvx_timer_t *t)
  CODE:
    uvh_timer_stop(t->core);
    if (t->pinned) {
      t->pinned = 0;
      SvREFCNT_dec(t->self);
    }
    uvx_wake(aTHX);
    uvx_rethrow(aTHX);

bool
active(uvx_timer_t *t)
  CODE:
    RETVAL = uvh_timer_active(t->core) != 0;
  OUTPUT:
    RETVAL

void
DESTROY(SV *self)
  CODE:
    uvx_timer_t *t = INT2PTR(uvx_timer_t *, SvIV(SvRV(self)));
    if (t == NULL)
      return;
    sv_setiv(SvRV(self), 0);
    if (PL_phase != PERL_PHASE_DESTRUCT) {
      uvh_timer_unref(t->core);
      uvx_wake(aTHX); /* its handle closes from the next run */
    }
    if (t->cb)
      SvREFCNT_dec(t->cb);
    SvREFCNT_dec(t->loop_rv);
    Safefree(t);
