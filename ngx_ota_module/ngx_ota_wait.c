/*
 * ngx_ota_wait.c: upgrade requests waiting for an offer (ngx_ota_wait.h).
 *
 * Per worker process: a tree of the devices that have waiting requests
 * (each with its requests), a queue of every waiting request, a queue of
 * those due for a check, and one subscription (ngx_ota_redis_sub.c).  A
 * held request costs its nginx request and connection, this file's
 * ngx_ota_wait_t and a share of its device's node: no Redis connection,
 * no call, no timer but its own deadline (docs/architecture.md gives
 * the figure bench/wait.pl measured).
 *
 * A held HTTP/1 request is a connection nginx may close when it shuts
 * down: c->idle is set, as for a keepalive connection, so a reload or a
 * stop calls its read handler at once with c->close set, and our handler
 * answers 204 instead of letting nginx drop it.  Any other read event
 * goes to nginx's own handler, which runs ngx_http_test_reading: a client
 * that closed is finalized (499) then and there.
 *
 * An HTTP/2 connection with a stream in progress is not idle, so nginx
 * calls nothing of ours when it shuts down gracefully: while requests
 * wait, a cancelable timer (one per process, it never delays an exit
 * itself) looks every NGX_OTA_WAIT_EXIT_WATCH ms whether nginx is exiting
 * and answers them all then.
 */

#include "ngx_ota_wait.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis_sub.h"

#include "ota_keys.h"
#include "ota_wake.h"


/*
 * Checks in flight per process: a notice for a module of 10,000 waiting
 * devices must not put 10,000 calls on the connection at once (their
 * answer timers all run from the moment they are sent).
 */
#define NGX_OTA_WAIT_CHECKS  1024

/* how often a process with waiting requests looks for a graceful exit */
#define NGX_OTA_WAIT_EXIT_WATCH  250


typedef struct {
    ngx_str_node_t          sn;         /* key: the device's name */
    ngx_queue_t             waiters;    /* of ngx_ota_wait_t.by_dev */
    u_char                  name[1];
} ngx_ota_wait_dev_t;


typedef struct {
    ngx_http_request_t     *request;
    ngx_ota_wait_dev_t     *dev;
    ngx_queue_t             by_dev;
    ngx_queue_t             all;
    ngx_queue_t             due;        /* while queued for a check */
    ngx_str_t               product;
    ngx_str_t               module;
    ngx_event_t             timer;      /* the wait's end */
    ngx_event_handler_pt    read;       /* nginx's, while held */
    ngx_ota_wait_check_pt   check;
    unsigned                held:1;
    unsigned                checking:1;
    unsigned                counted:1;  /* a check of the due queue */
    unsigned                queued:1;
    unsigned                woken:1;    /* named while checking */
    unsigned                over:1;     /* its time ended while checking */
    unsigned                token:1;    /* the end is the token's expiry */
    unsigned                gone:1;     /* out of every list */
} ngx_ota_wait_t;


static void ngx_ota_wait_wake(ngx_ota_wait_t *w);
static void ngx_ota_wait_end(ngx_ota_wait_t *w, ngx_uint_t status);
static void ngx_ota_wait_detach(ngx_ota_wait_t *w);
static void ngx_ota_wait_release(ngx_ota_wait_t *w);
static void ngx_ota_wait_each(ota_wake_t *m, ngx_uint_t wake);
static void ngx_ota_wait_message(u_char *data, size_t len);
static void ngx_ota_wait_state(ngx_uint_t subscribed);
static void ngx_ota_wait_end_all(void);


static ngx_rbtree_t          ngx_ota_wait_tree;
static ngx_rbtree_node_t     ngx_ota_wait_sentinel;
static ngx_queue_t           ngx_ota_wait_all;
static ngx_queue_t           ngx_ota_wait_due;
static ngx_uint_t            ngx_ota_wait_checks;   /* counted, in flight */
static ngx_uint_t            ngx_ota_wait_ready;    /* init_process ran */
static ngx_uint_t            ngx_ota_wait_down;     /* lost past the grace */
static ngx_event_t           ngx_ota_wait_run_ev;   /* posted: run checks */
static ngx_event_t           ngx_ota_wait_grace_ev;
static ngx_event_t           ngx_ota_wait_exit_ev;  /* the exit watch */
static ngx_ota_main_conf_t  *ngx_ota_wait_omcf;


/* ---- registration ---------------------------------------------------- */

static ngx_ota_wait_t *
ngx_ota_wait_get(ngx_http_request_t *r)
{
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    return ctx != NULL ? ctx->wait : NULL;
}


