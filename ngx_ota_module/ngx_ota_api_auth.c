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
#include "ngx_ota_creds.h"
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
static void ngx_ota_auth_flat(ngx_http_request_t *r, const ota_jflat_t *body);
static void ngx_ota_auth_checked(ngx_http_request_t *r, ngx_ota_auth_t *a,
    ota_auth_req_t *req);
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
    return ngx_ota_read_flat_body(r, ngx_ota_auth_flat, ngx_ota_auth_body);
}


/* the usual body, read flat (ngx_ota_read_flat_body): no tree, and no
 * copies (the views are in the request's pool already) but the timestamp
 * of a number, printed in req */
static void
ngx_ota_auth_flat(ngx_http_request_t *r, const ota_jflat_t *body)
{
    const char      *err;
    ngx_str_t        ts;
    ota_auth_req_t   req;
    ngx_ota_auth_t  *a;

    err = ota_request_auth_flat(body, &req);
    if (err != NULL) {
        ngx_ota_api_finish(r, NGX_HTTP_BAD_REQUEST, err);
        return;
    }

    a = ngx_palloc(r->pool, sizeof(ngx_ota_auth_t));
    if (a == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    a->product.data = (u_char *) req.product.data;
    a->product.len = req.product.len;
    a->device.data = (u_char *) req.device.data;
    a->device.len = req.device.len;
    a->sign.data = (u_char *) req.sign.data;
    a->sign.len = req.sign.len;

    if (req.ts.data == req.ts_buf) {
        if (ngx_ota_view_copy(r->pool, &req.ts, &ts) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        a->ts = ts;

    } else {
        a->ts.data = (u_char *) req.ts.data;
        a->ts.len = req.ts.len;
    }

    ngx_ota_auth_checked(r, a, &req);
}


static void
ngx_ota_auth_body(ngx_http_request_t *r, json_t *body)
{
    const char      *err;
    ota_auth_req_t   req;
    ngx_ota_auth_t  *a;

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

    ngx_ota_auth_checked(r, a, &req);
}


/* a body of the right shape, its fields in a: the clock, then Redis */
static void
ngx_ota_auth_checked(ngx_http_request_t *r, ngx_ota_auth_t *a,
    ota_auth_req_t *req)
{
    int64_t                now, window;
    size_t                 argvlen[4];
    ngx_int_t              rc;
    ngx_str_t              key;
    const char            *argv[4];
    ngx_ota_ctx_t         *ctx;
    ngx_ota_loc_conf_t    *olcf;
    ngx_ota_redis_call_t  *call;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    ctx->api = a;

    now = ngx_ota_now_ms();
    window = (int64_t) olcf->auth_window * 1000;

    if (req->ts_ms < now - window || req->ts_ms > now + window) {
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

    /* an argument vector, not a format: hiredis parses no format and
     * builds no sds per argument (speed) */
    argv[0] = "HMGET";
    argvlen[0] = sizeof("HMGET") - 1;
    argv[1] = (const char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "product";
    argvlen[2] = sizeof("product") - 1;
    argv[3] = "secret";
    argvlen[3] = sizeof("secret") - 1;

    rc = ngx_ota_redis_argv(call, 4, argv, argvlen);
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
    u_char              *ex;
    size_t               argvlen[6];
    ngx_int_t            rc;
    ngx_str_t            key;
    const char          *argv[6];
    redisReply          *product, *secret;
    ngx_ota_loc_conf_t  *olcf;
    u_char               exbuf[NGX_TIME_T_LEN];

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

    /* argv, the seconds by ngx_sprintf: hiredis's "%d" goes through
     * vsnprintf (speed) */
    ex = ngx_sprintf(exbuf, "%T", 2 * olcf->auth_window);

    argv[0] = "SET";
    argvlen[0] = sizeof("SET") - 1;
    argv[1] = (const char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "NX";
    argvlen[3] = 2;
    argv[4] = "EX";
    argvlen[4] = 2;
    argv[5] = (const char *) exbuf;
    argvlen[5] = ex - exbuf;

    rc = ngx_ota_redis_argv(call, 6, argv, argvlen);
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
    ota_token_t           tk;
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

    tk.expires = (int64_t) ngx_time() + olcf->token_ttl;

    n = ota_token_make((char *) omcf->token_secret.data,
                       omcf->token_secret.len,
                       (char *) a->device.data, a->device.len,
                       (char *) a->product.data, a->product.len,
                       tk.expires, token);
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: auth: cannot make a token for \"%V\"",
                      &a->device);
        ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                           "internal error");
        return;
    }

    /* the device presents it next to this process, most likely: known,
     * it needs no HMAC there (ngx_ota_creds.c; made for speed).
     * "1~<expires>~<product>~<device>~<hex>" */
    p = ngx_strlchr((u_char *) token + 2, (u_char *) token + n, '~');
    if (p != NULL) {
        tk.product = (char *) p + 1;
        tk.product_len = a->product.len;
        tk.device = tk.product + a->product.len + 1;
        tk.device_len = a->device.len;
        ngx_ota_creds_token_put((u_char *) token, (size_t) n, &tk);
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
