/* The error table's lookups, and user values echoed whole in messages. */
#include "internal.h"
#include "tap.h"

int main(void) {
  char buf[64];
  uvh_request_t *r;

  is_int(uvh_err_by_code("timeout"), UVH_E_TIMEOUT, "timeout by name");
  is_int(uvh_err_by_code("cancelled"), UVH_E_CANCELLED, "cancelled by name");
  is_int(uvh_err_by_code("nomem"), UVH_E_NOMEM, "nomem by name");
  is_int(uvh_err_by_code("tls"), UVH_E_TLS, "tls by name");
  is_int(uvh_err_by_code("usage"), 0, "usage is not a completion code");
  is_int(uvh_err_by_code("inherited"), 0, "inherited is not a completion code");
  is_int(uvh_err_by_code("nope"), 0, "unknown name");

  is_int(uvh_escape(buf, sizeof buf, "a\0b\r\n\t\x01\x7f\xe9", 9), 9, "whole value copied");
  is_str(buf, "a\\0b\\r\\n\\t\\x01\\x7f\xe9", "control bytes and DEL escaped, others kept");
  is_int(uvh_escape(buf, 4, "ab\0cd", 5), 2, "stops before an escape that does not fit");
  is_str(buf, "ab", "cut before the escape");

  is_int(uvh_request_new(&r), 0, "new request");
  is_int(uvh_request_set_url(r, "http://a\0b/x", 12), UVH_E_BADURL, "NUL in a URL refused");
  is_str(uvh_request_last_error(r),
         "invalid URL 'http://a\\0b/x': malformed (it must be an absolute http:// URL with no spaces or control characters)",
         "the whole URL is shown, NUL escaped");
  is_int(uvh_request_set_method(r, "GE\0T", 4), UVH_E_BADMETHOD, "NUL in a method refused");
  ok(strstr(uvh_request_last_error(r), "'GE\\0T'") != NULL, "method shown whole: %s", uvh_request_last_error(r));
  is_int(uvh_request_add_header(r, "X\r\nEvil", 7, "v", 1), UVH_E_BADHEADER, "CRLF in a header name refused");
  ok(strstr(uvh_request_last_error(r), "'X\\r\\nEvil'") != NULL, "name shown on one line: %s", uvh_request_last_error(r));
  {
    char url[300];
    memset(url, 'a', sizeof url);
    memcpy(url, "ftp://", 6);
    is_int(uvh_request_set_url(r, url, sizeof url), UVH_E_BADSCHEME, "long bad URL refused");
    ok(strstr(uvh_request_last_error(r), "aaa...': unsupported scheme") != NULL, "a long value is cut and says so: %s",
       uvh_request_last_error(r));
  }
  uvh_request_unref(r);
  return done_testing();
}