static void
ngx_ota_wait_cleanup(void *data)
{
    ngx_ota_wait_t  *w = data;

    /* the request is going: finalized, or its client went away */
    ngx_ota_wait_release(w);
}


static void
ngx_ota_wait_timeout(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ngx_ota_wait_t    *w;

    w = (ngx_ota_wait_t *) ((u_char *) ev - offsetof(ngx_ota_wait_t, timer));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ota wait: %s, %s",
                   w->token ? "the token expired" : "the wait is over",
                   w->checking ? "ends after the check" : "ends now");

    if (w->checking) {
        w->over = 1;
        return;
    }

    ngx_ota_wait_end(w, w->token ? NGX_HTTP_UNAUTHORIZED
                                 : NGX_HTTP_NO_CONTENT);
    ngx_http_run_posted_requests(c);
}


static ngx_ota_wait_dev_t *
ngx_ota_wait_dev(ngx_str_t *device, ngx_log_t *log)
{
    uint32_t             hash;
    ngx_ota_wait_dev_t  *d;

    hash = ngx_crc32_short(device->data, device->len);

    d = (ngx_ota_wait_dev_t *) ngx_str_rbtree_lookup(&ngx_ota_wait_tree,
                                                     device, hash);
    if (d != NULL) {
        return d;
    }

    /* from the heap: it lives as long as any of its requests */
    d = ngx_alloc(offsetof(ngx_ota_wait_dev_t, name) + device->len, log);
    if (d == NULL) {
        return NULL;
    }

    d->sn.node.key = hash;
    d->sn.str.len = device->len;
    d->sn.str.data = ngx_cpymem(d->name, device->data, device->len)
                     - device->len;
    ngx_queue_init(&d->waiters);
    ngx_rbtree_insert(&ngx_ota_wait_tree, &d->sn.node);

    return d;
}


ngx_int_t
ngx_ota_wait_begin(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, ngx_str_t *module, ngx_msec_t wait,
    time_t token_expires, ngx_ota_wait_check_pt check)
{
    time_t               left;
    ngx_ota_ctx_t       *ctx;
    ngx_ota_wait_t      *w;
    ngx_pool_cleanup_t  *cln;

    if (!ngx_ota_wait_ready || ngx_exiting || ngx_terminate) {
        return NGX_DECLINED;
    }

    if (ngx_ota_wait_down) {
        return NGX_BUSY;
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_ota_wait_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (w == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    w->dev = ngx_ota_wait_dev(device, r->connection->log);
    if (w->dev == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->product = *product;
    w->module = *module;
    w->check = check;
    w->checking = 1;                /* the caller's first check runs now */

    ngx_queue_insert_tail(&w->dev->waiters, &w->by_dev);
    ngx_queue_insert_tail(&ngx_ota_wait_all, &w->all);

    cln->handler = ngx_ota_wait_cleanup;
    cln->data = w;
    ctx->wait = w;

    /* a token that expires first ends the wait: the device must log in */
    left = token_expires - ngx_time();
    if (left < 0) {
        left = 0;
    }
    if ((ngx_msec_t) left * 1000 <= wait) {
        wait = (ngx_msec_t) left * 1000;
        w->token = 1;
    }

    w->timer.handler = ngx_ota_wait_timeout;
    w->timer.data = r->connection;
    w->timer.log = r->connection->log;
    ngx_add_timer(&w->timer, wait);

    if (!ngx_ota_wait_exit_ev.timer_set) {
        ngx_add_timer(&ngx_ota_wait_exit_ev, NGX_OTA_WAIT_EXIT_WATCH);
    }

    ngx_ota_metric_add(NGX_OTA_M_WAITS, 1);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota wait: device \"%V\" module \"%V\" waits up to %M ms"
                   "%s, subscription %s", device, module, wait,
                   w->token ? " (its token's expiry)" : "",
                   ngx_ota_sub_ready() ? "ready" : "not ready");

    return NGX_OK;
}


/* ---- holding ------------------------------------------------------------ */

/* the connection's read handler while held (HTTP/1) */
static void
ngx_ota_wait_read(ngx_event_t *rev)
{
    ngx_connection_t    *c = rev->data;
    ngx_http_request_t  *r = c->data;
    ngx_ota_wait_t      *w;

    w = ngx_ota_wait_get(r);

    if (w == NULL || !w->held) {
        return;                     /* cannot be: the handler is ours */
    }

    if (c->close) {
        /* nginx shuts down (reload, quit, worker_shutdown_timeout) */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ota wait: nginx is exiting, answering now");
        c->close = 0;
        ngx_ota_wait_end(w, NGX_HTTP_NO_CONTENT);
        ngx_http_run_posted_requests(c);
        return;
    }

    /* nginx's own: ngx_http_test_reading sees a client that went away */
    w->read(rev);
}


static void
ngx_ota_wait_hold(ngx_ota_wait_t *w)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r = w->request;

    c = r->connection;

    w->held = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

#if (NGX_HTTP_V2)
    if (r->stream == NULL)
#endif
    {
        w->read = c->read->handler;
        c->read->handler = ngx_ota_wait_read;
        c->idle = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ota wait: no offer yet, held (%M ms left)",
                   w->timer.timer_set
                   ? (ngx_msec_t) (w->timer.timer.key - ngx_current_msec)
                   : 0);

    /* a client that closed while the check ran is dropped now */
    ngx_http_test_reading(r);
}


static void
ngx_ota_wait_unhold(ngx_ota_wait_t *w)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r = w->request;

    if (!w->held) {
        return;
    }

    c = r->connection;

    w->held = 0;
    r->read_event_handler = ngx_http_block_reading;

#if (NGX_HTTP_V2)
    if (r->stream == NULL)
#endif
    {
        c->read->handler = w->read;
        c->idle = 0;
    }
}


