/*
 * ngx_ota_redis_sub.h: the process's one Redis subscription (a second
 * hiredis async connection, on nginx events like the first).
 *
 * - Subscribes to one channel; every message goes to the message handler,
 *   and the state handler hears when the subscription is in place (after
 *   every reconnect too, so a caller can re-check what it may have missed)
 *   and when it is lost.
 * - Connects where the command connection goes (ngx_ota_redis_target():
 *   with Sentinel, the master it last found; nothing is tried while none
 *   is known), with AUTH first; a replica would do as well, since Redis
 *   sends a PUBLISH to the replicas too.
 * - Reconnects at once, then backs off from 100 ms to 5 s on nginx timers.
 */

#ifndef NGX_OTA_REDIS_SUB_H
#define NGX_OTA_REDIS_SUB_H

#include "ngx_ota_core.h"


typedef void (*ngx_ota_sub_message_pt)(u_char *data, size_t len);
typedef void (*ngx_ota_sub_state_pt)(ngx_uint_t subscribed);


/* channel: NUL-terminated, static */
ngx_int_t ngx_ota_sub_init_process(ngx_cycle_t *cycle, const char *channel,
    ngx_ota_sub_message_pt message, ngx_ota_sub_state_pt state);
void ngx_ota_sub_exit_process(ngx_cycle_t *cycle);

/* 1 while subscribed */
ngx_uint_t ngx_ota_sub_ready(void);

#endif /* NGX_OTA_REDIS_SUB_H */
