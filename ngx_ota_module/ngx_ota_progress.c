/*
 * ngx_ota_progress.c: exact byte coverage of downloads into Redis
 * (docs/download.md, "Exact progress").
 *
 * What is counted is what went out, not what was asked for:
 *
 * - a body filter placed right after nginx's range filter (config orders
 *   ngx_ota_progress_filter_module before ngx_http_range_body_filter_module)
 *   writes down, per request, the body as a list of segments: file bytes
 *   with their package offset, or bytes that are not the file (multipart
 *   boundaries).  After the rest of the chain has written, body bytes sent
 *   = c->sent - c->sent before the header - header size, and that many
 *   bytes of the list, in order, are the ranges delivered.  HEAD, 304 and
 *   416 send no body, so they add nothing.
 * - ranges go into a per-process "track" per (device, package): a range set
 *   (ota_cov.h) of what Redis does not have yet.  One tick per process
 *   (twice per ota_progress_interval) flushes every track whose ranges
 *   were pending at the tick before, and the end of a request
 *   flushes its track at once when it matters (the whole package, a
 *   connection closing: ngx_ota_track_now): one EVALSHA of a
 *   merge script per track (or the whole write), then one XADD of a
 *   download event with the covered count Redis returned.  A track has at
 *   most one call in flight, so a busy download costs two commands per
 *   interval however many write events or parallel segments it has.
 * - merging is idempotent, so a write whose answer was lost is simply sent
 *   again: Redis away means the track keeps its ranges (bounded by
 *   ota_progress_buffer bytes of bookkeeping per process) and writes them
 *   when the connection is back (ngx_ota_redis_on_ready) or, at the
 *   latest, synchronously when the worker process exits.
 * - Redis replies reach only tracks (process memory), never a request.
 */

#include "ngx_ota_progress.h"
#include "ngx_ota_ack.h"
#include "ngx_ota_core.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_notified.h"
#include "ngx_ota_package.h"
#include "ngx_ota_redis.h"

#include "ota_cov.h"
#include "ota_dec.h"
#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"

#include "ngx_ota_lua.h"            /* generated from lua/module/ */

#include <hiredis/hiredis.h>


#define NGX_OTA_FLUSH_MAX   256             /* ranges per script call */
#define NGX_OTA_KNOWN_MAX   64              /* confirmed ranges remembered */
#define NGX_OTA_HOLD_MAX    8               /* pending ranges a request's
                                               end may leave to the tick */
#define NGX_OTA_IDLE_KEEP   10000           /* ms an idle track is kept */
#define NGX_OTA_ACK_EVERY   100             /* ms between two questions to
                                               the socket while a download
                                               runs (a write event may come
                                               every few µs) */
#define NGX_OTA_KEY_MAX     (sizeof(OTA_KEY_COVERAGE) + 2 * OTA_NAME_MAX)


typedef struct ngx_ota_track_s  ngx_ota_track_t;

struct ngx_ota_track_s {
    ngx_str_node_t        sn;               /* "<device>\n<package>", its
                                               crc32 in sn.node.key */
    ngx_ota_track_t      *hnext;            /* the hash bucket's next */
    ngx_queue_t           queue;

    char                 *device;           /* NUL-terminated */
    char                 *package;
    char                 *module;
    off_t                 size;             /* the package's */

    ota_cov_t             pending;          /* seen, not yet sent */
    ota_cov_t             inflight;         /* sent, no answer yet */
    ota_cov_t             known;            /* Redis confirmed: never resent */

    size_t                charged;          /* bytes counted in the budget */
    ngx_uint_t            refs;             /* requests sending now */
    ngx_uint_t            xadds;            /* event writes in flight */
    ngx_msec_t            idle_since;
    ngx_uint_t            held_tick;        /* pending became non-empty */

    unsigned              busy:1;           /* script call in flight */
    unsigned              again:1;          /* a request ended while busy */
    unsigned              need_event:1;     /* an event write was lost */
    unsigned              idle:1;           /* nothing to do: may be freed */
    unsigned              no_whole:1;       /* whole writes refused: script */
    unsigned              last:1;           /* a connection of it closed:
                                               nothing may follow soon */
    unsigned              due:1;            /* the tick came while busy */
};


typedef struct {
    ngx_http_request_t   *request;
    ngx_ota_track_t      *track;
    off_t                 base;             /* the file's package offset */
    off_t                 sent0;            /* c->sent before the header */
    off_t                 written;          /* body bytes the kernel took */
    off_t                 accounted;        /* of them, acknowledged by the
                                               client: turned into ranges */
    ngx_array_t           segs;
    ngx_uint_t            seg;              /* first segment not all sent */
    off_t                 seg_done;         /* sent bytes of segs[seg] */
    ngx_msec_t            asked;            /* the socket, last time */
    unsigned              done:1;
    unsigned              broken:1;         /* segments lost: not counted */
    unsigned              keepalive:1;      /* r->keepalive once the header
                                               went out (nginx clears it
                                               before the pool's cleanup) */
} ngx_ota_prog_req_t;


static ngx_int_t ngx_ota_progress_filter_postconf(ngx_conf_t *cf);
static ngx_int_t ngx_ota_progress_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_ota_track_complete(ngx_ota_track_t *t);
static void ngx_ota_progress_account(ngx_ota_prog_req_t *p);
static void ngx_ota_progress_release(ngx_ota_track_t *t);
static void ngx_ota_progress_cleanup(void *data);
static void ngx_ota_progress_arm(ngx_msec_t interval);
static ngx_uint_t ngx_ota_progress_ticks(void);
static ngx_uint_t ngx_ota_progress_carry(const char *device,
    const char *package);

/* the tick, as the held notified events use it (ngx_ota_notified.h) */
static const ngx_ota_notified_tick_t  ngx_ota_progress_notified_tick = {
    ngx_ota_progress_arm, ngx_ota_progress_ticks, ngx_ota_progress_carry
};
static void ngx_ota_track_flush(ngx_ota_track_t *t);
static void ngx_ota_track_release(ngx_ota_track_t *t);
static void ngx_ota_progress_tick(ngx_event_t *ev);
static void ngx_ota_progress_ready(void);


/*
 * The coverage merge script is lua/module/merge.lua (the same rule as
 * ota_cov_add() with a limit), embedded at build time with its length and
 * SHA1 (ngx_ota_lua.h, generated).
 */


