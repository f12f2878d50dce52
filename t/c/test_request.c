#define _GNU_SOURCE /* memmem */
/* The request head is built once per change: uvh_request_check (which the
 * XS runs to validate, and the pool again at submit) builds it the first
 * time and keeps it until a setter changes what it is made of. */
#include "internal.h"
#include "tap.h"

static int head_has(uvh_request_t *r, const char *s) {
  return r->head.data && memmem(r->head.data, r->head.len, s, strlen(s)) != NULL;
}

int main(void) {
  uvh_request_t *r;
  is_int(uvh_request_new(&r), 0, "new request");
  is_int(uvh_request_set_url(r, "http://127.0.0.1:8080/a", 23), 0, "url");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "GET /a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"), "the head is built");
  r->head.data[0] = 'X'; /* a mark: a second build would overwrite it */
  is_int(uvh_request_check(r), 0, "checked again");
  ok(r->head.data[0] == 'X', "without a change the head is not built again");

  is_int(uvh_request_set_method(r, "PUT", 3), 0, "method changed");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "PUT /a HTTP/1.1\r\n") && head_has(r, "Content-Length: 0\r\n"), "the head follows the method");
  /* methods of up to 15 bytes live in the request itself, longer ones are
   * allocated; each change replaces the last (valgrind: nothing leaks) */
  is_int(uvh_request_set_method(r, "VERSION-CONTROL-X", 17), 0, "a long method");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "VERSION-CONTROL-X /a HTTP/1.1\r\n"), "the head has the long method");
  is_int(uvh_request_set_method(r, r->method, strlen(r->method)), 0, "the method set to itself");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "VERSION-CONTROL-X /a HTTP/1.1\r\n"), "unchanged");
  is_int(uvh_request_set_method(r, "REPORT-15-BYTES", 15), 0, "a 15-byte method");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "REPORT-15-BYTES /a HTTP/1.1\r\n"), "the head has it");
  is_int(uvh_request_set_method(r, r->method, strlen(r->method)), 0, "that one set to itself");
  is_int(uvh_request_set_method(r, "PUT", 3), 0, "back to PUT");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "PUT /a HTTP/1.1\r\n"), "the head has PUT again");
  is_int(uvh_request_add_header(r, "X-A", 3, "1", 1), 0, "header added");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "X-A: 1\r\n"), "the head follows the headers");
  is_int(uvh_request_set_body(r, "hello", 5), 0, "body set");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "Content-Length: 5\r\n"), "the head follows the body");
  is_int(uvh_request_set_url(r, "http://[::1]:9/b", 16), 0, "url changed");
  is_int(uvh_request_check(r), 0, "checked");
  ok(head_has(r, "PUT /b HTTP/1.1\r\nHost: [::1]:9\r\n"), "the head follows the url");
  is_int(uvh_request_add_header(r, "Content-Length", 14, "4", 1), 0, "a Content-Length that contradicts the body");
  ok(uvh_request_check(r) != 0, "is refused by the check after the change");
  uvh_request_unref(r);
  return done_testing();
}
