/*
 * ngx_ota_admin.c: the read-only admin API (GET/HEAD, admin bearer token
 * checked by ngx_ota_module.c): dispatch, the helpers the admin endpoints
 * share, and GET <admin>/metrics in Prometheus text.
 *
 *   batches                      ngx_ota_admin_batch.c
 *   batches/<id>                 ngx_ota_admin_batch.c
 *   batches/<id>/devices         ngx_ota_admin_batch.c
 *   batches/<id>/histogram       ngx_ota_admin_histogram.c
 *   packages                     ngx_ota_admin_package.c
 *   packages/<id>                ngx_ota_admin_package.c
 *   versions?product=&module=    ngx_ota_admin_package.c
 *   products                     ngx_ota_admin_fleet.c
 *   devices/<device>             ngx_ota_admin_fleet.c
 *   metrics                      here
 *
 * Everything is read from counters the worker keeps (O(1) per batch) or
 * from bounded pages: no request scans tasks or keys.
 */

#include "ngx_ota_api.h"

#include "ota_names.h"


/* per-batch series cover only the most recent batches: bounded output */
#define NGX_OTA_METRICS_BATCHES  100

/* pages of lists: ?offset= and ?limit= */
#define NGX_OTA_PAGE_DEFAULT     100
#define NGX_OTA_PAGE_MAX         1000
#define NGX_OTA_OFFSET_MAX       1000000000


typedef struct {
    ngx_http_request_t   *request;
    u_char               *buf;
    u_char               *pos;
    u_char               *end;
    ngx_str_t            *ids;
    ngx_uint_t            nids;
    ngx_uint_t            running;      /* running batches seen */
    ngx_uint_t            paused;       /* paused ones (admin or rule) */
    ngx_uint_t            aborted;      /* cancelled by an abort rule */
    unsigned              current:1;    /* the batch being read runs */
} ngx_ota_metrics_t;


static ngx_int_t ngx_ota_admin_metrics(ngx_http_request_t *r);
static void ngx_ota_admin_metrics_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_ota_admin_metrics_send(ngx_ota_metrics_t *m,
    ngx_uint_t redis_up);


ngx_int_t
ngx_ota_admin_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char     *slash;
    ngx_str_t   rest, id;

