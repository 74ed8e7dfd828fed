/*
 * ngx_ota_api_report.c: POST /ota/v1/inform and POST /ota/v1/progress, the
 * two device reports.  Both are turned into one event on OTA_STREAM_EVENTS
 * for the worker, which owns versions, task states and statistics; the
 * module only checks the report and that the module exists.
 *
 * Accepted shapes (DESIGN "Compatibility"):
 *   flat       {"module","version"}              {"module","step","desc"}
 *   Alibaba    {"id","params":{"version","module"}}
 *              {"id","params":{"step","desc","module"}}
 * "module" omitted means "default"; "id" (string or integer) is echoed.
 */

#include "ngx_ota_api.h"

#include "ota_names.h"
#include "ota_version.h"


#define NGX_OTA_DESC_MAX   128          /* characters (code points) */
#define NGX_OTA_STEP_MIN   -4
#define NGX_OTA_STEP_MAX   100


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
    ngx_str_t               step;           /* progress, canonical decimal */
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
static const char *ngx_ota_report_parse(ngx_http_request_t *r,
    ngx_ota_report_t *rep, json_t *body);
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

    return ngx_ota_read_json_body(r, ngx_ota_report_body);
}


static void
ngx_ota_report_body(ngx_http_request_t *r, json_t *body)
{
    ngx_int_t              rc;
    ngx_str_t              key;
    const char            *err;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_report_t      *rep;
    ngx_ota_redis_call_t  *call;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    rep = ctx->api;

    err = ngx_ota_report_parse(r, rep, body);
    json_decref(body);

    if (err != NULL) {
        ngx_ota_api_finish(r, NGX_HTTP_BAD_REQUEST, err);
        return;
    }

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

        rep->checking = 1;
        rc = ngx_ota_redis_cmd(call, "HEXISTS %b %b", key.data, key.len,
                               rep->module.data, rep->module.len);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_api_send_failed(r, rc);
    }
}


/* a JSON string member copied into the pool; NULL message when fine */
static const char *
ngx_ota_report_str(ngx_http_request_t *r, json_t *obj, const char *name,
    ngx_str_t *out, const char *missing, const char *wrong)
{
    ngx_str_t  v;

    switch (ngx_ota_json_str(obj, name, &v)) {
    case NGX_DECLINED:
        return missing;
    case NGX_ERROR:
        return wrong;
    default:
        break;
    }

    out->len = v.len;
    out->data = ngx_ota_pstrdup0(r->pool, &v);

    return out->data ? NULL : "out of memory";
}


static const char *
ngx_ota_report_step(ngx_http_request_t *r, ngx_ota_report_t *rep,
    json_t *src)
{
    u_char     *p;
    json_t     *v;
    ngx_str_t   s;
    ngx_int_t   step, sign;

    v = json_object_get(src, "step");

    if (v == NULL || json_is_null(v)) {
        return "\"step\" is missing";
    }

    if (json_is_integer(v)) {
        if (json_integer_value(v) < NGX_OTA_STEP_MIN
            || json_integer_value(v) > NGX_OTA_STEP_MAX)
        {
            return "\"step\" must be between -4 and 100";
        }
        step = (ngx_int_t) json_integer_value(v);

    } else if (json_is_string(v)) {
        s.data = (u_char *) json_string_value(v);
        s.len = json_string_length(v);

        sign = 1;
        if (s.len > 1 && s.data[0] == '-') {
            sign = -1;
            s.data++;
            s.len--;
        }

        step = (s.len > 0 && s.len <= 3) ? ngx_atoi(s.data, s.len)
                                         : NGX_ERROR;
        if (step == NGX_ERROR) {
            return "\"step\" must be an integer or a string of one";
        }

        step *= sign;
        if (step < NGX_OTA_STEP_MIN || step > NGX_OTA_STEP_MAX) {
            return "\"step\" must be between -4 and 100";
        }

    } else {
        return "\"step\" must be an integer or a string of one";
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return "out of memory";
    }

    rep->step.data = p;
    rep->step.len = ngx_sprintf(p, "%i", step) - p;

    return NULL;
}