static ngx_http_module_t  ngx_ota_progress_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_ota_progress_filter_postconf,      /* postconfiguration */
    NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_ota_progress_filter_module = {
    NGX_MODULE_V1,
    &ngx_ota_progress_filter_module_ctx,   /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;
static ngx_uint_t                      ngx_ota_filter_installed;

/* the tracks by (device, package): a chained hash table that doubles as
 * it fills; a fleet keeps thousands of idle tracks for NGX_OTA_IDLE_KEEP,
 * and a lookup per piece in a tree of them was a cache miss per level
 * (made for speed: bench/README.md, "nginx's user space in a session") */
static ngx_ota_track_t  **ngx_ota_tracks;
static ngx_uint_t         ngx_ota_tracks_mask;
static ngx_uint_t         ngx_ota_ntracks;
static ngx_ota_track_t   *ngx_ota_tracks_one;
static ngx_queue_t        ngx_ota_track_list;
static ngx_event_t        ngx_ota_tick;
static ngx_msec_t         ngx_ota_interval;     /* smallest seen */
static ngx_uint_t         ngx_ota_ticks;        /* ticks so far */
static size_t             ngx_ota_budget = 1024 * 1024;
static size_t             ngx_ota_used;         /* bookkeeping bytes */
static ngx_uint_t         ngx_ota_warned;
static ngx_uint_t         ngx_ota_exiting;

/* the Redis answered SET ... GET with a syntax error (before 6.2): whole
 * writes use GETSET; OTA_TEST_NO_SET_GET=1 in the worker's environment
 * (nginx "env") sends an option such a Redis refuses, so that tests take
 * the same path (t/48-whole-fallback.t) */
static ngx_uint_t         ngx_ota_no_set_get;
static ngx_int_t          ngx_ota_test_no_set_get = -1;
static ngx_log_t         *ngx_ota_plog;


/* ---- the body filter ---------------------------------------------------- */

static ngx_int_t
ngx_ota_progress_filter_postconf(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_ota_progress_body_filter;
    ngx_ota_filter_installed = 1;

    /* a connection's next request checks its responses' tails */
    return ngx_ota_ack_postconf(cf);
}


ngx_int_t
ngx_ota_progress_filter_init(ngx_conf_t *cf)
{
    if (!ngx_ota_filter_installed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ota: the progress filter module is not loaded");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_ota_progress_record(ngx_ota_prog_req_t *p, ngx_buf_t *b)
{
    off_t           len, start;
    ngx_ota_seg_t  *seg;

    if (ngx_buf_special(b)) {
        return;
    }

    if (b->in_file && !ngx_buf_in_memory(b)) {
        len = b->file_last - b->file_pos;
        start = p->base + b->file_pos;

    } else {
        len = ngx_buf_size(b);
        start = -1;
    }

    if (len <= 0) {
        return;
    }

    if (p->segs.nelts > p->seg) {
        seg = (ngx_ota_seg_t *) p->segs.elts + p->segs.nelts - 1;

        if ((start == -1 && seg->start == -1)
            || (start != -1 && seg->start != -1
                && seg->start + seg->len == start))
        {
            seg->len += len;
            return;
        }
    }

    seg = ngx_array_push(&p->segs);
    if (seg == NULL) {
        /* the body is then mis-mapped: stop counting this request */
        p->done = 1;
        p->broken = 1;
        return;
    }

    seg->len = len;
    seg->start = start;
}


static ngx_int_t
ngx_ota_progress_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t            rc;
    ngx_chain_t         *cl;
    ngx_ota_ctx_t       *ctx;
    ngx_ota_prog_req_t  *p;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    if (ctx == NULL || ctx->progress == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    p = ctx->progress;

    if (p->done || p->request != r) {
        return ngx_http_next_body_filter(r, in);
    }

    p->keepalive = r->keepalive;

    /* before the write filter advances the buffers' positions */
    for (cl = in; cl; cl = cl->next) {
        ngx_ota_progress_record(p, cl->buf);
    }

    rc = ngx_http_next_body_filter(r, in);

    /* while the download runs, what was delivered is asked of the socket
     * a few times a second (progress is written once a second at most);
     * after the request, its tail's checks ask (ngx_ota_ack.c) */
    if (ngx_current_msec - p->asked >= NGX_OTA_ACK_EVERY) {
        p->asked = ngx_current_msec;
        ngx_ota_progress_account(p);
    }

    return rc;
}


/* ---- tracks ------------------------------------------------------------- */

static void
ngx_ota_track_charge(ngx_ota_track_t *t)
{
    size_t  now;

    now = sizeof(ngx_ota_track_t) + t->sn.str.len * 2 + 8
          + (t->pending.n + t->inflight.n + t->known.n) * sizeof(ota_range_t);

    ngx_ota_used = ngx_ota_used - t->charged + now;
    t->charged = now;
}


/* the interval: the smallest ota_progress_interval seen, 1 s before any */
static ngx_msec_t
ngx_ota_progress_every(void)
{
    return ngx_ota_interval ? ngx_ota_interval : 1000;
}


/*
 * The tick comes twice per interval and writes the ranges that were
 * already pending at the tick before (ngx_ota_ticks - held_tick >= 2):
 * each is written between half an interval and one interval after it was
 * seen, and a running download once per interval.  Chosen for speed: a
 * tick that wrote everything split a short session's held pieces (about
 * one session in five at 1 s, bench/fleet.sh) into one more merge and
 * event.
 */
static void
ngx_ota_arm_tick(void)
{
    if (!ngx_ota_tick.timer_set && !ngx_ota_exiting) {
        ngx_add_timer(&ngx_ota_tick, (ngx_ota_progress_every() + 1) / 2);
    }
}


/* the tick for the held notified events (ngx_ota_notified.c) */
static void
ngx_ota_progress_arm(ngx_msec_t interval)
{
    if (interval && (ngx_ota_interval == 0 || interval < ngx_ota_interval)) {
        ngx_ota_interval = interval;
    }

    ngx_ota_arm_tick();
}


static ngx_uint_t
ngx_ota_progress_ticks(void)
{
    return ngx_ota_ticks;
}


static ngx_ota_track_t *
ngx_ota_track_find(ngx_str_t *key, uint32_t hash)
{
    ngx_ota_track_t  *t;

    if (ngx_ota_tracks == NULL) {
        return NULL;
    }

    for (t = ngx_ota_tracks[hash & ngx_ota_tracks_mask]; t; t = t->hnext) {
        if (t->sn.node.key == hash && t->sn.str.len == key->len
            && ngx_memcmp(t->sn.str.data, key->data, key->len) == 0)
        {
            return t;
        }
    }

    return NULL;
}


/* a table of at least as many buckets as tracks; when it cannot grow the
 * chains just get longer */
static void
ngx_ota_track_link(ngx_ota_track_t *t, ngx_log_t *log)
{
    ngx_uint_t         i, n, mask;
    ngx_ota_track_t  **tab, *u, *next;

    if (ngx_ota_tracks == NULL || ngx_ota_ntracks > ngx_ota_tracks_mask) {
        n = ngx_ota_tracks == NULL ? 1024 : 2 * (ngx_ota_tracks_mask + 1);

        tab = ngx_calloc(n * sizeof(ngx_ota_track_t *), log);

        if (tab != NULL) {
            mask = n - 1;

            if (ngx_ota_tracks != NULL) {
                for (i = 0; i <= ngx_ota_tracks_mask; i++) {
                    for (u = ngx_ota_tracks[i]; u; u = next) {
                        next = u->hnext;
                        u->hnext = tab[u->sn.node.key & mask];
                        tab[u->sn.node.key & mask] = u;
                    }
                }

                if (ngx_ota_tracks != &ngx_ota_tracks_one) {
                    ngx_free(ngx_ota_tracks);
                }
            }

            ngx_ota_tracks = tab;
            ngx_ota_tracks_mask = mask;

        } else if (ngx_ota_tracks == NULL) {
            /* no memory for a table: one bucket */
            ngx_ota_tracks = &ngx_ota_tracks_one;
            ngx_ota_tracks_mask = 0;
        }
    }

    i = t->sn.node.key & ngx_ota_tracks_mask;
    t->hnext = ngx_ota_tracks[i];
    ngx_ota_tracks[i] = t;
    ngx_ota_ntracks++;
}


static void
ngx_ota_track_unlink(ngx_ota_track_t *t)
{
    ngx_ota_track_t  **pp;

    for (pp = &ngx_ota_tracks[t->sn.node.key & ngx_ota_tracks_mask];
         *pp;
         pp = &(*pp)->hnext)
    {
        if (*pp == t) {
            *pp = t->hnext;
            ngx_ota_ntracks--;
            return;
        }
    }
}


static ngx_ota_track_t *
ngx_ota_track_get(ngx_log_t *log, ngx_str_t *device, ngx_ota_pkg_t *pkg)
{
    u_char           *p;
    size_t            len;
    uint32_t          hash;
    ngx_str_t         key;
    ngx_ota_track_t  *t;
    u_char            buf[2 * OTA_NAME_MAX + 2];

    if (device->len > OTA_NAME_MAX || pkg->id.len > OTA_NAME_MAX) {
        return NULL;
    }

    p = ngx_cpymem(buf, device->data, device->len);
    *p++ = '\n';
    p = ngx_cpymem(p, pkg->id.data, pkg->id.len);

    key.data = buf;
    key.len = p - buf;
    hash = ngx_crc32_short(key.data, key.len);

    t = ngx_ota_track_find(&key, hash);
    if (t != NULL) {
        return t;
    }

    /* key, device, package, module, each NUL-terminated, after the struct */
    len = sizeof(ngx_ota_track_t) + key.len + 1 + device->len + 1
          + pkg->id.len + 1 + pkg->module.len + 1;

    t = ngx_calloc(len, log);
    if (t == NULL) {
        return NULL;
    }

    p = (u_char *) (t + 1);

    t->sn.str.data = p;
    t->sn.str.len = key.len;
    p = ngx_cpymem(p, key.data, key.len);
    *p++ = '\0';

    t->device = (char *) p;
    p = ngx_cpymem(p, device->data, device->len);
    *p++ = '\0';

    t->package = (char *) p;
    p = ngx_cpymem(p, pkg->id.data, pkg->id.len);
    *p++ = '\0';

    t->module = (char *) p;
    p = ngx_cpymem(p, pkg->module.data, pkg->module.len);
    *p = '\0';

    t->size = pkg->size;

    t->sn.node.key = hash;
    ngx_ota_track_link(t, log);
    ngx_queue_insert_tail(&ngx_ota_track_list, &t->queue);

    ngx_ota_track_charge(t);

    return t;
}


/* 1 when the track of (device, package) is about to write a download
 * event, which then carries the device's held notified event: its merge
 * is in flight, or its pending ranges are written now (due at the next
 * tick otherwise: half an interval early, so the notified event stays
 * within one interval and is still folded) */
static ngx_uint_t
ngx_ota_progress_carry(const char *device, const char *package)
{
    u_char           *p;
    size_t            dlen, plen;
    ngx_str_t         key;
    ngx_ota_track_t  *t;
    u_char            buf[2 * OTA_NAME_MAX + 2];

    dlen = ngx_strlen(device);
    plen = ngx_strlen(package);

    if (dlen > OTA_NAME_MAX || plen > OTA_NAME_MAX || ngx_ota_exiting) {
        return 0;
    }

    p = ngx_cpymem(buf, device, dlen);
    *p++ = '\n';
    p = ngx_cpymem(p, package, plen);

    key.data = buf;
    key.len = p - buf;

    t = ngx_ota_track_find(&key, ngx_crc32_short(key.data, key.len));
    if (t == NULL) {
        return 0;
    }

    if (!t->busy && t->pending.n) {
        ngx_ota_track_flush(t);
    }

    return t->busy;
}


/*
 * A track with nothing to do is kept a while (the tick frees it after
 * NGX_OTA_IDLE_KEEP ms, sooner when the budget runs short): the next request
 * for the same device and package then finds what Redis already has.
 */
static ngx_uint_t
ngx_ota_track_unused(ngx_ota_track_t *t)
{
    return !(t->refs || t->busy || t->xadds || t->need_event
             || t->pending.n || t->inflight.n || ngx_ota_exiting);
}


static void
ngx_ota_track_release(ngx_ota_track_t *t)
{
    if (!ngx_ota_track_unused(t)) {
        t->idle = 0;
        return;
    }

    if (!t->idle) {
        t->idle = 1;
        t->idle_since = ngx_current_msec;
    }
}


static void
ngx_ota_track_free(ngx_ota_track_t *t)
{
    ngx_ota_track_unlink(t);
    ngx_queue_remove(&t->queue);

    ngx_ota_used -= t->charged;

    ota_cov_free(&t->pending);
    ota_cov_free(&t->inflight);
    ota_cov_free(&t->known);
    ngx_free(t);
}


static void
ngx_ota_track_add(ngx_ota_track_t *t, off_t start, off_t end)
{
    int     rc;
    size_t  avail;

    if (end <= start) {
        return;
    }

    /* coverage only grows: what Redis confirmed to this process needs no
     * second write (a file served again and again costs Redis nothing) */
    if (ota_cov_contains(&t->known, start, end)) {
        return;
    }

    avail = ngx_ota_used < ngx_ota_budget
            ? (ngx_ota_budget - ngx_ota_used) / sizeof(ota_range_t) : 0;

    if (t->pending.n == 0) {
        t->held_tick = ngx_ota_ticks;
    }

    /* limit 0 would mean "no limit" */
    t->pending.limit = t->pending.n + avail;
    rc = t->pending.limit ? ota_cov_add(&t->pending, start, end, NULL)
                          : OTA_COV_FULL;

    if (rc != OTA_COV_OK) {
        ngx_ota_metric_add(NGX_OTA_M_PROGRESS_DROPPED, 1);

        if (!ngx_ota_warned) {
            ngx_ota_warned = 1;
            ngx_log_error(NGX_LOG_WARN, ngx_ota_plog, 0,
                          "ota: progress of device \"%s\" package \"%s\": "
                          "range %O-%O dropped, %s (ota_progress_buffer %uz)",
                          t->device, t->package, start, end,
                          rc == OTA_COV_FULL ? "buffer full" : "no memory",
                          ngx_ota_budget);
        }
        return;
    }

    ngx_ota_track_charge(t);
    ngx_ota_arm_tick();
}


/* ---- per request -------------------------------------------------------- */

void
ngx_ota_progress_start(ngx_http_request_t *r, ngx_str_t *device,
    ngx_ota_pkg_t *pkg, ngx_ota_pkg_file_t *file)
{
    ngx_ota_ctx_t        *ctx;
    ngx_ota_track_t      *t;
    ngx_pool_cleanup_t   *cln;
    ngx_ota_prog_req_t   *p;
    ngx_ota_loc_conf_t   *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    ngx_ota_budget = olcf->progress_pending;

    if (ngx_ota_interval == 0 || olcf->progress_interval < ngx_ota_interval) {
        ngx_ota_interval = olcf->progress_interval;
    }

    if (ngx_ota_plog == NULL) {
        ngx_ota_plog = ngx_cycle->log;
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        goto failed;
    }

    p = ngx_pcalloc(r->pool, sizeof(ngx_ota_prog_req_t));
    if (p == NULL) {
        goto failed;
    }

    if (ngx_array_init(&p->segs, r->pool, 2, sizeof(ngx_ota_seg_t))
        != NGX_OK)
    {
        goto failed;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    t = ngx_ota_track_get(r->connection->log, device, pkg);
    if (t == NULL) {
        goto failed;
    }

    t->refs++;
    t->idle = 0;

    p->request = r;
    p->track = t;
    p->base = file->offset;
    p->sent0 = r->connection->sent;
    p->asked = ngx_current_msec;

    /* a connection nginx closes after this response (Connection: close,
     * HTTP/1.0, the last keep-alive request) half-closes and waits for the
     * client to close instead of closing at once, so the tail of the body
     * is still watched when the client's last acknowledgements come in
     * (ngx_ota_ack.c); a kept-alive connection is not affected */
    if (!ngx_ota_track_complete(t)) {
        r->lingering_close = 1;
    }

    cln->handler = ngx_ota_progress_cleanup;
    cln->data = p;

    ctx->progress = p;

    ngx_ota_arm_tick();

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ota: no memory to count the progress of device \"%V\"",
                  device);
    ngx_ota_metric_add(NGX_OTA_M_PROGRESS_DROPPED, 1);
}


/* a track whose whole package Redis has: nothing a request sends adds to
 * it, so its requests need not ask the socket what was delivered */
static ngx_uint_t
ngx_ota_track_complete(ngx_ota_track_t *t)
{
    return t->known.n == 1 && t->known.r[0].start == 0
           && t->known.r[0].end >= t->size;
}


/* turns the first len unaccounted body bytes into ranges */
static void
ngx_ota_progress_take(ngx_ota_prog_req_t *p, off_t delta)
{
    off_t           take;
    ngx_ota_seg_t  *seg;

    seg = p->segs.elts;

    while (delta > 0 && p->seg < p->segs.nelts) {
        take = seg[p->seg].len - p->seg_done;
        if (take > delta) {
            take = delta;
        }

        if (seg[p->seg].start >= 0) {
            ngx_ota_track_add(p->track, seg[p->seg].start + p->seg_done,
                              seg[p->seg].start + p->seg_done + take);
        }

        p->seg_done += take;
        p->accounted += take;
        delta -= take;

        if (p->seg_done == seg[p->seg].len) {
            p->seg++;
            p->seg_done = 0;
        }
    }
}


/*
 * Counts the body bytes the client acknowledged since the last call (while
 * the download runs; at its end only when no tail can be watched): of
 * what the kernel took (c->sent), all but the socket's unacknowledged
 * queue (ngx_ota_ack.c).  The queue holds the last bytes written, so the
 * rest of the body was delivered; bytes in it that are not this body's (a
 * header) only make the count smaller for a while.
 */
static void
ngx_ota_progress_written(ngx_ota_prog_req_t *p)
{
    off_t                written;
    ngx_http_request_t  *r = p->request;

    written = r->connection->sent - p->sent0 - (off_t) r->header_size;

    if (written > p->written) {
        p->written = written;
    }
}


static void
ngx_ota_progress_account(ngx_ota_prog_req_t *p)
{
    off_t                acked, unacked;
    ngx_http_request_t  *r = p->request;

    ngx_ota_progress_written(p);

    if (p->written <= p->accounted) {
        return;
    }

    if (ngx_ota_track_complete(p->track)) {
        acked = p->written;

    } else {
        unacked = ngx_ota_ack_unacked(ngx_ota_ack_connection(r));

        /* a socket that cannot tell (none does on Linux): as sent */
        acked = unacked < 0 ? p->written : p->written - unacked;
    }

    if (acked > p->accounted) {
        ngx_ota_progress_take(p, acked - p->accounted);
    }
}


/* a watched tail: bytes the client acknowledged after the request ended */
static void
ngx_ota_progress_tail_acked(void *data, off_t start, off_t end)
{
    ngx_ota_track_add(data, start, end);
}


static void
ngx_ota_progress_tail_done(void *data, off_t lost)
{
    ngx_ota_track_t  *t = data;

    if (lost > 0) {
        ngx_ota_metric_add(NGX_OTA_M_UNACKED_BYTES, lost);
        t->last = 1;                    /* the device is gone */
    }

    ngx_ota_progress_release(t);
}


/*
 * Whether the ranges of t that this process holds, confirmed, in flight or
 * pending, make the whole package: the write that follows completes the
 * download.
 */
static ngx_uint_t
ngx_ota_track_whole(ngx_ota_track_t *t)
{
    off_t              pos, end;
    size_t             i, k;
    ngx_uint_t         moved;
    const ota_cov_t   *sets[3];

    sets[0] = &t->known;
    sets[1] = &t->inflight;
    sets[2] = &t->pending;

    for (pos = 0; pos < t->size; /* void */) {
        moved = 0;

        for (k = 0; k < 3; k++) {
            for (i = 0; i < sets[k]->n; i++) {
                if (sets[k]->r[i].start > pos) {
                    break;              /* sorted: none further holds pos */
                }

                end = (off_t) sets[k]->r[i].end;
                if (end > pos) {
                    pos = end;
                    moved = 1;
                }
            }
        }

        if (!moved) {
            return 0;
        }
    }

    return 1;
}


/*
 * Whether a track's pending ranges are written when a request of it ends
 * (or when its call in flight answers) rather than by the tick.  Now:
 *
 * - the ranges complete the package: the download's end is what the
 *   device's next reports and the admin wait for;
 * - a connection of the track closed (Connection: close, HTTP/1.0, the
 *   client gone, nginx exiting): nothing of it is likely to follow soon;
 * - the tick came while the track's call was in flight;
 * - many ranges (a client of scattered parts, which waits for nothing).
 *
 * Otherwise (a piece that leaves the package incomplete, on a kept-alive
 * connection; the first piece too) the ranges wait for the tick, at most
 * ota_progress_interval: the device's next piece, milliseconds later,
 * usually completes the package and its whole write carries them.  Chosen
 * for speed: a fleet session's pieces before the last cost no merge script
 * and no event (bench/README.md, "Fleet cost").  So a task shows
 * "downloading" at most one interval after its first byte, not at once
 * (docs/download.md, "When").  Holding costs no more of ota_progress_buffer than writing: a
 * written range is remembered as confirmed (known), in the same budget.
 * (A clause "the budget half used" wrote every piece at once whenever the
 * idle tracks kept for 10 s filled half of it: a fleet's usual state.)
 */
static ngx_uint_t
ngx_ota_track_now(ngx_ota_track_t *t)
{
    return t->last || t->due
           || t->pending.n > NGX_OTA_HOLD_MAX
           || ngx_ota_track_whole(t);
}


/* the request (or its watched tail) no longer sends: a write now, or the
 * ranges left to the tick */
static void
ngx_ota_progress_release(ngx_ota_track_t *t)
{
    t->refs--;

    if (ngx_ota_exiting) {
        return;                         /* the exit flush writes it all */
    }

    if (t->busy) {
        t->again = 1;
        return;
    }

    if (t->pending.n && !ngx_ota_track_now(t)) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                       "ota progress: device \"%s\" package \"%s\": a piece "
                       "in between, left to the tick", t->device, t->package);
        ngx_ota_arm_tick();
        ngx_ota_track_release(t);
        return;
    }

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                   "ota progress: device \"%s\" package \"%s\": written now "
                   "(closing %ui, tick %ui, ranges %uz, whole %ui)",
                   t->device, t->package, (ngx_uint_t) t->last,
                   (ngx_uint_t) t->due, t->pending.n,
                   t->pending.n ? ngx_ota_track_whole(t) : 0);

    ngx_ota_track_flush(t);
}


