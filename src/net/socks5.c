/* socks5.c - see socks5.h. */
#include "net/socks5.h"
#include "base/error.h"
#include <stdio.h>
#include <string.h>

/* The one writer of s->state. */
static void set_state(uvh_socks5_t *s, uvh_socks5_state_t state) { s->state = state; }

/* Fail with a reason; `fmt` has one %d, for `n`. */
static int fail(uvh_socks5_t *s, const char *fmt, int n) {
  snprintf(s->reason, sizeof s->reason, fmt, n);
  set_state(s, SOCKS5_FAILED);
  return UVH_E_PROXY;
}

static int fail_str(uvh_socks5_t *s, const char *why) {
  snprintf(s->reason, sizeof s->reason, "%s", why);
  set_state(s, SOCKS5_FAILED);
  return UVH_E_PROXY;
}

const char *uvh__socks5_reply_text(int code) {
  switch (code) {
  case 0: return "succeeded";
  case 1: return "general SOCKS server failure";
  case 2: return "connection not allowed by ruleset";
  case 3: return "network unreachable";
  case 4: return "host unreachable";
  case 5: return "connection refused";
  case 6: return "TTL expired";
  case 7: return "command not supported";
  case 8: return "address type not supported";
  }
  return "unassigned reply code";
}

int uvh__socks5_init(uvh_socks5_t *s, const char *user, const char *pass, int atyp, const void *addr,
                     size_t addr_len, uint16_t port) {
  size_t ul = user ? strlen(user) : 0, pl = pass ? strlen(pass) : 0;
  memset(s, 0, sizeof *s);
  s->reply = -1;
  if ((user && (ul == 0 || ul > 255)) || pl > 255)
    return UVH_E_BADARG;
  if (!(atyp == UVH_SOCKS5_ATYP_IPV4 && addr_len == 4) && !(atyp == UVH_SOCKS5_ATYP_IPV6 && addr_len == 16) &&
      !(atyp == UVH_SOCKS5_ATYP_NAME && addr_len >= 1 && addr_len <= 255))
    return UVH_E_BADARG;
  if (user) {
    s->has_auth = 1;
    s->user_len = (unsigned char)ul;
    s->pass_len = (unsigned char)pl;
    memcpy(s->user, user, ul);
    memcpy(s->pass, pass, pl);
  }
  s->atyp = (unsigned char)atyp;
  s->addr_len = (unsigned char)addr_len;
  memcpy(s->addr, addr, addr_len);
  s->port = port;
  set_state(s, SOCKS5_GREETING);
  return 0;
}

int uvh__socks5_start(uvh_socks5_t *s, uvh_buf_t *out) {
  /* VER 5, the methods offered: username/password only when we have
   * credentials (a proxy may then still choose none) */
  static const unsigned char none[] = {5, 1, 0}, both[] = {5, 2, 0, 2};
  return uvh_buf_append(out, s->has_auth ? both : none, s->has_auth ? sizeof both : sizeof none) ? UVH_E_NOMEM : 0;
}

static int send_auth(uvh_socks5_t *s, uvh_buf_t *out) {
  unsigned char v = 1;
  int rc = uvh_buf_append(out, &v, 1);
  rc |= uvh_buf_append(out, &s->user_len, 1);
  rc |= uvh_buf_append(out, s->user, s->user_len);
  rc |= uvh_buf_append(out, &s->pass_len, 1);
  rc |= uvh_buf_append(out, s->pass, s->pass_len);
  return rc ? UVH_E_NOMEM : 0;
}

static int send_connect(uvh_socks5_t *s, uvh_buf_t *out) {
  unsigned char head[5] = {5, 1, 0, s->atyp, s->addr_len};
  unsigned char port[2] = {(unsigned char)(s->port >> 8), (unsigned char)(s->port & 255)};
  /* a name goes with its length; an address has a fixed one */
  int rc = uvh_buf_append(out, head, s->atyp == UVH_SOCKS5_ATYP_NAME ? 5 : 4);
  rc |= uvh_buf_append(out, s->addr, s->addr_len);
  rc |= uvh_buf_append(out, port, 2);
  return rc ? UVH_E_NOMEM : 0;
}

/* How many bytes the reply being accumulated has, once enough of it is
 * known; 0 while that is not yet known. */
