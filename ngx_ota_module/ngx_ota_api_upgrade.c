/*
 * ngx_ota_api_upgrade.c: GET /ota/v1/upgrade?module=<m> (Bearer token).
 *
 * The device's open task for the module, 204 when there is none, 404 for a
 * module the product does not have.  Four steps, each one round trip (the
 * keys live in different hash slots, so no single script):
 *
 *   0  HEXISTS  prod:{p}:modules <module>  (not for "default", pipelined)
 *      HGET     dev:{d}:ver <module>                  -> its version
 *      HGET     dev:{d}:open <module>                 -> batch id
 *   1  HGET     batch:{b}:state|from|covered|pkg <device>
 *      ZSCORE   batch:{b}:devices <device>  HGETALL batch:{b}  (pipelined)
 *  (2) MULTI ZREMRANGEBYSCORE ZADD NX ZRANK ZRANGE EXEC  batch:{b}:offers
 *                               (a pending task of a batch with a rate)
 *   2  HGET     pkg:{p}:diffs <version>  HGETALL pkg:{p}  (pipelined)
 *  (3) HGETALL  pkg:{diff}    (a diff from the device's version exists)
 *   4  XADD     events notified   (only while the task is still pending)
 *
 * The offer follows the device (docs/delta.md): when the batch's full
 * package has a diff from the version the device reported (the index
 * pkg:{p}:diffs, no scan), the diff is offered with the full package as
 * "fallback", unless the diff is not ready (verified when it must be), or
 * the task already counts bytes of the full package (the device fell
 * back, or started before the diff existed).  The extra round trip is
 * only taken by devices that have a diff.
 *
 * With wait=<s> (0 .. ota_upgrade_wait_max, larger values capped) a
 * request that finds no offer is held by ngx_ota_wait.c instead of
 * answering 204, and these steps run again when it is woken.
 *
 * Tasks are stored by column per batch (ota_keys.h): a device without a
 * state is pending, and the package is the batch's.  A batch with waves
 * (docs/rollouts.md) offers a pending task only when the device's rank in
 * the batch is within the open waves (the record's wave_upto); a task
 * already offered keeps its offer.  A batch with a rate (the record's
 * "rate": devices newly offered per minute, across every node) charges
 * each pending device it offers to a sliding minute kept in Redis
 * (batch:{b}:offers, device -> ms): the device's rank in that minute is
 * read in the same MULTI that adds it, so of devices asking at once on
 * any number of nodes only the first "rate" get it; the others are taken
 * out again and answered 204 with Retry-After (when the oldest offer
 * leaves the minute).  A device asking again within the minute is not
 * charged twice (ZADD NX keeps its first time).
 *
 * The answer carries the design's fields and the Alibaba/SagooIOT names
 * (signMethod, md5, isDiff, extData) and signed links bound to the device,
 * the package and an expiry, which any node verifies without Redis; it is
 * shaped by include/ota_offer.c, which shapes the MQTT upgrade notice too.
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"
#include "ngx_ota_wait.h"

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_offer.h"
#include "ota_stats.h"
#include "ota_task.h"


typedef struct {
    ngx_ota_api_answer_t  *answer;
    ngx_str_t              device;
    ngx_str_t              product;
    ngx_str_t              module;
    ngx_str_t              batch;
    ngx_str_t              package;
    ngx_str_t              task_from;
    ngx_str_t              dev_ver;      /* reported, "" when unknown */
    ngx_str_t              diff;         /* diff package id, or empty */
    ngx_str_t              dkey;         /* the diff's key */
    ota_offer_t           *full;         /* the full package's fields,
                                            copied, while the diff is read */
    ngx_str_t              open_key;     /* the device's open tasks */
    ngx_str_t              ver_key;      /* the device's versions */
    ngx_str_t              modules_key;  /* the product's modules, or empty
                                            for "default" */
    ngx_uint_t             base;         /* replies before HGET open: the
                                            last is HGET ver */
    int64_t                rank;         /* in the batch, 0: none */
    ngx_int_t              rate;         /* offers per minute, 0: none */
    ngx_str_t              pkey;         /* the package's key */
    ngx_str_t              offers;       /* the batch's offers key */
    int64_t                now;          /* ms, of the rate check */
    unsigned               limited:1;    /* the rate check was sent */
    unsigned               pending:1;    /* task still pending: notify */
    unsigned               gone:1;       /* task or batch not open: 204 */
    unsigned               on_full:1;    /* covered counts the full one */
    unsigned               diff_asked:1; /* the diff's record was asked */
} ngx_ota_upgrade_t;


