/*
 * ngx_ota_api_upgrade.c: GET /ota/v1/upgrade?module=<m> (Bearer token).
 *
 * The device's open task for the module, 204 when there is none, 404 for a
 * module the product does not have.  Four steps, each one round trip (the
 * keys live in different hash slots, so no single script):
 *
 *   0  HEXISTS  prod:{p}:modules <module>  (not for "default", pipelined)
 *      HGET     dev:{d}:open <module>                 -> batch id
 *   1  HGET     batch:{b}:state <device>   HGET batch:{b}:from <device>
 *      HGETALL  batch:{b}                            (pipelined)
 *   2  HGETALL  pkg:{p}
 *   3  XADD     events notified   (only while the task is still pending)
 *
 * Tasks are stored by column per batch (ota_keys.h): a device without a
 * state is pending, and the package is the batch's.
 *
 * The answer carries the design's fields and the Alibaba/SagooIOT names
 * (signMethod, md5, isDiff, extData) and signed links bound to the device,
 * the package and an expiry, which any node verifies without Redis.
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
#include "ota_names.h"
#include "ota_stats.h"
#include "ota_task.h"
#include "ota_token.h"


typedef struct {
    ngx_ota_api_answer_t  *answer;
    ngx_pool_t            *pool;
    ngx_str_t              device;
    ngx_str_t              product;
    ngx_str_t              module;
    ngx_str_t              batch;
    ngx_str_t              package;
    ngx_str_t              task_from;
    ngx_str_t              url_base;     /* ".../packages/<id>" */
    ngx_str_t              url_query;    /* "?device=..&expires=..&sig.." */
    time_t                 expires;
    ngx_uint_t             base;         /* replies before HGET open */
    unsigned               pending:1;    /* task still pending: notify */
    unsigned               gone:1;       /* task or batch not open: 204 */
} ngx_ota_upgrade_t;


static void ngx_ota_upgrade_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_upgrade_open(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_upgrade_task(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply);
static void ngx_ota_upgrade_from(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply);
static void ngx_ota_upgrade_batch(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_upgrade_package(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static ngx_int_t ngx_ota_upgrade_links(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u);
static json_t *ngx_ota_upgrade_url(ngx_ota_upgrade_t *u, const char *file,
    size_t len);
static void ngx_ota_upgrade_none(ngx_http_request_t *r);


ngx_int_t
ngx_ota_api_upgrade(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              key, mkey, arg;
    const char            *why;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_upgrade_t     *u;
    ngx_ota_redis_call_t  *call;

    ngx_ota_metric_add(NGX_OTA_M_API_REQUESTS, 1);

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_ota_upgrade_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->api = u;

    if (ngx_ota_bearer(r, &u->device, &u->product, &why) != NGX_OK) {
        return ngx_ota_api_unauthorized(r, why);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "module", 6, &arg) == NGX_OK) {
        u->module = arg;
    } else {
        ngx_str_set(&u->module, "default");
    }

    if (!ota_name_module((char *) u->module.data, u->module.len)) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"module\" is not a valid module name "
                                  "([A-Za-z0-9_-]{1,64})");
    }

    u->pool = r->pool;
    u->answer = ngx_ota_api_answer(r);
    if (u->answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_DEVICE_OPEN, &u->device, NULL,
                    NULL)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_upgrade_reply, u);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = NGX_OK;

    /* "default" exists in every product: no need to ask */
    if (!(u->module.len == 7
          && ngx_strncmp(u->module.data, "default", 7) == 0))
    {
        if (ngx_ota_key(r->pool, &mkey, OTA_KEY_PRODUCT_MODULES, &u->product,
                        NULL, NULL) == NULL)
        {
            ngx_ota_redis_call_abort(call);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->base = 1;
        rc = ngx_ota_redis_cmd(call, "HEXISTS %b %b", mkey.data, mkey.len,
                               u->module.data, u->module.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", key.data, key.len,
                               u->module.data, u->module.len);
    }
    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        return ngx_ota_send_error(r, rc == NGX_DECLINED
                                     ? NGX_HTTP_SERVICE_UNAVAILABLE
                                     : NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  rc == NGX_DECLINED
                                     ? "storage unavailable, retry later"
                                     : "internal error");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_ota_upgrade_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_upgrade_t   *u = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "upgrade");
        return;
    }

    if (call->index < u->base) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            ngx_ota_api_redis_error(r, reply, "upgrade module check");
            return;
        }

        if (reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "unknown module for this product");
        }
        return;
    }

    switch (call->index - u->base) {

    case 0:
        ngx_ota_upgrade_open(r, u, call, reply);
        return;

    case 1:
        ngx_ota_upgrade_task(r, u, reply);
        return;

    case 2:
        ngx_ota_upgrade_from(r, u, reply);
        return;

    case 3:
        ngx_ota_upgrade_batch(r, u, call, reply);
        return;

    case 4:
        ngx_ota_upgrade_package(r, u, call, reply);
        return;

    default:
        if (reply->type != REDIS_REPLY_STRING) {
            ngx_ota_api_redis_error(r, reply, "upgrade notified event");
            return;
        }

        ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);
        ngx_ota_api_send_json(u->answer, NGX_HTTP_OK);
        return;
    }
}