/* out of every list, timer gone: nothing can reach the request any more */
static void
ngx_ota_wait_detach(ngx_ota_wait_t *w)
{
    if (w->gone) {
        return;
    }

    w->gone = 1;

    ngx_queue_remove(&w->by_dev);
    ngx_queue_remove(&w->all);

    if (w->queued) {
        ngx_queue_remove(&w->due);
        w->queued = 0;
    }

    if (ngx_queue_empty(&w->dev->waiters)) {
        ngx_rbtree_delete(&ngx_ota_wait_tree, &w->dev->sn.node);
        ngx_free(w->dev);
    }
    w->dev = NULL;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    ngx_ota_metric_add(NGX_OTA_M_WAITS_ENDED, 1);
}


/* its check is over: a place for the next due one */
static void
ngx_ota_wait_checked(ngx_ota_wait_t *w)
{
    if (w->counted) {
        w->counted = 0;
        ngx_ota_wait_checks--;

        if (!ngx_queue_empty(&ngx_ota_wait_due)
            && !ngx_ota_wait_run_ev.posted)
        {
            ngx_post_event(&ngx_ota_wait_run_ev, &ngx_posted_events);
        }
    }

    w->checking = 0;
}


/* the request goes (its pool cleanup) or is answered */
static void
ngx_ota_wait_release(ngx_ota_wait_t *w)
{
    ngx_ota_wait_unhold(w);
    ngx_ota_wait_detach(w);

    ngx_ota_wait_checked(w);
}


/* answers a waiting request: 204, 401 or 503 */
static void
ngx_ota_wait_end(ngx_ota_wait_t *w, ngx_uint_t status)
{
    ngx_http_request_t  *r = w->request;

    ngx_ota_wait_release(w);

    if (r->header_sent) {
        return;                     /* its check answered it already */
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota wait: ends with %ui", status);

    switch (status) {

    case NGX_HTTP_NO_CONTENT:
        ngx_ota_api_no_content(r);
        return;

    case NGX_HTTP_UNAUTHORIZED:
        ngx_http_finalize_request(r, ngx_ota_api_unauthorized(r,
                                  "token expired while waiting: "
                                  "authenticate again"));
        return;

    default:
        ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "storage unavailable, retry later");
    }
}


ngx_int_t
ngx_ota_wait_none(ngx_http_request_t *r)
{
    ngx_ota_wait_t  *w;

    w = ngx_ota_wait_get(r);

    if (w == NULL || w->gone) {
        return NGX_DECLINED;
    }

    ngx_ota_wait_checked(w);

    if (w->over || ngx_exiting || ngx_terminate) {
        ngx_ota_wait_end(w, w->over && w->token ? NGX_HTTP_UNAUTHORIZED
                                                : NGX_HTTP_NO_CONTENT);
        return NGX_OK;
    }

    if (ngx_ota_wait_down) {
        ngx_ota_wait_end(w, NGX_HTTP_SERVICE_UNAVAILABLE);
        return NGX_OK;
    }

    if (w->woken) {
        /* named while the check ran: what it read may be older */
        w->woken = 0;
        ngx_ota_wait_wake(w);
        return NGX_OK;
    }

    ngx_ota_wait_hold(w);

    return NGX_OK;
}


/* ---- waking ------------------------------------------------------------- */

