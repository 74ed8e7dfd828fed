/*
 * ngx_ota_redis.c: hiredis async on nginx events, one connection per
 * worker process.  See ngx_ota_redis.h for the contract.
 *
 * Why it is built this way:
 * - events are added level-triggered, so a reply larger than one read()
 *   is never left in the socket waiting for an edge that will not come;
 * - hiredis owns the fd: it closes it after calling our cleanup hook, so
 *   cleanup only detaches the nginx connection (no second close);
 * - hiredis 0.14 has no async timeouts: every call waiting for a reply
 *   has a deadline and a timeout resets the connection (a hung Redis then
 *   fails fast).  Made for speed: the deadlines wait in one queue under
 *   one process timer, not in an rbtree timer per call (an insert and a
 *   delete for each of a session's ~10 calls).  Every deadline is the same
 *   time after its call's first send, so the queue is in deadline order;
 *   the timer is set for the oldest and, when it fires, looks at the
 *   oldest still waiting: past its deadline, the connection is reset, else
 *   the timer is set again for it.  So a call behind calls answered
 *   already times out exactly when a timer of its own would have fired
 *   (t/69-redis-call-deadline.t);
 * - with Sentinel, each new connection first asks a sentinel where the
 *   master is and checks ROLE on it; a lost connection or a READONLY answer
 *   (the master was demoted) asks again, so a failover is followed.
 */

#include "ngx_ota_redis.h"
#include "ngx_ota_core.h"
#include "ngx_ota_metrics.h"

#include "ota_reply.h"
#include "ota_resp.h"

#include <hiredis/async.h>
#include <poll.h>


#define NGX_OTA_REDIS_BACKOFF_MIN  100
#define NGX_OTA_REDIS_BACKOFF_MAX  5000

/* ngx_ota_redis_cmd(): most arguments and integers taken without hiredis */
#define NGX_OTA_REDIS_ARGS         32
#define NGX_OTA_REDIS_NUMS         8
/* calls kept for reuse */
#define NGX_OTA_REDIS_FREE_MAX     256
/* commands up to this size are formatted in the process's buffer */
#define NGX_OTA_REDIS_BUF_MAX      65536
/* an output buffer up to this size is kept for the next commands */
#define NGX_OTA_REDIS_OBUF_KEEP    262144
/* the reader's buffer up to this size is kept between replies (hiredis
 * frees one of more than 16 KiB free space at every read that finds it
 * empty) */
#define NGX_OTA_REDIS_READ_KEEP    262144
/* commands per ms from which a write waits the whole gather time (about
 * 300 device sessions a second); below, in proportion */
#define NGX_OTA_REDIS_RATE_FULL    8


typedef enum {
    NGX_OTA_REDIS_IDLE = 0,
    NGX_OTA_REDIS_CONNECTING,
    NGX_OTA_REDIS_READY
} ngx_ota_redis_state_e;


static void ngx_ota_redis_connect(void);
static void ngx_ota_redis_schedule(void);
static void ngx_ota_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_ota_redis_reply(redisAsyncContext *ac, void *r, void *privdata);
static void ngx_ota_redis_call_free(ngx_ota_redis_call_t *call);
static void ngx_ota_redis_call_timeout(ngx_event_t *ev);
static void ngx_ota_redis_write_out(redisAsyncContext *ac);
static void ngx_ota_arena_use(redisAsyncContext *ac);
static void ngx_ota_arena_unuse(redisAsyncContext *ac);
#if (NGX_DEBUG)
static ngx_log_t *ngx_ota_call_log(ngx_ota_redis_call_t *call);
static void ngx_ota_redis_cmd_name(char *cmd, int len, ngx_str_t *name);
#endif


static redisAsyncContext      *ngx_ota_ac;
static ngx_ota_redis_state_e   ngx_ota_state;
static ngx_event_t             ngx_ota_reconnect_ev;
static ngx_msec_t              ngx_ota_backoff = NGX_OTA_REDIS_BACKOFF_MIN;
static ngx_ota_main_conf_t    *ngx_ota_omcf;
static ngx_log_t              *ngx_ota_log;
static ngx_uint_t              ngx_ota_exiting;
static ngx_ota_redis_ready_pt  ngx_ota_ready_handler;
static ngx_connection_t       *ngx_ota_redis_writing;

/* the rate of commands, for the gather's hold (add_write) */
static ngx_uint_t              ngx_ota_redis_queued;   /* since the write */
static ngx_msec_t              ngx_ota_redis_wrote;    /* the last write */
static ngx_uint_t              ngx_ota_redis_rate;     /* per ms x 16 */
static ngx_queue_t             ngx_ota_redis_armed;    /* by deadline */
static ngx_event_t             ngx_ota_redis_deadline_ev;
static ngx_ota_redis_call_t   *ngx_ota_redis_free;     /* via ->data */
static ngx_uint_t              ngx_ota_redis_nfree;

/* made for speed: commands are written here in RESP (ota_resp.c: no
 * printf, no malloc per command; hiredis copies them into its output
 * buffer), which took the formatting's cost from ~32 to ~8 us per device
 * session (bench/README.md, "Fleet cost") */
static char                   *ngx_ota_redis_buf;
static size_t                  ngx_ota_redis_buf_size;

/* Sentinel: which sentinel to ask next, the master it named */
static ngx_uint_t              ngx_ota_discovering;
static ngx_uint_t              ngx_ota_sentinel_next;
static ngx_uint_t              ngx_ota_have_master;
static u_char                  ngx_ota_master_host[NGX_SOCKADDR_STRLEN + 1];
static int                     ngx_ota_master_port;


/* ---- hiredis event hooks ------------------------------------------------ */

static void
ngx_ota_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_ota_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


