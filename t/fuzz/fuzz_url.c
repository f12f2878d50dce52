/* Fuzz target: arbitrary strings as request URLs, and the request head
 * built from an accepted one; and the same strings as a Location resolved
 * against a fixed base. Checks: no crash, nothing that reaches the wire
 * (target, Host) holds a byte outside visible ASCII, and a resolved
 * Location holds only visible ASCII. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"
#include <assert.h>
#include <stdlib.h>
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
  {
    static const char base[] = "https://u@h.example:8443/a/b/c?q#f";
    char *out = NULL;
    if (uvh_url_resolve(base, sizeof base - 1, (const char *)data, size, &out) == 0) {
      check_visible(out);
      assert(strncmp(out, "http://", 7) == 0 || strncmp(out, "https://", 8) == 0);
      free(out);
    } else {
      assert(out == NULL);
    }
  }
  return 0;
}
