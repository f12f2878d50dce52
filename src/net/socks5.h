/* socks5.h - the client side of a SOCKS5 handshake (RFC 1928, with the
 * username/password method of RFC 1929) as a state machine over bytes:
 * it says what to send and is fed what the proxy answers, and knows no
 * socket, so it is tested and fuzzed from bytes alone.
 *
 * Owns: its copies of the credentials and the target. Borrows: nothing.
 */
#ifndef UVH_NET_SOCKS5_H
#define UVH_NET_SOCKS5_H
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* RFC 1928 address types */
#define UVH_SOCKS5_ATYP_IPV4 1
#define UVH_SOCKS5_ATYP_NAME 3
#define UVH_SOCKS5_ATYP_IPV6 4

typedef enum {
  SOCKS5_GREETING,           /* methods sent, waiting for the chosen one */
  SOCKS5_AUTH,               /* username/password sent, waiting for its status */
  SOCKS5_CONNECT,            /* CONNECT sent, waiting for the reply */
  SOCKS5_DONE,               /* the tunnel is up */
  SOCKS5_FAILED              /* reason says why */
} uvh_socks5_state_t;

typedef struct {
  uvh_socks5_state_t state;  /* written by the feed (socks5.c set_state) only */
  unsigned char user_len, pass_len, addr_len;
  unsigned char atyp;        /* of the target */
  unsigned char has_auth;    /* offer username/password */
  uint16_t port;             /* of the target */
  int reply;                 /* the CONNECT reply code (0 success), -1 before it came */
  char user[256], pass[256];
  unsigned char addr[256];   /* 4 or 16 bytes of address, or the name */
  unsigned char in[262];     /* a reply, accumulated across feeds */
  size_t in_len;
  char reason[160];          /* SOCKS5_FAILED: why, in words */
} uvh_socks5_t;

/* Set up for the target: an address (atyp 1 with 4 bytes, 4 with 16) or
 * a name (atyp 3, 1 to 255 bytes), with credentials (user NULL: none;
 * each at most 255 bytes, user not empty). 0 or UVH_E_BADARG. */
int uvh__socks5_init(uvh_socks5_t *s, const char *user, const char *pass, int atyp, const void *addr,
                     size_t addr_len, uint16_t port);
/* The greeting, appended to *out: 0 or UVH_E_NOMEM. */
int uvh__socks5_start(uvh_socks5_t *s, uvh_buf_t *out);
/* Feed the proxy's bytes; what to send next is appended to *out. 0 wants
 * more, 1 the tunnel is up (*used bytes were the proxy's, the rest is the
 * target's), UVH_E_PROXY with s->reason, or UVH_E_NOMEM. */
int uvh__socks5_feed(uvh_socks5_t *s, const char *data, size_t len, size_t *used, uvh_buf_t *out);
/* The reply code's meaning (RFC 1928 section 6), e.g. "connection refused". */
const char *uvh__socks5_reply_text(int code);

#endif
