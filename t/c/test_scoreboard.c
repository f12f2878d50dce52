/* test_scoreboard.c - the worker scoreboard across fork, and loop load. */
#include "tap.h"
#include "uvh.h"
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void spin_ms(unsigned ms) {
  uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
  while (uv_hrtime() < end)
    ;
}

static void on_spin(uvh_timer_t *t, void *data) { spin_ms(60); }
static void on_sleep_done(uvh_timer_t *t, void *data) {}

static void test_slots(void) {
  uvh_scoreboard_t *sb;
  uvh_worker_info_t w;
  int a, b, status;
  pid_t pid;

  is_int(uvh_scoreboard_new(0, &sb), UVH_E_BADARG, "no slots is refused");
  is_int(uvh_scoreboard_new(UVH_SCOREBOARD_MAX + 1, &sb), UVH_E_BADARG, "too many slots are refused");
  is_int(uvh_scoreboard_new(2, &sb), 0, "a scoreboard of 2 slots");
  is_int(uvh_scoreboard_size(sb), 2, "its size");
  is_int(uvh_scoreboard_read(sb, 0, &w), 0, "slot 0 reads");
  is_int(w.state, UVH_WORKER_FREE, "a new slot is free");
  is_int(uvh_scoreboard_read(sb, 2, &w), UVH_E_BADARG, "a slot past the end does not read");

  a = uvh_scoreboard_claim(sb);
  b = uvh_scoreboard_claim(sb);
  is_int(a, 0, "the first claim takes slot 0");
  is_int(b, 1, "the second takes slot 1");
  is_int(uvh_scoreboard_claim(sb), -1, "a full scoreboard has no slot to claim");
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.state, UVH_WORKER_STARTING, "a claimed slot is starting");
  is_int(w.generation, 1, "its first generation");

  pid = fork();
  if (pid == 0) {
    uint64_t now = uvh_monotonic_ms();
    uvh_scoreboard_set_state(sb, a, UVH_WORKER_IDLE, now);
    uvh_scoreboard_request_start(sb, a, now);
    uvh_scoreboard_request_start(sb, a, now);
    uvh_scoreboard_request_start(sb, a, now + 5);
    uvh_scoreboard_request_end(sb, a, now + 7);
    _exit(0);
  }
  uvh_scoreboard_set_pid(sb, a, (int)pid);
  waitpid(pid, &status, 0);
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.pid, pid, "the master named the worker's pid");
  is_int(w.state, UVH_WORKER_BUSY, "the child's updates reach the parent: busy with requests in flight");
  is_int(w.active, 2, "two requests still in flight");
  is_int(w.served, 1, "one served");
  ok(w.last_activity_ms >= w.started_ms + 7, "last activity is the child's last update");

  uvh_scoreboard_request_end(sb, a, w.last_activity_ms);
  uvh_scoreboard_request_end(sb, a, w.last_activity_ms);
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.state, UVH_WORKER_IDLE, "idle after the last request ends");
  is_int(w.active, 0, "none in flight");
  is_int(w.served, 3, "three served");
  uvh_scoreboard_request_end(sb, a, w.last_activity_ms);
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.active, 0, "an unmatched end does not wrap the count");

  uvh_scoreboard_set_state(sb, a, UVH_WORKER_STOPPING, w.last_activity_ms);
  uvh_scoreboard_request_start(sb, a, w.last_activity_ms);
  uvh_scoreboard_request_end(sb, a, w.last_activity_ms);
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.state, UVH_WORKER_STOPPING, "a stopping worker stays stopping through requests");

  uvh_scoreboard_release(sb, a);
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.state, UVH_WORKER_FREE, "a released slot is free");
  is_int(w.pid, 0, "and names no process");
  is_int(uvh_scoreboard_claim(sb), a, "it is claimed again");
  uvh_scoreboard_read(sb, a, &w);
  is_int(w.generation, 2, "with the next generation");
  is_int(w.served, 0, "and its counters zeroed");
  uvh_scoreboard_free(sb);
}

static void test_load(void) {
  uvh_loop_t *loop;
  uvh_timer_t *spin, *sleep;
  uvh_scoreboard_t *sb;
  uvh_worker_info_t w;
  uint64_t busy, t0, wall;

  uvh_loop_new(&loop);
  is_int(uvh_loop_busy_ns(loop, &busy), UVH_E_BADARG, "no load before measuring");
  uvh_timer_new(loop, on_spin, NULL, &spin);
  uvh_timer_new(loop, on_sleep_done, NULL, &sleep);
  uv_update_time(uvh_loop_uv(loop)); /* the timers count from now, not from the loop's creation */
  uvh_timer_start(spin, 0.01, 0);
  uvh_timer_start(sleep, 0.5, 0);
  t0 = uv_hrtime();
  is_int(uvh_loop_measure_load(loop), 0, "measuring starts");
  uv_run(uvh_loop_uv(loop), UV_RUN_DEFAULT);
  wall = uv_hrtime() - t0;
  is_int(uvh_loop_busy_ns(loop, &busy), 0, "busy time reads");
  ok(busy >= 55000000, "the 60 ms callback counts as busy (%llu ns)", (unsigned long long)busy);
  /* Wide margin: under valgrind on a loaded machine, every callback and
     loop iteration is slow and counts as busy. */
  ok(busy < wall - 250000000, "the wait for the 500 ms timer does not (%llu of %llu ns)", (unsigned long long)busy,
     (unsigned long long)wall);

  uvh_scoreboard_new(1, &sb);
  uvh_scoreboard_claim(sb);
  is_int(uvh_scoreboard_sample_load(sb, 0, loop), 0, "a sample of the loop's load");
  uvh_scoreboard_read(sb, 0, &w);
  ok(w.busy_ns >= busy && w.sampled_ns >= t0 + wall, "the slot holds the busy time and when it was taken");
  is_int(uvh_scoreboard_sample_load(sb, 1, loop), UVH_E_BADARG, "no sample into a slot past the end");
  uvh_scoreboard_free(sb);
  uvh_timer_unref(spin);
  uvh_timer_unref(sleep);
  uvh_loop_destroy(loop);
}

int main(void) {
  test_slots();
  test_load();
  return done_testing();
}
