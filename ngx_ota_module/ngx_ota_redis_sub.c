/*
 * ngx_ota_redis_sub.c: the process's one subscription (ngx_ota_redis_sub.h).
 *
 * A subscribed Redis connection takes no other command, so this is a
 * connection of its own beside ngx_ota_redis.c's: one per worker process,
 * whatever the number of requests that wait on it.
 */

#include "ngx_ota_redis_sub.h"
#include "ngx_ota_core.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include <hiredis/async.h>


#define NGX_OTA_SUB_BACKOFF_MIN  100
#define NGX_OTA_SUB_BACKOFF_MAX  5000


static void ngx_ota_sub_connect(void);
static void ngx_ota_sub_schedule(ngx_msec_t delay);


static redisAsyncContext       *ngx_ota_sub_ac;
static ngx_uint_t               ngx_ota_sub_subscribed;
static ngx_uint_t               ngx_ota_sub_exiting;
static ngx_uint_t               ngx_ota_sub_failures;
static ngx_msec_t               ngx_ota_sub_backoff;
static ngx_event_t              ngx_ota_sub_ev;
static ngx_log_t               *ngx_ota_sub_log;
static ngx_ota_main_conf_t     *ngx_ota_sub_omcf;
static const char              *ngx_ota_sub_channel;
static ngx_ota_sub_message_pt   ngx_ota_sub_message;
static ngx_ota_sub_state_pt     ngx_ota_sub_state;


/* the connection ended, whatever the way: tell the waiters, try again */
static void
ngx_ota_sub_lost(void)
{
    ngx_uint_t  was = ngx_ota_sub_subscribed;

    ngx_ota_sub_subscribed = 0;

    if (ngx_ota_sub_exiting) {
        return;
    }

    if (was) {
        ngx_ota_sub_state(0);
    }

    /* the first retry at once: a reset connection is often back at once */
    ngx_ota_sub_schedule(ngx_ota_sub_failures++ ? ngx_ota_sub_backoff : 1);
}


static void
ngx_ota_sub_cleanup(void *privdata)
{
    ngx_ota_redis_unwrap(privdata);

    ngx_ota_sub_ac = NULL;
}


static void
ngx_ota_sub_on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_ota_sub_log, 0,
                       "ota sub: connect failed: %s",
                       ac->errstr ? ac->errstr : "?");
        ngx_ota_sub_lost();
    }
}


static void
ngx_ota_sub_on_disconnect(const redisAsyncContext *ac, int status)
{
    if (ngx_ota_sub_subscribed && !ngx_ota_sub_exiting) {
        ngx_log_error(NGX_LOG_WARN, ngx_ota_sub_log, 0,
                      "ota: redis %V: subscription to \"%s\" lost: %s",
                      &ngx_ota_sub_omcf->redis, ngx_ota_sub_channel,
                      ac->errstr ? ac->errstr : "closed");
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
    }

    ngx_ota_sub_lost();
}


/* AUTH's answer: a wrong password is said once, then retried slowly */
static void
ngx_ota_sub_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_ota_sub_log, 0,
                      "ota: redis %V: subscription: %*s",
                      &ngx_ota_sub_omcf->redis, (int) reply->len,
                      reply->str);
        ngx_ota_sub_backoff = NGX_OTA_SUB_BACKOFF_MAX;
        redisAsyncDisconnect(ac);
    }
}


/* the subscription's confirmation, then each message */
static void
ngx_ota_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply = r, *kind, *data;

    if (reply == NULL) {
        return;                         /* gone: the disconnect handles it */
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_ota_sub_log, 0,
                          "ota: redis %V: SUBSCRIBE %s: %*s",
                          &ngx_ota_sub_omcf->redis, ngx_ota_sub_channel,
                          (int) reply->len, reply->str);
            redisAsyncDisconnect(ac);
        }
        return;
    }

    kind = reply->element[0];
    data = reply->element[2];

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0) {
        if (data->type == REDIS_REPLY_STRING) {
            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_ota_sub_log, 0,
                           "ota sub: message of %uz bytes: \"%*s\"",
                           data->len, ngx_min(data->len, 128), data->str);
            ngx_ota_sub_message((u_char *) data->str, data->len);
        }
        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0
        && !ngx_ota_sub_subscribed)
    {
        ngx_ota_sub_subscribed = 1;
        ngx_ota_sub_failures = 0;
        ngx_ota_sub_backoff = NGX_OTA_SUB_BACKOFF_MIN;

        ngx_log_error(NGX_LOG_INFO, ngx_ota_sub_log, 0,
                      "ota: redis %V: subscribed to \"%s\"",
                      &ngx_ota_sub_omcf->redis, ngx_ota_sub_channel);

        ngx_ota_sub_state(1);
    }
}


