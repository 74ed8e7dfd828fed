/*
 * ngx_ota_progress.h: exact byte coverage of downloads into Redis
 * (ngx_ota_progress.c; docs/download.md).
 */

#ifndef NGX_OTA_PROGRESS_H
#define NGX_OTA_PROGRESS_H

#include "ngx_ota_core.h"
#include "ngx_ota_package.h"


/*
 * Starts counting the body of r (a download of file of pkg by device)
 * into the device's coverage; call right before ngx_http_send_header().
 * Failures only cost the progress of this request (logged, counted).
 */
void ngx_ota_progress_start(ngx_http_request_t *r, ngx_str_t *device,
    ngx_ota_pkg_t *pkg, ngx_ota_pkg_file_t *file);

/* its per-process state, and the body filter */
ngx_int_t ngx_ota_progress_init_process(ngx_cycle_t *cycle);
void ngx_ota_progress_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ota_progress_filter_init(ngx_conf_t *cf);

#endif /* NGX_OTA_PROGRESS_H */
