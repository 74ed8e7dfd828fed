/*
 * ngx_ota_api.h: what the handlers answering from Redis share
 * (ngx_ota_api.c): the answer held with the request, finishing a request
 * from a reply handler, 401s, events.  The device API's handlers
 * (ngx_ota_api_auth.c, _report.c, _upgrade.c) and the admin endpoints use
 * it.
 */

#ifndef NGX_OTA_API_H
#define NGX_OTA_API_H

#include "ngx_ota_core.h"
#include "ngx_ota_redis.h"

#include "ota_event.h"


/* a request's Redis-backed answer: json is freed with the request unless it
 * was sent (ngx_ota_api_send_json sets it to NULL) */
typedef struct {
    ngx_http_request_t   *request;
    json_t               *json;
} ngx_ota_api_answer_t;


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

/* Queues the XADD of an event on call, as include/ota_event.h encodes it
 * (f->ts 0: now, in ms). */
ngx_int_t ngx_ota_api_event(ngx_ota_redis_call_t *call,
    ota_event_fields_t *f);


#endif /* NGX_OTA_API_H */
