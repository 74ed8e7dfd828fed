/*
 * ngx_ota_admin_product_set.c: PUT <admin>/products/<p>, a product's
 * signing policy (docs/signing.md), what otactl product set sets:
 *
 *   PUT products/<p>  {"require_signed": true|false,
 *                      "pubkey": "<PEM Ed25519 public key>" | null}
 *                     (either or both; null removes the key) -> 200
 *                     {"product","require_signed","key_id"}
 *
 * The body is checked whole here (an unknown field, a wrong type, a key
 * that is not an Ed25519 public key: 400); lua/admin/product_set.lua,
 * otactl's script, refuses an unknown product (404) in the same step as it
 * writes, so nothing changes on a refusal.
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ngx_ota_admin_lua.h"      /* generated from lua/admin/ */

#include "ota_audit.h"
#include "ota_sign.h"


#define NGX_OTA_PUBKEY_MAX  4096        /* bytes of a PEM public key */


typedef struct {
    ngx_ota_api_answer_t  *body;        /* the request's JSON, held */
    ngx_ota_api_answer_t  *answer;
    ngx_str_t              product;     /* NUL-terminated; the audit's */
} ngx_ota_prodset_t;


static void ngx_ota_prodset_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_prodset_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_product_set(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_ota_ctx_t      *ctx;
    ngx_ota_prodset_t  *ps;

    ps = ngx_pcalloc(r->pool, sizeof(ngx_ota_prodset_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->product.len = id->len;
    ps->product.data = ngx_pnalloc(r->pool, id->len + 1);
    if (ps->product.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ps->product.data, id->data, id->len);
    ps->product.data[id->len] = '\0';

    ps->body = ngx_ota_api_answer(r);
    ps->answer = ngx_ota_api_answer(r);
    if (ps->body == NULL || ps->answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    ctx->api = ps;

    return ngx_ota_read_json_body(r, ngx_ota_prodset_body);
}


static void
ngx_ota_prodset_body(ngx_http_request_t *r, json_t *body)
{
    int                    argc;
    char                   kid[OTA_SIGN_KEYID_LEN + 1], err[256];
    char                   msg[512];
    size_t                 argvlen[8];
    json_t                *req, *pub, *v;
    EVP_PKEY              *key;
    const char            *argv[8], *name, *pem, *pubmode;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_prodset_t     *ps;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    ps = ctx->api;
    ps->body->json = body;

    if (!json_is_object(body)) {
        ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                              NGX_HTTP_BAD_REQUEST,
                              "the body is not a JSON object");
        return;
    }

    json_object_foreach(body, name, v) {
        if (ngx_strcmp(name, "require_signed") != 0
            && ngx_strcmp(name, "pubkey") != 0)
        {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "unknown field \"%s\": use \"require_signed\" "
                         "(true or false) and \"pubkey\" (a PEM public key, "
                         "or null to remove it)%Z", name);
            ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                                  NGX_HTTP_BAD_REQUEST, msg);
            return;
        }
    }

    req = json_object_get(body, "require_signed");
    pub = json_object_get(body, "pubkey");

    if (req == NULL && pub == NULL) {
        ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                              NGX_HTTP_BAD_REQUEST,
                              "nothing to set: give \"require_signed\" "
                              "and/or \"pubkey\"");
        return;
    }

    if (req != NULL && !json_is_boolean(req)) {
        ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                              NGX_HTTP_BAD_REQUEST,
                              "\"require_signed\" must be true or false");
        return;
    }

    pem = "";
    pubmode = "";
    kid[0] = '\0';

    if (pub != NULL && json_is_null(pub)) {
        pubmode = "del";

    } else if (pub != NULL) {
        if (!json_is_string(pub) || json_string_length(pub) == 0
            || json_string_length(pub) > NGX_OTA_PUBKEY_MAX)
        {
            ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                                  NGX_HTTP_BAD_REQUEST,
                                  "\"pubkey\" must be a PEM Ed25519 public "
                                  "key (otactl key gen makes one) or null");
            return;
        }

        pem = json_string_value(pub);
        err[0] = '\0';

        key = ota_sign_key_pem(pem, json_string_length(pub), 0, err,
                               sizeof(err));
        if (key == NULL || ota_sign_key_id(key, kid) != 0) {
            if (key != NULL) {
                EVP_PKEY_free(key);
            }

            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "\"pubkey\": %s%Z",
                         err[0] ? err : "not an Ed25519 public key");
            ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                                  NGX_HTTP_BAD_REQUEST, msg);
            return;
        }

        EVP_PKEY_free(key);
        pubmode = "set";
    }

    /* EVAL <script> 0 product require pubmode pem key_id */
    argc = 0;

#define ngx_ota_ps_arg(s)                                                    \
    argv[argc] = (s); argvlen[argc++] = ngx_strlen(s)

    ngx_ota_ps_arg("EVAL");
    ngx_ota_ps_arg(ngx_ota_admin_lua_product_set);
    ngx_ota_ps_arg("0");
    ngx_ota_ps_arg((char *) ps->product.data);
    ngx_ota_ps_arg(req == NULL ? "" : json_is_true(req) ? "1" : "0");
    ngx_ota_ps_arg(pubmode);
    ngx_ota_ps_arg(pem);
    ngx_ota_ps_arg(kid);

#undef ngx_ota_ps_arg

    (void) ngx_ota_admin_send_argv(r, ngx_ota_prodset_reply, ps,
                                   OTA_ACT_PRODUCT_SET, &ps->product, argc,
                                   argv, argvlen);
}


static void
ngx_ota_prodset_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_prodset_t   *ps = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_ota_admin_redis_error(r, OTA_ACT_PRODUCT_SET, &ps->product,
                                  reply);
        return;
    }

    if (reply->elements < 3
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        ngx_ota_admin_refused(r, OTA_ACT_PRODUCT_SET, &ps->product,
                              NGX_HTTP_NOT_FOUND,
                              "no such product (otactl device add ... "
                              "--product makes it)");
        return;
    }

    ps->answer->json = json_pack("{s:s, s:b, s:s?}",
                                 "product", (char *) ps->product.data,
                                 "require_signed",
                                 reply->element[1]->len == 1
                                 && reply->element[1]->str[0] == '1',
                                 "key_id",
                                 reply->element[2]->len
                                 ? reply->element[2]->str : NULL);
    if (ps->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_ota_admin_done(r, OTA_ACT_PRODUCT_SET, &ps->product, NGX_HTTP_OK,
                       ps->answer);
}
