/*
 * ngx_ota_api_upgrade.c: GET /ota/v1/upgrade?module=<m> (Bearer token).
 *
 * The device's open task for the module, 204 when there is none, 404 for a
 * module the product does not have.  One round trip for most answers (the
 * keys live in different hash slots, so no single script: pipelines):
 *
 *   0  HEXISTS  prod:{p}:modules <module>  (not for "default", pipelined)
 *      HGET     dev:{d}:ver <module>                  -> its version
 *      HGET     dev:{d}:open <module>                 -> batch id
 *      and, for the batch b this process saw last open for (module,
 *      product), with its package p (the "open hint"):
 *      HGET     batch:{b}:state|from <device>
 *      ZSCORE   batch:{b}:devices <device>   (when b had waves last time)
 *      HGET     batch:{b}:covered|pkg <device> (when p had diffs last time)
 *      HMGET    batch:{b} state wave_upto rate package
 *      HLEN     pkg:{p}:diffs     HMGET pkg:{p} <offer fields>
 *   1  only when the open task names another batch (the hinted replies are
 *      ignored; none: 204, and the hint is dropped), or there was no hint:
 *      HGET     batch:{b}:state|from|covered|pkg <device>
 *      ZSCORE   batch:{b}:devices <device>
 *      HMGET    batch:{b} state wave_upto rate package
 *      HGET     pkg:{p}:diffs <version>   HMGET pkg:{p} <offer fields>
 *               (p: the batch's package as this process last saw it)
 *      also when step 0's batch record has waves but ZSCORE was not
 *      asked (a pending task: its rank decides)
 *  (1) HGET pkg:{p}:diffs, HMGET pkg:{p}   (first sight of the batch, or
 *                               its record names another package: again,
 *                               with covered and pkg if not asked yet)
 *      HGET covered|pkg, HGET pkg:{p}:diffs <version>  (step 0's HLEN
 *                               said the package has diffs)
 *      MULTI ZREMRANGEBYSCORE ZADD NX ZRANK ZRANGE EXEC  batch:{b}:offers
 *                               (a pending task of a batch with a rate,
 *                                pipelined after the package's reads)
 *  (2) HMGET    pkg:{diff}    (a diff from the device's version exists)
 *   3  XADD     events notified   (only while the task is still pending,
 *                                  and only when it cannot be held: the
 *                                  answer holds it in the process, to be
 *                                  folded into the first download event,
 *                                  ngx_ota_notified.c)
 *
 * The hints only choose which keys are read: every reply an answer is made
 * of (task columns, batch record, diff index, package record) is read for
 * that answer, in the same pipeline as the open task or after it, so a
 * wrong hint costs at most the old extra round trip, never a wrong answer
 * (t/53-upgrade-one-trip.t): covered and pkg matter only with a diff, the
 * rank only with waves, and HLEN 0 means no diff from any version.
 *
 * Made for speed (issue 22: the upgrade was the slowest request of a
 * session): the batch and its package are read with the open task (the
 * open hint above: 2 round trips -> 1 for most answers, 3 -> 2 with a
 * rate),
 * the package with the batch otherwise (a per-process hint of the
 * batch's package, checked against the batch record in the same step),
 * the batch and packages by HMGET of the fields used
 * rather than HGETALL, and the answer is text: the package's part is
 * compiled once per process by include/ota_offer_text.c (no JSON parse of
 * files and ext, no JSON tree per answer) and kept while the record's
 * fields read for this very answer are the bytes it was compiled from,
 * so a changed or removed package is never answered from the cache.
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
 * the package and an expiry, which any node verifies without Redis; its
 * text is byte for byte ota_offer_json()'s (include/ota_offer.c, which
 * shapes the MQTT upgrade notice too; t/unit/test_offer_text.c).
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_creds.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_notified.h"
#include "ngx_ota_redis.h"
#include "ngx_ota_wait.h"

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_lcache.h"
#include "ota_names.h"
#include "ota_offer.h"
#include "ota_offer_text.h"
#include "ota_stats.h"
#include "ota_task.h"


/* what each reply of a step is (u->kind, by the command's place) */
enum {
    NGX_OTA_UP_IGNORE = 0,          /* a hint that proved wrong */
    NGX_OTA_UP_MODULES,
    NGX_OTA_UP_VER,
    NGX_OTA_UP_OPEN,
    NGX_OTA_UP_STATE,
    NGX_OTA_UP_FROM,
    NGX_OTA_UP_RANK,
    NGX_OTA_UP_COVERED,
    NGX_OTA_UP_PKG,
    NGX_OTA_UP_BATCH,
    NGX_OTA_UP_DIFFS,
    NGX_OTA_UP_DIFFS_LEN,           /* HLEN: the package has diffs at all */
    NGX_OTA_UP_DIFFS_LATE,          /* HGET diffs <version> after HLEN */
    NGX_OTA_UP_PACKAGE,
    NGX_OTA_UP_RATE_QUEUED,         /* MULTI and the 4 queued commands */
    NGX_OTA_UP_RATE,                /* EXEC */
    NGX_OTA_UP_DIFF,
    NGX_OTA_UP_EVENT
};

#define NGX_OTA_UP_CMDS_MAX  40      /* at most 29 per request */

/* the package fields read (HMGET), in this order */
#define NGX_OTA_UP_PKG_FIELDS                                                 \
    "id type from version module state sign_method sign size files ext "     \
    "manifest signature"

enum {
    NGX_OTA_UPF_ID = 0, NGX_OTA_UPF_TYPE, NGX_OTA_UPF_FROM,
    NGX_OTA_UPF_VERSION, NGX_OTA_UPF_MODULE, NGX_OTA_UPF_STATE,
    NGX_OTA_UPF_SIGN_METHOD, NGX_OTA_UPF_SIGN, NGX_OTA_UPF_SIZE,
    NGX_OTA_UPF_FILES, NGX_OTA_UPF_EXT, NGX_OTA_UPF_MANIFEST,
    NGX_OTA_UPF_SIGNATURE, NGX_OTA_UPF_N
};

