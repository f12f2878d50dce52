/* glue.h - helpers shared by the XS glue: object wrapping, the one
 * trampoline into Perl, and the deferred rethrow of exceptions.
 *
 * Perl objects are blessed references to a scalar holding a pointer
 * (Loop, Pool, Timer, Response, Client) or, for requests, blessed hashes
 * carrying their current core request in ext magic.
 */
#ifndef UVX_GLUE_H
#define UVX_GLUE_H

#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"
#include "uvh.h"

/* Perl-side state of a loop. Owns its core loop and the instance pool. */
typedef struct {
  uvh_loop_t *core;
  SV *self;       /* the object's inner SV, not counted */
  SV *instance;   /* RV to Pool::instance for this loop, counted; NULL until asked */
  int is_default;
  int running;    /* inside run*: libuv loops are not re-entrant */
  /* driven from a host loop (Uvent::Loop::AnyEvent, ::Mojo, ::IOAsync) */
  SV *wake_cb;    /* counted CODE ref: re-arms the host's watchers; NULL when not attached */
  SV *driver;     /* counted: who drives it, for messages */
  int work_pending; /* the core said "work" outside a run; uvx_wake calls wake_cb */
  void *next_attached; /* uvx_loop_t *, MY_CXT.attached list */
} uvx_loop_t;

/* Perl-side state of a pool. Owns one reference to its core pool. */
typedef struct {
  uvh_pool_t *core;
  SV *self;       /* the object's inner SV, not counted */
  SV *loop_rv;    /* counted reference to the loop object; NULL for an instance pool */
  uvx_loop_t *loop;
  SV *defaults;   /* counted hashref of the request defaults Pool.pm reads (follow_redirect, ...); NULL for none */
  int has_jar;    /* the defaults hold a cookie_jar: every request goes through Pool.pm's _submit_first */
} uvx_pool_t;

/* Perl-side state of a timer. */
typedef struct {
  uvh_timer_t *core;
  SV *self;       /* inner SV, counted only while pinned */
  SV *cb;
  SV *loop_rv;    /* counted */
  int pinned;     /* a one-shot timer keeps itself alive until it fires */
} uvx_timer_t;

#define MY_CXT_KEY "Uvent::_guts" XS_VERSION
typedef struct {
  SV *pending_error;    /* first exception thrown by a callback, rethrown by the XSUB that entered C */
  uv_loop_t *running;   /* innermost loop inside run*, to stop it when a callback dies */
  uvx_loop_t *attached; /* loops driven by a host loop, through next_attached; not counted */
  SV *default_loop;     /* RV, the Uvent::Loop->default singleton */
  HV *stash_response, *stash_client, *stash_error, *stash_pool, *stash_loop, *stash_timer, *stash_request;
} my_cxt_t;

START_MY_CXT


/* Croak through Carp so the message names the user's line, not ours
 * (Uvent's packages are in %Carp::Internal). */
static void uvx_croak_sv(pTHX_ SV *msg) {
  dSP;
  PUSHMARK(SP);
  XPUSHs(msg);
  PUTBACK;
  call_pv("Uvent::_croak", G_DISCARD);
  croak_sv(msg); /* not reached: Uvent::_croak dies */
}
#define UVX_CROAK(...) uvx_croak_sv(aTHX_ sv_2mortal(newSVpvf(__VA_ARGS__)))

/* Keep `sv` alive until the caller's next statement frees temporaries.
 * An XSUB that may run Perl code (a callback, an overloaded '""', a tied
 * FETCH) holds every object it will touch afterwards: that code may drop
 * the last reference to it. */
static void uvx_hold(pTHX_ SV *sv) {
  sv_2mortal(SvREFCNT_inc_simple_NN(sv));
}

/* The object behind `sv`, held for the rest of the XSUB (see uvx_hold):
 * a loop stays alive until its run returns, a pool until request() has
 * read the last of its parameters. */
