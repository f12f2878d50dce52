/* buf.h - growable byte buffer.
 * A uvh_buf_t owns its storage; uvh_buf_free releases it. Growth is
 * geometric so appending n bytes costs amortised O(n).
 */
#ifndef UVH_BUF_H
#define UVH_BUF_H
#include <stddef.h>

typedef struct {
  char *data;
  size_t len;
  size_t cap;
} uvh_buf_t;

void uvh_buf_init(uvh_buf_t *b);
void uvh_buf_free(uvh_buf_t *b);
/* Make room for `extra` more bytes; 0 or UVH_E_NOMEM. */
int uvh_buf_reserve(uvh_buf_t *b, size_t extra);
int uvh_buf_append(uvh_buf_t *b, const void *data, size_t len);
int uvh_buf_append_str(uvh_buf_t *b, const char *s);
/* Append a decimal unsigned number. */
int uvh_buf_append_uint(uvh_buf_t *b, unsigned long long n);
/* Every growth of a buffer or of a response's header table goes through
 * this (realloc); the C tests replace it to make growth fail. */
extern void *(*uvh__realloc)(void *ptr, size_t size);
/* Forget the contents, keep the storage. */
static inline void uvh_buf_clear(uvh_buf_t *b) { b->len = 0; }

#endif
