/*
 * ngx_ota_admin_batch.c: GET <admin>/batches, batches/<id> and
 * batches/<id>/devices.
 *
 * A batch reads like `otactl batch show --json`: the batch record, the
 * per-state counters and failure reasons the worker keeps, and the rates of
 * ota_stats.h, so the two never disagree.  Lists are pages (?offset=,
 * ?limit=) read with one pipeline per page; a batch's devices can also be
 * searched by a part of their name (?match=, one bounded ZSCAN step).
 * A batch's rollout (waves, thresholds, pause reason, abort, start) is
 * laid out by ota_rollout_json(), as otactl does.
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_task_columns.h"
#include "ota_names.h"
#include "ota_rollout_view.h"
#include "ota_stats.h"


static const ngx_ota_field_t  ngx_ota_batch_fields[] = {
    { "id",           NGX_OTA_FIELD_STR },
    { "name",         NGX_OTA_FIELD_STR },
    { "type",         NGX_OTA_FIELD_STR },
    { "package",      NGX_OTA_FIELD_STR },
    { "product",      NGX_OTA_FIELD_STR },
    { "module",       NGX_OTA_FIELD_STR },
    { "version",      NGX_OTA_FIELD_STR },
    { "from_version", NGX_OTA_FIELD_STR },
    { "protocol",     NGX_OTA_FIELD_STR },
    { "method",       NGX_OTA_FIELD_STR },
    { "push",         NGX_OTA_FIELD_BOOL },
    { "state",        NGX_OTA_FIELD_STR },
    { "total",        NGX_OTA_FIELD_INT },
    { "created",      NGX_OTA_FIELD_INT },
    { "finished",     NGX_OTA_FIELD_INT },
    { "size",         NGX_OTA_FIELD_INT },  /* the package's bytes */
    { "job",          NGX_OTA_FIELD_STR },  /* the job that made it */
    { NULL,           0 }
};


/* per batch of a list: its record and counters */
static const ngx_ota_admin_read_t  ngx_ota_batch_reads[] = {
    { "HGETALL", OTA_KEY_BATCH },
    { "HGETALL", OTA_KEY_BATCH_COUNTS },
    { NULL, NULL }
};

static const ngx_ota_admin_list_t  ngx_ota_batches_list = {
    "admin batches", "batches", "id", ota_name_id, ngx_ota_batch_reads
};


static void ngx_ota_admin_batch_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_admin_batches_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_admin_devices_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


/* what the batch's diffs saved (docs/delta.md): "bytes_saved" and
 * "diff_succeeded", 0 when no task succeeded on a diff */
static int
ngx_ota_admin_deltas(json_t *obj, redisReply *hash)
{
    int64_t  saved, n;

    saved = ngx_ota_hash_int(hash, OTA_B_BYTES_SAVED, 0);
    n = ngx_ota_hash_int(hash, OTA_B_DIFF_SUCCEEDED, 0);

    return json_object_set_new(obj, "bytes_saved", json_integer(saved))
           | json_object_set_new(obj, "diff_succeeded", json_integer(n));
}


/* "skipped": {"current":n,...} from the record's skipped_<why> fields */
static int
ngx_ota_admin_skipped(json_t *obj, redisReply *hash)
{
    int          rc;
    off_t        n;
    json_t      *skipped;
    size_t       i;
    redisReply  *k, *v;

    skipped = json_object();
    if (skipped == NULL) {
        return -1;
    }

    rc = 0;

    for (i = 0; i + 1 < hash->elements; i += 2) {
        k = hash->element[i];
        v = hash->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || k->len <= 8 || ngx_strncmp(k->str, "skipped_", 8) != 0)
        {
            continue;
        }

        n = v->len ? ngx_atoof((u_char *) v->str, v->len) : NGX_ERROR;

        rc |= json_object_setn_new(skipped, k->str + 8, k->len - 8,
                                   json_integer(n == NGX_ERROR ? 0 : n));
    }

    rc |= json_object_set_new(obj, "skipped", skipped);

    return rc;
}