/*
 * Made for speed: a loopback Redis socket nearly always has room, so the
 * commands queued during the gather time (or, with gather=0, an event loop
 * iteration) are written when it ends by the write event's timer (or the
 * posted write event): one write for all of them, not by a write event
 * added to epoll for each batch and deleted after it (two epoll_ctl per
 * batch).  Only output left by a write (EAGAIN, a short write) and the
 * non-blocking connect wait for epoll's write event.
 */
static void
ngx_ota_redis_add_write(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac = c->data;
    ngx_msec_t          hold;

    if (ac == ngx_ota_ac) {
        ngx_ota_redis_queued++;     /* hiredis calls this for each command */
    }

    if (c->write->active) {
        return;                     /* epoll tells when there is room */
    }

    if (!(ac->c.flags & REDIS_CONNECTED) || ngx_ota_redis_writing == c) {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->write->log, 0,
                       "ota redis: fd:%d %s, waiting for the socket",
                       c->fd, (ac->c.flags & REDIS_CONNECTED)
                              ? "has output left" : "connects");

        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
        return;
    }

    if (c->write->posted || c->write->timer_set) {
        return;                     /* a write is coming */
    }

    /*
     * Made for speed: with ota_redis gather= the commands of the next
     * milliseconds go out together.  Redis pays for each read of a client
     * (a wake-up, the read, the reply's write, the AOF write) about as
     * much as for the small commands in it, and a node busy with downloads
     * ran short loop iterations that sent its commands a few at a time.
     * The hold grows with the process's rate of commands: the whole
     * gather time from NGX_OTA_REDIS_RATE_FULL commands per ms, nothing
     * for a process that is nearly idle, whose requests then wait for no
     * timer (and whose few writes cost Redis nothing worth saving), nor
     * for one whose connection was quiet for four gather times.
     */
    hold = ngx_ota_omcf->redis_gather;

    if (ngx_current_msec - ngx_ota_redis_wrote >= 4 * hold) {
        ngx_ota_redis_rate = 0;     /* quiet for a while: the load is gone */
    }

    if (ngx_ota_redis_rate < NGX_OTA_REDIS_RATE_FULL * 16) {
        hold = hold * ngx_ota_redis_rate / (NGX_OTA_REDIS_RATE_FULL * 16);
    }

    if (hold && !ngx_ota_exiting && !ngx_exiting && !ngx_terminate) {
        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, c->write->log, 0,
                       "ota redis: fd:%d commands gathered for %Mms "
                       "(%ui per 16 ms)", c->fd, hold, ngx_ota_redis_rate);

        ngx_add_timer(c->write, hold);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->write->log, 0,
                   "ota redis: fd:%d commands written at once "
                   "(%ui per 16 ms)", c->fd, ngx_ota_redis_rate);

    ngx_post_event(c->write, &ngx_posted_events);
}


/*
 * The rate of commands the gather's hold follows: the commands of this
 * write over the time since the one before, averaged over about four
 * writes (per ms x 16, so that a rate below one a ms still counts).
 */
static void
ngx_ota_redis_wrote_now(void)
{
    ngx_msec_t  elapsed;
    ngx_uint_t  sample;

    elapsed = ngx_current_msec - ngx_ota_redis_wrote;
    if (elapsed == 0) {
        elapsed = 1;
    }

    sample = ngx_ota_redis_queued * 16 / elapsed;

    ngx_ota_redis_rate = (ngx_ota_redis_rate * 3 + sample) / 4;
    ngx_ota_redis_queued = 0;
    ngx_ota_redis_wrote = ngx_current_msec;
}


static void
ngx_ota_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


void
ngx_ota_redis_unwrap(ngx_connection_t *c)
{
    ngx_ota_redis_del_read(c);
    ngx_ota_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


/* hiredis is about to free the context and close the fd itself */
static void
ngx_ota_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_ota_arena_unuse(c->data);
    ngx_ota_redis_unwrap(privdata);

    ngx_ota_ac = NULL;
    ngx_ota_state = NGX_OTA_REDIS_IDLE;
}


/*
 * The handlers of every wrapped context (this file's and the
 * subscription's): c->data is the context until hiredis frees it, and
 * then the cleanup has freed c (fd -1: nginx drops its stale events).
 */
static void
ngx_ota_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_ota_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ev->timedout = 0;               /* the gather's timer (add_write) */

    if (c->data == ngx_ota_ac) {
        ngx_ota_redis_wrote_now();
    }

    /* output left by this write waits for epoll (add_write) */
    ngx_ota_redis_writing = c;
    ngx_ota_redis_write_out(c->data);
    ngx_ota_redis_writing = NULL;
}


/*
 * What redisAsyncHandleWrite() does on a connected context (hiredis 0.14,
 * async.c and hiredis.c's redisBufferWrite), written here: made for speed,
 * the output buffer is emptied in place when all of it went out, where
 * redisBufferWrite frees it and mallocs an empty one after every write
 * (and the next command's append grows it again: a realloc or two per
 * batch).  A short write drops what went out (sdsrange, as hiredis).  The
 * buffer is given back to malloc once it has grown past
 * NGX_OTA_REDIS_OBUF_KEEP (a large script once sent).  Errors are hiredis's:
 * EAGAIN and EINTR leave the output for the write event; any other error
 * is set on the context as redisBufferWrite sets it, and
 * redisAsyncHandleWrite(), seeing it, disconnects (pending calls get
 * NULL, the disconnect callback runs) as it would have.  The connect's
 * first write event still goes to hiredis.
 */
