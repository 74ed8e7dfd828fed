/*
 * ngx_ota_admin_devices.c: GET <admin>/devices?product=<p>&cursor=&limit=,
 * a product's devices with their current versions (otactl device list).
 *
 * A product's devices are a SET, so a page is one SSCAN step: about
 * ?limit= devices (1..1000, default 100) and the cursor to go on from
 * ("0" once the whole set was walked), then one HGETALL of each device's
 * versions in the same pipeline.  Each request is bounded; a device may
 * come twice over a whole walk (SSCAN's guarantee).
 *
 *   {"product":"sedan","cursor":"0","limit":100,
 *    "devices":[{"device":"car-0001","versions":{"ECU":"1.0.0"}}, ...]}
 *
 * 400 without a valid product or with a cursor that is not a number, 404
 * for a product that does not exist.
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ota_keys.h"
#include "ota_names.h"


/* replies before the devices' versions */
enum {
    NGX_OTA_DEVS_EXISTS = 0,            /* SISMEMBER products */
    NGX_OTA_DEVS_SCAN,                  /* SSCAN the product's devices */
    NGX_OTA_DEVS_FIRST
};


static void ngx_ota_admin_devices_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_devices(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              product, cursor, key;
    ngx_uint_t             i;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "product", 7, &product) != NGX_OK
        || !ota_name_product((char *) product.data, product.len))
    {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"product\" is missing or not a valid "
                                  "product name (devices?product=<p>)");
    }

    if (ngx_ota_admin_arg_int(r, "limit", NGX_OTA_PAGE_DEFAULT,
                              NGX_OTA_PAGE_MAX, &a->limit)
        != NGX_OK
        || a->limit == 0)
    {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"limit\" must be a number from 1 to "
                                  "1000");
    }

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &cursor) != NGX_OK) {
        ngx_str_set(&cursor, "0");
    }

    for (i = 0; i < cursor.len; i++) {
        if (cursor.data[i] < '0' || cursor.data[i] > '9') {
            break;
        }
    }

    if (cursor.len == 0 || cursor.len > 20 || i < cursor.len) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"cursor\" must be the number a page "
                                  "answered (0 to start)");
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_DEVICES, &product, NULL,
                    NULL) == NULL
        || json_object_set_new(a->obj, "product",
                               json_stringn((char *) product.data,
                                            product.len))
           != 0
        || json_object_set_new(a->obj, "limit", json_integer(a->limit)) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: devices of \"%V\" from %V, %i",
                   &product, &cursor, a->limit);

    call = ngx_ota_redis_call(r, ngx_ota_admin_devices_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "SISMEMBER %s %b", OTA_KEY_PRODUCTS,
                           product.data, product.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "SSCAN %b %b COUNT %d", key.data,
                               key.len, cursor.data, cursor.len,
                               (int) a->limit);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_devices_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t              *item, *v;
    ngx_int_t            rc;
    ngx_str_t            name, key;
    ngx_uint_t           k;
    redisReply          *e, *names;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin devices");
        return;
    }

    switch (call->index) {

    case NGX_OTA_DEVS_EXISTS:
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such product");
        }
        return;

    case NGX_OTA_DEVS_SCAN:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                               "unexpected reply from Redis");
            return;
        }

        a->list = json_array();

        if (a->list == NULL
            || json_object_set_new(a->obj, "devices", a->list) != 0
            || json_object_set_new(a->obj, "cursor",
                                   json_stringn(reply->element[0]->str,
                                                reply->element[0]->len))
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        names = reply->element[1];
        rc = NGX_DONE;

        /* one HGETALL of versions per device, in the SSCAN's order */
        for (k = 0; k < names->elements; k++) {
            e = names->element[k];

            if (e->type != REDIS_REPLY_STRING
                || !ota_name_device(e->str, e->len))
            {
                continue;
            }

            name.data = (u_char *) e->str;
            name.len = e->len;

            item = json_pack("{s:s%}", "device", e->str, (size_t) e->len);

            if (item == NULL || json_array_append_new(a->list, item) != 0
                || ngx_ota_key(r->pool, &key, OTA_KEY_DEVICE_VERSIONS, &name,
                               NULL, NULL) == NULL)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
            if (rc != NGX_OK) {
                break;
            }
        }

        a->first = NGX_OTA_DEVS_FIRST;
        a->items = json_array_size(a->list);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota admin: devices page of %ui", a->items);

        ngx_ota_admin_queued(r, a, rc);
        return;

    default:
        k = call->index - a->first;
        item = json_array_get(a->list, k);
        v = ngx_ota_admin_module_map(reply);

        if (item == NULL || v == NULL
            || json_object_set_new(item, "versions", v) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (k + 1 == a->items) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        }
        return;
    }
}
