/*
 * ngx_ota_admin_audit.c: the admin API's audit trail (ngx_ota_admin_audit.h)
 * and GET <admin>/audit?limit=N (newest first, 1..1000, default 100).
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ota_audit.h"
#include "ota_keys.h"


#define NGX_OTA_AUDIT_PAGE_DEFAULT  100
#define NGX_OTA_AUDIT_PAGE_MAX      1000


static void ngx_ota_admin_audit_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


static ota_audit_str_t
ngx_ota_audit_str(ngx_str_t *s)
{
    ota_audit_str_t  v;

    v.data = s ? (const char *) s->data : "";
    v.len = s ? s->len : 0;

    return v;
}


/* the entry of f's fields as an XADD vector into a */
static void
ngx_ota_audit_fields(ngx_http_request_t *r, ota_audit_t *a,
    const char *action, ngx_str_t *object, ngx_uint_t status,
    const char *result)
{
    ngx_ota_ctx_t       *ctx;
    ota_audit_fields_t   f;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    ngx_memzero(&f, sizeof(ota_audit_fields_t));

    f.time = ngx_ota_now_ms();
    f.action = action;
    f.object = ngx_ota_audit_str(object);
    f.status = (int) status;
    f.result = ota_audit_cstr(result ? result : "ok");
    f.remote = ngx_ota_audit_str(&r->connection->addr_text);

    if (ctx != NULL && ctx->admin != NULL) {
        f.token = ngx_ota_audit_str(&ctx->admin->name);
        f.role = ota_audit_cstr(ngx_ota_role_name(ctx->admin->role));
    }

    ota_audit_encode(a, &f);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: audit %s \"%V\" %ui", action,
                   object ? object : &r->uri, status);
}


void
ngx_ota_admin_audit(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *result)
{
    ota_audit_t  a;

    ngx_ota_audit_fields(r, &a, action, object, status, result);

    /* hiredis copies the vector into its output buffer at once */
    if (ngx_ota_redis_argv_detached(NULL, NULL, a.argc, a.argv, a.argvlen)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: admin: audit entry of %s (%ui) not written: "
                      "redis unavailable", action, status);
    }
}


/* an answer held until its audit entry is stored */
typedef struct {
    ngx_ota_api_answer_t  *answer;      /* NULL: the error message */
    ngx_uint_t             status;
    u_char                *msg;
} ngx_ota_audit_wait_t;


static void
ngx_ota_audit_sent(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_audit_wait_t  *w = call->data;
    ngx_http_request_t    *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    /* the answer goes out whatever became of its entry */
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: admin: audit entry of a %ui answer not written",
                      w->status);
    }

    if (w->answer != NULL) {
        ngx_ota_api_send_json(w->answer, w->status);
        return;
    }

    ngx_ota_api_finish(r, w->status, (const char *) w->msg);
}


/* queues the entry and the answer after it: NGX_OK, or NGX_ERROR when
 * the entry could not be queued (the caller answers at once) */