static void
ngx_ota_redis_write_out(redisAsyncContext *ac)
{
    sds            empty;
    size_t         len;
    ssize_t        n;
    u_char        *p;
    ngx_err_t      err;
    redisContext  *rc = &ac->c;

    if (!(rc->flags & REDIS_CONNECTED) || rc->err) {
        redisAsyncHandleWrite(ac);
        return;
    }

    len = sdslen(rc->obuf);

    if (len) {
        n = send(rc->fd, rc->obuf, len, 0);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err != NGX_EAGAIN && err != NGX_EINTR) {
                rc->err = REDIS_ERR_IO;
                p = ngx_strerror(err, (u_char *) rc->errstr,
                                 sizeof(rc->errstr) - 1);
                *p = '\0';

                redisAsyncHandleWrite(ac);      /* the error: disconnects */
                return;
            }

        } else if ((size_t) n == len) {
            if (sdsalloc(rc->obuf) <= NGX_OTA_REDIS_OBUF_KEEP) {
                sdsclear(rc->obuf);

            } else {
                empty = sdsempty();
                if (empty != NULL) {
                    sdsfree(rc->obuf);
                    rc->obuf = empty;

                } else {
                    sdsclear(rc->obuf);
                }
            }

        } else if (n > 0) {
            sdsrange(rc->obuf, (int) n, -1);
        }
    }

    /* as hiredis: go on writing when not done, and always read after */
    if (sdslen(rc->obuf)) {
        ac->ev.addWrite(ac->ev.data);

    } else {
        ac->ev.delWrite(ac->ev.data);
    }

    ac->ev.addRead(ac->ev.data);
}


/* ---- replies in one block ------------------------------------------------ */

/*
 * Made for speed: the replies of the process's connection are built in a
 * block of memory kept for them, not in two mallocs per object (a six
 * field HMGET is 14 mallocs and 14 frees with hiredis's functions).
 * hiredis frees a reply right after its callback and starts the next one
 * only then, so freeing a reply (or the one it was building when the
 * context goes) is emptying the block.  A reply larger than the block goes
 * on in chunks of their own, freed with it.
 */

#define NGX_OTA_ARENA_SIZE   16384

typedef struct ngx_ota_arena_s  ngx_ota_arena_t;

struct ngx_ota_arena_s {
    ngx_ota_arena_t      *next;         /* chunks after the kept block */
    size_t                size;
    size_t                used;
    u_char                data[1];
};

static ngx_ota_arena_t          *ngx_ota_arena;        /* the kept block */
static ngx_ota_arena_t          *ngx_ota_arena_cur;    /* where to carve */
static redisReader              *ngx_ota_arena_reader; /* its one user */


static void *
ngx_ota_arena_alloc(size_t n)
{
    size_t            size;
    ngx_ota_arena_t  *a = ngx_ota_arena_cur;

    n = ngx_align(n, 16);

    if (a->used + n > a->size) {
        size = ngx_max(n, NGX_OTA_ARENA_SIZE * 4);

        a = ngx_alloc(offsetof(ngx_ota_arena_t, data) + size, ngx_ota_log);
        if (a == NULL) {
            return NULL;                /* hiredis: out of memory */
        }

        a->size = size;
        a->used = 0;
        a->next = ngx_ota_arena->next;
        ngx_ota_arena->next = a;
        ngx_ota_arena_cur = a;
    }

    a->used += n;

    return a->data + a->used - n;
}


static void
ngx_ota_arena_free(void *obj)
{
    ngx_ota_arena_t  *a, *next;

    for (a = ngx_ota_arena->next; a != NULL; a = next) {
        next = a->next;
        ngx_free(a);
    }

    ngx_ota_arena->next = NULL;
    ngx_ota_arena->used = 0;
    ngx_ota_arena_cur = ngx_ota_arena;
}


/* the reply functions are include/ota_reply.c's (the worker's arena uses
 * them too); they carve from the block through this */
static void *
ngx_ota_arena_carve(void *data, size_t n)
{
    return ngx_ota_arena_alloc(n);
}


static ota_reply_carver_t  ngx_ota_arena_carver = { ngx_ota_arena_carve, NULL };


static redisReplyObjectFunctions  ngx_ota_arena_fns = {
    ota_reply_string,
    ota_reply_array,
    ota_reply_integer,
    ota_reply_nil,
    ngx_ota_arena_free
};


/* the process's connection builds its replies in the block (one context
 * at a time: another keeps hiredis's functions) */
static void
ngx_ota_arena_use(redisAsyncContext *ac)
{
    if (ngx_ota_arena_reader != NULL) {
        return;
    }

    if (ngx_ota_arena == NULL) {
        ngx_ota_arena = ngx_alloc(offsetof(ngx_ota_arena_t, data)
                                  + NGX_OTA_ARENA_SIZE, ngx_ota_log);
        if (ngx_ota_arena == NULL) {
            return;                     /* hiredis's functions, then */
        }

        ngx_ota_arena->size = NGX_OTA_ARENA_SIZE;
        ngx_ota_arena->next = NULL;
    }

    ngx_ota_arena_free(NULL);

    ac->c.reader->fn = &ngx_ota_arena_fns;
    ac->c.reader->privdata = &ngx_ota_arena_carver;
    ngx_ota_arena_reader = ac->c.reader;
}


/* the context is being freed: its reader frees what it was building after
 * this (into the block: emptied), then nothing uses the block */
static void
ngx_ota_arena_unuse(redisAsyncContext *ac)
{
    if (ac != NULL && ngx_ota_arena_reader == ac->c.reader) {
        ngx_ota_arena_reader = NULL;
    }
}


/* ---- connection life ----------------------------------------------------- */

