/* The invariant checks (base/check.h) are compiled into the core the C
 * tests link, and a broken invariant stops the process: each case breaks
 * one in a child, which must die by SIGABRT with the check's message. */
#include "internal.h"
#include "tap.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run `breaks` in a child with stderr on a pipe; 1 when it aborted and
 * said "invariant broken". */
static int aborts(void (*breaks)(void)) {
  int fds[2], status;
  char out[512] = "";
  ssize_t n, got = 0;
  pid_t pid;
  if (pipe(fds) != 0 || (pid = fork()) < 0)
    return 0;
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    breaks();
    _exit(0);
  }
  close(fds[1]);
  while (got < (ssize_t)sizeof out - 1 && (n = read(fds[0], out + got, sizeof out - 1 - (size_t)got)) > 0)
    got += n;
  close(fds[0]);
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, "invariant broken") != NULL;
}

static void complete_a_new_request(void) {
  uvh_request_t *r;
  if (uvh_request_new(&r) == 0)
    uvh__request_set_state(r, REQ_DONE); /* never submitted: cannot complete */
}

static void queue_a_request_with_a_connection(void) {
  uvh_request_t *r;
  static char fake_conn;
  if (uvh_request_new(&r) == 0) {
    r->conn = (uvh_conn_t *)&fake_conn; /* only a running request has one */
    uvh__request_set_state(r, REQ_QUEUED);
  }
}

static void keep_a_good_state(void) {
  uvh_request_t *r;
  if (uvh_request_new(&r) == 0) {
    uvh__request_set_state(r, REQ_QUEUED);
    uvh__request_set_state(r, REQ_DONE);
    uvh_request_unref(r);
  }
}

int main(void) {
#ifndef UVH_CHECKS
  ok(0, "the C tests are built with UVH_CHECKS");
#endif
  ok(aborts(complete_a_new_request), "completing a request never submitted aborts");
  ok(aborts(queue_a_request_with_a_connection), "a queued request with a connection aborts");
  ok(!aborts(keep_a_good_state), "a request queued then completed does not");
  return done_testing();
}
