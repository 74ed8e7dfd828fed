/*
 * ngx_ota_admin_add.c: POST <admin>/devices and POST <admin>/modules.
 *
 * The checks are otactl's (include/ota_check.h, worded for API fields) and
 * the writes are otactl's scripts (lua/admin/device_add.lua,
 * module_add.lua), so both refuse the same input for the same reason and
 * leave Redis as the other would:
 *
 *   POST devices  {"device","product","secret"?} or an array of up to
 *                 OTA_DEVICES_ADD_MAX of them -> 201 with the secrets
 *                 (generated where none was given); all or nothing: any
 *                 bad or existing device refuses the whole request
 *   POST modules  {"module","product","alias"?,"desc"?} -> 201
 *
 * Every body is checked whole before Redis is asked; the script then
 * refuses what only Redis knows (409 for a device or module that exists)
 * in the same step as it writes, so nothing changes on a refusal.  The
 * scripts are sent with EVAL: an admin write is rare, so their text is
 * sent each time rather than keeping an EVALSHA fallback for them.
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include <openssl/rand.h>

#include "ngx_ota_admin_lua.h"      /* generated from lua/admin/ */

#include "ota_audit.h"
#include "ota_check.h"


typedef struct {
    ngx_ota_api_answer_t  *body;        /* the request's JSON, held */
    ngx_ota_api_answer_t  *answer;
    const char            *action;
    ngx_str_t              object;      /* for the audit */
    ngx_str_t              name;        /* device or module */
    ngx_str_t              product;
    unsigned               single:1;    /* an object, not an array */
    unsigned               devices:1;   /* POST devices, not modules */
} ngx_ota_add_t;


static void ngx_ota_devices_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_modules_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_add_reply(ngx_ota_redis_call_t *call, redisReply *reply);