/* a connection ended: where to go next time */
static void
ngx_ota_redis_lost(void)
{
    if (ngx_ota_omcf->redis_sentinels == NULL) {
        return;
    }

    if (ngx_ota_discovering) {
        ngx_ota_sentinel_next++;

    } else {
        ngx_ota_have_master = 0;
    }
}


static void
ngx_ota_redis_on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_ota_redis_lost();
        ngx_log_error(NGX_LOG_WARN, ngx_ota_log, 0,
                      "ota: redis %V: connect failed: %s",
                      &ngx_ota_omcf->redis, ac->errstr ? ac->errstr : "?");
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
        ngx_ota_redis_schedule();
    }
}


static void
ngx_ota_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    /* a sentinel we hung up on after its answer is no loss */
    if (!(ngx_ota_discovering && ngx_ota_have_master)) {
        ngx_ota_redis_lost();
    }

    if (status != REDIS_OK && !ngx_ota_exiting) {
        ngx_log_error(NGX_LOG_WARN, ngx_ota_log, 0,
                      "ota: redis %V: connection lost: %s",
                      &ngx_ota_omcf->redis, ac->errstr ? ac->errstr : "?");
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
    }
    ngx_ota_redis_schedule();
}


/* reply to the AUTH/SELECT/PING sent first on a new connection */
static void
ngx_ota_redis_hello(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply = r;
    uintptr_t    last = (uintptr_t) privdata;

    if (reply == NULL) {
        return;                       /* disconnect: already rescheduled */
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_ota_log, 0,
                      "ota: redis %V: %*s", &ngx_ota_omcf->redis,
                      (int) reply->len, reply->str);
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
        /* wrong password or db: retry later, slowly */
        ngx_ota_backoff = NGX_OTA_REDIS_BACKOFF_MAX;
        redisAsyncDisconnect(ac);
        return;
    }

    if (last == 2) {
        /* ROLE: a sentinel may still name a demoted master for a while */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
            || reply->element[0]->type != REDIS_REPLY_STRING
            || ngx_strcmp(reply->element[0]->str, "master") != 0)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_ota_log, 0,
                          "ota: redis %s:%d is not a master, asking the "
                          "sentinels again", ngx_ota_master_host,
                          ngx_ota_master_port);
            ngx_ota_have_master = 0;
            redisAsyncDisconnect(ac);
        }
        return;
    }

    if (last && ngx_ota_state == NGX_OTA_REDIS_CONNECTING) {
        ngx_ota_state = NGX_OTA_REDIS_READY;
        ngx_ota_backoff = NGX_OTA_REDIS_BACKOFF_MIN;

        ngx_log_error(NGX_LOG_INFO, ngx_ota_log, 0,
                      "ota: redis %V: connected", &ngx_ota_omcf->redis);

        if (ngx_ota_ready_handler) {
            ngx_ota_ready_handler();
        }
    }
}


ngx_int_t
ngx_ota_redis_wrap(redisAsyncContext *ac, const char *where, ngx_log_t *log,
    void (*cleanup)(void *privdata))
{
    ngx_connection_t  *c;

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "ota: redis %s: out of memory",
                      where);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_WARN, log, 0, "ota: redis %s: %s", where,
                      ac->errstr);
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_ota_redis_read_handler;
    c->write->handler = ngx_ota_redis_write_handler;
    c->read->log = log;
    c->write->log = log;

    /* made for speed: the reader's buffer is not freed and allocated again
     * at every read (ngx_ota_redis_write_out for the other side) */
    ac->c.reader->maxbuf = NGX_OTA_REDIS_READ_KEEP;

    ac->ev.data = c;
    ac->ev.addRead = ngx_ota_redis_add_read;
    ac->ev.delRead = ngx_ota_redis_del_read;
    ac->ev.addWrite = ngx_ota_redis_add_write;
    ac->ev.delWrite = ngx_ota_redis_del_write;
    ac->ev.cleanup = cleanup;

    return NGX_OK;
}


/* wraps a new hiredis context's fd in an nginx connection */
static ngx_int_t
ngx_ota_redis_attach(redisAsyncContext *ac, const char *where)
{
    if (ngx_ota_redis_wrap(ac, where, ngx_ota_log, ngx_ota_redis_cleanup)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    (void) redisAsyncSetConnectCallback(ac, ngx_ota_redis_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac, ngx_ota_redis_on_disconnect);

    ngx_ota_arena_use(ac);

    ngx_ota_ac = ac;

    return NGX_OK;
}


/* SENTINEL get-master-addr-by-name answer: ["ip", "port"] or nil */
static void
ngx_ota_redis_sentinel_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply  *reply = r;
    ngx_int_t    port = NGX_ERROR;
    size_t       len = 0;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        len = reply->element[0]->len;
        port = ngx_atoi((u_char *) reply->element[1]->str,
                        reply->element[1]->len);
    }

    /* only an IP literal: a host name would need blocking DNS */
    if (port > 0 && port < 65536 && len > 0 && len < sizeof(ngx_ota_master_host)
        && (ngx_inet_addr((u_char *) reply->element[0]->str, len)
            != INADDR_NONE
#if (NGX_HAVE_INET6)
            || ngx_inet6_addr((u_char *) reply->element[0]->str, len, NULL)
               == NGX_OK
#endif
           ))
    {
        ngx_memcpy(ngx_ota_master_host, reply->element[0]->str, len);
        ngx_ota_master_host[len] = '\0';
        ngx_ota_master_port = (int) port;
        ngx_ota_have_master = 1;
        ngx_ota_backoff = NGX_OTA_REDIS_BACKOFF_MIN;

        ngx_log_error(NGX_LOG_INFO, ngx_ota_log, 0,
                      "ota: redis sentinel: master \"%V\" is at %s:%d",
                      &ngx_ota_omcf->redis_master, ngx_ota_master_host,
                      ngx_ota_master_port);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_ota_log, 0,
                      "ota: redis sentinel does not name master \"%V\"",
                      &ngx_ota_omcf->redis_master);
        /* ngx_ota_redis_lost() moves on to the next sentinel */
    }

    /* the disconnect callback schedules the connection to the master */
    redisAsyncDisconnect(ac);
}


