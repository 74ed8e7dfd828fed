/*
 * ngx_ota_api_report.c: POST /ota/v1/inform and POST /ota/v1/progress, the
 * two device reports.  Both are turned into one event on OTA_STREAM_EVENTS
 * for the worker, which owns versions, task states and statistics; the
 * module only checks the report and that the module exists.
 *
 * Accepted shapes (docs/device-protocol.md, the Alibaba/SagooIOT shapes):
 *   flat       {"module","version"}              {"module","step","desc"}
 *   Alibaba    {"id","params":{"version","module"}}
 *              {"id","params":{"step","desc","module"}}
 * "module" omitted means "default"; "id" (string or integer) is echoed.
 * The body is checked by ota_request_inform/_progress (include/, plain C,
 * unit tested and fuzzed); what the event needs is copied into the pool.
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_request.h"


typedef enum {
    NGX_OTA_REPORT_INFORM = 0,
    NGX_OTA_REPORT_PROGRESS
} ngx_ota_report_kind_e;


typedef struct {
    ngx_ota_report_kind_e   kind;
    ngx_str_t               device;
    ngx_str_t               product;
    ngx_str_t               module;
    ngx_str_t               version;        /* inform */
    ngx_int_t               step;           /* progress */
    ngx_str_t               desc;           /* progress */
    ngx_str_t               id;             /* echoed when has_id */
    json_int_t              id_int;
    unsigned                has_id:1;
    unsigned                id_is_int:1;
    unsigned                checking:1;     /* HEXISTS module in flight */
} ngx_ota_report_t;


static ngx_int_t ngx_ota_report_start(ngx_http_request_t *r,
    ngx_ota_report_kind_e kind);
static void ngx_ota_report_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_report_flat(ngx_http_request_t *r,
    const ota_jflat_t *body);
static void ngx_ota_report_checked(ngx_http_request_t *r,
    ngx_ota_report_t *rep);
static void ngx_ota_report_views(ngx_ota_report_t *rep,
    ota_report_req_t *req);
static ngx_int_t ngx_ota_report_keep(ngx_http_request_t *r,
    ngx_ota_report_t *rep, ota_report_req_t *req);
static void ngx_ota_report_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_ota_report_event(ngx_ota_redis_call_t *call,
    ngx_ota_report_t *rep);
static void ngx_ota_report_done(ngx_http_request_t *r,
    ngx_ota_report_t *rep);


ngx_int_t
ngx_ota_api_inform(ngx_http_request_t *r)
{
    return ngx_ota_report_start(r, NGX_OTA_REPORT_INFORM);
}


ngx_int_t
ngx_ota_api_progress(ngx_http_request_t *r)
{
    return ngx_ota_report_start(r, NGX_OTA_REPORT_PROGRESS);
}