#define ngx_ota_is(s, str)  ((s).len == sizeof(str) - 1                      \
                             && ngx_strncmp((s).data, str, sizeof(str) - 1)  \
                                == 0)

    rest = *path;

    /* a trailing slash names the same resource */
    while (rest.len && rest.data[rest.len - 1] == '/') {
        rest.len--;
    }

    if (ngx_ota_is(rest, "metrics")) {
        return ngx_ota_admin_metrics(r);
    }

    if (ngx_ota_is(rest, "batches")) {
        return ngx_ota_admin_batches(r);
    }

    if (ngx_ota_is(rest, "versions")) {
        return ngx_ota_admin_versions(r);
    }

    if (ngx_ota_is(rest, "packages")) {
        return ngx_ota_admin_packages(r);
    }

    if (ngx_ota_is(rest, "products")) {
        return ngx_ota_admin_products(r);
    }

    if (rest.len > 8 && ngx_strncmp(rest.data, "batches/", 8) == 0) {
        id.data = rest.data + 8;
        id.len = rest.len - 8;

        slash = ngx_strlchr(id.data, id.data + id.len, '/');
        if (slash) {
            rest.data = slash + 1;
            rest.len = id.data + id.len - rest.data;
            id.len = slash - id.data;

            if (!ngx_ota_is(rest, "devices")
                && !ngx_ota_is(rest, "histogram"))
            {
                return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such admin resource");
            }
        }

        if (!ota_name_id((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid batch id "
                                      "([A-Za-z0-9_-]{1,64})");
        }

        if (slash == NULL) {
            return ngx_ota_admin_batch(r, &id);
        }

        return ngx_ota_is(rest, "devices")
               ? ngx_ota_admin_batch_devices(r, &id)
               : ngx_ota_admin_batch_histogram(r, &id);
    }

    if (rest.len > 9 && ngx_strncmp(rest.data, "packages/", 9) == 0) {
        id.data = rest.data + 9;
        id.len = rest.len - 9;

        if (!ota_name_id((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid package id "
                                      "([A-Za-z0-9_-]{1,64})");
        }

        return ngx_ota_admin_package(r, &id);
    }

    if (rest.len > 8 && ngx_strncmp(rest.data, "devices/", 8) == 0) {
        id.data = rest.data + 8;
        id.len = rest.len - 8;

        if (!ota_name_device((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid device name "
                                      "([A-Za-z0-9_.:-]{1,64}, not starting "
                                      "with '.')");
        }

        return ngx_ota_admin_device(r, &id);
    }

#undef ngx_ota_is

    return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                              "no such admin resource: use batches, "
                              "batches/<id>, batches/<id>/devices, "
                              "batches/<id>/histogram, packages, "
                              "packages/<id>, versions, products, "
                              "devices/<device> or metrics");
}


/* ---- helpers of the admin endpoints -------------------------------------- */

ngx_ota_admin_t *
ngx_ota_admin_start(ngx_http_request_t *r)
{
    ngx_ota_ctx_t    *ctx;
    ngx_ota_admin_t  *a;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NULL;
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    a = ngx_pcalloc(r->pool, sizeof(ngx_ota_admin_t));
    if (a == NULL) {
        return NULL;
    }

    a->answer = ngx_ota_api_answer(r);
    if (a->answer == NULL) {
        return NULL;
    }

    a->answer->json = json_object();
    if (a->answer->json == NULL) {
        return NULL;
    }

    a->obj = a->answer->json;
    ctx->api = a;

    return a;
}


ngx_int_t
ngx_ota_admin_wait(ngx_http_request_t *r, ngx_ota_redis_call_t *call,
    ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);

        if (rc == NGX_DECLINED) {
            return ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "storage unavailable, retry later");
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ngx_ota_admin_arg_int(ngx_http_request_t *r, const char *name, ngx_int_t def,
    ngx_int_t max, ngx_int_t *out)
{
    ngx_int_t  n;
    ngx_str_t  v;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &v) != NGX_OK) {
        *out = def;
        return NGX_OK;
    }

    n = (v.len > 0 && v.len <= 9) ? ngx_atoi(v.data, v.len) : NGX_ERROR;

    if (n == NGX_ERROR || n > max) {
        return NGX_ERROR;
    }

    *out = n;

    return NGX_OK;
}


/* ?offset= and ?limit=: NGX_OK, or the 400 answer in *rc */
ngx_int_t
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



/* "total" of a list from its ZCARD/SCARD reply */
void
ngx_ota_admin_total(ngx_http_request_t *r, ngx_ota_admin_t *a,
    redisReply *reply)
{
    if (json_object_set_new(a->obj, "total",
                            json_integer(reply->type == REDIS_REPLY_INTEGER
                                         ? reply->integer : 0))
        != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


void
ngx_ota_admin_queued(ngx_http_request_t *r, ngx_ota_admin_t *a, ngx_int_t rc)
{
    if (rc == NGX_OK) {
        return;

    } else if (rc == NGX_DONE) {
        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);

    } else if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);

    } else {
        ngx_ota_api_send_failed(r, rc);
    }
}