static void
ngx_ota_redis_connect(void)
{
    char                 where[NGX_SOCKADDR_STRLEN + 16];
    ngx_ota_addr_t      *sa;
    redisAsyncContext   *ac;
    ngx_ota_main_conf_t *omcf = ngx_ota_omcf;

    if (omcf->redis_sentinels && !ngx_ota_have_master) {
        sa = omcf->redis_sentinels->elts;
        sa += ngx_ota_sentinel_next % omcf->redis_sentinels->nelts;

        ngx_snprintf((u_char *) where, sizeof(where) - 1, "sentinel %V:%d%Z",
                     &sa->host, (int) sa->port);

        ac = redisAsyncConnect((char *) sa->host.data, (int) sa->port);
        if (ngx_ota_redis_attach(ac, where) != NGX_OK) {
            ngx_ota_sentinel_next++;
            ngx_ota_redis_schedule();
            return;
        }

        ngx_ota_discovering = 1;
        ngx_ota_state = NGX_OTA_REDIS_CONNECTING;

        (void) redisAsyncCommand(ac, ngx_ota_redis_sentinel_reply, NULL,
                                 "SENTINEL get-master-addr-by-name %b",
                                 omcf->redis_master.data,
                                 omcf->redis_master.len);
        return;
    }

    ngx_ota_discovering = 0;

    if (omcf->redis_sentinels) {
        ac = redisAsyncConnect((char *) ngx_ota_master_host,
                               ngx_ota_master_port);
    } else if (omcf->redis_unix.len) {
        ac = redisAsyncConnectUnix((char *) omcf->redis_unix.data);
    } else {
        ac = redisAsyncConnect((char *) omcf->redis_host.data,
                               (int) omcf->redis_port);
    }

    ngx_snprintf((u_char *) where, sizeof(where) - 1, "%V%Z", &omcf->redis);

    if (ngx_ota_redis_attach(ac, where) != NGX_OK) {
        ngx_ota_redis_lost();
        ngx_ota_redis_schedule();
        return;
    }

    ngx_ota_state = NGX_OTA_REDIS_CONNECTING;

    /* the first command also drives hiredis's non-blocking connect */
    if (omcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_ota_redis_hello, (void *) 0,
                                 "AUTH %b", omcf->redis_password.data,
                                 omcf->redis_password.len);
    }
    if (omcf->redis_db > 0) {
        (void) redisAsyncCommand(ac, ngx_ota_redis_hello, (void *) 0,
                                 "SELECT %d", (int) omcf->redis_db);
    }
    /* CLIENT LIST then tells operators which connections are nginx's */
    (void) redisAsyncCommand(ac, ngx_ota_redis_hello, (void *) 0,
                             "CLIENT SETNAME ota-nginx-%d", (int) ngx_pid);
    if (omcf->redis_sentinels) {
        (void) redisAsyncCommand(ac, ngx_ota_redis_hello, (void *) 2, "ROLE");
    }
    (void) redisAsyncCommand(ac, ngx_ota_redis_hello, (void *) 1, "PING");
}


static void
ngx_ota_redis_schedule(void)
{
    if (ngx_ota_exiting || ngx_ota_reconnect_ev.timer_set) {
        return;
    }

    ngx_add_timer(&ngx_ota_reconnect_ev, ngx_ota_backoff);

    ngx_ota_backoff *= 2;
    if (ngx_ota_backoff > NGX_OTA_REDIS_BACKOFF_MAX) {
        ngx_ota_backoff = NGX_OTA_REDIS_BACKOFF_MAX;
    }
}


static void
ngx_ota_redis_reconnect_handler(ngx_event_t *ev)
{
    if (ngx_ota_exiting || ngx_exiting || ngx_ota_ac != NULL) {
        return;
    }

    ngx_ota_metric_add(NGX_OTA_M_REDIS_RECONNECTS, 1);
    ngx_ota_redis_connect();
}


ngx_int_t
ngx_ota_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_ota_omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ota_module);

    ngx_queue_init(&ngx_ota_redis_armed);

    if (ngx_ota_omcf == NULL || ngx_ota_omcf->redis.len == 0) {
        return NGX_OK;                     /* no ota_redis: nothing to do */
    }

    ngx_ota_log = cycle->log;
    ngx_ota_exiting = 0;

    ngx_ota_event_init(&ngx_ota_reconnect_ev,
                       ngx_ota_redis_reconnect_handler, cycle->log);
    ngx_ota_event_init(&ngx_ota_redis_deadline_ev,
                       ngx_ota_redis_call_timeout, cycle->log);

    ngx_ota_redis_connect();

    return NGX_OK;
}


ngx_int_t
ngx_ota_redis_drain(void)
{
    int            done;
    ngx_uint_t     i;
    struct pollfd  pfd;

    if (ngx_ota_ac == NULL || !(ngx_ota_ac->c.flags & REDIS_CONNECTED)
        || ngx_ota_ac->c.err)
    {
        return NGX_ERROR;
    }

    /* the event loop is over: a short wait for room is fine here */
    for (i = 0; i < 4; i++) {
        done = 0;

        if (redisBufferWrite(&ngx_ota_ac->c, &done) == REDIS_ERR) {
            return NGX_ERROR;
        }

        if (done) {
            ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                           "ota redis: exit, every queued command written");
            return NGX_OK;
        }

        pfd.fd = ngx_ota_ac->c.fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;

        (void) poll(&pfd, 1, 50);
    }

    return NGX_ERROR;
}


