/* h1.h - the HTTP/1.1 codec: a response parser over llhttp and the
 * request-head writer.
 *
 * Fed bytes, it returns what it found; it knows no socket, no loop and no
 * request object, so it builds and is fuzzed from bytes alone (it includes
 * only base/ and llhttp). Owns: what it parsed, in the message it fills.
 */
#ifndef UVH_HTTP_H1_H
#define UVH_HTTP_H1_H
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "base/error.h"
#include "base/list.h"
#include "http/decode.h"
#include "llhttp.h"

typedef struct {
  uint32_t name_off, name_len, value_off, value_len;
} uvh_header_t;

/* A parsed response: status line, headers, trailers and body, in storage
 * the parser owns while it fills it. It is the public uvh_h1_message_t
 * (uvh.h), whose accessors are the client's (client/response.c). */
typedef struct uvh_response_s uvh_h1_message_t;

struct uvh_response_s {
  int refcount;
  int status;
  uint8_t http_major, http_minor;
  unsigned keep_alive : 1;   /* both the response and framing allow reuse */
  unsigned retried : 1;      /* the request was sent again */
  uint8_t decoded;           /* the uvh_coding_t the body was decoded from (http/decode.h), 0 = none */
  unsigned done : 1;         /* the exchange is over (the client's completion sets it) */
  unsigned streamed : 1;     /* the body went to a partial hook piece by piece (the client sets it) */
  uvh_buf_t strings;         /* reason phrase or request target, header names and values */
  uint32_t reason_off, reason_len;
  uint32_t target_off, target_len; /* a request's target (the request direction) */
  int method;                /* a request's method, an llhttp_method_t (uvh__h1_method_name) */
  uvh_header_t *headers;     /* headers then trailers */
  size_t nheaders, ntrailers, cap_headers;
  uvh_buf_t body;            /* from the body allocator (base/buf.h) */
  void *data;                /* the binding's; free_data(data) when the message goes */
  void (*free_data)(void *data);
};

/* A declared Content-Length is reserved up front only up to this; a larger
 * body grows as it arrives (a server's claim alone costs no more memory). */
#define UVH_BODY_PREALLOC_MAX (1u << 20)
/* A streamed body's buffer: one socket read of it at most (read in place). */
#define UVH_BODY_STREAM_PIECE (64u << 10)

/* The default bound on a message's header lines, trailers included. */
#define UVH_DEFAULT_MAX_HEADER_COUNT 1000

typedef struct {
  llhttp_t llhttp;
  uvh_h1_message_t *resp;      /* borrowed from the request */
  size_t max_headers_size, max_body_size;
  size_t max_multipart_size;  /* requests, set after init: nonzero, the feed stops after the head of a
                              * multipart/form-data request with a body (UVH_PARSER_HEAD, `multipart`
                              * set) for the caller to settle its limit (uvh__parser_body_limit) */
  const char *body_limit;    /* the name max_body_size goes by in a refusal (NULL: "max_body_size") */
  unsigned multipart : 1;    /* requests: a multipart/form-data head stopped the feed, its limit unsettled */
  size_t header_bytes;
  size_t max_header_count;   /* header and trailer lines of a message (a 1xx's apart); 0 = no limit */
  unsigned decode : 1;       /* set after init: decode a response's single known content coding */
  unsigned stream : 1;       /* set after init: the caller streams the body (feed stops after the final
                              * head with UVH_PARSER_HEAD; the caller empties the body as it takes it) */
  unsigned head_paused : 1;  /* stream, or a multipart request head: on_headers_complete paused the feed */
  size_t body_taken;         /* stream: body bytes the caller took out of the body (for max_body_size) */
  uvh_decoder_t *decoder;    /* owned: the body's decoder, from the head to the body's end */
  size_t coded_bytes;        /* decoding: the body's bytes as received */
  unsigned is_head : 1;      /* request was HEAD: no body whatever the headers say */
  unsigned is_request : 1;   /* parsing requests (a server's direction), not responses */
  unsigned in_trailers : 1;
  unsigned informational : 1;/* current message is a 1xx to skip */
  unsigned continue_seen : 1;/* a 100 Continue was parsed: the owner reads and clears it */
  unsigned complete : 1;
  unsigned needs_eof : 1;    /* close-delimited body */
  unsigned in_header_value : 1;
  unsigned started : 1;      /* any response byte arrived */
  unsigned in_body : 1;      /* the head is parsed and a body (not chunked) follows */
  unsigned body_length_known : 1; /* in_body: delimited by Content-Length (else by the close) */
  /* Line checks llhttp 8 does not make (see scan_head in h1_parser.c): the
   * bytes fed belong to a status line, header block or trailer block */
  unsigned in_head : 1;
  unsigned head_status_line : 1; /* in_head: the current line is a status line */
  unsigned head_line_empty : 1;  /* in_head: nothing but a CR yet on the current line */
  unsigned head_cr : 1;      /* in_head: the last byte was a CR */
  unsigned check_crlf : 1;   /* paused: the two bytes before the pause must be CRLF */
  unsigned char tail[2];     /* the last two bytes of the feeds so far */
  int cb_error;              /* UVH_E_TOO_LARGE or UVH_E_NOMEM when a callback refused */
  const char *reason;        /* our own reason for a refusal: static or reason_buf */
  char reason_buf[160];
  int ka_max;                /* Keep-Alive: max=N, -1 if absent */
  double ka_timeout;         /* Keep-Alive: timeout=N seconds, -1 if absent */
  uvh_header_t cur;          /* header being accumulated */
} uvh_parser_t;

