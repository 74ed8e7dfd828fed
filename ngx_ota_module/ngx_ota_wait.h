/*
 * ngx_ota_wait.h: upgrade requests that wait for an offer (GET
 * upgrade?wait=<s>, the long poll of docs/device-protocol.md).
 *
 * The endpoint (ngx_ota_api_upgrade.c) registers a request before its
 * first check, so a notice that comes during the check is not lost, and
 * calls ngx_ota_wait_none() where it would answer 204.  The request is
 * then held without any Redis call until a message of the wake channel
 * (include/ota_wake.h) names its device or its product's module, or the
 * subscription comes back after a loss: then the endpoint's check runs
 * again (at most NGX_OTA_WAIT_CHECKS of them in flight per process).
 *
 * A held request ends with
 *   204  its wait is over, or nginx reloads or stops (at once);
 *   401  its token expired;
 *   503  the subscription is lost for longer than ota_redis_timeout
 *        (with Retry-After, as every 503 of the module);
 * and a client that goes away is dropped at once (nginx's own
 * ngx_http_test_reading).
 */

#ifndef NGX_OTA_WAIT_H
#define NGX_OTA_WAIT_H

#include "ngx_ota_core.h"


/* the endpoint's check: answers r, or calls ngx_ota_wait_none(r) */
typedef void (*ngx_ota_wait_check_pt)(ngx_http_request_t *r);


/*
 * Registers r as waiting for an offer of (device, module) of product for
 * wait ms, or until the token expires (unix s).  The strings must live as
 * long as the request.  NGX_OK: waiting (the caller runs its first check
 * now); NGX_DECLINED: do not wait (nginx is exiting), answer as without
 * wait; NGX_BUSY: the subscription is down, answer 503; NGX_ERROR: no
 * memory.
 */
ngx_int_t ngx_ota_wait_begin(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, ngx_str_t *module, ngx_msec_t wait,
    time_t token_expires, ngx_ota_wait_check_pt check);

/*
 * The check found no offer.  NGX_OK: r is held or answered here;
 * NGX_DECLINED: r is not waiting, the caller answers 204.
 */
ngx_int_t ngx_ota_wait_none(ngx_http_request_t *r);

/* Per-process lifecycle, called by ngx_ota_module.c. */
ngx_int_t ngx_ota_wait_init_process(ngx_cycle_t *cycle);
void ngx_ota_wait_exit_process(ngx_cycle_t *cycle);

#endif /* NGX_OTA_WAIT_H */