void
ngx_ota_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_ota_redis_call_t  *call;

    ngx_ota_exiting = 1;

    if (ngx_ota_reconnect_ev.timer_set) {
        ngx_del_timer(&ngx_ota_reconnect_ev);
    }

    if (ngx_ota_redis_deadline_ev.timer_set) {
        ngx_del_timer(&ngx_ota_redis_deadline_ev);
    }

    if (ngx_ota_ac != NULL) {
        /* pending calls get a NULL reply; hiredis closes the fd */
        redisAsyncFree(ngx_ota_ac);
        ngx_ota_ac = NULL;
    }

    while (ngx_ota_redis_free) {
        call = ngx_ota_redis_free;
        ngx_ota_redis_free = call->data;
        ngx_free(call);
    }
    ngx_ota_redis_nfree = 0;

    if (ngx_ota_redis_buf) {
        ngx_free(ngx_ota_redis_buf);
        ngx_ota_redis_buf = NULL;
        ngx_ota_redis_buf_size = 0;
    }

    if (ngx_ota_arena != NULL && ngx_ota_arena_reader == NULL) {
        ngx_ota_arena_free(NULL);
        ngx_free(ngx_ota_arena);
        ngx_ota_arena = NULL;
    }
}


ngx_uint_t
ngx_ota_redis_ready(void)
{
    return ngx_ota_ac != NULL && ngx_ota_state == NGX_OTA_REDIS_READY;
}


void
ngx_ota_redis_target(const char **host, int *port, const char **path)
{
    *host = NULL;
    *port = 0;
    *path = NULL;

    if (ngx_ota_omcf == NULL) {
        return;
    }

    if (ngx_ota_omcf->redis_sentinels) {
        if (ngx_ota_have_master) {
            *host = (const char *) ngx_ota_master_host;
            *port = ngx_ota_master_port;
        }

    } else if (ngx_ota_omcf->redis_unix.len) {
        *path = (const char *) ngx_ota_omcf->redis_unix.data;

    } else {
        *host = (const char *) ngx_ota_omcf->redis_host.data;
        *port = (int) ngx_ota_omcf->redis_port;
    }
}


redisContext *
ngx_ota_redis_blocking(ngx_cycle_t *cycle)
{
    int                   port;
    const char           *host, *path;
    redisReply           *reply;
    redisContext         *rc;
    struct timeval        tv;
    ngx_ota_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ota_module);
    if (omcf == NULL || omcf->redis.len == 0) {
        return NULL;
    }

    tv.tv_sec = 0;
    tv.tv_usec = 300000;

    /* the async connection's target: the Sentinel-named master too */
    ngx_ota_redis_target(&host, &port, &path);

    if (path) {
        rc = redisConnectUnixWithTimeout(path, tv);
    } else if (host) {
        rc = redisConnectWithTimeout(host, port, tv);
    } else {
        rc = NULL;
    }

    if (rc == NULL || rc->err) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ota: redis %V at exit: %s", &omcf->redis,
                      rc ? rc->errstr : "no address or no memory");
        if (rc) {
            redisFree(rc);
        }
        return NULL;
    }

    tv.tv_usec = 500000;
    (void) redisSetTimeout(rc, tv);

    if (omcf->redis_password.len) {
        reply = redisCommand(rc, "AUTH %b", omcf->redis_password.data,
                             omcf->redis_password.len);
        if (reply) {
            freeReplyObject(reply);
        }
    }

    if (omcf->redis_db > 0) {
        reply = redisCommand(rc, "SELECT %d", (int) omcf->redis_db);
        if (reply) {
            freeReplyObject(reply);
        }
    }

    return rc;
}


void
ngx_ota_redis_on_ready(ngx_ota_redis_ready_pt handler)
{
    ngx_ota_ready_handler = handler;
}


/* ---- calls ---------------------------------------------------------------- */

/* the call waits for a reply from now on: its deadline, in the queue */
static void
ngx_ota_redis_arm(ngx_ota_redis_call_t *call)
{
    call->deadline = ngx_current_msec + ngx_ota_omcf->redis_timeout;
    call->is_armed = 1;
    ngx_queue_insert_tail(&ngx_ota_redis_armed, &call->armed);

    /* set: for an earlier deadline, which comes first */
    if (!ngx_ota_redis_deadline_ev.timer_set) {
        ngx_add_timer(&ngx_ota_redis_deadline_ev,
                      ngx_ota_omcf->redis_timeout);
    }
}


/* no reply owed: out of the queue (the timer stays; made for speed) */
static void
ngx_ota_redis_disarm(ngx_ota_redis_call_t *call)
{
    if (call->is_armed) {
        ngx_queue_remove(&call->armed);
        call->is_armed = 0;
    }
}