static void
ngx_ota_wait_wake(ngx_ota_wait_t *w)
{
    if (w->checking) {
        w->woken = 1;
        return;
    }

    if (w->queued || w->gone) {
        return;
    }

    ngx_ota_wait_unhold(w);

    w->queued = 1;
    ngx_queue_insert_tail(&ngx_ota_wait_due, &w->due);

    if (!ngx_ota_wait_run_ev.posted) {
        ngx_post_event(&ngx_ota_wait_run_ev, &ngx_posted_events);
    }
}


/* a posted event: checks for the due requests, NGX_OTA_WAIT_CHECKS at most
 * in flight */
static void
ngx_ota_wait_run(ngx_event_t *ev)
{
    ngx_queue_t         *q;
    ngx_ota_wait_t      *w;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    while (ngx_ota_wait_checks < NGX_OTA_WAIT_CHECKS
           && !ngx_queue_empty(&ngx_ota_wait_due))
    {
        q = ngx_queue_head(&ngx_ota_wait_due);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_ota_wait_t, due);
        w->queued = 0;
        w->checking = 1;
        w->counted = 1;
        ngx_ota_wait_checks++;

        r = w->request;
        c = r->connection;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ota wait: woken, checking again (%ui checks in "
                       "flight)", ngx_ota_wait_checks);

        /* may answer r at once (Redis down): w is gone then */
        w->check(r);
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_ota_wait_devices(ota_wake_t *m)
{
    size_t               pos;
    ngx_str_t            name;
    ngx_uint_t           n = 0;
    ngx_queue_t         *q, *next;
    ngx_ota_wait_t      *w;
    ota_wake_str_t       dev;
    ngx_ota_wait_dev_t  *d;

    for (pos = 0; ota_wake_next(m, &pos, &dev); ) {
        name.data = (u_char *) dev.data;
        name.len = dev.len;

        d = (ngx_ota_wait_dev_t *) ngx_str_rbtree_lookup(&ngx_ota_wait_tree,
                  &name, ngx_crc32_short(name.data, name.len));
        if (d == NULL) {
            continue;
        }

        for (q = ngx_queue_head(&d->waiters);
             q != ngx_queue_sentinel(&d->waiters);
             q = next)
        {
            next = ngx_queue_next(q);
            w = ngx_queue_data(q, ngx_ota_wait_t, by_dev);

            if (w->module.len == m->module.len
                && ngx_strncmp(w->module.data, m->module.data,
                               m->module.len) == 0)
            {
                ngx_ota_wait_wake(w);
                n++;
            }
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ota wait: %uz devices named, %ui requests woken",
                   m->ndevices, n);
}


static void
ngx_ota_wait_message(u_char *data, size_t len)
{
    ota_wake_t   m;
    const char  *why;

    switch (ota_wake_parse((const char *) data, len, &m, &why)) {

    case OTA_WAKE_DEV:
        ngx_ota_wait_devices(&m);
        return;

    case OTA_WAKE_MOD:
        ngx_ota_wait_each(&m, 1);
        return;

    default:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ota: a message on \"" OTA_CHANNEL_WAKE "\" is "
                      "ignored: %s: \"%*s\"", why, ngx_min(len, 128), data);
    }
}


/*
 * Every waiting request, or those of a module of a product (m): woken
 * (wake 1) or answered 503 (wake 0).  A walk of the whole list: module
 * notices are rare (a batch starts or resumes), so no index is kept up
 * for them.
 */
static void
ngx_ota_wait_each(ota_wake_t *m, ngx_uint_t wake)
{
    ngx_uint_t         n = 0;
    ngx_queue_t       *q, *next;
    ngx_ota_wait_t    *w;
    ngx_connection_t  *c;

    for (q = ngx_queue_head(&ngx_ota_wait_all);
         q != ngx_queue_sentinel(&ngx_ota_wait_all);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_ota_wait_t, all);

        if (m != NULL
            && !(w->module.len == m->module.len
                 && ngx_strncmp(w->module.data, m->module.data,
                                m->module.len) == 0
                 && w->product.len == m->product.len
                 && ngx_strncmp(w->product.data, m->product.data,
                                m->product.len) == 0))
        {
            continue;
        }

        n++;

        if (wake) {
            ngx_ota_wait_wake(w);
            continue;
        }

        if (w->checking) {
            continue;               /* ngx_ota_wait_none() answers it */
        }

        c = w->request->connection;
        ngx_ota_wait_end(w, NGX_HTTP_SERVICE_UNAVAILABLE);
        ngx_http_run_posted_requests(c);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ota wait: %ui requests %s", n,
                   wake ? "woken" : "end with 503");
}


