/* The read path of a body: the parser's body room (a Content-Length or
 * close-delimited body read straight into its own buffer, as the stream
 * does), split at every byte, chunked bodies through the copy, the limits,
 * the body allocator and uvh_response_take_body. */
#include "internal.h"
#include "tap.h"
#include <stdlib.h>

static size_t allocs, frees;
static void *counting_realloc(void *p, size_t n) {
  if (p == NULL)
    allocs++;
  return realloc(p, n);
}
static void counting_free(void *p) {
  if (p)
    frees++;
  free(p);
}

/* Feed `msg` as a stream would: the first `split` bytes through a scratch
 * buffer, then each read into the body room when the parser offers one
 * (else the scratch buffer), `chunk` bytes at most a read. Returns the
 * parser's last result; *in_place counts bytes read into the room. */
static int feed_split(uvh_parser_t *p, const char *msg, size_t len, size_t split, size_t chunk, int eof,
                      size_t *in_place) {
  static char scratch[65536];
  size_t off = 0, used;
  int rc = 0;
  *in_place = 0;
  while (off < len && rc == 0) {
    size_t room = 0, n = off < split ? split - off : chunk;
    char *to = off < split ? NULL : uvh__parser_body_room(p, &room);
    if (n > len - off)
      n = len - off;
    if (to) {
      if (n > room)
        n = room;
      *in_place += n;
    } else {
      to = scratch;
    }
    memcpy(to, msg + off, n);
    rc = uvh__parser_feed(p, to, n, &used);
    off += n;
  }
  if (rc == 0 && eof)
    rc = uvh__parser_eof(p);
  return rc;
}

static void check_framing(const char *name, const char *head, const char *body, int eof, int expect_room) {
  char msg[1024];
  size_t hl = strlen(head), bl = strlen(body), len = hl + bl, split, chunk;
  int all_ok = 1, room_used = 0;
  memcpy(msg, head, hl);
  memcpy(msg + hl, body, bl);
  for (chunk = 1; chunk <= 7; chunk += 6)
    for (split = 0; split <= len; split++) {
      uvh_response_t *r;
      uvh_parser_t p;
      size_t in_place, blen;
      const char *b;
      int rc;
      uvh__response_new(&r);
      uvh__parser_init(&p, r, 0, 65536, 0);
      rc = feed_split(&p, msg, len, split, chunk, eof, &in_place);
      b = uvh_response_body(r, &blen);
      if (rc != 1 || blen != 11 || memcmp(b, "hello world", blen) != 0) {
        all_ok = 0;
        printf("# %s: split %zu chunk %zu: rc %d body [%.*s]\n", name, split, chunk, rc, (int)blen, b);
      }
      if (in_place)
        room_used = 1;
      uvh_response_unref(r);
    }
  ok(all_ok, "%s: the body whole at every split, one byte and 7 bytes a read", name);
  if (expect_room)
    ok(room_used, "%s: bytes were read straight into the body buffer", name);
  else
    ok(!room_used, "%s: no body room (framing bytes are mixed in)", name);
}