static void *uvx_unwrap(pTHX_ SV *sv, const char *cls, const char *what) {
  /* the class itself is one name compare; sv_derived_from walks @ISA */
  if (!SvROK(sv) || !SvOBJECT(SvRV(sv)) ||
      ((!HvNAME_get(SvSTASH(SvRV(sv))) || strcmp(HvNAME_get(SvSTASH(SvRV(sv))), cls) != 0) &&
       !sv_derived_from(sv, cls)))
    UVX_CROAK("%s is not of type %s", what, cls);
  if (!SvIOK(SvRV(sv)) || SvIVX(SvRV(sv)) == 0)
    UVX_CROAK("%s is a destroyed %s object", what, cls);
  uvx_hold(aTHX_ SvRV(sv));
  return INT2PTR(void *, SvIVX(SvRV(sv)));
}

/* A pool's loop, held like the pool itself: an instance pool does not
 * own its loop, so Perl code run by the XSUB could drop it. */
static void uvx_hold_pool_loop(pTHX_ uvx_pool_t *pool) {
  if (pool->loop)
    uvx_hold(aTHX_ pool->loop->self);
}

/* `sv` with its get-magic run exactly once: a tied or magical value is
 * fetched into a mortal copy, which later reads use without magic. */
static SV *uvx_plain(pTHX_ SV *sv) {
  return SvGMAGICAL(sv) ? sv_mortalcopy(sv) : sv;
}

/* A new blessed reference to a scalar holding `ptr`. */
static SV *uvx_wrap(pTHX_ void *ptr, HV *stash) {
  SV *inner = newSViv(PTR2IV(ptr));
  SV *rv = newRV_noinc(inner);
  sv_bless(rv, stash);
  return rv;
}

/* Keep the first exception; later ones in the same run only warn. */
static void uvx_store_error(pTHX_ SV *err) {
  dMY_CXT;
  if (MY_CXT.pending_error) {
    warn("Uvent: another callback died before the first exception was rethrown: %" SVf, SVfARG(err));
    return;
  }
  MY_CXT.pending_error = newSVsv(err);
  if (MY_CXT.running)
    uv_stop(MY_CXT.running);
}

/* Called by every XSUB that ran C code which may have called back into Perl. */
static void uvx_rethrow(pTHX) {
  dMY_CXT;
  SV *err = MY_CXT.pending_error;
  if (err) {
    MY_CXT.pending_error = NULL;
    croak_sv(sv_2mortal(err));
  }
}

/* The one trampoline: call `cb` with `args` under G_EVAL, keep $@ intact,
 * store an exception for the XSUB that entered C to rethrow. This one runs
 * in the caller's ENTER/SAVETMPS scope, whose FREETMPS frees what the
 * callback left; uvx_call opens its own. 1 when the callback died. */
static int uvx_call_in_scope(pTHX_ SV *cb, SV **args, int nargs) {
  dSP;
  int i, died = 0;
  SV *saved_errsv;
  if (cb == NULL || !SvOK(cb))
    return 0;
  /* an empty $@ (the usual one) is restored by setting it empty again,
   * without a copy of it */
  saved_errsv = SvPOK(ERRSV) && !SvMAGICAL(ERRSV) && SvCUR(ERRSV) == 0 ? NULL : newSVsv(ERRSV);
  PUSHMARK(SP);
  EXTEND(SP, nargs);
  for (i = 0; i < nargs; i++)
    PUSHs(args[i]);
  PUTBACK;
  call_sv(cb, G_EVAL | G_DISCARD | G_VOID);
  if (SvTRUE(ERRSV)) {
    died = 1;
    uvx_store_error(aTHX_ ERRSV);
  }
  if (saved_errsv) {
    sv_setsv(ERRSV, saved_errsv);
    SvREFCNT_dec(saved_errsv);
  } else if (!SvPOK(ERRSV) || SvCUR(ERRSV) != 0) {
    sv_setpvs(ERRSV, "");
  }
  return died; /* 1: it died (the exception is stored for the rethrow) */
}

