/* request.h - the C side of Uvent::HTTP::Request (its XSUBs are in
 * request.xsh): a core request built from a Request hash, request(\%params),
 * the request fields (the one list, Request.pm reads it through _fields),
 * cancel codes, and the `tls` hash, which Pool->new takes too. Included by
 * Uvent.xs after glue.h and callbacks.h. */
#ifndef UVX_REQUEST_H
#define UVX_REQUEST_H

/* Croak with the core's sentence about a bad request field. The request
 * itself is freed by the guard uvx_build_request put on the save stack. */
static void uvx_croak_request(pTHX_ const char *prefix, uvh_request_t *r, int rc) {
  UVX_CROAK("%s: %s", prefix, *uvh_request_last_error(r) ? uvh_request_last_error(r) : uvh_strerror(rc));
}

static void uvx_request_release(pTHX_ void *r) { uvh_request_unref((uvh_request_t *)r); }

/* A field's value as the request is built: its magic run once (see
 * uvx_plain), or NULL when absent or undef. */
static SV *uvx_field(pTHX_ SV *sv) {
  sv = sv ? uvx_plain(aTHX_ sv) : NULL;
  return sv && SvOK(sv) ? sv : NULL;
}

static size_t uvx_size(pTHX_ const char *prefix, SV *sv, const char *name) {
  double v;
  sv = uvx_plain(aTHX_ sv);
  v = uvx_num(aTHX_ sv, prefix, name);
  if (!(v >= 0 && v < 18446744073709551616.0) || v != (double)(UV)v)
    UVX_CROAK("%s: '%s' must be a whole number of bytes >= 0, got '%" SVf "'", prefix, name,
              SVfARG(uvx_shown(aTHX_ sv)));
  return (size_t)v;
}

/* A count (max_header_count): a whole number >= 0. */
static size_t uvx_count(pTHX_ const char *prefix, SV *sv, const char *name) {
  double v;
  sv = uvx_plain(aTHX_ sv);
  v = uvx_num(aTHX_ sv, prefix, name);
  if (!(v >= 0 && v < 18446744073709551616.0) || v != (double)(UV)v)
    UVX_CROAK("%s: '%s' must be a whole number >= 0, got '%" SVf "'", prefix, name, SVfARG(uvx_shown(aTHX_ sv)));
  return (size_t)v;
}

static void uvx_add_header(pTHX_ const char *prefix, uvh_request_t *r, SV *name, SV *value) {
  STRLEN nl, vl;
  const char *n, *v;
  int rc;
  name = uvx_plain(aTHX_ name);
  value = uvx_plain(aTHX_ value);
  if (!SvOK(name) || SvROK(name) || !SvOK(value) || SvROK(value))
    UVX_CROAK("%s: header names and values must be defined strings (header '%" SVf "')", prefix,
              SVfARG(uvx_shown(aTHX_ name)));
  n = uvx_bytes(aTHX_ name, &nl, prefix, NULL, name);
  v = uvx_bytes(aTHX_ value, &vl, prefix, NULL, name);
  if ((rc = uvh_request_add_header(r, n, nl, v, vl)))
    uvx_croak_request(aTHX_ prefix, r, rc);
}

/* The parameters a request accepts: the one list, which
 * Uvent::HTTP::Request reads through Uvent::HTTP::Request::_fields. The
 * enum names their places in it. */
#define UVX_REQUEST_FIELDS(X)                                                                  \
  X("uri") X("method") X("headers") X("body") X("timeout") X("connect_timeout") X("read_timeout") \
  X("max_headers_size") X("max_body_size") X("retry") X("idempotent") X("tls") X("response_callback") X("family") \
  X("tcp_nodelay") X("tcp_keepalive") X("so_linger") X("socket_buffer_size") X("local_address") X("proxy") \
  X("decompress") X("max_header_count") X("follow_redirect") X("redirection_limit") X("allow_downgrade") \
  X("redirect_callback") X("form") X("json") X("cookie_jar") X("chunked") X("continue_callback") X("expect_timeout") X("partial_callback")