/* whether nothing more of the request's connection can follow soon: it
 * closes after this request, or the client went away */
static ngx_uint_t
ngx_ota_progress_closing(ngx_ota_prog_req_t *p)
{
    ngx_http_request_t  *r = p->request;
    ngx_connection_t    *c = r->connection;

    if (c->error || c->timedout || c->close || ngx_exiting || ngx_terminate) {
        return 1;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return 0;                       /* the connection's other streams */
    }
#endif

    return !p->keepalive;
}


/* the request is being freed: its last bytes, then an immediate write;
 * bytes still unacknowledged are watched on the connection first */
static void
ngx_ota_progress_cleanup(void *data)
{
    ngx_ota_prog_req_t  *p = data;

    off_t             tail;
    ngx_uint_t        closing;
    ngx_ota_track_t  *t = p->track;

    /*
     * Made for speed: the socket is not asked here.  What of the body is
     * not accounted yet becomes the tail, whose first check (the
     * connection's next request, its close, or the timer) asks anyway: one
     * SIOCOUTQ per piece instead of two.  The socket is asked here only
     * when the tail cannot be watched (what it says is acknowledged then is
     * all the request gets).
     */
    if (!p->done) {
        ngx_ota_progress_written(p);
        p->done = 1;
    }

    closing = ngx_ota_progress_closing(p);

    if (closing) {
        t->last = 1;                    /* written when released */
    }

    if (p->written) {
        ngx_ota_metric_add(NGX_OTA_M_DOWNLOAD_BYTES, p->written);
    }

    tail = p->written - p->accounted;

    if (tail > 0 && !p->broken) {
        if (ngx_ota_track_complete(t)) {
            /* nothing to learn from it */
            ngx_ota_progress_take(p, tail);

        } else if (ngx_ota_ack_watch(p->request,
                                     (ngx_ota_seg_t *) p->segs.elts + p->seg,
                                     p->segs.nelts - p->seg, p->seg_done,
                                     tail, !closing,
                                     ngx_ota_progress_tail_acked,
                                     ngx_ota_progress_tail_done, t)
                   == NGX_OK)
        {
            /* the track's reference goes with the tail, and so does the
             * write: one write when the tail is known, not two */
            return;

        } else {
            /* not watched: what the socket says now is all there is */
            ngx_ota_progress_account(p);

            tail = p->written - p->accounted;

            if (tail > 0) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP,
                               p->request->connection->log, 0,
                               "ota: %O bytes never acknowledged", tail);
                ngx_ota_metric_add(NGX_OTA_M_UNACKED_BYTES, tail);
            }
        }
    }

    ngx_ota_progress_release(t);
}


