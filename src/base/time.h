/* time.h - small time and randomness helpers shared by every layer.
 *
 * Owns nothing: the jitter's state is the caller's.
 */
#ifndef UVH_BASE_TIME_H
#define UVH_BASE_TIME_H
#include <stdint.h>

/* Seconds to whole milliseconds, rounded, at least 1 for any positive
 * value (a deadline of 0.0001 s is still a deadline); 0 for s <= 0. */
uint64_t uvh__seconds_to_ms(double s);
/* A factor in [0.95, 1] from a xorshift state (updated; must not be 0),
 * so that timers set together do not all fire together. */
double uvh__jitter(uint32_t *state);

#endif
