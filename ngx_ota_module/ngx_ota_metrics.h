/*
 * ngx_ota_metrics.h: per-node counters in shared memory, for the admin
 * API's metrics (ngx_ota_metrics.c).
 */

#ifndef NGX_OTA_METRICS_H
#define NGX_OTA_METRICS_H

#include "ngx_ota_core.h"


typedef enum {
    NGX_OTA_M_DOWNLOADS = 0,        /* download responses started */
    NGX_OTA_M_DOWNLOAD_BYTES,       /* body bytes sent by downloads */
    NGX_OTA_M_AUTH_OK,
    NGX_OTA_M_AUTH_FAILURES,        /* every 401/403 the module answers */
    NGX_OTA_M_API_REQUESTS,
    NGX_OTA_M_REDIS_ERRORS,         /* failed or timed out Redis calls */
    NGX_OTA_M_REDIS_RECONNECTS,
    NGX_OTA_M_PROGRESS_WRITES,      /* coverage updates sent to Redis */
    NGX_OTA_M_PROGRESS_DROPPED,     /* ranges dropped: offline buffer full */
    NGX_OTA_M_EVENTS,               /* stream events appended */
    NGX_OTA_M_PROGRESS_CAPPED,      /* ranges not stored: the device's
                                       coverage set was full */
    NGX_OTA_M_UNACKED_BYTES,        /* body bytes sent, never acknowledged
                                       by the client: not counted */
    NGX_OTA_M_COUNT
} ngx_ota_metric_e;

void ngx_ota_metric_add(ngx_ota_metric_e m, ngx_atomic_int_t n);
ngx_atomic_int_t ngx_ota_metric_get(ngx_ota_metric_e m);
const char *ngx_ota_metric_name(ngx_ota_metric_e m);
ngx_int_t ngx_ota_metrics_zone(ngx_conf_t *cf, ngx_ota_main_conf_t *omcf);

#endif /* NGX_OTA_METRICS_H */