static ngx_int_t
ngx_ota_audit_then(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *msg,
    ngx_ota_api_answer_t *answer)
{
    size_t                 len;
    ota_audit_t            a;
    ngx_ota_audit_wait_t  *w;
    ngx_ota_redis_call_t  *call;

    w = ngx_pcalloc(r->pool, sizeof(ngx_ota_audit_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->answer = answer;
    w->status = status;

    if (msg != NULL) {
        len = ngx_strlen(msg);
        w->msg = ngx_pnalloc(r->pool, len + 1);
        if (w->msg == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(w->msg, msg, len + 1);
    }

    ngx_ota_audit_fields(r, &a, action, object, status, msg);

    call = ngx_ota_redis_call(r, ngx_ota_audit_sent, w);
    if (call == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ota_redis_argv(call, a.argc, a.argv, a.argvlen) != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: admin: audit entry of %s (%ui) not written: "
                      "redis unavailable", action, status);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_ota_admin_refuse(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *msg)
{
    if (ngx_ota_audit_then(r, action, object, status, msg, NULL) != NGX_OK) {
        return ngx_ota_send_error(r, status, msg);
    }

    r->main->count++;

    return NGX_DONE;
}


void
ngx_ota_admin_refused(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *msg)
{
    if (ngx_ota_audit_then(r, action, object, status, msg, NULL) != NGX_OK) {
        ngx_ota_api_finish(r, status, msg);
    }
}


void
ngx_ota_admin_done(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, ngx_ota_api_answer_t *answer)
{
    if (ngx_ota_audit_then(r, action, object, status, NULL, answer)
        != NGX_OK)
    {
        ngx_ota_api_send_json(answer, status);
    }
}


void
ngx_ota_admin_send_failed(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_int_t rc)
{
    ngx_ota_admin_audit(r, action, object,
                        rc == NGX_DECLINED ? NGX_HTTP_SERVICE_UNAVAILABLE
                                           : NGX_HTTP_INTERNAL_SERVER_ERROR,
                        "storage error");
    ngx_ota_api_send_failed(r, rc);
}


ngx_int_t
ngx_ota_admin_send_argv(ngx_http_request_t *r,
    ngx_ota_redis_handler_pt handler, void *data, const char *action,
    ngx_str_t *object, int argc, const char **argv, size_t *argvlen)
{
    ngx_int_t              rc;
    ngx_ota_redis_call_t  *call;

    call = ngx_ota_redis_call(r, handler, data);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    rc = ngx_ota_redis_argv(call, argc, argv, argvlen);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_send_failed(r, action, object, rc);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: %s \"%V\" sent", action, object);

    return NGX_OK;
}


void
ngx_ota_admin_redis_error(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, redisReply *reply)
{
    ngx_ota_admin_audit(r, action, object,
                        reply == NULL ? NGX_HTTP_SERVICE_UNAVAILABLE
                                      : NGX_HTTP_INTERNAL_SERVER_ERROR,
                        "storage error");
    ngx_ota_api_redis_error(r, reply, action);
}


ngx_int_t
ngx_ota_admin_body_refused(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    /* the body reader goes on with the request as it is (the rest of a
     * body too large is not read): the entry is not waited for */
    ngx_ota_admin_audit(r, ctx->admin_action, NULL, status, msg);

    return ngx_ota_send_error(r, status, msg);
}


/* ---- GET audit ---------------------------------------------------------- */

ngx_int_t
ngx_ota_admin_audit_read(ngx_http_request_t *r)
{
    ngx_int_t              rc, limit;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_admin_arg_int(r, "limit", NGX_OTA_AUDIT_PAGE_DEFAULT,
                              NGX_OTA_AUDIT_PAGE_MAX, &limit)
        != NGX_OK || limit == 0)
    {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "invalid \"limit\" (1..1000)");
    }

    a->list = json_array();
    if (a->list == NULL || json_object_set_new(a->obj, "entries", a->list)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_audit_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "XREVRANGE %s + - COUNT %i",
                           OTA_STREAM_AUDIT, limit);

    return ngx_ota_admin_wait(r, call, rc);
}


/* each entry: {"id", then its fields; "time" and "status" as numbers} */
static void
ngx_ota_admin_audit_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               i, k;
    json_t              *item, *v;
    redisReply          *e, *f, *name, *val;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_ota_api_redis_error(r, reply, "admin audit");
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        item = json_object();
        if (item == NULL || json_array_append_new(a->list, item) != 0
            || json_object_set_new(item, "id",
                                   json_stringn(e->element[0]->str,
                                                e->element[0]->len)))
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        f = e->element[1];

        for (k = 0; k + 1 < f->elements; k += 2) {
            name = f->element[k];
            val = f->element[k + 1];

            if (name->type != REDIS_REPLY_STRING
                || val->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            if ((name->len == 4 && ngx_strncmp(name->str, "time", 4) == 0)
                || (name->len == 6
                    && ngx_strncmp(name->str, "status", 6) == 0))
            {
                v = json_integer(ngx_atoof((u_char *) val->str, val->len));

            } else {
                /* a refusal may quote what a client sent, not always
                 * valid UTF-8: such a value is shown as "?" */
                v = json_stringn(val->str, val->len);
                if (v == NULL) {
                    v = json_string("?");
                }
            }

            if (v == NULL
                || json_object_setn_new(item, name->str, name->len, v) != 0)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }
    }

    ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
}