/* reply 1 of a list: the items, and their reads queued */
static ngx_int_t
ngx_ota_admin_list_page(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_ota_redis_call_t *call, redisReply *reply,
    const ngx_ota_admin_list_t *l)
{
    size_t                       i;
    json_t                      *item;
    ngx_int_t                    rc;
    ngx_str_t                    name, key;
    redisReply                  *e;
    const ngx_ota_admin_read_t  *rd;

    a->list = json_array();
    if (a->list == NULL || json_object_set_new(a->obj, l->list, a->list) != 0)
    {
        return NGX_ERROR;
    }

    a->first = call->index + 1;

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
    {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING || !l->valid(e->str, e->len)) {
            continue;
        }

        name.data = (u_char *) e->str;
        name.len = e->len;

        item = json_pack("{s:s%}", l->field, e->str, (size_t) e->len);

        if (item == NULL || json_array_append_new(a->list, item) != 0) {
            return NGX_ERROR;
        }

        for (rd = l->reads; rd->cmd; rd++) {
            if (ngx_ota_key(r->pool, &key, rd->key, &name, NULL, NULL)
                == NULL)
            {
                return NGX_ERROR;
            }

            rc = ngx_ota_redis_cmd(call, "%s %b", rd->cmd, key.data,
                                   key.len);
            if (rc != NGX_OK) {
                return rc;
            }

            a->items++;
        }
    }

    return a->items ? NGX_OK : NGX_DONE;
}


ngx_int_t
ngx_ota_admin_list_step(ngx_ota_redis_call_t *call, redisReply *reply,
    ngx_ota_admin_t *a, const ngx_ota_admin_list_t *l, json_t **item,
    ngx_uint_t *read)
{
    ngx_uint_t                   k, nreads;
    ngx_http_request_t          *r = call->request;
    const ngx_ota_admin_read_t  *rd;

    if (ngx_ota_api_answered(call)) {
        return NGX_DONE;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, l->what);
        return NGX_DONE;
    }

    if (call->index == 0) {
        ngx_ota_admin_total(r, a, reply);
        return NGX_DONE;
    }

    if (call->index == 1) {
        ngx_ota_admin_queued(r, a, ngx_ota_admin_list_page(r, a, call, reply,
                                                           l));
        return NGX_DONE;
    }

    for (nreads = 0, rd = l->reads; rd->cmd; rd++) {
        nreads++;
    }

    /* replies first .. first + nreads - 1: the first item's reads, ... */
    k = call->index - a->first;
    *read = k % nreads;
    *item = json_array_get(a->list, k / nreads);

    return *item ? NGX_OK : NGX_DONE;
}


int
ngx_ota_admin_fields(json_t *obj, redisReply *hash,
    const ngx_ota_field_t *fields)
{
    int                     rc;
    off_t                   n;
    json_t                 *j;
    ngx_str_t               v;
    json_error_t            err;
    const ngx_ota_field_t  *f;

    rc = 0;

    for (f = fields; f->name; f++) {

        if (ngx_ota_hash_get(hash, f->name, &v) != NGX_OK) {
            continue;
        }

        switch (f->kind) {

        case NGX_OTA_FIELD_INT:
            n = v.len ? ngx_atoof(v.data, v.len) : NGX_ERROR;
            j = (n == NGX_ERROR) ? json_null() : json_integer((json_int_t) n);
            break;

        case NGX_OTA_FIELD_BOOL:
            j = json_boolean(v.len == 1 && v.data[0] == '1');
            break;

        case NGX_OTA_FIELD_JSON:
            j = v.len ? json_loadb((char *) v.data, v.len, 0, &err) : NULL;
            if (j == NULL) {
                j = json_null();
            }
            break;

        default:
            j = json_stringn((char *) v.data, v.len);
            break;
        }

        rc |= json_object_set_new(obj, f->name, j);
    }

    return rc;
}


json_t *
ngx_ota_admin_counts(redisReply *hash, ota_batch_counts_t *c)
{
    off_t        n;
    json_t      *counts;
    ngx_str_t    v;
    ngx_uint_t   i;
    const char  *name;

    counts = json_object();
    if (counts == NULL) {
        return NULL;
    }

    for (i = 0; i < OTA_TS_COUNT; i++) {
        name = ota_task_state_name(i);

        n = 0;
        if (ngx_ota_hash_get(hash, name, &v) == NGX_OK && v.len) {
            n = ngx_atoof(v.data, v.len);
            if (n == NGX_ERROR) {
                n = 0;
            }
        }

        c->n[i] = (long long) n;

        if (json_object_set_new(counts, name, json_integer((json_int_t) n))
            != 0)
        {
            json_decref(counts);
            return NULL;
        }
    }

    return counts;
}


