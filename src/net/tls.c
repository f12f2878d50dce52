/* tls.c - TLS settings, client and server contexts, and per-connection
 * TLS state for either side.
 *
 * Ownership: uvh_tls_opts_t owns its strings; uvh_tls_t owns its SSL
 * object (which owns both memory BIOs and holds its own context
 * reference). A session handed to the owner's on_session callback (given
 * to uvh__tls_start) becomes the owner's when it returns 1.
 */
#include "uvh.h"
#include "net/tls.h"
#include "base/url.h"
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const opt_names[TLS_NSTR] = {"ca_file", "ca_path", "cert_file", "key_file", "ciphers",
                                                "server_name"};

void uvh__tls_opts_init(uvh_tls_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->verify = -1;
}

void uvh__tls_opts_free(uvh_tls_opts_t *o) {
  int i;
  for (i = 0; i < TLS_NSTR; i++)
    free(o->str[i]);
  uvh__tls_opts_init(o);
}

void uvh_tls_config_init(uvh_tls_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->verify = -1;
}

/* Settings end up in a cache key and in file names: no control bytes. */
static int clean_string(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return 0;
  return 1;
}

int uvh__tls_opts_set(uvh_tls_opts_t *o, const uvh_tls_config_t *cfg, char *why, size_t why_len) {
  const char *in[TLS_NSTR];
  uvh_tls_opts_t n;
  int i;
  in[TLS_CA_FILE] = cfg->ca_file;
  in[TLS_CA_PATH] = cfg->ca_path;
  in[TLS_CERT_FILE] = cfg->cert_file;
  in[TLS_KEY_FILE] = cfg->key_file;
  in[TLS_CIPHERS] = cfg->ciphers;
  in[TLS_SERVER_NAME] = cfg->server_name;
  if (cfg->verify < -1 || cfg->verify > 1) {
    if (why)
      snprintf(why, why_len, "tls verify must be 0 or 1");
    return UVH_E_BADARG;
  }
  if (cfg->min_version != 0 && cfg->min_version != 12 && cfg->min_version != 13) {
    if (why)
      snprintf(why, why_len, "tls min_version must be TLSv1.2 or TLSv1.3");
    return UVH_E_BADARG;
  }
  uvh__tls_opts_init(&n);
  n.verify = cfg->verify;
  n.min_version = cfg->min_version;
  for (i = 0; i < TLS_NSTR; i++) {
    if (in[i] == NULL)
      continue;
    if (*in[i] == '\0' || !clean_string(in[i])) {
      if (why)
        snprintf(why, why_len, "tls %s must be a non-empty string without control characters", opt_names[i]);
      uvh__tls_opts_free(&n);
      return UVH_E_BADARG;
    }
    if (i == TLS_SERVER_NAME && strlen(in[i]) > UVH_URL_HOST_MAX) {
      if (why)
        snprintf(why, why_len, "tls server_name is longer than %d characters", UVH_URL_HOST_MAX);
      uvh__tls_opts_free(&n);
      return UVH_E_BADARG;
    }
    if ((n.str[i] = strdup(in[i])) == NULL) {
      uvh__tls_opts_free(&n);
      return UVH_E_NOMEM;
    }
  }
  uvh__tls_opts_free(o);
  *o = n;
  return 0;
}

void uvh__tls_opts_merge(uvh_tls_opts_t *out, const uvh_tls_opts_t *req, const uvh_tls_opts_t *pool) {
  int i;
  out->verify = req && req->verify >= 0 ? req->verify : pool->verify >= 0 ? pool->verify : 1;
  out->min_version = req && req->min_version ? req->min_version : pool->min_version ? pool->min_version : 12;
  for (i = 0; i < TLS_NSTR; i++)
    out->str[i] = req && req->str[i] ? req->str[i] : pool->str[i];
  /* a client key belongs to its certificate: never mix the two levels */
  if (req && (req->str[TLS_CERT_FILE] || req->str[TLS_KEY_FILE])) {
    out->str[TLS_CERT_FILE] = req->str[TLS_CERT_FILE];
    out->str[TLS_KEY_FILE] = req->str[TLS_KEY_FILE];
  }
}

