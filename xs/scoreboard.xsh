MODULE = Uvent    PACKAGE = Uvent::HTTP::Manager::Scoreboard

# The worker scoreboard (manager/scoreboard.c) for Uvent::HTTP::Manager:
# conversions only. Slots are indices; states are their names.

SV *
new(const char *klass, UV nslots)
  CODE:
    uvh_scoreboard_t *sb;
    int rc = nslots > UVH_SCOREBOARD_MAX ? UVH_E_BADARG : uvh_scoreboard_new((unsigned)nslots, &sb);
    if (rc == UVH_E_BADARG)
      UVX_CROAK("Uvent::HTTP::Manager: a scoreboard holds 1 to %d workers, not %" UVuf, UVH_SCOREBOARD_MAX, nslots);
    if (rc)
      UVX_CROAK("Uvent::HTTP::Manager: no memory for the scoreboard");
    RETVAL = uvx_wrap(aTHX_ sb, gv_stashpv(klass, GV_ADD));
  OUTPUT:
    RETVAL

void
DESTROY(SV *self)
  CODE:
    if (SvROK(self) && SvIOK(SvRV(self)) && SvIVX(SvRV(self))) {
      uvh_scoreboard_free(INT2PTR(uvh_scoreboard_t *, SvIVX(SvRV(self))));
      sv_setiv(SvRV(self), 0);
    }

UV
size(uvh_scoreboard_t *sb)
  CODE:
    RETVAL = uvh_scoreboard_size(sb);
  OUTPUT:
    RETVAL

SV *
claim(uvh_scoreboard_t *sb)
  CODE:
    int i = uvh_scoreboard_claim(sb);
    RETVAL = i < 0 ? &PL_sv_undef : newSViv(i);
  OUTPUT:
    RETVAL

void
set_pid(uvh_scoreboard_t *sb, UV slot, IV pid)
  CODE:
    uvh_scoreboard_set_pid(sb, (unsigned)slot, (int)pid);

void
release(uvh_scoreboard_t *sb, UV slot)
  CODE:
    uvh_scoreboard_release(sb, (unsigned)slot);

SV *
slot(uvh_scoreboard_t *sb, UV slot)
  CODE:
    uvh_worker_info_t w;
    static const char *const names[] = {"free", "starting", "idle", "busy", "stopping"};
    HV *hv;
    if (slot > UINT_MAX || uvh_scoreboard_read(sb, (unsigned)slot, &w))
      XSRETURN_UNDEF;
    hv = newHV();
    hv_stores(hv, "slot", newSVuv(slot));
    hv_stores(hv, "pid", newSViv(w.pid));
    hv_stores(hv, "generation", newSVuv(w.generation));
    hv_stores(hv, "state", newSVpv(w.state < 5 ? names[w.state] : "unknown", 0));
    hv_stores(hv, "active", newSVuv(w.active));
    hv_stores(hv, "served", newSVuv((UV)w.served));
    /* monotonic seconds, the clock of Uvent::HTTP::Manager::Scoreboard::now */
    hv_stores(hv, "started", newSVnv(w.started_ms / 1e3));
    hv_stores(hv, "last_activity", newSVnv(w.last_activity_ms / 1e3));
    hv_stores(hv, "busy", newSVnv(w.busy_ns / 1e9));
    hv_stores(hv, "sampled", newSVnv(w.sampled_ns / 1e9));
    RETVAL = newRV_noinc((SV *)hv);
  OUTPUT:
    RETVAL

void
set_state(uvh_scoreboard_t *sb, UV slot, const char *state)
  CODE:
    uvh_worker_state_t s;
    if (strEQ(state, "idle")) s = UVH_WORKER_IDLE;
    else if (strEQ(state, "busy")) s = UVH_WORKER_BUSY;
    else if (strEQ(state, "stopping")) s = UVH_WORKER_STOPPING;
    else if (strEQ(state, "starting")) s = UVH_WORKER_STARTING;
    else UVX_CROAK("Uvent::HTTP::Manager: unknown worker state '%s'", state);
    uvh_scoreboard_set_state(sb, (unsigned)slot, s, uvh_monotonic_ms());

void
request_start(uvh_scoreboard_t *sb, UV slot)
  CODE:
    uvh_scoreboard_request_start(sb, (unsigned)slot, uvh_monotonic_ms());

void
request_end(uvh_scoreboard_t *sb, UV slot)
  CODE:
    uvh_scoreboard_request_end(sb, (unsigned)slot, uvh_monotonic_ms());

bool
sample_load(uvh_scoreboard_t *sb, UV slot, uvx_loop_t *loop)
  CODE:
    RETVAL = uvh_scoreboard_sample_load(sb, (unsigned)slot, loop->core) == 0;
  OUTPUT:
    RETVAL

NV
now(...)
  CODE:
    RETVAL = uvh_monotonic_ms() / 1e3;
  OUTPUT:
    RETVAL
