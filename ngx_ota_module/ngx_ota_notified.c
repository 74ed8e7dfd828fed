/*
 * ngx_ota_notified.c: the upgrade answer's notified event, held and folded
 * into the device's first download event (docs/download.md, "The notified
 * event").
 *
 * A full device session wrote a notified event and, milliseconds later,
 * its first download event: two events, each a few tens of µs of Redis in
 * the worker's scripts.  The answer now holds the event in the process
 * (one table per process, by "<device>\n<package>") and answers at once;
 * the first download event this process writes for the same device and
 * package within one ota_progress_interval carries it (batch, notified
 * <ts>), and the worker applies notified then download from that one
 * entry (worker_decide.c).  Made for speed.  Otherwise the progress tick
 * writes it on its own when it was already held at the tick before
 * (between half an interval and one interval after the answer), unless
 * the device's track is writing then (its merge in flight, or pending
 * ranges written at once for it): its event takes it.
 *
 * Nothing is lost: an event riding a download event that fails is held
 * again; Redis away keeps what is held (written at the first tick after
 * it is back); at worker exit what is held, and what rode or was sent
 * without being drained to Redis, is written on a blocking connection.
 * A full table (or no memory) makes the answer write its event as before.
 */

#include "ngx_ota_notified.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_names.h"

#include <hiredis/hiredis.h>


#define NGX_OTA_NOTIFIED_MAX  16384         /* held per process: a node
                                               answers fewer per interval */


static ngx_rbtree_t       ngx_ota_notified_tree;
static ngx_rbtree_node_t  ngx_ota_notified_sentinel;
static ngx_queue_t        ngx_ota_notified_queue;
static ngx_uint_t         ngx_ota_notified_n;       /* entries, any state */
static ngx_uint_t         ngx_ota_notified_ready;   /* tree initialised */
static ngx_uint_t         ngx_ota_notified_exiting;
static const ngx_ota_notified_tick_t  *ngx_ota_notified_tk;


void
ngx_ota_notified_init_process(const ngx_ota_notified_tick_t *tick)
{
    ngx_ota_notified_tk = tick;
}


static void
ngx_ota_notified_init(void)
{
    if (!ngx_ota_notified_ready) {
        ngx_rbtree_init(&ngx_ota_notified_tree, &ngx_ota_notified_sentinel,
                        ngx_str_rbtree_insert_value);
        ngx_queue_init(&ngx_ota_notified_queue);
        ngx_ota_notified_ready = 1;
    }
}


static ngx_ota_notified_t *
ngx_ota_notified_find(const u_char *device, size_t dlen,
    const u_char *package, size_t plen)
{
    u_char     *p;
    ngx_str_t   key;
    u_char      buf[2 * OTA_NAME_MAX + 2];

    if (!ngx_ota_notified_ready || dlen > OTA_NAME_MAX
        || plen > OTA_NAME_MAX)
    {
        return NULL;
    }

    p = ngx_cpymem(buf, device, dlen);
    *p++ = '\n';
    p = ngx_cpymem(p, package, plen);

    key.data = buf;
    key.len = p - buf;

    return (ngx_ota_notified_t *) ngx_str_rbtree_lookup(
               &ngx_ota_notified_tree, &key, ngx_crc32_short(buf, key.len));
}


static void
ngx_ota_notified_free(ngx_ota_notified_t *n)
{
    if (n->held) {
        ngx_queue_remove(&n->queue);
    }
    ngx_rbtree_delete(&ngx_ota_notified_tree, &n->sn.node);
    ngx_ota_notified_n--;
    ngx_free(n);
}


/* held again, due at the next tick (first in the queue: the oldest) */
static void
ngx_ota_notified_again(ngx_ota_notified_t *n)
{
    n->track = NULL;
    n->held = 1;
    n->tick = ngx_ota_notified_tk->ticks() - 2;
    ngx_queue_insert_head(&ngx_ota_notified_queue, &n->queue);
    ngx_ota_notified_tk->arm(0);
}


static u_char *
ngx_ota_notified_copy(u_char *p, char **to, ngx_str_t *s)
{
    *to = (char *) p;
    p = ngx_cpymem(p, s->data, s->len);
    *p++ = '\0';
    return p;
}


