/*
 * ngx_ota_admin_audit.h: the audit trail of the admin API's writes
 * (ngx_ota_admin_audit.c): every answer to a write, accepted or refused,
 * is appended to OTA_STREAM_AUDIT as include/ota_audit.h encodes it, with
 * the name and role of the token that asked (never the token itself); and
 * GET <admin>/audit?limit= reads the newest entries back.
 */

#ifndef NGX_OTA_ADMIN_AUDIT_H
#define NGX_OTA_ADMIN_AUDIT_H

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_redis.h"


/* Appends one entry without waiting for it (fire and forget, on the
 * module's one Redis connection): action is one of OTA_ACT_*, object what
 * it named (NULL: nothing yet), status the answer's, result NULL for "ok"
 * or the refusal's reason.  For answers that cannot wait. */
void ngx_ota_admin_audit(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *result);

/* The answers below are sent once their entry is stored (so a client that
 * has its answer finds the entry), or at once when Redis is away. */

/* A refusal from a content handler: returns what the handler returns. */
ngx_int_t ngx_ota_admin_refuse(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *msg);

/* The same from a body or reply handler (the request is finalized). */
void ngx_ota_admin_refused(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, const char *msg);

/* A write done: answer->json with status, from a reply handler. */
void ngx_ota_admin_done(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_uint_t status, ngx_ota_api_answer_t *answer);

/* A failed send (rc of ngx_ota_redis_*: 503 or 500) or a missing or
 * error reply (503 or 500), audited without waiting (Redis is in trouble)
 * and answered as ngx_ota_api_send_failed / ngx_ota_api_redis_error do. */
void ngx_ota_admin_send_failed(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, ngx_int_t rc);
void ngx_ota_admin_redis_error(ngx_http_request_t *r, const char *action,
    ngx_str_t *object, redisReply *reply);

/* A write's one command vector (EVAL <script> 0 ...) on a new call whose
 * reply goes to handler: NGX_OK when sent; otherwise the request has been
 * answered (a failed send audited as above) and NGX_ERROR returned. */
ngx_int_t ngx_ota_admin_send_argv(ngx_http_request_t *r,
    ngx_ota_redis_handler_pt handler, void *data, const char *action,
    ngx_str_t *object, int argc, const char **argv, size_t *argvlen);

/* ngx_ota_ctx_t's body_refused hook for a write (ctx->admin_action): a
 * body that is malformed or too large is audited too */
ngx_int_t ngx_ota_admin_body_refused(ngx_http_request_t *r,
    ngx_uint_t status, const char *msg);

#endif /* NGX_OTA_ADMIN_AUDIT_H */