#define UVX_FIELD_NAME(name) name,
#define UVX_FIELD_LEN(name) (I32)(sizeof(name) - 1),
static const char *const uvx_request_fields[] = {UVX_REQUEST_FIELDS(UVX_FIELD_NAME) NULL};
static const I32 uvx_request_field_lens[] = {UVX_REQUEST_FIELDS(UVX_FIELD_LEN)};
enum {
  UVX_F_URI, UVX_F_METHOD, UVX_F_HEADERS, UVX_F_BODY, UVX_F_TIMEOUT, UVX_F_CONNECT_TIMEOUT, UVX_F_READ_TIMEOUT,
  UVX_F_MAX_HEADERS_SIZE, UVX_F_MAX_BODY_SIZE, UVX_F_RETRY, UVX_F_IDEMPOTENT, UVX_F_TLS,
  UVX_F_RESPONSE_CALLBACK, UVX_F_FAMILY, UVX_F_TCP_NODELAY, UVX_F_TCP_KEEPALIVE, UVX_F_SO_LINGER,
  UVX_F_SOCKET_BUFFER_SIZE, UVX_F_LOCAL_ADDRESS, UVX_F_PROXY, UVX_F_DECOMPRESS, UVX_F_MAX_HEADER_COUNT,
  UVX_F_FOLLOW_REDIRECT, UVX_F_REDIRECTION_LIMIT, UVX_F_ALLOW_DOWNGRADE, UVX_F_REDIRECT_CALLBACK, UVX_F_FORM,
  UVX_F_JSON, UVX_F_COOKIE_JAR, UVX_F_CHUNKED, UVX_F_CONTINUE_CALLBACK, UVX_F_EXPECT_TIMEOUT, UVX_F_PARTIAL_CALLBACK, UVX_NFIELDS
};

/* The socket options, in the order of uvh_socket_config_t's fields and of
 * the request fields from UVX_F_FAMILY on; Pool->new takes the same. */
static const char *const uvx_socket_keys[] = {"family", "tcp_nodelay", "tcp_keepalive", "so_linger",
                                              "socket_buffer_size", "local_address", NULL};

/* Socket option values (NULL: unset) into *cfg (local_address borrowed),
 * or croak naming the option; the core checks the ranges. */
static void uvx_socket_config(pTHX_ const char *prefix, SV *const vals[6], uvh_socket_config_t *cfg) {
  int *ints[5];
  int i;
  uvh_socket_config_init(cfg);
  ints[0] = &cfg->family;
  ints[1] = &cfg->tcp_nodelay;
  ints[2] = &cfg->tcp_keepalive;
  ints[3] = &cfg->so_linger;
  ints[4] = &cfg->socket_buffer_size;
  for (i = 0; i < 5; i++) {
    SV *sv = vals[i] ? uvx_plain(aTHX_ vals[i]) : NULL;
    double v;
    if (sv == NULL || !SvOK(sv))
      continue;
    v = uvx_num(aTHX_ sv, prefix, uvx_socket_keys[i]);
    /* NaN fails both; the core's range check words the rest */
    if (!(v >= -1e9 && v <= 1e9) || v != (double)(IV)v)
      UVX_CROAK("%s: '%s' must be a whole number, got '%" SVf "'", prefix, uvx_socket_keys[i],
                SVfARG(uvx_shown(aTHX_ sv)));
    *ints[i] = (int)v;
  }
  if (vals[5]) {
    SV *sv = uvx_plain(aTHX_ vals[5]);
    if (SvOK(sv)) {
      STRLEN len;
      const char *s;
      if (SvROK(sv))
        UVX_CROAK("%s: 'local_address' must be a string, not a reference", prefix);
      s = uvx_bytes(aTHX_ sv, &len, prefix, "local_address", NULL);
      if (strlen(s) != len)
        UVX_CROAK("%s: 'local_address' must be an IPv4 or IPv6 address (such as 127.0.0.2 or ::1), got '%" SVf "'",
                  prefix, SVfARG(uvx_shown(aTHX_ sv)));
      cfg->local_address = s;
    }
  }
}

