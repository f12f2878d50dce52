/* scoreboard.c - the worker scoreboard: one slot per worker process in a
 * MAP_SHARED|MAP_ANONYMOUS mapping made before the fork.
 *
 * Owns: the mapping and the uvh_scoreboard_t (malloc'ed; a worker gets a
 * copy of it with the fork and never frees it, the master does).
 */
#include "manager/scoreboard.h"
#include "loop/loop.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Single-writer fields: relaxed atomics are enough (the reader wants
 * whole values, not ordering between them). */
#define PUT(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)


int uvh_scoreboard_new(unsigned nslots, uvh_scoreboard_t **out) {
  uvh_scoreboard_t *sb;
  size_t page = (size_t)sysconf(_SC_PAGESIZE), len;
  void *mem;
  if (nslots == 0 || nslots > UVH_SCOREBOARD_MAX)
    return UVH_E_BADARG;
  len = (nslots * sizeof(uvh_worker_slot_t) + page - 1) / page * page;
  if ((sb = calloc(1, sizeof *sb)) == NULL)
    return UVH_E_NOMEM;
  mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    free(sb);
    return UVH_E_NOMEM;
  }
  sb->slots = mem;           /* zero-filled: every slot free */
  sb->nslots = nslots;
  sb->map_len = len;
  *out = sb;
  return 0;
}

void uvh_scoreboard_free(uvh_scoreboard_t *sb) {
  if (sb == NULL)
    return;
  munmap(sb->slots, sb->map_len);
  free(sb);
}

unsigned uvh_scoreboard_size(const uvh_scoreboard_t *sb) { return sb->nslots; }

int uvh_scoreboard_claim(uvh_scoreboard_t *sb) {
  unsigned i;
  for (i = 0; i < sb->nslots; i++) {
    uvh_worker_slot_t *s = &sb->slots[i];
    if (GET(s->state) != UVH_WORKER_FREE)
      continue;
    PUT(s->pid, 0);
    PUT(s->generation, GET(s->generation) + 1);
    PUT(s->started_ms, uvh_monotonic_ms());
    PUT(s->active, 0);
    PUT(s->served, 0);
    PUT(s->last_activity_ms, GET(s->started_ms));
    PUT(s->busy_ns, 0);
    PUT(s->sampled_ns, 0);
    PUT(s->state, UVH_WORKER_STARTING);
    return (int)i;
  }
  return -1;
}

static uvh_worker_slot_t *slot_at(uvh_scoreboard_t *sb, unsigned i) { return i < sb->nslots ? &sb->slots[i] : NULL; }

void uvh_scoreboard_set_pid(uvh_scoreboard_t *sb, unsigned i, int pid) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s)
    PUT(s->pid, pid);
}

void uvh_scoreboard_release(uvh_scoreboard_t *sb, unsigned i) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s == NULL)
    return;
  PUT(s->pid, 0);
  PUT(s->active, 0);
  PUT(s->state, UVH_WORKER_FREE);
}

int uvh_scoreboard_read(const uvh_scoreboard_t *sb, unsigned i, uvh_worker_info_t *out) {
  const uvh_worker_slot_t *s;
  if (i >= sb->nslots)
    return UVH_E_BADARG;
  s = &sb->slots[i];
  out->state = GET(s->state);
  out->pid = GET(s->pid);
  out->generation = GET(s->generation);
  out->active = GET(s->active);
  out->served = GET(s->served);
  out->started_ms = GET(s->started_ms);
  out->last_activity_ms = GET(s->last_activity_ms);
  out->busy_ns = GET(s->busy_ns);
  out->sampled_ns = GET(s->sampled_ns);
  return 0;
}

/* ---- the worker's side: its own slot only ---- */

void uvh_scoreboard_set_state(uvh_scoreboard_t *sb, unsigned i, uvh_worker_state_t state, uint64_t now_ms) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s == NULL)
    return;
  PUT(s->state, state);
  PUT(s->last_activity_ms, now_ms);
}

static void slot_request_start(uvh_worker_slot_t *s, uint64_t now_ms) {
  PUT(s->active, GET(s->active) + 1);
  PUT(s->last_activity_ms, now_ms);
  if (GET(s->state) == UVH_WORKER_IDLE)
    PUT(s->state, UVH_WORKER_BUSY);
}

static void slot_request_end(uvh_worker_slot_t *s, uint64_t now_ms) {
  unsigned active = GET(s->active);
  if (active > 0)
    PUT(s->active, --active);
  PUT(s->served, GET(s->served) + 1);
  PUT(s->last_activity_ms, now_ms);
  if (active == 0 && GET(s->state) == UVH_WORKER_BUSY)
    PUT(s->state, UVH_WORKER_IDLE);
}

void uvh_scoreboard_request_start(uvh_scoreboard_t *sb, unsigned i, uint64_t now_ms) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s)
    slot_request_start(s, now_ms);
}

void uvh_scoreboard_request_end(uvh_scoreboard_t *sb, unsigned i, uint64_t now_ms) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s)
    slot_request_end(s, now_ms);
}

/* The server's activity hook: `data` is the worker's own slot. */
static void on_server_activity(void *data, int delta, uint64_t now_ms) {
  if (delta > 0)
    slot_request_start(data, now_ms);
  else
    slot_request_end(data, now_ms);
}

int uvh_scoreboard_watch_server(uvh_scoreboard_t *sb, unsigned i, uvh_server_t *srv) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  if (s == NULL)
    return UVH_E_BADARG;
  uvh_server_set_activity(srv, on_server_activity, s);
  return 0;
}

int uvh_scoreboard_sample_load(uvh_scoreboard_t *sb, unsigned i, uvh_loop_t *loop) {
  uvh_worker_slot_t *s = slot_at(sb, i);
  uint64_t busy;
  int rc;
  if (s == NULL)
    return UVH_E_BADARG;
  if ((rc = uvh_loop_busy_ns(loop, &busy)) < 0)
    return rc;
  PUT(s->busy_ns, busy);
  PUT(s->sampled_ns, uv_hrtime());
  return 0;
}