static void ngx_ota_upgrade_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_upgrade_open(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_upgrade_task(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply);
static void ngx_ota_upgrade_from(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply);
static void ngx_ota_upgrade_batch(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_upgrade_package(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_upgrade_diff(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static ngx_int_t ngx_ota_upgrade_packages(ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call);
static void ngx_ota_upgrade_answer(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, ota_offer_t *o);
static ngx_int_t ngx_ota_upgrade_prefix(ngx_http_request_t *r,
    ngx_str_t *prefix);
static void ngx_ota_upgrade_none(ngx_http_request_t *r);
static void ngx_ota_upgrade_later(ngx_http_request_t *r, ngx_int_t secs);
static void ngx_ota_upgrade_offer(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply);
static ngx_int_t ngx_ota_upgrade_wait_arg(ngx_http_request_t *r,
    ngx_msec_t *wait);
static ngx_int_t ngx_ota_upgrade_lookup(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u);
static void ngx_ota_upgrade_recheck(ngx_http_request_t *r);


/* the replies after HGET open (and before it: HEXISTS modules, HGET ver) */
#define NGX_OTA_UP_OPEN      0
#define NGX_OTA_UP_STATE     1
#define NGX_OTA_UP_FROM      2
#define NGX_OTA_UP_RANK      3
#define NGX_OTA_UP_COVERED   4
#define NGX_OTA_UP_PKG       5
#define NGX_OTA_UP_BATCH     6
#define NGX_OTA_UP_RATE      7      /* MULTI .. EXEC: 6 replies */
#define NGX_OTA_UP_RATE_N    6
#define NGX_OTA_UP_DIFFS     7      /* after the rate check, if any */
#define NGX_OTA_UP_PACKAGE   8
#define NGX_OTA_UP_DIFF      9      /* the diff's record, if asked */


ngx_int_t
ngx_ota_api_upgrade(ngx_http_request_t *r)
{
    time_t              token_expires;
    ngx_int_t           rc;
    ngx_str_t           arg;
    ngx_msec_t          wait;
    const char         *why;
    ngx_ota_ctx_t      *ctx;
    ngx_ota_upgrade_t  *u;

    ngx_ota_metric_add(NGX_OTA_M_API_REQUESTS, 1);

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_ota_upgrade_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->api = u;

    if (ngx_ota_bearer_expires(r, &u->device, &u->product, &token_expires,
                               &why)
        != NGX_OK)
    {
        return ngx_ota_api_unauthorized(r, why);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "module", 6, &arg) == NGX_OK) {
        u->module = arg;
    } else {
        ngx_str_set(&u->module, "default");
    }

    if (!ota_name_module((char *) u->module.data, u->module.len)) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"module\" is not a valid module name "
                                  "([A-Za-z0-9_-]{1,64})");
    }

    if (ngx_ota_upgrade_wait_arg(r, &wait) != NGX_OK) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"wait\" must be a whole number of "
                                  "seconds (larger than "
                                  "ota_upgrade_wait_max is capped)");
    }

    u->answer = ngx_ota_api_answer(r);
    if (u->answer == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_key(r->pool, &u->open_key, OTA_KEY_DEVICE_OPEN, &u->device,
                    NULL, NULL)
        == NULL
        || ngx_ota_key(r->pool, &u->ver_key, OTA_KEY_DEVICE_VERSIONS,
                       &u->device, NULL, NULL)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* "default" exists in every product: no need to ask */
    if (!(u->module.len == 7
          && ngx_strncmp(u->module.data, "default", 7) == 0)
        && ngx_ota_key(r->pool, &u->modules_key, OTA_KEY_PRODUCT_MODULES,
                       &u->product, NULL, NULL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (wait) {
        /* registered before the first check: a notice during it counts */
        switch (ngx_ota_wait_begin(r, &u->device, &u->product, &u->module,
                                   wait, token_expires,
                                   ngx_ota_upgrade_recheck))
        {
        case NGX_OK:
        case NGX_DECLINED:          /* nginx is exiting: answer now */
            break;

        case NGX_BUSY:
            return ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "storage unavailable, retry later");

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_ota_upgrade_lookup(r, u);
    if (rc != NGX_OK) {
        return ngx_ota_send_error(r, rc == NGX_DECLINED
                                     ? NGX_HTTP_SERVICE_UNAVAILABLE
                                     : NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  rc == NGX_DECLINED
                                     ? "storage unavailable, retry later"
                                     : "internal error");
    }

    r->main->count++;

    return NGX_DONE;
}


/* wait=<seconds>: *wait in ms, 0 without; NGX_ERROR when malformed */
static ngx_int_t
ngx_ota_upgrade_wait_arg(ngx_http_request_t *r, ngx_msec_t *wait)
{
    size_t               i;
    ngx_int_t            n;
    ngx_str_t            arg;
    ngx_ota_loc_conf_t  *olcf;

    *wait = 0;

    if (ngx_http_arg(r, (u_char *) "wait", 4, &arg) != NGX_OK) {
        return NGX_OK;
    }

    if (arg.len == 0 || arg.len > 20) {
        return NGX_ERROR;
    }

    for (i = 0; i < arg.len; i++) {
        if (arg.data[i] < '0' || arg.data[i] > '9') {
            return NGX_ERROR;
        }
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    /* only digits: anything beyond the directive is capped to it */
    n = arg.len > 9 ? NGX_MAX_INT_T_VALUE : ngx_atoi(arg.data, arg.len);

    *wait = (ngx_msec_t) n > olcf->upgrade_wait_max / 1000
            ? olcf->upgrade_wait_max : (ngx_msec_t) n * 1000;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: wait=%V: %M ms", &arg, *wait);

    return NGX_OK;
}


/* the first step: sends HEXISTS modules (unless "default") and HGET open */
static ngx_int_t
ngx_ota_upgrade_lookup(ngx_http_request_t *r, ngx_ota_upgrade_t *u)
{
    ngx_int_t              rc;
    ngx_ota_redis_call_t  *call;

    /* a woken request checks again from the start */
    u->base = 0;
    u->rank = 0;
    u->rate = 0;
    u->limited = 0;
    u->pending = 0;
    u->gone = 0;
    u->on_full = 0;
    u->diff_asked = 0;
    u->full = NULL;
    ngx_str_null(&u->batch);
    ngx_str_null(&u->package);
    ngx_str_null(&u->task_from);
    ngx_str_null(&u->dev_ver);
    ngx_str_null(&u->diff);

    call = ngx_ota_redis_call(r, ngx_ota_upgrade_reply, u);
    if (call == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    if (u->modules_key.len) {
        u->base = 1;
        rc = ngx_ota_redis_cmd(call, "HEXISTS %b %b", u->modules_key.data,
                               u->modules_key.len, u->module.data,
                               u->module.len);
    }

    if (rc == NGX_OK) {
        u->base++;
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", u->ver_key.data,
                               u->ver_key.len, u->module.data,
                               u->module.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", u->open_key.data,
                               u->open_key.len, u->module.data,
                               u->module.len);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
    }

    return rc;
}


/* a waiting request was woken (ngx_ota_wait.c) */
static void
ngx_ota_upgrade_recheck(ngx_http_request_t *r)
{
    ngx_int_t       rc;
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    rc = ngx_ota_upgrade_lookup(r, ctx->api);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


static void
ngx_ota_upgrade_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_uint_t           idx;
    ngx_ota_upgrade_t   *u = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "upgrade");
        return;
    }

    if (call->index + 1 == u->base) {
        /* the device's reported version of the module (diffs are from it) */
        if (reply->type == REDIS_REPLY_STRING) {
            ngx_str_t  v;

            v.data = (u_char *) reply->str;
            v.len = reply->len;
            u->dev_ver.data = ngx_ota_pstrdup0(r->pool, &v);
            u->dev_ver.len = u->dev_ver.data ? v.len : 0;
        }
        return;
    }

    if (call->index < u->base) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            ngx_ota_api_redis_error(r, reply, "upgrade module check");
            return;
        }

        if (reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "unknown module for this product");
        }
        return;
    }

    idx = call->index - u->base;

    /* the rate check's replies come between the batch and the package */
    if (u->limited && idx >= NGX_OTA_UP_RATE) {
        if (idx < NGX_OTA_UP_RATE + NGX_OTA_UP_RATE_N - 1) {
            if (reply->type != REDIS_REPLY_STATUS) {
                ngx_ota_api_redis_error(r, reply, "upgrade offer");
            }
            return;
        }

        if (idx == NGX_OTA_UP_RATE + NGX_OTA_UP_RATE_N - 1) {
            ngx_ota_upgrade_offer(r, u, call, reply);
            return;
        }

        idx -= NGX_OTA_UP_RATE_N;
    }

    switch (idx) {

    case NGX_OTA_UP_OPEN:
        ngx_ota_upgrade_open(r, u, call, reply);
        return;

    case NGX_OTA_UP_STATE:
        ngx_ota_upgrade_task(r, u, reply);
        return;

    case NGX_OTA_UP_FROM:
        ngx_ota_upgrade_from(r, u, reply);
        return;

    case NGX_OTA_UP_RANK:
        u->rank = reply->type == REDIS_REPLY_STRING
                  ? ngx_atoi((u_char *) reply->str, reply->len) : 0;
        return;

    case NGX_OTA_UP_COVERED:
        /* bytes counted: of the full package unless pkg names a diff */
        u->on_full = reply->type == REDIS_REPLY_STRING && reply->len
                     && !(reply->len == 1 && reply->str[0] == '0');
        return;

    case NGX_OTA_UP_PKG:
        if (reply->type == REDIS_REPLY_STRING) {
            u->on_full = 0;
        }
        return;

    case NGX_OTA_UP_BATCH:
        ngx_ota_upgrade_batch(r, u, call, reply);
        return;

    case NGX_OTA_UP_DIFFS:
        if (reply->type == REDIS_REPLY_STRING && !u->on_full
            && ota_name_id(reply->str, reply->len))
        {
            ngx_str_t  v;

            v.data = (u_char *) reply->str;
            v.len = reply->len;
            u->diff.data = ngx_ota_pstrdup0(r->pool, &v);
            u->diff.len = u->diff.data ? v.len : 0;
        }
        return;

    case NGX_OTA_UP_PACKAGE:
        ngx_ota_upgrade_package(r, u, call, reply);
        return;

    default:
        if (u->diff_asked && idx == NGX_OTA_UP_DIFF) {
            ngx_ota_upgrade_diff(r, u, call, reply);
            return;
        }

        if (reply->type != REDIS_REPLY_STRING) {
            ngx_ota_api_redis_error(r, reply, "upgrade notified event");
            return;
        }

        ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);
        ngx_ota_api_send_json(u->answer, NGX_HTTP_OK);
        return;
    }
}