static void
ngx_ota_redis_call_timeout(ngx_event_t *ev)
{
    ngx_msec_int_t         left;
    ngx_ota_redis_call_t  *call;

    if (ngx_queue_empty(&ngx_ota_redis_armed)) {
        return;                     /* every call answered in time */
    }

    call = ngx_queue_data(ngx_queue_head(&ngx_ota_redis_armed),
                          ngx_ota_redis_call_t, armed);

    left = (ngx_msec_int_t) (call->deadline - ngx_current_msec);

    if (left > 0) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_ota_log, 0,
                       "ota redis: call %p waits, %M ms to its deadline",
                       call, (ngx_msec_t) left);
        ngx_add_timer(ev, (ngx_msec_t) left);
        return;
    }

    /* not looked at again: a connection that cannot be reset (none)
     * does not make the timer fire at once for it again */
    ngx_ota_redis_disarm(call);

    call->timedout = 1;

    ngx_log_error(NGX_LOG_ERR, ngx_ota_log, 0,
                  "ota: redis %V: no answer in %M ms, resetting connection",
                  &ngx_ota_omcf->redis, ngx_ota_omcf->redis_timeout);
    ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);

    /* every pending call, this one included, gets its NULL reply now */
    if (ngx_ota_ac != NULL) {
        redisAsyncFree(ngx_ota_ac);
        ngx_ota_ac = NULL;
        ngx_ota_state = NGX_OTA_REDIS_IDLE;
        ngx_ota_redis_schedule();
    }

    /* the calls of the connection got their NULL replies: none is left,
     * unless one waits on no connection */
    if (!ngx_queue_empty(&ngx_ota_redis_armed) && !ev->timer_set) {
        call = ngx_queue_data(ngx_queue_head(&ngx_ota_redis_armed),
                              ngx_ota_redis_call_t, armed);
        left = (ngx_msec_int_t) (call->deadline - ngx_current_msec);
        ngx_add_timer(ev, left > 0 ? (ngx_msec_t) left : 1);
    }
}


static void
ngx_ota_redis_request_cleanup(void *data)
{
    ngx_ota_redis_call_t  *call = data;

    call->request = NULL;
    call->done = 1;

    if (call->pending == 0 && !call->in_handler) {
        ngx_ota_redis_call_free(call);
    }
}


static void
ngx_ota_redis_call_free(ngx_ota_redis_call_t *call)
{
    ngx_ota_redis_disarm(call);

    /* made for speed: kept for the next call (a malloc and a free less
     * for each of the ~10 calls of a device session) */
    if (ngx_ota_redis_nfree < NGX_OTA_REDIS_FREE_MAX) {
        call->data = ngx_ota_redis_free;
        ngx_ota_redis_free = call;
        ngx_ota_redis_nfree++;
        return;
    }

    ngx_free(call);
}


static ngx_ota_redis_call_t *
ngx_ota_redis_call_alloc(ngx_ota_redis_handler_pt handler, void *data)
{
    ngx_ota_redis_call_t  *call;

    if (ngx_ota_redis_free != NULL) {
        call = ngx_ota_redis_free;
        ngx_ota_redis_free = call->data;
        ngx_ota_redis_nfree--;
        ngx_memzero(call, sizeof(ngx_ota_redis_call_t));

    } else {
        call = ngx_calloc(sizeof(ngx_ota_redis_call_t), ngx_ota_log);
        if (call == NULL) {
            return NULL;
        }
    }

    call->handler = handler;
    call->data = data;

    return call;
}


ngx_ota_redis_call_t *
ngx_ota_redis_call(ngx_http_request_t *r, ngx_ota_redis_handler_pt handler,
    void *data)
{
    ngx_pool_cleanup_t    *cln;
    ngx_ota_redis_call_t  *call;

    if (ngx_ota_log == NULL) {
        /* the process's log: a connection's log dies with the connection,
         * and the call may outlive it */
        ngx_ota_log = ngx_cycle->log;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    call = ngx_ota_redis_call_alloc(handler, data);
    if (call == NULL) {
        return NULL;
    }

    call->request = r;
    cln->handler = ngx_ota_redis_request_cleanup;
    cln->data = call;

    return call;
}


void
ngx_ota_redis_call_abort(ngx_ota_redis_call_t *call)
{
    /* still referenced by the request's pool cleanup, which frees it */
    call->done = 1;
}


static void
ngx_ota_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_ota_redis_call_t  *call = privdata;
    redisReply            *reply = r;
    ngx_connection_t      *c = NULL;

    call->pending--;
    call->index = call->received++;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ngx_ota_call_log(call), 0,
                   "ota redis: call %p reply %ui: %s %L%s",
                   call, call->index,
                   reply == NULL ? "none (connection lost)"
                   : reply->type == REDIS_REPLY_ERROR ? "error"
                   : reply->type == REDIS_REPLY_NIL ? "nil"
                   : reply->type == REDIS_REPLY_INTEGER ? "integer"
                   : reply->type == REDIS_REPLY_ARRAY ? "array of"
                   : "string of",
                   (int64_t) (reply == NULL ? 0
                              : reply->type == REDIS_REPLY_INTEGER
                                ? reply->integer
                              : reply->type == REDIS_REPLY_ARRAY
                                ? (long long) reply->elements
                              : (long long) reply->len),
                   call->done ? ", for a request answered already" : "");

    if (call->pending == 0) {
        ngx_ota_redis_disarm(call);
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
    }

    /* the master became a replica (failover): find the new one */
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "READONLY", 8) == 0
        && ngx_ota_state == NGX_OTA_REDIS_READY)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_ota_log, 0,
                      "ota: redis %V is read-only now, reconnecting",
                      &ngx_ota_omcf->redis);
        ngx_ota_have_master = 0;
        ngx_ota_state = NGX_OTA_REDIS_CONNECTING;     /* refuse new calls */
        redisAsyncDisconnect(ac);
    }

    if (!call->done && call->handler != NULL) {
        if (call->request != NULL) {
            c = call->request->connection;
        }

        if (reply == NULL) {
            call->done = 1;           /* one NULL answer per call */
        }

        call->in_handler = 1;
        call->handler(call, reply);
        call->in_handler = 0;

        if (c != NULL) {
            ngx_http_run_posted_requests(c);
        }
    }

    if (call->pending == 0 && call->request == NULL) {
        ngx_ota_redis_call_free(call);
    }
}


#if (NGX_DEBUG)