static ngx_int_t
ngx_ota_report_start(ngx_http_request_t *r, ngx_ota_report_kind_e kind)
{
    const char        *why;
    ngx_ota_ctx_t     *ctx;
    ngx_ota_report_t  *rep;

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rep = ngx_pcalloc(r->pool, sizeof(ngx_ota_report_t));
    if (rep == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rep->kind = kind;
    ctx->api = rep;

    /* the token first: an unauthenticated body is never parsed */
    if (ngx_ota_bearer(r, &rep->device, &rep->product, &why) != NGX_OK) {
        return ngx_ota_api_unauthorized(r, why);
    }

    return ngx_ota_read_flat_body(r, ngx_ota_report_flat,
                                  ngx_ota_report_body);
}


/* the usual body, read flat (ngx_ota_read_flat_body): no tree, and no
 * copies: the views are in the request's pool (the body, its scratch) or
 * static ("default", "") */
static void
ngx_ota_report_flat(ngx_http_request_t *r, const ota_jflat_t *body)
{
    const char        *err;
    ota_report_req_t   req;
    ngx_ota_ctx_t     *ctx;
    ngx_ota_report_t  *rep;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    rep = ctx->api;

    err = (rep->kind == NGX_OTA_REPORT_INFORM)
          ? ota_request_inform_flat(body, &req)
          : ota_request_progress_flat(body, &req);

    if (err != NULL) {
        ngx_ota_api_finish(r, NGX_HTTP_BAD_REQUEST, err);
        return;
    }

    ngx_ota_report_views(rep, &req);
    ngx_ota_report_checked(r, rep);
}


static void
ngx_ota_report_views(ngx_ota_report_t *rep, ota_report_req_t *req)
{
    if (req->has_id) {
        rep->has_id = 1;
        rep->id_is_int = req->id_is_int;
        rep->id_int = req->id_int;
        rep->id.data = (u_char *) req->id.data;
        rep->id.len = req->id.len;
    }

    rep->module.data = (u_char *) req->module.data;
    rep->module.len = req->module.len;
    rep->version.data = (u_char *) req->version.data;
    rep->version.len = req->version.len;
    rep->step = req->step;
    rep->desc.data = (u_char *) req->desc.data;
    rep->desc.len = req->desc.len;
}


static void
ngx_ota_report_body(ngx_http_request_t *r, json_t *body)
{
    ngx_int_t          rc;
    const char        *err;
    ota_report_req_t   req;
    ngx_ota_ctx_t     *ctx;
    ngx_ota_report_t  *rep;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    rep = ctx->api;

    err = (rep->kind == NGX_OTA_REPORT_INFORM)
          ? ota_request_inform(body, &req) : ota_request_progress(body, &req);

    if (err != NULL) {
        json_decref(body);
        ngx_ota_api_finish(r, NGX_HTTP_BAD_REQUEST, err);
        return;
    }

    rc = ngx_ota_report_keep(r, rep, &req);
    json_decref(body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_ota_report_checked(r, rep);
}


/* a report of the right shape, its fields in rep: the module, the event */
static void
ngx_ota_report_checked(ngx_http_request_t *r, ngx_ota_report_t *rep)
{
    size_t                 argvlen[3];
    ngx_int_t              rc;
    ngx_str_t              key;
    const char            *argv[3];
    ngx_ota_redis_call_t  *call;

    call = ngx_ota_redis_call(r, ngx_ota_report_reply, rep);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* "default" exists in every product: no need to ask */
    if (rep->module.len == 7
        && ngx_strncmp(rep->module.data, "default", 7) == 0)
    {
        rc = ngx_ota_report_event(call, rep);

    } else {
        if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_MODULES,
                        &rep->product, NULL, NULL)
            == NULL)
        {
            ngx_ota_redis_call_abort(call);
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* argv, not a format: no format parsing, no sds per argument
         * (speed) */
        argv[0] = "HEXISTS";
        argvlen[0] = sizeof("HEXISTS") - 1;
        argv[1] = (const char *) key.data;
        argvlen[1] = key.len;
        argv[2] = (const char *) rep->module.data;
        argvlen[2] = rep->module.len;

        rep->checking = 1;
        rc = ngx_ota_redis_argv(call, 3, argv, argvlen);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_api_send_failed(r, rc);
    }
}


/* the views die with the body: copies for the event and the answer */
static ngx_int_t
ngx_ota_report_keep(ngx_http_request_t *r, ngx_ota_report_t *rep,
    ota_report_req_t *req)
{
    if (req->has_id) {
        rep->has_id = 1;

        if (req->id_is_int) {
            rep->id_is_int = 1;
            rep->id_int = req->id_int;

        } else if (ngx_ota_view_copy(r->pool, &req->id, &rep->id) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_ota_view_copy(r->pool, &req->module, &rep->module) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rep->kind == NGX_OTA_REPORT_INFORM) {
        return ngx_ota_view_copy(r->pool, &req->version, &rep->version);
    }

    /* a number: "-02" and -2 make the same event */
    rep->step = req->step;

    return ngx_ota_view_copy(r->pool, &req->desc, &rep->desc);
}


static ngx_int_t
ngx_ota_report_event(ngx_ota_redis_call_t *call, ngx_ota_report_t *rep)
{
    ota_event_fields_t  f;

    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.device = ngx_ota_event_str(&rep->device);
    f.product = ngx_ota_event_str(&rep->product);
    f.module = ngx_ota_event_str(&rep->module);

    if (rep->kind == NGX_OTA_REPORT_INFORM) {
        f.type = OTA_EV_INFORM;
        f.version = ngx_ota_event_str(&rep->version);

    } else {
        f.type = OTA_EV_PROGRESS;
        f.step = (int) rep->step;
        f.desc = ngx_ota_event_str(&rep->desc);
    }

    return ngx_ota_api_event(call, &f);
}


static void
ngx_ota_report_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t            rc;
    ngx_ota_report_t    *rep = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply,
                                rep->kind == NGX_OTA_REPORT_INFORM
                                ? "inform" : "progress");
        return;
    }

    if (rep->checking) {
        rep->checking = 0;

        if (reply->type != REDIS_REPLY_INTEGER) {
            ngx_ota_api_redis_error(r, reply, "module check");
            return;
        }

        if (reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "unknown module for this product");
            return;
        }

        rc = ngx_ota_report_event(call, rep);
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_ota_api_redis_error(r, reply, "event");
        return;
    }

    ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);

    ngx_ota_report_done(r, rep);
}


static void
ngx_ota_report_done(ngx_http_request_t *r, ngx_ota_report_t *rep)
{
    u_char  *p, *last;
    size_t   len;

    /* the answer of every report: text, no JSON tree on the hot path
     * (speed); a string id is quoted as json_dumps quotes it
     * (ota_jflat_quote, t/unit/test_jflat.c compares them) */
    len = sizeof("{\"code\":200,\"message\":\"ok\",\"id\":}") - 1;

    if (rep->has_id) {
        len += rep->id_is_int ? NGX_INT64_LEN
                              : ota_jflat_quoted_len((char *) rep->id.data,
                                                     rep->id.len);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!rep->has_id) {
        last = ngx_cpymem(p, "{\"code\":200,\"message\":\"ok\"}",
                          sizeof("{\"code\":200,\"message\":\"ok\"}") - 1);

    } else {
        last = ngx_cpymem(p, "{\"code\":200,\"message\":\"ok\",\"id\":",
                          sizeof("{\"code\":200,\"message\":\"ok\",\"id\":")
                          - 1);
        last = rep->id_is_int
               ? ngx_sprintf(last, "%L", (int64_t) rep->id_int)
               : (u_char *) ota_jflat_quote((char *) last,
                                            (char *) rep->id.data,
                                            rep->id.len);
        *last++ = '}';
    }

    ngx_http_finalize_request(r, ngx_ota_send_json_text(r, NGX_HTTP_OK, p,
                                                        last - p));
}