/* compiled packages and batch -> package hints, per process: bounded */
#define NGX_OTA_UP_PACKAGES  128
#define NGX_OTA_UP_HINTS     1024
#define NGX_OTA_UP_HINT_TTL  600000     /* ms; checked on every use anyway */

/* (module, product) -> "<batch> <package> <d> <w>": d 1 when the package
 * had diffs, w 1 when the batch had waves */
#define NGX_OTA_UP_OPENS     1024


typedef struct {
    ngx_str_t              device;
    ngx_str_t              product;
    ngx_str_t              module;
    ngx_str_t              batch;
    ngx_str_t              package;
    ngx_str_t              hint;         /* the package asked with the batch */
    ngx_str_t              task_from;
    ngx_str_t              dev_ver;      /* reported, "" when unknown */
    ngx_str_t              diff;         /* diff package id, or empty */
    ngx_str_t              full_id;      /* the batch's package */
    ngx_str_t              open_key;     /* the device's open tasks */
    ngx_str_t              ver_key;      /* the device's versions */
    ngx_str_t              modules_key;  /* the product's modules, or empty
                                            for "default" */
    ngx_str_t              open_hint;    /* "<module>@<product>": the open
                                            batch last seen, its name */
    ngx_str_t              hint_batch;   /* the batch asked with the open
                                            task, or empty */
    ngx_ota_redis_call_t  *call;         /* this round's */
    u_char                 kind[NGX_OTA_UP_CMDS_MAX];
    ngx_uint_t             hint_at;      /* the hinted reads' first place */
    ngx_uint_t             open_at;      /* the hinted batch's reads' */
    ngx_uint_t             open_n;       /* and how many */
    ngx_int_t              diffs_n;      /* HLEN of the diffs, -1: unread */
    ota_offer_pkg_t       *pkg;          /* the batch's package, compiled */
    ota_offer_pkg_t       *dpkg;         /* the diff's */
    u_char                *text;         /* the answer */
    size_t                 text_len;
    int64_t                rank;         /* in the batch, 0: none */
    ngx_int_t              rate;         /* offers per minute, 0: none */
    ngx_str_t              offers;       /* the batch's offers key */
    int64_t                now;          /* ms, of the rate check */
    unsigned               limited:1;    /* the rate check was sent */
    unsigned               pending:1;    /* task still pending: notify */
    unsigned               gone:1;       /* task or batch not open: 204 */
    unsigned               on_full:1;    /* covered counts the full one */
    unsigned               hinted:1;     /* the package asked with the batch */
    unsigned               open_hinted:1; /* the batch asked with the open
                                             task (step 0) */
    unsigned               hint_diffs:1; /* the hinted package had diffs */
    unsigned               hint_waves:1; /* the hinted batch had waves */
    unsigned               no_rank:1;    /* ZSCORE not asked (no waves) */
    unsigned               waves:1;      /* the batch has waves (record) */
    unsigned               columns:1;    /* covered and pkg were asked */
    unsigned               diffs_late:1; /* diffs asked by HLEN only */
    unsigned               missing:1;    /* the package has no record */
    unsigned               failed:1;     /* it could not be shaped */
    unsigned               decided:1;    /* no offer: later replies of the
                                            round are not looked at */
} ngx_ota_upgrade_t;


static ota_offer_cache_t  *ngx_ota_upgrade_packages_cache;
static ota_lcache_t       *ngx_ota_upgrade_hints;
static ota_lcache_t       *ngx_ota_upgrade_opens;


static void ngx_ota_upgrade_cleanup(void *data);
static void ngx_ota_upgrade_release(ngx_ota_upgrade_t *u);
static ngx_int_t ngx_ota_upgrade_sent(ngx_ota_upgrade_t *u, ngx_uint_t kind,
    ngx_int_t rc);
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
static void ngx_ota_upgrade_step(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call);
static void ngx_ota_upgrade_diff(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, redisReply *reply);
static ngx_int_t ngx_ota_upgrade_hinted(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call);
static ngx_int_t ngx_ota_upgrade_batch_reads(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_str_t *b, ngx_uint_t columns);
static ngx_int_t ngx_ota_upgrade_columns(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_str_t *b);
static void ngx_ota_upgrade_unhint(ngx_ota_upgrade_t *u, ngx_uint_t from,
    ngx_uint_t to);
static void ngx_ota_upgrade_remember(ngx_ota_upgrade_t *u,
    ngx_str_t *package, ngx_uint_t diffs);
static ngx_int_t ngx_ota_upgrade_step1(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call);
static ngx_int_t ngx_ota_upgrade_packages(ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, ngx_str_t *package, ngx_uint_t count);
static void ngx_ota_upgrade_answer(ngx_http_request_t *r,
    ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call, ota_offer_pkg_t *p,
    ota_offer_pkg_t *fb);
static void ngx_ota_upgrade_send(ngx_http_request_t *r, ngx_ota_upgrade_t *u);
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


