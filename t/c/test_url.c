/* URL parser: accepted forms, normalisation and every rejection. */
#include "internal.h"
#include "tap.h"

static int parse(uvh_url_t *u, const char *s) { return uvh_url_parse(u, s, strlen(s)); }

int main(void) {
  uvh_url_t u;

  is_int(parse(&u, "http://Example.COM/a/b?x=1#frag"), 0, "plain URL parses");
  is_str(u.host, "example.com", "host lower-cased");
  is_int(u.port, 80, "default port");
  is_str(u.authority, "example.com", "no port in Host for default port");
  is_str(u.target, "/a/b?x=1", "fragment not in target");
  is_str(u.key, "http://example.com:80", "destination key has the port");
  ok(u.userinfo == NULL, "no userinfo");
  uvh_url_free(&u);

  is_int(parse(&u, "HTTP://127.0.0.1:8080"), 0, "scheme is case-insensitive, empty path");
  is_str(u.target, "/", "empty path becomes /");
  is_str(u.authority, "127.0.0.1:8080", "non-default port in Host");
  is_int(u.port, 8080, "port");
  uvh_url_free(&u);

  is_int(parse(&u, "http://h?q"), 0, "query without path");
  is_str(u.target, "/?q", "target gets a leading slash");
  uvh_url_free(&u);

  is_int(parse(&u, "http://[::1]:9000/x"), 0, "IPv6 literal");
  is_str(u.host, "::1", "brackets removed from host");
  is_str(u.authority, "[::1]:9000", "brackets kept in Host");
  is_str(u.key, "http://[::1]:9000", "key");
  ok(u.is_ipv6, "flagged IPv6");
  uvh_url_free(&u);

  is_int(parse(&u, "HTTPS://Example.com/x"), 0, "https URL parses");
  is_str(u.scheme, "https", "scheme");
  ok(u.is_tls, "flagged TLS");
  is_int(u.port, 443, "https default port is 443");
  is_str(u.authority, "example.com", "no port in Host for 443");
  is_str(u.key, "https://example.com:443", "https key");
  uvh_url_free(&u);

  is_int(parse(&u, "https://[::1]:8443/"), 0, "https IPv6 with port");
  is_str(u.authority, "[::1]:8443", "non-default https port in Host");
  is_str(u.key, "https://[::1]:8443", "key");
  uvh_url_free(&u);

  is_int(parse(&u, "https://h:80/"), 0, "https on port 80");
  is_str(u.authority, "h:80", "port 80 is not https's default: kept in Host");
  uvh_url_free(&u);

  is_int(parse(&u, "http://h:443/"), 0, "http on port 443");
  is_str(u.authority, "h:443", "port 443 is not http's default: kept in Host");
  ok(!u.is_tls, "not TLS");
  uvh_url_free(&u);

  is_int(parse(&u, "http://us%40er:p%3Ass@host/"), 0, "userinfo");
  is_str(u.userinfo, "us@er:p:ss", "userinfo percent-decoded");
  is_str(u.host, "host", "host after userinfo");
  uvh_url_free(&u);

  is_int(parse(&u, "http://a@b@host:81/p@q"), 0, "two '@' in the authority, one in the path");
  is_str(u.userinfo, "a@b", "userinfo is everything before the last '@' of the authority");
  is_str(u.host, "host", "the host after it");
  is_str(u.target, "/p@q", "the path keeps its '@'");
  uvh_url_free(&u);

  is_int(parse(&u, "http://h.example?q=1"), 0, "the authority ends at '?'");
  is_str(u.host, "h.example", "host before '?'");
  is_str(u.target, "/?q=1", "target with its query");
  uvh_url_free(&u);

  is_int(parse(&u, "http://h~x_y-z#frag"), 0, "the authority ends at '#'; '~', '_' and '-' in a host");
  is_str(u.host, "h~x_y-z", "host before '#'");
  is_str(u.target, "/", "no fragment in the target");
  uvh_url_free(&u);

  is_int(parse(&u, "http://h<x/"), UVH_E_BADURL, "'<' in a host is refused");

  is_int(parse(&u, "ftp://host/"), UVH_E_BADSCHEME, "ftp rejected");
  is_int(parse(&u, "httpx://host/"), UVH_E_BADSCHEME, "httpx rejected");
  is_int(parse(&u, "htt://host/"), UVH_E_BADSCHEME, "htt rejected");
  is_int(parse(&u, "http:///path"), UVH_E_NOHOST, "empty host");
  is_int(parse(&u, "http://:80/"), UVH_E_NOHOST, "port without host");
  {
    /* the resolver takes at most 255 characters, and a cut name would be
     * checked against certificates in place of the one asked for */
    char long_url[300];
    snprintf(long_url, sizeof long_url, "https://%0255d/", 0);
    is_int(parse(&u, long_url), 0, "255-character host");
    is_int((int)strlen(u.host), 255, "... kept whole");
    uvh_url_free(&u);
    snprintf(long_url, sizeof long_url, "https://%0256d:8443/", 0);
    is_int(parse(&u, long_url), UVH_E_LONGHOST, "256-character host");
  }
  is_int(parse(&u, "host/path"), UVH_E_BADURL, "relative URL");
  is_int(parse(&u, ""), UVH_E_BADURL, "empty string");
  is_int(parse(&u, "http://host/a b"), UVH_E_BADURL, "space");
  is_int(parse(&u, "http://host/a\r\nX: y"), UVH_E_BADURL, "CRLF");
  is_int(parse(&u, "http://host:99999/"), UVH_E_BADURL, "port out of range");
  is_int(parse(&u, "http://host:0/"), UVH_E_BADURL, "port zero");
  is_int(parse(&u, "http://host:8x/"), UVH_E_BADURL, "port not numeric");
  is_int(parse(&u, "http://[::1/"), UVH_E_BADURL, "unclosed bracket");
  is_int(parse(&u, "http://[::1]x/"), UVH_E_BADURL, "junk after bracket");
  is_int(parse(&u, "http://ho\"st/"), UVH_E_BADURL, "bad host character");
  is_int(uvh_url_parse(&u, "http://h\0/", 9), UVH_E_BADURL, "NUL byte");
  is_int(parse(&u, "http://h/\xc3\xa9"), UVH_E_BADURL, "raw non-ASCII must be percent-encoded");

  /* reference resolution: RFC 3986 5.4's examples, then Location forms */
  {
    static const char *const cases[][2] = {
        {"g", "http://a/b/c/g"}, {"./g", "http://a/b/c/g"}, {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"}, {"//g", "http://g"}, {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"}, {"#s", "http://a/b/c/d;p?q#s"}, {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"}, {";x", "http://a/b/c/;x"}, {"g;x", "http://a/b/c/g;x"},
        {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"}, {"./", "http://a/b/c/"},
        {"..", "http://a/b/"}, {"../", "http://a/b/"}, {"../g", "http://a/b/g"}, {"../..", "http://a/"},
        {"../../", "http://a/"}, {"../../g", "http://a/g"}, {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"}, {"/./g", "http://a/g"}, {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."}, {".g", "http://a/b/c/.g"}, {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"}, {"./../g", "http://a/b/g"}, {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"}, {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"}, {"HTTPS://B:8443/x", "https://B:8443/x"},
        {" /sp ace ", "http://a/sp%20ace"}, {"/\xc3\xa9", "http://a/%C3%A9"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char *out = NULL, name[96];
      int rc = uvh_url_resolve("http://a/b/c/d;p?q", 18, cases[i][0], strlen(cases[i][0]), &out);
      snprintf(name, sizeof name, "resolve '%s'", cases[i][0]);
      is_int(rc, 0, name);
      is_str(out ? out : "(null)", cases[i][1], name);
      free(out);
    }
  }
  {
    char *out = NULL;
    is_int(uvh_url_resolve("http://h/a#frag", 15, "/b", 2, &out), 0, "a Location without a fragment");
    is_str(out, "http://h/b#frag", "keeps the base's fragment (RFC 9110 10.2.2)");
    free(out);
    is_int(uvh_url_resolve("http://h/a#frag", 15, "/b#new", 6, &out), 0, "a Location with a fragment");
    is_str(out, "http://h/b#new", "uses its own fragment");
    free(out);
    is_int(uvh_url_resolve("http://h/a", 10, "//other:81/x?y", 14, &out), 0, "protocol-relative");
    is_str(out, "http://other:81/x?y", "takes the base's scheme");
    free(out);
    is_int(uvh_url_resolve("https://h/a", 11, "//other/x", 9, &out), 0, "protocol-relative from https");
    is_str(out, "https://other/x", "stays https");
    free(out);
    is_int(uvh_url_resolve("http://h", 8, "x", 1, &out), 0, "relative to an empty base path");
    is_str(out, "http://h/x", "merged under /");
    free(out);
    is_int(uvh_url_resolve("http://h/a", 10, "ftp://h/x", 9, &out), UVH_E_BADSCHEME, "ftp is refused");
    ok(out == NULL, "nothing returned");
    is_int(uvh_url_resolve("http://h/a", 10, "javascript:alert(1)", 19, &out), UVH_E_BADSCHEME, "javascript: refused");
    is_int(uvh_url_resolve("http://h/a", 10, "/a\r\nX: y", 9, &out), UVH_E_BADURL, "CR/LF refused");
    ok(out == NULL, "nothing returned for CR/LF");
    is_int(uvh_url_resolve("http://h/a", 10, "http:/x", 7, &out), UVH_E_BADURL, "http: without a host refused");
    is_int(uvh_url_resolve("/rel", 4, "x", 1, &out), UVH_E_BADURL, "a base without scheme refused");
  }
  return done_testing();
}