static size_t reply_size(const uvh_socks5_t *s) {
  switch (s->state) {
  case SOCKS5_GREETING:
  case SOCKS5_AUTH:
    return 2;
  case SOCKS5_CONNECT:
    if (s->in_len < 4)
      return 0;
    if (s->in[3] == UVH_SOCKS5_ATYP_IPV4)
      return 4 + 4 + 2;
    if (s->in[3] == UVH_SOCKS5_ATYP_IPV6)
      return 4 + 16 + 2;
    if (s->in[3] == UVH_SOCKS5_ATYP_NAME)
      return s->in_len < 5 ? 0 : 4 + 1 + (size_t)s->in[4] + 2;
    return 4; /* unknown: judged on its first four bytes */
  default:
    return 0;
  }
}

/* A whole reply is in s->in. */
static int on_reply(uvh_socks5_t *s, uvh_buf_t *out) {
  const unsigned char *r = s->in;
  switch (s->state) {
  case SOCKS5_GREETING:
    if (r[0] != 5)
      return fail(s, "the proxy does not speak SOCKS5 (its greeting reply has version %d)", r[0]);
    if (r[1] == 0xff)
      return fail_str(s, s->has_auth ? "the proxy accepts none of the authentication methods offered (none, "
                                       "username/password)"
                                     : "the proxy requires authentication (give user:password in the proxy URL)");
    if (r[1] == 2 && s->has_auth) {
      set_state(s, SOCKS5_AUTH);
      return send_auth(s, out);
    }
    if (r[1] == 2)
      return fail_str(s, "the proxy requires a user name and password (give user:password@ in the proxy URL)");
    if (r[1] != 0)
      return fail(s, "the proxy chose authentication method %d, which was not offered", r[1]);
    set_state(s, SOCKS5_CONNECT);
    return send_connect(s, out);
  case SOCKS5_AUTH:
    if (r[0] != 1)
      return fail(s, "malformed username/password reply (version %d)", r[0]);
    if (r[1] != 0)
      return fail(s, "the proxy refused the user name and password (status %d)", r[1]);
    set_state(s, SOCKS5_CONNECT);
    return send_connect(s, out);
  case SOCKS5_CONNECT:
    if (r[0] != 5)
      return fail(s, "malformed CONNECT reply (version %d)", r[0]);
    s->reply = r[1];
    if (r[1] != 0) {
      snprintf(s->reason, sizeof s->reason, "the proxy could not connect to the target: %s (SOCKS5 reply %d)",
               uvh__socks5_reply_text(r[1]), r[1]);
      set_state(s, SOCKS5_FAILED);
      return UVH_E_PROXY;
    }
    if (r[2] != 0)
      return fail(s, "malformed CONNECT reply (reserved byte %d)", r[2]);
    if (r[3] != UVH_SOCKS5_ATYP_IPV4 && r[3] != UVH_SOCKS5_ATYP_IPV6 && r[3] != UVH_SOCKS5_ATYP_NAME)
      return fail(s, "malformed CONNECT reply (address type %d)", r[3]);
    set_state(s, SOCKS5_DONE);
    return 1;
  default:
    return 0;
  }
}

int uvh__socks5_feed(uvh_socks5_t *s, const char *data, size_t len, size_t *used, uvh_buf_t *out) {
  size_t i = 0;
  *used = 0;
  while (i < len) {
    size_t want;
    int rc;
    if (s->state == SOCKS5_DONE || s->state == SOCKS5_FAILED)
      break;
    want = reply_size(s);
    if (want == 0)
      want = s->in_len + 1; /* one byte at a time until the size is known */
    while (i < len && s->in_len < want)
      s->in[s->in_len++] = (unsigned char)data[i++];
    if (s->in_len < want || (reply_size(s) == 0 || s->in_len < reply_size(s)))
      continue;
    s->in_len = 0;
    rc = on_reply(s, out);
    if (rc != 0) {
      *used = i;
      return rc;
    }
    /* the proxy must wait for our next message before it answers it */
    if (i < len)
      return fail(s, "the proxy sent %d bytes more than its reply", (int)(len - i));
  }
  *used = i;
  return s->state == SOCKS5_FAILED ? UVH_E_PROXY : 0;
}