ngx_int_t
ngx_ota_api_upgrade(ngx_http_request_t *r)
{
    time_t              token_expires;
    ngx_int_t           rc;
    ngx_str_t           arg;
    ngx_msec_t          wait;
    const char         *why;
    ngx_ota_ctx_t      *ctx;
    ngx_pool_cleanup_t *cln;
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

    /* the compiled packages this request holds */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_ota_upgrade_cleanup;
    cln->data = u;

    /* once per process; without memory each answer is compiled for itself */
    if (ngx_ota_upgrade_packages_cache == NULL) {
        ngx_ota_upgrade_packages_cache =
                                 ota_offer_cache_new(NGX_OTA_UP_PACKAGES);
    }
    if (ngx_ota_upgrade_hints == NULL) {
        ngx_ota_upgrade_hints = ota_lcache_new(NGX_OTA_UP_HINTS,
                                               NGX_OTA_UP_HINT_TTL);
    }
    if (ngx_ota_upgrade_opens == NULL) {
        ngx_ota_upgrade_opens = ota_lcache_new(NGX_OTA_UP_OPENS,
                                               NGX_OTA_UP_HINT_TTL);
    }

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

    if (ngx_ota_key(r->pool, &u->open_key, OTA_KEY_DEVICE_OPEN, &u->device,
                    NULL, NULL)
        == NULL
        || ngx_ota_key(r->pool, &u->ver_key, OTA_KEY_DEVICE_VERSIONS,
                       &u->device, NULL, NULL)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the name of the open batch hint (lengths checked: at most 129) */
    u->open_hint.data = ngx_pnalloc(r->pool,
                                    u->module.len + 1 + u->product.len);
    if (u->open_hint.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    u->open_hint.len = ngx_sprintf(u->open_hint.data, "%V@%V", &u->module,
                                   &u->product)
                       - u->open_hint.data;

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


static void
ngx_ota_upgrade_release(ngx_ota_upgrade_t *u)
{
    ota_offer_pkg_release(u->pkg);
    ota_offer_pkg_release(u->dpkg);
    u->pkg = NULL;
    u->dpkg = NULL;
}


static void
ngx_ota_upgrade_cleanup(void *data)
{
    ngx_ota_upgrade_release(data);
}


/* rc of a command of this round just queued: notes what its reply is */
static ngx_int_t
ngx_ota_upgrade_sent(ngx_ota_upgrade_t *u, ngx_uint_t kind, ngx_int_t rc)
{
    ngx_uint_t  i;

    if (rc == NGX_OK) {
        i = u->call->sent - 1;
        if (i >= NGX_OTA_UP_CMDS_MAX) {
            return NGX_ERROR;       /* never: at most 29 per request */
        }
        u->kind[i] = (u_char) kind;
    }

    return rc;
}

#define ngx_ota_upgrade_cmd(u, kind, ...)                                     \
    ngx_ota_upgrade_sent(u, kind, ngx_ota_redis_cmd((u)->call, __VA_ARGS__))


/* the first step: sends HEXISTS modules (unless "default") and HGET open */
static ngx_int_t
ngx_ota_upgrade_lookup(ngx_http_request_t *r, ngx_ota_upgrade_t *u)
{
    ngx_int_t              rc;
    ngx_ota_redis_call_t  *call;

    /* a woken request checks again from the start */
    ngx_ota_upgrade_release(u);
    ngx_memzero(u->kind, sizeof(u->kind));
    u->rank = 0;
    u->rate = 0;
    u->limited = 0;
    u->pending = 0;
    u->gone = 0;
    u->on_full = 0;
    u->hinted = 0;
    u->open_hinted = 0;
    u->hint_diffs = 0;
    u->hint_waves = 0;
    u->no_rank = 0;
    u->waves = 0;
    u->columns = 0;
    u->diffs_late = 0;
    u->diffs_n = -1;
    u->open_at = 0;
    u->open_n = 0;
    u->missing = 0;
    u->failed = 0;
    u->decided = 0;
    u->text = NULL;
    ngx_str_null(&u->batch);
    ngx_str_null(&u->package);
    ngx_str_null(&u->hint);
    ngx_str_null(&u->hint_batch);
    ngx_str_null(&u->task_from);
    ngx_str_null(&u->dev_ver);
    ngx_str_null(&u->diff);
    ngx_str_null(&u->full_id);

    call = ngx_ota_redis_call(r, ngx_ota_upgrade_reply, u);
    if (call == NULL) {
        return NGX_ERROR;
    }

    /* replies of an earlier round still coming are not this one's */
    u->call = call;

    rc = NGX_OK;

    if (u->modules_key.len) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_MODULES, "HEXISTS %b %b",
                                 u->modules_key.data, u->modules_key.len,
                                 u->module.data, u->module.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_VER, "HGET %b %b",
                                 u->ver_key.data, u->ver_key.len,
                                 u->module.data, u->module.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_OPEN, "HGET %b %b",
                                 u->open_key.data, u->open_key.len,
                                 u->module.data, u->module.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_hinted(r, u, call);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
    }

    return rc;
}


/*
 * Made for speed: in a rollout the devices of a product's module asking
 * at once mostly have the same open batch, so the reads of step 1 for the
 * batch this process saw last for (module, product) go with step 0; the
 * open task's reply says whether it is the device's batch, else those
 * replies are ignored and step 1 runs as before (a wrong hint costs the
 * old round trip, never a wrong answer: every reply the answer is made of
 * is read for it).  The diff index is asked by HLEN (the device's version
 * is not known yet): when it is not empty, HGET of the version follows
 * (with covered and pkg, which matter only then, unless the package had
 * diffs last time: then they go now).
 */
static ngx_int_t
ngx_ota_upgrade_hinted(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call)
{
    size_t       bl, pl;
    ngx_int_t    rc;
    const char  *v, *sp, *sp2;

    v = ota_lcache_get(ngx_ota_upgrade_opens, (char *) u->open_hint.data,
                       u->open_hint.len, (int64_t) ngx_ota_now_ms());
    if (v == NULL) {
        return NGX_OK;
    }

    /* "<batch> <package> <d> <w>", as ngx_ota_upgrade_remember() puts it */
    sp = ngx_strchr(v, ' ');
    sp2 = sp ? ngx_strchr(sp + 1, ' ') : NULL;
    if (sp2 == NULL || sp2[1] == '\0' || sp2[2] != ' ') {
        return NGX_OK;
    }

    bl = sp - v;
    pl = sp2 - sp - 1;

    if (!ota_name_id(v, bl) || !ota_name_id(sp + 1, pl)) {
        return NGX_OK;
    }

    u->hint_batch.data = ngx_pnalloc(r->pool, bl + 1 + pl + 1);
    if (u->hint_batch.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(u->hint_batch.data, v, bl + 1 + pl);
    u->hint_batch.data[bl] = '\0';
    u->hint_batch.data[bl + 1 + pl] = '\0';
    u->hint_batch.len = bl;

    u->hint.data = u->hint_batch.data + bl + 1;
    u->hint.len = pl;
    u->hint_diffs = (sp2[1] == '1');
    u->hint_waves = (sp2[3] == '1');

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: batch \"%V\" and package \"%V\" asked "
                   "with the open task (diffs: %d, waves: %d)",
                   &u->hint_batch, &u->hint, (int) u->hint_diffs,
                   (int) u->hint_waves);

    u->open_at = call->sent;
    u->open_hinted = 1;

    /* made for speed: the device's rank only for a batch with waves; a
     * batch found with waves after all is read again (step 1) */
    u->no_rank = !u->hint_waves;

    rc = ngx_ota_upgrade_batch_reads(r, u, &u->hint_batch, u->hint_diffs);

    if (rc == NGX_OK) {
        u->hint_at = call->sent;
        u->hinted = 1;
        u->diffs_late = 1;
        rc = ngx_ota_upgrade_packages(u, call, &u->hint, 1);
    }

    u->open_n = call->sent - u->open_at;

    return rc;
}


/* HGET of the device's field in one of batch b's task columns */
static ngx_int_t
ngx_ota_upgrade_column(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_uint_t kind, const char *column, ngx_str_t *b)
{
    ngx_str_t  key;

    if (ngx_ota_key(r->pool, &key, column, b, NULL, NULL) == NULL) {
        return NGX_ERROR;
    }

    return ngx_ota_upgrade_cmd(u, kind, "HGET %b %b", key.data, key.len,
                               u->device.data, u->device.len);
}


/* step 1's reads of batch b for the device (covered, pkg: when columns) */
static ngx_int_t
ngx_ota_upgrade_batch_reads(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_str_t *b, ngx_uint_t columns)
{
    ngx_int_t  rc;
    ngx_str_t  batch, devs;

    if (ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, b, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &devs, OTA_KEY_BATCH_DEVICES, b, NULL,
                       NULL) == NULL)
    {
        return NGX_ERROR;
    }

    rc = ngx_ota_upgrade_column(r, u, NGX_OTA_UP_STATE, OTA_KEY_BATCH_STATE,
                                b);

    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_column(r, u, NGX_OTA_UP_FROM,
                                    OTA_KEY_BATCH_FROM, b);
    }

    if (rc == NGX_OK && !u->no_rank) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RANK, "ZSCORE %b %b",
                                 devs.data, devs.len,
                                 u->device.data, u->device.len);
    }

    if (rc == NGX_OK && columns) {
        rc = ngx_ota_upgrade_columns(r, u, b);
    }

    /* the fields used, not the whole record: made for speed */
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_BATCH,
                                 "HMGET %b state " OTA_R_WAVE_UPTO " "
                                 OTA_R_RATE " package",
                                 batch.data, batch.len);
    }

    return rc;
}


