/*
 * ngx_ota_admin_batch.c: GET <admin>/batches, batches/<id> and
 * batches/<id>/devices.
 *
 * A batch reads like `otactl batch show --json`: the batch record, the
 * per-state counters and failure reasons the worker keeps, and the rates of
 * ota_stats.h, so the two never disagree.  Lists are pages (?offset=,
 * ?limit=) read with one pipeline per page.
 */

#include "ngx_ota_api.h"

#include "ota_names.h"


#define NGX_OTA_PAGE_DEFAULT  100
#define NGX_OTA_PAGE_MAX      1000
#define NGX_OTA_OFFSET_MAX    1000000000


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
    { NULL,           0 }
};


static void ngx_ota_admin_batch_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_admin_batches_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_admin_devices_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


/* ?offset= and ?limit=: NGX_OK, or the 400 answer in *rc */
static ngx_int_t
ngx_ota_admin_page(ngx_http_request_t *r, ngx_ota_admin_t *a, ngx_int_t *rc)
{
    if (ngx_ota_admin_arg_int(r, "offset", 0, NGX_OTA_OFFSET_MAX, &a->offset)
        != NGX_OK)
    {
        *rc = ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                 "\"offset\" must be a number >= 0");
        return NGX_ERROR;
    }

    if (ngx_ota_admin_arg_int(r, "limit", NGX_OTA_PAGE_DEFAULT,
                              NGX_OTA_PAGE_MAX, &a->limit)
        != NGX_OK
        || a->limit == 0)
    {
        *rc = ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                 "\"limit\" must be a number from 1 to 1000");
        return NGX_ERROR;
    }

    if (json_object_set_new(a->obj, "offset", json_integer(a->offset)) != 0
        || json_object_set_new(a->obj, "limit", json_integer(a->limit)) != 0)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* total from the record, or the sum of the counters when it has none */
static int
ngx_ota_admin_batch_stats(json_t *obj, redisReply *counts,
    ota_batch_counts_t *c)
{
    int         rc;
    json_t     *j, *total;
    ngx_uint_t  i;

    j = ngx_ota_admin_counts(counts, c);
    if (j == NULL) {
        return -1;
    }

    rc = json_object_set_new(obj, "counts", j);

    total = json_object_get(obj, "total");

    if (json_is_integer(total)) {
        c->total = json_integer_value(total);

    } else {
        c->total = 0;
        for (i = 0; i < OTA_TS_COUNT; i++) {
            c->total += c->n[i];
        }
        rc |= json_object_set_new(obj, "total", json_integer(c->total));
    }

    rc |= ngx_ota_admin_rates(obj, c);

    return rc;
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

ngx_int_t
ngx_ota_admin_batch(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              batch, counts, failures;
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
                       NULL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

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
            || ngx_ota_admin_skipped(a->obj, reply) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case 1:
        if (ngx_ota_admin_batch_stats(a->obj, reply, &a->counts) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
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

        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
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
    size_t               i;
    json_t              *item;
    ngx_int_t            rc;
    ngx_str_t            id, key;
    ngx_uint_t           k;
    redisReply          *e;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin batches");
        return;
    }

    if (call->index == 0) {
        if (json_object_set_new(a->obj, "total",
                                json_integer(reply->type
                                             == REDIS_REPLY_INTEGER
                                             ? reply->integer : 0))
            != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;
    }

    if (call->index == 1) {
        a->list = json_array();
        if (a->list == NULL
            || json_object_set_new(a->obj, "batches", a->list) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        a->first = 2;

        for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
             i++)
        {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING
                || !ota_name_id(e->str, e->len))
            {
                continue;
            }

            id.data = (u_char *) e->str;
            id.len = e->len;

            item = json_pack("{s:s%}", "id", e->str, (size_t) e->len);

            if (item == NULL || json_array_append_new(a->list, item) != 0
                || ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, &id, NULL, NULL)
                   == NULL)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);

            if (rc == NGX_OK) {
                if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH_COUNTS, &id,
                                NULL, NULL) == NULL)
                {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }
                rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
            }

            if (rc != NGX_OK) {
                ngx_ota_api_send_failed(r, rc);
                return;
            }

            a->items += 2;
        }

        if (a->items == 0) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        }
        return;
    }

    /* replies 2, 3: the first batch's record and counters; 4, 5: ... */
    k = call->index - a->first;
    item = json_array_get(a->list, k / 2);

    if (item == NULL) {
        return;
    }

    if (k % 2 == 0) {
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

    if (k + 1 == a->items) {
        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
    }
}