/* ---- writing to Redis --------------------------------------------------- */

static void ngx_ota_track_script_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_track_event_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_track_whole_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_track_merged(ngx_ota_track_t *t, long long covered,
    long long added, long long dropped);
static void ngx_ota_track_next(ngx_ota_track_t *t);


static const char   *ngx_ota_argv[7 + 2 * NGX_OTA_FLUSH_MAX];
static size_t        ngx_ota_argvlen[7 + 2 * NGX_OTA_FLUSH_MAX];
static char          ngx_ota_nums[2 + 2 * NGX_OTA_FLUSH_MAX][NGX_INT64_LEN + 1];
static char          ngx_ota_key1[NGX_OTA_KEY_MAX];
static char          ngx_ota_key2[NGX_OTA_KEY_MAX];
static size_t        ngx_ota_key1_len;
static size_t        ngx_ota_key2_len;


/*
 * The track's two keys in ngx_ota_key1/2, their lengths in
 * ngx_ota_key1/2_len.  Made for speed, as the numbers below: copied, not
 * printed (libc's snprintf was four to eight calls of its vfprintf on
 * each write of a piece, ngx_snprintf hardly cheaper; bench/README.md "The
 * module's user space over bare").
 */
static void
ngx_ota_track_keys(ngx_ota_track_t *t)
{
    ngx_str_t  device, package;

    device.data = (u_char *) t->device;
    device.len = t->package - t->device - 1;
    package.data = (u_char *) t->package;
    package.len = t->module - t->package - 1;

    /* names are at most OTA_NAME_MAX: both fit */
    ngx_ota_key1_len = ngx_ota_key_buf((u_char *) ngx_ota_key1,
                                       NGX_OTA_KEY_MAX, OTA_KEY_COVERAGE,
                                       &device, &package, NULL);
    ngx_ota_key2_len = ngx_ota_key_buf((u_char *) ngx_ota_key2,
                                       NGX_OTA_KEY_MAX, OTA_KEY_COVERED,
                                       &device, &package, NULL);
}


