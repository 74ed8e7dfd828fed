/*
 * ngx_ota_api.h: helpers shared by the device API (ngx_ota_api_*.c) and the
 * admin API (ngx_ota_admin*.c): Redis key building, reading hash replies,
 * JSON field access, finishing a request from a Redis reply handler.
 *
 *   ngx_ota_api.c           these helpers
 *   ngx_ota_api_auth.c      POST auth
 *   ngx_ota_api_report.c    POST inform, POST progress (events)
 *   ngx_ota_api_upgrade.c   GET upgrade
 *   ngx_ota_admin.c         admin API dispatch, metrics, admin helpers
 *   ngx_ota_admin_batch.c   batches, one batch, its devices (and a search)
 *   ngx_ota_admin_histogram.c the download progress of a batch's devices
 *   ngx_ota_admin_package.c packages, a package, version distribution
 *   ngx_ota_admin_fleet.c   products with their modules, one device
 */

#ifndef NGX_OTA_API_H
#define NGX_OTA_API_H

#include "ngx_ota_module.h"
#include "ngx_ota_redis.h"

#include "ota_request.h"
#include "ota_stats.h"


/* a request's Redis-backed answer: json is freed with the request unless it
 * was sent (ngx_ota_api_send_json sets it to NULL) */
typedef struct {
    ngx_http_request_t   *request;
    json_t               *json;
} ngx_ota_api_answer_t;


/*
 * Builds a key from a printf format of ota_keys.h whose only conversions
 * are "%s", taking the arguments in order.  The result is NUL-terminated
 * and allocated from pool; NULL on no memory or a wrong argument count.
 */
u_char *ngx_ota_key(ngx_pool_t *pool, ngx_str_t *key, const char *fmt,
    ngx_str_t *a, ngx_str_t *b, ngx_str_t *c);

/* The value of field in an HGETALL reply (pointing into the reply, valid
 * during the reply handler only); NGX_DECLINED when absent. */
ngx_int_t ngx_ota_hash_get(redisReply *reply, const char *field,
    ngx_str_t *value);

/* The same, copied into pool (empty string when absent). */
ngx_int_t ngx_ota_hash_dup(ngx_pool_t *pool, redisReply *reply,
    const char *field, ngx_str_t *value);

/* Decimal of a hash field, or def when absent or not a number. */
int64_t ngx_ota_hash_int(redisReply *reply, const char *field, int64_t def);

/* String member of a JSON object: NGX_OK (value points into the JSON),
 * NGX_DECLINED when absent or null, NGX_ERROR when not a string. */
ngx_int_t ngx_ota_json_str(json_t *obj, const char *key, ngx_str_t *value);

/* NUL-terminated copy of s in pool, NULL on no memory. */
u_char *ngx_ota_pstrdup0(ngx_pool_t *pool, ngx_str_t *s);

/* the same for a view of a parsed request body (views die with the body) */
ngx_int_t ngx_ota_view_copy(ngx_pool_t *pool, const ota_view_t *v,
    ngx_str_t *out);

/* current time in ms */
int64_t ngx_ota_now_ms(void);

/*
 * Finishing a request from a reply handler (or a body handler):
 * ngx_ota_api_finish sends an error and finalizes; ngx_ota_api_redis_error
 * maps a missing reply to 503 and an error reply to 500, logging why.
 */
void ngx_ota_api_finish(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);
void ngx_ota_api_redis_error(ngx_http_request_t *r, redisReply *reply,
    const char *what);

/* 503 for NGX_DECLINED (not connected), 500 otherwise: for a failed
 * ngx_ota_redis_* send; finalizes. */
void ngx_ota_api_send_failed(ngx_http_request_t *r, ngx_int_t rc);

/* 1 when the call's request has been answered already (an early answer
 * while replies were still pending): the handler must ignore the reply.
 * The call's later replies are then dropped by the Redis layer. */
ngx_uint_t ngx_ota_api_answered(ngx_ota_redis_call_t *call);

/* An answer holder whose json is released with the request's pool. */
ngx_ota_api_answer_t *ngx_ota_api_answer(ngx_http_request_t *r);

/* Sends answer->json (status), with reals printed at 6 digits, and
 * finalizes the request. */
void ngx_ota_api_send_json(ngx_ota_api_answer_t *answer, ngx_uint_t status);

/* 401 for a device endpoint: counts the failure, sends and finalizes */
ngx_int_t ngx_ota_api_unauthorized(ngx_http_request_t *r, const char *why);

/* Queues XADD OTA_STREAM_EVENTS * type <type> ts <ms> then the n field
 * pairs (names[i], values[i]) on call. */
ngx_int_t ngx_ota_api_event(ngx_ota_redis_call_t *call, const char *type,
    ngx_uint_t n, const char **names, ngx_str_t *values);


/* ---- admin API (ngx_ota_admin*.c) ---------------------------------------- */

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

/* the task columns an admin answer shows, in this order: state, covered
 * (with progress and size), step, reason (ngx_ota_admin_batch.c) */
#define NGX_OTA_ADMIN_NCOLUMNS  4
extern const char  *ngx_ota_admin_columns[NGX_OTA_ADMIN_NCOLUMNS];

/* column col's value of one task (e: its HMGET/HGET element, NULL or nil
 * for the column's default) into item; size: the package's bytes */
int ngx_ota_admin_task_value(json_t *item, ngx_uint_t col, redisReply *e,
    off_t size);

/* endpoints */
ngx_int_t ngx_ota_admin_batches(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_batch(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_batch_devices(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_batch_histogram(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_ota_admin_packages(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_package(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_ota_admin_versions(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_products(ngx_http_request_t *r);
ngx_int_t ngx_ota_admin_device(ngx_http_request_t *r, ngx_str_t *id);

#endif /* NGX_OTA_API_H */