/* the subscription stayed lost for ota_redis_timeout */
static void
ngx_ota_wait_grace(ngx_event_t *ev)
{
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "ota: redis %V: no subscription for %M ms, waiting "
                  "upgrade requests answer 503",
                  &ngx_ota_wait_omcf->redis, ngx_ota_wait_omcf->redis_timeout);

    ngx_ota_wait_down = 1;
    ngx_ota_wait_each(NULL, 0);
}


static void
ngx_ota_wait_state(ngx_uint_t subscribed)
{
    if (!subscribed) {
        /* a reset connection is back within a moment: the requests keep
         * waiting that long, then answer 503 */
        if (!ngx_ota_wait_grace_ev.timer_set) {
            ngx_add_timer(&ngx_ota_wait_grace_ev,
                          ngx_ota_wait_omcf->redis_timeout);
        }
        return;
    }

    if (ngx_ota_wait_grace_ev.timer_set) {
        ngx_del_timer(&ngx_ota_wait_grace_ev);
    }
    ngx_ota_wait_down = 0;

    /* notices may have been missed meanwhile: every request checks again */
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ota wait: subscribed, every waiting request checks");
    ngx_ota_wait_each(NULL, 1);
}


/* ---- process ------------------------------------------------------------ */

/* the exit watch: a graceful exit (reload, quit) answers every request */
static void
ngx_ota_wait_exit_watch(ngx_event_t *ev)
{
    if (ngx_exiting || ngx_terminate) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "ota wait: nginx is exiting, every waiting request "
                       "answers now");
        ngx_ota_wait_end_all();
        return;
    }

    if (!ngx_queue_empty(&ngx_ota_wait_all)) {
        ngx_add_timer(ev, NGX_OTA_WAIT_EXIT_WATCH);
    }
}


/* 204 to every waiting request, on a connection that closes after it */
static void
ngx_ota_wait_end_all(void)
{
    ngx_queue_t       *q;
    ngx_ota_wait_t    *w;
    ngx_connection_t  *c;

    while (!ngx_queue_empty(&ngx_ota_wait_all)) {
        q = ngx_queue_head(&ngx_ota_wait_all);
        w = ngx_queue_data(q, ngx_ota_wait_t, all);
        c = w->request->connection;

        w->request->keepalive = 0;
        ngx_ota_wait_end(w, NGX_HTTP_NO_CONTENT);
        ngx_http_run_posted_requests(c);
    }
}


ngx_int_t
ngx_ota_wait_init_process(ngx_cycle_t *cycle)
{
    ngx_ota_wait_omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                            ngx_ota_module);

    if (ngx_ota_wait_omcf == NULL || ngx_ota_wait_omcf->redis.len == 0) {
        return NGX_OK;
    }

    ngx_rbtree_init(&ngx_ota_wait_tree, &ngx_ota_wait_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&ngx_ota_wait_all);
    ngx_queue_init(&ngx_ota_wait_due);

    ngx_ota_event_init(&ngx_ota_wait_run_ev, ngx_ota_wait_run, cycle->log);
    ngx_ota_event_init(&ngx_ota_wait_grace_ev, ngx_ota_wait_grace,
                       cycle->log);
    ngx_ota_wait_grace_ev.cancelable = 1;     /* never delays an exit */
    ngx_ota_event_init(&ngx_ota_wait_exit_ev, ngx_ota_wait_exit_watch,
                       cycle->log);
    ngx_ota_wait_exit_ev.cancelable = 1;

    ngx_ota_wait_ready = 1;

    /* not subscribed until told so: requests may wait meanwhile, and they
     * check again once it is in place */
    ngx_ota_wait_state(0);

    return ngx_ota_sub_init_process(cycle, OTA_CHANNEL_WAKE,
                                    ngx_ota_wait_message,
                                    ngx_ota_wait_state);
}


void
ngx_ota_wait_exit_process(ngx_cycle_t *cycle)
{
    if (!ngx_ota_wait_ready) {
        return;
    }

    ngx_ota_wait_ready = 0;

    /* a fast stop (SIGTERM) closes the connections without a word: every
     * request still waiting gets its 204 first */
    ngx_ota_wait_end_all();

    if (ngx_ota_wait_exit_ev.timer_set) {
        ngx_del_timer(&ngx_ota_wait_exit_ev);
    }
    if (ngx_ota_wait_grace_ev.timer_set) {
        ngx_del_timer(&ngx_ota_wait_grace_ev);
    }
    if (ngx_ota_wait_run_ev.posted) {
        ngx_delete_posted_event(&ngx_ota_wait_run_ev);
    }

    ngx_ota_sub_exit_process(cycle);
}