ngx_int_t
ngx_ota_notified_hold(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *module, ngx_str_t *batch, ngx_str_t *package)
{
    u_char              *p;
    size_t               len;
    ngx_ota_notified_t  *n;
    ngx_ota_loc_conf_t  *olcf;

    if (ngx_ota_notified_tk == NULL
        || ngx_ota_notified_exiting || ngx_exiting || ngx_terminate
        || ngx_ota_notified_n >= NGX_OTA_NOTIFIED_MAX
        || device->len > OTA_NAME_MAX || package->len > OTA_NAME_MAX)
    {
        return NGX_DECLINED;
    }

    ngx_ota_notified_init();

    n = ngx_ota_notified_find(device->data, device->len, package->data,
                              package->len);
    if (n != NULL) {
        /* the device asked again before its event left: one event per
         * task is enough (a repeated one changes nothing) */
        return batch->len == ngx_strlen(n->batch)
               && ngx_strncmp(n->batch, batch->data, batch->len) == 0
               ? NGX_OK : NGX_DECLINED;
    }

    /* the key (NUL-terminated: its package part is the package's copy),
     * device, module, batch, each NUL-terminated, after the struct */
    len = sizeof(ngx_ota_notified_t) + 2 * (device->len + 1)
          + package->len + 1 + module->len + 1 + batch->len + 1;

    n = ngx_alloc(len, r->connection->log);
    if (n == NULL) {
        return NGX_DECLINED;
    }

    p = (u_char *) (n + 1);

    n->sn.str.data = p;
    n->sn.str.len = device->len + 1 + package->len;
    p = ngx_cpymem(p, device->data, device->len);
    *p++ = '\n';
    p = ngx_cpymem(p, package->data, package->len);

    /* the package's copy NUL-terminates the key's */
    n->package = (char *) p - package->len;
    *p++ = '\0';

    p = ngx_ota_notified_copy(p, &n->device, device);
    p = ngx_ota_notified_copy(p, &n->module, module);
    (void) ngx_ota_notified_copy(p, &n->batch, batch);

    n->ts = (int64_t) ngx_ota_now_ms();
    n->track = NULL;
    n->held = 1;

    /* the tick of the progress writes, at this location's interval */
    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    ngx_ota_notified_tk->arm(olcf->progress_interval);
    n->tick = ngx_ota_notified_tk->ticks();

    n->sn.node.key = ngx_crc32_short(n->sn.str.data, n->sn.str.len);
    ngx_rbtree_insert(&ngx_ota_notified_tree, &n->sn.node);
    ngx_queue_insert_tail(&ngx_ota_notified_queue, &n->queue);
    ngx_ota_notified_n++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota notified: device \"%V\" batch \"%V\" package \"%V\": "
                   "held", device, batch, package);

    return NGX_OK;
}


ngx_ota_notified_t *
ngx_ota_notified_take(const char *device, const char *package,
    const char *module, void *track)
{
    ngx_ota_notified_t  *n;

    if (ngx_ota_notified_n == 0 || ngx_ota_notified_exiting) {
        return NULL;
    }

    n = ngx_ota_notified_find((u_char *) device, ngx_strlen(device),
                              (u_char *) package, ngx_strlen(package));

    if (n == NULL || !n->held || ngx_strcmp(n->module, module) != 0) {
        return NULL;
    }

    ngx_queue_remove(&n->queue);
    n->held = 0;
    n->track = track;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ota notified: device \"%s\" batch \"%s\": folded into "
                   "the download event", n->device, n->batch);

    return n;
}


void
ngx_ota_notified_sent(ngx_ota_notified_t *n, ngx_uint_t ok)
{
    if (ngx_ota_notified_exiting) {
        return;                         /* the exit writes what is left */
    }

    if (ok) {
        ngx_ota_notified_free(n);
        return;
    }

    ngx_ota_notified_again(n);
}


/* the event on its own (ota_event.h) */
static ngx_int_t
ngx_ota_notified_args(ngx_ota_notified_t *n, ota_event_t *e)
{
    ota_event_fields_t  f;

    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.type = OTA_EV_NOTIFIED;
    f.ts = n->ts;
    f.device = ota_event_cstr(n->device);
    f.module = ota_event_cstr(n->module);
    f.batch = ota_event_cstr(n->batch);
    f.package = ota_event_cstr(n->package);

    return ota_event_encode(e, &f) == 0 ? NGX_OK : NGX_ERROR;
}


