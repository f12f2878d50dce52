/* Proxy URLs (base/proxy.c): accepted forms, the canonical key, decoded
 * credentials, every rejection; and the no_proxy rule, entry by entry. */
#include "internal.h"
#include "tap.h"

static int parse(uvh_proxy_t *p, const char *s) {
  char why[128];
  return uvh_proxy_parse(p, s, strlen(s), why, sizeof why);
}

static void refused(const char *s, const char *want_why, const char *name) {
  uvh_proxy_t p;
  char why[128] = "";
  int rc = uvh_proxy_parse(&p, s, strlen(s), why, sizeof why);
  is_int(rc, UVH_E_BADARG, name);
  ok(strstr(why, want_why) != NULL, "... because: %s", want_why);
  ok(p.mem == NULL, "... nothing to free");
}

int main(void) {
  uvh_proxy_t p, c;

  is_int(parse(&p, "http://Proxy.Example:3128"), 0, "http proxy");
  is_int(p.kind, UVH_PROXY_HTTP, "kind http");
  is_str(p.host, "proxy.example", "host lower-cased");
  is_int(p.port, 3128, "port");
  is_str(p.authority, "proxy.example:3128", "authority");
  ok(p.user == NULL && p.userinfo == NULL, "no credentials");
  is_str(p.key, "http://proxy.example:3128", "key");
  uvh_proxy_free(&p);

  is_int(parse(&p, "HTTP://u%40x:p%3Ass@127.0.0.1:8080/"), 0, "credentials, a final slash");
  is_str(p.user, "u@x", "user decoded");
  is_str(p.pass, "p:ss", "password decoded");
  is_str(p.userinfo, "u@x:p:ss", "userinfo for Basic");
  is_str(p.key, "http://u%40x:p%3Ass@127.0.0.1:8080", "key keeps the userinfo as written");
  is_int(uvh_proxy_copy(&c, &p), 0, "copy");
  is_str(c.key, p.key, "copy has the same key");
  is_str(c.userinfo, p.userinfo, "and the same credentials");
  uvh_proxy_free(&c);
  uvh_proxy_free(&p);

  is_int(parse(&p, "socks5://user@[::1]:1080"), 0, "socks5, IPv6, user without password");
  is_int(p.kind, UVH_PROXY_SOCKS5, "kind socks5");
  is_str(p.host, "::1", "brackets removed");
  is_str(p.authority, "[::1]:1080", "brackets in the authority");
  is_str(p.user, "user", "user");
  is_str(p.pass, "", "empty password");
  uvh_proxy_free(&p);

  is_int(parse(&p, "socks5h://a:b@h:1"), 0, "socks5h");
  is_int(p.kind, UVH_PROXY_SOCKS5H, "kind socks5h");
  is_str(p.key, "socks5h://a:b@h:1", "key");
  uvh_proxy_free(&p);

  refused("ftp://h:1", "unsupported scheme", "ftp refused");
  is_int(parse(&p, "HTTPS://u:p@Secure.Example:443/"), 0, "https proxy");
  is_int(p.kind, UVH_PROXY_HTTPS, "kind https");
  is_str(p.key, "https://u:p@secure.example:443", "key");
  uvh_proxy_free(&p);
  refused("socks4://h:1", "unsupported scheme", "socks4 refused");
  refused("h:3128", "must be a URL", "no scheme");
  refused("http://:3128", "no host", "no host");
  refused("http://h", "no port", "no port");
  refused("http://h:", "no port", "empty port");
  refused("http://h:0", "1 to 65535", "port 0");
  refused("http://h:65536", "1 to 65535", "port too large");
  refused("http://h:80x", "1 to 65535", "port with a letter");
  refused("http://h:1/path", "no path", "a path");
  refused("http://h:1?q", "no path", "a query");
  refused("http://h\r\n:1", "control character", "CRLF");
  refused("http://h :1", "control character", "a space");
  refused("http://u%0d%0a:p@h:1", "decodes to a control character", "CRLF in the decoded user");
  refused("http://u:p%00@h:1", "decodes to a control character", "NUL in the decoded password");
  refused("http://:p@h:1", "user name", "empty user name");
  refused("http://[::1:1", "closed with ']'", "unclosed IPv6");
  refused("http://h<>:1", "malformed host", "bad host characters");
  {
    char s[700];
    memset(s, 'u', sizeof s);
    memcpy(s, "socks5://", 9);
    memcpy(s + 9 + 300, ":p@h:1", 7);
    refused(s, "at most 255 bytes", "a SOCKS5 user name over 255 bytes");
  }

  /* no_proxy */
  ok(!uvh_no_proxy_match(NULL, "example.com", 80), "no list: no match");
  ok(!uvh_no_proxy_match("", "example.com", 80), "empty list: no match");
  ok(uvh_no_proxy_match("example.com", "example.com", 80), "the name itself");
  ok(uvh_no_proxy_match("example.com", "www.example.com", 80), "a name below it");
  ok(uvh_no_proxy_match(".example.com", "www.example.com", 80), "leading dot: below");
  ok(uvh_no_proxy_match(".example.com", "example.com", 80), "leading dot: the name itself too");
  ok(!uvh_no_proxy_match("example.com", "badexample.com", 80), "a suffix only at a label's start");
  ok(!uvh_no_proxy_match("www.example.com", "example.com", 80), "not above it");
  ok(uvh_no_proxy_match("::1", "0:0::1", 80), "IP literals compare as addresses: ::1 is 0:0::1");
  ok(uvh_no_proxy_match("[0:0:0:0:0:0:0:1]:80", "::1", 80), "... in brackets with a port too");
  ok(!uvh_no_proxy_match("::1", "::2", 80), "... and another address is not it");
  ok(!uvh_no_proxy_match("127.0.0.1", "127.0.0.2", 80), "IPv4: another address is not it");
  ok(uvh_no_proxy_match("EXAMPLE.com", "www.example.com", 80), "case ignored");
  ok(uvh_no_proxy_match("example.com.", "www.example.com", 80), "entry's trailing dot");
  ok(uvh_no_proxy_match("example.com", "www.example.com.", 80), "host's trailing dot");
  ok(uvh_no_proxy_match("a.test, b.test ,example.com", "example.com", 80), "commas and spaces");
  ok(uvh_no_proxy_match("a.test b.test", "b.test", 80), "spaces alone");
  ok(uvh_no_proxy_match("*", "anything.example", 80), "* matches everything");
  ok(uvh_no_proxy_match("a.test,*", "x.y", 80), "* among others");
  ok(!uvh_no_proxy_match("*.example.com", "x.example.com", 80), "a glob is not a wildcard (curl)");
  ok(uvh_no_proxy_match("127.0.0.1", "127.0.0.1", 80), "IPv4 literal");
  ok(!uvh_no_proxy_match("0.0.1", "127.0.0.1", 80), "no suffix match for an address");
  ok(!uvh_no_proxy_match("127.0.0.1", "127.0.0.10", 80), "another address");
  ok(uvh_no_proxy_match("::1", "::1", 80), "IPv6 literal");
  ok(uvh_no_proxy_match("[::1]", "::1", 80), "IPv6 literal in brackets");
  ok(uvh_no_proxy_match("[::1]:8080", "::1", 8080), "IPv6 with a port");
  ok(!uvh_no_proxy_match("[::1]:8080", "::1", 80), "IPv6 with another port");
  ok(uvh_no_proxy_match("example.com:8080", "www.example.com", 8080), "a name on a port");
  ok(!uvh_no_proxy_match("example.com:8080", "www.example.com", 80), "not on another port");
  ok(uvh_no_proxy_match("127.0.0.1:80", "127.0.0.1", 80), "an address on a port");
  ok(!uvh_no_proxy_match("127.0.0.1:81", "127.0.0.1", 80), "not on another port");
  ok(!uvh_no_proxy_match("example.com:99999", "example.com", 99999 & 0xffff), "a port out of range matches nothing");
  ok(!uvh_no_proxy_match(",,, ,", "example.com", 80), "empty entries match nothing");
  ok(!uvh_no_proxy_match(".", "example.com", 80), "a lone dot matches nothing");
  /* CIDR blocks, as curl (7.86 and later) takes them */
  ok(uvh_no_proxy_match("10.0.0.0/8", "10.1.2.3", 80), "an IPv4 CIDR block");
  ok(!uvh_no_proxy_match("10.0.0.0/8", "11.1.2.3", 80), "... not an address outside it");
  ok(uvh_no_proxy_match("192.168.1.0/24", "192.168.1.77", 80), "a /24");
  ok(!uvh_no_proxy_match("192.168.1.0/24", "192.168.2.1", 80), "... not the next block");
  ok(uvh_no_proxy_match("fd00::/8", "fd12::1", 80), "an IPv6 CIDR block");
  ok(!uvh_no_proxy_match("fd00::/8", "fe80::1", 80), "... not an address outside it");
  ok(!uvh_no_proxy_match("10.0.0.0/8", "example.com", 80), "a CIDR block matches no name");
  ok(!uvh_no_proxy_match("10.0.0.0/33", "10.1.2.3", 80), "a prefix too long matches nothing");

  return done_testing();
}