static void uvx_call(pTHX_ SV *cb, SV **args, int nargs) {
  ENTER;
  SAVETMPS;
  uvx_call_in_scope(aTHX_ cb, args, nargs);
  FREETMPS;
  LEAVE;
}

/* A user's value as shown in a croak: control bytes escaped (a NUL would
 * otherwise hide the rest, CR/LF split the line), cut at about 100
 * characters with "..." after. */
static SV *uvx_shown(pTHX_ SV *sv) {
  STRLEN len = 0;
  const char *s = SvOK(sv) ? SvPV_nomg(sv, len) : "";
  char buf[112];
  size_t used = uvh_escape(buf, 101, s, len);
  SV *out;
  if (used < len && SvUTF8(sv)) { /* cut on a character boundary */
    while (used > 0 && ((unsigned char)s[used] & 0xC0) == 0x80)
      used--;
    uvh_escape(buf, 101, s, used);
  }
  out = newSVpvn_flags(buf, strlen(buf), SVs_TEMP | (SvUTF8(sv) ? SVf_UTF8 : 0));
  if (used < len)
    sv_catpvs(out, "...");
  return out;
}

/* The bytes of a string parameter. Characters above 255 croak here,
 * naming the parameter (`header`: the header's name) and the caller's
 * line, rather than with perl's "Wide character in subroutine entry" at
 * whichever line of Uvent called the XSUB. */
static const char *uvx_bytes(pTHX_ SV *sv, STRLEN *len, const char *prefix, const char *what, SV *header) {
  const char *s = SvPV(sv, *len);
  if (SvUTF8(sv)) {
    SV *copy = sv_2mortal(newSVpvn_flags(s, *len, SVf_UTF8));
    if (!sv_utf8_downgrade(copy, TRUE)) {
      if (header)
        UVX_CROAK("%s: Wide character in header '%" SVf "': encode it to bytes first (utf8::encode or "
                  "Encode::encode_utf8)", prefix, SVfARG(uvx_shown(aTHX_ header)));
      UVX_CROAK("%s: Wide character in '%s': encode it to bytes first (utf8::encode or Encode::encode_utf8)",
                prefix, what);
    }
    s = SvPV(copy, *len);
  }
  return s;
}

static double uvx_num(pTHX_ SV *sv, const char *prefix, const char *name) {
  sv = uvx_plain(aTHX_ sv);
  if (!SvOK(sv) || SvROK(sv) || !looks_like_number(sv))
    UVX_CROAK("%s: '%s' must be a number, got '%" SVf "'", prefix, name, SVfARG(uvx_shown(aTHX_ sv)));
  return SvNV(sv);
}

/* A number of seconds: finite, >= 0 and at most UVH_MAX_SECONDS, or croak
 * naming the parameter and the value. NaN, Inf and 1e308 must never fall
 * back to a default or overflow the milliseconds. */
static double uvx_seconds(pTHX_ const char *prefix, SV *sv, const char *name) {
  double v;
  sv = uvx_plain(aTHX_ sv);
  v = uvx_num(aTHX_ sv, prefix, name);
  if (!UVH_SECONDS_OK(v))
    UVX_CROAK("%s: '%s' must be a finite number of seconds >= 0 (at most 1e9), got '%" SVf "'", prefix, name,
              SVfARG(uvx_shown(aTHX_ sv)));
  return v;
}

/* The core's work callback (uvh_loop_set_work_cb): outside a run of an
 * attached loop, note that its adapter must re-arm; uvx_wake tells it
 * once the XSUB that gave the work is done with the core. */
static void uvx_on_loop_work(uvh_loop_t *core) {
  uvx_loop_t *loop = (uvx_loop_t *)uvh_loop_get_data(core);
  if (loop && loop->wake_cb && !loop->running)
    loop->work_pending = 1;
}

