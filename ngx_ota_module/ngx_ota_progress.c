/*
 * ngx_ota_progress.c: exact byte coverage of downloads into Redis.
 * (placeholder until the download issue lands)
 */

#include "ngx_ota_module.h"


ngx_int_t
ngx_ota_progress_init_process(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_ota_progress_exit_process(ngx_cycle_t *cycle)
{
}


ngx_int_t
ngx_ota_progress_filter_init(ngx_conf_t *cf)
{
    return NGX_OK;
}
