/*
 * ngx_ota_admin.c: the read-only admin API and Prometheus metrics.
 * (metrics only until the admin API issue lands)
 */

#include "ngx_ota_module.h"


static ngx_int_t
ngx_ota_admin_metrics(ngx_http_request_t *r)
{
    u_char      *buf, *p;
    size_t       size;
    ngx_uint_t   i;
    ngx_str_t    type = ngx_string("text/plain; version=0.0.4");

    size = NGX_OTA_M_COUNT * 128;
    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;
    for (i = 0; i < NGX_OTA_M_COUNT; i++) {
        p = ngx_snprintf(p, buf + size - p, "# TYPE %s counter\n%s %A\n",
                         ngx_ota_metric_name(i), ngx_ota_metric_name(i),
                         ngx_ota_metric_get(i));
    }

    return ngx_ota_send_text(r, NGX_HTTP_OK, &type, buf, p - buf);
}


ngx_int_t
ngx_ota_admin_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    if (path->len == 7 && ngx_strncmp(path->data, "metrics", 7) == 0) {
        return ngx_ota_admin_metrics(r);
    }

    return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND, "no such admin resource");
}