static void
ngx_ota_sub_connect(void)
{
    int                  port;
    const char          *host, *path;
    redisAsyncContext   *ac;
    ngx_ota_main_conf_t *omcf = ngx_ota_sub_omcf;

    ngx_ota_redis_target(&host, &port, &path);

    if (path != NULL) {
        ac = redisAsyncConnectUnix(path);

    } else if (host != NULL) {
        ac = redisAsyncConnect(host, port);

    } else {
        /* Sentinel has not named the master yet */
        ngx_ota_sub_schedule(ngx_ota_sub_backoff);
        return;
    }

    if (ngx_ota_redis_wrap(ac, "subscription", ngx_ota_sub_log,
                           ngx_ota_sub_cleanup)
        != NGX_OK)
    {
        ngx_ota_sub_lost();
        return;
    }

    ngx_ota_sub_ac = ac;

    /* nothing is owed on a subscription, so no answer timer notices a
     * peer that vanished: TCP keepalive does (a setsockopt, no wait) */
    if (path == NULL) {
        (void) redisEnableKeepAlive(&ac->c);
    }

    (void) redisAsyncSetConnectCallback(ac, ngx_ota_sub_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac, ngx_ota_sub_on_disconnect);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_ota_sub_log, 0,
                   "ota sub: connecting to subscribe to \"%s\"",
                   ngx_ota_sub_channel);

    /* the first command also drives hiredis's non-blocking connect */
    if (omcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_ota_sub_auth, NULL, "AUTH %b",
                                 omcf->redis_password.data,
                                 omcf->redis_password.len);
    }
    (void) redisAsyncCommand(ac, NULL, NULL,
                             "CLIENT SETNAME ota-nginx-wait-%d",
                             (int) ngx_pid);
    (void) redisAsyncCommand(ac, ngx_ota_sub_reply, NULL, "SUBSCRIBE %s",
                             ngx_ota_sub_channel);
}


static void
ngx_ota_sub_schedule(ngx_msec_t delay)
{
    if (ngx_ota_sub_exiting || ngx_ota_sub_ev.timer_set) {
        return;
    }

    ngx_add_timer(&ngx_ota_sub_ev, delay);

    if (delay >= ngx_ota_sub_backoff) {
        ngx_ota_sub_backoff = ngx_min(ngx_ota_sub_backoff * 2,
                                      NGX_OTA_SUB_BACKOFF_MAX);
    }
}


static void
ngx_ota_sub_reconnect_handler(ngx_event_t *ev)
{
    if (ngx_ota_sub_exiting || ngx_exiting || ngx_ota_sub_ac != NULL) {
        return;
    }

    ngx_ota_sub_connect();
}


ngx_int_t
ngx_ota_sub_init_process(ngx_cycle_t *cycle, const char *channel,
    ngx_ota_sub_message_pt message, ngx_ota_sub_state_pt state)
{
    ngx_ota_sub_omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                           ngx_ota_module);

    if (ngx_ota_sub_omcf == NULL || ngx_ota_sub_omcf->redis.len == 0) {
        return NGX_OK;
    }

    ngx_ota_sub_log = cycle->log;
    ngx_ota_sub_channel = channel;
    ngx_ota_sub_message = message;
    ngx_ota_sub_state = state;
    ngx_ota_sub_exiting = 0;
    ngx_ota_sub_backoff = NGX_OTA_SUB_BACKOFF_MIN;

    ngx_ota_event_init(&ngx_ota_sub_ev, ngx_ota_sub_reconnect_handler,
                       cycle->log);
    ngx_ota_sub_ev.cancelable = 1;            /* never delays an exit */

    ngx_ota_sub_connect();

    return NGX_OK;
}


void
ngx_ota_sub_exit_process(ngx_cycle_t *cycle)
{
    ngx_ota_sub_exiting = 1;
    ngx_ota_sub_subscribed = 0;

    if (ngx_ota_sub_ev.timer_set) {
        ngx_del_timer(&ngx_ota_sub_ev);
    }

    if (ngx_ota_sub_ac != NULL) {
        redisAsyncFree(ngx_ota_sub_ac);
        ngx_ota_sub_ac = NULL;
    }
}


ngx_uint_t
ngx_ota_sub_ready(void)
{
    return ngx_ota_sub_subscribed;
}
