/* loop.c - a libuv loop plus the work and timers that live on it, and
 * fork detection.
 *
 * Owns: the uv_loop_t when created by uvh_loop_new. Borrows: its users
 * (the pools, known only through their ops) and timers, which unlink
 * themselves when freed, so destroying the loop can stop them all before
 * the libuv loop goes away.
 */
#include "loop/loop.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ fork */

unsigned uvh__fork_generation;

static void on_fork_child(void) { uvh__fork_generation++; }

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, on_fork_child); }

void uvh__fork_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, register_fork_handler);
}

/* ------------------------------------------------------------------ loop */

static uvh_loop_t *loop_alloc(uv_loop_t *uv, int owns) {
  uvh_loop_t *loop = calloc(1, sizeof *loop);
  if (loop == NULL)
    return NULL;
  uvh__fork_init();
  loop->uv = uv;
  loop->owns_uv = owns;
  loop->fork_generation = uvh__fork_generation;
  uvh_list_init(&loop->users);
  uvh_list_init(&loop->timers);
  return loop;
}

int uvh_loop_new(uvh_loop_t **out) {
  uv_loop_t *uv = malloc(sizeof *uv);
  int rc;
  if (uv == NULL)
    return UVH_E_NOMEM;
  rc = uv_loop_init(uv);
  if (rc < 0) {
    free(uv);
    return UVH_E_NOMEM;
  }
  *out = loop_alloc(uv, 1);
  if (*out == NULL) {
    uv_loop_close(uv);
    free(uv);
    return UVH_E_NOMEM;
  }
  return 0;
}

uint64_t uvh_monotonic_ms(void) { return uv_hrtime() / 1000000; }

int uvh_loop_measure_load(uvh_loop_t *loop) {
  int rc;
  if (loop->load_since_ns)
    return 0;
  if ((rc = uv_loop_configure(loop->uv, UV_METRICS_IDLE_TIME)) < 0)
    return UVH_E_BADARG;
  loop->load_since_ns = uv_hrtime();
  return 0;
}

int uvh_loop_busy_ns(uvh_loop_t *loop, uint64_t *busy_ns) {
  uint64_t wall, idle;
  if (!loop->load_since_ns)
    return UVH_E_BADARG;
  wall = uv_hrtime() - loop->load_since_ns;
  idle = uv_metrics_idle_time(loop->uv);
  *busy_ns = wall > idle ? wall - idle : 0;
  return 0;
}

int uvh_loop_wrap(uv_loop_t *uv, uvh_loop_t **out) {
  *out = loop_alloc(uv, 0);
  return *out ? 0 : UVH_E_NOMEM;
}

uv_loop_t *uvh_loop_uv(uvh_loop_t *loop) { return loop->uv; }
void *uvh_loop_get_data(uvh_loop_t *loop) { return loop->data; }
void uvh_loop_set_data(uvh_loop_t *loop, void *data) { loop->data = data; }

void uvh_loop_set_work_cb(uvh_loop_t *loop, uvh_loop_work_cb cb) { loop->work_cb = cb; }

void uvh__loop_work(uvh_loop_t *loop) {
  if (loop && loop->work_cb)
    loop->work_cb(loop);
}

unsigned uvh_loop_fork_generation(uvh_loop_t *loop) {
  uvh_loop_check_fork(loop);
  return loop->fork_generation;
}

int uvh_loop_backend_fd(uvh_loop_t *loop) {
  uvh_loop_check_fork(loop); /* a child's first look gets its own epoll fd */
  return uv_backend_fd(loop->uv);
}

static void on_kick(uv_idle_t *h) {}
static void on_kick_closed(uv_handle_t *h) { free(h); }

int uvh_loop_run_nowait(uvh_loop_t *loop) {
  if (uv_loop_alive(loop->uv)) {
    uv_run(loop->uv, UV_RUN_NOWAIT);
    return 0;
  }
  /* a referenced, active idle handle makes uv_run do one whole iteration
   * (timers, a poll of 0 ms, check, close callbacks) */
  if (loop->kick == NULL) {
    if ((loop->kick = malloc(sizeof *loop->kick)) == NULL)
      return UVH_E_NOMEM;
    uv_idle_init(loop->uv, loop->kick);
  }
  uv_idle_start(loop->kick, on_kick);
  uv_run(loop->uv, UV_RUN_NOWAIT);
  uv_idle_stop(loop->kick);
  return 0;
}

int uvh_loop_alive(uvh_loop_t *loop) { return uv_loop_alive(loop->uv) != 0; }

int uvh_loop_backend_timeout(uvh_loop_t *loop) {
  uvh_list_t *it;
  uint64_t now, next = 0;
  uv_update_time(loop->uv);
  if (uv_loop_alive(loop->uv))
    return uv_backend_timeout(loop->uv);
  /* only unreferenced work is left: the idle connections' deadlines (the
   * pools' queue timers run only while requests wait, which are referenced) */
  now = uv_now(loop->uv);
  for (it = loop->users.next; it != &loop->users; it = it->next) {
    uvh_loop_user_t *u = uvh_container_of(it, uvh_loop_user_t, link);
    uint64_t due = u->ops->next_deadline(u);
    if (due && (next == 0 || due < next))
      next = due;
  }
  if (next == 0)
    return -1;
  return next <= now ? 0 : next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

int uvh_loop_check_fork(uvh_loop_t *loop) {
  uvh_list_t *it;
  if (loop->fork_generation == uvh__fork_generation)
    return 0;
  loop->fork_generation = uvh__fork_generation;
  /* a new epoll instance first: the inherited one is shared with the parent */
  uv_loop_fork(loop->uv);
  for (it = loop->users.next; it != &loop->users;) {
    uvh_loop_user_t *u = uvh_container_of(it, uvh_loop_user_t, link);
    u->ops->ref(u);
    u->ops->drop_inherited(u);
    it = it->next;
    u->ops->unref(u);
  }
  return 1;
}

void uvh__loop_add_user(uvh_loop_t *loop, uvh_loop_user_t *u, const uvh_loop_user_ops_t *ops) {
  u->ops = ops;
  uvh_list_push_back(&loop->users, &u->link);
}

void uvh__loop_remove_user(uvh_loop_user_t *u) { uvh_list_remove(&u->link); }

int uvh_loop_destroy(uvh_loop_t *loop) {
  int rc = 0;
  /* each detach unlinks the pool; callbacks run from it may add pools or timers */
  while (!uvh_list_empty(&loop->users) || !uvh_list_empty(&loop->timers)) {
    if (!uvh_list_empty(&loop->users)) {
      uvh_loop_user_t *u = uvh_container_of(loop->users.next, uvh_loop_user_t, link);
      u->ops->detach(u);
    } else {
      uvh__timer_close(uvh_container_of(loop->timers.next, uvh_timer_t, loop_link));
    }
  }
  if (loop->kick) {
    uv_close((uv_handle_t *)loop->kick, on_kick_closed);
    loop->kick = NULL;
  }
  /* let close callbacks and cancelled resolves finish */
  while (uv_run(loop->uv, UV_RUN_DEFAULT) != 0)
    ;
  if (loop->owns_uv) {
    rc = uv_loop_close(loop->uv);
    free(loop->uv);
  }
  free(loop);
  return rc;
}
