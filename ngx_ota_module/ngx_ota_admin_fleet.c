/*
 * ngx_ota_admin_fleet.c: GET <admin>/products (a page of the products,
 * sorted by name, with their modules and device counts), GET
 * <admin>/products/<p> (one of them, as otactl module list and stats
 * versions ask) and
 * GET <admin>/devices/<device> (its record, current versions, open tasks
 * and its tasks among a window of recent batches).
 *
 * A device keeps no list of its tasks (the worker writes nothing per task
 * beyond the batch's columns), so its tasks are found as `otactl device
 * show` finds them: by asking the batches, newest first, whether the device
 * is one of theirs (ZSCORE).  Here one request asks one window of batches
 * (?offset=, ?limit=, at most 1000), so its cost is bounded; the answer's
 * "next_offset" asks the next window.  The device's open tasks are always
 * answered, in the window or not.
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_redis.h"

#include "ota_keys.h"
#include "ota_task_columns.h"
#include "ota_names.h"


/* ---- products ------------------------------------------------------------ */

static void ngx_ota_admin_products_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static int ngx_libc_cdecl ngx_ota_admin_module_cmp(const void *one,
    const void *two);


ngx_int_t
ngx_ota_admin_products(ngx_http_request_t *r)
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: products %i+%i", a->offset, a->limit);

    call = ngx_ota_redis_call(r, ngx_ota_admin_products_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* SORT of a set of names: O(n log n) in Redis for n products (dozens
     * to thousands), the only sorted page a SET gives */
    rc = ngx_ota_redis_cmd(call, "SCARD %s", OTA_KEY_PRODUCTS);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "SORT %s ALPHA LIMIT %d %d",
                               OTA_KEY_PRODUCTS, (int) a->offset,
                               (int) a->limit);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


/* per product of a list: its modules and its device count */
static const ngx_ota_admin_read_t  ngx_ota_product_reads[] = {
    { "HGETALL", OTA_KEY_PRODUCT_MODULES },
    { "SCARD", OTA_KEY_PRODUCT_DEVICES },
    { NULL, NULL }
};

static const ngx_ota_admin_list_t  ngx_ota_products_list = {
    "admin products", "products", "product", ota_name_product,
    ngx_ota_product_reads
};


/* a module's name and stored JSON, as an HGETALL reply pairs them */
typedef struct {
    redisReply            *name;
    redisReply            *value;
} ngx_ota_module_pair_t;


/* a string member of the module's stored JSON, "" when absent */
static json_t *
ngx_ota_admin_module_str(json_t *info, const char *key)
{
    json_t  *v;

    v = json_is_object(info) ? json_object_get(info, key) : NULL;

    return json_string(json_is_string(v) ? json_string_value(v) : "");
}


/* "modules": [{"module","alias","desc","created"}], "default" first, then
 * by name,
 * from the HGETALL of OTA_KEY_PRODUCT_MODULES */
static int
ngx_ota_admin_modules(ngx_http_request_t *r, json_t *item, redisReply *hash)
{
    int                     err;
    json_t                 *list, *m, *info, *v;
    size_t                  i, n;
    json_error_t            jerr;
    ngx_ota_module_pair_t  *mp;

    n = hash->type == REDIS_REPLY_ARRAY ? hash->elements / 2 : 0;

    mp = ngx_palloc(r->pool, (n ? n : 1) * sizeof(ngx_ota_module_pair_t));
    if (mp == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        mp[i].name = hash->element[2 * i];
        mp[i].value = hash->element[2 * i + 1];
    }

    ngx_qsort(mp, n, sizeof(ngx_ota_module_pair_t), ngx_ota_admin_module_cmp);

    list = json_array();
    err = (list == NULL);
    err |= json_object_set_new(item, "modules", list);

    for (i = 0; !err && i < n; i++) {
        if (mp[i].name->type != REDIS_REPLY_STRING
            || !ota_name_module(mp[i].name->str, mp[i].name->len))
        {
            continue;
        }

        info = NULL;
        if (mp[i].value->type == REDIS_REPLY_STRING) {
            info = json_loadb(mp[i].value->str, mp[i].value->len, 0, &jerr);
        }

        m = json_pack("{s:s%}", "module", mp[i].name->str,
                      (size_t) mp[i].name->len);
        err |= (m == NULL);
        err |= json_object_set_new(m, "alias",
                                   ngx_ota_admin_module_str(info, "alias"));
        err |= json_object_set_new(m, "desc",
                                   ngx_ota_admin_module_str(info, "desc"));
        v = json_is_object(info) ? json_object_get(info, "created") : NULL;
        err |= json_object_set_new(m, "created", json_is_integer(v)
                                                 ? json_incref(v)
                                                 : json_null());
        err |= json_array_append_new(list, m);

        json_decref(info);
    }

    return err ? -1 : 0;
}


