/* loop.c - a libuv loop plus the pools and timers that live on it.
 *
 * Owns: the uv_loop_t when created by uvh_loop_new. Borrows: pools and
 * timers (they unlink themselves when freed), so destroying the loop can
 * stop them all before the libuv loop goes away.
 */
#include "internal.h"
#include <stdlib.h>

static uvh_loop_t *loop_alloc(uv_loop_t *uv, int owns) {
  uvh_loop_t *loop = calloc(1, sizeof *loop);
  if (loop == NULL)
    return NULL;
  uvh__fork_init();
  loop->uv = uv;
  loop->owns_uv = owns;
  loop->fork_generation = uvh__fork_generation;
  uvh_list_init(&loop->pools);
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

int uvh_loop_wrap(uv_loop_t *uv, uvh_loop_t **out) {
  *out = loop_alloc(uv, 0);
  return *out ? 0 : UVH_E_NOMEM;
}

uv_loop_t *uvh_loop_uv(uvh_loop_t *loop) { return loop->uv; }
void *uvh_loop_get_data(uvh_loop_t *loop) { return loop->data; }
void uvh_loop_set_data(uvh_loop_t *loop, void *data) { loop->data = data; }

int uvh_loop_check_fork(uvh_loop_t *loop) {
  uvh_list_t *it;
  if (loop->fork_generation == uvh__fork_generation)
    return 0;
  loop->fork_generation = uvh__fork_generation;
  /* a new epoll instance first: the inherited one is shared with the parent */
  uv_loop_fork(loop->uv);
  for (it = loop->pools.next; it != &loop->pools;) {
    uvh_pool_t *pool = uvh_container_of(it, uvh_pool_t, loop_link);
    uvh_pool_ref(pool);
    uvh__pool_drop_inherited(pool);
    it = it->next;
    uvh_pool_unref(pool);
  }
  return 1;
}

void uvh_loop_destroy(uvh_loop_t *loop) {
  /* each detach unlinks the pool; callbacks run from it may add pools or timers */
  while (!uvh_list_empty(&loop->pools) || !uvh_list_empty(&loop->timers)) {
    if (!uvh_list_empty(&loop->pools))
      uvh__pool_detach_loop(uvh_container_of(loop->pools.next, uvh_pool_t, loop_link));
    else
      uvh__timer_close(uvh_container_of(loop->timers.next, uvh_timer_t, loop_link));
  }
  /* let close callbacks and cancelled resolves finish */
  while (uv_run(loop->uv, UV_RUN_DEFAULT) != 0)
    ;
  if (loop->owns_uv) {
    uv_loop_close(loop->uv);
    free(loop->uv);
  }
  free(loop);
}
