/*
 * ngx_ota_admin_sign.c: signing after upload (docs/signing.md): the
 * private key stays on the admin's host, the manifest names the id and
 * digests the server makes, so a package uploaded with sign_later=1 waits
 * in state unsigned for its signature:
 *
 *   GET  packages/<id>/manifest   every reader: {"id","state","manifest"
 *                                 (base64 of the exact bytes to sign),
 *                                 "key_id" (the product's, or null)};
 *                                 404 for no package or no manifest
 *   POST packages/<id>/signature  operators: {"sig": base64 Ed25519
 *                                 signature, "pubkey"?: PEM}: verified
 *                                 against the product's public key (or,
 *                                 when the product names none, the given
 *                                 one) -> 200 {"id","state","sign_key"};
 *                                 400 malformed, 404 unknown, 409 not
 *                                 waiting (a second identical signature:
 *                                 200, nothing written), 422 a signature
 *                                 that does not verify
 *
 * The check is ota_sign_verify() here (microseconds); the state change is
 * lua/admin/package_sign.lua, which refuses in the same step what moved
 * meanwhile, so nothing changes on a refusal.
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ngx_ota_admin_lua.h"      /* generated from lua/admin/ */

#include "ota_audit.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_sign.h"


#define NGX_OTA_SIG_PUBKEY_MAX  4096


/* ---- GET packages/<id>/manifest ------------------------------------------ */

static void ngx_ota_manifest_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_package_manifest(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              key;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PACKAGE, id, NULL, NULL) == NULL
        || json_object_set_new(a->obj, "id",
                               json_stringn((char *) id->data, id->len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_manifest_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b state manifest product", key.data,
                           key.len);

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_manifest_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t              rc;
    ngx_str_t              prod, key;
    redisReply            *e;
    ngx_ota_admin_t       *a = call->data;
    ngx_http_request_t    *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin package manifest");
        return;
    }

    if (a->first == 0) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
            || reply->element[0]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such package");
            return;
        }

        e = reply->element[1];

        if (e->type != REDIS_REPLY_STRING || e->len == 0
            || reply->element[2]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "the package has no manifest (neither signed "
                               "nor uploaded with sign_later)");
            return;
        }

        if (json_object_set_new(a->obj, "state",
                                json_stringn(reply->element[0]->str,
                                             reply->element[0]->len)) != 0
            || json_object_set_new(a->obj, "manifest",
                                   json_stringn(e->str, e->len)) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        prod.data = (u_char *) reply->element[2]->str;
        prod.len = reply->element[2]->len;

        if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_SIGNING, &prod, NULL,
                        NULL) == NULL)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        call = ngx_ota_redis_call(r, ngx_ota_manifest_reply, a);
        if (call == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        a->first = 1;           /* the step: the product's key id */

        rc = ngx_ota_redis_cmd(call, "HGET %b key_id", key.data, key.len);
        if (rc != NGX_OK) {
            ngx_ota_redis_call_abort(call);
            ngx_ota_api_send_failed(r, rc);
        }

        return;
    }

    if (json_object_set_new(a->obj, "key_id",
                            reply->type == REDIS_REPLY_STRING && reply->len
                            ? json_stringn(reply->str, reply->len)
                            : json_null())
        != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
}


/* ---- POST packages/<id>/signature ---------------------------------------- */

typedef struct {
    ngx_ota_api_answer_t  *body;        /* the request's JSON, held */
    ngx_ota_api_answer_t  *answer;
    ngx_str_t              id;          /* NUL-terminated; the audit's */
    const char            *sig;         /* base64, in body */
    const char            *pubkey;      /* PEM, in body, or NULL */
    u_char                 raw[OTA_SIGN_LEN];
    ngx_str_t              manifest;    /* base64, copied */
    ngx_str_t              product;
    ngx_uint_t             step;
    char                   kid[OTA_SIGN_KEYID_LEN + 1];
} ngx_ota_sig_t;


