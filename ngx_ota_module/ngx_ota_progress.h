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

/* The progress tick for the held notified events (ngx_ota_notified.c):
 * arm takes an interval seen (0: none; the smallest wins) and arms the
 * tick; ticks counts them; carry says whether this process's track of
 * (device, package) is about to write a download event (its merge is in
 * flight, or its pending ranges are written at once for it). */
void ngx_ota_progress_arm(ngx_msec_t interval);
ngx_uint_t ngx_ota_progress_ticks(void);
ngx_uint_t ngx_ota_progress_carry(const char *device, const char *package);

/* its per-process state, and the body filter */
ngx_int_t ngx_ota_progress_init_process(ngx_cycle_t *cycle);
void ngx_ota_progress_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ota_progress_filter_init(ngx_conf_t *cf);

#endif /* NGX_OTA_PROGRESS_H */