static void
ngx_ota_upgrade_open(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t  rc;
    ngx_str_t  state, batch, from, b;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_ota_upgrade_none(r);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || !ota_name_id(reply->str, reply->len))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: device \"%V\" module \"%V\": the open "
                      "task names no valid batch id", &u->device, &u->module);
        ngx_ota_upgrade_none(r);
        return;
    }

    b.data = (u_char *) reply->str;
    b.len = reply->len;

    u->batch.len = b.len;
    u->batch.data = ngx_ota_pstrdup0(r->pool, &b);

    if (u->batch.data == NULL
        || ngx_ota_key(r->pool, &state, OTA_KEY_BATCH_STATE, &u->batch,
                       NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, &u->batch, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &from, OTA_KEY_BATCH_FROM, &u->batch, NULL,
                       NULL) == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(call, "HGET %b %b", state.data, state.len,
                           u->device.data, u->device.len);

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", from.data, from.len,
                               u->device.data, u->device.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", batch.data, batch.len);
    }

    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


static void
ngx_ota_upgrade_task(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply)
{
    int  st;

    /* the batch reply comes next: decide there, so all are consumed */

    if (reply->type == REDIS_REPLY_NIL) {
        u->pending = 1;             /* no state yet: pending */
        return;
    }

    st = reply->type == REDIS_REPLY_STRING
         ? ota_task_state_parse(reply->str, reply->len) : -1;

    if (st < 0 || ota_task_state_final(st)) {
        u->gone = 1;
        return;
    }

    u->pending = (st == OTA_TS_PENDING);
}


/* the device's version when the batch gave it the task */
static void
ngx_ota_upgrade_from(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply)
{
    ngx_str_t  v;

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_str_set(&u->task_from, "");     /* it never reported one */
        return;
    }

    v.data = (u_char *) reply->str;
    v.len = reply->len;

    u->task_from.len = v.len;
    u->task_from.data = ngx_ota_pstrdup0(r->pool, &v);

    if (u->task_from.data == NULL) {
        u->gone = 1;
    }
}