int uvh__tls_ctx_key(const uvh_tls_opts_t *o, char *buf, size_t len) {
  int n = snprintf(buf, len, "v%d m%d", o->verify, o->min_version), i;
  for (i = 0; i < TLS_NSTR && n >= 0 && (size_t)n < len; i++)
    if (i != TLS_SERVER_NAME && o->str[i])
      n += snprintf(buf + n, len - (size_t)n, "\n%s=%s", opt_names[i], o->str[i]);
  return n >= 0 && (size_t)n < len ? n : -1;
}

/* ---------------------------------------------------------------- contexts */

/* Why OpenSSL's last operation failed: the system's words when a system
 * call failed (a missing file), else OpenSSL's reason. */
static const char *last_reason(void) {
  unsigned long e, last = 0;
  const char *r;
  while ((e = ERR_get_error()) != 0) {
    if (ERR_SYSTEM_ERROR(e))
      return strerror(ERR_GET_REASON(e));
    last = e;
  }
  r = last ? ERR_reason_error_string(last) : NULL;
  return r ? r : "unknown error";
}

/* Why a private key did not load, in words. Consumes the error queue. */
static void describe_key_failure(char *why, size_t len, const char *key, const char *cert) {
  unsigned long e, sys = 0, last = 0;
  int mismatch = 0, encrypted = 0;
  const char *r;
  while ((e = ERR_get_error()) != 0) {
    if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      mismatch = 1;
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
      encrypted = 1;
    if (ERR_SYSTEM_ERROR(e) && !sys)
      sys = e;
    last = e;
  }
  r = last ? ERR_reason_error_string(last) : NULL;
  if (mismatch)
    snprintf(why, len, "key_file '%s' does not match cert_file '%s'", key, cert);
  else if (encrypted)
    snprintf(why, len, "key_file '%s' is encrypted: give an unencrypted key", key);
  else if (sys)
    snprintf(why, len, "cannot load key_file '%s': %s", key, strerror(ERR_GET_REASON(sys)));
  else
    snprintf(why, len, "cannot load key_file '%s': %s", key, r ? r : "no private key in it");
}

/* Called when the server asks for a client certificate (whether or not
 * one is configured): a close right after such a handshake is most likely
 * the server refusing the client, which TLS 1.3 servers decide only after
 * the client's side of the handshake is done. */
static int on_cert_request(SSL *ssl, void *arg) {
  uvh_tls_t *t = SSL_get_app_data(ssl);
  if (t)
    t->cert_requested = 1;
  return 1;
}

static int on_new_session(SSL *ssl, SSL_SESSION *session) {
  uvh_tls_t *t = SSL_get_app_data(ssl);
  return t && t->on_session ? t->on_session(t->app, session) : 0;
}

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* Keys must be unencrypted: OpenSSL's default would ask for a passphrase
 * on the terminal and block the process. */
static int no_passphrase(char *buf, int size, int rwflag, void *data) { return -1; }

/* Load a certificate chain and its key (in cert when key is NULL). 1, or 0
 * with why filled. */
static int use_cert_and_key(SSL_CTX *ctx, const char *cert, const char *key, char *why, size_t why_len) {
  if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
    snprintf(why, why_len, "cannot load cert_file '%s': %s", cert, last_reason());
    return 0;
  }
  if (!SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert, SSL_FILETYPE_PEM)) {
    describe_key_failure(why, why_len, key ? key : cert, cert);
    return 0;
  }
  if (!SSL_CTX_check_private_key(ctx)) {
    snprintf(why, why_len, "key_file '%s' does not match cert_file '%s'", key ? key : cert, cert);
    return 0;
  }
  return 1;
}

SSL_CTX *uvh__tls_ctx_new(const uvh_tls_opts_t *o, char *why, size_t why_len) {
  SSL_CTX *ctx;
  const char *ca_file = o->str[TLS_CA_FILE], *ca_path = o->str[TLS_CA_PATH];
  const char *cert = o->str[TLS_CERT_FILE], *key = o->str[TLS_KEY_FILE];

  ERR_clear_error();
  ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    snprintf(why, why_len, "cannot create a TLS context: %s", last_reason());
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, o->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  /* plaintext buffers are released while a connection idles */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11 - 1);
  /* sessions go to the destination, not OpenSSL's internal cache */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_set_cert_cb(ctx, on_cert_request, NULL);
  SSL_CTX_set_verify(ctx, o->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  /* a renegotiation would stall our writes; refuse it plainly */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);

  if (ca_file || ca_path) {
    if (!SSL_CTX_load_verify_locations(ctx, ca_file, ca_path)) {
      snprintf(why, why_len, "cannot load %s '%s': %s", ca_file ? "ca_file" : "ca_path", ca_file ? ca_file : ca_path,
               last_reason());
      goto fail;
    }
  } else if (o->verify && !SSL_CTX_set_default_verify_paths(ctx)) {
    snprintf(why, why_len, "cannot use the system trust store: %s", last_reason());
    goto fail;
  }
  if (key && !cert) {
    snprintf(why, why_len, "tls key_file '%s' given without cert_file", key);
    goto fail;
  }
  if (cert && !use_cert_and_key(ctx, cert, key, why, why_len))
    goto fail;
  if (o->str[TLS_CIPHERS] && !SSL_CTX_set_cipher_list(ctx, o->str[TLS_CIPHERS])) {
    snprintf(why, why_len, "tls ciphers '%s': no usable cipher", o->str[TLS_CIPHERS]);
    goto fail;
  }
  ERR_clear_error();
  return ctx;
