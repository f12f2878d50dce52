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
/* The allocator of message bodies. A binding may replace it (through
 * uvh_set_body_allocator) so that its strings can take over a body's
 * storage without a copy; by default it grows through uvh__realloc. */
extern void *(*uvh__body_realloc)(void *ptr, size_t size);
extern void (*uvh__body_free)(void *ptr);
/* Room for `extra` more bytes in a body buffer, from the body allocator:
 * exactly that much (a known length), or with geometric growth. 0 or
 * UVH_E_NOMEM. */
int uvh_buf_reserve_body(uvh_buf_t *b, size_t extra, int exact);
/* Bytes a body buffer keeps free beyond the body: a NUL, and one a
 * binding's string may use (Perl keeps its copy-on-write count there), so
 * the storage can become a string as it is (UVH_RESPONSE_BODY_SPARE). */
#define UVH_BODY_SPARE 2
/* Free room at the end of a body buffer for up to `want` more bytes (read
 * or decoded straight into it): when less than 4 KiB is free it grows,
 * geometrically (as much again as the body so far, at least 16 KiB, never
 * more than `want`). *room gets the free size, at most `want`. 0, or
 * UVH_E_NOMEM. */
int uvh_buf_body_room(uvh_buf_t *b, size_t want, size_t *room);
/* Free a body buffer (to the body allocator). */
void uvh_buf_free_body(uvh_buf_t *b);
/* Forget the contents, keep the storage. */
static inline void uvh_buf_clear(uvh_buf_t *b) { b->len = 0; }

#endif