/* The place of a key in uvx_request_fields, or -1 (lengths compared first). */
static int uvx_field_index(const char *key, I32 klen) {
  int i;
  for (i = 0; i < UVX_NFIELDS; i++)
    if (uvx_request_field_lens[i] == klen && uvx_request_fields[i][0] == key[0] && memcmp(uvx_request_fields[i], key, klen) == 0)
      return i;
  return -1;
}

/* The values of a request hash's known fields, by place (NULL when
 * absent), each held by a mortal reference so that Perl code run while
 * the request is built (an overloaded uri, a tied header) cannot free
 * it. A plain hash is walked once, without its iterator (a caller's
 * `each` goes on undisturbed); a tied or otherwise magical one is asked
 * for each field, as FETCH expects. */
static void uvx_request_values(pTHX_ HV *hv, SV *out[UVX_NFIELDS]) {
  int i;
  memset(out, 0, UVX_NFIELDS * sizeof *out);
  if (SvRMAGICAL((SV *)hv) && mg_find((SV *)hv, PERL_MAGIC_tied)) {
    for (i = 0; i < UVX_NFIELDS; i++) {
      SV **svp = hv_fetch(hv, uvx_request_fields[i], (I32)strlen(uvx_request_fields[i]), 0);
      if ((out[i] = svp ? *svp : NULL))
        sv_2mortal(SvREFCNT_inc_simple_NN(out[i]));
    }
  } else if (HvARRAY(hv)) {
    STRLEN b;
    for (b = 0; b <= HvMAX(hv); b++) {
      HE *he;
      for (he = HvARRAY(hv)[b]; he; he = HeNEXT(he))
        if (HeVAL(he) != &PL_sv_placeholder && HeKLEN(he) >= 0 &&
            (i = uvx_field_index(HeKEY(he), HeKLEN(he))) >= 0)
          out[i] = sv_2mortal(SvREFCNT_inc_simple_NN(HeVAL(he)));
    }
  }
}

/* The keys of a `tls` hash; Uvent::HTTP::Pool's POD lists the same. */
static const char *const uvx_tls_keys[] = {"verify", "ca_file", "ca_path", "cert_file", "key_file", "ciphers",
                                           "min_version", "server_name", NULL};

/* tls verify: 0 or 1 only, Perl's own true and false included. A value
 * such as '' or 'no' from a config file must never turn the certificate
 * check off (or on) by accident. */
static int uvx_tls_verify(pTHX_ SV *val, const char *prefix) {
  STRLEN len;
  const char *v = SvPV(val, len);
  if (SvIOK(val) || SvNOK(val)) {
    NV n = SvNV(val);
    if (n == 0 || n == 1)
      return n == 1;
  } else if (len == 1 && (*v == '0' || *v == '1')) {
    return *v == '1';
  }
  UVX_CROAK("%s: tls 'verify' must be 0 or 1, got '%" SVf "'", prefix, SVfARG(uvx_shown(aTHX_ val)));
  return 0;
}

/* A `tls` hashref into *cfg (strings borrowed from the hash), or croak
 * naming the bad key or value. */