fail:
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *uvh__tls_server_ctx_new(const uvh_tls_server_opts_t *o, char *why, size_t why_len) {
  /* a session resumed must come from this kind of context; OpenSSL refuses
   * to resume with client certificates verified unless it is set */
  static const unsigned char sid_ctx[] = "uvent-server";
  SSL_CTX *ctx;
  int verify;
  if (o->min_version != 0 && o->min_version != 12 && o->min_version != 13) {
    snprintf(why, why_len, "tls min_version must be TLSv1.2 or TLSv1.3");
    return NULL;
  }
  if (o->client_cert < UVH_TLS_CLIENT_CERT_NONE || o->client_cert > UVH_TLS_CLIENT_CERT_REQUIRE) {
    snprintf(why, why_len, "tls client_cert must be none, optional or require");
    return NULL;
  }
  if (o->cert_file == NULL) {
    snprintf(why, why_len, "a TLS server needs cert_file (its certificate chain)%s",
             o->key_file ? "; key_file alone is not enough" : "");
    return NULL;
  }
  ERR_clear_error();
  if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
    snprintf(why, why_len, "cannot create a TLS context: %s", last_reason());
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, o->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  /* resumption by ticket only (stateless, keys per context): no cache of
   * sessions that grows with the number of clients */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  if (!use_cert_and_key(ctx, o->cert_file, o->key_file, why, why_len))
    goto fail;
  if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers)) {
    snprintf(why, why_len, "tls ciphers '%s': no usable cipher", o->ciphers);
    goto fail;
  }
  if (o->ca_file || o->ca_path) {
    /* the CAs named to the client, so it can pick its certificate */
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    if (names == NULL || !SSL_CTX_load_verify_locations(ctx, o->ca_file, o->ca_path) ||
        (o->ca_file && !SSL_add_file_cert_subjects_to_stack(names, o->ca_file)) ||
        (o->ca_path && !SSL_add_dir_cert_subjects_to_stack(names, o->ca_path))) {
      if (names)
        sk_X509_NAME_pop_free(names, X509_NAME_free);
      snprintf(why, why_len, "cannot load %s '%s': %s", o->ca_file ? "ca_file" : "ca_path",
               o->ca_file ? o->ca_file : o->ca_path, last_reason());
      goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
  } else if (o->client_cert != UVH_TLS_CLIENT_CERT_NONE && !SSL_CTX_set_default_verify_paths(ctx)) {
    /* seed 000's verifyPeer without a CA file: the system store */
    snprintf(why, why_len, "cannot use the system trust store for client certificates: %s", last_reason());
    goto fail;
  }
  verify = o->client_cert == UVH_TLS_CLIENT_CERT_NONE       ? SSL_VERIFY_NONE
           : o->client_cert == UVH_TLS_CLIENT_CERT_OPTIONAL ? SSL_VERIFY_PEER
                                                             : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, verify, NULL);
  ERR_clear_error();
  return ctx;
fail:
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}

void uvh__tls_ctx_cache_init(uvh_tls_ctx_cache_t *c, unsigned max) {
  uvh_list_init(&c->list);
  c->n = 0;
  c->max = max;
}

static void cache_drop(uvh_tls_ctx_cache_t *c, uvh_tls_ctx_t *e) {
  uvh_list_remove(&e->link);
  SSL_CTX_free(e->ctx);
  free(e);
  c->n--;
}