/* ---- batches/<id>/devices ------------------------------------------------ */

ngx_int_t
ngx_ota_admin_batch_devices(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              batch, devices;
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
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZRANGE %b %d %d", devices.data,
                               devices.len, (int) a->offset,
                               (int) (a->offset + a->limit - 1));
    }

    return ngx_ota_admin_wait(r, call, rc);
}


/* the task's last step: "-4".."100" */
static ngx_int_t
ngx_ota_admin_step(ngx_str_t *s, ngx_int_t *step)
{
    ngx_int_t  n;

    if (s->len > 1 && s->data[0] == '-') {
        n = ngx_atoi(s->data + 1, s->len - 1);
        *step = -n;
    } else {
        n = s->len ? ngx_atoi(s->data, s->len) : NGX_ERROR;
        *step = n;
    }

    return n == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/* the task columns read for a page, in reply order */
static const char  *ngx_ota_admin_columns[] = {
    OTA_KEY_BATCH_STATE, OTA_KEY_BATCH_COVERED, OTA_KEY_BATCH_STEP,
    OTA_KEY_BATCH_REASON
};

#define NGX_OTA_ADMIN_NCOLUMNS                                               \
    (sizeof(ngx_ota_admin_columns) / sizeof(ngx_ota_admin_columns[0]))


/* one column's value of one device's entry; a device without a value has
 * the column's default (pending, 0 bytes, no step, no reason) */
static int
ngx_ota_admin_device_value(ngx_ota_admin_t *a, json_t *item, ngx_uint_t col,
    redisReply *e)
{
    int        rc = 0;
    off_t      covered;
    ngx_int_t  step;
    ngx_str_t  v;

    ngx_str_null(&v);

    if (e != NULL && e->type == REDIS_REPLY_STRING) {
        v.data = (u_char *) e->str;
        v.len = e->len;
    }

    switch (col) {

    case 0:
        if (v.len == 0) {
            ngx_str_set(&v, OTA_ST_PENDING);
        }
        return json_object_set_new(item, "state",
                                   json_stringn((char *) v.data, v.len));

    case 1:
        covered = v.len ? ngx_atoof(v.data, v.len) : 0;
        if (covered == NGX_ERROR) {
            covered = 0;
        }
        if (covered > a->size) {
            covered = a->size;
        }

        /* the rule of otactl too: 100 only when every byte went out */
        rc |= json_object_set_new(item, "progress",
                                  json_real(ota_progress_percent(covered,
                                                                 a->size)));
        rc |= json_object_set_new(item, "covered", json_integer(covered));
        rc |= json_object_set_new(item, "size", json_integer(a->size));
        return rc;

    case 2:
        if (ngx_ota_admin_step(&v, &step) == NGX_OK) {
            rc = json_object_set_new(item, "step", json_integer(step));
        }
        return rc;

    default:
        if (v.len) {
            rc = json_object_set_new(item, "reason",
                                     json_stringn((char *) v.data, v.len));
        }
        return rc;
    }
}


/* the page's devices: one HMGET per task column for all of them */
static ngx_int_t
ngx_ota_admin_devices_columns(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_ota_redis_call_t *call, redisReply *reply)
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

    for (i = 0; i < n; i++) {
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

    for (col = 0; col < NGX_OTA_ADMIN_NCOLUMNS; col++) {
        if (ngx_ota_key(r->pool, &key, ngx_ota_admin_columns[col], &a->id,
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
        if (json_object_set_new(a->obj, "total",
                                json_integer(reply->type
                                             == REDIS_REPLY_INTEGER
                                             ? reply->integer : 0))
            != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
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

        rc = ngx_ota_admin_devices_columns(r, a, call, reply);

        if (rc == NGX_DONE) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);

        } else if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);

        } else if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;

    default:
        col = call->index - a->first;

        for (i = 0; i < a->items; i++) {
            item = json_array_get(a->list, i);
            e = reply->type == REDIS_REPLY_ARRAY && i < reply->elements
                ? reply->element[i] : NULL;

            if (item != NULL
                && ngx_ota_admin_device_value(a, item, col, e) != 0)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }

        if (col + 1 == NGX_OTA_ADMIN_NCOLUMNS) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        }
        return;
    }
}