static void uvx_tls_config(pTHX_ SV *sv, uvh_tls_config_t *cfg, const char *prefix) {
  HV *hv;
  HE *he;
  uvh_tls_config_init(cfg);
  sv = uvx_plain(aTHX_ sv);
  if (!SvROK(sv) || SvTYPE(SvRV(sv)) != SVt_PVHV || SvOBJECT(SvRV(sv)))
    UVX_CROAK("%s: 'tls' must be a hashref", prefix);
  hv = (HV *)SvRV(sv);
  hv_iterinit(hv);
  while ((he = hv_iternext(hv))) {
    I32 klen;
    const char *key = hv_iterkey(he, &klen);
    /* a copy, not the hash's own value: the strings are borrowed until the
     * end, and a later tied FETCH may free or change the hash's values */
    SV *val = sv_mortalcopy(hv_iterval(hv, he));
    int i;
    for (i = 0; uvx_tls_keys[i]; i++)
      if ((I32)strlen(uvx_tls_keys[i]) == klen && memcmp(uvx_tls_keys[i], key, klen) == 0)
        break;
    if (uvx_tls_keys[i] == NULL)
      UVX_CROAK("%s: unknown tls key '%" SVf "' (known: verify, ca_file, ca_path, cert_file, key_file, ciphers, "
                "min_version, server_name)", prefix, SVfARG(uvx_shown(aTHX_ hv_iterkeysv(he))));
    if (!SvOK(val))
      continue; /* undef: unset, like an absent key */
    if (SvROK(val))
      UVX_CROAK("%s: tls '%s' must be a plain value, not a reference", prefix, uvx_tls_keys[i]);
    if (i == 0) {
      cfg->verify = uvx_tls_verify(aTHX_ val, prefix);
    } else if (i == 6) {
      STRLEN len;
      const char *v = SvPV(val, len);
      int whole = strlen(v) == len; /* no NUL inside */
      if (whole && (strcasecmp(v, "TLSv1.2") == 0 || strcmp(v, "1.2") == 0))
        cfg->min_version = 12;
      else if (whole && (strcasecmp(v, "TLSv1.3") == 0 || strcmp(v, "1.3") == 0))
        cfg->min_version = 13;
      else
        UVX_CROAK("%s: tls 'min_version' must be 'TLSv1.2' or 'TLSv1.3', got '%" SVf "'", prefix,
                  SVfARG(uvx_shown(aTHX_ val)));
    } else {
      STRLEN len;
      const char *v = uvx_bytes(aTHX_ val, &len, prefix, uvx_tls_keys[i], NULL);
      /* the core takes C strings: a NUL would silently cut the value */
      if (memchr(v, '\0', len))
        UVX_CROAK("%s: tls %s must be a non-empty string without control characters", prefix, uvx_tls_keys[i]);
      switch (i) {
      case 1: cfg->ca_file = v; break;
      case 2: cfg->ca_path = v; break;
      case 3: cfg->cert_file = v; break;
      case 4: cfg->key_file = v; break;
      case 5: cfg->ciphers = v; break;
      default: cfg->server_name = v; break;
      }
    }
  }
}

/* request(\%params): the same as Uvent::HTTP::Request->new(\%params), done
 * here because it runs once per request: check the keys, copy, bless. */
static SV *uvx_request_from_params(pTHX_ HV *params) {
  dMY_CXT;
  HV *copy = newHV();
  SV *obj = sv_2mortal(newRV_noinc((SV *)copy));
  HE *he;
  hv_iterinit(params);
  while ((he = hv_iternext(params))) {
    I32 klen;
    const char *key = hv_iterkey(he, &klen);
    if (uvx_field_index(key, klen) < 0) {
      /* let the Perl constructor word the error the same way it always does */
      dSP;
      PUSHMARK(SP);
      XPUSHs(sv_2mortal(newSVpvs("Uvent::HTTP::Request")));
      XPUSHs(sv_2mortal(newRV_inc((SV *)params)));
      PUTBACK;
      call_method("new", G_DISCARD);
      UVX_CROAK("Uvent::HTTP::Pool->request: unknown parameter '%" SVf "'", /* not reached */
                SVfARG(uvx_shown(aTHX_ hv_iterkeysv(he))));
    }
    hv_store(copy, key, klen, newSVsv(hv_iterval(params, he)), HeHASH(he));
  }
  sv_bless(obj, MY_CXT.stash_request);
  return obj;
}

/* Whether a request's fields need Pool.pm's _submit_first (form, json or a
 * cookie jar: the body and headers are made in Perl) rather than going
 * straight to the core. */
#define UVX_NEEDS_PERL(f) ((f)[UVX_F_FORM] || (f)[UVX_F_JSON] || (f)[UVX_F_COOKIE_JAR])

/* The redirect fields are read by the redirect step in Pool.pm; here
 * they are only checked, so that a bad one croaks at submit. */