void uvh__tls_ctx_cache_clear(uvh_tls_ctx_cache_t *c) {
  while (!uvh_list_empty(&c->list))
    cache_drop(c, uvh_container_of(c->list.next, uvh_tls_ctx_t, link));
}

SSL_CTX *uvh__tls_ctx_cache_find(uvh_tls_ctx_cache_t *c, const char *key) {
  uvh_list_t *it;
  for (it = c->list.next; it != &c->list; it = it->next) {
    uvh_tls_ctx_t *e = uvh_container_of(it, uvh_tls_ctx_t, link);
    if (strcmp(e->key, key) == 0) {
      uvh_list_remove(&e->link);
      uvh_list_push_front(&c->list, &e->link);
      return e->ctx;
    }
  }
  return NULL;
}

int uvh__tls_ctx_cache_add(uvh_tls_ctx_cache_t *c, const char *key, SSL_CTX *ctx) {
  size_t klen = strlen(key) + 1;
  uvh_tls_ctx_t *e = malloc(sizeof *e + klen);
  if (e == NULL) {
    SSL_CTX_free(ctx);
    return UVH_E_NOMEM;
  }
  e->ctx = ctx;
  memcpy(e->key, key, klen);
  uvh_list_push_front(&c->list, &e->link);
  if (++c->n > c->max)
    cache_drop(c, uvh_container_of(c->list.prev, uvh_tls_ctx_t, link));
  return 0;
}

void uvh__tls_ctx_up_ref(SSL_CTX *ctx) { SSL_CTX_up_ref(ctx); }
void uvh__tls_ctx_free(SSL_CTX *ctx) { SSL_CTX_free(ctx); }
void uvh__tls_session_free(SSL_SESSION *s) { SSL_SESSION_free(s); }
int uvh__tls_session_resumable(const SSL_SESSION *s) { return SSL_SESSION_is_resumable(s); }
int uvh__tls_session_single_use(const SSL_SESSION *s) { return SSL_SESSION_get_protocol_version(s) == TLS1_3_VERSION; }

/* ------------------------------------------------------------- connections */

int uvh__tls_is_ip(const char *host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* An SSL object over two memory BIOs, for either side. 0 or UVH_E_NOMEM. */
static int engine_new(uvh_tls_t *t, SSL_CTX *ctx, void *app) {
  memset(t, 0, sizeof *t);
  ERR_clear_error();
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    memset(t, 0, sizeof *t);
    return UVH_E_NOMEM;
  }
  /* an empty read BIO means "wait for more", not end of file */
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  t->app = app;
  SSL_set_app_data(t->ssl, t);
  return 0;
}

int uvh__tls_accept(uvh_tls_t *t, SSL_CTX *ctx, void *app) {
  int rc = engine_new(t, ctx, app);
  if (rc != 0)
    return rc;
  t->server = 1;
  SSL_set_accept_state(t->ssl);
  return 0;
}

int uvh__tls_start(uvh_tls_t *t, SSL_CTX *ctx, const char *name, SSL_SESSION *session, void *app,
                   uvh_tls_session_cb on_session) {
  int ok = 1, rc;
  size_t len = strlen(name);
  if ((rc = engine_new(t, ctx, app)) != 0)
    return rc;
  t->on_session = on_session;
  SSL_set_connect_state(t->ssl);
  /* "example.com." is example.com: certificates and SNI name it without the dot */
  if (len > 1 && name[len - 1] == '.')
    len--;
  if (len >= sizeof t->name) {
    /* a cut name would be checked in place of the one asked for */
    SSL_free(t->ssl);
    memset(t, 0, sizeof *t);
    snprintf(t->reason, sizeof t->reason, "the server name is %zu bytes long; at most %zu can be checked", len,
             sizeof t->name - 1);
    return UVH_E_TLS;
  }
  snprintf(t->name, sizeof t->name, "%.*s", (int)len, name);
  if (uvh__tls_is_ip(t->name)) {
    /* no SNI for addresses (RFC 6066); the certificate must name the address */
    if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER)
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->name);
  } else {
    ok = SSL_set_tlsext_host_name(t->ssl, t->name);
    if (ok && (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER)) {
      SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(t->ssl, t->name);
    }
  }
  if (ok && session)
    ok = SSL_set_session(t->ssl, session);
  if (!ok) {
    /* never go on without the name check */
    char why[sizeof t->reason];
    snprintf(why, sizeof why, "cannot set up the check of the server name '%.200s': %s", t->name, last_reason());
    SSL_free(t->ssl);
    memset(t, 0, sizeof *t);
    memcpy(t->reason, why, sizeof why);
    return UVH_E_TLS;
  }
  return 0;
}