static double
ngx_ota_admin_round4(double r)
{
    return (double) (int64_t) (r * 10000 + 0.5) / 10000;
}


int
ngx_ota_admin_rates(json_t *obj, ota_batch_counts_t *c)
{
    int     rc;
    double  rate;

    /* rounded to 4 decimals as `otactl batch show --json` prints them */
    rate = ota_success_rate(c);

    rc = json_object_set_new(obj, "success_rate",
                             rate < 0 ? json_null()
                                      : json_real(ngx_ota_admin_round4(rate)));
    rc |= json_object_set_new(obj, "completion",
                              json_real(ngx_ota_admin_round4(
                                                       ota_completion(c))));

    return rc;
}


/* ---- metrics ----------------------------------------------------------- */

/*
 * The node's counters (shared memory, no Redis), then the task counts per
 * state of each running batch among the NGX_OTA_METRICS_BATCHES most
 * recent: one ZREVRANGE, then HMGET state abort + HGETALL counts per
 * batch in one pipeline; the paused and aborted ones (docs/rollouts.md)
 * are counted too.  Without Redis the node's counters are still served, with
 * ota_redis_up 0.
 */
static ngx_int_t
ngx_ota_admin_metrics(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_ota_metrics_t     *m;
    ngx_ota_redis_call_t  *call;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_pcalloc(r->pool, sizeof(ngx_ota_metrics_t));
    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->request = r;

    call = ngx_ota_redis_call(r, ngx_ota_admin_metrics_reply, m);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "ZREVRANGE %s 0 %d", OTA_KEY_BATCHES,
                           NGX_OTA_METRICS_BATCHES - 1);
    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        return ngx_ota_admin_metrics_send(m, 0);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_ota_admin_metrics_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               size;
    ngx_int_t            rc;
    ngx_str_t            key, id;
    ngx_uint_t           i, k;
    redisReply          *e;
    ngx_ota_metrics_t   *m = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: metrics: redis error: %*s",
                      (size_t) reply->len, reply->str);
    }

    /* without Redis the node's counters are still worth serving */
    if (reply == NULL
        || (call->index == 0 && reply->type == REDIS_REPLY_ERROR))
    {
        ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 0));
        return;
    }

    if (call->index == 0) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
            ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
            return;
        }

        m->ids = ngx_pcalloc(r->pool, reply->elements * sizeof(ngx_str_t));
        if (m->ids == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* every running batch: one line per state, plus the header */
        size = 512;

        for (i = 0; i < reply->elements; i++) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING
                || !ota_name_id(e->str, e->len))
            {
                continue;
            }

            id.data = (u_char *) e->str;
            id.len = e->len;

            m->ids[m->nids].len = id.len;
            m->ids[m->nids].data = ngx_ota_pstrdup0(r->pool, &id);
            if (m->ids[m->nids].data == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            size += OTA_TS_COUNT
                    * (sizeof("ota_batch_tasks{batch=\"\",state=\"\"} \n")
                       + id.len + sizeof("downloading") + NGX_OFF_T_LEN);
            m->nids++;
        }

        if (m->nids == 0) {
            ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
            return;
        }

        m->buf = ngx_pnalloc(r->pool, size);
        if (m->buf == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        m->pos = m->buf;
        m->end = m->buf + size;

        m->pos = ngx_slprintf(m->pos, m->end,
                    "# HELP ota_batch_tasks Tasks of a running batch by "
                    "state (the %d most recent batches).\n"
                    "# TYPE ota_batch_tasks gauge\n",
                    NGX_OTA_METRICS_BATCHES);

        for (i = 0; i < m->nids; i++) {
            if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, &m->ids[i], NULL,
                            NULL) == NULL)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            rc = ngx_ota_redis_cmd(call, "HMGET %b state " OTA_R_ABORT,
                                   key.data, key.len);

            if (rc == NGX_OK) {
                if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH_COUNTS,
                                &m->ids[i], NULL, NULL) == NULL)
                {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
            }

            if (rc != NGX_OK) {
                ngx_ota_redis_call_abort(call);
                ngx_http_finalize_request(r,
                                          ngx_ota_admin_metrics_send(m, 0));
                return;
            }
        }

        return;
    }

    /* replies 1, 2 are batch 0's state and counts, 3, 4 batch 1's, ... */
    k = (call->index - 1) / 2;

    if (k >= m->nids) {
        return;
    }

    if (call->index % 2 == 1) {
        m->current = 0;

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
            e = reply->element[0];

            if (e->type == REDIS_REPLY_STRING) {
                m->current = (e->len == 7
                              && ngx_strncmp(e->str, "running", 7) == 0);
                m->paused += (e->len == 6
                              && ngx_strncmp(e->str, "paused", 6) == 0);
            }

            m->aborted += (reply->element[1]->type == REDIS_REPLY_STRING);
        }

    } else if (m->current) {
        m->running++;

        for (i = 0; i < OTA_TS_COUNT; i++) {
            if (ngx_ota_hash_get(reply, ota_task_state_name(i), &id)
                != NGX_OK)
            {
                ngx_str_set(&id, "0");
            }

            m->pos = ngx_slprintf(m->pos, m->end,
                                  "ota_batch_tasks{batch=\"%V\",state=\"%s\"}"
                                  " %V\n", &m->ids[k],
                                  ota_task_state_name(i), &id);
        }
    }

    if (k == m->nids - 1 && call->index % 2 == 0) {
        ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
    }
}


