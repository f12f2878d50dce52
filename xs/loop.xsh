MODULE = Uvent    PACKAGE = Uvent::Loop

SV *
default(...)
  CODE:
    dMY_CXT;
    if (MY_CXT.default_loop == NULL) {
      uvx_loop_t *loop;
      uv_loop_t *uv = uv_default_loop();
      if (uv == NULL)
        UVX_CROAK("Uvent::Loop->default: could not create libuv's default loop");
      Newxz(loop, 1, uvx_loop_t);
      if (uvh_loop_wrap(uv, &loop->core)) {
        Safefree(loop);
        UVX_CROAK("Uvent::Loop->default: out of memory");
      }
      loop->is_default = 1;
      uvh_loop_set_data(loop->core, loop);
      uvh_loop_set_work_cb(loop->core, uvx_on_loop_work);
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
      UVX_CROAK("Uvent::Loop->new: could not create a libuv loop");
    }
    uvh_loop_set_data(loop->core, loop);
    uvh_loop_set_work_cb(loop->core, uvx_on_loop_work);
    RETVAL = uvx_wrap(aTHX_ loop, gv_stashpv(klass, GV_ADD));
    loop->self = SvRV(RETVAL);
  OUTPUT:
    RETVAL

void
run(uvx_loop_t *loop)
  ALIAS:
    run_once = 1
    run_nowait = 2
    _drive = 3
  CODE:
    dMY_CXT;
    uv_loop_t *prev = MY_CXT.running;
    static const uv_run_mode modes[] = {UV_RUN_DEFAULT, UV_RUN_ONCE, UV_RUN_NOWAIT, UV_RUN_NOWAIT};
    /* an adapter runs it with _drive; another run would block its host loop */
    if (loop->driver && ix != 3)
      UVX_CROAK("Uvent::Loop->%s: the loop is attached to %" SVf " and runs from that loop; run that loop instead "
                "(or detach the adapter first)", ix == 0 ? "run" : ix == 1 ? "run_once" : "run_nowait",
                SVfARG(loop->driver));
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
    if (ix == 3)
      uvh_loop_run_nowait(loop->core); /* also serves idle connections alone */
    else
      uv_run(MY_CXT.running, modes[ix]);
    loop->running = 0;
    MY_CXT.running = prev;
    uvx_rethrow(aTHX);

int
backend_fd(uvx_loop_t *loop)
  CODE:
    RETVAL = uvh_loop_backend_fd(loop->core);
  OUTPUT:
    RETVAL

int
backend_timeout(uvx_loop_t *loop)
  CODE:
    RETVAL = uvh_loop_backend_timeout(loop->core);
  OUTPUT:
    RETVAL

void
_state(uvx_loop_t *loop)
  PPCODE:
    /* what an adapter re-arms from, in one call: referenced work, ms to
     * the next timer (-1 none), the backend fd, the loop's time (ms), the
     * fork generation (a child's watchers of the parent's fd are stale) */
    int fd = uvh_loop_backend_fd(loop->core); /* first: notices a fork */
    int timeout = uvh_loop_backend_timeout(loop->core);
    EXTEND(SP, 5);
    mPUSHi(uvh_loop_alive(loop->core));
    mPUSHi(timeout);
    mPUSHi(fd);
    mPUSHn((double)uv_now(uvh_loop_uv(loop->core)));
    mPUSHu(uvh_loop_fork_generation(loop->core));

void
_attach(uvx_loop_t *loop, SV *wake_cb, SV *driver)
  CODE:
    dMY_CXT;
    if (!(SvROK(wake_cb) && SvTYPE(SvRV(wake_cb)) == SVt_PVCV))
      UVX_CROAK("Uvent::Loop->_attach: the wake callback must be a CODE reference");
    if (loop->driver)
      UVX_CROAK("Uvent::Loop: the loop is already attached to %" SVf, SVfARG(loop->driver));
    loop->wake_cb = newSVsv(wake_cb);
    loop->driver = newSVsv(driver);
    loop->work_pending = 0;
    loop->next_attached = MY_CXT.attached;
    MY_CXT.attached = loop;

void
_detach(uvx_loop_t *loop)
  CODE:
    uvx_loop_detach(aTHX_ loop);

SV *
driver(uvx_loop_t *loop)
  CODE:
    RETVAL = loop->driver ? newSVsv(loop->driver) : &PL_sv_undef;
  OUTPUT:
    RETVAL

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
    RETVAL = uvh_loop_alive(loop->core) != 0;
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
    uvx_loop_detach(aTHX_ loop);
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

bool
_measure_load(uvx_loop_t *loop)
  CODE:
    /* the manager's workers: from now on the loop's busy time is counted */
    RETVAL = uvh_loop_measure_load(loop->core) == 0;
  OUTPUT:
    RETVAL
