/* scoreboard.h - a worker-process scoreboard in shared anonymous memory.
 *
 * The manager's master maps it before forking; every worker inherits the
 * mapping and writes its own slot, the master reads them all. Updates are
 * plain atomic stores into the shared page (no system call per request):
 * each field has one writer, named below, so no lock is needed; a reader
 * may see a slot mid-update, one field newer than another, never a torn
 * field.
 *
 * Owns: the mapping (munmap'ed by uvh_scoreboard_free, in the process
 * that calls it: a worker leaves it alone and exits).
 */
#ifndef UVH_MANAGER_SCOREBOARD_H
#define UVH_MANAGER_SCOREBOARD_H
#include "uvh.h"
#include <stdint.h>

typedef struct {
  /* written by the master: when it forks the worker and after it reaped it */
  int32_t pid;               /* 0: the slot is free */
  uint32_t generation;       /* bumped each time the slot is taken */
  uint64_t started_ms;       /* monotonic ms when forked */
  /* written by the worker (and by the master only while the slot has no
   * live process: claim and release) */
  uint32_t state;            /* uvh_worker_state_t */
  uint32_t active;           /* requests in flight */
  uint64_t served;           /* requests answered */
  uint64_t last_activity_ms; /* monotonic ms: a request started or ended, or the worker became idle */
  uint64_t busy_ns;          /* its loop's time not spent waiting for events, since it started */
  uint64_t sampled_ns;       /* monotonic ns when busy_ns was last written (0: never) */
} uvh_worker_slot_t;

struct uvh_scoreboard_s {
  uvh_worker_slot_t *slots;  /* the shared mapping */
  unsigned nslots;
  size_t map_len;
};

#endif