/* the task's covered and pkg columns: whether it counts the full package
 * (needed only when there is a diff to offer) */
static ngx_int_t
ngx_ota_upgrade_columns(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_str_t *b)
{
    ngx_int_t  rc;

    rc = ngx_ota_upgrade_column(r, u, NGX_OTA_UP_COVERED,
                                OTA_KEY_BATCH_COVERED, b);

    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_column(r, u, NGX_OTA_UP_PKG, OTA_KEY_BATCH_PKG,
                                    b);
    }

    if (rc == NGX_OK) {
        u->columns = 1;
    }

    return rc;
}


/* the replies from..to of this round are not this answer's, and what the
 * hints asked is forgotten: the answer goes on as without them */
static void
ngx_ota_upgrade_unhint(ngx_ota_upgrade_t *u, ngx_uint_t from, ngx_uint_t to)
{
    ngx_uint_t  i;

    for (i = from; i < to && i < NGX_OTA_UP_CMDS_MAX; i++) {
        u->kind[i] = NGX_OTA_UP_IGNORE;
    }

    u->open_hinted = 0;
    u->hinted = 0;
    u->columns = 0;
    u->diffs_late = 0;
    ngx_str_null(&u->hint);
}


/* the open batch of (module, product) and its package, for the next
 * request's step 0 (put only when it changed) */
static void
ngx_ota_upgrade_remember(ngx_ota_upgrade_t *u, ngx_str_t *package,
    ngx_uint_t diffs)
{
    u_char       buf[OTA_LCACHE_VALUE_MAX], *p;
    int64_t      now;
    const char  *v;

    if (u->batch.len + package->len + 6 > OTA_LCACHE_VALUE_MAX) {
        return;
    }

    p = ngx_sprintf(buf, "%V %V %c %c", &u->batch, package,
                    diffs ? '1' : '0', u->waves ? '1' : '0');
    *p = '\0';

    now = (int64_t) ngx_ota_now_ms();

    v = ota_lcache_get(ngx_ota_upgrade_opens, (char *) u->open_hint.data,
                       u->open_hint.len, now);
    if (v != NULL && ngx_strcmp(v, buf) == 0) {
        return;
    }

    ota_lcache_put(ngx_ota_upgrade_opens, (char *) u->open_hint.data,
                   u->open_hint.len, (char *) buf, now);
}


