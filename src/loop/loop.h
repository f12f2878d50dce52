/* loop.h - the loop wrapper and its timers, and how the layers above
 * live on a loop without the loop knowing them by name.
 *
 * Owns: an uv_loop_t it created. Borrows: its users (the pools) and its
 * timers, which unlink themselves.
 */
#ifndef UVH_LOOP_LOOP_H
#define UVH_LOOP_LOOP_H
#include "uvh.h"
#include "base/list.h"

/* Work that lives on a loop (a pool): the loop calls it through `ops`,
 * never by name. */
typedef struct uvh_loop_user_s uvh_loop_user_t;
typedef struct {
  /* The loop is being destroyed: finish everything and uvh__loop_remove_user. */
  void (*detach)(uvh_loop_user_t *u);
  /* In a child after fork: drop what was inherited (the user is held
   * across the call through ref/unref). */
  void (*drop_inherited)(uvh_loop_user_t *u);
  void (*ref)(uvh_loop_user_t *u);
  void (*unref)(uvh_loop_user_t *u);
  /* The earliest deadline (loop ms) of work that keeps no handle
   * referenced, 0 if none: what a driver must still wake up for. */
  uint64_t (*next_deadline)(uvh_loop_user_t *u);
} uvh_loop_user_ops_t;

struct uvh_loop_user_s {
  uvh_list_t link;           /* loop->users */
  const uvh_loop_user_ops_t *ops;
};

void uvh__loop_add_user(uvh_loop_t *loop, uvh_loop_user_t *u, const uvh_loop_user_ops_t *ops);
void uvh__loop_remove_user(uvh_loop_user_t *u);

struct uvh_loop_s {
  uv_loop_t *uv;     /* owned when owns_uv, else borrowed */
  int owns_uv;
  unsigned fork_generation; /* uvh__fork_generation when last checked */
  uvh_list_t users;  /* uvh_loop_user_t.link (the pools); not owning */
  uvh_list_t timers; /* uvh_timer_t.loop_link; not owning */
  uvh_loop_work_cb work_cb; /* set by a driver (uvh_loop_set_work_cb); may be NULL */
  uint64_t load_since_ns;  /* uv_hrtime when load measurement began, 0 = off */
  uv_idle_t *kick;   /* started for one uvh_loop_run_nowait; freed in its close callback */
  void *data;
};
/* Tell the loop's driver that a call from outside uv_run gave it work. */
void uvh__loop_work(uvh_loop_t *loop);

/* ---- timer (timer.c) ---- */
struct uvh_timer_s {
  uv_timer_t handle;     /* memory freed in its close callback */
  uvh_loop_t *loop;      /* NULL once the loop is destroyed */
  uvh_list_t loop_link;
  int refcount;
  int closing;
  uvh_timer_cb cb;
  void *data;
};
void uvh__timer_close(uvh_timer_t *timer);

/* A fork happened since the loop last looked: drop what the child inherited. */
#define UVH_CHECK_FORK(loop)                                                          \
  do {                                                                                \
    if ((loop) && (loop)->fork_generation != uvh__fork_generation)                    \
      uvh_loop_check_fork(loop);                                                      \
  } while (0)
/* Bumped in the child by a pthread_atfork handler. */
extern unsigned uvh__fork_generation;
void uvh__fork_init(void);

#endif
