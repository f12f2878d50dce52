/* time.c - see time.h. */
#include "base/time.h"

uint64_t uvh__seconds_to_ms(double s) {
  if (s <= 0)
    return 0;
  s = s * 1000.0 + 0.5;
  return s < 1 ? 1 : (uint64_t)s;
}

double uvh__jitter(uint32_t *state) {
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return 1.0 - 0.05 * ((double)(x % 10000) / 10000.0);
}