static void
ngx_ota_upgrade_open(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t  rc;
    ngx_str_t  state, batch, from, devs, cov, pkg, b;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_ota_upgrade_none(r);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || !ota_name_id(reply->str, reply->len))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: device \"%V\" module \"%V\": the open "
                      "task names no valid batch id", &u->device, &u->module);
        ngx_ota_upgrade_none(r);
        return;
    }

    b.data = (u_char *) reply->str;
    b.len = reply->len;

    u->batch.len = b.len;
    u->batch.data = ngx_ota_pstrdup0(r->pool, &b);

    if (u->batch.data == NULL
        || ngx_ota_key(r->pool, &state, OTA_KEY_BATCH_STATE, &u->batch,
                       NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, &u->batch, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &from, OTA_KEY_BATCH_FROM, &u->batch, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &devs, OTA_KEY_BATCH_DEVICES, &u->batch,
                       NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &cov, OTA_KEY_BATCH_COVERED, &u->batch,
                       NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &pkg, OTA_KEY_BATCH_PKG, &u->batch,
                       NULL, NULL) == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(call, "HGET %b %b", state.data, state.len,
                           u->device.data, u->device.len);

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", from.data, from.len,
                               u->device.data, u->device.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZSCORE %b %b", devs.data, devs.len,
                               u->device.data, u->device.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", cov.data, cov.len,
                               u->device.data, u->device.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGET %b %b", pkg.data, pkg.len,
                               u->device.data, u->device.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", batch.data, batch.len);
    }

    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


