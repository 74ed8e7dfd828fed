/*
 * ngx_ota_metrics.c: node-wide counters for GET <admin>/metrics, kept in a
 * small shared memory zone so every worker process adds to the same numbers
 * without Redis round trips.
 */

#include "ngx_ota_metrics.h"
#include "ngx_ota_core.h"

#include "ota_request.h"


static ngx_atomic_t  *ngx_ota_metrics;      /* NGX_OTA_M_COUNT counters */


static const char  *ngx_ota_metric_names[NGX_OTA_M_COUNT] = {
    "ota_downloads_total",
    "ota_download_bytes_total",
    "ota_auth_ok_total",
    "ota_auth_failures_total",
    "ota_api_requests_total",
    "ota_redis_errors_total",
    "ota_redis_reconnects_total",
    "ota_progress_writes_total",
    "ota_progress_dropped_total",
    "ota_events_total",
    "ota_progress_capped_total",
    "ota_download_unacked_bytes_total"
};


static ngx_int_t
ngx_ota_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {                              /* reload: keep the counts */
        shm_zone->data = data;
        ngx_ota_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_ota_metrics = shpool->data;
        return NGX_OK;
    }

    ngx_ota_metrics = ngx_slab_calloc(shpool,
                                      sizeof(ngx_atomic_t) * NGX_OTA_M_COUNT);
    if (ngx_ota_metrics == NULL) {
        return NGX_ERROR;
    }

    shpool->data = (void *) ngx_ota_metrics;
    shm_zone->data = (void *) ngx_ota_metrics;

    return NGX_OK;
}


ngx_int_t
ngx_ota_metrics_zone(ngx_conf_t *cf, ngx_ota_main_conf_t *omcf)
{
    ngx_str_t  name = ngx_string("ota_metrics");

    omcf->metrics_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                               &ngx_ota_module);
    if (omcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    omcf->metrics_zone->init = ngx_ota_metrics_init_zone;

    return NGX_OK;
}


void
ngx_ota_metric_add(ngx_ota_metric_e m, ngx_atomic_int_t n)
{
    if (ngx_ota_metrics != NULL && m < NGX_OTA_M_COUNT) {
        (void) ngx_atomic_fetch_add(&ngx_ota_metrics[m], n);
    }
}


ngx_atomic_int_t
ngx_ota_metric_get(ngx_ota_metric_e m)
{
    if (ngx_ota_metrics == NULL || m >= NGX_OTA_M_COUNT) {
        return 0;
    }
    return (ngx_atomic_int_t) ngx_ota_metrics[m];
}


const char *
ngx_ota_metric_name(ngx_ota_metric_e m)
{
    return m < NGX_OTA_M_COUNT ? ngx_ota_metric_names[m] : "";
}