static void ngx_ota_sig_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_sig_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_package_signature(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_ota_ctx_t  *ctx;
    ngx_ota_sig_t  *s;

    s = ngx_pcalloc(r->pool, sizeof(ngx_ota_sig_t));
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s->id.len = id->len;
    s->id.data = ngx_pnalloc(r->pool, id->len + 1);
    s->body = ngx_ota_api_answer(r);
    s->answer = ngx_ota_api_answer(r);

    if (s->id.data == NULL || s->body == NULL || s->answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(s->id.data, id->data, id->len);
    s->id.data[id->len] = '\0';

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    ctx->api = s;

    return ngx_ota_read_json_body(r, ngx_ota_sig_body);
}


static void
ngx_ota_sig_refused(ngx_http_request_t *r, ngx_ota_sig_t *s,
    ngx_uint_t status, const char *msg)
{
    ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_SIGN, &s->id, status, msg);
}


static void
ngx_ota_sig_body(ngx_http_request_t *r, json_t *body)
{
    size_t          n, argvlen[7];
    json_t         *v;
    ngx_str_t       key;
    const char     *name, *argv[7];
    ngx_ota_ctx_t  *ctx;
    ngx_ota_sig_t  *s;
    char            msg[256];

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    s = ctx->api;
    s->body->json = body;

    if (!json_is_object(body)) {
        ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST,
                            "the body must be a JSON object "
                            "{\"sig\": \"<base64>\"}");
        return;
    }

    json_object_foreach(body, name, v) {
        if (ngx_strcmp(name, "sig") != 0 && ngx_strcmp(name, "pubkey") != 0)
        {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "unknown field \"%s\": use \"sig\" (base64 of the "
                         "Ed25519 signature of the manifest) and "
                         "\"pubkey\" (PEM, optional)%Z", name);
            ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST, msg);
            return;
        }
    }

    v = json_object_get(body, "sig");

    if (!json_is_string(v) || json_string_length(v) != OTA_B64_LEN(OTA_SIGN_LEN)
        || ota_b64_decode(json_string_value(v), json_string_length(v),
                          s->raw, &n) != 0
        || n != OTA_SIGN_LEN)
    {
        ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST,
                            "\"sig\" must be the base64 of a 64-byte "
                            "Ed25519 signature");
        return;
    }

    s->sig = json_string_value(v);

    v = json_object_get(body, "pubkey");

    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) > NGX_OTA_SIG_PUBKEY_MAX)
        {
            ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST,
                                "\"pubkey\" must be a PEM Ed25519 public "
                                "key");
            return;
        }

        s->pubkey = json_string_value(v);
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PACKAGE, &s->id, NULL, NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    argv[0] = "HMGET";
    argvlen[0] = 5;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "manifest";
    argvlen[2] = 8;
    argv[3] = "product";
    argvlen[3] = 7;
    argv[4] = "state";
    argvlen[4] = 5;
    argv[5] = "signature";
    argvlen[5] = 9;
    argv[6] = "sign_key";
    argvlen[6] = 8;

    s->step = 0;
    (void) ngx_ota_admin_send_argv(r, ngx_ota_sig_reply, s,
                                   OTA_ACT_PACKAGE_SIGN, &s->id, 7, argv,
                                   argvlen);
}


/* the key to verify with: the product's (the given one must be it), or the
 * given one; its id in s->kid.  NULL with the refusal answered. */
static EVP_PKEY *
ngx_ota_sig_key(ngx_http_request_t *r, ngx_ota_sig_t *s, redisReply *reply)
{
    char        err[256], msg[512], kid[OTA_SIGN_KEYID_LEN + 1];
    EVP_PKEY   *key, *given;
    redisReply *pem;

    pem = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
          ? reply->element[0] : NULL;

    key = NULL;
    given = NULL;

    if (s->pubkey != NULL) {
        err[0] = '\0';
        given = ota_sign_key_pem(s->pubkey, ngx_strlen(s->pubkey), 0, err,
                                 sizeof(err));
        if (given == NULL || ota_sign_key_id(given, kid) != 0) {
            if (given != NULL) {
                EVP_PKEY_free(given);
            }
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1, "\"pubkey\": %s%Z",
                         err[0] ? err : "not an Ed25519 public key");
            ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST, msg);
            return NULL;
        }
    }

    if (pem != NULL && pem->type == REDIS_REPLY_STRING && pem->len) {
        key = ota_sign_key_pem(pem->str, pem->len, 0, err, sizeof(err));
        if (key == NULL || ota_sign_key_id(key, s->kid) != 0) {
            if (key != NULL) {
                EVP_PKEY_free(key);
            }
            if (given != NULL) {
                EVP_PKEY_free(given);
            }
            ngx_ota_sig_refused(r, s, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "the product's public key does not parse");
            return NULL;
        }

        if (given != NULL) {
            EVP_PKEY_free(given);

            if (ngx_strcmp(kid, s->kid) != 0) {
                EVP_PKEY_free(key);
                ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                             "the signature's key %s is not the one product "
                             "%V accepts (key %s)%Z", kid, &s->product,
                             s->kid);
                ngx_ota_sig_refused(r, s, 422, msg);
                return NULL;
            }
        }

        return key;
    }

    if (given == NULL) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "product %V names no public key: give \"pubkey\" (or "
                     "PUT products/%V {\"pubkey\": ...})%Z", &s->product,
                     &s->product);
        ngx_ota_sig_refused(r, s, NGX_HTTP_BAD_REQUEST, msg);
        return NULL;
    }

    ngx_memcpy(s->kid, kid, sizeof(kid));
    return given;
}


