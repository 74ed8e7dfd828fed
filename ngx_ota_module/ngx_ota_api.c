/*
 * ngx_ota_api.c: what the handlers answering from Redis share
 * (ngx_ota_api.h).  The endpoints live in ngx_ota_api_auth.c,
 * ngx_ota_api_report.c, ngx_ota_api_upgrade.c and ngx_ota_admin_*.c.
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include "ota_event.h"


static void ngx_ota_api_answer_cleanup(void *data);


void
ngx_ota_api_finish(ngx_http_request_t *r, ngx_uint_t status, const char *msg)
{
    ngx_http_finalize_request(r, ngx_ota_send_error(r, status, msg));
}


void
ngx_ota_api_redis_error(ngx_http_request_t *r, redisReply *reply,
    const char *what)
{
    if (reply == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: %s: redis unavailable", what);
        ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "storage unavailable, retry later");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: %s: redis error: %*s", what,
                      (size_t) reply->len, reply->str);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: %s: unexpected redis reply type %d", what,
                      reply->type);
    }

    ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                       "storage error");
}


void
ngx_ota_api_send_failed(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_DECLINED) {
        ngx_ota_api_finish(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "storage unavailable, retry later");
        return;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ota: could not queue a redis command");
    ngx_ota_api_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "internal error");
}


ngx_uint_t
ngx_ota_api_answered(ngx_ota_redis_call_t *call)
{
    /*
     * Every answer of these APIs is sent in one go after the last reply it
     * needs, so a sent header means the request is finished; it may still
     * be alive while nginx flushes the answer.
     */
    if (call->request->header_sent) {
        ngx_ota_redis_call_abort(call);
        return 1;
    }

    return 0;
}


static void
ngx_ota_api_answer_cleanup(void *data)
{
    ngx_ota_api_answer_t  *answer = data;

    if (answer->json != NULL) {
        json_decref(answer->json);
        answer->json = NULL;
    }
}


ngx_ota_api_answer_t *
ngx_ota_api_answer(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_ota_api_answer_t  *answer;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_ota_api_answer_t));
    if (cln == NULL) {
        return NULL;
    }

    answer = cln->data;
    answer->request = r;
    answer->json = NULL;

    cln->handler = ngx_ota_api_answer_cleanup;

    return answer;
}


void
ngx_ota_api_send_json(ngx_ota_api_answer_t *answer, ngx_uint_t status)
{
    char                *s;
    ngx_int_t            rc;
    ngx_str_t            type = ngx_string("application/json");
    ngx_http_request_t  *r;

    r = answer->request;

    if (answer->json == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* 6 significant digits: rates read 0.333333, not 0.33333333333333331 */
    s = json_dumps(answer->json, JSON_COMPACT | JSON_REAL_PRECISION(6));

    json_decref(answer->json);
    answer->json = NULL;

    if (s == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_send_text(r, status, &type, (u_char *) s, ngx_strlen(s));
    free(s);

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_ota_api_unauthorized(ngx_http_request_t *r, const char *why)
{
    ngx_ota_metric_add(NGX_OTA_M_AUTH_FAILURES, 1);

    return ngx_ota_send_error(r, NGX_HTTP_UNAUTHORIZED, why);
}


ngx_int_t
ngx_ota_api_event(ngx_ota_redis_call_t *call, ota_event_fields_t *f)
{
    ota_event_t  e;

    if (f->ts == 0) {
        f->ts = (int64_t) ngx_ota_now_ms();
    }

    if (ota_event_encode(&e, f) != 0) {
        ngx_log_error(NGX_LOG_ALERT, call->request->connection->log, 0,
                      "ota: a %s event misses a field", f->type);
        return NGX_ERROR;
    }

    return ngx_ota_redis_argv(call, e.argc, e.argv, e.argvlen);
}