static void uvx_check_redirect_fields(pTHX_ SV *f[UVX_NFIELDS], const char *prefix) {
  SV *sv;
  if ((sv = uvx_field(aTHX_ f[UVX_F_REDIRECTION_LIMIT]))) {
    double v = uvx_num(aTHX_ sv, prefix, "redirection_limit");
    if (!(v >= 0 && v <= 1e6) || v != (double)(IV)v)
      UVX_CROAK("%s: 'redirection_limit' must be a whole number >= 0 (at most 1000000), got '%" SVf "'", prefix,
                SVfARG(uvx_shown(aTHX_ sv)));
  }
  if ((sv = uvx_field(aTHX_ f[UVX_F_REDIRECT_CALLBACK])) && !(SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVCV))
    UVX_CROAK("%s: 'redirect_callback' must be a CODE reference", prefix);
  if (f[UVX_F_FORM] || f[UVX_F_JSON]) {
    int given = (uvx_field(aTHX_ f[UVX_F_FORM]) != NULL) + (uvx_field(aTHX_ f[UVX_F_JSON]) != NULL) +
                (uvx_field(aTHX_ f[UVX_F_BODY]) != NULL);
    if (given > 1)
      UVX_CROAK("%s: 'body', 'form' and 'json' exclude each other: give one of them", prefix);
  }
}

/* Build a core request from the field values of a Uvent::HTTP::Request
 * hash (uvx_request_values), or croak naming the first bad field. The
 * returned reference belongs to the caller; any croak (ours, or "Wide
 * character" from perl) frees the request through the save-stack guard,
 * so nothing leaks and nothing is sent. `cb` is called with `hv`. */
