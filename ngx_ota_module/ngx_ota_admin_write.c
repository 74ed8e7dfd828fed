/*
 * ngx_ota_admin_write.c: the dispatch of the admin API's writes (POST and
 * PUT; the token was checked by ngx_ota_module.c).  Only operator tokens
 * write: a viewer's write is refused with 403 (and audited) once the
 * resource is known, so an unknown path is still a 404.
 *
 *   POST devices                     ngx_ota_admin_add.c
 *   POST modules                     ngx_ota_admin_add.c
 *   POST packages (multipart upload) ngx_ota_admin_upload.c
 *   PUT  config                      ngx_ota_admin_config.c
 *   PUT  products/<p>                ngx_ota_admin_product_set.c
 *   POST packages/<id>/signature     ngx_ota_admin_sign.c
 *   POST packages/<id>/diffs         ngx_ota_admin_jobs.c
 *   POST batches                     ngx_ota_admin_jobs.c
 *   POST batches/<id>/pause|resume|cancel
 *                                    ngx_ota_admin_jobs.c
 *
 * Every answer to a write, refusals too, is audited
 * (ngx_ota_admin_audit.c).
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"

#include "ota_audit.h"
#include "ota_batch_create.h"
#include "ota_names.h"


/* a refusal before the body is read: the body is discarded first, so the
 * connection can carry the next request */
static ngx_int_t
ngx_ota_write_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_ota_send_error(r, status, msg);
}