void uvh__tls_free(uvh_tls_t *t) {
  if (t->ssl) {
    /* OpenSSL forgets the session of a connection freed without a
     * shutdown; a sound one (whoever closed) stays resumable */
    if (t->handshake_done && !t->fatal)
      SSL_set_shutdown(t->ssl, SSL_get_shutdown(t->ssl) | SSL_SENT_SHUTDOWN);
    SSL_set_app_data(t->ssl, NULL);
    SSL_free(t->ssl);
  }
  memset(t, 0, sizeof *t);
}

void *uvh__tls_app(SSL *ssl) {
  uvh_tls_t *t = SSL_get_app_data(ssl);
  return t ? t->app : NULL;
}

int uvh__tls_feed(uvh_tls_t *t, const char *data, size_t len) {
  return BIO_write(t->rbio, data, (int)len) == (int)len ? 0 : UVH_E_NOMEM;
}

/* Certificate verification failures, in words a user can act on. */
static void describe_verify_failure(uvh_tls_t *t, long v) {
  const char *peer = t->server ? "client" : "server";
  char what_buf[300];
  const char *what = what_buf;
  switch (v) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
    snprintf(what_buf, sizeof what_buf, "the %s's certificate has expired", peer);
    break;
  case X509_V_ERR_CERT_NOT_YET_VALID:
    snprintf(what_buf, sizeof what_buf, "the %s's certificate is not yet valid", peer);
    break;
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    snprintf(what_buf, sizeof what_buf, "the %s's certificate is self-signed", peer);
    break;
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    snprintf(what_buf, sizeof what_buf, "a self-signed certificate in the %s's chain is not trusted", peer);
    break;
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    snprintf(what_buf, sizeof what_buf, "the %s's certificate has an unknown issuer", peer);
    break;
  case X509_V_ERR_HOSTNAME_MISMATCH:
    snprintf(what_buf, sizeof what_buf, "hostname mismatch: the server's certificate is not valid for '%.200s'", t->name);
    break;
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    snprintf(what_buf, sizeof what_buf, "IP address mismatch: the server's certificate is not valid for %.200s", t->name);
    break;
  case X509_V_ERR_CERT_REVOKED:
    snprintf(what_buf, sizeof what_buf, "the %s's certificate is revoked", peer);
    break;
  default:
    what = X509_verify_cert_error_string(v);
  }
  snprintf(t->reason, sizeof t->reason, "certificate verify failed: %.250s (X509 error %ld)", what, v);
}

/* A server engine's failure: the client is the one to blame or to fix. */
static void describe_server_failure(uvh_tls_t *t, int r, const char *reason, const char *during) {
  if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
    snprintf(t->reason, sizeof t->reason, "%s failed: the client sent no certificate and one is required (%s)", during,
             reason);
  else if (r == SSL_R_TLSV1_ALERT_UNKNOWN_CA || r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
           r == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN)
    snprintf(t->reason, sizeof t->reason, "%s failed: the client refused the server's certificate (%s)", during, reason);
  else if (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_HTTP_REQUEST || r == SSL_R_UNSUPPORTED_PROTOCOL)
    snprintf(t->reason, sizeof t->reason, "%s failed: the client does not speak TLS (or no version we allow) here (%s)",
             during, reason);
  else
    snprintf(t->reason, sizeof t->reason, "%s failed: %s", during, reason);
}

/* Set t->reason for a failed operation; `during` names it. */
static int describe_failure(uvh_tls_t *t, int ret, const char *during) {
  int err = SSL_get_error(t->ssl, ret);
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  t->fatal = 1;
  if (v != X509_V_OK && !t->handshake_done && (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER)) {
    describe_verify_failure(t, v);
  } else if (err == SSL_ERROR_SSL && e) {
    int r = ERR_GET_REASON(e);
    const char *reason = ERR_reason_error_string(e);
    if (t->server)
      describe_server_failure(t, r, reason ? reason : "protocol error", during);
    else if (r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED || r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
        r == SSL_R_TLSV1_ALERT_UNKNOWN_CA || r == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN)
      snprintf(t->reason, sizeof t->reason, "the server refused the client certificate or wants one (%s)",
               reason ? reason : "alert");
    else if (r == SSL_R_WRONG_VERSION_NUMBER)
      snprintf(t->reason, sizeof t->reason, "%s failed: the server does not speak TLS here (%s)", during, reason);
    else
      snprintf(t->reason, sizeof t->reason, "%s failed: %s", during, reason ? reason : "protocol error");
  } else {
    snprintf(t->reason, sizeof t->reason, "%s failed (OpenSSL error %d)", during, err);
  }
  ERR_clear_error();
  return UVH_E_TLS;
}