static void
ngx_ota_upgrade_task(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply)
{
    int  st;

    /* the batch reply comes next: decide there, so all are consumed */

    if (reply->type == REDIS_REPLY_NIL) {
        u->pending = 1;             /* no state yet: pending */
        return;
    }

    st = reply->type == REDIS_REPLY_STRING
         ? ota_task_state_parse(reply->str, reply->len) : -1;

    if (st < 0 || ota_task_state_final(st)) {
        u->gone = 1;
        return;
    }

    u->pending = (st == OTA_TS_PENDING);
}


/* the device's version when the batch gave it the task */
static void
ngx_ota_upgrade_from(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    redisReply *reply)
{
    ngx_str_t  v;

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_str_set(&u->task_from, "");     /* it never reported one */
        return;
    }

    v.data = (u_char *) reply->str;
    v.len = reply->len;

    u->task_from.len = v.len;
    u->task_from.data = ngx_ota_pstrdup0(r->pool, &v);

    if (u->task_from.data == NULL) {
        u->gone = 1;
    }
}


static void
ngx_ota_upgrade_batch(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t      rc, upto;
    ngx_str_t      state, wave;
    ngx_time_t    *tp;

    if (u->gone) {
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_hash_get(reply, "state", &state) != NGX_OK
        || state.len != 7 || ngx_strncmp(state.data, "running", 7) != 0)
    {
        /* paused, cancelled, finished, scheduled or still being created */
        ngx_ota_upgrade_none(r);
        return;
    }

    if (u->pending
        && ngx_ota_hash_get(reply, OTA_R_WAVE_UPTO, &wave) == NGX_OK)
    {
        upto = ngx_atoi(wave.data, wave.len);

        if (upto != NGX_ERROR && (u->rank <= 0 || u->rank > upto)) {
            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota upgrade: device \"%V\" of batch \"%V\" has "
                           "rank %L, waves open up to %i: not yet",
                           &u->device, &u->batch, u->rank, upto);
            ngx_ota_upgrade_none(r);
            return;
        }
    }

    (void) ngx_ota_hash_dup(r->pool, reply, "package", &u->package);

    if (!ota_name_id((char *) u->package.data, u->package.len)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: task of device \"%V\" in batch \"%V\" "
                      "names no valid package", &u->device, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_key(r->pool, &u->pkey, OTA_KEY_PACKAGE, &u->package, NULL,
                    NULL) == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (u->pending && ngx_ota_hash_get(reply, OTA_R_RATE, &wave) == NGX_OK) {
        u->rate = ngx_atoi(wave.data, wave.len);
    }

    if (u->rate > 0) {
        if (ngx_ota_key(r->pool, &u->offers, OTA_KEY_BATCH_OFFERS, &u->batch,
                        NULL, NULL) == NULL)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        tp = ngx_timeofday();
        u->now = (int64_t) tp->sec * 1000 + tp->msec;
        u->limited = 1;

        rc = ngx_ota_redis_cmd(call, "MULTI");
        if (rc == NGX_OK) {
            rc = ngx_ota_redis_cmd(call, "ZREMRANGEBYSCORE %b -inf (%lld",
                                   u->offers.data, u->offers.len,
                                   (long long) (u->now - 60000));
        }
        if (rc == NGX_OK) {
            rc = ngx_ota_redis_cmd(call, "ZADD %b NX %lld %b",
                                   u->offers.data, u->offers.len,
                                   (long long) u->now, u->device.data,
                                   u->device.len);
        }
        if (rc == NGX_OK) {
            rc = ngx_ota_redis_cmd(call, "ZRANK %b %b", u->offers.data,
                                   u->offers.len, u->device.data,
                                   u->device.len);
        }
        if (rc == NGX_OK) {
            rc = ngx_ota_redis_cmd(call, "ZRANGE %b 0 0 WITHSCORES",
                                   u->offers.data, u->offers.len);
        }
        if (rc == NGX_OK) {
            rc = ngx_ota_redis_cmd(call, "EXEC");

        } else if (rc == NGX_ERROR) {
            /* the connection must not stay inside a MULTI that other
             * requests' commands would join */
            (void) ngx_ota_redis_cmd(call, "DISCARD");
        }
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;
    }

    rc = ngx_ota_upgrade_packages(u, call);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/* the diff from the device's version (index) and the full package */
static ngx_int_t
ngx_ota_upgrade_packages(ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call)
{
    ngx_int_t  rc;
    ngx_str_t  dk;

    if (ngx_ota_key(call->request->pool, &dk, OTA_KEY_PACKAGE_DIFFS,
                    &u->package, NULL, NULL)
        == NULL)
    {
        return NGX_ERROR;
    }

    /* asked even for an unknown version: the reply numbering stays fixed */
    rc = ngx_ota_redis_cmd(call, "HGET %b %b", dk.data, dk.len,
                           u->dev_ver.data ? u->dev_ver.data
                                           : (u_char *) "",
                           u->dev_ver.len);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_ota_redis_cmd(call, "HGETALL %b", u->pkey.data, u->pkey.len);
}


/* the rate check's EXEC: the device's place among the minute's offers */
static void
ngx_ota_upgrade_offer(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t    rc, secs;
    int64_t      oldest;
    redisReply  *rank, *first;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4
        || reply->element[3]->type != REDIS_REPLY_ARRAY)
    {
        ngx_ota_api_redis_error(r, reply, "upgrade offer");
        return;
    }

    rank = reply->element[2];

    if (rank->type == REDIS_REPLY_INTEGER && rank->integer < u->rate) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: device \"%V\" offered: %L of %i this "
                       "minute", &u->device, (int64_t) rank->integer + 1,
                       u->rate);

        rc = ngx_ota_upgrade_packages(u, call);
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;
    }

    /* over the rate: out again, and come back when the oldest offer of
     * the minute leaves it */
    first = reply->element[3];
    oldest = first->elements == 2 && first->element[1]->type
                                     == REDIS_REPLY_STRING
             ? ngx_atoi((u_char *) first->element[1]->str,
                        first->element[1]->len)
             : NGX_ERROR;
    secs = oldest == NGX_ERROR ? 60
           : (ngx_int_t) ((oldest + 60000 - u->now + 999) / 1000);
    secs = ngx_max(1, ngx_min(secs, 60));

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: device \"%V\" not offered: %i per minute "
                   "reached, retry after %i s", &u->device, u->rate, secs);

    (void) ngx_ota_redis_cmd(call, "ZREM %b %b", u->offers.data,
                             u->offers.len, u->device.data, u->device.len);

    ngx_ota_upgrade_later(r, secs);
}


