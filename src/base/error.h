/* error.h - the one table of Uvent core error codes.
 *
 * Every core function that can fail returns 0 or one of these negative
 * codes. Codes below UVH_E_ASYNC_FIRST are usage errors reported
 * synchronously (no callback will run); the others are delivered to a
 * request's completion callback and map to a stable Uvent::Error code name.
 * UVH_E_NOMEM is both: returned by a call that could not allocate, and
 * delivered as "nomem" when an allocation fails for a running request (a
 * buffer of the response could not grow); it has no counter slot and is
 * counted in the stats' errors_other.
 */
#ifndef UVH_ERROR_H
#define UVH_ERROR_H

#include <stddef.h>

/* X(name, value, public code name, message) */
#define UVH_ERROR_MAP(X)                                                      \
  X(NOMEM,           -1,  "nomem",             "out of memory")              \
  X(BADURL,          -2,  "usage",             "malformed URL")              \
  X(BADSCHEME,       -3,  "usage",             "unsupported URL scheme")     \
  X(NOHOST,          -4,  "usage",             "URL has no host")            \
  X(BADHEADER,       -5,  "usage",             "invalid header")             \
  X(BADMETHOD,       -6,  "usage",             "method is not a token")      \
  X(BADARG,          -7,  "usage",             "invalid argument")           \
  X(BUSY,            -8,  "usage",             "request is already in progress") \
  X(CLOSED_POOL,     -9,  "usage",             "pool is shut down")          \
  X(TLS_CONFIG,      -10, "usage",             "unusable TLS settings")      \
  X(LONGHOST,        -11, "usage",             "host name too long")         \
  X(RESOLVE,         -20, "resolve",           "could not resolve host")     \
  X(CONNECT,         -21, "connect",           "could not connect")          \
  X(CONNECT_TIMEOUT, -22, "connect_timeout",   "connect timed out")          \
  X(TIMEOUT,         -23, "timeout",           "request timed out")          \
  X(CONN_CLOSED,     -24, "connection_closed", "connection closed before the response was complete") \
  X(PROTOCOL,        -25, "protocol",          "malformed response")         \
  X(TOO_LARGE,       -26, "too_large",         "response exceeds a limit")   \
  X(CANCELLED,       -27, "cancelled",         "request cancelled")            \
  X(QUEUE_FULL,      -28, "queue_full",        "destination queue is full")    \
  X(QUEUE_TIMEOUT,   -29, "queue_timeout",     "no connection became free in time") \
  X(INHERITED,       -30, "inherited",         "request was inherited across fork") \
  X(TLS,             -31, "tls",               "TLS failure")                  \
  X(PROXY,           -32, "proxy",             "the proxy refused or failed the tunnel") \
  X(REDIRECTION_LIMIT, -33, "redirection_limit", "too many redirects")         \
  X(BAD_REDIRECT,    -34, "bad_redirect",      "unusable redirect")          \
  X(REQUEST_BODY,    -35, "request_body",      "the request body could not be sent")

typedef enum {
#define UVH_ERROR_ENUM(name, value, code, msg) UVH_E_##name = value,
  UVH_ERROR_MAP(UVH_ERROR_ENUM)
#undef UVH_ERROR_ENUM
  UVH_E_ASYNC_FIRST = UVH_E_RESOLVE
} uvh_errno_t;

/* Asynchronous codes are consecutive: slot 0 is UVH_E_RESOLVE. */
#define UVH_ERROR_SLOTS 16
/* Index of an asynchronous error code (for counters), or -1. */
int uvh_error_slot(int err);

/* "UVH_E_TIMEOUT" style name, or "UVH_E_UNKNOWN". */
const char *uvh_err_name(int err);
/* Human message for the code. */
const char *uvh_strerror(int err);
/* Stable Uvent::Error code name ("timeout", "usage", ...). */
const char *uvh_err_code(int err);
/* The asynchronous code (or UVH_E_NOMEM) whose public name is `code`
 * ("timeout" gives UVH_E_TIMEOUT), or 0 for an unknown name, "usage" and
 * "inherited". */
int uvh_err_by_code(const char *code);

/* Copy `len` bytes of `src` into `dst` (always NUL-terminated, at most
 * `cap` - 1 characters), writing control bytes and DEL as \0 \t \n \r or
 * \xNN, so that a user's value echoed in a message is shown whole and on
 * one line. Stops before an escape that would not fit. Returns the number
 * of source bytes copied. */
size_t uvh_escape(char *dst, size_t cap, const char *src, size_t len);

#endif