static ngx_int_t
ngx_ota_admin_metrics_send(ngx_ota_metrics_t *m, ngx_uint_t redis_up)
{
    u_char              *buf, *p, *end;
    size_t               size, extra;
    ngx_uint_t           i;
    ngx_str_t            type = ngx_string("text/plain; version=0.0.4");
    ngx_http_request_t  *r = m->request;

    extra = m->buf ? (size_t) (m->pos - m->buf) : 0;
    size = NGX_OTA_M_COUNT * 160 + 640 + extra;

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;
    end = buf + size;

    for (i = 0; i < NGX_OTA_M_COUNT; i++) {
        p = ngx_slprintf(p, end, "# TYPE %s counter\n%s %A\n",
                         ngx_ota_metric_name(i), ngx_ota_metric_name(i),
                         ngx_ota_metric_get(i));
    }

    p = ngx_slprintf(p, end, "# TYPE ota_redis_up gauge\nota_redis_up %ui\n",
                     redis_up);

    if (redis_up) {
        p = ngx_slprintf(p, end, "# HELP ota_batches_running Running batches "
                         "among the %d most recent.\n"
                         "# TYPE ota_batches_running gauge\n"
                         "ota_batches_running %ui\n",
                         NGX_OTA_METRICS_BATCHES, m->running);

        p = ngx_slprintf(p, end, "# HELP ota_batches_paused Paused batches "
                         "(by an admin or an error threshold) among the %d "
                         "most recent.\n"
                         "# TYPE ota_batches_paused gauge\n"
                         "ota_batches_paused %ui\n"
                         "# HELP ota_batches_aborted Batches cancelled by "
                         "their abort rule among the %d most recent.\n"
                         "# TYPE ota_batches_aborted gauge\n"
                         "ota_batches_aborted %ui\n",
                         NGX_OTA_METRICS_BATCHES, m->paused,
                         NGX_OTA_METRICS_BATCHES, m->aborted);

        if (m->running) {
            p = ngx_cpymem(p, m->buf, extra);
        }
    }

    return ngx_ota_send_text(r, NGX_HTTP_OK, &type, buf, p - buf);
}
