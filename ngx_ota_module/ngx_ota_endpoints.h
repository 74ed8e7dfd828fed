/*
 * ngx_ota_endpoints.h: the module's request entry points, each in its own
 * file, called by the dispatch of ngx_ota_module.c (device API, downloads,
 * the admin API's handler) and of ngx_ota_admin.c (the admin endpoints).
 * A header of its own so that the dispatch depends on the endpoints and
 * not the other way round.
 */

#ifndef NGX_OTA_ENDPOINTS_H
#define NGX_OTA_ENDPOINTS_H

#include "ngx_ota_core.h"


/* ---- ngx_ota_module.c dispatches -------------------------------------- */

/* id: package id; file: file name inside the package, empty for the first */
ngx_int_t ngx_ota_download_handler(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *file);
ngx_int_t ngx_ota_api_auth(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_inform(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_upgrade(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_progress(ngx_http_request_t *r);
/* path: the URI below the admin location, without the leading '/';
 * reads (GET, HEAD) and writes (POST, PUT) */
ngx_int_t ngx_ota_admin_handler(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_ota_admin_write_handler(ngx_http_request_t *r,
    ngx_str_t *path);


/* ---- ngx_ota_admin.c dispatches ---------------------------------------- */

ngx_int_t ngx_ota_admin_batches(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_batch(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_batch_devices(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_batch_histogram(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_ota_admin_packages(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_package(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_versions(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_products(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_product(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_devices(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_device(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_config_get(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_audit_read(ngx_http_request_t *r);


/* ---- ngx_ota_admin_write.c dispatches (operator tokens only) ---------- */

ngx_int_t ngx_ota_admin_devices_add(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_modules_add(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_product_set(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_package_manifest(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_ota_admin_package_signature(ngx_http_request_t *r,
    ngx_str_t *id);
/* multipart/form-data, streamed to the store (ngx_ota_admin_upload.c) */
ngx_int_t ngx_ota_admin_package_upload(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_config_set(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_batch_create(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_package_diff(ngx_http_request_t *r, ngx_str_t *to);
/* action: OTA_ACT_BATCH_PAUSE, _RESUME or _CANCEL (include/ota_audit.h) */
ngx_int_t ngx_ota_admin_batch_op(ngx_http_request_t *r, ngx_str_t *id,
    const char *action);

#endif /* NGX_OTA_ENDPOINTS_H */
