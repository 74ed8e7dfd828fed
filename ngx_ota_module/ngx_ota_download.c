/*
 * ngx_ota_download.c: GET /ota/v1/packages/<id>[/<file>].
 * (placeholder until the download issue lands)
 */

#include "ngx_ota_module.h"


ngx_int_t
ngx_ota_download_handler(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *file)
{
    return ngx_ota_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                              "downloads are not implemented yet");
}
