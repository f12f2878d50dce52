/* timer.c - a refcounted timer for applications and tests.
 * Owns its uv_timer_t, freed in the close callback. The loop borrows it
 * so a destroyed loop can close it first.
 */
#include "loop/loop.h"
#include "base/time.h"
#include <stdlib.h>

int uvh_timer_new(uvh_loop_t *loop, uvh_timer_cb cb, void *data, uvh_timer_t **out) {
  uvh_timer_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return UVH_E_NOMEM;
  t->refcount = 1;
  t->loop = loop;
  t->cb = cb;
  t->data = data;
  uv_timer_init(loop->uv, &t->handle);
  t->handle.data = t;
  uvh_list_push_back(&loop->timers, &t->loop_link);
  *out = t;
  return 0;
}

static void on_timer(uv_timer_t *h) {
  uvh_timer_t *t = h->data;
  t->refcount++;
  t->cb(t, t->data);
  uvh_timer_unref(t);
}

int uvh_timer_start(uvh_timer_t *t, double after, double repeat) {
  if (t->loop == NULL)
    return UVH_E_CLOSED_POOL;
  if (!UVH_SECONDS_OK(after) || !UVH_SECONDS_OK(repeat))
    return UVH_E_BADARG;
  uv_timer_start(&t->handle, on_timer, after > 0 ? uvh__seconds_to_ms(after) : 0, uvh__seconds_to_ms(repeat));
  uvh__loop_work(t->loop);
  return 0;
}

void uvh_timer_stop(uvh_timer_t *t) {
  if (t->loop) {
    uv_timer_stop(&t->handle);
    uvh__loop_work(t->loop);
  }
}

int uvh_timer_active(const uvh_timer_t *t) {
  return t->loop != NULL && uv_is_active((const uv_handle_t *)&t->handle);
}

void uvh_timer_ref(uvh_timer_t *t) { t->refcount++; }

static void on_closed(uv_handle_t *h) {
  uvh_timer_t *t = h->data;
  t->closing = 0;
  if (t->refcount == 0)
    free(t);
}

void uvh__timer_close(uvh_timer_t *t) {
  if (t->loop == NULL)
    return;
  uvh_list_remove(&t->loop_link);
  t->loop = NULL;
  t->closing = 1;
  uv_close((uv_handle_t *)&t->handle, on_closed);
}

void uvh_timer_unref(uvh_timer_t *t) {
  if (--t->refcount > 0)
    return;
  if (t->loop) {
    uvh_loop_t *loop = t->loop;
    uvh__timer_close(t);
    uvh__loop_work(loop); /* its close callback frees it */
  }
  else if (!t->closing)
    free(t);
}
