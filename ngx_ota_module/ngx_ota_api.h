/*
 * ngx_ota_api.h: helpers shared by the device API (ngx_ota_api_*.c) and the
 * admin API (ngx_ota_admin*.c): Redis key building, reading hash replies,
 * JSON field access, finishing a request from a Redis reply handler.
 *
 *   ngx_ota_api.c           these helpers
 *   ngx_ota_api_auth.c      POST auth
 *   ngx_ota_api_report.c    POST inform, POST progress (events)
 *   ngx_ota_api_upgrade.c   GET upgrade
 *   ngx_ota_admin.c         admin API dispatch, metrics
 *   ngx_ota_admin_batch.c   batches, batch devices, packages, versions
 */

#ifndef NGX_OTA_API_H
#define NGX_OTA_API_H

#include "ngx_ota_module.h"
#include "ngx_ota_redis.h"


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

#endif /* NGX_OTA_API_H */