static void
ngx_ota_admin_products_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t              *item;
    ngx_uint_t           k;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_admin_list_step(call, reply, a, &ngx_ota_products_list,
                                &item, &k)
        != NGX_OK)
    {
        return;
    }

    /* the product's modules, then its device count */
    if (k == 0) {
        if (ngx_ota_admin_modules(r, item, reply) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (json_object_set_new(item, "devices",
                                   json_integer(reply->type
                                                == REDIS_REPLY_INTEGER
                                                ? reply->integer : 0))
               != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_ota_admin_list_last(call, a)) {
        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
    }
}


/* ---- products/<p> ---------------------------------------------------------- */

static void ngx_ota_admin_product_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


/* {"product","modules":[...],"devices"} as an item of products; 404 for a
 * product that does not exist */
ngx_int_t
ngx_ota_admin_product(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              mods, devs, sign;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_key(r->pool, &mods, OTA_KEY_PRODUCT_MODULES, id, NULL, NULL)
        == NULL
        || ngx_ota_key(r->pool, &devs, OTA_KEY_PRODUCT_DEVICES, id, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &sign, OTA_KEY_PRODUCT_SIGNING, id, NULL,
                       NULL) == NULL
        || json_object_set_new(a->obj, "product",
                               json_stringn((char *) id->data, id->len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: product \"%V\"", id);

    call = ngx_ota_redis_call(r, ngx_ota_admin_product_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "SISMEMBER %s %b", OTA_KEY_PRODUCTS,
                           id->data, id->len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", mods.data, mods.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "SCARD %b", devs.data, devs.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HMGET %b require key_id", sign.data,
                               sign.len);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_product_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin product");
        return;
    }

    switch (call->index) {

    case 0:
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such product");
        }
        return;

    case 1:
        if (ngx_ota_admin_modules(r, a->obj, reply) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case 2:
        if (json_object_set_new(a->obj, "devices",
                                json_integer(reply->type
                                             == REDIS_REPLY_INTEGER
                                             ? reply->integer : 0))
            != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        return;

    default:
        /* the signing policy, as otactl product set prints it */
        if (json_object_set_new(a->obj, "require_signed",
                                json_boolean(reply->type == REDIS_REPLY_ARRAY
                                    && reply->elements == 2
                                    && reply->element[0]->type
                                       == REDIS_REPLY_STRING
                                    && reply->element[0]->len == 1
                                    && reply->element[0]->str[0] == '1'))
            != 0
            || json_object_set_new(a->obj, "key_id",
                   reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
                   && reply->element[1]->type == REDIS_REPLY_STRING
                   ? json_stringn(reply->element[1]->str,
                                  reply->element[1]->len)
                   : json_null())
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        return;
    }
}


/* "default" first, then by name */
static int ngx_libc_cdecl
ngx_ota_admin_module_cmp(const void *one, const void *two)
{
    const redisReply  *a = ((const ngx_ota_module_pair_t *) one)->name;
    const redisReply  *b = ((const ngx_ota_module_pair_t *) two)->name;
    ngx_uint_t         da, db;

    if (a->type != REDIS_REPLY_STRING || b->type != REDIS_REPLY_STRING) {
        return (int) a->type - (int) b->type;
    }

    da = a->len == 7 && ngx_strncmp(a->str, "default", 7) == 0;
    db = b->len == 7 && ngx_strncmp(b->str, "default", 7) == 0;

    if (da != db) {
        return da ? -1 : 1;
    }

    return ngx_memn2cmp((u_char *) a->str, (u_char *) b->str, a->len, b->len);
}


/* ---- devices/<device> ---------------------------------------------------- */

/* replies of the first round, in order */
enum {
    NGX_OTA_DEV_RECORD = 0,             /* HMGET product created */
    NGX_OTA_DEV_VERSIONS,               /* HGETALL versions */
    NGX_OTA_DEV_OPEN,                   /* HGETALL open tasks */
    NGX_OTA_DEV_NBATCHES,               /* ZCARD batches */
    NGX_OTA_DEV_WINDOW,                 /* ZREVRANGE batches (the window) */
    NGX_OTA_DEV_FIRST_ROUND
};

/* per task: HMGET of the batch record, then one HGET per task column */
#define NGX_OTA_DEV_TASK_REPLIES  (1 + OTA_TCOL_VIEW_N)

typedef struct {
    ngx_ota_admin_t       *admin;
    json_t                *open;        /* borrowed: module -> batch */
    json_t                *tasks;       /* borrowed */
    ngx_str_t             *window;      /* batch ids asked */
    ngx_uint_t             nwindow;
    ngx_str_t             *task;        /* batch ids of the tasks answered */
    ngx_uint_t             ntasks;
    ngx_uint_t             third;       /* index of the first task reply */
    off_t                  size;        /* the current task's package */
} ngx_ota_device_t;


static void ngx_ota_admin_device_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_device(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              dev, ver, open;
    ngx_ota_admin_t       *a;
    ngx_ota_device_t      *d;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* offset and limit count batches looked at, not tasks answered */
    if (ngx_ota_admin_page(r, a, &rc) != NGX_OK) {
        return rc;
    }

    d = ngx_pcalloc(r->pool, sizeof(ngx_ota_device_t));
    if (d == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    d->admin = a;
    a->id.len = id->len;
    a->id.data = ngx_ota_pstrdup0(r->pool, id);

    if (a->id.data == NULL
        || ngx_ota_key(r->pool, &dev, OTA_KEY_DEVICE, id, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &ver, OTA_KEY_DEVICE_VERSIONS, id, NULL,
                       NULL) == NULL
        || ngx_ota_key(r->pool, &open, OTA_KEY_DEVICE_OPEN, id, NULL, NULL)
           == NULL
        || json_object_set_new(a->obj, "device",
                               json_stringn((char *) id->data, id->len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: device \"%V\", batches %i..%i", id,
                   a->offset, a->offset + a->limit - 1);

    call = ngx_ota_redis_call(r, ngx_ota_admin_device_reply, d);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b product created", dev.data,
                           dev.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", ver.data, ver.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", open.data, open.len);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZCARD %s", OTA_KEY_BATCHES);
    }
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZREVRANGE %s %d %d", OTA_KEY_BATCHES,
                               (int) a->offset,
                               (int) (a->offset + a->limit - 1));
    }

    return ngx_ota_admin_wait(r, call, rc);
}


/* the window's ids, copied: the ZSCOREs' replies come after this one */
static ngx_int_t
ngx_ota_admin_device_window(ngx_http_request_t *r, ngx_ota_device_t *d,
    ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t       i;
    ngx_int_t    rc;
    ngx_str_t    id, key;
    redisReply  *e;

    d->window = ngx_palloc(r->pool, (reply->type == REDIS_REPLY_ARRAY
                                     && reply->elements
                                     ? reply->elements : 1)
                                    * sizeof(ngx_str_t));
    if (d->window == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
    {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING || !ota_name_id(e->str, e->len)) {
            continue;
        }

        id.data = (u_char *) e->str;
        id.len = e->len;

        d->window[d->nwindow].len = id.len;
        d->window[d->nwindow].data = ngx_ota_pstrdup0(r->pool, &id);

        if (d->window[d->nwindow].data == NULL
            || ngx_ota_key(r->pool, &key, OTA_KEY_BATCH_DEVICES, &id, NULL,
                           NULL) == NULL)
        {
            return NGX_ERROR;
        }

        rc = ngx_ota_redis_cmd(call, "ZSCORE %b %b", key.data, key.len,
                               d->admin->id.data, d->admin->id.len);
        if (rc != NGX_OK) {
            return rc;
        }

        d->nwindow++;
    }

    return NGX_OK;
}


/* the tasks to answer: the window's hits, newest first, then the open
 * tasks of batches outside the window; queues their reads */
static ngx_int_t
ngx_ota_admin_device_tasks(ngx_http_request_t *r, ngx_ota_device_t *d,
    ngx_ota_redis_call_t *call)
{
    const char  *iter;
    json_t      *v;
    ngx_int_t    rc;
    ngx_str_t    id, key, *t;
    ngx_uint_t   i, col;

    json_object_foreach(d->open, iter, v) {
        id.data = (u_char *) json_string_value(v);
        id.len = id.data ? ngx_strlen(id.data) : 0;

        if (!ota_name_id((char *) id.data, id.len)) {
            continue;
        }

        for (i = 0; i < d->ntasks; i++) {
            if (d->task[i].len == id.len
                && ngx_strncmp(d->task[i].data, id.data, id.len) == 0)
            {
                break;
            }
        }

        if (i == d->ntasks) {
            d->task[d->ntasks++] = id;
        }
    }

    d->third = call->index + 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: device \"%V\": %ui tasks", &d->admin->id,
                   d->ntasks);

    for (i = 0; i < d->ntasks; i++) {
        t = &d->task[i];

        if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, t, NULL, NULL) == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_ota_redis_cmd(call, "HMGET %b name type module version size "
                               "state created", key.data, key.len);

        for (col = 0; rc == NGX_OK && col < OTA_TCOL_VIEW_N; col++) {
            if (ngx_ota_key(r->pool, &key, ota_task_columns[col].key, t,
                            NULL, NULL) == NULL)
            {
                return NGX_ERROR;
            }

            rc = ngx_ota_redis_cmd(call, "HGET %b %b", key.data, key.len,
                                   d->admin->id.data, d->admin->id.len);
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return d->ntasks ? NGX_OK : NGX_DONE;
}


/* a task's batch record: {"batch","name","type","module","version",
 * "batch_state","created","open"} */
static json_t *
ngx_ota_admin_device_task(ngx_ota_device_t *d, ngx_str_t *batch,
    redisReply *reply)
{
    int          err;
    off_t        n;
    json_t      *item, *open;
    ngx_uint_t   i;
    redisReply  *e;

    static const char  *names[] = { "name", "type", "module", "version",
                                    NULL, "batch_state", "created" };

    item = json_pack("{s:s%}", "batch", (char *) batch->data, batch->len);
    if (item == NULL) {
        return NULL;
    }

    d->size = 0;
    err = 0;

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements
                && i < sizeof(names) / sizeof(names[0]); i++)
    {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        n = e->len ? ngx_atoof((u_char *) e->str, e->len) : NGX_ERROR;

        if (i == 4) {                           /* size: of the columns */
            d->size = n == NGX_ERROR ? 0 : n;

        } else if (i == 6) {
            err |= json_object_set_new(item, names[i],
                                       n == NGX_ERROR ? json_null()
                                                      : json_integer(n));
        } else {
            err |= json_object_set_new(item, names[i],
                                       json_stringn(e->str, e->len));
        }
    }

    /* open: the device's open task of the module is this one */
    open = json_object_get(d->open,
                           json_string_value(json_object_get(item, "module"))
                           ? json_string_value(json_object_get(item,
                                                               "module"))
                           : "");
    err |= json_object_set_new(item, "open",
                               json_boolean(json_is_string(open)
                                   && ngx_strlen(json_string_value(open))
                                      == batch->len
                                   && ngx_strncmp(json_string_value(open),
                                                  batch->data, batch->len)
                                      == 0));

    if (err) {
        json_decref(item);
        return NULL;
    }

    return item;
}


static void
ngx_ota_admin_device_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    off_t                n;
    json_t              *j, *item;
    ngx_int_t            rc;
    ngx_uint_t           k;
    redisReply          *e;
    ngx_ota_device_t    *d = call->data;
    ngx_ota_admin_t     *a = d->admin;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin device");
        return;
    }

    switch (call->index) {

    case NGX_OTA_DEV_RECORD:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING)
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such device");
            return;
        }

        e = reply->element[1];
        n = e->type == REDIS_REPLY_STRING && e->len
            ? ngx_atoof((u_char *) e->str, e->len) : NGX_ERROR;

        if (json_object_set_new(a->obj, "product",
                                json_stringn(reply->element[0]->str,
                                             reply->element[0]->len))
            != 0
            || json_object_set_new(a->obj, "created",
                                   n == NGX_ERROR ? json_null()
                                                  : json_integer(n))
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case NGX_OTA_DEV_VERSIONS:
    case NGX_OTA_DEV_OPEN:
        j = ngx_ota_admin_module_map(reply);

        if (j == NULL
            || json_object_set_new(a->obj, call->index == NGX_OTA_DEV_OPEN
                                           ? "open" : "versions", j)
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (call->index == NGX_OTA_DEV_OPEN) {
            d->open = j;
        }
        return;

    case NGX_OTA_DEV_NBATCHES:
        n = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;

        if (json_object_set_new(a->obj, "batches", json_integer(n)) != 0
            || json_object_set_new(a->obj, "next_offset",
                                   a->offset + a->limit < n
                                   ? json_integer(a->offset + a->limit)
                                   : json_null())
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;

    case NGX_OTA_DEV_WINDOW:
        d->tasks = json_array();

        if (d->tasks == NULL
            || json_object_set_new(a->obj, "tasks", d->tasks) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        rc = ngx_ota_admin_device_window(r, d, call, reply);

        if (rc == NGX_OK) {
            d->task = ngx_palloc(r->pool, (d->nwindow
                                           + json_object_size(d->open) + 1)
                                          * sizeof(ngx_str_t));
            if (d->task == NULL) {
                rc = NGX_ERROR;

            } else if (d->nwindow == 0) {
                rc = ngx_ota_admin_device_tasks(r, d, call);
            }
        }

        break;

    default:
        if (call->index < NGX_OTA_DEV_FIRST_ROUND + d->nwindow) {
            /* the window's ZSCOREs: a score means the device is in it */
            k = call->index - NGX_OTA_DEV_FIRST_ROUND;

            if (reply->type == REDIS_REPLY_STRING) {
                d->task[d->ntasks++] = d->window[k];
            }

            if (k + 1 < d->nwindow) {
                return;
            }

            rc = ngx_ota_admin_device_tasks(r, d, call);
            break;
        }

        k = call->index - d->third;

        if (k / NGX_OTA_DEV_TASK_REPLIES >= d->ntasks) {
            return;
        }

        if (k % NGX_OTA_DEV_TASK_REPLIES == 0) {
            item = ngx_ota_admin_device_task(d,
                                      &d->task[k / NGX_OTA_DEV_TASK_REPLIES],
                                      reply);

            if (item == NULL || json_array_append_new(d->tasks, item) != 0) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            }
            return;
        }

        item = json_array_get(d->tasks, json_array_size(d->tasks) - 1);

        if (item == NULL
            || ngx_ota_admin_task_value(item,
                                        k % NGX_OTA_DEV_TASK_REPLIES - 1,
                                        reply, d->size)
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (k + 1 == d->ntasks * NGX_OTA_DEV_TASK_REPLIES) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        }
        return;
    }

    /* after queueing the window's ZSCOREs or the tasks' reads */
    ngx_ota_admin_queued(r, a, rc);
}