static void
ngx_ota_upgrade_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_uint_t           kind;
    ngx_ota_upgrade_t   *u = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (call != u->call || u->decided) {
        return;                     /* an earlier round, or no offer */
    }

    kind = call->index < NGX_OTA_UP_CMDS_MAX ? u->kind[call->index]
                                             : NGX_OTA_UP_IGNORE;

    if (kind == NGX_OTA_UP_IGNORE) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "upgrade");
        return;
    }

    switch (kind) {

    case NGX_OTA_UP_MODULES:
        if (reply->type != REDIS_REPLY_INTEGER) {
            ngx_ota_api_redis_error(r, reply, "upgrade module check");
            return;
        }

        if (reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "unknown module for this product");
        }
        return;

    case NGX_OTA_UP_VER:
        /* the device's reported version of the module (diffs are from it) */
        if (reply->type == REDIS_REPLY_STRING) {
            ngx_str_t  v;

            v.data = (u_char *) reply->str;
            v.len = reply->len;
            u->dev_ver.data = ngx_ota_pstrdup0(r->pool, &v);
            u->dev_ver.len = u->dev_ver.data ? v.len : 0;
        }
        return;

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

    case NGX_OTA_UP_DIFFS_LEN:
        if (reply->type != REDIS_REPLY_INTEGER) {
            ngx_ota_api_redis_error(r, reply, "upgrade diffs");
            return;
        }

        u->diffs_n = (ngx_int_t) reply->integer;
        return;

    case NGX_OTA_UP_DIFFS:
    case NGX_OTA_UP_DIFFS_LATE:
        if (reply->type == REDIS_REPLY_STRING && !u->on_full
            && ota_name_id(reply->str, reply->len))
        {
            ngx_str_t  v;

            v.data = (u_char *) reply->str;
            v.len = reply->len;
            u->diff.data = ngx_ota_pstrdup0(r->pool, &v);
            u->diff.len = u->diff.data ? v.len : 0;
        }

        if (kind == NGX_OTA_UP_DIFFS_LATE) {
            ngx_ota_upgrade_step(r, u, call);
        }
        return;

    case NGX_OTA_UP_PACKAGE:
        ngx_ota_upgrade_package(r, u, call, reply);
        return;

    case NGX_OTA_UP_RATE_QUEUED:
        if (reply->type != REDIS_REPLY_STATUS) {
            ngx_ota_api_redis_error(r, reply, "upgrade offer");
        }
        return;

    case NGX_OTA_UP_RATE:
        ngx_ota_upgrade_offer(r, u, call, reply);
        return;

    case NGX_OTA_UP_DIFF:
        ngx_ota_upgrade_diff(r, u, call, reply);
        return;

    default: /* NGX_OTA_UP_EVENT */
        if (reply->type != REDIS_REPLY_STRING) {
            ngx_ota_api_redis_error(r, reply, "upgrade notified event");
            return;
        }

        ngx_ota_metric_add(NGX_OTA_M_EVENTS, 1);
        ngx_ota_upgrade_send(r, u);
        return;
    }
}