/* v in decimal into buf (NGX_INT64_LEN + 1 bytes): its length */
static size_t
ngx_ota_track_num(char *buf, int64_t v)
{
    return ota_dec_ll(buf, (long long) v) - buf;
}


/* EVALSHA|EVAL <sha|script> 2 <cov> <covn> <size> <cap> <s> <e> ...: argc */
static int
ngx_ota_track_argv(ngx_ota_track_t *t, ngx_uint_t sha)
{
    int     argc;
    size_t  i, n;

    ngx_ota_track_keys(t);

    argc = 0;

    if (sha) {
        ngx_ota_argv[argc] = "EVALSHA";
        ngx_ota_argvlen[argc++] = 7;
        ngx_ota_argv[argc] = ngx_ota_lua_merge_sha;
        ngx_ota_argvlen[argc++] = 40;

    } else {
        ngx_ota_argv[argc] = "EVAL";
        ngx_ota_argvlen[argc++] = 4;
        ngx_ota_argv[argc] = ngx_ota_lua_merge;
        ngx_ota_argvlen[argc++] = ngx_ota_lua_merge_len;
    }

    ngx_ota_argv[argc] = "2";
    ngx_ota_argvlen[argc++] = 1;
    ngx_ota_argv[argc] = ngx_ota_key1;
    ngx_ota_argvlen[argc++] = ngx_ota_key1_len;
    ngx_ota_argv[argc] = ngx_ota_key2;
    ngx_ota_argvlen[argc++] = ngx_ota_key2_len;

    n = 0;
    ngx_ota_argv[argc] = ngx_ota_nums[n];
    ngx_ota_argvlen[argc++] = ngx_ota_track_num(ngx_ota_nums[n++],
                                                (int64_t) t->size);
    ngx_ota_argv[argc] = ngx_ota_nums[n];
    ngx_ota_argvlen[argc++] = ngx_ota_track_num(ngx_ota_nums[n++],
                                                OTA_COV_STORED_MAX);

    for (i = 0; i < t->inflight.n; i++) {
        ngx_ota_argv[argc] = ngx_ota_nums[n];
        ngx_ota_argvlen[argc++] = ngx_ota_track_num(ngx_ota_nums[n++],
                                      (int64_t) t->inflight.r[i].start);
        ngx_ota_argv[argc] = ngx_ota_nums[n];
        ngx_ota_argvlen[argc++] = ngx_ota_track_num(ngx_ota_nums[n++],
                                      (int64_t) t->inflight.r[i].end);
    }

    return argc;
}


/* moves at most NGX_OTA_FLUSH_MAX ranges from pending to inflight */
static void
ngx_ota_track_take(ngx_ota_track_t *t)
{
    size_t  k;

    if (t->pending.n <= NGX_OTA_FLUSH_MAX) {
        ota_cov_swap(&t->pending, &t->inflight);
        return;
    }

    t->inflight.limit = 0;

    for (k = 0; k < NGX_OTA_FLUSH_MAX; k++) {
        if (ota_cov_add(&t->inflight, t->pending.r[k].start,
                        t->pending.r[k].end, NULL) != OTA_COV_OK)
        {
            break;
        }
    }

    ngx_memmove(t->pending.r, t->pending.r + k,
                (t->pending.n - k) * sizeof(ota_range_t));
    t->pending.n -= k;
}