/* ---- batches/<id> -------------------------------------------------------- */

/* the rollout's fields of the record into the view, copied: the reply is
 * freed before the view is laid out */
static ngx_int_t
ngx_ota_admin_rollout_fields(ngx_http_request_t *r, ota_rollout_view_t *v,
    redisReply *hash)
{
    size_t       i;
    u_char      *p;
    redisReply  *k, *val;

    for (i = 0; i + 1 < hash->elements; i += 2) {
        k = hash->element[i];
        val = hash->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING
            || !ota_rollout_field(v, k->str, k->len, val->str, val->len))
        {
            continue;
        }

        p = ngx_pnalloc(r->pool, val->len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(p, val->str, val->len);
        p[val->len] = '\0';

        (void) ota_rollout_field(v, k->str, k->len, (char *) p, val->len);
    }

    return NGX_OK;
}


ngx_int_t
ngx_ota_admin_batch(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              batch, counts, failures, waves;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a->id = *id;

    if (ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, id, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &counts, OTA_KEY_BATCH_COUNTS, id, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &failures, OTA_KEY_BATCH_FAILURES, id, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &waves, OTA_KEY_BATCH_WAVES, id, NULL, NULL)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a->rollout = ngx_palloc(r->pool, sizeof(ota_rollout_view_t));
    if (a->rollout == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ota_rollout_view_init(a->rollout);

    call = ngx_ota_redis_call(r, ngx_ota_admin_batch_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %b", batch.data, batch.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", counts.data, counts.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", failures.data,
                               failures.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", waves.data, waves.len);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_batch_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    off_t                n;
    json_t              *failures;
    size_t               i;
    redisReply          *k, *v;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_ota_api_redis_error(r, reply, "admin batch");
        return;
    }

    switch (call->index) {

    case 0:
        if (reply->elements == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such batch");
            return;
        }

        if (ngx_ota_admin_fields(a->obj, reply, ngx_ota_batch_fields) != 0
            || ngx_ota_admin_skipped(a->obj, reply) != 0
            || ngx_ota_admin_deltas(a->obj, reply) != 0
            || ngx_ota_admin_rollout_fields(r, a->rollout, reply) != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case 1:
        if (ngx_ota_admin_batch_stats(a->obj, reply, &a->counts) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case 3:
        for (i = 0; i + 1 < reply->elements; i += 2) {
            k = reply->element[i];
            v = reply->element[i + 1];
            if (k->type == REDIS_REPLY_STRING
                && v->type == REDIS_REPLY_STRING)
            {
                ota_rollout_wave_field(a->rollout, k->str, k->len, v->str,
                                       v->len);
            }
        }

        if (ota_rollout_json(a->rollout, &a->counts, a->obj) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        return;

    default:
        failures = json_object();
        if (failures == NULL
            || json_object_set_new(a->obj, "failures", failures) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        for (i = 0; i + 1 < reply->elements; i += 2) {
            k = reply->element[i];
            v = reply->element[i + 1];

            if (k->type != REDIS_REPLY_STRING
                || v->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            n = ngx_atoof((u_char *) v->str, v->len);
            if (n == NGX_ERROR || n == 0) {
                continue;
            }

            /* reasons are the worker's words: keep them as they are, but
             * never let a bad byte break the answer */
            if (json_object_setn_new(failures, k->str, k->len,
                                     json_integer((json_int_t) n))
                != 0)
            {
                continue;
            }
        }
        return;
    }
}


/* ---- batches ------------------------------------------------------------- */

ngx_int_t
ngx_ota_admin_batches(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_admin_page(r, a, &rc) != NGX_OK) {
        return rc;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_batches_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "ZCARD %s", OTA_KEY_BATCHES);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZREVRANGE %s %d %d", OTA_KEY_BATCHES,
                               (int) a->offset,
                               (int) (a->offset + a->limit - 1));
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_batches_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t              *item;
    ngx_uint_t           k;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_admin_list_step(call, reply, a, &ngx_ota_batches_list, &item,
                                &k)
        != NGX_OK)
    {
        return;
    }

    /* the batch's record, then its counters */
    if (k == 0) {
        if (ngx_ota_admin_fields(item, reply, ngx_ota_batch_fields) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else {
        ngx_memzero(&a->counts, sizeof(ota_batch_counts_t));

        if (ngx_ota_admin_batch_stats(item, reply, &a->counts) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    if (ngx_ota_admin_list_last(call, a)) {
        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
    }
}


/* ---- batches/<id>/devices ------------------------------------------------ */

/*
 * ?match=<part of a device name>[&cursor=<c>]: a search instead of a page.
 * The batch's devices ZSET is scored by insertion, so no index finds a
 * name part; one ZSCAN step (COUNT ?limit=) looks at about limit devices
 * and answers those whose name contains the text, with the cursor to go
 * on from ("0" once it went round).  Each request is bounded; a client
 * that wants more matches asks again with the cursor.
 */
static ngx_int_t
ngx_ota_admin_search(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_str_t *pattern, ngx_str_t *cursor, ngx_int_t *rc)
{
    u_char     *p, *dst, *src;
    ngx_str_t   match;
    ngx_uint_t  i;

    if (ngx_http_arg(r, (u_char *) "match", 5, &match) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* decoded into "*<text>*"; only device name characters, so no glob
     * character of MATCH gets in */
    p = ngx_pnalloc(r->pool, match.len + 3);
    if (p == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    dst = p + 1;
    src = match.data;
    ngx_unescape_uri(&dst, &src, match.len, 0);

    match.data = p + 1;
    match.len = dst - match.data;

    for (i = 0; i < match.len; i++) {
        if (!ota_name_device((char *) &match.data[i], 1)
            && match.data[i] != '.')
        {
            break;
        }
    }

    if (match.len == 0 || match.len > OTA_NAME_MAX || i < match.len) {
        *rc = ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                 "\"match\" must be 1-64 characters of "
                                 "A-Z a-z 0-9 _ - . :");
        return NGX_ERROR;
    }

    p[0] = '*';
    *dst++ = '*';
    pattern->data = p;
    pattern->len = dst - p;

    if (ngx_http_arg(r, (u_char *) "cursor", 6, cursor) != NGX_OK) {
        ngx_str_set(cursor, "0");
    }

    for (i = 0; i < cursor->len; i++) {
        if (cursor->data[i] < '0' || cursor->data[i] > '9') {
            break;
        }
    }

    if (cursor->len == 0 || cursor->len > 20 || i < cursor->len) {
        *rc = ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                 "\"cursor\" must be the number a search "
                                 "answered (0 to start)");
        return NGX_ERROR;
    }

    if (json_object_set_new(a->obj, "match",
                            json_stringn((char *) match.data, match.len))
        != 0)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    a->search = 1;

    return NGX_OK;
}


ngx_int_t
ngx_ota_admin_batch_devices(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              batch, devices, pattern, cursor;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a->id = *id;

    if (ngx_ota_admin_page(r, a, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_ota_admin_search(r, a, &pattern, &cursor, &rc) == NGX_ERROR) {
        return rc;
    }

    if (ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, id, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &devices, OTA_KEY_BATCH_DEVICES, id, NULL,
                       NULL) == NULL
        || json_object_set_new(a->obj, "id",
                               json_stringn((char *) id->data, id->len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_devices_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b id size", batch.data, batch.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZCARD %b", devices.data, devices.len);
    }
    if (rc == NGX_OK && a->search) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota admin: search devices \"%V\" from %V",
                       &pattern, &cursor);

        rc = ngx_ota_redis_cmd(call, "ZSCAN %b %b MATCH %b COUNT %d",
                               devices.data, devices.len, cursor.data,
                               cursor.len, pattern.data, pattern.len,
                               (int) a->limit);

    } else if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZRANGE %b %d %d", devices.data,
                               devices.len, (int) a->offset,
                               (int) (a->offset + a->limit - 1));
    }

    return ngx_ota_admin_wait(r, call, rc);
}


/* the page's devices (every stride-th element of reply: 2 for ZSCAN's
 * member, score pairs): one HMGET per task column for all of them */
static ngx_int_t
ngx_ota_admin_devices_columns(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_ota_redis_call_t *call, redisReply *reply, size_t stride)
{
    size_t        i, n;
    json_t       *item;
    ngx_int_t     rc;
    ngx_str_t     key;
    ngx_uint_t    col;
    redisReply   *e;
    const char  **argv;
    size_t       *argvlen;

    n = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;

    argv = ngx_palloc(r->pool, (n + 2) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (n + 2) * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "HMGET";
    argvlen[0] = sizeof("HMGET") - 1;

    for (i = 0; i < n; i += stride) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING
            || !ota_name_device(e->str, e->len))
        {
            continue;
        }

        item = json_pack("{s:s%}", "device", e->str, (size_t) e->len);

        if (item == NULL || json_array_append_new(a->list, item) != 0) {
            return NGX_ERROR;
        }

        /* the commands are formatted before this reply is freed */
        argv[2 + a->items] = e->str;
        argvlen[2 + a->items] = e->len;
        a->items++;
    }

    if (a->items == 0) {
        return NGX_DONE;
    }

    for (col = 0; col < OTA_TCOL_VIEW_N; col++) {
        if (ngx_ota_key(r->pool, &key, ota_task_columns[col].key, &a->id,
                        NULL, NULL) == NULL)
        {
            return NGX_ERROR;
        }

        argv[1] = (char *) key.data;
        argvlen[1] = key.len;

        rc = ngx_ota_redis_argv(call, (int) a->items + 2, argv, argvlen);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static void
ngx_ota_admin_devices_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               i;
    json_t              *item;
    ngx_int_t            rc;
    ngx_uint_t           col;
    redisReply          *e;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin batch devices");
        return;
    }

    switch (call->index) {

    case 0:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such batch");
            return;
        }

        e = reply->element[1];
        a->size = e->type == REDIS_REPLY_STRING && e->len
                  ? ngx_atoof((u_char *) e->str, e->len) : 0;
        if (a->size == NGX_ERROR) {
            a->size = 0;
        }
        return;

    case 1:
        ngx_ota_admin_total(r, a, reply);
        return;

    case 2:
        a->list = json_array();
        if (a->list == NULL
            || json_object_set_new(a->obj, "devices", a->list) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        a->first = 3;

        if (a->search) {
            /* [next cursor, [member, score, ...]] */
            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
                || reply->element[0]->type != REDIS_REPLY_STRING
                || json_object_set_new(a->obj, "cursor",
                                       json_stringn(reply->element[0]->str,
                                                    reply->element[0]->len))
                   != 0)
            {
                ngx_ota_api_redis_error(r, reply, "admin batch search");
                return;
            }

            rc = ngx_ota_admin_devices_columns(r, a, call, reply->element[1],
                                               2);

        } else {
            rc = ngx_ota_admin_devices_columns(r, a, call, reply, 1);
        }

        ngx_ota_admin_queued(r, a, rc);
        return;

    default:
        col = call->index - a->first;

        for (i = 0; i < a->items; i++) {
            item = json_array_get(a->list, i);
            e = reply->type == REDIS_REPLY_ARRAY && i < reply->elements
                ? reply->element[i] : NULL;

            if (item != NULL
                && ngx_ota_admin_task_value(item, col, e, a->size) != 0)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }

        if (col + 1 == OTA_TCOL_VIEW_N) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        }
        return;
    }
}
