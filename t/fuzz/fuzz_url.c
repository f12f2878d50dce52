/* Fuzz target: arbitrary strings as request URLs, and the request head
 * built from an accepted one. Checks: no crash, and nothing that reaches
 * the wire (target, Host) holds a byte outside visible ASCII. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include <assert.h>
#include <string.h>

static void check_visible(const char *s) {
  for (; *s; s++)
    assert((unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvh_request_t *req;
  const char *head;
  size_t len;
  if (uvh_request_new(&req))
    return 0;
  if (uvh_request_set_url(req, (const char *)data, size) == 0) {
    check_visible(req->url.target);
    check_visible(req->url.authority);
    check_visible(req->url.key);
    assert(req->url.target[0] == '/');
    assert(req->url.port != 0);
    assert(uvh_request_head(req, &head, &len) == 0);
    assert(len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0);
    /* exactly one blank line: the head's end (the head is not NUL-terminated) */
    assert(memmem(head, len, "\r\n\r\n", 4) == head + len - 4);
  }
  uvh_request_unref(req);
  return 0;
}
