/* buf.c - growable byte buffer. */
#include "base/buf.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

void *(*uvh__realloc)(void *ptr, size_t size) = realloc;

/* through uvh__realloc, so the C tests' failing growth reaches bodies too */
static void *body_realloc_default(void *ptr, size_t size) { return uvh__realloc(ptr, size); }
void *(*uvh__body_realloc)(void *ptr, size_t size) = body_realloc_default;
void (*uvh__body_free)(void *ptr) = free;

void uvh_buf_init(uvh_buf_t *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void uvh_buf_free(uvh_buf_t *b) {
  free(b->data);
  uvh_buf_init(b);
}

static int grow(uvh_buf_t *b, size_t extra, int exact, void *(*realloc_fn)(void *, size_t)) {
  size_t need = b->len + extra;
  size_t cap;
  char *p;
  if (need < b->len)
    return UVH_E_NOMEM;
  if (need <= b->cap)
    return 0;
  cap = exact ? need : b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap * 2 > cap ? cap * 2 : need;
  p = realloc_fn(b->data, cap);
  if (p == NULL)
    return UVH_E_NOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int uvh_buf_reserve(uvh_buf_t *b, size_t extra) { return grow(b, extra, 0, uvh__realloc); }

int uvh_buf_reserve_body(uvh_buf_t *b, size_t extra, int exact) {
  return grow(b, extra, exact, uvh__body_realloc);
}

int uvh_buf_body_room(uvh_buf_t *b, size_t want, size_t *room) {
  size_t have = b->cap > b->len + UVH_BODY_SPARE ? b->cap - b->len - UVH_BODY_SPARE : 0;
  if (have < want && have < 4096) {
    size_t more = b->len > 16384 ? b->len : 16384;
    if (more > want)
      more = want;
    if (uvh_buf_reserve_body(b, more + UVH_BODY_SPARE, 1))
      return UVH_E_NOMEM;
    have = b->cap - b->len - UVH_BODY_SPARE;
  }
  *room = have < want ? have : want;
  return 0;
}

void uvh_buf_free_body(uvh_buf_t *b) {
  uvh__body_free(b->data);
  uvh_buf_init(b);
}

int uvh_buf_append(uvh_buf_t *b, const void *data, size_t len) {
  int rc = uvh_buf_reserve(b, len);
  if (rc)
    return rc;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

int uvh_buf_append_str(uvh_buf_t *b, const char *s) {
  return uvh_buf_append(b, s, strlen(s));
}

int uvh_buf_append_uint(uvh_buf_t *b, unsigned long long n) {
  char tmp[24];
  int len = snprintf(tmp, sizeof tmp, "%llu", n);
  return uvh_buf_append(b, tmp, (size_t)len);
}