static void
ngx_ota_notified_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_notified_t  *n = call->data;

    if (ngx_ota_notified_exiting) {
        return;                         /* the exit writes what is left */
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "ota: notified event of device \"%s\" failed: %*s",
                          n->device, (int) reply->len, reply->str);
        }
        ngx_ota_notified_again(n);
        return;
    }

    ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);
    ngx_ota_notified_free(n);
}


ngx_uint_t
ngx_ota_notified_tick(ngx_uint_t ticks)
{
    ota_event_t          e;
    ngx_queue_t         *q, *next;
    ngx_ota_notified_t  *n;

    if (ngx_ota_notified_n == 0) {
        return 0;
    }

    for (q = ngx_queue_head(&ngx_ota_notified_queue);
         q != ngx_queue_sentinel(&ngx_ota_notified_queue)
         && ngx_ota_redis_ready();
         q = next)
    {
        next = ngx_queue_next(q);
        n = ngx_queue_data(q, ngx_ota_notified_t, queue);

        if (ticks - n->tick < 2) {
            break;                      /* held in order: the rest too */
        }

        /* the track's merge answers within a round trip and its event
         * takes this one (a merge that adds nothing leaves it to the
         * next tick) */
        if (ngx_ota_notified_tk->carry(n->device, n->package)) {
            continue;
        }

        if (ngx_ota_notified_args(n, &e) != NGX_OK) {
            ngx_ota_notified_free(n);   /* never: the fields were checked */
            continue;
        }

        if (ngx_ota_redis_argv_detached(ngx_ota_notified_reply, n, e.argc,
                                        e.argv, e.argvlen)
            != NGX_OK)
        {
            break;                      /* Redis away: the next tick */
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ota notified: device \"%s\" batch \"%s\": written "
                       "at the tick", n->device, n->batch);

        ngx_queue_remove(&n->queue);
        n->held = 0;
    }

    return !ngx_queue_empty(&ngx_ota_notified_queue);
}


void
ngx_ota_notified_exit_process(ngx_cycle_t *cycle)
{
    ngx_int_t            n, sent;
    ngx_uint_t           drained;
    redisReply          *reply;
    redisContext        *rc;
    ota_event_t          e;
    ngx_rbtree_node_t   *node, *root, *sentinel;
    ngx_ota_notified_t  *x;

    ngx_ota_notified_exiting = 1;

    if (ngx_ota_notified_n == 0) {
        return;
    }

    /* what the connection still has queued goes out first: an event sent
     * (or riding a download event) has then left for Redis */
    drained = (ngx_ota_redis_drain() == NGX_OK);

    n = 0;
    sentinel = ngx_ota_notified_tree.sentinel;
    root = ngx_ota_notified_tree.root;

    if (root != sentinel) {
        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&ngx_ota_notified_tree, node))
        {
            x = (ngx_ota_notified_t *) node;
            if (x->held || !drained) {
                n++;
            }
        }
    }

    if (n == 0) {
        return;
    }

    rc = ngx_ota_redis_blocking(cycle);
    if (rc == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ota: exiting with %i notified events not written: "
                      "no connection to redis", n);
        return;
    }

    sent = 0;

    for (node = ngx_rbtree_min(root, sentinel);
         node && !rc->err;
         node = ngx_rbtree_next(&ngx_ota_notified_tree, node))
    {
        x = (ngx_ota_notified_t *) node;

        /* one that may not have left is written again: a repeated
         * notified event changes nothing */
        if ((x->held || !drained) && ngx_ota_notified_args(x, &e) == NGX_OK)
        {
            reply = redisCommandArgv(rc, e.argc, e.argv, e.argvlen);
            if (reply) {
                sent += reply->type == REDIS_REPLY_STRING;
                freeReplyObject(reply);
            }
        }
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "ota: %i of %i notified events written at exit%s%s",
                  sent, n, rc->err ? ", then: " : "",
                  rc->err ? rc->errstr : "");

    redisFree(rc);

    /* the entries stay: a late callback must find them (the process ends) */
}
