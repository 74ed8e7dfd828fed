/*
 * ngx_ota_api.c: the device JSON API: auth, inform, upgrade, progress.
 * (placeholder until the device API issue lands)
 */

#include "ngx_ota_module.h"


ngx_int_t
ngx_ota_api_auth(ngx_http_request_t *r)
{
    return ngx_ota_send_error(r, NGX_HTTP_NOT_IMPLEMENTED, "not implemented");
}


ngx_int_t
ngx_ota_api_inform(ngx_http_request_t *r)
{
    return ngx_ota_send_error(r, NGX_HTTP_NOT_IMPLEMENTED, "not implemented");
}


ngx_int_t
ngx_ota_api_upgrade(ngx_http_request_t *r)
{
    return ngx_ota_send_error(r, NGX_HTTP_NOT_IMPLEMENTED, "not implemented");
}


ngx_int_t
ngx_ota_api_progress(ngx_http_request_t *r)
{
    return ngx_ota_send_error(r, NGX_HTTP_NOT_IMPLEMENTED, "not implemented");
}