/* a view of a package field; "" when absent */
static ota_view_t
ngx_ota_upgrade_field(redisReply *reply, const char *name)
{
    ngx_str_t   v;
    ota_view_t  out;

    if (ngx_ota_hash_get(reply, name, &v) != NGX_OK) {
        ngx_str_set(&v, "");
    }

    out.data = (const char *) v.data;
    out.len = v.len;

    return out;
}


/* a package record's fields into o (views into reply) */
static void
ngx_ota_upgrade_fields(ota_offer_t *o, redisReply *reply)
{
    o->version = ngx_ota_upgrade_field(reply, "version");
    o->type = ngx_ota_upgrade_field(reply, "type");
    o->pkg_from = ngx_ota_upgrade_field(reply, "from");
    o->sign_method = ngx_ota_upgrade_field(reply, "sign_method");
    o->sign = ngx_ota_upgrade_field(reply, "sign");
    o->files = ngx_ota_upgrade_field(reply, "files");
    o->ext = ngx_ota_upgrade_field(reply, "ext");
    o->manifest = ngx_ota_upgrade_field(reply, "manifest");
    o->signature = ngx_ota_upgrade_field(reply, "signature");
    o->size = ngx_ota_hash_int(reply, "size", 0);
}


/* a view copied into the pool (the reply it points into is freed) */
static ngx_int_t
ngx_ota_upgrade_keep(ngx_pool_t *pool, ota_view_t *v)
{
    u_char  *p;

    if (v->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, v->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, v->data, v->len);
    v->data = (const char *) p;

    return NGX_OK;
}


