/* Every setter taking seconds (request timeouts, pool config and idle
 * timeout, timers) refuses NaN, infinities, negatives and values above
 * UVH_MAX_SECONDS with UVH_E_BADARG and changes nothing: such a value must
 * never fall back to a default nor overflow the milliseconds. */
#include "internal.h"
#include "tap.h"
#include <math.h>

static const double bad[] = {NAN, INFINITY, -INFINITY, 1e308, UVH_MAX_SECONDS * 1.5, -1};
#define NBAD (sizeof bad / sizeof bad[0])

static void on_timer(uvh_timer_t *t, void *data) { ++*(int *)data; }

static void test_request(void) {
  uvh_request_t *r;
  size_t i;
  is_int(uvh_request_new(&r), 0, "new request");
  for (i = 0; i < NBAD; i++) {
    is_int(uvh_request_set_timeout(r, bad[i]), UVH_E_BADARG, "timeout refused");
    ok(strstr(uvh_request_last_error(r), "'timeout' must be a finite number of seconds >= 0") != NULL,
       "with a sentence naming it: %s", uvh_request_last_error(r));
    if (bad[i] >= 0 || isnan(bad[i])) { /* a negative connect_timeout means "inherit" */
      is_int(uvh_request_set_connect_timeout(r, bad[i]), UVH_E_BADARG, "connect_timeout refused");
      ok(strstr(uvh_request_last_error(r), "'connect_timeout' must be a finite number") != NULL, "named");
    }
  }
  is_int(uvh_request_set_timeout(r, UVH_MAX_SECONDS), 0, "the largest timeout is fine");
  is_int(uvh_request_set_connect_timeout(r, 0), 0, "and 0");
  uvh_request_unref(r);
}

static void test_pool(uvh_loop_t *loop) {
  uvh_pool_config_t cfg;
  uvh_pool_t *pool;
  size_t i;
  for (i = 0; i < NBAD; i++) {
    uvh_pool_config_init(&cfg);
    cfg.idle_timeout = bad[i];
    is_int(uvh_pool_new(loop, &cfg, &pool), UVH_E_BADARG, "idle_timeout refused");
    uvh_pool_config_init(&cfg);
    cfg.max_lifetime = bad[i];
    is_int(uvh_pool_new(loop, &cfg, &pool), UVH_E_BADARG, "max_lifetime refused");
    uvh_pool_config_init(&cfg);
    cfg.queue_timeout = bad[i];
    is_int(uvh_pool_new(loop, &cfg, &pool), UVH_E_BADARG, "queue_timeout refused");
  }
  uvh_pool_config_init(&cfg);
  is_int(uvh_pool_new(loop, &cfg, &pool), 0, "a pool with the defaults");
  for (i = 0; i < NBAD; i++) {
    is_int(uvh_pool_set_idle_timeout(pool, bad[i]), UVH_E_BADARG, "set_idle_timeout refused");
    ok(uvh_pool_idle_timeout(pool) == 60, "the idle timeout is unchanged");
  }
  is_int(uvh_pool_set_idle_timeout(pool, UVH_MAX_SECONDS), 0, "the largest idle timeout is fine");
  uvh_pool_release(pool);
  uvh_pool_unref(pool);
}

static void test_timer(uvh_loop_t *loop) {
  uvh_timer_t *t;
  int fired = 0;
  size_t i;
  is_int(uvh_timer_new(loop, on_timer, &fired, &t), 0, "new timer");
  for (i = 0; i < NBAD; i++) {
    is_int(uvh_timer_start(t, bad[i], 0), UVH_E_BADARG, "delay refused");
    is_int(uvh_timer_start(t, 0, bad[i]), UVH_E_BADARG, "repeat refused");
    ok(!uvh_timer_active(t), "the timer was not started");
  }
  uv_run(uvh_loop_uv(loop), UV_RUN_NOWAIT);
  is_int(fired, 0, "nothing fired");
  uvh_timer_unref(t);
}

int main(void) {
  uvh_loop_t *loop;
  is_int(uvh_loop_new(&loop), 0, "new loop");
  test_request();
  test_pool(loop);
  test_timer(loop);
  is_int(uvh_loop_destroy(loop), 0, "the loop closes: no handle left open");
  return done_testing();
}