static void
ngx_ota_upgrade_batch(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t  rc;
    ngx_str_t  state, key;

    if (u->gone) {
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_hash_get(reply, "state", &state) != NGX_OK
        || state.len != 7 || ngx_strncmp(state.data, "running", 7) != 0)
    {
        /* paused, cancelled, finished or still being created */
        ngx_ota_upgrade_none(r);
        return;
    }

    (void) ngx_ota_hash_dup(r->pool, reply, "package", &u->package);

    if (!ota_name_id((char *) u->package.data, u->package.len)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: task of device \"%V\" in batch \"%V\" "
                      "names no valid package", &u->device, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PACKAGE, &u->package, NULL, NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/* the answer's "files", first file's size and sign; NGX_ERROR: no memory */
static ngx_int_t
ngx_ota_upgrade_files(ngx_ota_upgrade_t *u, redisReply *reply, json_t *out,
    json_int_t *first_size, ngx_str_t *first_sign)
{
    size_t        i;
    json_t       *files, *list, *f, *name, *size, *sign, *o, *url;
    ngx_str_t     v;
    json_error_t  err;

    list = json_array();
    if (list == NULL || json_object_set_new(out, "files", list) != 0) {
        return NGX_ERROR;
    }

    if (ngx_ota_hash_get(reply, "files", &v) != NGX_OK) {
        return NGX_OK;
    }

    files = json_loadb((char *) v.data, v.len, 0, &err);
    if (files == NULL || !json_is_array(files)) {
        json_decref(files);
        return NGX_OK;
    }

    json_array_foreach(files, i, f) {
        name = json_object_get(f, "name");
        size = json_object_get(f, "size");
        sign = json_object_get(f, "sign");

        if (!json_is_string(name) || !json_is_integer(size)
            || !ota_name_file(json_string_value(name),
                              json_string_length(name)))
        {
            continue;
        }

        url = ngx_ota_upgrade_url(u, json_string_value(name),
                                  json_string_length(name));

        o = json_pack("{s:O,s:O,s:o}", "name", name, "size", size,
                      "url", url);
        if (o == NULL) {
            json_decref(files);
            return NGX_ERROR;
        }

        if (json_is_string(sign)) {
            (void) json_object_set(o, "sign", sign);
        }

        if (json_array_size(list) == 0) {
            *first_size = json_integer_value(size);
            if (json_is_string(sign)) {
                v.data = (u_char *) json_string_value(sign);
                v.len = json_string_length(sign);
                first_sign->len = v.len;
                first_sign->data = ngx_ota_pstrdup0(u->pool, &v);
                if (first_sign->data == NULL) {
                    json_decref(files);
                    return NGX_ERROR;
                }
            }
        }

        if (json_array_append_new(list, o) != 0) {
            json_decref(files);
            return NGX_ERROR;
        }
    }

    json_decref(files);

    return NGX_OK;
}


static void
ngx_ota_upgrade_package(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    int64_t       size;
    json_t       *json, *ext, *extdata, *v;
    ngx_int_t     rc, md5, diff;
    ngx_str_t     type, from, method, sign, version, e;
    json_int_t    first_size;
    const char   *key;
    json_error_t  err;
    ota_event_fields_t  f;

    if (ngx_ota_hash_get(reply, "id", &e) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: package \"%V\" of batch \"%V\" does "
                      "not exist", &u->package, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_upgrade_links(r, u) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_ota_hash_get(reply, "type", &type) != NGX_OK) {
        ngx_str_set(&type, "full");
    }
    if (ngx_ota_hash_get(reply, "sign_method", &method) != NGX_OK) {
        ngx_str_set(&method, "sha256");
    }
    if (ngx_ota_hash_get(reply, "sign", &sign) != NGX_OK) {
        ngx_str_set(&sign, "");
    }
    if (ngx_ota_hash_get(reply, "version", &version) != NGX_OK) {
        ngx_str_set(&version, "");
    }

    /* a diff applies to one version; a full package to whatever the
     * device had when the task was made */
    diff = (type.len == 4 && ngx_strncmp(type.data, "diff", 4) == 0);

    if (diff) {
        if (ngx_ota_hash_get(reply, "from", &from) != NGX_OK) {
            ngx_str_set(&from, "");
        }
    } else {
        from = u->task_from;
    }

    md5 = (method.len == 3 && ngx_strncasecmp(method.data, (u_char *) "md5", 3)
                              == 0);
    size = ngx_ota_hash_int(reply, "size", 0);

    json = json_object();
    u->answer->json = json;
    if (json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    first_size = (json_int_t) size;

    if (ngx_ota_upgrade_files(u, reply, json, &first_size, &sign) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = 0;

#define ngx_ota_set(k, value)                                                 \
    rc |= json_object_set_new(json, k, value)
#define ngx_ota_sets(k, s)                                                    \
    ngx_ota_set(k, json_stringn((char *) (s).data, (s).len))

    ngx_ota_sets("batch", u->batch);
    ngx_ota_sets("package", u->package);
    ngx_ota_sets("module", u->module);
    ngx_ota_sets("version", version);
    ngx_ota_sets("type", type);
    ngx_ota_sets("from", from);
    ngx_ota_set("size", json_integer(first_size));
    ngx_ota_set("total_size", json_integer((json_int_t) size));
    ngx_ota_set("sign_method", json_string(md5 ? "md5" : "sha256"));
    ngx_ota_sets("sign", sign);
    ngx_ota_set("url", ngx_ota_upgrade_url(u, NULL, 0));
    ngx_ota_set("url_expires", json_integer((json_int_t) u->expires));

    /* the Alibaba Cloud IoT / SagooIOT names of the same things */
    ngx_ota_set("signMethod", json_string(md5 ? "Md5" : "SHA256"));
    if (md5) {
        ngx_ota_sets("md5", sign);
    }
    ngx_ota_set("isDiff", json_integer(diff ? 1 : 0));

    extdata = json_object();
    ngx_ota_set("extData", extdata);

    if (extdata != NULL
        && ngx_ota_hash_get(reply, "ext", &e) == NGX_OK && e.len)
    {
        ext = json_loadb((char *) e.data, e.len, 0, &err);
        if (json_is_object(ext)) {
            json_object_foreach(ext, key, v) {
                rc |= json_object_set(extdata, key, v);
            }
        }
        json_decref(ext);
    }

    /* set last: the platform's batch id wins over a custom "batch" key */
    if (extdata != NULL) {
        rc |= json_object_set_new(extdata, "batch",
                                  json_stringn((char *) u->batch.data,
                                               u->batch.len));
    }

#undef ngx_ota_set
#undef ngx_ota_sets

    if (rc != 0) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!u->pending) {
        ngx_ota_api_send_json(u->answer, NGX_HTTP_OK);
        return;
    }

    /* the worker moves the task to notified; a repeated event is a no-op */
    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.type = OTA_EV_NOTIFIED;
    f.device = ngx_ota_event_str(&u->device);
    f.module = ngx_ota_event_str(&u->module);
    f.batch = ngx_ota_event_str(&u->batch);
    f.package = ngx_ota_event_str(&u->package);

    rc = ngx_ota_api_event(call, &f);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/*
 * url_base = <ota_public_url or scheme://Host><location>packages/<id>
 * url_query = ?device=<d>&expires=<t>&signature=<hex>
 * Names are [A-Za-z0-9_.:-]: nothing in them needs escaping.
 */
static ngx_int_t
ngx_ota_upgrade_links(ngx_http_request_t *r, ngx_ota_upgrade_t *u)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                  base, loc, scheme;
    ngx_ota_loc_conf_t        *olcf;
    ngx_ota_main_conf_t       *omcf;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_core_srv_conf_t  *cscf;
    char                       sig[OTA_HEX_SHA256_LEN + 1];

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    u->expires = ngx_time() + olcf->link_ttl;

    ota_link_sign((char *) omcf->token_secret.data, omcf->token_secret.len,
                  (char *) u->package.data, u->package.len,
                  (char *) u->device.data, u->device.len,
                  (int64_t) u->expires, sig);

    ngx_str_null(&scheme);

    if (olcf->public_url.len) {
        base = olcf->public_url;
        while (base.len && base.data[base.len - 1] == '/') {
            base.len--;
        }

    } else {
#if (NGX_HTTP_SSL)
        if (r->connection->ssl) {
            ngx_str_set(&scheme, "https://");
        } else
#endif
        {
            ngx_str_set(&scheme, "http://");
        }

        if (r->headers_in.server.len) {
            base = r->headers_in.server;
            if (r->headers_in.host) {
                base = r->headers_in.host->value;  /* keeps the port */
            }

        } else {
            cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
            base = cscf->server_name;
        }
    }

    /* the device API's own location, so links follow its prefix */
    if (!clcf->regex && clcf->name.len && clcf->name.data[0] == '/') {
        loc = clcf->name;
    } else {
        ngx_str_set(&loc, "/ota/v1/");
    }

    len = scheme.len + base.len + loc.len + 1 + sizeof("packages/") - 1
          + u->package.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    u->url_base.data = p;
    p = ngx_cpymem(p, scheme.data, scheme.len);
    p = ngx_cpymem(p, base.data, base.len);
    p = ngx_cpymem(p, loc.data, loc.len);
    if (loc.data[loc.len - 1] != '/') {
        *p++ = '/';
    }
    p = ngx_cpymem(p, "packages/", sizeof("packages/") - 1);
    p = ngx_cpymem(p, u->package.data, u->package.len);
    u->url_base.len = p - u->url_base.data;

    len = sizeof("?device=&expires=&signature=") - 1 + u->device.len
          + NGX_TIME_T_LEN + OTA_HEX_SHA256_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    u->url_query.data = p;
    p = ngx_sprintf(p, "?device=%V&expires=%T&signature=%*s", &u->device,
                    u->expires, (size_t) OTA_HEX_SHA256_LEN, sig);
    u->url_query.len = p - u->url_query.data;

    return NGX_OK;
}


/* a JSON string of the link to the package (file NULL) or one file */
static json_t *
ngx_ota_upgrade_url(ngx_ota_upgrade_t *u, const char *file, size_t len)
{
    char    *s, *p;
    size_t   n;

    n = u->url_base.len + (file ? 1 + len : 0) + u->url_query.len;

    s = ngx_pnalloc(u->pool, n);
    if (s == NULL) {
        return NULL;
    }

    p = (char *) ngx_cpymem(s, u->url_base.data, u->url_base.len);
    if (file) {
        *p++ = '/';
        p = (char *) ngx_cpymem(p, file, len);
    }
    ngx_memcpy(p, u->url_query.data, u->url_query.len);

    return json_stringn(s, n);
}


static void
ngx_ota_upgrade_none(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    ngx_http_finalize_request(r, rc);
}