static uvh_request_t *uvx_build_request(pTHX_ SV *f[UVX_NFIELDS], HV *hv, uvh_request_cb cb, const char *prefix) {
  uvh_request_t *r;
  SV *sv;
  STRLEN len;
  const char *s;
  int rc;

  if (uvh_request_new(&r))
    UVX_CROAK("%s: out of memory", prefix);
  SAVEDESTRUCTOR_X(uvx_request_release, r);
  if ((sv = uvx_field(aTHX_ f[UVX_F_URI])) == NULL)
    UVX_CROAK("%s: 'uri' is required", prefix);
  if (SvROK(sv) && !sv_isobject(sv))
    UVX_CROAK("%s: 'uri' must be a string, not a reference", prefix);
  s = uvx_bytes(aTHX_ sv, &len, prefix, "uri", NULL);
  if ((rc = uvh_request_set_url(r, s, len)))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_METHOD]))) {
    if (SvROK(sv))
      UVX_CROAK("%s: 'method' must be a string, not a reference", prefix);
    s = uvx_bytes(aTHX_ sv, &len, prefix, "method", NULL);
    if ((rc = uvh_request_set_method(r, s, len)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if ((sv = uvx_field(aTHX_ f[UVX_F_HEADERS]))) {
    if (SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVHV) {
      HV *h = (HV *)SvRV(sv);
      HE *he;
      hv_iterinit(h);
      while ((he = hv_iternext(h))) {
        SV *name = hv_iterkeysv(he), *val = uvx_plain(aTHX_ hv_iterval(h, he));
        if (SvROK(val) && SvTYPE(SvRV(val)) == SVt_PVAV) { /* one name, several values */
          AV *vals = (AV *)SvRV(val);
          SSize_t i;
          for (i = 0; i <= av_len(vals); i++) {
            SV **v = av_fetch(vals, i, 0);
            uvx_add_header(aTHX_ prefix, r, name, v ? *v : &PL_sv_undef);
          }
        } else {
          uvx_add_header(aTHX_ prefix, r, name, val);
        }
      }
    } else if (SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVAV) {
      AV *a = (AV *)SvRV(sv);
      SSize_t i, n = av_len(a) + 1;
      if (n % 2)
        UVX_CROAK("%s: 'headers' arrayref must hold name => value pairs (odd number of elements)", prefix);
      for (i = 0; i < n; i += 2) {
        SV **name = av_fetch(a, i, 0), **val = av_fetch(a, i + 1, 0);
        uvx_add_header(aTHX_ prefix, r, name ? *name : &PL_sv_undef, val ? *val : &PL_sv_undef);
      }
    } else {
      UVX_CROAK("%s: 'headers' must be a hashref or an arrayref of name => value pairs", prefix);
    }
  }
  {
    SV *ch = uvx_field(aTHX_ f[UVX_F_CHUNKED]);
    int chunked = ch && SvTRUE(ch);
    if ((sv = uvx_field(aTHX_ f[UVX_F_BODY]))) {
      if (UVX_IS_BODY_SOURCE(sv)) {
        /* read in pieces as the socket drains: uvx_on_pull */
        if ((rc = uvh_request_set_body_stream(r, uvx_on_pull)))
          uvx_croak_request(aTHX_ prefix, r, rc);
      } else {
        if (SvROK(sv) && !sv_isobject(sv))
          UVX_CROAK("%s: 'body' must be a string, a filehandle or a CODE reference, got a reference to %s", prefix,
                    sv_reftype(SvRV(sv), 0));
        s = uvx_bytes(aTHX_ sv, &len, prefix, "body", NULL);
        if ((rc = uvh_request_set_body(r, s, len)))
          uvx_croak_request(aTHX_ prefix, r, rc);
      }
    } else if (chunked && (rc = uvh_request_set_body_stream(r, NULL))) {
      /* chunked with no body: pushed with send_chunk and send_final_chunk */
      uvx_croak_request(aTHX_ prefix, r, rc);
    }
    if (chunked && (rc = uvh_request_set_chunked(r, 1)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if ((sv = uvx_field(aTHX_ f[UVX_F_EXPECT_TIMEOUT])) &&
      (rc = uvh_request_set_expect_timeout(r, uvx_seconds(aTHX_ prefix, sv, "expect_timeout"))))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_CONTINUE_CALLBACK]))) {
    if (!(SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVCV))
      UVX_CROAK("%s: 'continue_callback' must be a CODE reference", prefix);
    uvh_request_set_continue_cb(r, uvx_on_continue);
  }
  /* every setter's error reaches the caller: a value the core refuses
   * must never leave the default in place silently */
  if ((sv = uvx_field(aTHX_ f[UVX_F_TIMEOUT])) && (rc = uvh_request_set_timeout(r, uvx_seconds(aTHX_ prefix, sv, "timeout"))))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_CONNECT_TIMEOUT])) &&
      (rc = uvh_request_set_connect_timeout(r, uvx_seconds(aTHX_ prefix, sv, "connect_timeout"))))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_READ_TIMEOUT])) &&
      (rc = uvh_request_set_read_timeout(r, uvx_seconds(aTHX_ prefix, sv, "read_timeout"))))
    uvx_croak_request(aTHX_ prefix, r, rc);
  {
    SV *mh = uvx_field(aTHX_ f[UVX_F_MAX_HEADERS_SIZE]), *mb = uvx_field(aTHX_ f[UVX_F_MAX_BODY_SIZE]);
    if ((rc = uvh_request_set_limits(r, mh ? uvx_size(aTHX_ prefix, mh, "max_headers_size") : UVH_LIMIT_INHERIT,
                                     mb ? uvx_size(aTHX_ prefix, mb, "max_body_size") : UVH_LIMIT_INHERIT)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  {
    SV *retry = uvx_field(aTHX_ f[UVX_F_RETRY]), *idem = uvx_field(aTHX_ f[UVX_F_IDEMPOTENT]);
    if ((rc = uvh_request_set_retry(r, retry ? SvTRUE(retry) : 1, idem ? SvTRUE(idem) : 0)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if ((sv = uvx_field(aTHX_ f[UVX_F_DECOMPRESS])) && (rc = uvh_request_set_decompress(r, SvTRUE(sv) ? 1 : 0)))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_MAX_HEADER_COUNT])) &&
      (rc = uvh_request_set_max_header_count(r, uvx_count(aTHX_ prefix, sv, "max_header_count"))))
    uvx_croak_request(aTHX_ prefix, r, rc);
  if ((sv = uvx_field(aTHX_ f[UVX_F_TLS]))) {
    uvh_tls_config_t tls;
    uvx_tls_config(aTHX_ sv, &tls, prefix);
    if ((rc = uvh_request_set_tls(r, &tls)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if (f[UVX_F_FAMILY] || f[UVX_F_TCP_NODELAY] || f[UVX_F_TCP_KEEPALIVE] || f[UVX_F_SO_LINGER] ||
      f[UVX_F_SOCKET_BUFFER_SIZE] || f[UVX_F_LOCAL_ADDRESS]) {
    uvh_socket_config_t sock;
    uvx_socket_config(aTHX_ prefix, f + UVX_F_FAMILY, &sock);
    if ((rc = uvh_request_set_socket(r, &sock)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if (f[UVX_F_PROXY]) {
    /* present: undef or '' goes direct, whatever the pool's default */
    sv = uvx_plain(aTHX_ f[UVX_F_PROXY]);
    if (!SvOK(sv)) {
      s = "";
      len = 0;
    } else if (SvROK(sv)) {
      UVX_CROAK("%s: 'proxy' must be a proxy URL string (or undef or '' to go direct), not a reference", prefix);
    } else {
      s = uvx_bytes(aTHX_ sv, &len, prefix, "proxy", NULL);
    }
    if ((rc = uvh_request_set_proxy(r, s, len)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  if ((sv = uvx_field(aTHX_ f[UVX_F_RESPONSE_CALLBACK])) && !(SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVCV))
    UVX_CROAK("%s: 'response_callback' must be a CODE reference", prefix);
  if ((sv = uvx_field(aTHX_ f[UVX_F_PARTIAL_CALLBACK]))) {
    if (!(SvROK(sv) && SvTYPE(SvRV(sv)) == SVt_PVCV))
      UVX_CROAK("%s: 'partial_callback' must be a CODE reference", prefix);
    if ((rc = uvh_request_set_partial(r, uvx_on_partial)))
      uvx_croak_request(aTHX_ prefix, r, rc);
  }
  uvx_check_redirect_fields(aTHX_ f, prefix);
  if ((rc = uvh_request_check(r)))
    uvx_croak_request(aTHX_ prefix, r, rc);
  uvh_request_set_callback(r, cb, hv);
  uvh_request_ref(r); /* the caller's; the guard drops the other */
  return r;
}

/* Build and submit the core request of `hv` from its field values `f`,
 * its callback `cb` (uvx_on_response, or uvx_on_hop for the redirect
 * step), and hang it on the hash. Returns the Client that runs it when
 * `want_client` (else undef), or croaks with `prefix`. */
static SV *uvx_pool_submit(pTHX_ uvx_pool_t *pool, HV *hv, SV *f[UVX_NFIELDS], uvh_request_cb cb, int want_client,
                           const char *prefix) {
  dMY_CXT;
  MAGIC *mg;
  uvh_request_t *r;
  uvh_conn_t *conn = NULL;
  SV *ret, *uri;
  int rc;
  r = uvx_build_request(aTHX_ f, hv, cb, prefix);
  /* the streamed body's source, where uvx_on_pull finds it (a form's is
   * not the request's own `body`) */
  if (f[UVX_F_BODY] && UVX_IS_BODY_SOURCE(f[UVX_F_BODY]))
    (void)hv_stores(hv, "_uvent_body", newSVsv(f[UVX_F_BODY]));
  /* that Perl code may have submitted this very request object */
  mg = uvx_request_magic(aTHX_ (SV *)hv);
  if (mg && mg->mg_ptr && uvh_request_active((uvh_request_t *)mg->mg_ptr)) {
    uvh_request_unref(r);
    UVX_CROAK("%s: this request is already in progress", prefix);
  }
  /* the request object stays alive until its callback has run */
  SvREFCNT_inc_simple_void_NN((SV *)hv);
  rc = uvh_pool_submit(pool->core, r, &conn);
  if (rc) {
    SV *msg = sv_2mortal(newSVpvf("%s: %s", prefix,
                                  *uvh_request_last_error(r) ? uvh_request_last_error(r) : uvh_strerror(rc)));
    SvREFCNT_dec((SV *)hv);
    uvh_request_unref(r);
    uvx_croak_sv(aTHX_ msg);
  }
  /* the uri goes to the response (uvx_request_uri): the value itself, or
   * a copy of a magical one's value as fetched (not fetched again) */
  uri = f[UVX_F_URI];
  if (SvGMAGICAL(uri)) {
    SV *copy = sv_newmortal();
    sv_setsv_flags(copy, uri, SV_NOSTEAL);
    uri = copy;
  }
  if (mg) {
    if (mg->mg_ptr)
      uvh_request_unref((uvh_request_t *)mg->mg_ptr);
    mg->mg_ptr = (char *)r;
    if (mg->mg_obj != uri) {
      SV *old = mg->mg_obj;
      mg->mg_obj = SvREFCNT_inc_simple_NN(uri);
      mg->mg_flags |= MGf_REFCOUNTED;
      if (old)
        SvREFCNT_dec(old);
    }
  } else {
    sv_magicext((SV *)hv, uri, PERL_MAGIC_ext, &uvx_request_vtbl, (const char *)r, 0);
  }
  /* no Client object nobody can see (its DESTROY is a method call) */
  if (conn && want_client) {
    uvh_conn_ref(conn);
    ret = uvx_wrap(aTHX_ conn, MY_CXT.stash_client);
  } else {
    ret = &PL_sv_undef;
  }
  uvx_wake(aTHX);
  uvx_rethrow(aTHX);
  return ret;
}

/* The error a request is cancelled with: a code name (Uvent::Error::TIMEOUT
 * is 'timeout') or a Uvent::Error, whose code is used and whose message
 * becomes the detail. Croaks for anything else. `error` has had its get
 * magic run. */
static int uvx_cancel_code(pTHX_ SV *error, SV **detail) {
  const char *prefix = "Uvent::HTTP::Request->cancel";
  SV *name = error, *message = NULL;
  int code, v;
  if (SvROK(error)) {
    HV *hv = (HV *)SvRV(error);
    SV **svp;
    if (!sv_derived_from(error, "Uvent::Error") || SvTYPE((SV *)hv) != SVt_PVHV)
      UVX_CROAK("%s: the error must be an error code name (such as Uvent::Error::TIMEOUT) or a Uvent::Error", prefix);
    name = (svp = hv_fetchs(hv, "code", 0)) ? *svp : &PL_sv_undef;
    SvGETMAGIC(name);
    if ((svp = hv_fetchs(hv, "message", 0))) {
      SvGETMAGIC(*svp);
      message = SvOK(*svp) ? *svp : NULL;
    }
  }
  code = 0;
  if (SvOK(name) && !SvROK(name)) {
    STRLEN len;
    const char *s = SvPV_nomg(name, len);
    if (strlen(s) == len) /* "timeout\0x" is no code */
      code = uvh_err_by_code(s);
  }
  if (code == 0) {
    SV *known = sv_2mortal(newSVpvs(""));
    for (v = -1; v > -100; v--) /* every code of the table: unknown values name no code */
      if (uvh_err_by_code(uvh_err_code(v)) == v)
        sv_catpvf(known, "%s%s", SvCUR(known) ? ", " : "", uvh_err_code(v));
    UVX_CROAK("%s: unknown error code '%" SVf "' (known: %" SVf ")", prefix, SVfARG(uvx_shown(aTHX_ name)),
              SVfARG(known));
  }
  *detail = sv_2mortal(newSVpvs("cancelled by the application"));
  if (message) {
    STRLEN len;
    const char *m = SvPV_nomg(message, len);
    sv_catpvf(*detail, ": %.*s", (int)len, m);
  }
  return code;
}

#endif