static void
ngx_ota_upgrade_open(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t    rc;
    ngx_str_t    b;

    if (u->open_hinted) {
        if (reply->type == REDIS_REPLY_STRING
            && reply->len == u->hint_batch.len
            && ngx_strncmp(reply->str, u->hint_batch.data, reply->len) == 0)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota upgrade: batch \"%V\" read with the open "
                           "task", &u->hint_batch);
            u->batch = u->hint_batch;
            return;
        }

        /* another batch or none: the hinted replies are not this one's */
        ngx_ota_upgrade_unhint(u, u->open_at, u->open_at + u->open_n);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: device \"%V\": open batch is not "
                       "\"%V\" as hinted", &u->device, &u->hint_batch);

        if (reply->type == REDIS_REPLY_NIL) {
            /* made for speed: devices with nothing open (polling between
             * rollouts) do not pay for a hint more than once */
            ota_lcache_drop(ngx_ota_upgrade_opens,
                            (char *) u->open_hint.data, u->open_hint.len);
        }
    }

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

    if (u->batch.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_upgrade_step1(r, u, call);
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/* step 1 for u->batch, all of its reads */
static ngx_int_t
ngx_ota_upgrade_step1(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call)
{
    ngx_int_t    rc;
    ngx_str_t    b;
    const char  *hint;

    u->no_rank = 0;

    rc = ngx_ota_upgrade_batch_reads(r, u, &u->batch, 1);

    /*
     * Made for speed: the batch's package as this process saw it last is
     * read in this same step, saving a round trip; the batch's reply says
     * whether it still is (a batch's package is set once, at its
     * creation), else those replies are ignored and the right one read.
     */
    hint = ota_lcache_get(ngx_ota_upgrade_hints, (char *) u->batch.data,
                          u->batch.len, (int64_t) ngx_ota_now_ms());

    if (rc == NGX_OK && hint != NULL) {
        b.data = (u_char *) hint;
        b.len = ngx_strlen(hint);

        u->hint.data = ngx_ota_pstrdup0(r->pool, &b);
        u->hint.len = b.len;

        if (u->hint.data == NULL) {
            return NGX_ERROR;
        }

        u->hint_at = call->sent;
        u->hinted = 1;

        rc = ngx_ota_upgrade_packages(u, call, &u->hint, 0);
    }

    return rc;
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


/* element i of an HMGET reply, NGX_DECLINED when absent */
static ngx_int_t
ngx_ota_upgrade_elem(redisReply *reply, size_t i, ngx_str_t *v)
{
    if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements
        || reply->element[i]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    v->data = (u_char *) reply->element[i]->str;
    v->len = reply->element[i]->len;

    return NGX_OK;
}


static void
ngx_ota_upgrade_batch(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t      rc, upto;
    ngx_str_t      state, wave, pkg;
    ngx_uint_t     confirmed;
    ngx_time_t    *tp;

    if (u->gone) {
        ngx_ota_upgrade_none(r);
        return;
    }

    if (ngx_ota_upgrade_elem(reply, 0, &state) != NGX_OK
        || state.len != 7 || ngx_strncmp(state.data, "running", 7) != 0)
    {
        /* paused, cancelled, finished, scheduled or still being created */
        ngx_ota_upgrade_none(r);
        return;
    }

    u->waves = (ngx_ota_upgrade_elem(reply, 1, &wave) == NGX_OK);

    if (u->pending && u->no_rank && u->waves
        && ngx_atoi(wave.data, wave.len) != NGX_ERROR)
    {
        /* the batch has waves after all: its rank is needed, so step 1
         * again with it, as without the hint (this round's later replies
         * are not this one's) */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: batch \"%V\" has waves: read again "
                       "with the device's rank", &u->batch);

        /* remembered now: a device outside the waves answers 204 before
         * the package is looked at, the next one must ask the rank */
        if (ngx_ota_upgrade_elem(reply, 3, &pkg) == NGX_OK
            && ota_name_id((char *) pkg.data, pkg.len))
        {
            ngx_ota_upgrade_remember(u, &pkg, u->hint_diffs);
        }

        ngx_ota_upgrade_unhint(u, call->index + 1, call->sent);

        u->diffs_n = -1;
        u->pending = 0;
        u->on_full = 0;
        u->rank = 0;
        ngx_str_null(&u->task_from);

        rc = ngx_ota_upgrade_step1(r, u, call);
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;
    }

    if (u->pending && u->waves) {
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

    if (ngx_ota_upgrade_elem(reply, 3, &pkg) != NGX_OK
        || !ota_name_id((char *) pkg.data, pkg.len))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: task of device \"%V\" in batch \"%V\" "
                      "names no valid package", &u->device, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    u->package.data = ngx_ota_pstrdup0(r->pool, &pkg);
    u->package.len = pkg.len;

    if (u->package.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u->full_id = u->package;

    confirmed = u->open_hinted && u->hinted && u->hint.len == pkg.len
                && ngx_strncmp(u->hint.data, pkg.data, pkg.len) == 0;

    if (!confirmed || u->waves != u->hint_waves) {
        /* the next request of (module, product) asks this one with its
         * step 0; whether the package has diffs is learnt then */
        ngx_ota_upgrade_remember(u, &u->package,
                                 confirmed ? u->hint_diffs : 0);
    }

    if (u->hinted && u->hint.len == pkg.len
        && ngx_strncmp(u->hint.data, pkg.data, pkg.len) == 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: batch \"%V\": package \"%V\" read with "
                       "it", &u->batch, &u->package);
        rc = NGX_OK;

    } else {
        if (u->hinted) {
            /* the hinted reads answer for another package */
            u->kind[u->hint_at] = NGX_OTA_UP_IGNORE;
            u->kind[u->hint_at + 1] = NGX_OTA_UP_IGNORE;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: batch \"%V\": package \"%V\" read now",
                       &u->batch, &u->package);

        ota_lcache_put(ngx_ota_upgrade_hints, (char *) u->batch.data,
                       u->batch.len, (char *) u->package.data,
                       (int64_t) ngx_ota_now_ms());

        /* the diff of the device's version is looked up now: whether the
         * task counts the full package is needed with it */
        u->diffs_late = 0;
        rc = u->columns ? NGX_OK
                        : ngx_ota_upgrade_columns(r, u, &u->batch);

        if (rc == NGX_OK) {
            rc = ngx_ota_upgrade_packages(u, call, &u->package, 0);
        }
    }

    if (rc == NGX_OK && u->pending
        && ngx_ota_upgrade_elem(reply, 2, &wave) == NGX_OK)
    {
        u->rate = ngx_atoi(wave.data, wave.len);
    }

    if (rc != NGX_OK || u->rate <= 0) {
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;
    }

    /* the rate check, after the package's reads (made for speed: in the
     * same round trip) */

    if (ngx_ota_key(r->pool, &u->offers, OTA_KEY_BATCH_OFFERS, &u->batch,
                    NULL, NULL) == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    tp = ngx_timeofday();
    u->now = (int64_t) tp->sec * 1000 + tp->msec;
    u->limited = 1;

    rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE_QUEUED, "MULTI");
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE_QUEUED,
                                 "ZREMRANGEBYSCORE %b -inf (%lld",
                                 u->offers.data, u->offers.len,
                                 (long long) (u->now - 60000));
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE_QUEUED,
                                 "ZADD %b NX %lld %b",
                                 u->offers.data, u->offers.len,
                                 (long long) u->now, u->device.data,
                                 u->device.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE_QUEUED, "ZRANK %b %b",
                                 u->offers.data, u->offers.len,
                                 u->device.data, u->device.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE_QUEUED,
                                 "ZRANGE %b 0 0 WITHSCORES",
                                 u->offers.data, u->offers.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_RATE, "EXEC");

    } else if (rc == NGX_ERROR) {
        /* the connection must not stay inside a MULTI that other
         * requests' commands would join */
        (void) ngx_ota_redis_cmd(call, "DISCARD");
    }
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


/* the diff from the device's version (index; with count: only how many
 * diffs the package has, the version being unknown yet) and the full
 * package */
static ngx_int_t
ngx_ota_upgrade_packages(ngx_ota_upgrade_t *u, ngx_ota_redis_call_t *call,
    ngx_str_t *package, ngx_uint_t count)
{
    ngx_int_t  rc;
    ngx_str_t  dk, pk;

    if (ngx_ota_key(call->request->pool, &dk, OTA_KEY_PACKAGE_DIFFS,
                    package, NULL, NULL) == NULL
        || ngx_ota_key(call->request->pool, &pk, OTA_KEY_PACKAGE, package,
                       NULL, NULL) == NULL)
    {
        return NGX_ERROR;
    }

    if (count) {
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_DIFFS_LEN, "HLEN %b",
                                 dk.data, dk.len);

    } else {
        /* asked even for an unknown version: the reply numbering stays
         * fixed */
        rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_DIFFS, "HGET %b %b",
                                 dk.data, dk.len,
                                 u->dev_ver.data ? u->dev_ver.data
                                                 : (u_char *) "",
                                 u->dev_ver.len);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /* the fields of the answer, not the whole record: made for speed */
    return ngx_ota_upgrade_cmd(u, NGX_OTA_UP_PACKAGE,
                               "HMGET %b " NGX_OTA_UP_PKG_FIELDS,
                               pk.data, pk.len);
}