/* puts unanswered ranges back: they are written again later */
static void
ngx_ota_track_restore(ngx_ota_track_t *t)
{
    t->pending.limit = 0;               /* already counted in the budget */

    if (ota_cov_merge(&t->pending, &t->inflight, NULL) != OTA_COV_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_ota_plog, 0,
                      "ota: no memory to keep %L bytes of progress of "
                      "device \"%s\"", (int64_t) ota_cov_total(&t->inflight),
                      t->device);
        ngx_ota_metric_add(NGX_OTA_M_PROGRESS_DROPPED, t->inflight.n);
    }

    ota_cov_clear(&t->inflight);
    ngx_ota_track_charge(t);

    /* written again by the next tick (or at the reconnect) */
    t->held_tick = ngx_ota_ticks - 1;
}


static ngx_int_t
ngx_ota_track_send(ngx_ota_track_t *t, ngx_uint_t sha)
{
    int        argc;
    ngx_int_t  rc;

    argc = ngx_ota_track_argv(t, sha);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                   "ota progress: flush of device \"%s\" package \"%s\": "
                   "%uz ranges, merge script%s", t->device, t->package,
                   t->inflight.n, sha ? "" : " sent in full");

    rc = ngx_ota_redis_argv_detached(ngx_ota_track_script_reply, t, argc,
                                     ngx_ota_argv, ngx_ota_argvlen);
    if (rc == NGX_OK) {
        t->busy = 1;
    }

    return rc;
}


/*
 * The whole package went out (what is in flight and what Redis confirmed
 * to this process cover it): whatever the set held, it now is the one
 * member "0-<size>", so the write needs no script, only
 *
 *   MULTI  DEL cov  ZADD cov 0 0-<size>  SET covn <size> GET  EXEC
 *
 * (atomic; the old count tells how many bytes were new).  A merge of
 * another node before or after it leaves the same set.  Chosen for speed:
 * the script costs Redis several times as much (bench/fleet.sh), and with
 * the pieces of a session written together this is a session's only write.
 */
static ngx_int_t
ngx_ota_track_send_whole(ngx_ota_track_t *t)
{
    int          i, argc[4];
    char         whole[2 * NGX_INT64_LEN + 2], size[NGX_INT64_LEN + 1];
    ngx_int_t    rc;
    const char  *argv[4][6];
    size_t       argvlen[4][6];

    ngx_ota_track_keys(t);

#define ngx_ota_arg(c, k, s, l)  argv[c][k] = (s); argvlen[c][k] = (l)

    ngx_ota_arg(0, 0, "MULTI", 5);
    argc[0] = 1;
    ngx_ota_arg(1, 0, "DEL", 3);
    ngx_ota_arg(1, 1, ngx_ota_key1, ngx_ota_key1_len);
    argc[1] = 2;
    ngx_ota_arg(2, 0, "ZADD", 4);
    ngx_ota_arg(2, 1, ngx_ota_key1, ngx_ota_key1_len);
    ngx_ota_arg(2, 2, "0", 1);
    whole[0] = '0';
    whole[1] = '-';
    ngx_ota_arg(2, 3, whole, 2 + ngx_ota_track_num(whole + 2,
                                                   (int64_t) t->size));
    argc[2] = 4;
    if (ngx_ota_test_no_set_get == -1) {
        const char  *e = getenv("OTA_TEST_NO_SET_GET");

        ngx_ota_test_no_set_get = e != NULL && e[0] == '1';
    }

    if (ngx_ota_no_set_get) {
        ngx_ota_arg(3, 0, "GETSET", 6);
        ngx_ota_arg(3, 1, ngx_ota_key2, ngx_ota_key2_len);
        ngx_ota_arg(3, 2, size, ngx_ota_track_num(size, (int64_t) t->size));
        argc[3] = 3;

    } else {
        ngx_ota_arg(3, 0, "SET", 3);
        ngx_ota_arg(3, 1, ngx_ota_key2, ngx_ota_key2_len);
        ngx_ota_arg(3, 2, size, ngx_ota_track_num(size, (int64_t) t->size));
        if (ngx_ota_test_no_set_get) {
            ngx_ota_arg(3, 3, "NOSETGET", 8);
        } else {
            ngx_ota_arg(3, 3, "GET", 3);
        }
        argc[3] = 4;
    }

#undef ngx_ota_arg

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                   "ota progress: flush of device \"%s\" package \"%s\": "
                   "%uz ranges, the whole package without the script",
                   t->device, t->package, t->inflight.n);

    /* sent in one go: nothing of another call comes between them */
    for (i = 0; i < 4; i++) {
        rc = ngx_ota_redis_argv_detached(NULL, NULL, argc[i], argv[i],
                                         argvlen[i]);
        if (rc != NGX_OK) {
            if (i > 0) {
                /* the connection must not stay inside the MULTI */
                argv[0][0] = "DISCARD";
                argvlen[0][0] = 7;
                (void) ngx_ota_redis_argv_detached(NULL, NULL, 1, argv[0],
                                                   argvlen[0]);
            }
            return rc;
        }
    }

    argv[0][0] = "EXEC";
    argvlen[0][0] = 4;

    rc = ngx_ota_redis_argv_detached(ngx_ota_track_whole_reply, t, 1,
                                     argv[0], argvlen[0]);
    if (rc != NGX_OK) {
        argv[0][0] = "DISCARD";
        argvlen[0][0] = 7;
        (void) ngx_ota_redis_argv_detached(NULL, NULL, 1, argv[0],
                                           argvlen[0]);
        return rc;
    }

    t->busy = 1;

    return NGX_OK;
}


/* whether known and in flight cover the package (pending is empty) */
static ngx_uint_t
ngx_ota_track_sends_whole(ngx_ota_track_t *t)
{
    return t->pending.n == 0 && t->inflight.n && !t->no_whole
           && ngx_ota_track_whole(t);
}


static void
ngx_ota_track_flush(ngx_ota_track_t *t)
{
    if (t->busy) {
        if (t->pending.n) {
            t->due = 1;                 /* written when the call answers */
        }
        return;
    }

    if ((t->pending.n == 0 && !t->need_event) || !ngx_ota_redis_ready()) {
        ngx_ota_track_release(t);
        return;
    }

    t->last = 0;
    t->due = 0;

    ngx_ota_track_take(t);

    if (ngx_ota_track_sends_whole(t)) {
        if (ngx_ota_track_send_whole(t) != NGX_OK) {
            ngx_ota_track_restore(t);
        }
        return;
    }

    if (ngx_ota_track_send(t, 1) != NGX_OK) {
        ngx_ota_track_restore(t);
    }
}