/* the state of an add, with the body held until the answer is sent */
static ngx_ota_add_t *
ngx_ota_add_start(ngx_http_request_t *r, json_t *body, const char *action)
{
    ngx_ota_ctx_t  *ctx;
    ngx_ota_add_t  *add;

    add = ngx_pcalloc(r->pool, sizeof(ngx_ota_add_t));
    if (add == NULL) {
        json_decref(body);
        return NULL;
    }

    add->action = action;

    add->body = ngx_ota_api_answer(r);
    if (add->body == NULL) {
        json_decref(body);
        return NULL;
    }

    add->body->json = body;

    add->answer = ngx_ota_api_answer(r);
    if (add->answer == NULL) {
        return NULL;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    ctx->api = add;

    return add;
}


/* a C string as an nginx string (not copied: it lives as long as body) */
static void
ngx_ota_add_str(ngx_str_t *s, const char *v)
{
    s->data = (u_char *) v;
    s->len = ngx_strlen(v);
}


/* the next argument of a command vector */
static void
ngx_ota_add_arg(const char **argv, size_t *argvlen, int *argc, const char *s)
{
    argv[*argc] = s;
    argvlen[(*argc)++] = ngx_strlen(s);
}




/* ---- POST devices ------------------------------------------------------- */

ngx_int_t
ngx_ota_admin_devices_add(ngx_http_request_t *r)
{
    return ngx_ota_read_json_body_as(r, ngx_ota_devices_body, 1);
}


static void
ngx_ota_devices_body(ngx_http_request_t *r, json_t *body)
{
    static const char *const  fields[] = { "device", "product", "secret",
                                           NULL };

    int              argc, head;
    char            *defmod;
    u_char          *p, rnd[OTA_SECRET_BYTES];
    size_t           i, n, *argvlen;
    json_t          *item, *list, *out;
    ngx_str_t        first;
    const char      *v[3], **argv, *now;
    ota_check_t      c;
    ngx_ota_add_t   *add;

    add = ngx_ota_add_start(r, body, OTA_ACT_DEVICE_ADD);
    if (add == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    add->devices = 1;
    add->single = json_is_object(body);
    n = add->single ? 1 : json_array_size(body);

    if (n == 0) {
        ngx_ota_admin_refused(r, add->action, NULL, NGX_HTTP_BAD_REQUEST,
                              "an empty list: send a device object or an "
                              "array of them");
        return;
    }

    if (n > OTA_DEVICES_ADD_MAX) {
        ngx_ota_admin_refused(r, add->action, NULL,
                              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "too many devices in one request (at most "
                              "10000)");
        return;
    }

    /* EVAL <script> 0 now defmod, then device product secret each */
    argv = ngx_palloc(r->pool, (5 + 3 * n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (5 + 3 * n) * sizeof(size_t));
    now = (const char *) ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
    if (argv == NULL || argvlen == NULL || now == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    list = json_array();
    add->answer->json = list;
    if (list == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ota_check_init(&c, 1);
    argc = 5;
    ngx_str_null(&first);

    for (i = 0; i < n; i++) {
        item = add->single ? body : json_array_get(body, i);

        if (!json_is_object(item)) {
            (void) ota_check_fail(&c, "each device is a JSON object");

        } else if (ota_check_fields(&c, item, fields, v) == 0
                   && ota_check_device(&c, v[0], v[1], v[2]) == 0)
        {
            c.msg[0] = '\0';
        }

        if (c.msg[0] != '\0') {
            if (!add->single) {
                char  msg[OTA_CHECK_MSG_MAX + 32];

                ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                             "device [%uz]: %s%Z", i, c.msg);
                ngx_cpystrn((u_char *) c.msg, (u_char *) msg,
                            sizeof(c.msg));
            }

            ngx_ota_admin_refused(r, add->action, first.len ? &first : NULL,
                                  NGX_HTTP_BAD_REQUEST, c.msg);
            return;
        }

        if (v[2] == NULL) {
            /* a new secret: 32 random bytes in hex, as otactl makes it */
            p = ngx_pnalloc(r->pool, 2 * OTA_SECRET_BYTES + 1);
            if (p == NULL || RAND_bytes(rnd, OTA_SECRET_BYTES) != 1) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            *ngx_hex_dump(p, rnd, OTA_SECRET_BYTES) = '\0';
            v[2] = (const char *) p;
        }

        if (i == 0) {
            ngx_ota_add_str(&first, v[0]);
        }

        out = json_pack("{s:s, s:s, s:s}", "device", v[0], "product", v[1],
                        "secret", v[2]);
        if (out == NULL || json_array_append_new(list, out) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_ota_add_arg(argv, argvlen, &argc, v[0]);
        ngx_ota_add_arg(argv, argvlen, &argc, v[1]);
        ngx_ota_add_arg(argv, argvlen, &argc, v[2]);
    }

    /* the audit names the first device and how many came with it */
    if (n == 1) {
        add->object = first;

    } else {
        add->object.data = ngx_pnalloc(r->pool, first.len + 32);
        if (add->object.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        add->object.len = ngx_sprintf(add->object.data, "%V (and %uz more)",
                                      &first, n - 1)
                          - add->object.data;
    }

    defmod = ota_module_json("", OTA_MODULE_DEFAULT_DESC, ngx_time());
    if (defmod == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    *ngx_sprintf((u_char *) now, "%T", ngx_time()) = '\0';

    head = 0;
    ngx_ota_add_arg(argv, argvlen, &head, "EVAL");
    ngx_ota_add_arg(argv, argvlen, &head, ngx_ota_admin_lua_device_add);
    ngx_ota_add_arg(argv, argvlen, &head, "0");
    ngx_ota_add_arg(argv, argvlen, &head, now);
    ngx_ota_add_arg(argv, argvlen, &head, defmod);

    /* hiredis copies the vector at once: defmod may go */
    /* the body handler holds the request until the reply finalizes it */
    (void) ngx_ota_admin_send_argv(r, ngx_ota_add_reply, add, add->action,
                                   &add->object, argc, argv, argvlen);
    free(defmod);
}


/* ---- POST modules ------------------------------------------------------- */

ngx_int_t
ngx_ota_admin_modules_add(ngx_http_request_t *r)
{
    return ngx_ota_read_json_body(r, ngx_ota_modules_body);
}


static void
ngx_ota_modules_body(ngx_http_request_t *r, json_t *body)
{
    static const char *const  fields[] = { "module", "product", "alias",
                                           "desc", NULL };

    int              argc;
    char            *js, *defmod;
    size_t           argvlen[7];
    const char      *v[4], *argv[7];
    ota_check_t      c;
    ngx_ota_add_t   *add;

    add = ngx_ota_add_start(r, body, OTA_ACT_MODULE_ADD);
    if (add == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ota_check_init(&c, 1);

    if (ota_check_fields(&c, body, fields, v) != 0
        || ota_check_module(&c, v[0], v[1], v[2], v[3]) != 0)
    {
        ngx_ota_admin_refused(r, add->action, NULL, NGX_HTTP_BAD_REQUEST,
                              c.msg);
        return;
    }

    ngx_ota_add_str(&add->name, v[0]);
    ngx_ota_add_str(&add->product, v[1]);

    /* "<product>/<module>" */
    add->object.data = ngx_pnalloc(r->pool, add->product.len + 1
                                            + add->name.len);
    if (add->object.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    add->object.len = ngx_sprintf(add->object.data, "%V/%V", &add->product,
                                  &add->name)
                      - add->object.data;

    add->answer->json = json_pack("{s:s, s:s, s:s, s:s}", "product", v[1],
                                  "module", v[0], "alias", v[2] ? v[2] : "",
                                  "desc", v[3] ? v[3] : "");
    if (add->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    js = ota_module_json(v[2], v[3], ngx_time());
    defmod = ota_module_json("", OTA_MODULE_DEFAULT_DESC, ngx_time());

    if (js == NULL || defmod == NULL) {
        free(js);
        free(defmod);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* EVAL <script> 0 product module module_json default_module_json */
    argc = 0;
    ngx_ota_add_arg(argv, argvlen, &argc, "EVAL");
    ngx_ota_add_arg(argv, argvlen, &argc, ngx_ota_admin_lua_module_add);
    ngx_ota_add_arg(argv, argvlen, &argc, "0");
    ngx_ota_add_arg(argv, argvlen, &argc, v[1]);
    ngx_ota_add_arg(argv, argvlen, &argc, v[0]);
    ngx_ota_add_arg(argv, argvlen, &argc, js);
    ngx_ota_add_arg(argv, argvlen, &argc, defmod);

    /* the body handler holds the request until the reply finalizes it */
    (void) ngx_ota_admin_send_argv(r, ngx_ota_add_reply, add, add->action,
                                   &add->object, argc, argv, argvlen);

    free(js);
    free(defmod);
}


/* ---- the scripts' answers ----------------------------------------------- */

static void
ngx_ota_add_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t              *ans;
    redisReply          *e0;
    ngx_ota_add_t       *add = call->data;
    ngx_http_request_t  *r = call->request;
    char                 msg[OTA_CHECK_MSG_MAX];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_ota_admin_redis_error(r, add->action, &add->object, reply);
        return;
    }

    e0 = reply->element[0];

#define ngx_ota_el(i)                                                        \
    ((int) (reply->elements > (i) && reply->element[i]->str                  \
            ? reply->element[i]->len : 0)),                                  \
    (reply->elements > (i) && reply->element[i]->str                         \
     ? reply->element[i]->str : "")

    if (e0->len == 6 && ngx_strncmp(e0->str, "exists", 6) == 0) {
        if (add->devices) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "device %*s already exists (product %*s)%Z",
                         ngx_ota_el(1), ngx_ota_el(2));
        } else {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "module %V already exists in product %V%Z",
                         &add->name, &add->product);
        }

        ngx_ota_admin_refused(r, add->action, &add->object,
                              NGX_HTTP_CONFLICT, msg);
        return;
    }

    if (e0->len == 5 && ngx_strncmp(e0->str, "twice", 5) == 0) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "device %*s is named twice in the list%Z",
                     ngx_ota_el(1));
        ngx_ota_admin_refused(r, add->action, &add->object,
                              NGX_HTTP_BAD_REQUEST, msg);
        return;
    }

#undef ngx_ota_el

    ans = add->answer->json;

    if (add->devices) {
        /* one device: its object; a list: {"devices": [...], "count"} */
        if (add->single) {
            add->answer->json = json_incref(json_array_get(ans, 0));
            json_decref(ans);

        } else {
            add->answer->json = json_pack("{s:o, s:I}", "devices", ans,
                                          "count",
                                          (json_int_t) json_array_size(ans));
        }

    } else if (json_object_set_new(ans, "new_product",
                                   json_boolean(reply->elements > 1
                                       && reply->element[1]->len == 1
                                       && reply->element[1]->str[0] == '1')))
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (add->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: %s \"%V\" done", add->action,
                   &add->object);

    ngx_ota_admin_done(r, add->action, &add->object, NGX_HTTP_CREATED,
                       add->answer);
}
