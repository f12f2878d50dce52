/* TLS in the core against `openssl s_server`: verification outcomes,
 * settings errors, context caching, session resumption, a handshake that
 * never finishes. Run under valgrind by t/00-core.t with UVENT_VALGRIND=1.
 * Needs the openssl command (a test dependency): without it, it skips. */
#include "internal.h"
#include "tap.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

static char dir[64], cert[128], key[128], url[128];
static int port;
static pid_t server_pid;
static uvh_loop_t *loop;

typedef struct {
  int done, code, status;
  char message[320];
} outcome_t;

static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), p;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  p = ntohs(a.sin_port);
  close(fd);
  return p;
}

static int can_connect(int p) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)p);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  close(fd);
  return rc == 0;
}

static int start_server(void) {
  char cmd[512], accept_arg[32];
  int i;
  snprintf(dir, sizeof dir, "/tmp/uvh-tls-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return 0;
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost "
           "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
           key, cert);
  if (system(cmd) != 0)
    return 0;
  port = free_port();
  snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
  server_pid = fork();
  if (server_pid == 0) {
    /* -www answers each request with HTTP/1.0 and closes: every request
     * is a new connection, which is what resumption needs */
    /* bounded: a crashed test must not leave it behind */
    execlp("timeout", "timeout", "120", "openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key", key, "-www", "-quiet",
           (char *)NULL);
    _exit(127);
  }
  for (i = 0; i < 100 && !can_connect(port); i++)
    usleep(50000);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
  return i < 100;
}

static void stop_server(void) {
  char cmd[128];
  if (server_pid > 0) {
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    printf("# could not remove %s\n", dir);
}

static void on_done(uvh_request_t *req, uvh_response_t *resp, const uvh_error_t *err, void *data) {
  outcome_t *o = data;
  o->done++;
  o->status = uvh_response_status(resp);
  o->code = err ? err->code : 0;
  snprintf(o->message, sizeof o->message, "%s", err ? err->message : "");
}

/* One request with the given settings, run to completion. */
static void fetch(uvh_pool_t *pool, const char *u, const uvh_tls_config_t *tls, double connect_timeout,
                  outcome_t *o) {
  uvh_request_t *req;
  memset(o, 0, sizeof *o);
  uvh_request_new(&req);
  uvh_request_set_url(req, u, strlen(u));
  if (tls)
    uvh_request_set_tls(req, tls);
  if (connect_timeout > 0)
    uvh_request_set_connect_timeout(req, connect_timeout);
  uvh_request_set_timeout(req, 10);
  uvh_request_set_callback(req, on_done, o);
  if (uvh_pool_submit(pool, req, NULL) != 0)
    o->code = 1;
  else
    uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT);
  uvh_request_unref(req);
}

static uvh_pool_t *mkpool(void) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  uvh_pool_config_init(&cfg);
  uvh_pool_new(loop, &cfg, &pool);
  return pool;
}

static void test_settings_errors(void) {
  uvh_pool_t *pool = mkpool();
  uvh_tls_config_t tls;
  uvh_request_t *req;

  uvh_tls_config_init(&tls);
  tls.ca_file = "/nonexistent/ca.pem";
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_TLS_CONFIG, "pool: a missing ca_file is refused");
  ok(strstr(uvh_pool_last_error(pool), "cannot load ca_file '/nonexistent/ca.pem'") != NULL, "message: %s",
     uvh_pool_last_error(pool));

  uvh_tls_config_init(&tls);
  tls.key_file = key;
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_TLS_CONFIG, "pool: key_file without cert_file is refused");

  uvh_tls_config_init(&tls);
  tls.cert_file = cert;
  tls.key_file = cert; /* a certificate is no key */
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_TLS_CONFIG, "pool: an unusable key_file is refused");
  uvh_tls_config_init(&tls);
  tls.cert_file = cert;
  tls.key_file = "/nonexistent/key.pem";
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_TLS_CONFIG, "pool: a missing key_file is refused");
  ok(strstr(uvh_pool_last_error(pool), "cannot load key_file '/nonexistent/key.pem': No such file or directory") != NULL,
     "message names the file and the system's reason: %s", uvh_pool_last_error(pool));

  uvh_tls_config_init(&tls);
  tls.min_version = 11;
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_BADARG, "pool: TLS 1.1 is not a choice");
  uvh_tls_config_init(&tls);
  tls.ciphers = "NO-SUCH-CIPHER";
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_TLS_CONFIG, "pool: a cipher list with nothing usable is refused");
  uvh_tls_config_init(&tls);
  tls.server_name = "a\r\nb";
  is_int(uvh_pool_set_tls(pool, &tls), UVH_E_BADARG, "pool: control characters are refused");

  /* a request's unusable settings fail its submit, with nothing sent */
  uvh_request_new(&req);
  uvh_request_set_url(req, url, strlen(url));
  uvh_tls_config_init(&tls);
  tls.ca_file = "/nonexistent/ca.pem";
  is_int(uvh_request_set_tls(req, &tls), 0, "request: settings are copied");
  is_int(uvh_pool_submit(pool, req, NULL), UVH_E_TLS_CONFIG, "request: submit refuses a missing ca_file");
  ok(strstr(uvh_request_last_error(req), "cannot load ca_file") != NULL, "request message: %s",
     uvh_request_last_error(req));
  ok(!uvh_request_active(req), "request is not active");
  is_int(pool->size, 0, "no connection was opened");
  uvh_request_unref(req);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