/* the EXEC of a whole write: {deleted, added, old count} */
static void
ngx_ota_track_whole_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    long long         old;
    redisReply       *prev;
    ngx_ota_track_t  *t = call->data;

    if (ngx_ota_exiting) {
        return;                         /* the exit flush writes it all */
    }

    t->busy = 0;

    if (reply == NULL) {
        ngx_ota_track_restore(t);
        t->need_event = 1;
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
        && !ngx_ota_no_set_get
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[1]->type == REDIS_REPLY_INTEGER
        && reply->element[2]->type == REDIS_REPLY_ERROR
        && reply->element[2]->len >= 16
        && ngx_strncasecmp((u_char *) reply->element[2]->str,
                           (u_char *) "ERR syntax error", 16) == 0)
    {
        /*
         * A Redis before 6.2: the EXEC ran the DEL and the ZADD (the set
         * is "0-<size>" now) and refused the SET ... GET, so the count is
         * as it was.  The same write again with GETSET sets the count and
         * answers the old one: exact.  (Handing these ranges to the script
         * instead counted nothing: they are inside the whole member.)
         * Between the two a merge of another node adds nothing to the
         * whole set and leaves the count as it was.
         */
        ngx_log_error(NGX_LOG_NOTICE, ngx_ota_plog, 0,
                      "ota: SET ... GET refused by Redis (before 6.2?): "
                      "whole coverage writes use GETSET");
        ngx_ota_no_set_get = 1;
        ngx_ota_track_restore(t);
        ngx_ota_track_flush(t);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || (reply->element[2]->type != REDIS_REPLY_STRING
            && reply->element[2]->type != REDIS_REPLY_NIL))
    {
        /* a Redis without SET ... GET, or a set of another type: the
         * script from now on, which says what is wrong if anything is */
        ngx_log_error(NGX_LOG_WARN, ngx_ota_plog, 0,
                      "ota: whole coverage write for device \"%s\" package "
                      "\"%s\" refused (%*s): merging by script instead",
                      t->device, t->package,
                      reply->type == REDIS_REPLY_ERROR ? (int) reply->len : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        t->no_whole = 1;
        ngx_ota_track_restore(t);
        ngx_ota_track_flush(t);
        return;
    }

    prev = reply->element[2];
    old = prev->type == REDIS_REPLY_STRING
          ? strtoll(prev->str, NULL, 10) : 0;

    ngx_ota_track_merged(t, (long long) t->size,
                         old < (long long) t->size
                         ? (long long) t->size - old : 0, 0);
}


/* the download event of a track: covered bytes now (ota_event.h), with
 * the notified event n folded in when not NULL */
static ngx_int_t
ngx_ota_track_event_args(ngx_ota_track_t *t, long long covered,
    ngx_ota_notified_t *n, ota_event_t *e)
{
    ngx_time_t          *tp;
    ota_event_fields_t   f;

    tp = ngx_timeofday();

    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.type = OTA_EV_DOWNLOAD;
    f.ts = (int64_t) tp->sec * 1000 + tp->msec;
    f.device = ota_event_cstr(t->device);
    f.package = ota_event_cstr(t->package);
    f.module = ota_event_cstr(t->module);
    f.covered = covered;
    f.size = (long long) t->size;

    if (n != NULL) {
        f.batch = ota_event_cstr(n->batch);
        f.notified = n->ts;
    }

    return ota_event_encode(e, &f) == 0 ? NGX_OK : NGX_ERROR;
}


/* the reply of a download event that carries a notified event */
static void
ngx_ota_track_folded_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_notified_t  *n = call->data;

    /* the track first: a written n is freed */
    call->data = n->track;

    ngx_ota_notified_sent(n, reply != NULL
                             && reply->type != REDIS_REPLY_ERROR);

    ngx_ota_track_event_reply(call, reply);
}


static void
ngx_ota_track_event(ngx_ota_track_t *t, long long covered)
{
    ota_event_t          e;
    ngx_ota_notified_t  *n;

    t->need_event = 0;

    /* the device's notified event, when this process holds it, rides
     * along (ngx_ota_notified.c): one event less per session */
    n = ngx_ota_notified_take(t->device, t->package, t->module, t);

    if (ngx_ota_track_event_args(t, covered, n, &e) == NGX_OK
        && ngx_ota_redis_argv_detached(n ? ngx_ota_track_folded_reply
                                         : ngx_ota_track_event_reply,
                                       n ? (void *) n : (void *) t,
                                       e.argc, e.argv, e.argvlen)
           == NGX_OK)
    {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                       "ota progress: download event of device \"%s\" "
                       "package \"%s\": covered %L", t->device, t->package,
                       (int64_t) covered);
        t->xadds++;

    } else {
        t->need_event = 1;
        if (n != NULL) {
            ngx_ota_notified_sent(n, 0);
        }
    }
}


static void
ngx_ota_track_script_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    long long         covered, added, dropped;
    ngx_ota_track_t  *t = call->data;

    if (ngx_ota_exiting) {
        return;                         /* the exit flush writes it all */
    }

    t->busy = 0;

    if (reply == NULL) {
        /* Redis went away: keep the ranges for the reconnect */
        ngx_ota_track_restore(t);
        t->need_event = 1;
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ngx_ota_track_send(t, 0) == NGX_OK)
        {
            return;                     /* sent again with the script text */
        }

        ngx_log_error(NGX_LOG_ERR, ngx_ota_plog, 0,
                      "ota: coverage merge for device \"%s\" package \"%s\" "
                      "failed: %*s", t->device, t->package,
                      (int) reply->len, reply->str);

        /* an error would repeat forever: these ranges are lost */
        ngx_ota_metric_add(NGX_OTA_M_PROGRESS_DROPPED, t->inflight.n);
        ota_cov_clear(&t->inflight);
        ngx_ota_track_charge(t);
        goto next;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_ota_plog, 0,
                      "ota: unexpected answer of the coverage merge script");
        ota_cov_clear(&t->inflight);
        ngx_ota_track_charge(t);
        goto next;
    }

    covered = reply->element[0]->integer;
    added = reply->element[1]->integer;
    dropped = reply->element[2]->integer;

    ngx_ota_track_merged(t, covered, added, dropped);
    return;

next:

    ngx_ota_track_next(t);
}


/* what a merge answered: remembered, an event when something was added */
static void
ngx_ota_track_merged(ngx_ota_track_t *t, long long covered, long long added,
    long long dropped)
{
    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                   "ota progress: merged for device \"%s\" package \"%s\": "
                   "%L of the package's bytes covered, %L new, %L ranges "
                   "dropped", t->device, t->package, (int64_t) covered,
                   (int64_t) added, (int64_t) dropped);

    if (dropped > 0) {
        /* the device's set is full (OTA_COV_STORED_MAX): these ranges were
         * not recorded, so they are not remembered as confirmed either */
        ngx_ota_metric_add(NGX_OTA_M_PROGRESS_CAPPED, dropped);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                       "ota: coverage of device \"%s\" package \"%s\" is "
                       "full: %L ranges not recorded", t->device, t->package,
                       (int64_t) dropped);
    }

    /* remember what Redis has, within a small bound and the budget; a
     * complete package is one range, whoever completed it */
    t->known.limit = NGX_OTA_KNOWN_MAX;

    if (covered >= (long long) t->size) {
        ota_cov_clear(&t->known);
        (void) ota_cov_add(&t->known, 0, t->size, NULL);

    } else if (dropped == 0
               && ngx_ota_used + t->inflight.n * sizeof(ota_range_t)
                  < ngx_ota_budget)
    {
        /* over the bound: what fits stays, the rest is simply sent again */
        (void) ota_cov_merge(&t->known, &t->inflight, NULL);
    }

    ota_cov_clear(&t->inflight);
    ngx_ota_track_charge(t);

    ngx_ota_metric_add(NGX_OTA_M_PROGRESS_WRITES, 1);
    ngx_ota_warned = 0;

    /* an event only when something changed (or one was lost): a re-sent
     * file does not flood the worker's stream */
    if (added > 0 || t->need_event) {
        ngx_ota_track_event(t, covered);
    }

    ngx_ota_track_next(t);
}