/* At the end of an XSUB that may have given a loop work (submit, cancel,
 * timers, shutdown): call the wake callback of each attached loop that
 * got some, outside its runs. The XSUB rethrows their exceptions with
 * uvx_rethrow. */
static void uvx_wake(pTHX) {
  dMY_CXT;
  uvx_loop_t *loop = MY_CXT.attached;
  while (loop) {
    if (loop->work_pending && !loop->running) {
      loop->work_pending = 0;
      /* the adapter may detach (dropping wake_cb, unlinking the loop) or drop the loop */
      uvx_hold(aTHX_ loop->self);
      uvx_hold(aTHX_ loop->wake_cb);
      uvx_call(aTHX_ loop->wake_cb, NULL, 0);
      loop = MY_CXT.attached; /* the list may have changed: from the start */
      continue;
    }
    loop = (uvx_loop_t *)loop->next_attached;
  }
}

/* Stop being driven by a host loop (Uvent::Loop::*->detach, DESTROY). */
static void uvx_loop_detach(pTHX_ uvx_loop_t *loop) {
  dMY_CXT;
  uvx_loop_t **link = &MY_CXT.attached;
  while (*link && *link != loop)
    link = (uvx_loop_t **)&(*link)->next_attached;
  if (*link)
    *link = (uvx_loop_t *)loop->next_attached;
  loop->next_attached = NULL;
  loop->work_pending = 0;
  if (loop->wake_cb) {
    SvREFCNT_dec(loop->wake_cb);
    loop->wake_cb = NULL;
  }
  if (loop->driver) {
    SvREFCNT_dec(loop->driver);
    loop->driver = NULL;
  }
}

/* Response bodies come from Perl's own allocator (PerlMem_*, what Safefree
 * frees, without Perl's croak on no memory: the core sees NULL), so a
 * string can take a body's storage as it is. A build that tracks its
 * memory pool puts a header before each block: there the body is copied. */
#ifndef PERL_TRACK_MEMPOOL
#define UVX_BODY_IN_PLACE 1
static void *uvx_body_realloc(void *ptr, size_t size) {
#ifdef PERL_IMPLICIT_SYS
  dTHX;
#endif
  return PerlMem_realloc(ptr, size);
}

static void uvx_body_free(void *ptr) {
#ifdef PERL_IMPLICIT_SYS
  dTHX;
#endif
  PerlMem_free(ptr);
}
#endif

/* The string a response's body became, hung on the response. */
static void uvx_body_sv_free(void *sv) {
  dTHX;
  if (PL_phase != PERL_PHASE_DESTRUCT)
    SvREFCNT_dec((SV *)sv);
}

/* The body as a Perl string: the first call moves the body's storage into
 * a string kept with the response, and every call returns that string;
 * `my $b = $response->body` shares its buffer until either side writes. */
static SV *uvx_response_body(pTHX_ uvh_response_t *resp) {
  SV *body = (SV *)uvh_response_get_data(resp);
  if (body == NULL) {
    size_t len;
    char *p = NULL;
#ifdef UVX_BODY_IN_PLACE
    p = uvh_response_take_body(resp, &len);
#endif
    if (p) {
      body = newSV_type(SVt_PV);
      sv_usepvn_flags(body, p, len, SV_HAS_TRAILING_NUL);
      /* the storage holds the spare byte too (Perl's copy-on-write count
       * lives there): without it every copy of the string would be a
       * memcpy */
      SvLEN_set(body, len + UVH_RESPONSE_BODY_SPARE);
    } else {
      const char *s = uvh_response_body(resp, &len);
      body = newSVpvn(s, len);
    }
    uvh_response_set_data(resp, body, uvx_body_sv_free);
  }
  /* the string itself: Perl's own assignments copy it on write (a copy
   * made here would be a memcpy, an XSUB gets no copy-on-write) */
  return SvREFCNT_inc_simple_NN(body);
}

#endif
