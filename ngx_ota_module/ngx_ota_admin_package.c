/*
 * ngx_ota_admin_package.c: GET <admin>/packages (a page of them, newest
 * first), GET <admin>/packages/<id> (the package record with its state and
 * the progress of its verify batch) and
 * GET <admin>/versions?product=<p>[&module=<m>] (the version distribution
 * the worker keeps in OTA_KEY_VERSION_DIST).
 */

#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include "ota_keys.h"
#include "ota_names.h"
#include "ota_stats.h"
#include "ota_version.h"


static const ngx_ota_field_t  ngx_ota_package_fields[] = {
    { "id",           NGX_OTA_FIELD_STR },
    { "product",      NGX_OTA_FIELD_STR },
    { "module",       NGX_OTA_FIELD_STR },
    { "name",         NGX_OTA_FIELD_STR },
    { "version",      NGX_OTA_FIELD_STR },
    { "type",         NGX_OTA_FIELD_STR },
    { "from",         NGX_OTA_FIELD_STR },
    { "sign_method",  NGX_OTA_FIELD_STR },
    { "sign",         NGX_OTA_FIELD_STR },
    { "size",         NGX_OTA_FIELD_INT },
    { "files",        NGX_OTA_FIELD_JSON },
    { "verify",       NGX_OTA_FIELD_BOOL },
    { "state",        NGX_OTA_FIELD_STR },
    { "verify_batch", NGX_OTA_FIELD_STR },
    { "desc",         NGX_OTA_FIELD_STR },
    { "ext",          NGX_OTA_FIELD_JSON },
    { "created",      NGX_OTA_FIELD_INT },
    /* signing (docs/signing.md) and deltas (docs/delta.md): what otactl
     * package show prints too, and package verify checks */
    { "sign_key",     NGX_OTA_FIELD_STR },
    { "manifest",     NGX_OTA_FIELD_STR },
    { "signature",    NGX_OTA_FIELD_STR },
    { "base",         NGX_OTA_FIELD_STR },
    { "target",       NGX_OTA_FIELD_STR },
    { NULL,           0 }
};


typedef struct {
    ngx_str_t       version;
    ota_version_t   v;
    int64_t         devices;
    ngx_uint_t      valid;
} ngx_ota_version_count_t;


static void ngx_ota_admin_package_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_admin_versions_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static int ngx_libc_cdecl ngx_ota_version_count_cmp(const void *one,
    const void *two);


/* ---- a package's verify batch ------------------------------------------ */

/*
 * The progress of a package's verify batch, as `otactl package show
 * --json` prints it: {"id","state","name","total","counts",
 * "success_rate","completion"}, from two reads queued together.
 */

