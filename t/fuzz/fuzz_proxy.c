/* Fuzz target: arbitrary strings as proxy URLs (base/proxy.c), and as
 * no_proxy lists matched against a parsed proxy's host. Checks: no crash;
 * an accepted URL has a host and a port, credentials without control
 * characters, and a key that parses back to the same proxy. */
#include "internal.h"
#include <assert.h>
#include <string.h>

static void check_clean(const char *s) {
  for (; s && *s; s++)
    assert((unsigned char)*s >= 0x20 && (unsigned char)*s != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uvh_proxy_t p, again;
  char why[128], list[512];
  size_t n = size < sizeof list - 1 ? size : sizeof list - 1;
  memcpy(list, data, n);
  list[n] = '\0';
  (void)uvh_no_proxy_match(list, "www.example.com", 80);
  (void)uvh_no_proxy_match(list, "::1", 443);
  if (uvh_proxy_parse(&p, (const char *)data, size, why, sizeof why) != 0) {
    assert(why[0]);
    return 0;
  }
  assert(p.host[0] && p.port != 0);
  check_clean(p.user);
  check_clean(p.pass);
  check_clean(p.userinfo);
  check_clean(p.key);
  assert(uvh_proxy_copy(&again, &p) == 0);
  assert(strcmp(again.key, p.key) == 0 && again.kind == p.kind && again.port == p.port);
  assert((p.userinfo == NULL) == (again.userinfo == NULL));
  assert(p.userinfo == NULL || strcmp(p.userinfo, again.userinfo) == 0);
  (void)uvh_no_proxy_match(list, p.host, p.port);
  uvh_proxy_free(&again);
  uvh_proxy_free(&p);
  return 0;
}