static void test_verify(void) {
  uvh_pool_t *pool = mkpool();
  uvh_tls_config_t tls;
  outcome_t o;
  unsigned nctx;
  char u[128];

  fetch(pool, url, NULL, 0, &o);
  is_int(o.code, UVH_E_TLS, "system store: the self-signed server is refused");
  ok(strstr(o.message, "self-signed") && strstr(o.message, url), "message says why and where: %s", o.message);

  uvh_tls_config_init(&tls);
  tls.ca_file = cert;
  fetch(pool, url, &tls, 0, &o);
  is_int(o.code, 0, "ca_file trusts it");
  is_int(o.status, 200, "response over TLS");
  is_int(pool->stats.tls_handshakes, 1, "one full handshake");

  fetch(pool, url, &tls, 0, &o);
  is_int(o.status, 200, "second request");
  is_int(pool->stats.tls_resumed, 1, "its new connection resumed the session");
  is_int(pool->stats.connections_opened, 3, "three connections so far");

  nctx = pool->tls_ctxs.n;
  snprintf(u, sizeof u, "https://localhost:%d/", port);
  fetch(pool, u, &tls, 0, &o);
  is_int(o.status, 200, "by name: SNI and host name verified");
  is_int(pool->tls_ctxs.n, nctx, "same settings, another host: the cached context is shared");
  is_int(pool->stats.tls_handshakes, 2, "another destination: no session to resume yet");

  tls.server_name = "wrong.example";
  fetch(pool, url, &tls, 0, &o);
  is_int(o.code, UVH_E_TLS, "server_name not in the certificate");
  ok(strstr(o.message, "hostname mismatch") != NULL, "message: %s", o.message);

  uvh_tls_config_init(&tls);
  tls.verify = 0;
  fetch(pool, url, &tls, 0, &o);
  is_int(o.status, 200, "verify => 0 accepts the self-signed server");
  is_int(pool->tls_ctxs.n, nctx + 1, "a new setting gets a context of its own");

  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

/* A listener that accepts and never speaks. */
static void on_silent_connection(uv_stream_t *server, int status) {}

static void test_handshake_timeout(void) {
  uvh_pool_t *pool = mkpool();
  uv_tcp_t silent;
  struct sockaddr_in a;
  int namelen = sizeof a;
  outcome_t o;
  char u[128];
  uv_tcp_init(uvh_loop_uv(loop), &silent);
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&silent, (struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&silent, 8, on_silent_connection);
  uv_tcp_getsockname(&silent, (struct sockaddr *)&a, &namelen);
  snprintf(u, sizeof u, "https://127.0.0.1:%d/", ntohs(a.sin_port));
  uv_unref((uv_handle_t *)&silent);
  fetch(pool, u, NULL, 0.3, &o);
  is_int(o.code, UVH_E_CONNECT_TIMEOUT, "connect_timeout covers the TLS handshake");
  ok(strstr(o.message, "TLS handshake not finished within 0.3 s") != NULL, "message: %s", o.message);
  uv_close((uv_handle_t *)&silent, NULL);
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
  uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT);
}

int main(void) {
  if (system("openssl version >/dev/null 2>&1") != 0) {
    printf("1..0 # SKIP the openssl command is not installed (it runs the TLS server)\n");
    return 0;
  }
  if (!start_server()) {
    ok(0, "openssl s_server started (is the openssl command installed?)");
    stop_server();
    return done_testing();
  }
  uvh_loop_new(&loop);
  test_settings_errors();
  test_verify();
  test_handshake_timeout();
  is_int(uvh_loop_destroy(loop), 0, "the loop closes: no handle left open");
  stop_server();
  return done_testing();
}