/* the rate check's EXEC: the device's place among the minute's offers */
static void
ngx_ota_upgrade_offer(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t    secs;
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

        /* the package's replies came before */
        ngx_ota_upgrade_step(r, u, call);
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


/* a view of element i of an HMGET reply; "" when absent */
static ota_view_t
ngx_ota_upgrade_field(redisReply *reply, size_t i)
{
    ngx_str_t   v;
    ota_view_t  out;

    if (ngx_ota_upgrade_elem(reply, i, &v) != NGX_OK) {
        ngx_str_set(&v, "");
    }

    out.data = (const char *) v.data;
    out.len = v.len;

    return out;
}


/* a package record's fields (NGX_OTA_UP_PKG_FIELDS) compiled, or from the
 * cache when they are the same bytes */
static ota_offer_pkg_t *
ngx_ota_upgrade_compiled(ngx_http_request_t *r, ngx_str_t *id,
    redisReply *reply)
{
    int               hit;
    off_t             n;
    size_t            kept;
    uint64_t          gets, hits;
    ngx_str_t         v;
    ota_offer_t       o;
    ota_offer_pkg_t  *p;

    ngx_memzero(&o, sizeof(ota_offer_t));

    o.package.data = (const char *) id->data;
    o.package.len = id->len;
    o.version = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_VERSION);
    o.type = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_TYPE);
    o.pkg_from = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_FROM);
    o.sign_method = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_SIGN_METHOD);
    o.sign = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_SIGN);
    o.files = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_FILES);
    o.ext = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_EXT);
    o.manifest = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_MANIFEST);
    o.signature = ngx_ota_upgrade_field(reply, NGX_OTA_UPF_SIGNATURE);

    /* as ngx_ota_hash_int(): absent, empty or not a number is 0 */
    o.size = 0;
    if (ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_SIZE, &v) == NGX_OK
        && v.len)
    {
        n = ngx_atoof(v.data, v.len);
        o.size = n == NGX_ERROR ? 0 : (int64_t) n;
    }

    p = ota_offer_cache_get(ngx_ota_upgrade_packages_cache, &o, &hit);

    ota_offer_cache_stats(ngx_ota_upgrade_packages_cache, &gets, &hits,
                          &kept);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: package \"%V\" %s (%uL of %uL from the "
                   "cache, %uz kept)", id,
                   p == NULL ? "cannot be shaped"
                             : hit ? "as compiled before" : "compiled",
                   hits, gets, kept);

    return p;
}


/* the batch's package: its record compiled; decided on in _step */
static void
ngx_ota_upgrade_package(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_str_t  id;

    if (ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_ID, &id) != NGX_OK) {
        u->missing = 1;

    } else {
        u->pkg = ngx_ota_upgrade_compiled(r, &u->package, reply);
        u->failed = (u->pkg == NULL);
    }

    if (!u->limited) {
        ngx_ota_upgrade_step(r, u, call);
    }

    /* else the rate check's EXEC comes next */
}


/* the package is known (and the rate check, if any, let it be offered) */
static void
ngx_ota_upgrade_step(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call)
{
    ngx_int_t           rc;
    ngx_str_t           dkey;
    const ota_offer_t  *f;

    if (u->missing) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: upgrade: package \"%V\" of batch \"%V\" does "
                      "not exist", &u->package, &u->batch);
        ngx_ota_upgrade_none(r);
        return;
    }

    if (u->failed) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    f = ota_offer_pkg_fields(u->pkg);

    if (f->type.len == 4 && ngx_strncmp(f->type.data, "diff", 4) == 0) {
        ngx_ota_upgrade_answer(r, u, call, u->pkg, NULL);
        return;
    }

    if (u->diffs_late) {
        /* the package and its diffs' count came with step 0 */
        u->diffs_late = 0;
        ngx_ota_upgrade_remember(u, &u->full_id, u->diffs_n > 0);

        if (u->diffs_n > 0) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota upgrade: package \"%V\" has %i diffs: the "
                           "device's version's asked", &u->full_id,
                           u->diffs_n);

            rc = u->columns ? NGX_OK
                            : ngx_ota_upgrade_columns(r, u, &u->batch);

            if (rc == NGX_OK) {
                if (ngx_ota_key(r->pool, &dkey, OTA_KEY_PACKAGE_DIFFS,
                                &u->full_id, NULL, NULL)
                    == NULL)
                {
                    rc = NGX_ERROR;

                } else {
                    rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_DIFFS_LATE,
                                             "HGET %b %b",
                                             dkey.data, dkey.len,
                                             u->dev_ver.data
                                             ? u->dev_ver.data
                                             : (u_char *) "",
                                             u->dev_ver.len);
                }
            }

            if (rc != NGX_OK) {
                ngx_ota_api_send_failed(r, rc);
            }
            return;
        }
    }

    if (u->diff.len == 0) {
        ngx_ota_upgrade_answer(r, u, call, u->pkg, NULL);
        return;
    }

    /* a diff from the device's version: its record */
    if (ngx_ota_key(r->pool, &dkey, OTA_KEY_PACKAGE, &u->diff, NULL, NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: device \"%V\" at %V: diff \"%V\" exists",
                   &u->device, &u->dev_ver, &u->diff);

    rc = ngx_ota_upgrade_cmd(u, NGX_OTA_UP_DIFF,
                             "HMGET %b " NGX_OTA_UP_PKG_FIELDS,
                             dkey.data, dkey.len);
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
    ngx_str_t           id, type, from, ver, mod, state;
    const ota_offer_t  *f;

    f = ota_offer_pkg_fields(u->pkg);

    if (ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_ID, &id) == NGX_OK
        && ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_TYPE, &type) == NGX_OK
        && ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_FROM, &from) == NGX_OK
        && ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_VERSION, &ver) == NGX_OK
        && ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_MODULE, &mod) == NGX_OK
        && ngx_ota_upgrade_elem(reply, NGX_OTA_UPF_STATE, &state) == NGX_OK
        && type.len == 4 && ngx_strncmp(type.data, "diff", 4) == 0
        && ngx_ota_view_eq(from, u->dev_ver)
        && ngx_ota_view_eq(ver, f->version)
        && ngx_ota_view_eq(mod, u->module)
        && ((state.len == 5 && ngx_strncmp(state.data, "ready", 5) == 0)
            || (state.len == 8
                && ngx_strncmp(state.data, "verified", 8) == 0)))
    {
        u->dpkg = ngx_ota_upgrade_compiled(r, &u->diff, reply);
        if (u->dpkg == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota upgrade: device \"%V\" offered diff \"%V\" of "
                       "package \"%V\"", &u->device, &u->diff, &u->package);

        u->package = u->diff;
        ngx_ota_upgrade_answer(r, u, call, u->dpkg, u->pkg);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: diff \"%V\" is not to be offered (not a "
                   "ready diff from %V): the full package",
                   &u->diff, &u->dev_ver);

    ngx_ota_upgrade_answer(r, u, call, u->pkg, NULL);
}


