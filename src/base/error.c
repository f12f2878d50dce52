/* error.c - name, message and public code lookups for the error table. */
#include "base/error.h"
#include <stdio.h>
#include <string.h>

const char *uvh_err_name(int err) {
  switch (err) {
#define UVH_ERR_NAME(name, value, code, msg) case value: return "UVH_E_" #name;
    UVH_ERROR_MAP(UVH_ERR_NAME)
#undef UVH_ERR_NAME
  }
  return "UVH_E_UNKNOWN";
}

const char *uvh_strerror(int err) {
  switch (err) {
#define UVH_ERR_MSG(name, value, code, msg) case value: return msg;
    UVH_ERROR_MAP(UVH_ERR_MSG)
#undef UVH_ERR_MSG
  }
  return "unknown error";
}

const char *uvh_err_code(int err) {
  switch (err) {
#define UVH_ERR_CODE(name, value, code, msg) case value: return code;
    UVH_ERROR_MAP(UVH_ERR_CODE)
#undef UVH_ERR_CODE
  }
  return "unknown";
}

int uvh_error_slot(int err) {
  int slot = UVH_E_RESOLVE - err;
  return slot >= 0 && slot < UVH_ERROR_SLOTS ? slot : -1;
}

int uvh_err_by_code(const char *code) {
#define UVH_ERR_BY_CODE(name, value, pub, msg)                                              \
  if ((value == UVH_E_NOMEM || value <= UVH_E_ASYNC_FIRST) && value != UVH_E_INHERITED &&     \
      strcmp(code, pub) == 0)                                                               \
    return value;
  UVH_ERROR_MAP(UVH_ERR_BY_CODE)
#undef UVH_ERR_BY_CODE
  return 0;
}

size_t uvh_escape(char *dst, size_t cap, const char *src, size_t len) {
  size_t i, o = 0;
  if (cap == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    char esc[5];
    size_t n;
    if (c >= 0x20 && c != 0x7f) {
      esc[0] = (char)c;
      n = 1;
    } else if (c == 0 || c == '\t' || c == '\n' || c == '\r') {
      esc[0] = '\\';
      esc[1] = c == 0 ? '0' : c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
      n = 2;
    } else {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      n = 4;
    }
    if (o + n > cap - 1)
      break;
    memcpy(dst + o, esc, n);
    o += n;
  }
  dst[o] = '\0';
  return i;
}
