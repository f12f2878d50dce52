/* error.c - name, message and public code lookups for the error table. */
#include "error.h"


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