static void
ngx_ota_sig_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    int                  ok;
    size_t               n, argvlen[8];
    u_char              *bytes;
    EVP_PKEY            *key;
    ngx_str_t            k;
    redisReply          *e0;
    const char          *argv[8];
    ngx_ota_sig_t       *s = call->data;
    ngx_http_request_t  *r = call->request;
    char                 msg[512];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_SIGN, &s->id, reply);
        return;
    }

    switch (s->step) {

    case 0:
        /* HMGET manifest product state signature sign_key */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5
            || reply->element[1]->type != REDIS_REPLY_STRING
            || reply->element[2]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_sig_refused(r, s, NGX_HTTP_NOT_FOUND, "no such package");
            return;
        }

        e0 = reply->element[2];

        if (!(e0->len == sizeof(OTA_PKG_UNSIGNED) - 1
              && ngx_strncmp(e0->str, OTA_PKG_UNSIGNED, e0->len) == 0))
        {
            /* signed already: the same signature again is a success that
             * changes nothing, any other is refused */
            if (reply->element[3]->type == REDIS_REPLY_STRING
                && reply->element[4]->type == REDIS_REPLY_STRING
                && ngx_strcmp(reply->element[3]->str, s->sig) == 0
                && reply->element[4]->len <= OTA_SIGN_KEYID_LEN)
            {
                ngx_memcpy(s->kid, reply->element[4]->str,
                           reply->element[4]->len);
                s->kid[reply->element[4]->len] = '\0';

                s->answer->json = json_pack("{s:s, s:s%, s:s, s:b}",
                                            "id", (char *) s->id.data,
                                            "state", e0->str,
                                            (size_t) e0->len,
                                            "sign_key", s->kid,
                                            "changed", 0);
                if (s->answer->json == NULL) {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                ngx_ota_admin_done(r, OTA_ACT_PACKAGE_SIGN, &s->id,
                                   NGX_HTTP_OK, s->answer);
                return;
            }

            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "package %V does not wait for a signature (state "
                         "%*s%s)%Z", &s->id, (int) e0->len, e0->str,
                         reply->element[3]->type == REDIS_REPLY_STRING
                         ? ", signed already with another signature"
                         : ", not uploaded with sign_later");
            ngx_ota_sig_refused(r, s, NGX_HTTP_CONFLICT, msg);
            return;
        }

        if (reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[0]->len == 0)
        {
            ngx_ota_sig_refused(r, s, NGX_HTTP_CONFLICT,
                                "the package does not wait for a signature "
                                "(it was not uploaded with sign_later)");
            return;
        }

        s->manifest.len = reply->element[0]->len;
        s->manifest.data = ngx_pnalloc(r->pool, s->manifest.len + 1);
        s->product.len = reply->element[1]->len;
        s->product.data = ngx_pnalloc(r->pool, s->product.len + 1);

        if (s->manifest.data == NULL || s->product.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        *ngx_cpymem(s->manifest.data, reply->element[0]->str,
                    s->manifest.len) = '\0';
        *ngx_cpymem(s->product.data, reply->element[1]->str,
                    s->product.len) = '\0';

        if (ngx_ota_key(r->pool, &k, OTA_KEY_PRODUCT_SIGNING, &s->product,
                        NULL, NULL) == NULL)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        argv[0] = "HMGET";
        argvlen[0] = 5;
        argv[1] = (char *) k.data;
        argvlen[1] = k.len;
        argv[2] = "pubkey";
        argvlen[2] = 6;
        argv[3] = "key_id";
        argvlen[3] = 6;

        s->step = 1;
        (void) ngx_ota_admin_send_argv(r, ngx_ota_sig_reply, s,
                                       OTA_ACT_PACKAGE_SIGN, &s->id, 4, argv,
                                       argvlen);
        return;

    case 1:
        key = ngx_ota_sig_key(r, s, reply);
        if (key == NULL) {
            return;
        }

        bytes = ngx_pnalloc(r->pool, s->manifest.len);
        if (bytes == NULL
            || ota_b64_decode((char *) s->manifest.data, s->manifest.len,
                              bytes, &n) != 0)
        {
            EVP_PKEY_free(key);
            ngx_ota_sig_refused(r, s, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "the package's manifest does not decode");
            return;
        }

        ok = ota_sign_verify(key, bytes, n, s->raw, OTA_SIGN_LEN);
        EVP_PKEY_free(key);

        if (!ok) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "the signature does not verify: not key %s's "
                         "signature of the manifest of %V (GET packages/%V/"
                         "manifest)%Z", s->kid, &s->id, &s->id);
            ngx_ota_sig_refused(r, s, 422, msg);
            return;
        }

        /* EVAL <script> 0 id manifest sig kid */
        argv[0] = "EVAL";
        argv[1] = ngx_ota_admin_lua_package_sign;
        argv[2] = "0";
        argv[3] = (char *) s->id.data;
        argv[4] = (char *) s->manifest.data;
        argv[5] = s->sig;
        argv[6] = s->kid;

        for (n = 0; n < 7; n++) {
            argvlen[n] = ngx_strlen(argv[n]);
        }

        s->step = 2;
        (void) ngx_ota_admin_send_argv(r, ngx_ota_sig_reply, s,
                                       OTA_ACT_PACKAGE_SIGN, &s->id, 7, argv,
                                       argvlen);
        return;
    }

    /* the script's answer */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_SIGN, &s->id, reply);
        return;
    }

    e0 = reply->element[0];

