/*
 * ngx_ota_admin_util.c: what the admin API's endpoints share
 * (ngx_ota_admin_util.h).
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_stats.h"
#include "ota_task.h"
#include "ota_task_columns.h"


/* pages of lists: ?offset= and ?limit= */
#define NGX_OTA_OFFSET_MAX       1000000000


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


/* total from the record, or the sum of the counters when it has none */
int
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


/* one column's value of one device's entry; a device without a value has
 * the column's default (include/ota_task_columns.h) */
int
ngx_ota_admin_task_value(json_t *item, ngx_uint_t col, redisReply *e,
    off_t size)
{
    int          rc = 0;
    off_t        covered;
    ngx_int_t    step;
    ngx_str_t    v;
    const char  *name, *dflt;

    ngx_str_null(&v);

    if (e != NULL && e->type == REDIS_REPLY_STRING) {
        v.data = (u_char *) e->str;
        v.len = e->len;
    }

    name = ota_task_columns[col].name;
    dflt = ota_task_columns[col].dflt;

    if (v.len == 0 && dflt != NULL) {
        v.data = (u_char *) dflt;
        v.len = ngx_strlen(dflt);
    }

    switch (col) {

    case OTA_TCOL_STATE:
        return json_object_set_new(item, name,
                                   json_stringn((char *) v.data, v.len));

    case OTA_TCOL_COVERED:
        covered = v.len ? ngx_atoof(v.data, v.len) : 0;
        if (covered == NGX_ERROR) {
            covered = 0;
        }
        if (covered > size) {
            covered = size;
        }

        /* the rule of otactl too: 100 only when every byte went out */
        rc |= json_object_set_new(item, "progress",
                                  json_real(ota_progress_percent(covered,
                                                                 size)));
        rc |= json_object_set_new(item, name, json_integer(covered));
        rc |= json_object_set_new(item, "size", json_integer(size));
        return rc;

    case OTA_TCOL_PSIZE:
        /* a task on a diff: covered counts the diff's bytes */
        size = v.len ? ngx_atoof(v.data, v.len) : NGX_ERROR;
        if (size == NGX_ERROR) {
            return 0;
        }
        covered = json_integer_value(json_object_get(item, "covered"));
        if (covered > size) {
            covered = size;
        }
        rc |= json_object_set_new(item, "progress",
                                  json_real(ota_progress_percent(covered,
                                                                 size)));
        rc |= json_object_set_new(item, "covered", json_integer(covered));
        rc |= json_object_set_new(item, name, json_integer(size));
        return rc;

    case OTA_TCOL_STEP:
        if (ngx_ota_admin_step(&v, &step) == NGX_OK) {
            rc = json_object_set_new(item, name, json_integer(step));
        }
        return rc;

    default:
        if (v.len) {
            rc = json_object_set_new(item, name,
                                     json_stringn((char *) v.data, v.len));
        }
        return rc;
    }
}


/* module -> value of a device's hash, without the versions' "<m>@ts" */
json_t *
ngx_ota_admin_module_map(redisReply *hash)
{
    json_t      *obj;
    size_t       i;
    redisReply  *k, *v;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    for (i = 0; hash->type == REDIS_REPLY_ARRAY && i + 1 < hash->elements;
         i += 2)
    {
        k = hash->element[i];
        v = hash->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || !ota_name_module(k->str, k->len))
        {
            continue;
        }

        if (json_object_setn_new(obj, k->str, k->len,
                                 json_stringn(v->str, v->len))
            != 0)
        {
            json_decref(obj);
            return NULL;
        }
    }

    return obj;
}
