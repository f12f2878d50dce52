/* tap.h - minimal TAP producer for the core's C tests. */
#ifndef UVH_TAP_H
#define UVH_TAP_H
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* unbuffered so a hang or crash shows how far a test got */
__attribute__((constructor)) static void tap_init(void) { setvbuf(stdout, NULL, _IONBF, 0); }

#define ok(cond, ...)                                                   \
  do {                                                                  \
    int ok_ = (cond) ? 1 : 0;                                           \
    tap_n++;                                                            \
    if (!ok_) tap_failed++;                                             \
    printf("%sok %d - ", ok_ ? "" : "not ", tap_n);                     \
    printf(__VA_ARGS__);                                                \
    printf("\n");                                                       \
    if (!ok_) printf("#   failed at %s line %d\n", __FILE__, __LINE__); \
  } while (0)

#define is_int(got, want, name)                                                   \
  do {                                                                            \
    long long g_ = (long long)(got), w_ = (long long)(want);                      \
    ok(g_ == w_, "%s", name);                                                     \
    if (g_ != w_) printf("#   got: %lld\n#   expected: %lld\n", g_, w_);          \
  } while (0)

#define is_str(got, want, name)                                                   \
  do {                                                                            \
    const char *g_ = (got), *w_ = (want);                                         \
    int e_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                         \
    ok(e_, "%s", name);                                                           \
    if (!e_) printf("#   got: '%s'\n#   expected: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
  } while (0)

#define is_mem(got, glen, want, name)                                             \
  do {                                                                            \
    const char *w_ = (want);                                                      \
    size_t gl_ = (glen), wl_ = strlen(w_);                                        \
    int e_ = gl_ == wl_ && memcmp((got), w_, wl_) == 0;                           \
    ok(e_, "%s", name);                                                           \
    if (!e_) printf("#   got: '%.*s'\n#   expected: '%s'\n", (int)gl_, (const char *)(got), w_); \
  } while (0)

static int done_testing(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}
#endif
