/*
 * ngx_ota_api.c: helpers of the device and admin APIs (ngx_ota_api.h).
 * The endpoints live in ngx_ota_api_auth.c, ngx_ota_api_report.c,
 * ngx_ota_api_upgrade.c and ngx_ota_admin*.c.
 */

#include "ngx_ota_api.h"




static void ngx_ota_api_answer_cleanup(void *data);


u_char *
ngx_ota_key(ngx_pool_t *pool, ngx_str_t *key, const char *fmt, ngx_str_t *a,
    ngx_str_t *b, ngx_str_t *c)
{
    u_char       *p;
    size_t        len;
    ngx_str_t    *args[3], *arg;
    ngx_uint_t    n;
    const char   *f;

    args[0] = a;
    args[1] = b;
    args[2] = c;

    len = 0;
    n = 0;

    for (f = fmt; *f; f++) {
        if (f[0] == '%' && f[1] == 's') {
            if (n == 3 || args[n] == NULL) {
                return NULL;
            }
            len += args[n++]->len;
            f++;
            continue;
        }
        len++;
    }

    if (n < 3 && args[n] != NULL) {
        return NULL;                     /* more arguments than "%s" */
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    key->data = p;
    key->len = len;

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

    return key->data;
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


ngx_int_t
ngx_ota_json_str(json_t *obj, const char *key, ngx_str_t *value)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return NGX_DECLINED;
    }

    if (!json_is_string(v)) {
        return NGX_ERROR;
    }

    value->data = (u_char *) json_string_value(v);
    value->len = json_string_length(v);

    return NGX_OK;
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


void
ngx_ota_api_finish(ngx_http_request_t *r, ngx_uint_t status, const char *msg)
{
    ngx_http_finalize_request(r, ngx_ota_send_error(r, status, msg));
}


void
ngx_ota_api_redis_error(ngx_http_request_t *r, redisReply *reply,
    const char *what)
{
    if (reply == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: %s: redis unavailable", what);
        ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "storage unavailable, retry later");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: %s: redis error: %*s", what,
                      (size_t) reply->len, reply->str);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: %s: unexpected redis reply type %d", what,
                      reply->type);
    }

    ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                       "storage error");
}


void
ngx_ota_api_send_failed(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_DECLINED) {
        ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "storage unavailable, retry later");
        return;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ota: could not queue a redis command");
    ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "internal error");
}


ngx_uint_t
ngx_ota_api_answered(ngx_ota_redis_call_t *call)
{
    /*
     * Every answer of these APIs is sent in one go after the last reply it
     * needs, so a sent header means the request is finished; it may still
     * be alive while nginx flushes the answer.
     */
    if (call->request->header_sent) {
        ngx_ota_redis_call_abort(call);
        return 1;
    }

    return 0;
}


static void
ngx_ota_api_answer_cleanup(void *data)
{
    ngx_ota_api_answer_t  *answer = data;

    if (answer->json != NULL) {
        json_decref(answer->json);
        answer->json = NULL;
    }
}


ngx_ota_api_answer_t *
ngx_ota_api_answer(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_ota_api_answer_t  *answer;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_ota_api_answer_t));
    if (cln == NULL) {
        return NULL;
    }

    answer = cln->data;
    answer->request = r;
    answer->json = NULL;

    cln->handler = ngx_ota_api_answer_cleanup;

    return answer;
}


void
ngx_ota_api_send_json(ngx_ota_api_answer_t *answer, ngx_uint_t status)
{
    char                *s;
    ngx_int_t            rc;
    ngx_str_t            type = ngx_string("application/json");
    ngx_http_request_t  *r;

    r = answer->request;

    if (answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* 6 significant digits: rates read 0.333333, not 0.33333333333333331 */
    s = json_dumps(answer->json, JSON_COMPACT | JSON_REAL_PRECISION(6));

    json_decref(answer->json);
    answer->json = NULL;

    if (s == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_send_text(r, status, &type, (u_char *) s, ngx_strlen(s));
    free(s);

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_ota_api_unauthorized(ngx_http_request_t *r, const char *why)
{
    ngx_ota_metric_add(NGX_OTA_M_AUTH_FAILURES, 1);

    return ngx_ota_send_error(r, NGX_HTTP_UNAUTHORIZED, why);
}


ngx_int_t
ngx_ota_api_event(ngx_ota_redis_call_t *call, ota_event_fields_t *f)
{
    ota_event_t  e;

    if (f->ts == 0) {
        f->ts = (int64_t) ngx_ota_now_ms();
    }

    if (ota_event_encode(&e, f) != 0) {
        ngx_log_error(NGX_LOG_ALERT, call->request->connection->log, 0,
                      "ota: a %s event misses a field", f->type);
        return NGX_ERROR;
    }

    return ngx_ota_redis_argv(call, e.argc, e.argv, e.argvlen);
}
