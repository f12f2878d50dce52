MODULE = Uvent    PACKAGE = Uvent::Loop

SV *
default(...)
  CODE:
    dMY_CXT;
    if (MY_CXT.default_loop == NULL) {
      uvx_loop_t *loop;
      uv_loop_t *uv = uv_default_loop();
      if (uv == NULL)
        croak("Uvent::Loop->default: could not create libuv's default loop");
      Newxz(loop, 1, uvx_loop_t);
      if (uvh_loop_wrap(uv, &loop->core)) {
        Safefree(loop);
        croak("Uvent::Loop->default: out of memory");
      }
      loop->is_default = 1;
      MY_CXT.default_loop = uvx_wrap(aTHX_ loop, MY_CXT.stash_loop);
      loop->self = SvRV(MY_CXT.default_loop);
    }
    RETVAL = newSVsv(MY_CXT.default_loop);
  OUTPUT:
    RETVAL

SV *
new(const char *klass)
  CODE:
    uvx_loop_t *loop;
    Newxz(loop, 1, uvx_loop_t);
    if (uvh_loop_new(&loop->core)) {
      Safefree(loop);
      croak("Uvent::Loop->new: could not create a libuv loop");
    }
    RETVAL = uvx_wrap(aTHX_ loop, gv_stashpv(klass, GV_ADD));
    loop->self = SvRV(RETVAL);
  OUTPUT:
    RETVAL

void
run(uvx_loop_t *loop)
  ALIAS:
    run_once = 1
    run_nowait = 2
  CODE:
    dMY_CXT;
    uv_loop_t *prev = MY_CXT.running;
    static const uv_run_mode modes[] = {UV_RUN_DEFAULT, UV_RUN_ONCE, UV_RUN_NOWAIT};
    /* the typemap holds the loop until the caller's next statement, so a
     * callback dropping the last reference cannot free it under uv_run:
     * it is destroyed after run has returned */
    if (loop->running)
      UVX_CROAK("Uvent::Loop->%s: the loop is already running (called from one of its own callbacks)",
                ix == 0 ? "run" : ix == 1 ? "run_once" : "run_nowait");
    uvh_loop_check_fork(loop->core);
    uvx_rethrow(aTHX);
    MY_CXT.running = uvh_loop_uv(loop->core);
    loop->running = 1;
    uv_run(MY_CXT.running, modes[ix]);
    loop->running = 0;
    MY_CXT.running = prev;
    uvx_rethrow(aTHX);

void
stop(uvx_loop_t *loop)
  CODE:
    uv_stop(uvh_loop_uv(loop->core));

double
now(uvx_loop_t *loop)
  CODE:
    RETVAL = (double)uv_now(uvh_loop_uv(loop->core));
  OUTPUT:
    RETVAL

void
update_time(uvx_loop_t *loop)
  CODE:
    uv_update_time(uvh_loop_uv(loop->core));

bool
alive(uvx_loop_t *loop)
  CODE:
    RETVAL = uv_loop_alive(uvh_loop_uv(loop->core)) != 0;
  OUTPUT:
    RETVAL

bool
is_default(uvx_loop_t *loop)
  CODE:
    RETVAL = loop->is_default != 0;
  OUTPUT:
    RETVAL

SV *
_instance(uvx_loop_t *loop, SV *pool = NULL)
  CODE:
    if (pool && SvOK(pool) && loop->instance == NULL)
      loop->instance = newSVsv(pool);
    RETVAL = loop->instance ? newSVsv(loop->instance) : &PL_sv_undef;
  OUTPUT:
    RETVAL

void
DESTROY(SV *self)
  CODE:
    uvx_loop_t *loop = INT2PTR(uvx_loop_t *, SvIV(SvRV(self)));
    /* at global destruction the loop may still be referenced from C: leave it */
    if (PL_phase == PERL_PHASE_DESTRUCT || loop == NULL)
      return;
    sv_setiv(SvRV(self), 0);
    if (loop->instance) {
      uvx_pool_t *pool = INT2PTR(uvx_pool_t *, SvIV(SvRV(loop->instance)));
      if (pool)
        pool->loop = NULL;
      SvREFCNT_dec(loop->instance);
      loop->instance = NULL;
    }
    if (!loop->is_default) {
      dMY_CXT;
      uv_loop_t *prev = MY_CXT.running;
      /* a callback dying in here must stop this loop's last run, not
       * another loop that happens to be running */
      MY_CXT.running = uvh_loop_uv(loop->core);
      uvh_loop_destroy(loop->core);
      MY_CXT.running = prev;
      Safefree(loop);
      uvx_rethrow(aTHX);
    }