static void test_framings(void) {
  check_framing("Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", "hello world", 0, 1);
  check_framing("close-delimited", "HTTP/1.1 200 OK\r\n\r\n", "hello world", 1, 1);
  check_framing("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, 0);
}

static void test_room(void) {
  uvh_response_t *r;
  uvh_parser_t p;
  size_t used, room, len;
  char *to, *taken;
  const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";

  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  ok(uvh__parser_body_room(&p, &room) == NULL, "no room before the head");
  is_int(uvh__parser_feed(&p, head, strlen(head), &used), 0, "head");
  ok(r->body.cap >= 100000 + UVH_BODY_SPARE && r->body.cap < 100000 + 64, "the body buffer is reserved at its size");
  to = uvh__parser_body_room(&p, &room);
  ok(to != NULL && room == 100000, "room for the whole body, no more (%zu)", room);
  memset(to, 'a', 60000);
  is_int(uvh__parser_feed(&p, to, 60000, &used), 0, "fed in place");
  to = uvh__parser_body_room(&p, &room);
  ok(to == r->body.data + 60000 && room == 40000, "room: the rest (%zu)", room);
  memset(to, 'b', 40000);
  is_int(uvh__parser_feed(&p, to, 40000, &used), 1, "complete");
  ok(uvh__parser_body_room(&p, &room) == NULL, "no room after the body");
  taken = uvh_response_take_body(r, &len);
  ok(taken && len == 100000 && taken[0] == 'a' && taken[99999] == 'b' && taken[100000] == '\0',
     "take_body: the bytes, then a NUL");
  ok(uvh_response_body(r, &len) != NULL && len == 0, "the response's body is empty after");
  ok(uvh_response_take_body(r, &len) == NULL && len == 0, "nothing to take twice");
  free(taken);
  uvh_response_unref(r);

  /* a declared length over UVH_BODY_PREALLOC_MAX is not reserved whole */
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n";
  is_int(uvh__parser_feed(&p, head, strlen(head), &used), 0, "head of a huge body");
  ok(r->body.cap <= UVH_BODY_PREALLOC_MAX + UVH_BODY_SPARE, "a server's claim reserves %zu bytes at most",
     (size_t)UVH_BODY_PREALLOC_MAX);
  uvh_response_unref(r);

  /* close-delimited: room grows geometrically, bounded by max_body_size */
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 50000);
  head = "HTTP/1.1 200 OK\r\n\r\n";
  uvh__parser_feed(&p, head, strlen(head), &used);
  len = 0;
  for (;;) {
    int rc;
    to = uvh__parser_body_room(&p, &room);
    if (to == NULL)
      break;
    memset(to, 'c', room);
    len += room;
    rc = uvh__parser_feed(&p, to, room, &used);
    if (rc != 0) {
      is_int(rc, UVH_E_TOO_LARGE, "close-delimited: one byte over max_body_size is too_large");
      break;
    }
  }
  is_int((int)len, 50001, "the room stopped one byte past the limit");
  uvh_response_unref(r);

  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 50000);
  uvh__parser_feed(&p, head, strlen(head), &used);
  for (len = 0; len < 50000;) {
    size_t n;
    to = uvh__parser_body_room(&p, &room);
    n = room < 50000 - len ? room : 50000 - len;
    memset(to, 'd', n);
    uvh__parser_feed(&p, to, n, &used);
    len += n;
  }
  is_int(uvh__parser_eof(&p), 1, "close-delimited: exactly max_body_size is whole");
  uvh_response_body(r, &len);
  is_int((int)len, 50000, "all of it");
  uvh_response_unref(r);
}

static void test_allocator(void) {
  uvh_response_t *r;
  uvh_parser_t p;
  size_t used, len;
  char *taken;
  const char *msg = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

  uvh_set_body_allocator(counting_realloc, counting_free);
  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  is_int(uvh__parser_feed(&p, msg, strlen(msg), &used), 1, "chunked body");
  ok(allocs == 1, "the body came from the body allocator (%zu)", allocs);
  taken = uvh_response_take_body(r, &len);
  ok(taken && len == 5 && memcmp(taken, "hello", 6) == 0, "taken, NUL-terminated");
  uvh_response_unref(r);
  is_int((int)frees, 0, "a taken body is not freed with its response");
  counting_free(taken);

  uvh__response_new(&r);
  uvh__parser_init(&p, r, 0, 65536, 0);
  uvh__parser_feed(&p, msg, strlen(msg), &used);
  uvh_response_unref(r);
  is_int((int)frees, 2, "a body never taken goes back to the body allocator");
  uvh_set_body_allocator(realloc, free);
}

static int data_freed;
static void free_data(void *d) { data_freed += *(int *)d; }

static void test_data(void) {
  uvh_response_t *r;
  int one = 1;
  uvh__response_new(&r);
  ok(uvh_response_get_data(r) == NULL, "no data at first");
  uvh_response_set_data(r, &one, free_data);
  ok(uvh_response_get_data(r) == &one, "data kept");
  uvh_response_ref(r);
  uvh_response_unref(r);
  is_int(data_freed, 0, "not freed while referenced");
  uvh_response_unref(r);
  is_int(data_freed, 1, "free_data ran once, with the response");
}

int main(void) {
  test_framings();
  test_room();
  test_allocator();
  test_data();
  return done_testing();
}
