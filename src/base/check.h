/* check.h - assertions on the core's invariants.
 *
 * Active when the core is built with UVH_CHECKS (its C tests and the
 * sanitizer build, see src/Makefile); compiled out of the library the
 * Perl extension links, where a broken invariant must not abort perl.
 */
#ifndef UVH_BASE_CHECK_H
#define UVH_BASE_CHECK_H

#ifdef UVH_CHECKS
#include <stdio.h>
#include <stdlib.h>
#define UVH_ASSERT(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "uvent: invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__);    \
      abort();                                                                                \
    }                                                                                         \
  } while (0)
#else
#define UVH_ASSERT(cond) ((void)0)
#endif

#endif