void uvh__parser_init(uvh_parser_t *p, uvh_h1_message_t *resp, int is_head, size_t max_headers_size,
                      size_t max_body_size);
/* Free what a parse holds beyond the message (a decoder): after a failed
 * feed, or before a parser is dropped mid-message. Safe to call twice. */
void uvh__parser_release(uvh_parser_t *p);
/* Feed bytes. Returns 0 when more input is wanted, 1 when the response is
 * complete (*consumed tells how much was used; the rest is not part of it),
 * UVH_PARSER_HEAD (with `stream` set) when the final response's head is
 * parsed and the body may follow, or (with max_multipart_size set) when a
 * multipart/form-data request's head is (*consumed bytes used: feed the
 * rest again), or UVH_E_PROTOCOL / UVH_E_TOO_LARGE / UVH_E_NOMEM. */
#define UVH_PARSER_HEAD 2
int uvh__parser_feed(uvh_parser_t *p, const char *data, size_t len, size_t *consumed);
/* Where the next bytes of the body may be read to directly, when the
 * parser is inside a body delimited by Content-Length or by the close:
 * the free tail of the body buffer (*room bytes, no more than the body
 * still to come), grown as needed. Bytes read there and then fed are
 * taken in place, without a copy. NULL when the next bytes must come
 * through another buffer (a head, chunked framing, no memory). */
char *uvh__parser_body_room(uvh_parser_t *p, size_t *room);
/* Peer closed. 1 when that completes a close-delimited body, else
 * UVH_E_CONN_CLOSED (nothing or a partial response) or UVH_E_PROTOCOL. */
int uvh__parser_eof(uvh_parser_t *p);
/* Why the last feed failed, for error messages. */
const char *uvh__parser_reason(const uvh_parser_t *p);
/* Did any byte of a response arrive? */
int uvh__parser_started(const uvh_parser_t *p);

/* A message's storage: init before the first parse, free after the last. */
void uvh__h1_message_init(uvh_h1_message_t *m);
void uvh__h1_message_free(uvh_h1_message_t *m);
/* Parse requests instead (a server's direction): a request line, no
 * 1xx, no HEAD rule; a body only by Content-Length or chunked; the same
 * line checks and limits. Feed and EOF as for responses. */
void uvh__parser_init_request(uvh_parser_t *p, uvh_h1_message_t *msg, size_t max_headers_size,
                              size_t max_body_size);
/* A request's body limit in place of max_body_size, `name` (a static
 * string) naming it in a refusal: the caller settles it after
 * UVH_PARSER_HEAD for a multipart/form-data head (max_multipart_size
 * set). UVH_E_TOO_LARGE, with the reason, when the declared body is over
 * it; else 0, and the rest is fed as usual. */
int uvh__parser_body_limit(uvh_parser_t *p, size_t max_body_size, const char *name);
/* The method of a parsed request ("GET"). */
const char *uvh__h1_method_name(const uvh_h1_message_t *m);

/* The value of the first header named `name` (any case), or NULL. */
const char *uvh__h1_header(const uvh_h1_message_t *m, const char *name, size_t *value_len);

/* ---- writer (h1_writer.c) ---- */
/* The parts of a request head. NULL host, user_agent or userinfo: that
 * header is not added (the caller's headers carry it, or none is wanted). */
typedef struct {
  const char *method, *target;
  const char *host;          /* Host: value */
  const char *user_agent;    /* User-Agent: value */
  const char *accept_encoding; /* Accept-Encoding: value */
  size_t accept_encoding_len;
  const char *userinfo;      /* "user:password" for Authorization: Basic */
  const char *proxy_userinfo; /* "user:password" for Proxy-Authorization: Basic (through an HTTP proxy) */
  const char *headers;       /* the caller's "Name: value\r\n" lines */
  size_t headers_len;
  size_t body_len;
  unsigned has_content_length : 1; /* the caller's headers carry it */
  unsigned chunked : 1;      /* Transfer-Encoding: chunked instead of a Content-Length */
} uvh_h1_request_head_t;

/* Write the head into *out (replacing it). 0 or UVH_E_NOMEM. A
 * Content-Length is added for a body, or for POST, PUT and PATCH, unless
 * the body is chunked (then Transfer-Encoding: chunked). */
/* Is s[0..len) a non-empty token (RFC 9110 5.6.2: a method, a header name)? */
int uvh__h1_is_token(const char *s, size_t len);
int uvh__h1_request_head(uvh_buf_t *out, const uvh_h1_request_head_t *h);
/* A CONNECT request head for `authority` ("host:port", "[v6]:port"),
 * with Host, Proxy-Authorization: Basic when proxy_userinfo is not NULL,
 * and User-Agent when not NULL, into *out (replacing it). 0 or UVH_E_NOMEM. */
int uvh__h1_connect_head(uvh_buf_t *out, const char *authority, const char *proxy_userinfo, const char *user_agent);
/* Chunked framing (RFC 9112 7.1), appended to *out: one chunk of data
 * (nothing for len 0, which would end the body), and the last chunk
 * with no trailers. 0 or UVH_E_NOMEM. */
int uvh__h1_chunk(uvh_buf_t *out, const char *data, size_t len);
int uvh__h1_last_chunk(uvh_buf_t *out);

#endif