/* the merge call is over: more to write now, later (the tick), or
 * nothing */
static void
ngx_ota_track_next(ngx_ota_track_t *t)
{
    if (t->pending.n && (t->again || t->refs == 0 || t->due)) {
        if (ngx_ota_track_now(t)) {
            t->again = 0;
            ngx_ota_track_flush(t);
            return;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_ota_plog, 0,
                       "ota progress: device \"%s\" package \"%s\": a piece "
                       "in between, left to the tick", t->device, t->package);
        ngx_ota_arm_tick();
    }

    t->again = 0;
    ngx_ota_track_release(t);
}


static void
ngx_ota_track_event_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_track_t  *t = call->data;

    if (ngx_ota_exiting) {
        return;
    }

    t->xadds--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, ngx_ota_plog, 0,
                          "ota: download event of device \"%s\" failed: %*s",
                          t->device, (int) reply->len, reply->str);
        }
        t->need_event = 1;              /* sent with the next write */
        ngx_ota_arm_tick();
        return;
    }

    ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);

    ngx_ota_track_release(t);
}


static void
ngx_ota_progress_flush_all(void)
{
    ngx_queue_t      *q, *next;
    ngx_ota_track_t  *t;

    for (q = ngx_queue_head(&ngx_ota_track_list);
         q != ngx_queue_sentinel(&ngx_ota_track_list);
         q = next)
    {
        next = ngx_queue_next(q);       /* flush may free the track */
        t = ngx_queue_data(q, ngx_ota_track_t, queue);
        ngx_ota_track_flush(t);
    }
}


static void
ngx_ota_progress_tick(ngx_event_t *ev)
{
    ngx_uint_t        short_of_room;
    ngx_queue_t      *q, *next;
    ngx_ota_track_t  *t;

    ngx_ota_ticks++;

    for (q = ngx_queue_head(&ngx_ota_track_list);
         q != ngx_queue_sentinel(&ngx_ota_track_list);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_ota_track_t, queue);

        /* ranges first seen since the last tick wait for the next one:
         * the next piece of the device may carry them */
        if (t->need_event || t->due
            || (t->pending.n && ngx_ota_ticks - t->held_tick >= 2))
        {
            ngx_ota_track_flush(t);

        } else {
            ngx_ota_track_release(t);   /* idle or not, as a flush says */
        }
    }

    short_of_room = ngx_ota_used > ngx_ota_budget / 2;

    for (q = ngx_queue_head(&ngx_ota_track_list);
         q != ngx_queue_sentinel(&ngx_ota_track_list);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_ota_track_t, queue);

        if (t->idle && ngx_ota_track_unused(t)
            && (short_of_room
                || ngx_current_msec - t->idle_since >= NGX_OTA_IDLE_KEEP))
        {
            ngx_ota_track_free(t);
        }
    }

    /* after the tracks: a notified event whose track's merge was just
     * sent rides that merge's event */
    if (ngx_ota_notified_tick(ngx_ota_ticks)
        || !ngx_queue_empty(&ngx_ota_track_list))
    {
        ngx_ota_arm_tick();
    }
}


static void
ngx_ota_progress_ready(void)
{
    if (!ngx_ota_exiting) {
        ngx_ota_progress_flush_all();
    }
}


/* ---- process life ------------------------------------------------------- */

ngx_int_t
ngx_ota_progress_init_process(ngx_cycle_t *cycle)
{
    ngx_ota_tracks = NULL;
    ngx_ota_tracks_mask = 0;
    ngx_ota_ntracks = 0;
    ngx_ota_tracks_one = NULL;
    ngx_queue_init(&ngx_ota_track_list);

    ngx_ota_plog = cycle->log;
    ngx_ota_exiting = 0;
    ngx_ota_used = 0;

    ngx_ota_event_init(&ngx_ota_tick, ngx_ota_progress_tick, cycle->log);
    ngx_ota_ack_init_process(cycle);
    ngx_ota_notified_init_process(&ngx_ota_progress_notified_tick);

    ngx_ota_redis_on_ready(ngx_ota_progress_ready);

    return NGX_OK;
}


/*
 * The event loop is over: whatever Redis has not confirmed is written on a
 * short-lived blocking connection (bounded by short timeouts), so a reload
 * or shutdown does not lose the end of a download's progress.
 */
void
ngx_ota_progress_exit_process(ngx_cycle_t *cycle)
{
    int                   argc, n;
    ngx_uint_t            sent, drained;
    redisReply           *reply;
    redisContext         *rc;
    ngx_queue_t          *q;
    ngx_ota_track_t      *t;

    ngx_ota_exiting = 1;

    /* what the clients acknowledged by now is delivered (the tails' end
     * adds it to the tracks written below) */
    ngx_ota_ack_exit_process(cycle);

    if (ngx_ota_tick.timer_set) {
        ngx_del_timer(&ngx_ota_tick);
    }

    if (!ngx_ota_plog || ngx_queue_empty(&ngx_ota_track_list)) {
        return;
    }

    /* what the connection still has queued goes out first: then an event
     * in flight has left for Redis and is not sent twice */
    drained = (ngx_ota_redis_drain() == NGX_OK);

    n = 0;
    for (q = ngx_queue_head(&ngx_ota_track_list);
         q != ngx_queue_sentinel(&ngx_ota_track_list);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_ota_track_t, queue);

        /* ranges in flight are merged again (idempotent: bytes Redis has
         * add nothing and make no event) */
        t->pending.limit = 0;
        if (ota_cov_merge(&t->pending, &t->inflight, NULL) == OTA_COV_OK) {
            ota_cov_clear(&t->inflight);
        }

        /* an event that may not have left (the connection could not be
         * drained) is sent again: the worker takes the greatest count */
        if (t->xadds && !drained) {
            t->need_event = 1;
        }

        if (t->pending.n || t->need_event || t->busy) {
            n++;
        }
    }

    if (n == 0) {
        return;
    }

    rc = ngx_ota_redis_blocking(cycle);
    if (rc == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ota: exiting with the progress of %d downloads not "
                      "written", n);
        ngx_ota_metric_add(NGX_OTA_M_PROGRESS_DROPPED, n);
        return;
    }

    sent = 0;

    for (q = ngx_queue_head(&ngx_ota_track_list);
         q != ngx_queue_sentinel(&ngx_ota_track_list) && !rc->err;
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_ota_track_t, queue);

        while ((t->pending.n || t->need_event || t->busy) && !rc->err) {
            ota_cov_clear(&t->inflight);
            ngx_ota_track_take(t);
            t->busy = 0;

            argc = ngx_ota_track_argv(t, 0);

            reply = redisCommandArgv(rc, argc, ngx_ota_argv, ngx_ota_argvlen);
            if (reply == NULL) {
                break;
            }

            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
                && reply->element[0]->type == REDIS_REPLY_INTEGER)
            {
                ota_event_t  e;
                long long    covered = reply->element[0]->integer;

                freeReplyObject(reply);
                reply = NULL;

                if (ngx_ota_track_event_args(t, covered, NULL, &e) == NGX_OK)
                {
                    reply = redisCommandArgv(rc, e.argc, e.argv, e.argvlen);
                    sent++;
                }
            }

            if (reply) {
                freeReplyObject(reply);
            }

            t->need_event = 0;
        }
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "ota: progress of %ui downloads written at exit%s%s",
                  sent, rc->err ? ", then: " : "", rc->err ? rc->errstr : "");

    redisFree(rc);
}
