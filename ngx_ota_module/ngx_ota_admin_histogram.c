/*
 * ngx_ota_admin_histogram.c: GET <admin>/batches/<id>/histogram, the
 * download progress of a batch's devices in eleven buckets: 0-10 %,
 * 10-20 %, ... 90-100 % (lower bound included) and 100 % (every byte
 * delivered).
 *
 * The worker keeps no per-bucket counters, so the buckets come from the
 * batch's covered column (device -> bytes delivered).  A device absent
 * from the column has delivered nothing: those are counted exactly as
 * total - HLEN.  The rest:
 *   - at most NGX_OTA_HIST_EXACT entries: HVALS, every value, exact;
 *   - more: HRANDFIELD of NGX_OTA_HIST_SAMPLE distinct entries, scaled to
 *     the column's size ("exact": false), so a 1M-device batch costs one
 *     bounded read, never a scan of its tasks.
 * Two round trips, no blocking: HMGET + HLEN, then HVALS or HRANDFIELD.
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_redis.h"

#include "ota_keys.h"


/* up to this many entries HVALS is cheap (a few hundred kB of reply) */
#define NGX_OTA_HIST_EXACT     10000
/* sample size above it: buckets within about 2 % of the column's size */
#define NGX_OTA_HIST_SAMPLE    2000
#define NGX_OTA_HIST_BUCKETS   11


typedef struct {
    ngx_ota_admin_t       *admin;
    int64_t                total;       /* tasks in the batch */
    int64_t                entries;     /* devices with a covered value */
    int64_t                n[NGX_OTA_HIST_BUCKETS];
} ngx_ota_histogram_t;


static void ngx_ota_admin_histogram_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_ota_admin_histogram_send(ngx_ota_histogram_t *h,
    redisReply *values, size_t stride, ngx_uint_t exact);


ngx_int_t
ngx_ota_admin_batch_histogram(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              batch, covered;
    ngx_ota_admin_t       *a;
    ngx_ota_histogram_t   *h;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_pcalloc(r->pool, sizeof(ngx_ota_histogram_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->admin = a;
    a->id = *id;

    if (ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, id, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &covered, OTA_KEY_BATCH_COVERED, id, NULL,
                       NULL) == NULL
        || json_object_set_new(a->obj, "id",
                               json_stringn((char *) id->data, id->len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_histogram_reply, h);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b id size total", batch.data,
                           batch.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HLEN %b", covered.data, covered.len);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_histogram_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    off_t                 n;
    ngx_int_t             rc;
    ngx_str_t             covered;
    redisReply           *e;
    ngx_ota_histogram_t  *h = call->data;
    ngx_ota_admin_t      *a = h->admin;
    ngx_http_request_t   *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin batch histogram");
        return;
    }

    switch (call->index) {

    case 0:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
            || reply->element[0]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such batch");
            return;
        }

        e = reply->element[1];
        n = e->type == REDIS_REPLY_STRING && e->len
            ? ngx_atoof((u_char *) e->str, e->len) : 0;
        a->size = n == NGX_ERROR ? 0 : n;

        e = reply->element[2];
        n = e->type == REDIS_REPLY_STRING && e->len
            ? ngx_atoof((u_char *) e->str, e->len) : 0;
        h->total = n == NGX_ERROR ? 0 : n;
        return;

    case 1:
        h->entries = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;

        if (h->entries == 0) {
            rc = ngx_ota_admin_histogram_send(h, NULL, 1, 1);
            if (rc != NGX_OK) {
                ngx_http_finalize_request(r, rc);
            }
            return;
        }

        if (ngx_ota_key(r->pool, &covered, OTA_KEY_BATCH_COVERED, &a->id,
                        NULL, NULL) == NULL)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota admin: histogram of %V, %L covered entries",
                       &a->id, h->entries);

        if (h->entries <= NGX_OTA_HIST_EXACT) {
            rc = ngx_ota_redis_cmd(call, "HVALS %b", covered.data,
                                   covered.len);
        } else {
            rc = ngx_ota_redis_cmd(call, "HRANDFIELD %b %d WITHVALUES",
                                   covered.data, covered.len,
                                   NGX_OTA_HIST_SAMPLE);
        }

        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;

    default:
        if (reply->type != REDIS_REPLY_ARRAY) {
            ngx_ota_api_redis_error(r, reply, "admin batch histogram");
            return;
        }

        /* HVALS: values; HRANDFIELD WITHVALUES: field, value pairs */
        rc = h->entries <= NGX_OTA_HIST_EXACT
             ? ngx_ota_admin_histogram_send(h, reply, 1, 1)
             : ngx_ota_admin_histogram_send(h, reply, 2, 0);

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
        }
        return;
    }
}


/* the bucket of covered bytes: 100 % only when every byte went out */
static ngx_uint_t
ngx_ota_admin_bucket(off_t covered, off_t size)
{
    if (size <= 0 || covered <= 0) {
        return 0;
    }

    if (covered >= size) {
        return NGX_OTA_HIST_BUCKETS - 1;
    }

    return (ngx_uint_t) (covered * 10 / size);
}


/* counts the values, sends the answer; NGX_OK once sent (finalized) */
static ngx_int_t
ngx_ota_admin_histogram_send(ngx_ota_histogram_t *h, redisReply *values,
    size_t stride, ngx_uint_t exact)
{
    int               err;
    off_t             covered;
    json_t           *buckets, *item;
    size_t            i, sampled;
    int64_t           counted;
    ngx_uint_t        b;
    redisReply       *e;
    ngx_ota_admin_t  *a = h->admin;

    sampled = 0;

    for (i = stride - 1; values != NULL && i < values->elements; i += stride)
    {
        e = values->element[i];

        covered = e->type == REDIS_REPLY_STRING && e->len
                  ? ngx_atoof((u_char *) e->str, e->len) : 0;
        if (covered == NGX_ERROR) {
            covered = 0;
        }

        h->n[ngx_ota_admin_bucket(covered, a->size)]++;
        sampled++;
    }

    /* a sample stands for every entry of the column */
    if (!exact && sampled) {
        for (b = 0; b < NGX_OTA_HIST_BUCKETS; b++) {
            h->n[b] = (h->n[b] * h->entries + (int64_t) sampled / 2)
                      / (int64_t) sampled;
        }
    }

    /* devices without an entry delivered nothing; bucket 0 takes what the
     * others leave of the total, so the buckets always add up to it */
    counted = 0;
    for (b = 1; b < NGX_OTA_HIST_BUCKETS; b++) {
        counted += h->n[b];
    }

    if (h->total < counted + h->n[0]) {
        h->total = counted + h->n[0];
    }

    h->n[0] = h->total - counted;

    buckets = json_array();
    err = (buckets == NULL);
    err |= json_object_set_new(a->obj, "buckets", buckets);
    err |= json_object_set_new(a->obj, "total", json_integer(h->total));
    err |= json_object_set_new(a->obj, "size", json_integer(a->size));
    err |= json_object_set_new(a->obj, "exact", json_boolean(exact));
    err |= json_object_set_new(a->obj, "sampled",
                               json_integer((json_int_t) sampled));

    for (b = 0; !err && b < NGX_OTA_HIST_BUCKETS; b++) {
        item = json_pack("{s:i,s:i,s:I}",
                         "from", (int) (b * 10),
                         "to", (int) (b + 1 < NGX_OTA_HIST_BUCKETS
                                      ? b * 10 + 10 : 100),
                         "devices", (json_int_t) h->n[b]);
        err |= (item == NULL);
        err |= json_array_append_new(buckets, item);
    }

    if (err) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);

    return NGX_OK;
}
