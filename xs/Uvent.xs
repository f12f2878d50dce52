/* Uvent.xs - Perl glue for the Uvent core. Each class lives in its own
 * .xsh file with its C helpers in a header beside it (request.h); shared
 * helpers are in glue.h, callbacks in callbacks.h. The glue converts
 * arguments, calls one core function, maps errors. */
#include "glue.h"
#include "callbacks.h"
#include "request.h"
#include "server.h"
#include "base/url.h" /* the redirect step resolves Location with the core's URL code */

MODULE = Uvent    PACKAGE = Uvent

PROTOTYPES: DISABLE

BOOT:
{
  MY_CXT_INIT;
  MY_CXT.pending_error = NULL;
  MY_CXT.running = NULL;
  MY_CXT.default_loop = NULL;
  MY_CXT.stash_response = gv_stashpv("Uvent::HTTP::Response", GV_ADD);
  MY_CXT.stash_client = gv_stashpv("Uvent::HTTP::Client", GV_ADD);
  MY_CXT.stash_error = gv_stashpv("Uvent::Error", GV_ADD);
  MY_CXT.stash_pool = gv_stashpv("Uvent::HTTP::Pool", GV_ADD);
  MY_CXT.stash_loop = gv_stashpv("Uvent::Loop", GV_ADD);
  MY_CXT.stash_timer = gv_stashpv("Uvent::Timer", GV_ADD);
  MY_CXT.stash_request = gv_stashpv("Uvent::HTTP::Request", GV_ADD);
#ifdef UVX_BODY_IN_PLACE
  uvh_set_body_allocator(uvx_body_realloc, uvx_body_free);
#endif
}

const char *
core_version()
  CODE:
    RETVAL = UVH_VERSION;
  OUTPUT:
    RETVAL

void
decoders(...)
  PPCODE:
    /* the codings built in, one per element: "gzip, deflate, br, zstd" */
    const char *s = uvh_decoders();
    while (*s) {
      const char *e = strchr(s, ',');
      size_t n = e ? (size_t)(e - s) : strlen(s);
      mXPUSHp(s, n);
      s += n;
      while (*s == ',' || *s == ' ')
        s++;
    }

void
_url_resolve(SV *base, SV *ref)
  PPCODE:
    /* the redirect step's Location: (url, destination key, target), or
     * (undef, reason) when it cannot be followed */
    STRLEN bl, rl;
    const char *b = SvPVbyte(base, bl), *r = SvPVbyte(ref, rl);
    char *out = NULL;
    uvh_url_t u;
    int rc = uvh_url_resolve(b, bl, r, rl, &out);
    if (rc == 0) {
      rc = uvh_url_parse(&u, out, strlen(out));
      if (rc == 0) {
        mXPUSHp(out, strlen(out));
        mXPUSHp(u.key, strlen(u.key));
        mXPUSHp(u.target, strlen(u.target));
        uvh_url_free(&u);
      }
      free(out);
    }
    if (rc) {
      const char *why = rc == UVH_E_BADSCHEME ? "its scheme is not http or https" : uvh_strerror(rc);
      XPUSHs(&PL_sv_undef);
      mXPUSHp(why, strlen(why));
    }

void
_url_info(SV *url)
  PPCODE:
    /* (destination key, target) of an absolute URL, or nothing */
    STRLEN len;
    const char *s = SvPVbyte(url, len);
    uvh_url_t u;
    if (uvh_url_parse(&u, s, len) == 0) {
      mXPUSHp(u.key, strlen(u.key));
      mXPUSHp(u.target, strlen(u.target));
      uvh_url_free(&u);
    }

INCLUDE: loop.xsh

INCLUDE: timer.xsh

INCLUDE: pool.xsh

INCLUDE: request.xsh

INCLUDE: response.xsh

INCLUDE: client.xsh

INCLUDE: server.xsh

INCLUDE: scoreboard.xsh