/* the answer is ota_offer_json()'s, as the MQTT bridge's notice is */
static void
ngx_ota_upgrade_package(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t     rc;
    ngx_str_t     e;
    ota_offer_t   o, *f;

    if (ngx_ota_hash_get(reply, "id", &e) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: package \"%V\" of batch \"%V\" does "
                      "not exist", &u->package, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    ngx_memzero(&o, sizeof(ota_offer_t));
    ngx_ota_upgrade_fields(&o, reply);

    if (u->diff.len == 0
        || (o.type.len == 4 && ngx_strncmp(o.type.data, "diff", 4) == 0))
    {
        ngx_ota_upgrade_answer(r, u, call, &o);
        return;
    }

    /* a diff from the device's version: the full package's fields wait
     * in the pool for the diff's record */
    f = ngx_palloc(r->pool, sizeof(ota_offer_t));
    if (f == NULL
        || ngx_ota_key(r->pool, &u->dkey, OTA_KEY_PACKAGE, &u->diff, NULL,
                       NULL) == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    *f = o;
    f->package.data = (const char *) u->package.data;
    f->package.len = u->package.len;

    if (ngx_ota_upgrade_keep(r->pool, &f->version) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->type) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->pkg_from) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->sign_method) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->sign) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->files) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->ext) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->manifest) != NGX_OK
        || ngx_ota_upgrade_keep(r->pool, &f->signature) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->full = f;
    u->diff_asked = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: device \"%V\" at %V: diff \"%V\" exists",
                   &u->device, &u->dev_ver, &u->diff);

    rc = ngx_ota_redis_cmd(call, "HGETALL %b", u->dkey.data, u->dkey.len);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