/* the verify batch id of a package record, NGX_DECLINED when it has none */
static ngx_int_t
ngx_ota_admin_verify_batch(redisReply *pkg, ngx_str_t *vb)
{
    if (ngx_ota_hash_get(pkg, "verify_batch", vb) != NGX_OK
        || !ota_name_id((char *) vb->data, vb->len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* queues HMGET state total name and HGETALL counts of batch id */
static ngx_int_t
ngx_ota_admin_verify_read(ngx_http_request_t *r, ngx_ota_redis_call_t *call,
    ngx_str_t *id)
{
    ngx_int_t  rc;
    ngx_str_t  batch, counts;

    if (ngx_ota_key(r->pool, &batch, OTA_KEY_BATCH, id, NULL, NULL) == NULL
        || ngx_ota_key(r->pool, &counts, OTA_KEY_BATCH_COUNTS, id, NULL,
                       NULL) == NULL)
    {
        return NGX_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET %b state total name", batch.data,
                           batch.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", counts.data, counts.len);
    }

    return rc;
}


/* the object from the HMGET reply; NULL on no memory */
static json_t *
ngx_ota_admin_verify_record(ngx_str_t *id, redisReply *reply)
{
    int          err;
    off_t        n;
    json_t      *v;
    redisReply  *e;

    v = json_pack("{s:s%}", "id", (char *) id->data, id->len);
    if (v == NULL) {
        return NULL;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        return v;
    }

    err = 0;

    e = reply->element[0];
    if (e->type == REDIS_REPLY_STRING) {
        err |= json_object_set_new(v, "state", json_stringn(e->str, e->len));
    }

    /* no total in the record: ngx_ota_admin_batch_stats sums the counts */
    e = reply->element[1];
    if (e->type == REDIS_REPLY_STRING && e->len) {
        n = ngx_atoof((u_char *) e->str, e->len);
        if (n != NGX_ERROR) {
            err |= json_object_set_new(v, "total", json_integer(n));
        }
    }

    e = reply->element[2];
    if (e->type == REDIS_REPLY_STRING) {
        err |= json_object_set_new(v, "name", json_stringn(e->str, e->len));
    }

    if (err) {
        json_decref(v);
        return NULL;
    }

    return v;
}


/* ---- packages/<id> ------------------------------------------------------- */

ngx_int_t
ngx_ota_admin_package(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_int_t              rc;
    ngx_str_t              key;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PACKAGE, id, NULL, NULL) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_package_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_package_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t              *verification;
    ngx_int_t            rc;
    ngx_str_t            vb;
    ngx_ota_admin_t     *a = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_ota_api_redis_error(r, reply, "admin package");
        return;
    }

    switch (call->index) {

    case 0:
        if (reply->elements == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such package");
            return;
        }

        if (ngx_ota_admin_fields(a->obj, reply, ngx_ota_package_fields) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ngx_ota_admin_verify_batch(reply, &vb) != NGX_OK) {
            if (json_object_set_new(a->obj, "verify_progress", json_null())
                != 0)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
            return;
        }

        a->id.len = vb.len;
        a->id.data = ngx_ota_pstrdup0(r->pool, &vb);
        if (a->id.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        rc = ngx_ota_admin_verify_read(r, call, &a->id);
        if (rc != NGX_OK) {
            ngx_ota_api_send_failed(r, rc);
        }
        return;

    case 1:
        verification = ngx_ota_admin_verify_record(&a->id, reply);
        if (verification == NULL
            || json_object_set_new(a->obj, "verify_progress", verification)
               != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        a->obj = verification;
        return;

    default:
        if (ngx_ota_admin_batch_stats(a->obj, reply, &a->counts) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
        return;
    }
}


/* ---- packages ------------------------------------------------------------ */

/*
 * GET packages?offset=&limit=[&product=]: newest first, each as
 * packages/<id> answers it.  Three rounds in one call: ZCARD + ZREVRANGE,
 * one HGETALL per package, then the two reads of each verify batch.
 */

typedef struct {
    ngx_uint_t             item;        /* index in the list */
    ngx_str_t              batch;
} ngx_ota_verify_ref_t;

typedef struct {
    ngx_ota_admin_t       *admin;
    ngx_array_t            verify;      /* of ngx_ota_verify_ref_t */
    ngx_uint_t             second;      /* index of the first verify reply */
} ngx_ota_packages_t;


static void ngx_ota_admin_packages_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);


ngx_int_t
ngx_ota_admin_packages(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              product, key;
    ngx_ota_admin_t       *a;
    ngx_ota_packages_t    *p;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ota_admin_page(r, a, &rc) != NGX_OK) {
        return rc;
    }

    p = ngx_pcalloc(r->pool, sizeof(ngx_ota_packages_t));
    if (p == NULL
        || ngx_array_init(&p->verify, r->pool, 8,
                          sizeof(ngx_ota_verify_ref_t)) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->admin = a;

    if (ngx_http_arg(r, (u_char *) "product", 7, &product) == NGX_OK) {
        if (!ota_name_product((char *) product.data, product.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "\"product\" is not a valid product "
                                      "name");
        }

        if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_PACKAGES, &product,
                        NULL, NULL) == NULL
            || json_object_set_new(a->obj, "product",
                                   json_stringn((char *) product.data,
                                                product.len))
               != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_str_set(&key, OTA_KEY_PACKAGES);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin: packages %i+%i of %V", a->offset, a->limit,
                   &key);

    call = ngx_ota_redis_call(r, ngx_ota_admin_packages_reply, p);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "ZCARD %b", key.data, key.len);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZREVRANGE %b %d %d", key.data, key.len,
                               (int) a->offset,
                               (int) (a->offset + a->limit - 1));
    }

    return ngx_ota_admin_wait(r, call, rc);
}


/* per package of a list: its record */
static const ngx_ota_admin_read_t  ngx_ota_package_reads[] = {
    { "HGETALL", OTA_KEY_PACKAGE },
    { NULL, NULL }
};

