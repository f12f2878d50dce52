MODULE = Uvent    PACKAGE = Uvent::HTTP::Client

SV *
pool(uvh_conn_t *conn)
  ALIAS:
    loop = 1
  CODE:
    uvx_pool_t *pool = (uvx_pool_t *)uvh_pool_get_data(uvh_conn_pool(conn));
    if (pool == NULL)
      RETVAL = &PL_sv_undef;
    else if (ix == 0)
      RETVAL = newRV_inc(pool->self);
    else
      RETVAL = pool->loop ? newRV_inc(pool->loop->self) : &PL_sv_undef;
  OUTPUT:
    RETVAL

const char *
destination(uvh_conn_t *conn)
  CODE:
    RETVAL = uvh_conn_destination(conn);
  OUTPUT:
    RETVAL

bool
busy(uvh_conn_t *conn)
  ALIAS:
    is_open = 1
  CODE:
    RETVAL = ix ? uvh_conn_open(conn) != 0 : uvh_conn_busy(conn) != 0;
  OUTPUT:
    RETVAL

unsigned
requests_served(uvh_conn_t *conn)
  CODE:
    RETVAL = uvh_conn_requests_served(conn);
  OUTPUT:
    RETVAL

void
DESTROY(SV *self)
  CODE:
    uvh_conn_t *conn = INT2PTR(uvh_conn_t *, SvIV(SvRV(self)));
    if (conn) {
      sv_setiv(SvRV(self), 0);
      if (PL_phase != PERL_PHASE_DESTRUCT)
        uvh_conn_unref(conn);
    }
