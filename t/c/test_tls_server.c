/* net/tls as a server engine, and net/stream running TLS on an accepted
 * connection. First a client engine and a server engine talk over memory
 * (no sockets): handshake, application data both ways, close_notify both
 * ways, a session resumed by ticket, client certificates asked for and
 * refused, unusable files, the context cache. Then net/listen + net/stream with TLS on the
 * accepted side talk to a dialed stream with TLS over loopback, the
 * client's first data in the same write as its last handshake flight.
 * Certificates are made with the openssl command: without it, it skips. */
#include "uvh.h"
#include "net/tls.h"
#include "net/stream.h"
#include "net/listen.h"
#include "tap.h"
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[64], srv_cert[128], srv_key[128], cli_cert[128], cli_key[128];

static int make_cert(const char *cn, const char *san, const char *cert, const char *key) {
  char cmd[700];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=%s "
           "-addext subjectAltName=%s -keyout %s -out %s >/dev/null 2>&1",
           cn, san, key, cert);
  return system(cmd) == 0;
}

static int make_certs(void) {
  snprintf(dir, sizeof dir, "/tmp/uvh-tlss-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return 0;
  snprintf(srv_cert, sizeof srv_cert, "%s/server.pem", dir);
  snprintf(srv_key, sizeof srv_key, "%s/server.key", dir);
  snprintf(cli_cert, sizeof cli_cert, "%s/client.pem", dir);
  snprintf(cli_key, sizeof cli_key, "%s/client.key", dir);
  return make_cert("localhost", "DNS:localhost,IP:127.0.0.1", srv_cert, srv_key) &&
         make_cert("uvent-client", "DNS:client.invalid", cli_cert, cli_key);
}

static void remove_certs(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    printf("# could not remove %s\n", dir);
}

static struct ssl_ctx_st *server_ctx(int client_cert, char *why, size_t len) {
  uvh_tls_server_opts_t o;
  memset(&o, 0, sizeof o);
  o.cert_file = srv_cert;
  o.key_file = srv_key;
  o.client_cert = client_cert;
  o.ca_file = client_cert == UVH_TLS_CLIENT_CERT_NONE ? NULL : cli_cert;
  return uvh__tls_server_ctx_new(&o, why, len);
}

/* A client context trusting the test server; with_cert: it presents the
 * client certificate. The strings are borrowed, as the pool's merge does. */
static struct ssl_ctx_st *client_ctx(int with_cert) {
  uvh_tls_opts_t o;
  char why[300];
  uvh__tls_opts_init(&o);
  o.verify = 1;
  o.min_version = 12;
  o.str[TLS_CA_FILE] = srv_cert;
  if (with_cert) {
    o.str[TLS_CERT_FILE] = cli_cert;
    o.str[TLS_KEY_FILE] = cli_key;
  }
  return uvh__tls_ctx_new(&o, why, sizeof why);
}

/* --------------------------------------------------------- over memory */

static struct ssl_session_st *kept;
static int sessions_seen;

static int keep_session(void *app, struct ssl_session_st *s) {
  sessions_seen++;
  if (kept)
    uvh__tls_session_free(kept);
  kept = s;
  return 1;
}

/* Move the ciphertext `from` has queued into `to`. */
static void move(uvh_tls_t *from, uvh_tls_t *to) {
  char buf[16384];
  size_t n;
  while ((n = uvh__tls_take_out(from, buf, sizeof buf)) > 0)
    if (uvh__tls_feed(to, buf, n) != 0)
      printf("# feed failed\n");
}

/* Run both handshakes until each is done or failed (bounded). */
static void handshake(uvh_tls_t *c, uvh_tls_t *s, int *rc_c, int *rc_s) {
  int i;
  *rc_c = *rc_s = 0;
  for (i = 0; i < 20 && (*rc_c == 0 || *rc_s == 0); i++) {
    if (*rc_c == 0)
      *rc_c = uvh__tls_handshake(c);
    move(c, s);
    if (*rc_s == 0)
      *rc_s = uvh__tls_handshake(s);
    move(s, c);
  }
}

/* Write text on one side, move it, read it on the other. */
static int carry(uvh_tls_t *from, uvh_tls_t *to, const char *text, char *got, size_t cap) {
  long n, len = 0;
  if (uvh__tls_write(from, text, strlen(text)) != 0)
    return -1;
  move(from, to);
  while ((n = uvh__tls_read(to, got + len, cap - 1 - (size_t)len)) > 0)
    len += n;
  got[len] = '\0';
  return n < 0 ? (int)n : (int)len;
}

static void test_memory(void) {
  struct ssl_ctx_st *sctx, *cctx = client_ctx(0);
  uvh_tls_t c, s;
  int rc_c, rc_s;
  char why[300] = "", got[64];

  sctx = server_ctx(UVH_TLS_CLIENT_CERT_NONE, why, sizeof why);
  ok(sctx != NULL && cctx != NULL, "server and client contexts build (%s)", why);
  is_int(uvh__tls_accept(&s, sctx, &s), 0, "a server engine starts");
  ok(s.server && uvh__tls_app(s.ssl) == &s, "it is the server side and knows its owner");
  is_int(uvh__tls_start(&c, cctx, "localhost", NULL, &c, keep_session), 0, "a client engine starts");
  handshake(&c, &s, &rc_c, &rc_s);
  is_int(rc_c, 1, "the client's handshake is done (it verified the server as localhost)");
  is_int(rc_s, 1, "the server's handshake is done");
  ok(!c.resumed && !s.resumed, "a full handshake, no session to resume");
  is_str(s.name, "localhost", "the server learnt the name the client asked for (SNI)");

  is_int(carry(&s, &c, "hello from the server", got, sizeof got), 21, "server to client");
  is_str(got, "hello from the server", "the client reads the server's plaintext");
  ok(sessions_seen > 0 && kept != NULL, "the client got a session ticket from the server (%d)", sessions_seen);
  is_int(carry(&c, &s, "hello from the client", got, sizeof got), 21, "client to server");
  is_str(got, "hello from the client", "the server reads the client's plaintext");

  uvh__tls_shutdown(&c);
  ok(uvh__tls_out_pending(&c) > 0, "the client's close_notify waits to be sent");
  move(&c, &s);
  is_int(uvh__tls_read(&s, got, sizeof got), UVH_TLS_CLOSED, "the server reads the client's close_notify");
  uvh__tls_shutdown(&s);
  move(&s, &c);
  is_int(uvh__tls_read(&c, got, sizeof got), UVH_TLS_CLOSED, "the client reads the server's close_notify");
  uvh__tls_free(&c);
  uvh__tls_free(&s);

  /* the ticket resumes the session on a second handshake */
  ok(kept && uvh__tls_session_resumable(kept), "the kept session is resumable");
  uvh__tls_accept(&s, sctx, NULL);
  uvh__tls_start(&c, cctx, "localhost", kept, NULL, keep_session);
  handshake(&c, &s, &rc_c, &rc_s);
  ok(rc_c == 1 && rc_s == 1, "second handshake done");
  ok(c.resumed, "the client resumed the session");
  ok(s.resumed, "the server resumed it from the ticket");
  is_int(carry(&c, &s, "again", got, sizeof got), 5, "data flows on the resumed session");
  uvh__tls_free(&c);
  uvh__tls_free(&s);
  if (kept)
    uvh__tls_session_free(kept);
  kept = NULL;

  /* TLS 1.2 resumes by ticket as well (the server keeps no session cache) */
  SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
  uvh__tls_accept(&s, sctx, NULL);
  uvh__tls_start(&c, cctx, "localhost", NULL, NULL, keep_session);
  handshake(&c, &s, &rc_c, &rc_s);
  ok(rc_c == 1 && rc_s == 1 && SSL_version(c.ssl) == TLS1_2_VERSION, "a TLS 1.2 handshake");
  uvh__tls_free(&c);
  uvh__tls_free(&s);
  uvh__tls_accept(&s, sctx, NULL);
  uvh__tls_start(&c, cctx, "localhost", kept, NULL, keep_session);
  handshake(&c, &s, &rc_c, &rc_s);
  ok(rc_c == 1 && rc_s == 1 && c.resumed && s.resumed, "a second TLS 1.2 handshake resumed the ticket's session");
  uvh__tls_free(&c);
  uvh__tls_free(&s);
  uvh__tls_ctx_free(sctx);
  uvh__tls_ctx_free(cctx);
  if (kept)
    uvh__tls_session_free(kept);
  kept = NULL;
}

static void test_client_certs(void) {
  struct ssl_ctx_st *req = server_ctx(UVH_TLS_CLIENT_CERT_REQUIRE, NULL, 0);
  struct ssl_ctx_st *opt = server_ctx(UVH_TLS_CLIENT_CERT_OPTIONAL, NULL, 0);
  struct ssl_ctx_st *bare = client_ctx(0), *with = client_ctx(1);
  uvh_tls_t c, s;
  int rc_c, rc_s;
  char got[64];

  ok(req && opt && bare && with, "contexts with client certificates build");
  uvh__tls_accept(&s, req, NULL);
  uvh__tls_start(&c, bare, "localhost", NULL, NULL, NULL);
  handshake(&c, &s, &rc_c, &rc_s);
  is_int(rc_s, UVH_E_TLS, "require, and the client has no certificate: the server's handshake fails");
  ok(strstr(s.reason, "the client sent no certificate and one is required") != NULL, "server's reason: %s", s.reason);
  ok(s.fatal, "no close_notify may follow");
  /* TLS 1.3: the client finished first and learns of it from the alert */
  if (rc_c == 1)
    rc_c = (int)uvh__tls_read(&c, got, sizeof got);
  is_int(rc_c, UVH_E_TLS, "the client fails too");
  ok(strstr(c.reason, "the server refused the client certificate or wants one") != NULL, "client's reason: %s",
     c.reason);
  uvh__tls_free(&c);
  uvh__tls_free(&s);

  uvh__tls_accept(&s, req, NULL);
  uvh__tls_start(&c, with, "localhost", NULL, NULL, NULL);
  handshake(&c, &s, &rc_c, &rc_s);
  ok(rc_c == 1 && rc_s == 1, "require, and the client presents a certificate from ca_file: both done");
  ok(c.cert_requested, "the client saw the request for its certificate");
  is_int(carry(&c, &s, "with cert", got, sizeof got), 9, "data flows");
  {
    /* the verified certificate as PEM: the same text as the client's file */
    struct x509_st *cert = uvh__tls_peer_cert(&s);
    char file[8192] = "", *pem = NULL, *begin;
    size_t len = 0, n = 0;
    FILE *f = fopen(cli_cert, "r");
    if (f) {
      n = fread(file, 1, sizeof file - 1, f);
      file[n] = '\0';
      fclose(f);
    }
    ok(cert != NULL, "the server holds the verified client certificate");
    if (cert)
      pem = uvh__tls_cert_pem(cert, &len);
    begin = strstr(file, "-----BEGIN CERTIFICATE-----");
    ok(pem && len == strlen(pem) && strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0, "its PEM text");
    ok(pem && begin && strncmp(begin, pem, len) == 0, "the same as the client's certificate file");
    free(pem);
    if (cert)
      uvh__tls_cert_free(cert);
  }
  uvh__tls_free(&c);
  uvh__tls_free(&s);

  uvh__tls_accept(&s, opt, NULL);
  uvh__tls_start(&c, bare, "localhost", NULL, NULL, NULL);
  handshake(&c, &s, &rc_c, &rc_s);
  ok(rc_c == 1 && rc_s == 1, "optional, and the client has no certificate: both done");
  is_int(carry(&c, &s, "without", got, sizeof got), 7, "data flows");
  ok(uvh__tls_peer_cert(&s) == NULL, "no client certificate: the server holds none");
  uvh__tls_free(&c);
  uvh__tls_free(&s);

  /* a client certificate no CA of the server signed */
  uvh__tls_ctx_free(opt);
  {
    uvh_tls_server_opts_t o;
    memset(&o, 0, sizeof o);
    o.cert_file = srv_cert;
    o.key_file = srv_key;
    o.ca_file = srv_cert; /* trusts the server's certificate only */
    o.client_cert = UVH_TLS_CLIENT_CERT_OPTIONAL;
    opt = uvh__tls_server_ctx_new(&o, NULL, 0);
  }
  uvh__tls_accept(&s, opt, NULL);
  uvh__tls_start(&c, with, "localhost", NULL, NULL, NULL);
  handshake(&c, &s, &rc_c, &rc_s);
  is_int(rc_s, UVH_E_TLS, "a client certificate from an unknown CA fails the server's handshake");
  ok(strstr(s.reason, "certificate verify failed: the client's certificate is self-signed") != NULL,
     "server's reason names the client's certificate: %s", s.reason);
  uvh__tls_free(&c);
  uvh__tls_free(&s);

  uvh__tls_ctx_free(req);
  uvh__tls_ctx_free(opt);
  uvh__tls_ctx_free(bare);
  uvh__tls_ctx_free(with);
}

/* The context cache serves server contexts as it does the pool's: bounded,
 * least recently used out first, users keeping their own references. */
static void test_ctx_cache(void) {
  uvh_tls_ctx_cache_t cache;
  struct ssl_ctx_st *a = server_ctx(UVH_TLS_CLIENT_CERT_NONE, NULL, 0);
  struct ssl_ctx_st *b = server_ctx(UVH_TLS_CLIENT_CERT_NONE, NULL, 0);
  struct ssl_ctx_st *c = server_ctx(UVH_TLS_CLIENT_CERT_REQUIRE, NULL, 0);
  uvh_tls_t s;
  uvh__tls_ctx_cache_init(&cache, 2);
  ok(uvh__tls_ctx_cache_find(&cache, "a") == NULL, "an empty cache finds nothing");
  uvh__tls_ctx_up_ref(a); /* a user's reference, beyond the cache's */
  is_int(uvh__tls_ctx_cache_add(&cache, "a", a), 0, "a cached");
  is_int(uvh__tls_ctx_cache_add(&cache, "b", b), 0, "b cached");
  ok(uvh__tls_ctx_cache_find(&cache, "a") == a, "a found (and now the most recent)");
  is_int(uvh__tls_ctx_cache_add(&cache, "c", c), 0, "c cached");
  is_int(cache.n, 2, "the cache holds at most 2");
  ok(uvh__tls_ctx_cache_find(&cache, "b") == NULL, "b, the least recently used, left");
  ok(uvh__tls_ctx_cache_find(&cache, "a") == a && uvh__tls_ctx_cache_find(&cache, "c") == c, "a and c stay");
  uvh__tls_ctx_cache_clear(&cache);
  is_int(cache.n, 0, "cleared");
  /* the user's reference outlives the cache */
  is_int(uvh__tls_accept(&s, a, NULL), 0, "a context the cache dropped still serves its user");
  uvh__tls_free(&s);
  uvh__tls_ctx_free(a);
}

/* Each bad setting: no context, and a sentence containing `want`. */
static void bad(const uvh_tls_server_opts_t *o, const char *want, const char *name) {
  char why[300] = "";
  struct ssl_ctx_st *ctx = uvh__tls_server_ctx_new(o, why, sizeof why);
  ok(ctx == NULL && strstr(why, want) != NULL, "%s: %s", name, why);
  if (ctx)
    uvh__tls_ctx_free(ctx);
}

static void test_bad_files(void) {
  uvh_tls_server_opts_t o;
  char want[300];
  memset(&o, 0, sizeof o);
  o.cert_file = "/nonexistent/cert.pem";
  o.key_file = srv_key;
  bad(&o, "cannot load cert_file '/nonexistent/cert.pem': No such file or directory", "a missing cert_file");
  o.cert_file = srv_key;
  snprintf(want, sizeof want, "cannot load cert_file '%s': ", srv_key);
  bad(&o, want, "a key given as cert_file");
  o.cert_file = srv_cert;
  o.key_file = srv_cert;
  snprintf(want, sizeof want, "cannot load key_file '%s': ", srv_cert);
  bad(&o, want, "a certificate given as key_file");
  o.key_file = cli_key;
  snprintf(want, sizeof want, "key_file '%s' does not match cert_file '%s'", cli_key, srv_cert);
  bad(&o, want, "another certificate's key");
  o.key_file = "/nonexistent/key.pem";
  bad(&o, "cannot load key_file '/nonexistent/key.pem': No such file or directory", "a missing key_file");
  o.key_file = srv_key;
  o.ca_file = "/nonexistent/ca.pem";
  o.client_cert = UVH_TLS_CLIENT_CERT_REQUIRE;
  bad(&o, "cannot load ca_file '/nonexistent/ca.pem'", "a missing ca_file");
  o.ca_file = NULL;
  o.ca_path = "/nonexistent/cadir";
  bad(&o, "cannot load ca_path '/nonexistent/cadir'", "a missing ca_path");
  o.ca_path = NULL;
  o.ciphers = "NO-SUCH-CIPHER";
  bad(&o, "tls ciphers 'NO-SUCH-CIPHER': no usable cipher", "an unusable cipher list");
  o.ciphers = NULL;
  {
    /* neither ca_file nor ca_path: the system store */
    SSL_CTX *ctx;
    char why[256] = "";
    ctx = uvh__tls_server_ctx_new(&o, why, sizeof why);
    ok(ctx != NULL, "client certificates without ca_file or ca_path: verified against the system store%s%s", *why ? ": " : "", why);
    if (ctx)
      uvh__tls_ctx_free(ctx);
  }
  o.client_cert = 7;
  bad(&o, "tls client_cert must be none, optional or require", "a verify mode out of range");
  o.client_cert = UVH_TLS_CLIENT_CERT_NONE;
  o.min_version = 11;
  bad(&o, "tls min_version must be TLSv1.2 or TLSv1.3", "TLS 1.1 is not a choice");
  memset(&o, 0, sizeof o);
  o.key_file = srv_key;
  bad(&o, "a TLS server needs cert_file", "no certificate");
}

/* --------------------------------------------------------- over sockets */

static uv_loop_t loop;
static uvh_stream_bufs_t bufs;
static uvh_listener_t listener;
static uv_timer_t guard;

typedef struct {
  uvh_stream_t s;
  int handshakes, held, handle_closed, closed, clean, errors;
  size_t len;
  char data[64];
} side_t;

static side_t srv, cli;
static struct ssl_ctx_st *sock_sctx, *sock_cctx;
static int timed_out;

#define SIDE(st) uvh_container_of(st, side_t, s)

static void finish(void) {
  uv_timer_stop(&guard);
  if (!listener.closing)
    uvh__listener_close(&listener);
}

static void on_data(uvh_stream_t *st, const char *data, size_t len, size_t more) {
  side_t *x = SIDE(st);
  if (x->len + len < sizeof x->data) {
    memcpy(x->data + x->len, data, len);
    x->len += len;
  }
  if (x == &srv && x->len == 4) {
    /* the server answers */
    uvh__tls_write(st->tls, "pong", 4);
    uvh__stream_flush(st, NULL);
  } else if (x == &cli && x->len == 4) {
    uvh__stream_close(st, 1); /* with close_notify */
  }
}

static void on_closed(uvh_stream_t *st, int err, int clean) {
  side_t *x = SIDE(st);
  x->closed++;
  x->clean = clean && err == UV_EOF;
  uvh__stream_close(st, 1);
  if (x == &srv)
    finish();
}

/* The client writes its first data behind its Finished, in one write. */
static void cli_on_handshake(uvh_stream_t *st) {
  int rc = uvh__tls_handshake(st->tls);
  if (rc == 1) {
    cli.handshakes++;
    uvh__tls_write(st->tls, "ping", 4);
  }
  if (rc < 0 || uvh__stream_flush(st, NULL) < 0) {
    printf("# client handshake: %s\n", st->tls->reason);
    uvh__stream_close(st, 0);
  }
}

static void srv_on_handshake(uvh_stream_t *st) {
  int sys_err, rc = uvh__stream_handshake(st, &sys_err);
  if (rc == 1)
    srv.handshakes++;
  else if (rc < 0) {
    printf("# server handshake: %s (%d)\n", st->tls->reason, sys_err);
    uvh__stream_close(st, 0);
    finish();
  }
}

static void on_error(uvh_stream_t *st, int code, int sys_err) {
  SIDE(st)->errors++;
  printf("# stream error %d: %s\n", code, st->tls ? st->tls->reason : "");
  uvh__stream_close(st, 0);
  finish();
}
static void on_write_done(uvh_stream_t *st, int status) { SIDE(st)->held--; }
static void on_hold(uvh_stream_t *st) { SIDE(st)->held++; }
static void on_handle_closed(uvh_stream_t *st) { SIDE(st)->handle_closed++; }

static const uvh_stream_ops_t cli_ops = {on_data, on_closed, cli_on_handshake, on_error,
                                         on_write_done, on_hold, on_handle_closed, NULL};
static const uvh_stream_ops_t srv_ops = {on_data, on_closed, srv_on_handshake, on_error,
                                         on_write_done, on_hold, on_handle_closed, NULL};

static void on_connection(uvh_listener_t *l, uv_stream_t *conn) {
  uv_tcp_t *tcp = (uv_tcp_t *)conn;
  uvh__stream_init(&srv.s, &bufs, &srv_ops);
  srv.s.tls = malloc(sizeof *srv.s.tls);
  if (srv.s.tls == NULL || uvh__tls_accept(srv.s.tls, sock_sctx, &srv) != 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    return;
  }
  uvh__stream_open(&srv.s, (uv_stream_t *)tcp);
}
static void on_listen_error(uvh_listener_t *l, int status) { printf("# accept failed: %d\n", status); }
static void on_listener_closed(uvh_listener_t *l) {}
static const uvh_listener_ops_t listener_ops = {on_connection, on_listen_error, on_listener_closed};

static void on_connect(uv_connect_t *req, int status) {
  uv_tcp_t *tcp = (uv_tcp_t *)req->handle;
  free(req);
  if (status < 0) {
    printf("# connect failed: %s\n", uv_strerror(status));
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    finish();
    return;
  }
  uvh__stream_init(&cli.s, &bufs, &cli_ops);
  cli.s.tls = malloc(sizeof *cli.s.tls);
  uvh__tls_start(cli.s.tls, sock_cctx, "localhost", NULL, &cli, NULL);
  uvh__stream_open(&cli.s, (uv_stream_t *)tcp);
  cli_on_handshake(&cli.s); /* the ClientHello */
}

static void on_guard(uv_timer_t *t) {
  timed_out = 1;
  if (cli.s.handle)
    uvh__stream_close(&cli.s, 0);
  if (srv.s.handle)
    uvh__stream_close(&srv.s, 0);
  finish();
}

static void test_sockets(void) {
  struct sockaddr_in a;
  uv_tcp_t *tcp = malloc(sizeof *tcp);
  uv_connect_t *req = malloc(sizeof *req);
  char why[300] = "";
  int rc;

  uv_loop_init(&loop);
  sock_sctx = server_ctx(UVH_TLS_CLIENT_CERT_NONE, why, sizeof why);
  sock_cctx = client_ctx(0);
  is_int(uvh__listen(&listener, &loop, "127.0.0.1", 0, 8, &listener_ops), 0, "listening on 127.0.0.1");
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 10000, 0); /* bounds the test if a side stalls */
  uv_ip4_addr("127.0.0.1", uvh__listener_port(&listener), &a);
  uv_tcp_init(&loop, tcp);
  uv_tcp_connect(req, tcp, (struct sockaddr *)&a, on_connect);
  uv_run(&loop, UV_RUN_DEFAULT);

  ok(!timed_out, "the exchange finished without the guard timer");
  is_int(cli.handshakes, 1, "the dialed side finished its handshake");
  is_int(srv.handshakes, 1, "the accepted side finished its handshake");
  is_mem(srv.data, srv.len, "ping", "the accepted side read the data sent behind the client's Finished");
  is_mem(cli.data, cli.len, "pong", "the dialed side read the answer");
  is_int(srv.closed, 1, "the accepted side saw the peer close");
  ok(srv.clean, "with a close_notify");
  ok(srv.errors == 0 && cli.errors == 0, "no stream errors");
  ok(srv.handle_closed == 1 && cli.handle_closed == 1, "both handles closed");
  ok(srv.held == 0 && cli.held == 0, "no write left in flight");
  uvh__stream_free(&srv.s);
  uvh__stream_free(&cli.s);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  free(bufs.plain);
  uvh__tls_ctx_free(sock_sctx);
  uvh__tls_ctx_free(sock_cctx);
  rc = uv_loop_close(&loop);
  is_int(rc, 0, "the loop closes: no handle left open");
}

int main(void) {
  if (system("openssl version >/dev/null 2>&1") != 0) {
    printf("1..0 # SKIP the openssl command is not installed (it makes the certificates)\n");
    return 0;
  }
  if (!make_certs()) {
    ok(0, "certificates made with the openssl command");
    remove_certs();
    return done_testing();
  }
  test_bad_files();
  test_memory();
  test_client_certs();
  test_ctx_cache();
  test_sockets();
  remove_certs();
  return done_testing();
}
