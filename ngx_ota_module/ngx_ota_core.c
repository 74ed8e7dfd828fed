/*
 * ngx_ota_core.c: what every file of the module uses (ngx_ota_core.h).
 */

#include "ngx_ota_core.h"

#include "ota_request.h"


/* the stand-in connection of the module's process-level events */
static ngx_connection_t  ngx_ota_event_owner;


ngx_ota_ctx_t *
ngx_ota_get_ctx(ngx_http_request_t *r)
{
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_ota_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }
        ngx_http_set_ctx(r, ctx, ngx_ota_module);
    }

    return ctx;
}


void
ngx_ota_event_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log)
{
    ngx_memzero(ev, sizeof(ngx_event_t));

    ngx_ota_event_owner.fd = (ngx_socket_t) -1;

    ev->handler = handler;
    ev->data = &ngx_ota_event_owner;
    ev->log = log;
    ev->cancelable = 1;             /* never holds up a graceful exit */
}


/* the length of the key, -1 when the arguments do not match the "%s";
 * args[] gets a, b, c for ngx_ota_key_write() */
static ssize_t
ngx_ota_key_size(const char *fmt, ngx_str_t **args, ngx_str_t *a,
    ngx_str_t *b, ngx_str_t *c)
{
    size_t       len;
    ngx_uint_t   n;
    const char  *f;

    args[0] = a;
    args[1] = b;
    args[2] = c;

    len = 0;
    n = 0;

    for (f = fmt; *f; f++) {
        if (f[0] == '%' && f[1] == 's') {
            if (n == 3 || args[n] == NULL) {
                return -1;
            }
            len += args[n++]->len;
            f++;
            continue;
        }
        len++;
    }

    if (n < 3 && args[n] != NULL) {
        return -1;                       /* more arguments than "%s" */
    }

    return len;
}


/* writes the key at p with its NUL (ngx_ota_key_size() checked it) */
static void
ngx_ota_key_write(u_char *p, const char *fmt, ngx_str_t **args)
{
    ngx_str_t    *arg;
    ngx_uint_t    n;
    const char   *f;

    n = 0;
    for (f = fmt; *f; f++) {
        if (f[0] == '%' && f[1] == 's') {
            arg = args[n++];
            p = ngx_cpymem(p, arg->data, arg->len);
            f++;
            continue;
        }
        *p++ = (u_char) *f;
    }

    *p = '\0';
}


u_char *
ngx_ota_key(ngx_pool_t *pool, ngx_str_t *key, const char *fmt, ngx_str_t *a,
    ngx_str_t *b, ngx_str_t *c)
{
    u_char      *p;
    ssize_t      len;
    ngx_str_t   *args[3];

    len = ngx_ota_key_size(fmt, args, a, b, c);
    if (len < 0) {
        return NULL;
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_ota_key_write(p, fmt, args);

    key->data = p;
    key->len = len;

    return key->data;
}


size_t
ngx_ota_key_buf(u_char *buf, size_t size, const char *fmt, ngx_str_t *a,
    ngx_str_t *b, ngx_str_t *c)
{
    ssize_t      len;
    ngx_str_t   *args[3];

    len = ngx_ota_key_size(fmt, args, a, b, c);
    if (len < 0 || (size_t) len >= size) {
        return 0;
    }

    ngx_ota_key_write(buf, fmt, args);

    return len;
}


ngx_int_t
ngx_ota_hash_get(redisReply *reply, const char *field, ngx_str_t *value)
{
    size_t       len;
    size_t       i;
    redisReply  *k, *v;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return NGX_DECLINED;
    }

    len = ngx_strlen(field);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type == REDIS_REPLY_STRING && (size_t) k->len == len
            && ngx_memcmp(k->str, field, len) == 0
            && v->type == REDIS_REPLY_STRING)
        {
            value->data = (u_char *) v->str;
            value->len = v->len;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_ota_hash_dup(ngx_pool_t *pool, redisReply *reply, const char *field,
    ngx_str_t *value)
{
    ngx_str_t  v;

    if (ngx_ota_hash_get(reply, field, &v) != NGX_OK) {
        ngx_str_set(value, "");
        return NGX_DECLINED;
    }

    value->len = v.len;
    value->data = ngx_ota_pstrdup0(pool, &v);

    return value->data ? NGX_OK : NGX_ERROR;
}


int64_t
ngx_ota_hash_int(redisReply *reply, const char *field, int64_t def)
{
    off_t      n;
    ngx_str_t  v;

    if (ngx_ota_hash_get(reply, field, &v) != NGX_OK || v.len == 0) {
        return def;
    }

    n = ngx_atoof(v.data, v.len);

    return n == NGX_ERROR ? def : (int64_t) n;
}


u_char *
ngx_ota_pstrdup0(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


ngx_int_t
ngx_ota_view_copy(ngx_pool_t *pool, const ota_view_t *v, ngx_str_t *out)
{
    ngx_str_t  s;

    s.data = (u_char *) v->data;
    s.len = v->len;

    out->len = s.len;
    out->data = ngx_ota_pstrdup0(pool, &s);

    return out->data ? NGX_OK : NGX_ERROR;
}


int64_t
ngx_ota_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}