/* the log of a call: its request's, else the process's */
static ngx_log_t *
ngx_ota_call_log(ngx_ota_redis_call_t *call)
{
    return call->request != NULL ? call->request->connection->log
                                 : ngx_ota_log;
}


/* the command's name in its RESP form ("*N\r\n$L\r\nNAME\r\n...") */
static void
ngx_ota_redis_cmd_name(char *cmd, int len, ngx_str_t *name)
{
    u_char  *p, *last, *nl;
    size_t   n;

    ngx_str_set(name, "?");

    p = (u_char *) cmd;
    last = p + len;

    nl = ngx_strlchr(p, last, '\n');
    if (nl == NULL || nl + 1 >= last || nl[1] != '$') {
        return;
    }

    p = nl + 2;
    nl = ngx_strlchr(p, last, '\n');
    if (nl == NULL) {
        return;
    }

    n = (size_t) ngx_atoi(p, nl - 1 - p);
    if (n == (size_t) NGX_ERROR || nl + 1 + n > last) {
        return;
    }

    name->data = nl + 1;
    name->len = n;
}

#endif


/* queues a formatted command (the caller frees it) */
static ngx_int_t
ngx_ota_redis_send(ngx_ota_redis_call_t *call, char *cmd, size_t len)
{
    int        rc;
#if (NGX_DEBUG)
    ngx_str_t  name;
#endif

#if (NGX_DEBUG)
    ngx_str_set(&name, "?");
    if (ngx_ota_call_log(call)->log_level & NGX_LOG_DEBUG_HTTP) {
        ngx_ota_redis_cmd_name(cmd, (int) len, &name);
    }
#endif

    rc = redisAsyncFormattedCommand(ngx_ota_ac, ngx_ota_redis_reply, call,
                                    cmd, len);

    if (rc != REDIS_OK) {
        ngx_ota_metric_add(NGX_OTA_M_REDIS_ERRORS, 1);
        return NGX_ERROR;
    }

    call->sent++;
    call->pending++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_ota_call_log(call), 0,
                   "ota redis: call %p sends %V (%uz bytes), %ui pending",
                   call, &name, len, call->pending);

    if (!call->is_armed) {
        ngx_ota_redis_arm(call);
    }

    return NGX_OK;
}


/* formats argv in RESP in the process's buffer (a large command in a
 * buffer of its own) and queues it */
static ngx_int_t
ngx_ota_redis_send_argv(ngx_ota_redis_call_t *call, int argc,
    const char **argv, const size_t *argvlen)
{
    char       *cmd;
    size_t      len, size;
    ngx_int_t   rc;

    len = ota_resp_len(argc, argv, argvlen);

    if (len >= NGX_OTA_REDIS_BUF_MAX) {
        cmd = ngx_alloc(len + 1, ngx_ota_log);
        if (cmd == NULL) {
            return NGX_ERROR;
        }

        (void) ota_resp_write(cmd, argc, argv, argvlen);
        rc = ngx_ota_redis_send(call, cmd, len);
        ngx_free(cmd);

        return rc;
    }

    if (len >= ngx_ota_redis_buf_size) {
        size = ngx_max(len + 1, 4096);

        cmd = ngx_alloc(size, ngx_ota_log);
        if (cmd == NULL) {
            return NGX_ERROR;
        }

        if (ngx_ota_redis_buf) {
            ngx_free(ngx_ota_redis_buf);
        }

        ngx_ota_redis_buf = cmd;
        ngx_ota_redis_buf_size = size;
    }

    (void) ota_resp_write(ngx_ota_redis_buf, argc, argv, argvlen);

    return ngx_ota_redis_send(call, ngx_ota_redis_buf, len);
}


ngx_int_t
ngx_ota_redis_argv(ngx_ota_redis_call_t *call, int argc, const char **argv,
    const size_t *argvlen)
{
    if (call->done) {
        return NGX_ERROR;
    }
    if (!ngx_ota_redis_ready()) {
        return NGX_DECLINED;
    }

    return ngx_ota_redis_send_argv(call, argc, argv, argvlen);
}


ngx_int_t
ngx_ota_redis_cmd(ngx_ota_redis_call_t *call, const char *fmt, ...)
{
    int           argc, len;
    char         *cmd;
    char          nums[NGX_OTA_REDIS_NUMS][OTA_RESP_NUM_LEN];
    size_t        argvlen[NGX_OTA_REDIS_ARGS];
    va_list       ap;
    ngx_int_t     rc;
    const char   *argv[NGX_OTA_REDIS_ARGS];

    if (call->done) {
        return NGX_ERROR;
    }
    if (!ngx_ota_redis_ready()) {
        return NGX_DECLINED;
    }

    va_start(ap, fmt);

    /* the formats the module uses are split here, the rest by hiredis */
    argc = ota_resp_vargs(fmt, ap, NGX_OTA_REDIS_ARGS, argv, argvlen, nums,
                          NGX_OTA_REDIS_NUMS);
    if (argc >= 0) {
        va_end(ap);
        return ngx_ota_redis_send_argv(call, argc, argv, argvlen);
    }

    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);

    if (len < 0) {
        return NGX_ERROR;
    }

    rc = ngx_ota_redis_send(call, cmd, (size_t) len);
    free(cmd);

    return rc;
}


ngx_int_t
ngx_ota_redis_argv_detached(ngx_ota_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_int_t              rc;
    ngx_ota_redis_call_t  *call;

    if (!ngx_ota_redis_ready()) {
        return NGX_DECLINED;
    }

    call = ngx_ota_redis_call_alloc(handler, data);
    if (call == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_ota_redis_argv(call, argc, argv, argvlen);
    if (rc != NGX_OK) {
        ngx_ota_redis_call_free(call);
    }

    return rc;
}