#define ngx_ota_view_eq(v, s)                                                 \
    ((v).len == (s).len && ngx_strncmp((v).data, (s).data, (s).len) == 0)

/* the diff's record: offered when it is a ready diff from the device's
 * version to the full package's, else the full package alone */
static void
ngx_ota_upgrade_diff(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_str_t     id, type, from, ver, mod, state;
    ota_offer_t   d;

    if (ngx_ota_hash_get(reply, "id", &id) == NGX_OK
        && ngx_ota_hash_get(reply, "type", &type) == NGX_OK
        && ngx_ota_hash_get(reply, "from", &from) == NGX_OK
        && ngx_ota_hash_get(reply, "version", &ver) == NGX_OK
        && ngx_ota_hash_get(reply, "module", &mod) == NGX_OK
        && ngx_ota_hash_get(reply, "state", &state) == NGX_OK
        && type.len == 4 && ngx_strncmp(type.data, "diff", 4) == 0
        && ngx_ota_view_eq(from, u->dev_ver)
        && ngx_ota_view_eq(ver, u->full->version)
        && ngx_ota_view_eq(mod, u->module)
        && ((state.len == 5 && ngx_strncmp(state.data, "ready", 5) == 0)
            || (state.len == 8
                && ngx_strncmp(state.data, "verified", 8) == 0)))
    {
        ngx_memzero(&d, sizeof(ota_offer_t));
        ngx_ota_upgrade_fields(&d, reply);
        d.fallback = u->full;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: device \"%V\" offered diff \"%V\" of "
                       "package \"%V\"", &u->device, &u->diff, &u->package);

        u->package = u->diff;
        ngx_ota_upgrade_answer(r, u, call, &d);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: diff \"%V\" is not to be offered (not a "
                   "ready diff from %V): the full package",
                   &u->diff, &u->dev_ver);

    ngx_ota_upgrade_answer(r, u, call, u->full);
}


