/*
 * ngx_ota_api_auth.c: POST /ota/v1/auth.
 *
 *   {"product","device","timestamp" (ms, number or digits),"sign"}
 *   sign = hex HMAC-SHA256(device secret,
 *                          "device<device>product<product>timestamp<ts>")
 *
 * Order of checks: shape (400, ota_request_auth in include/), timestamp
 * window (no Redis needed), the device record (HMGET product secret), the
 * signature, and last the replay guard (SET nonce NX EX): the nonce is
 * written only for a correctly signed request, so a failed attempt changes
 * nothing in Redis.  Every 401 says the same thing; the error log at info
 * level tells the operator which check failed.
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include "ota_keys.h"
#include "ota_request.h"
#include "ota_token.h"


typedef struct {
    ngx_str_t     device;
    ngx_str_t     product;
    ngx_str_t     ts;
    ngx_str_t     sign;
} ngx_ota_auth_t;


static void ngx_ota_auth_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_auth_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_auth_device(ngx_http_request_t *r, ngx_ota_auth_t *a,
    ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_auth_token(ngx_http_request_t *r, ngx_ota_auth_t *a,
    redisReply *reply);
static void ngx_ota_auth_refuse(ngx_http_request_t *r, ngx_ota_auth_t *a,
    const char *why);


ngx_int_t
ngx_ota_api_auth(ngx_http_request_t *r)
{
    return ngx_ota_read_json_body(r, ngx_ota_auth_body);
}


static void
ngx_ota_auth_body(ngx_http_request_t *r, json_t *body)
{
    int64_t                now, window;
    ngx_int_t              rc;
    ngx_str_t              key;
    const char            *err;
    ota_auth_req_t         req;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_auth_t        *a;
    ngx_ota_loc_conf_t    *olcf;
    ngx_ota_redis_call_t  *call;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    err = ota_request_auth(body, &req);
    if (err != NULL) {
        json_decref(body);
        ngx_ota_api_finish(r, NGX_HTTP_BAD_REQUEST, err);
        return;
    }

    /* the views die with the body: keep copies for the Redis replies */
    a = ngx_pcalloc(r->pool, sizeof(ngx_ota_auth_t));

    if (a == NULL
        || ngx_ota_view_copy(r->pool, &req.product, &a->product) != NGX_OK
        || ngx_ota_view_copy(r->pool, &req.device, &a->device) != NGX_OK
        || ngx_ota_view_copy(r->pool, &req.sign, &a->sign) != NGX_OK
        || ngx_ota_view_copy(r->pool, &req.ts, &a->ts) != NGX_OK)
    {
        json_decref(body);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_decref(body);
    ctx->api = a;

    now = ngx_ota_now_ms();
    window = (int64_t) olcf->auth_window * 1000;

    if (req.ts_ms < now - window || req.ts_ms > now + window) {
        ngx_ota_auth_refuse(r, a, "timestamp outside the auth window");
        return;
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_DEVICE, &a->device, NULL, NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    call = ngx_ota_redis_call(r, ngx_ota_auth_reply, a);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b product secret",
                           key.data, key.len);
    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_api_send_failed(r, rc);
        return;
    }

    /* the body handler holds the request: the reply finalizes it */
}


static void
ngx_ota_auth_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_auth_t      *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "auth");
        return;
    }

    if (call->index == 0) {
        ngx_ota_auth_device(r, a, call, reply);
        return;
    }

    ngx_ota_auth_token(r, a, reply);
}


static void
ngx_ota_auth_device(ngx_http_request_t *r, ngx_ota_auth_t *a,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t            rc;
    ngx_str_t            key;
    redisReply          *product, *secret;
    ngx_ota_loc_conf_t  *olcf;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        ngx_ota_api_redis_error(r, reply, "auth");
        return;
    }

    product = reply->element[0];
    secret = reply->element[1];

    if (product->type != REDIS_REPLY_STRING
        || secret->type != REDIS_REPLY_STRING)
    {
        ngx_ota_auth_refuse(r, a, "unknown device");
        return;
    }

    if ((size_t) product->len != a->product.len
        || ngx_memcmp(product->str, a->product.data, a->product.len) != 0)
    {
        ngx_ota_auth_refuse(r, a, "device belongs to another product");
        return;
    }

    if (!ota_auth_check(secret->str, secret->len,
                        (char *) a->device.data, a->device.len,
                        (char *) a->product.data, a->product.len,
                        (char *) a->ts.data, a->ts.len,
                        (char *) a->sign.data, a->sign.len))
    {
        ngx_ota_auth_refuse(r, a, "bad sign");
        return;
    }

    /* replay guard: one use per (device, timestamp) while it is fresh */
    if (ngx_ota_key(r->pool, &key, OTA_KEY_AUTH_NONCE, &a->device, &a->ts,
                    NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    rc = ngx_ota_redis_cmd(call, "SET %b 1 NX EX %d", key.data, key.len,
                           (int) (2 * olcf->auth_window));
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


static void
ngx_ota_auth_token(ngx_http_request_t *r, ngx_ota_auth_t *a,
    redisReply *reply)
{
    int                   n;
    u_char               *p, *last;
    ngx_ota_loc_conf_t   *olcf;
    ngx_ota_main_conf_t  *omcf;
    char                  token[OTA_TOKEN_MAX];

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_ota_auth_refuse(r, a, "timestamp already used (replay)");
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        ngx_ota_api_redis_error(r, reply, "auth nonce");
        return;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);

    n = ota_token_make((char *) omcf->token_secret.data,
                       omcf->token_secret.len,
                       (char *) a->device.data, a->device.len,
                       (char *) a->product.data, a->product.len,
                       (int64_t) ngx_time() + olcf->token_ttl, token);
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: auth: cannot make a token for \"%V\"",
                      &a->device);
        ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                           "internal error");
        return;
    }

    /* a token is names, digits, '~' and hex: nothing to escape, so the
     * answer is written as text (no JSON tree on the hot path: speed) */
    p = ngx_pnalloc(r->pool, sizeof("{\"token\":\"\",\"expires_in\":}") + n
                             + NGX_TIME_T_LEN);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    last = ngx_sprintf(p, "{\"token\":\"%*s\",\"expires_in\":%T}",
                       (size_t) n, token, olcf->token_ttl);

    ngx_ota_metric_add(NGX_OTA_M_AUTH_OK, 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota auth: device \"%V\" of product \"%V\" accepted, "
                   "token for %T s", &a->device, &a->product,
                   olcf->token_ttl);

    ngx_http_finalize_request(r, ngx_ota_send_json_text(r, NGX_HTTP_OK, p,
                                                        last - p));
}


static void
ngx_ota_auth_refuse(ngx_http_request_t *r, ngx_ota_auth_t *a, const char *why)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ota: auth refused for device \"%V\" of product \"%V\": %s",
                  &a->device, &a->product, why);

    ngx_http_finalize_request(r,
        ngx_ota_api_unauthorized(r, "authentication failed: check device, "
                                    "product, sign and the clock"));
}
