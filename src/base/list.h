/* list.h - intrusive circular doubly-linked list.
 * A uvh_list_t is embedded in the element; the list head is a bare
 * uvh_list_t. The list owns nothing: elements are owned elsewhere.
 */
#ifndef UVH_LIST_H
#define UVH_LIST_H
#include <stddef.h>

typedef struct uvh_list_s {
  struct uvh_list_s *prev, *next;
} uvh_list_t;

#define uvh_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void uvh_list_init(uvh_list_t *h) { h->prev = h->next = h; }
static inline int uvh_list_empty(const uvh_list_t *h) { return h->next == h; }
/* An element not in any list points to itself (after init or remove). */
static inline int uvh_list_linked(const uvh_list_t *e) { return e->next != e; }

static inline void uvh_list_insert_before(uvh_list_t *pos, uvh_list_t *e) {
  e->prev = pos->prev;
  e->next = pos;
  pos->prev->next = e;
  pos->prev = e;
}
static inline void uvh_list_push_back(uvh_list_t *h, uvh_list_t *e) { uvh_list_insert_before(h, e); }
static inline void uvh_list_push_front(uvh_list_t *h, uvh_list_t *e) { uvh_list_insert_before(h->next, e); }
static inline void uvh_list_remove(uvh_list_t *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->prev = e->next = e;
}
/* Move every element of `from` to the end of `to`; `from` ends empty. */
static inline void uvh_list_splice(uvh_list_t *to, uvh_list_t *from) {
  if (uvh_list_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  uvh_list_init(from);
}

#endif