ngx_int_t
ngx_ota_admin_write_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char         *slash;
    ngx_str_t       rest, id, verb;
    const char     *action, *put;
    ngx_uint_t      what;
    ngx_ota_ctx_t  *ctx;

    enum { DEVICES = 0, MODULES, PACKAGES, CONFIG, BATCH_CREATE, PRODUCT,
           SIGNATURE, PACKAGE_DIFF, BATCH_OP };


    rest = *path;

    while (rest.len && rest.data[rest.len - 1] == '/') {
        rest.len--;
    }

    ngx_str_null(&id);
    ngx_str_null(&verb);
    put = NULL;

    what = BATCH_OP;

    if (ngx_ota_str_is(rest, "devices")) {
        action = OTA_ACT_DEVICE_ADD;
        what = DEVICES;

    } else if (ngx_ota_str_is(rest, "modules")) {
        action = OTA_ACT_MODULE_ADD;
        what = MODULES;

    } else if (ngx_ota_str_is(rest, "config")) {
        action = OTA_ACT_CONFIG_SET;
        what = CONFIG;
        put = "GET, HEAD, PUT";

    } else if (rest.len > 9 && ngx_strncmp(rest.data, "products/", 9) == 0
               && ngx_strlchr(rest.data + 9, rest.data + rest.len, '/')
                  == NULL)
    {
        id.data = rest.data + 9;
        id.len = rest.len - 9;
        action = OTA_ACT_PRODUCT_SET;
        what = PRODUCT;
        put = "GET, HEAD, PUT";

    } else if (rest.len > 19 && ngx_strncmp(rest.data, "packages/", 9) == 0
               && ngx_strncmp(rest.data + rest.len - 10, "/signature", 10)
                  == 0)
    {
        id.data = rest.data + 9;
        id.len = rest.len - 19;
        action = OTA_ACT_PACKAGE_SIGN;
        what = SIGNATURE;

    } else if (rest.len > 9 + 6 && ngx_strncmp(rest.data, "packages/", 9) == 0
               && ngx_strncmp(rest.data + rest.len - 6, "/diffs", 6) == 0)
    {
        id.data = rest.data + 9;
        id.len = rest.len - 9 - 6;
        action = OTA_ACT_PACKAGE_DIFF;
        what = PACKAGE_DIFF;

    } else if (rest.len > 8 && ngx_strncmp(rest.data, "batches/", 8) == 0
               && (slash = ngx_strlchr(rest.data + 8, rest.data + rest.len,
                                       '/'))
                  != NULL)
    {
        id.data = rest.data + 8;
        id.len = slash - id.data;
        verb.data = slash + 1;
        verb.len = rest.data + rest.len - verb.data;

        if (ngx_ota_str_is(verb, "pause")) {
            action = OTA_ACT_BATCH_PAUSE;
        } else if (ngx_ota_str_is(verb, "resume")) {
            action = OTA_ACT_BATCH_RESUME;
        } else if (ngx_ota_str_is(verb, "cancel")) {
            action = OTA_ACT_BATCH_CANCEL;
        } else {
            return ngx_ota_write_refuse(r, NGX_HTTP_NOT_FOUND,
                                      "no such batch action: use "
                                      "batches/<id>/pause, resume or cancel");
        }

    } else if (ngx_ota_str_is(rest, "batches")) {
        action = OTA_ACT_BATCH_CREATE;
        what = BATCH_CREATE;

    } else if (ngx_ota_str_is(rest, "packages")) {
        action = OTA_ACT_PACKAGE_ADD;
        what = PACKAGES;

    } else if (ngx_ota_str_is(rest, "metrics")
               || ngx_ota_str_is(rest, "versions")
               || ngx_ota_str_is(rest, "products")
               || ngx_ota_str_is(rest, "audit")
               || ngx_ota_str_is(rest, "whoami")
               || (rest.len > 8 && ngx_strncmp(rest.data, "batches/", 8) == 0)
               || (rest.len > 9
                   && ngx_strncmp(rest.data, "packages/", 9) == 0)
               || (rest.len > 8
                   && ngx_strncmp(rest.data, "devices/", 8) == 0)
               || (rest.len > 9
                   && ngx_strncmp(rest.data, "products/", 9) == 0))
    {
        (void) ngx_http_discard_request_body(r);
        return ngx_ota_method_not_allowed(r, "GET, HEAD");

    } else {
        return ngx_ota_write_refuse(r, NGX_HTTP_NOT_FOUND,
                                  "no such admin resource to write: use "
                                  "POST devices, POST modules, POST "
                                  "packages, POST packages/<id>/signature, "
                                  "POST packages/<id>/diffs, "
                                  "PUT config, PUT products/<p>, "
                                  "POST batches or POST "
                                  "batches/<id>/pause|resume|cancel");
    }


    /* PUT config, POST everything else */
    if ((put != NULL) != (r->method == NGX_HTTP_PUT)) {
        (void) ngx_http_discard_request_body(r);
        return ngx_ota_method_not_allowed(r, put ? put : "POST");
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    if (what == PACKAGES && ctx->admin->role != NGX_OTA_ROLE_OPERATOR) {
        /* an upload refused before its body: no "100 Continue", so the
         * client does not send it, and the connection closes after */
        r->expect_tested = 1;
        r->keepalive = 0;
    }

    if (ctx->admin->role != NGX_OTA_ROLE_OPERATOR
        || ((what == BATCH_OP || what == PACKAGE_DIFF)
            && !ota_name_id((char *) id.data, id.len)))
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->admin->role != NGX_OTA_ROLE_OPERATOR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ota: admin: viewer token \"%V\" refused for %s",
                      &ctx->admin->name, action);

        return ngx_ota_admin_refuse(r, action, id.len ? &id : NULL,
                                    NGX_HTTP_FORBIDDEN,
                                    "this token is a viewer's: writes need "
                                    "an operator token (ota_admin_token "
                                    "... role=operator)");
    }

    ctx->admin_action = action;
    ctx->body_refused = ngx_ota_admin_body_refused;

    switch (what) {
    case DEVICES:
        return ngx_ota_admin_devices_add(r);
    case MODULES:
        return ngx_ota_admin_modules_add(r);
    case PACKAGES:
        return ngx_ota_admin_package_upload(r);
    case CONFIG:
        return ngx_ota_admin_config_set(r);
    case BATCH_CREATE:
        return ngx_ota_admin_batch_create(r);
    case PACKAGE_DIFF:
        if (!ota_name_id((char *) id.data, id.len)) {
            return ngx_ota_admin_refuse(r, action, NULL, NGX_HTTP_BAD_REQUEST,
                                        "not a valid package id "
                                        "([A-Za-z0-9_-]{1,64})");
        }
        return ngx_ota_admin_package_diff(r, &id);
    case PRODUCT:
        if (!ota_name_product((char *) id.data, id.len)) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_ota_admin_refuse(r, action, NULL, NGX_HTTP_BAD_REQUEST,
                                        "not a valid product name "
                                        "([A-Za-z0-9_.:-]{1,64}, not "
                                        "starting with '.')");
        }

        return ngx_ota_admin_product_set(r, &id);
    case SIGNATURE:
        if (!ota_name_id((char *) id.data, id.len)) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_ota_admin_refuse(r, action, NULL, NGX_HTTP_BAD_REQUEST,
                                        "not a valid package id "
                                        "([A-Za-z0-9_-]{1,64})");
        }

        return ngx_ota_admin_package_signature(r, &id);
    }

    if (!ota_name_id((char *) id.data, id.len)) {
        return ngx_ota_admin_refuse(r, action, NULL, NGX_HTTP_BAD_REQUEST,
                                    "not a valid batch id "
                                    "([A-Za-z0-9_-]{1,64})");
    }

    return ngx_ota_admin_batch_op(r, &id, action);
}
