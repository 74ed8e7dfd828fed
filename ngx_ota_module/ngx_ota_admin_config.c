/*
 * ngx_ota_admin_config.c: the platform's parameters (include/ota_settings.h:
 * package.max_size, package.extensions), kept in Redis (OTA_KEY_CONFIG) and
 * read alike by otactl, this API and the console.
 *
 *   GET config    every reader: {"package.max_size": bytes,
 *                 "package.extensions": ".bin ...", "defaults": [...]}
 *   PUT config    operators: {"package.max_size": "2000MB" | bytes,
 *                 "package.extensions": ".bin,.zip"}: every value is
 *                 checked by ota_settings_set() (otactl config set's check)
 *                 before anything is written; one bad value refuses all;
 *                 answers the whole configuration as GET does
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
#include "ota_settings.h"


static void ngx_ota_config_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_config_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


typedef struct {
    ngx_ota_api_answer_t  *answer;
    ngx_str_t              object;      /* "key=value ..." for the audit */
    ngx_uint_t             write;       /* PUT: HSET first, then HGETALL */
} ngx_ota_config_t;


static ngx_ota_config_t *
ngx_ota_config_start(ngx_http_request_t *r)
{
    ngx_ota_ctx_t     *ctx;
    ngx_ota_config_t  *cf;

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    cf = ngx_pcalloc(r->pool, sizeof(ngx_ota_config_t));
    if (cf == NULL) {
        return NULL;
    }

    cf->answer = ngx_ota_api_answer(r);
    if (cf->answer == NULL) {
        return NULL;
    }

    ctx->api = cf;

    return cf;
}


ngx_int_t
ngx_ota_admin_config_get(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_ota_config_t      *cf;
    ngx_ota_redis_call_t  *call;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    cf = ngx_ota_config_start(r);
    if (cf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_config_reply, cf);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %s", OTA_KEY_CONFIG);

    return ngx_ota_admin_wait(r, call, rc);
}


ngx_int_t
ngx_ota_admin_config_set(ngx_http_request_t *r)
{
    return ngx_ota_read_json_body(r, ngx_ota_config_body);
}


static void
ngx_ota_config_body(ngx_http_request_t *r, json_t *body)
{
    int                    argc;
    u_char                *p;
    size_t                 size, argvlen[2 + 2 * OTA_SETTINGS_N];
    json_t                *v;
    ngx_int_t              rc;
    ngx_uint_t             i;
    const char            *key, *argv[2 + 2 * OTA_SETTINGS_N];
    ota_check_t            c;
    ota_settings_t         s;
    ngx_ota_config_t      *cf;
    ngx_ota_redis_call_t  *call;
    char                   num[NGX_INT64_LEN + 1];
    char                   stored[OTA_SETTINGS_N][OTA_SETTINGS_EXTS_MAX];

    cf = ngx_ota_config_start(r);
    if (cf == NULL) {
        json_decref(body);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    cf->answer->json = body;            /* freed with the request */

    ota_check_init(&c, 1);
    ota_settings_default(&s);

    if (json_object_size(body) == 0) {
        ngx_ota_admin_refused(r, OTA_ACT_CONFIG_SET, NULL,
                              NGX_HTTP_BAD_REQUEST,
                              "nothing to set: send {\"package.max_size\": "
                              "\"2000MB\"} or {\"package.extensions\": "
                              "\".bin,.zip\"}");
        return;
    }

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = OTA_KEY_CONFIG;
    argvlen[1] = sizeof(OTA_KEY_CONFIG) - 1;
    argc = 2;
    size = 0;

    json_object_foreach(body, key, v) {
        const char  *val;

        if (json_is_integer(v)) {
            ngx_snprintf((u_char *) num, sizeof(num) - 1, "%L%Z",
                         (int64_t) json_integer_value(v));
            val = num;

        } else if (json_is_string(v)) {
            val = json_string_value(v);

        } else {
            (void) ota_check_fail(&c, "\"%.64s\" must be a string (or a "
                                  "number of bytes)", key);
            val = NULL;
        }

        if (val == NULL || ota_settings_set(&s, &c, key, val) != 0) {
            ngx_ota_admin_refused(r, OTA_ACT_CONFIG_SET, NULL,
                                  NGX_HTTP_BAD_REQUEST, c.msg);
            return;
        }
    }

    /* only what was given is written: the others keep their value */
    for (i = 0; i < OTA_SETTINGS_N; i++) {
        if (!json_object_get(body, ota_settings_names[i])) {
            continue;
        }

        argv[argc] = ota_settings_names[i];
        argvlen[argc++] = ngx_strlen(ota_settings_names[i]);
        argv[argc] = ota_settings_stored(&s, ota_settings_names[i],
                                         stored[i], sizeof(stored[i]));
        argvlen[argc] = ngx_strlen(argv[argc]);
        size += argvlen[argc - 1] + argvlen[argc] + 2;
        argc++;
    }

    /* "package.max_size=2097152000 package.extensions=.bin .zip" */
    cf->object.data = ngx_pnalloc(r->pool, size);
    if (cf->object.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = cf->object.data;

    for (i = 2; i < (ngx_uint_t) argc; i += 2) {
        p = ngx_sprintf(p, "%s%s=%s", i > 2 ? " " : "", argv[i],
                        argv[i + 1]);
    }

    cf->object.len = p - cf->object.data;
    cf->write = 1;

    call = ngx_ota_redis_call(r, ngx_ota_config_reply, cf);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_argv(call, argc, argv, argvlen);

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %s", OTA_KEY_CONFIG);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_send_failed(r, OTA_ACT_CONFIG_SET, &cf->object, rc);
    }
}


static void
ngx_ota_config_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               k;
    redisReply          *f, *v;
    ota_settings_t       s;
    ngx_ota_config_t    *cf = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (cf->write) {
            ngx_ota_admin_redis_error(r, OTA_ACT_CONFIG_SET, &cf->object,
                                      reply);
        } else {
            ngx_ota_api_redis_error(r, reply, "admin config");
        }
        return;
    }

    /* the HSET's answer: the HGETALL follows */
    if (cf->write && call->index == 0) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_ota_api_redis_error(r, reply, "admin config");
        return;
    }

    ota_settings_default(&s);

    for (k = 0; k + 1 < reply->elements; k += 2) {
        f = reply->element[k];
        v = reply->element[k + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        /* a value written by hand that does not parse keeps the default */
        if (ota_settings_load(&s, f->str, v->str) != 0) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "ota: admin: setting \"%s\" in %s is not valid "
                          "(\"%s\"): its default applies", f->str,
                          OTA_KEY_CONFIG, v->str);
        }
    }

    json_decref(cf->answer->json);
    cf->answer->json = ota_settings_json(&s);

    if (cf->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (cf->write) {
        ngx_ota_admin_done(r, OTA_ACT_CONFIG_SET, &cf->object, NGX_HTTP_OK,
                           cf->answer);
        return;
    }

    ngx_ota_api_send_json(cf->answer, NGX_HTTP_OK);
}
