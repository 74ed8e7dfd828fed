/*
 * ngx_ota_admin_util.h: what the admin API's endpoints share
 * (ngx_ota_admin_util.c): the state of an admin request, paging, list
 * replies, record fields, batch counters and rates, task columns.
 */

#ifndef NGX_OTA_ADMIN_UTIL_H
#define NGX_OTA_ADMIN_UTIL_H

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_redis.h"

#include "ota_stats.h"
#include "ota_task_columns.h"


/* a page of a list: ?limit= 1..NGX_OTA_PAGE_MAX */
#define NGX_OTA_PAGE_DEFAULT     100
#define NGX_OTA_PAGE_MAX         1000


/* state of one admin request; the answer is built as the replies come */
typedef struct {
    ngx_ota_api_answer_t  *answer;      /* answer->json: the root object */
    json_t                *obj;         /* borrowed from the answer */
    json_t                *list;        /* borrowed from the answer */
    ota_batch_counts_t     counts;
    ngx_str_t              id;
    ngx_str_t              module;
    ngx_int_t              offset;
    ngx_int_t              limit;
    ngx_uint_t             first;       /* index of the first per-item reply */
    ngx_uint_t             items;       /* per-item replies expected */
    off_t                  size;        /* the batch's package size */
    void                  *rollout;     /* batches/<id>: ota_rollout_view_t */
    unsigned               search:1;    /* batch devices: ?match= */
} ngx_ota_admin_t;

typedef enum {
    NGX_OTA_FIELD_STR = 0,
    NGX_OTA_FIELD_INT,                  /* decimal; null when empty */
    NGX_OTA_FIELD_BOOL,                 /* "1" / "0" */
    NGX_OTA_FIELD_JSON                  /* stored JSON text; null if bad */
} ngx_ota_field_kind_e;

typedef struct {
    const char            *name;
    ngx_ota_field_kind_e   kind;
} ngx_ota_field_t;

/* discards the body, allocates the state with an empty root object */
ngx_ota_admin_t *ngx_ota_admin_start(ngx_http_request_t *r);

/* after queueing the first commands (rc of the last one): NGX_DONE with the
 * request held for the reply handler, or the error answer */
ngx_int_t ngx_ota_admin_wait(ngx_http_request_t *r,
    ngx_ota_redis_call_t *call, ngx_int_t rc);

/* ?name=<decimal in [0, max]>, def when absent; NGX_ERROR when bad */
ngx_int_t ngx_ota_admin_arg_int(ngx_http_request_t *r, const char *name,
    ngx_int_t def, ngx_int_t max, ngx_int_t *out);

/* ?offset= and ?limit= (1..1000, default 100) into a->offset, a->limit,
 * echoed in the answer: NGX_OK, or NGX_ERROR with the answer in *rc */
ngx_int_t ngx_ota_admin_page(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_int_t *rc);

/* "total" of a list from its ZCARD/SCARD reply (finalizes on no memory) */
void ngx_ota_admin_total(ngx_http_request_t *r, ngx_ota_admin_t *a,
    redisReply *reply);

/* in a reply handler, after queueing the next commands (rc): NGX_OK goes
 * on, NGX_DONE (nothing left to read) sends the answer, NGX_ERROR a 500,
 * anything else the failed send's 503/500 */
void ngx_ota_admin_queued(ngx_http_request_t *r, ngx_ota_admin_t *a,
    ngx_int_t rc);

/* a read queued for each item of a list page: cmd on key (a format of
 * ota_keys.h taking the item's name); an array ends with { NULL, NULL } */
typedef struct {
    const char            *cmd;
    const char            *key;
} ngx_ota_admin_read_t;

typedef int (*ngx_ota_admin_name_pt)(const char *s, size_t len);

/* a list endpoint (batches, packages, products): its answer's array
 * name, the field naming each item, what a valid name is, and the reads
 * made for each item */
typedef struct {
    const char                  *what;      /* for logs */
    const char                  *list;
    const char                  *field;
    ngx_ota_admin_name_pt        valid;
    const ngx_ota_admin_read_t  *reads;
} ngx_ota_admin_list_t;

/*
 * The common steps of a list's reply handler, whose first two commands are
 * the count (ZCARD/SCARD) and the page (ZREVRANGE/SORT ... LIMIT): reply 0
 * is "total"; reply 1 makes a->list, one item {field: name} per valid name,
 * and queues each item's reads (a->items counts them, a->first is the
 * index of the first one's reply).  Errors, an empty page and an answered
 * request are dealt with here.  NGX_OK when reply is one of an item's
 * reads, for the caller to put in *item (read: which of l->reads it is,
 * from 0); NGX_DONE otherwise.
 */
ngx_int_t ngx_ota_admin_list_step(ngx_ota_redis_call_t *call,
    redisReply *reply, ngx_ota_admin_t *a, const ngx_ota_admin_list_t *l,
    json_t **item, ngx_uint_t *read);

/* 1 when the call's reply is the last read of the list's last item */
#define ngx_ota_admin_list_last(call, a)                                     \
    ((call)->index + 1 == (a)->first + (a)->items)

/* copies the listed fields of an HGETALL/HMGET-as-hash reply into obj
 * (fields absent from the hash are left out); -1 on no memory */
int ngx_ota_admin_fields(json_t *obj, redisReply *hash,
    const ngx_ota_field_t *fields);

/* {"pending":n,...,"cancelled":n} from an HGETALL of OTA_KEY_BATCH_COUNTS,
 * every state present; fills c->n (c->total is the caller's) */
json_t *ngx_ota_admin_counts(redisReply *hash, ota_batch_counts_t *c);

/* "success_rate" (null when undefined) and "completion" into obj */
int ngx_ota_admin_rates(json_t *obj, ota_batch_counts_t *c);

/* "counts", the rates and "total" (obj's integer "total" when it has one,
 * else the sum of the counters) of a batch into obj; -1 on no memory */
int ngx_ota_admin_batch_stats(json_t *obj, redisReply *counts,
    ota_batch_counts_t *c);

/* column col (the view columns of include/ota_task_columns.h: state,
 * covered with progress and size, step, reason) of one task into item (e:
 * its HMGET/HGET element, NULL or nil for the column's default); size:
 * the package's bytes */
int ngx_ota_admin_task_value(json_t *item, ngx_uint_t col, redisReply *e,
    off_t size);

/* module -> value of a device's hash (versions, open tasks), without the
 * versions' "<m>@ts" fields; NULL on no memory */
json_t *ngx_ota_admin_module_map(redisReply *hash);

#endif /* NGX_OTA_ADMIN_UTIL_H */