#define ngx_ota_is(lit)                                                      \
    (e0->len == sizeof(lit) - 1 && ngx_strncmp(e0->str, lit, e0->len) == 0)

#define ngx_ota_el1                                                          \
    (int) (reply->elements > 1 && reply->element[1]->str                     \
           ? reply->element[1]->len : 0),                                    \
    (reply->elements > 1 && reply->element[1]->str                           \
     ? reply->element[1]->str : "")

    if (ngx_ota_is("nopkg")) {
        ngx_ota_sig_refused(r, s, NGX_HTTP_NOT_FOUND, "no such package");
        return;
    }

    if (ngx_ota_is("notwaiting")) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "package %V does not wait for a signature (state "
                     "%*s): it is signed already, with another "
                     "signature%Z", &s->id, ngx_ota_el1);
        ngx_ota_sig_refused(r, s, NGX_HTTP_CONFLICT, msg);
        return;
    }

    if (ngx_ota_is("moved")) {
        ngx_ota_sig_refused(r, s, NGX_HTTP_CONFLICT,
                            "the package's manifest changed meanwhile: "
                            "sign it again");
        return;
    }

    if (ngx_ota_is("keychanged")) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "product %V now accepts only key %*s: sign again%Z",
                     &s->product, ngx_ota_el1);
        ngx_ota_sig_refused(r, s, NGX_HTTP_CONFLICT, msg);
        return;
    }

    if (!ngx_ota_is("ok") && !ngx_ota_is("same")) {
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_SIGN, &s->id, reply);
        return;
    }

    s->answer->json = json_pack("{s:s, s:s%, s:s, s:b}",
                                "id", (char *) s->id.data,
                                "state", reply->elements > 1
                                         && reply->element[1]->str
                                         ? reply->element[1]->str : "",
                                (size_t) (reply->elements > 1
                                          ? reply->element[1]->len : 0),
                                "sign_key", s->kid,
                                "changed", ngx_ota_is("ok"));

#undef ngx_ota_is
#undef ngx_ota_el1

    if (s->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_ota_admin_done(r, OTA_ACT_PACKAGE_SIGN, &s->id, NGX_HTTP_OK,
                       s->answer);
}