static const char *
ngx_ota_report_parse(ngx_http_request_t *r, ngx_ota_report_t *rep,
    json_t *body)
{
    size_t         i, chars;
    json_t        *src, *params, *id;
    const char    *err;
    ota_version_t  ver;

    src = body;

    params = json_object_get(body, "params");
    if (params != NULL) {
        if (!json_is_object(params)) {
            return "\"params\" must be an object";
        }
        src = params;
    }

    id = json_object_get(body, "id");
    if (id != NULL && !json_is_null(id)) {
        if (json_is_string(id)) {
            err = ngx_ota_report_str(r, body, "id", &rep->id, NULL, NULL);
            if (err != NULL) {
                return err;
            }

        } else if (json_is_integer(id)) {
            rep->id_int = json_integer_value(id);
            rep->id_is_int = 1;

        } else {
            return "\"id\" must be a string or an integer";
        }

        rep->has_id = 1;
    }

    err = ngx_ota_report_str(r, src, "module", &rep->module, NULL,
                             "\"module\" must be a string");
    if (err != NULL) {
        return err;
    }

    if (rep->module.len == 0 && rep->module.data == NULL) {
        ngx_str_set(&rep->module, "default");
    }

    if (!ota_name_module((char *) rep->module.data, rep->module.len)) {
        return "\"module\" is not a valid module name ([A-Za-z0-9_-]{1,64})";
    }

    if (rep->kind == NGX_OTA_REPORT_INFORM) {
        err = ngx_ota_report_str(r, src, "version", &rep->version,
                                 "\"version\" is missing",
                                 "\"version\" must be a string");
        if (err != NULL) {
            return err;
        }

        if (ota_version_parse((char *) rep->version.data, rep->version.len,
                              &ver)
            != 0)
        {
            return "\"version\" must be X.Y.Z, each part 0..999999";
        }

        return NULL;
    }

    err = ngx_ota_report_step(r, rep, src);
    if (err != NULL) {
        return err;
    }

    err = ngx_ota_report_str(r, src, "desc", &rep->desc, NULL,
                             "\"desc\" must be a string");
    if (err != NULL) {
        return err;
    }

    if (rep->desc.data == NULL) {
        ngx_str_set(&rep->desc, "");
    }

    /* characters, not bytes: jansson has checked the UTF-8 already */
    chars = 0;
    for (i = 0; i < rep->desc.len; i++) {
        if ((rep->desc.data[i] & 0xc0) != 0x80) {
            chars++;
        }
    }

    if (chars > NGX_OTA_DESC_MAX) {
        return "\"desc\" is longer than 128 characters";
    }

    return NULL;
}


static ngx_int_t
ngx_ota_report_event(ngx_ota_redis_call_t *call, ngx_ota_report_t *rep)
{
    ngx_str_t    values[5];
    const char  *names[5];

    names[0] = OTA_F_DEVICE;
    values[0] = rep->device;
    names[1] = OTA_F_PRODUCT;
    values[1] = rep->product;
    names[2] = OTA_F_MODULE;
    values[2] = rep->module;

    if (rep->kind == NGX_OTA_REPORT_INFORM) {
        names[3] = OTA_F_VERSION;
        values[3] = rep->version;

        return ngx_ota_api_event(call, OTA_EV_INFORM, 4, names, values);
    }

    names[3] = OTA_F_STEP;
    values[3] = rep->step;
    names[4] = OTA_F_DESC;
    values[4] = rep->desc;

    return ngx_ota_api_event(call, OTA_EV_PROGRESS, 5, names, values);
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
    json_t  *json, *id;

    json = json_pack("{s:i,s:s}", "code", 200, "message", "ok");

    if (json != NULL && rep->has_id) {
        id = rep->id_is_int ? json_integer(rep->id_int)
                            : json_stringn((char *) rep->id.data,
                                           rep->id.len);
        if (id == NULL || json_object_set_new(json, "id", id) != 0) {
            json_decref(json);
            json = NULL;
        }
    }

    ngx_http_finalize_request(r, ngx_ota_send_json(r, NGX_HTTP_OK, json));
}