/* the offer o (its package: u->package) and the notified event */
static void
ngx_ota_upgrade_answer(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, ota_offer_t *o)
{
    ngx_int_t             rc;
    ngx_str_t             prefix;
    ota_event_fields_t    f;
    ngx_ota_loc_conf_t   *olcf;
    ngx_ota_main_conf_t  *omcf;

    if (ngx_ota_upgrade_prefix(r, &prefix) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);

#define ngx_ota_view(v, s)  (v).data = (const char *) (s).data;               \
                            (v).len = (s).len

    ngx_ota_view(o->device, u->device);
    ngx_ota_view(o->batch, u->batch);
    ngx_ota_view(o->module, u->module);
    ngx_ota_view(o->task_from, u->task_from);
    ngx_ota_view(o->package, u->package);
    ngx_ota_view(o->key, omcf->token_secret);
    ngx_ota_view(o->prefix, prefix);

#undef ngx_ota_view

    o->expires = (int64_t) (ngx_time() + olcf->link_ttl);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: offer of package \"%V\" links \"%V\" "
                   "expire %T", &u->package, &prefix, (time_t) o->expires);

    u->answer->json = ota_offer_json(o, OTA_OFFER_HTTP);
    if (u->answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!u->pending) {
        ngx_ota_api_send_json(u->answer, NGX_HTTP_OK);
        return;
    }

    /* the worker moves the task to notified; a repeated event is a no-op */
    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.type = OTA_EV_NOTIFIED;
    f.device = ngx_ota_event_str(&u->device);
    f.module = ngx_ota_event_str(&u->module);
    f.batch = ngx_ota_event_str(&u->batch);
    f.package = ngx_ota_event_str(&u->package);

    rc = ngx_ota_api_event(call, &f);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/*
 * The device API's URL, which links start with: <ota_public_url or
 * scheme://Host><location>.  Names are [A-Za-z0-9_.:-]: nothing in a link
 * needs escaping.
 */
static ngx_int_t
ngx_ota_upgrade_prefix(ngx_http_request_t *r, ngx_str_t *prefix)
{
    u_char                    *p;
    ngx_str_t                  base, loc, scheme;
    ngx_ota_loc_conf_t        *olcf;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_core_srv_conf_t  *cscf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_str_null(&scheme);

    if (olcf->public_url.len) {
        base = olcf->public_url;
        while (base.len && base.data[base.len - 1] == '/') {
            base.len--;
        }

    } else {
#if (NGX_HTTP_SSL)
        if (r->connection->ssl) {
            ngx_str_set(&scheme, "https://");
        } else
#endif
        {
            ngx_str_set(&scheme, "http://");
        }

        if (r->headers_in.server.len) {
            base = r->headers_in.server;
            if (r->headers_in.host) {
                base = r->headers_in.host->value;  /* keeps the port */
            }

        } else {
            cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
            base = cscf->server_name;
        }
    }

    /* the device API's own location, so links follow its prefix */
    if (!clcf->regex && clcf->name.len && clcf->name.data[0] == '/') {
        loc = clcf->name;
    } else {
        ngx_str_set(&loc, "/ota/v1/");
    }

    p = ngx_pnalloc(r->pool, scheme.len + base.len + loc.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    prefix->data = p;
    p = ngx_cpymem(p, scheme.data, scheme.len);
    p = ngx_cpymem(p, base.data, base.len);
    p = ngx_cpymem(p, loc.data, loc.len);
    prefix->len = p - prefix->data;

    return NGX_OK;
}


/* 204 with Retry-After: a task that is not offered yet (rate limit) */
static void
ngx_ota_upgrade_later(ngx_http_request_t *r, ngx_int_t secs)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

    if (h == NULL || p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%i", secs) - p;

    /* a waiting request too: its Retry-After says when, not a notice */
    ngx_ota_api_no_content(r);
}


/* no offer: 204, or a waiting request waits on */
static void
ngx_ota_upgrade_none(ngx_http_request_t *r)
{
    if (ngx_ota_wait_none(r) == NGX_OK) {
        return;
    }

    ngx_ota_api_no_content(r);
}