int uvh__tls_handshake(uvh_tls_t *t) {
  int rc;
  ERR_clear_error();
  rc = SSL_do_handshake(t->ssl);
  if (rc == 1) {
    t->handshake_done = 1;
    t->resumed = SSL_session_reused(t->ssl) ? 1 : 0;
    if (t->server) {
      const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
      snprintf(t->name, sizeof t->name, "%s", sni ? sni : "");
    }
    return 1;
  }
  if (SSL_get_error(t->ssl, rc) == SSL_ERROR_WANT_READ)
    return 0;
  return describe_failure(t, rc, "handshake");
}

long uvh__tls_read(uvh_tls_t *t, char *out, size_t cap) {
  int rc, err;
  ERR_clear_error();
  rc = SSL_read(t->ssl, out, (int)(cap > INT32_MAX ? INT32_MAX : cap));
  if (rc > 0)
    return rc;
  err = SSL_get_error(t->ssl, rc);
  if (err == SSL_ERROR_WANT_READ)
    return 0;
  if (err == SSL_ERROR_ZERO_RETURN)
    return UVH_TLS_CLOSED;
  return describe_failure(t, rc, "TLS read");
}

size_t uvh__tls_read_pending(uvh_tls_t *t) { return (size_t)SSL_pending(t->ssl); }

int uvh__tls_write(uvh_tls_t *t, const char *data, size_t len) {
  /* memory BIOs grow as needed: each SSL_write takes everything it is given */
  while (len > 0) {
    int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
    int rc;
    ERR_clear_error();
    rc = SSL_write(t->ssl, data, chunk);
    if (rc <= 0)
      return describe_failure(t, rc, "TLS write");
    data += rc;
    len -= (size_t)rc;
  }
  return 0;
}

void uvh__tls_shutdown(uvh_tls_t *t) {
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

size_t uvh__tls_out_pending(uvh_tls_t *t) { return BIO_ctrl_pending(t->wbio); }

size_t uvh__tls_take_out(uvh_tls_t *t, char *buf, size_t len) {
  int n = BIO_read(t->wbio, buf, (int)len);
  return n > 0 ? (size_t)n : 0;
}

static void name_text(X509_NAME *name, char *out, size_t len) {
  BIO *b = BIO_new(BIO_s_mem());
  int n;
  out[0] = '\0';
  if (b == NULL)
    return;
  X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
  n = BIO_read(b, out, (int)len - 1);
  out[n > 0 ? n : 0] = '\0';
  BIO_free(b);
}

struct x509_st *uvh__tls_peer_cert(uvh_tls_t *t) {
  if (t->ssl == NULL || !t->handshake_done || SSL_get_verify_result(t->ssl) != X509_V_OK)
    return NULL;
  return SSL_get1_peer_certificate(t->ssl);
}

char *uvh__tls_cert_pem(struct x509_st *cert, size_t *len) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *data, *pem = NULL;
  long n;
  *len = 0;
  if (bio == NULL)
    return NULL;
  if (PEM_write_bio_X509(bio, cert) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0 &&
      (pem = malloc((size_t)n + 1)) != NULL) {
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    *len = (size_t)n;
  }
  BIO_free(bio);
  return pem;
}

void uvh__tls_cert_free(struct x509_st *cert) { X509_free(cert); }

int uvh__tls_peer_names(uvh_tls_t *t, char *subject, size_t subject_len, char *issuer, size_t issuer_len) {
  X509 *cert;
  subject[0] = issuer[0] = '\0';
  if (t->ssl == NULL || !t->handshake_done || SSL_get_verify_result(t->ssl) != X509_V_OK ||
      (cert = SSL_get1_peer_certificate(t->ssl)) == NULL)
    return 0;
  name_text(X509_get_subject_name(cert), subject, subject_len);
  name_text(X509_get_issuer_name(cert), issuer, issuer_len);
  X509_free(cert);
  return 1;
}
