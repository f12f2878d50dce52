/* tls.h - TLS for byte streams: an OpenSSL engine over memory BIOs for
 * either side, driven by the connection that owns it (which it knows only
 * as `app`).
 *
 * OpenSSL never touches the socket. Ciphertext read by libuv is fed in
 * (uvh__tls_feed); ciphertext OpenSSL wants sent is taken out
 * (uvh__tls_take_out) and written by the connection. Nothing blocks. A
 * client engine starts with uvh__tls_start, a server engine with
 * uvh__tls_accept; from then on both are driven the same way (handshake,
 * read, write, shutdown).
 *
 * Client settings (uvh_tls_opts_t) are owned copies. Their canonical text
 * is the cache key of the SSL_CTX built from them (one context per
 * distinct setting, cached by the pool) and part of the destination key,
 * so requests with different settings never share a connection. Server
 * settings (uvh_tls_server_opts_t) are read once, by
 * uvh__tls_server_ctx_new.
 */
#ifndef UVH_TLS_H
#define UVH_TLS_H
#include <stddef.h>
#include "base/list.h"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;
struct bio_st;
struct x509_st;

enum { TLS_CA_FILE, TLS_CA_PATH, TLS_CERT_FILE, TLS_KEY_FILE, TLS_CIPHERS, TLS_SERVER_NAME, TLS_NSTR };

/* Owned copy of TLS settings. Unset: verify -1, min_version 0, strings NULL. */
typedef struct {
  int verify;
  int min_version; /* 12 or 13 */
  char *str[TLS_NSTR];
} uvh_tls_opts_t;

void uvh__tls_opts_init(uvh_tls_opts_t *o);
void uvh__tls_opts_free(uvh_tls_opts_t *o);
/* Copy a public config into *o (replacing it). 0 or UVH_E_BADARG/NOMEM;
 * `why` (may be NULL) gets a sentence naming the bad value. */
int uvh__tls_opts_set(uvh_tls_opts_t *o, const uvh_tls_config_t *cfg, char *why, size_t why_len);
/* The request's settings over the pool's, key by key. Strings are borrowed. */
void uvh__tls_opts_merge(uvh_tls_opts_t *out, const uvh_tls_opts_t *req, const uvh_tls_opts_t *pool);
/* Canonical text of the context part of the settings (everything but
 * server_name) into buf; its length, or -1 when it does not fit. */
int uvh__tls_ctx_key(const uvh_tls_opts_t *o, char *buf, size_t len);

/* A cached SSL_CTX under its canonical key. */
typedef struct {
  uvh_list_t link;
  struct ssl_ctx_st *ctx;
  char key[];
} uvh_tls_ctx_t;

/* Contexts by key, most recently used first, at most `max` of them, for
 * either side (a pool keys client settings, a server may key its files).
 * The cache owns one reference of each context; users take their own, so
 * the least recently used can leave the cache at any time. */
typedef struct {
  uvh_list_t list; /* uvh_tls_ctx_t */
  unsigned n, max;
} uvh_tls_ctx_cache_t;

void uvh__tls_ctx_cache_init(uvh_tls_ctx_cache_t *c, unsigned max);
/* Drop every context the cache holds (users' references stay valid). */
void uvh__tls_ctx_cache_clear(uvh_tls_ctx_cache_t *c);
/* The context cached under key, now the most recent; NULL when none
 * (borrowed: up_ref it to keep it). */
struct ssl_ctx_st *uvh__tls_ctx_cache_find(uvh_tls_ctx_cache_t *c, const char *key);
/* Cache ctx under key, taking over the caller's reference; when full the
 * least recently used goes. 0, or UVH_E_NOMEM (ctx is then freed). */
int uvh__tls_ctx_cache_add(uvh_tls_ctx_cache_t *c, const char *key, struct ssl_ctx_st *ctx);

/* Build a context from merged settings. NULL on failure, with why filled. */
struct ssl_ctx_st *uvh__tls_ctx_new(const uvh_tls_opts_t *o, char *why, size_t why_len);
/* Server side: what a listener's context is built from. The strings are
 * borrowed, read only by uvh__tls_server_ctx_new. */
enum { UVH_TLS_CLIENT_CERT_NONE, UVH_TLS_CLIENT_CERT_OPTIONAL, UVH_TLS_CLIENT_CERT_REQUIRE };
typedef struct {
  const char *cert_file;  /* PEM certificate chain, the server's own first */
  const char *key_file;   /* its unencrypted PEM private key; NULL: in cert_file */
  const char *ca_file;    /* PEM CAs that client certificates must chain to */
  const char *ca_path;    /* a hashed directory of such CAs (c_rehash); neither: the system store */
  const char *ciphers;    /* OpenSSL cipher list for TLS 1.2; NULL: OpenSSL's default */
  int client_cert;        /* UVH_TLS_CLIENT_CERT_*: ask for none, ask, or insist */
  int min_version;        /* 12 or 13; 0 is 12 */
} uvh_tls_server_opts_t;