static const ngx_ota_admin_list_t  ngx_ota_packages_list = {
    "admin packages", "packages", "id", ota_name_id, ngx_ota_package_reads
};


static void
ngx_ota_admin_packages_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    json_t                *item, *v;
    ngx_int_t              rc;
    ngx_str_t              vb;
    ngx_uint_t             k, i;
    ngx_ota_packages_t    *p = call->data;
    ngx_ota_admin_t       *a = p->admin;
    ngx_ota_verify_ref_t  *ref;
    ngx_http_request_t    *r = call->request;

    if (p->second == 0) {
        /* the list's replies, until the verify batches are asked */
        if (ngx_ota_admin_list_step(call, reply, a, &ngx_ota_packages_list,
                                    &item, &k)
            != NGX_OK)
        {
            return;
        }

        /* a package record (one read per item: k is 0); a package gone
         * since the ZREVRANGE keeps its id */
        k = call->index - a->first;

        if (ngx_ota_admin_fields(item, reply, ngx_ota_package_fields) != 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ngx_ota_admin_verify_batch(reply, &vb) == NGX_OK) {
            ref = ngx_array_push(&p->verify);
            if (ref == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ref->item = k;
            ref->batch.len = vb.len;
            ref->batch.data = ngx_ota_pstrdup0(r->pool, &vb);
            if (ref->batch.data == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

        } else if (json_object_set_new(item, "verify_progress", json_null())
                   != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (!ngx_ota_admin_list_last(call, a)) {
            return;
        }

        /* the last record: read the verify batches of the page */
        if (p->verify.nelts == 0) {
            ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
            return;
        }

        p->second = a->first + a->items;
        ref = p->verify.elts;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota admin: packages: %ui verify batches to read",
                       p->verify.nelts);

        for (i = 0; i < p->verify.nelts; i++) {
            rc = ngx_ota_admin_verify_read(r, call, &ref[i].batch);
            if (rc != NGX_OK) {
                ngx_ota_api_send_failed(r, rc);
                return;
            }
        }
        return;
    }

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin packages");
        return;
    }

    /* replies second + 2i, second + 2i + 1: verify batch i */
    k = (call->index - p->second) / 2;

    if (k >= p->verify.nelts) {
        return;
    }

    ref = p->verify.elts;
    item = json_array_get(a->list, ref[k].item);

    if ((call->index - p->second) % 2 == 0) {
        v = ngx_ota_admin_verify_record(&ref[k].batch, reply);
        if (item == NULL || v == NULL
            || json_object_set_new(item, "verify_progress", v) != 0)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;
    }

    ngx_memzero(&a->counts, sizeof(ota_batch_counts_t));

    if (ngx_ota_admin_batch_stats(json_object_get(item, "verify_progress"),
                                  reply, &a->counts)
        != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (k + 1 == p->verify.nelts) {
        ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
    }
}


/* ---- versions ------------------------------------------------------------ */

ngx_int_t
ngx_ota_admin_versions(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              product, module, key;
    ngx_ota_admin_t       *a;
    ngx_ota_redis_call_t  *call;

    a = ngx_ota_admin_start(r);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "product", 7, &product) != NGX_OK
        || !ota_name_product((char *) product.data, product.len))
    {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"product\" is missing or not a valid "
                                  "product name");
    }

    if (ngx_http_arg(r, (u_char *) "module", 6, &module) != NGX_OK) {
        ngx_str_set(&module, "default");
    }

    if (!ota_name_module((char *) module.data, module.len)) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "\"module\" is not a valid module name");
    }

    a->id = product;
    a->module = module;

    if (json_object_set_new(a->obj, "product",
                            json_stringn((char *) product.data, product.len))
        != 0
        || json_object_set_new(a->obj, "module",
                               json_stringn((char *) module.data,
                                            module.len))
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_admin_versions_reply, a);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "SISMEMBER %s %b", OTA_KEY_PRODUCTS,
                           product.data, product.len);

    if (rc == NGX_OK) {
        if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_MODULES, &product,
                        NULL, NULL) == NULL)
        {
            ngx_ota_redis_call_abort(call);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        rc = ngx_ota_redis_cmd(call, "HEXISTS %b %b", key.data, key.len,
                               module.data, module.len);
    }

    if (rc == NGX_OK) {
        if (ngx_ota_key(r->pool, &key, OTA_KEY_PRODUCT_DEVICES, &product,
                        NULL, NULL) == NULL)
        {
            ngx_ota_redis_call_abort(call);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        rc = ngx_ota_redis_cmd(call, "SCARD %b", key.data, key.len);
    }

    if (rc == NGX_OK) {
        if (ngx_ota_key(r->pool, &key, OTA_KEY_VERSION_DIST, &product,
                        &module, NULL) == NULL)
        {
            ngx_ota_redis_call_abort(call);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_admin_versions_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    int                       err;
    off_t                     n;
    size_t                    i, count;
    json_t                   *list, *item;
    int64_t                   total, devices;
    redisReply               *k, *v;
    ngx_ota_admin_t          *a = call->data;
    ngx_http_request_t       *r = call->request;
    ngx_ota_version_count_t  *vc;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_api_redis_error(r, reply, "admin versions");
        return;
    }

    if (call->index == 0) {
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer == 0) {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND, "no such product");
        }
        return;
    }

    if (call->index == 1) {
        /* "default" exists in every product even when not recorded */
        if ((reply->type != REDIS_REPLY_INTEGER || reply->integer == 0)
            && !(a->module.len == 7
                 && ngx_strncmp(a->module.data, "default", 7) == 0))
        {
            ngx_ota_api_finish(r, NGX_HTTP_NOT_FOUND,
                               "no such module in this product");
        }
        return;
    }

    if (call->index == 2) {
        /* every device of the product, reported or not */
        a->counts.total = (reply->type == REDIS_REPLY_INTEGER)
                          ? reply->integer : 0;
        return;
    }

    count = (reply->type == REDIS_REPLY_ARRAY) ? reply->elements / 2 : 0;

    vc = ngx_pcalloc(r->pool, (count ? count : 1)
                              * sizeof(ngx_ota_version_count_t));
    if (vc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    total = 0;

    for (i = 0; i < count; i++) {
        k = reply->element[2 * i];
        v = reply->element[2 * i + 1];

        n = (v->type == REDIS_REPLY_STRING && v->len)
            ? ngx_atoof((u_char *) v->str, v->len) : NGX_ERROR;

        if (k->type != REDIS_REPLY_STRING || n == NGX_ERROR) {
            count = i;          /* a damaged hash: show what came before */
            break;
        }

        vc[i].version.data = (u_char *) k->str;
        vc[i].version.len = k->len;
        vc[i].valid = (ota_version_parse(k->str, k->len, &vc[i].v) == 0);
        vc[i].devices = n;
        total += n;
    }

    /* newest first; names that are no version sort last */
    ngx_qsort(vc, count, sizeof(ngx_ota_version_count_t),
              ngx_ota_version_count_cmp);

    /* shares of all the product's devices, as `otactl stats versions` */
    devices = a->counts.total > total ? a->counts.total : total;

    list = json_array();
    err = (list == NULL);
    err |= json_object_set_new(a->obj, "versions", list);
    err |= json_object_set_new(a->obj, "reported", json_integer(total));
    err |= json_object_set_new(a->obj, "devices", json_integer(devices));
    err |= json_object_set_new(a->obj, "unreported",
                               json_integer(devices - total));

    for (i = 0; !err && i < count; i++) {
        if (vc[i].devices == 0) {
            continue;
        }

        item = json_pack("{s:s%,s:I,s:f}",
                         "version", (char *) vc[i].version.data,
                         vc[i].version.len,
                         "devices", (json_int_t) vc[i].devices,
                         "percent", (double) (vc[i].devices * 10000
                                              / devices) / 100);

        err |= (item == NULL);
        err |= json_array_append_new(list, item);
    }

    if (err) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_ota_api_send_json(a->answer, NGX_HTTP_OK);
}


static int ngx_libc_cdecl
ngx_ota_version_count_cmp(const void *one, const void *two)
{
    const ngx_ota_version_count_t  *a = one, *b = two;

    if (a->valid != b->valid) {
        return a->valid ? -1 : 1;
    }

    if (a->valid) {
        return -ota_version_cmp(&a->v, &b->v);
    }

    return ngx_memn2cmp(a->version.data, b->version.data, a->version.len,
                        b->version.len);
}