static void *
ngx_ota_upgrade_alloc(void *pool, size_t size)
{
    return ngx_pnalloc(pool, size);
}


/* the offer of p (its package: u->package; fb its fallback or NULL) and
 * the notified event */
/* a link of the answer, remembered as genuine (sig: "" when unsigned) */
static void
ngx_ota_upgrade_links(ngx_str_t *device, const ota_view_t *package,
    int64_t expires, char *sig)
{
    ngx_str_t  id;

    if (ngx_strlen(sig) != OTA_HEX_SHA256_LEN) {
        return;
    }

    id.data = (u_char *) package->data;
    id.len = package->len;

    ngx_ota_creds_link_put(&id, device, expires, (u_char *) sig);
}


static void
ngx_ota_upgrade_answer(ngx_http_request_t *r, ngx_ota_upgrade_t *u,
    ngx_ota_redis_call_t *call, ota_offer_pkg_t *p, ota_offer_pkg_t *fb)
{
    ngx_int_t             rc;
    ngx_str_t             prefix;
    ota_offer_t           o;
    ota_event_fields_t    f;
    ngx_ota_loc_conf_t   *olcf;
    ngx_ota_main_conf_t  *omcf;
    char                  sig[OTA_HEX_SHA256_LEN + 1];
    char                  fsig[OTA_HEX_SHA256_LEN + 1];

    if (ngx_ota_upgrade_prefix(r, &prefix) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);

    ngx_memzero(&o, sizeof(ota_offer_t));

#define ngx_ota_view(v, s)  (v).data = (const char *) (s).data;               \
                            (v).len = (s).len

    ngx_ota_view(o.device, u->device);
    ngx_ota_view(o.batch, u->batch);
    ngx_ota_view(o.module, u->module);
    ngx_ota_view(o.task_from, u->task_from);
    ngx_ota_view(o.key, omcf->token_secret);
    ngx_ota_view(o.prefix, prefix);

#undef ngx_ota_view

    o.expires = (int64_t) (ngx_time() + olcf->link_ttl);

    sig[0] = '\0';
    fsig[0] = '\0';
    o.link_sig = sig;
    o.fallback_sig = fsig;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota upgrade: offer of package \"%V\" links \"%V\" "
                   "expire %T", &u->package, &prefix, (time_t) o.expires);

    /* the package's compiled text and this answer's parts, concatenated:
     * no JSON tree (made for speed) */
    u->text = (u_char *) ota_offer_text(p, fb, &o, ngx_ota_upgrade_alloc,
                                        r->pool, &u->text_len);
    if (u->text == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the device downloads from this process, most likely: its links are
     * known there and need no HMAC (ngx_ota_creds.c; made for speed) */
    ngx_ota_upgrade_links(&u->device, &ota_offer_pkg_fields(p)->package,
                          o.expires, sig);
    if (fb != NULL) {
        ngx_ota_upgrade_links(&u->device, &ota_offer_pkg_fields(fb)->package,
                              o.expires, fsig);
    }

    /* the notified event held (written within one progress interval, or
     * with the device's first download event): the answer goes now */
    if (!u->pending
        || ngx_ota_notified_hold(r, &u->device, &u->module, &u->batch,
                                 &u->package)
           == NGX_OK)
    {
        ngx_ota_upgrade_send(r, u);
        return;
    }

    /* the worker moves the task to notified; a repeated event is a no-op */
    ngx_memzero(&f, sizeof(ota_event_fields_t));
    f.type = OTA_EV_NOTIFIED;
    f.device = ngx_ota_event_str(&u->device);
    f.module = ngx_ota_event_str(&u->module);
    f.batch = ngx_ota_event_str(&u->batch);
    f.package = ngx_ota_event_str(&u->package);

    rc = ngx_ota_upgrade_sent(u, NGX_OTA_UP_EVENT, ngx_ota_api_event(call, &f));
    if (rc != NGX_OK) {
        ngx_ota_api_send_failed(r, rc);
    }
}


static void
ngx_ota_upgrade_send(ngx_http_request_t *r, ngx_ota_upgrade_t *u)
{
    ngx_int_t  rc;

    if (u->text == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_send_json_text(r, NGX_HTTP_OK, u->text, u->text_len);

    ngx_http_finalize_request(r, rc);
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
    ngx_ota_ctx_t      *ctx;
    ngx_ota_upgrade_t  *u;

    /* the round's replies still coming (hinted reads) are not looked at */
    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    u = ctx->api;
    u->decided = 1;

    if (ngx_ota_wait_none(r) == NGX_OK) {
        return;
    }

    ngx_ota_api_no_content(r);
}