/* Build a server context (session tickets on, no ALPN). NULL on failure,
 * with why naming the setting or file and OpenSSL's reason. */
struct ssl_ctx_st *uvh__tls_server_ctx_new(const uvh_tls_server_opts_t *o, char *why, size_t why_len);
void uvh__tls_ctx_up_ref(struct ssl_ctx_st *ctx);
void uvh__tls_ctx_free(struct ssl_ctx_st *ctx);
void uvh__tls_session_free(struct ssl_session_st *s);
int uvh__tls_session_resumable(const struct ssl_session_st *s);
/* A TLS 1.3 session: to be offered once only. */
int uvh__tls_session_single_use(const struct ssl_session_st *s);

/* OpenSSL handed over a new session of the connection `app`: return 1
 * when the callee keeps it (it then owns the reference), else 0. */
typedef int (*uvh_tls_session_cb)(void *app, struct ssl_session_st *session);

/* One connection's TLS state, client or server. Owned by the connection. */
typedef struct {
  struct ssl_st *ssl;
  struct bio_st *rbio, *wbio;  /* owned by ssl */
  unsigned handshake_done : 1;
  unsigned fatal : 1;          /* a fatal error: no close_notify may follow */
  unsigned resumed : 1;        /* the handshake resumed a session */
  unsigned cert_requested : 1; /* client: the server asked for a client certificate */
  unsigned server : 1;         /* started by uvh__tls_accept */
  void *app;                   /* the connection, for callbacks from OpenSSL */
  uvh_tls_session_cb on_session; /* client; may be NULL: sessions are not kept */
  char name[256];              /* client: the server name or address it must prove (no trailing dot);
                                  server: the name the client asked for (SNI) once the handshake is done, else "" */
  char reason[300];            /* why the last operation failed, in words */
} uvh_tls_t;

/* Start a client handshake. `name` is the server name (SNI unless it is an
 * IP literal) and the name or address the certificate must match when the
 * context verifies. `session` (may be NULL) is offered for resumption.
 * `app` is handed back by uvh__tls_app() and to on_session (may be NULL). */
int uvh__tls_start(uvh_tls_t *t, struct ssl_ctx_st *ctx, const char *name,
                   struct ssl_session_st *session, void *app, uvh_tls_session_cb on_session);
/* Start a server handshake on a context from uvh__tls_server_ctx_new.
 * `app` as for uvh__tls_start. 0 or UVH_E_NOMEM. */
int uvh__tls_accept(uvh_tls_t *t, struct ssl_ctx_st *ctx, void *app);
void uvh__tls_free(uvh_tls_t *t);
/* The connection that owns the SSL object, as given to uvh__tls_start or
 * uvh__tls_accept. */
void *uvh__tls_app(struct ssl_st *ssl);
/* Ciphertext that arrived from the peer. 0 or UVH_E_NOMEM. */
int uvh__tls_feed(uvh_tls_t *t, const char *data, size_t len);
/* Advance the handshake: 1 done, 0 wants more input, UVH_E_TLS (reason set). */
int uvh__tls_handshake(uvh_tls_t *t);
/* Decrypt: > 0 bytes of plaintext, 0 wants more input,
 * UVH_TLS_CLOSED when the peer sent close_notify, UVH_E_TLS (reason set). */
#define UVH_TLS_CLOSED (-1000)
long uvh__tls_read(uvh_tls_t *t, char *out, size_t cap);
/* Plaintext left inside OpenSSL after a read. */
size_t uvh__tls_read_pending(uvh_tls_t *t);
/* Encrypt all of data. 0 or UVH_E_TLS. */
int uvh__tls_write(uvh_tls_t *t, const char *data, size_t len);
/* Queue a close_notify alert for sending. */
void uvh__tls_shutdown(uvh_tls_t *t);
/* Ciphertext waiting to be sent, and taking it out. */
size_t uvh__tls_out_pending(uvh_tls_t *t);
size_t uvh__tls_take_out(uvh_tls_t *t, char *buf, size_t len);
/* Server side, after the handshake: the subject and issuer (RFC 2253
 * text) of the client certificate that was presented and verified. 1
 * when there is one, else 0 (both then ""). */
int uvh__tls_peer_names(uvh_tls_t *t, char *subject, size_t subject_len, char *issuer, size_t issuer_len);
/* The peer's certificate (on a server: the client's) that was presented
 * and verified, with a reference of its own for the caller
 * (uvh__tls_cert_free); or NULL. */
struct x509_st *uvh__tls_peer_cert(uvh_tls_t *t);
/* A certificate as PEM text: malloc'd, NUL-terminated, its length in
 * *len; NULL when out of memory. */
char *uvh__tls_cert_pem(struct x509_st *cert, size_t *len);
void uvh__tls_cert_free(struct x509_st *cert);
/* Is `host` an IPv4 or IPv6 literal? */
int uvh__tls_is_ip(const char *host);

#endif
