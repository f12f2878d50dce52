/* response.c - the public uvh_response_t: a message the HTTP/1 parser
 * filled (http/h1.h), read through these accessors.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int uvh__response_new(uvh_response_t **out) {
  uvh_response_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return UVH_E_NOMEM;
  uvh__h1_message_init(r);
  r->refcount = 1;
  *out = r;
  return 0;
}

void uvh_response_ref(uvh_response_t *r) { r->refcount++; }

void uvh_response_unref(uvh_response_t *r) {
  if (--r->refcount > 0)
    return;
  if (r->free_data)
    r->free_data(r->data);
  uvh__h1_message_free(r);
  free(r);
}

int uvh_response_status(const uvh_response_t *r) { return r->status; }
int uvh_response_http_major(const uvh_response_t *r) { return r->http_major; }
int uvh_response_http_minor(const uvh_response_t *r) { return r->http_minor; }
int uvh_response_keep_alive(const uvh_response_t *r) { return r->keep_alive; }
int uvh_response_retried(const uvh_response_t *r) { return r->retried; }
size_t uvh_response_header_count(const uvh_response_t *r) { return r->nheaders; }
size_t uvh_response_trailer_count(const uvh_response_t *r) { return r->ntrailers; }

const char *uvh_response_reason(const uvh_response_t *r, size_t *len) {
  *len = r->reason_len;
  return r->strings.data ? r->strings.data + r->reason_off : "";
}

static void header_at(const uvh_response_t *r, size_t i, const char **name, size_t *name_len,
                      const char **value, size_t *value_len) {
  const uvh_header_t *h = &r->headers[i];
  const char *base = r->strings.data ? r->strings.data : "";
  *name = base + h->name_off;
  *name_len = h->name_len;
  *value = base + h->value_off;
  *value_len = h->value_len;
}

void uvh_response_header_at(const uvh_response_t *r, size_t i, const char **name, size_t *name_len,
                            const char **value, size_t *value_len) {
  header_at(r, i, name, name_len, value, value_len);
}

void uvh_response_trailer_at(const uvh_response_t *r, size_t i, const char **name,
                             size_t *name_len, const char **value, size_t *value_len) {
  header_at(r, r->nheaders + i, name, name_len, value, value_len);
}

const char *uvh_response_header(const uvh_response_t *r, const char *name, size_t *value_len) {
  return uvh__h1_header(r, name, value_len);
}

const char *uvh_response_body(const uvh_response_t *r, size_t *len) {
  *len = r->body.len;
  return r->body.data ? r->body.data : "";
}

int uvh_response_is_done(const uvh_response_t *r) { return r->done; }
int uvh_response_streamed(const uvh_response_t *r) { return r->streamed; }

const char *uvh_response_decoded(const uvh_response_t *r) { return uvh__coding_name((uvh_coding_t)r->decoded); }

const char *uvh_decoders(void) { return uvh__codings_accepted(NULL); }

void uvh_set_body_allocator(void *(*realloc_fn)(void *ptr, size_t size), void (*free_fn)(void *ptr)) {
  uvh__body_realloc = realloc_fn;
  uvh__body_free = free_fn;
}

typedef char uvh__body_spare_matches[UVH_BODY_SPARE == UVH_RESPONSE_BODY_SPARE ? 1 : -1];

char *uvh_response_take_body(uvh_response_t *r, size_t *len) {
  char *p;
  *len = r->body.len;
  if (r->body.data == NULL || uvh_buf_reserve_body(&r->body, UVH_BODY_SPARE, 1))
    return NULL;
  p = r->body.data;
  p[r->body.len] = '\0';
  uvh_buf_init(&r->body);
  return p;
}

void uvh_response_set_data(uvh_response_t *r, void *data, void (*free_data)(void *data)) {
  r->data = data;
  r->free_data = free_data;
}

void *uvh_response_get_data(const uvh_response_t *r) { return r->data; }
