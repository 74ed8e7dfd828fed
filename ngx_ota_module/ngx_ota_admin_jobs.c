/*
 * ngx_ota_admin_jobs.c: POST <admin>/batches/<id>/pause|resume|cancel.
 *
 * As `otactl batch pause|resume|cancel` does: the batch must exist (404),
 * then a job goes on OTA_STREAM_JOBS (include/ota_batch_create.h encodes
 * it, with an expiry: a worker that reads it after the API stopped waiting
 * refuses it instead of acting behind the admin's back), and the worker's
 * reply on OTA_KEY_JOB_REPLY is the answer: 200 with it, or 409 with the
 * worker's reason (a batch already final, still being created...).
 *
 * Waiting never blocks: the reply list is asked with LPOP on an nginx
 * timer every NGX_OTA_JOB_POLL ms (a BLPOP would hold the worker process's
 * one Redis connection for every other request), for at most
 * NGX_OTA_JOB_WAIT ms, then 503.
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_admin_util.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include <openssl/rand.h>

#include "ota_audit.h"
#include "ota_batch_create.h"
#include "ota_fields.h"
#include "ota_keys.h"


#define NGX_OTA_JOB_POLL   100          /* ms between two LPOPs */
#define NGX_OTA_JOB_WAIT   10000        /* ms for a worker to answer */


typedef struct {
    ngx_event_t            timer;       /* the next LPOP */
    ngx_http_request_t    *request;
    ngx_ota_api_answer_t  *answer;
    const char            *action;
    ngx_str_t              id;          /* NUL-terminated */
    char                   job[33];     /* 16 random bytes in hex */
    char                   reply_key[sizeof(OTA_KEY_JOB_REPLY) + 32];
    ngx_msec_t             deadline;
    unsigned               queued:1;    /* the job is on the stream */
} ngx_ota_job_t;


static void ngx_ota_job_reply(ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_job_poll(ngx_event_t *ev);
static void ngx_ota_job_cleanup(void *data);
static void ngx_ota_job_answer(ngx_ota_job_t *job, redisReply *reply);


ngx_int_t
ngx_ota_admin_batch_op(ngx_http_request_t *r, ngx_str_t *id,
    const char *action)
{
    ngx_int_t              rc;
    ngx_str_t              key;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_job_t         *job;
    ngx_pool_cleanup_t    *cln;
    ngx_ota_redis_call_t  *call;
    u_char                 rnd[16];

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_ota_job_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job = cln->data;
    ngx_memzero(job, sizeof(ngx_ota_job_t));
    cln->handler = ngx_ota_job_cleanup;

    job->request = r;
    job->action = action;
    job->id.len = id->len;
    job->id.data = ngx_ota_pstrdup0(r->pool, id);

    job->answer = ngx_ota_api_answer(r);

    if (job->id.data == NULL || job->answer == NULL
        || RAND_bytes(rnd, sizeof(rnd)) != 1)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_hex_dump((u_char *) job->job, rnd, sizeof(rnd)) = '\0';
    ngx_snprintf((u_char *) job->reply_key, sizeof(job->reply_key) - 1,
                 OTA_KEY_JOB_REPLY "%Z", job->job);

    /* the timer's data is the connection: nginx's debug log reads its fd */
    job->timer.handler = ngx_ota_job_poll;
    job->timer.data = r->connection;
    job->timer.log = r->connection->log;

    ctx->api = job;

    if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, &job->id, NULL, NULL)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call = ngx_ota_redis_call(r, ngx_ota_job_reply, job);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGET %b state", key.data, key.len);

    if (rc != NGX_OK) {
        ngx_ota_admin_audit(r, action, &job->id,
                            NGX_HTTP_SERVICE_UNAVAILABLE, "storage error");
    }

    return ngx_ota_admin_wait(r, call, rc);
}


static void
ngx_ota_job_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t            rc;
    ota_jobcmd_t         j;
    ngx_ota_job_t       *job = call->data;
    ngx_http_request_t  *r = call->request;
    char                 msg[128];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_admin_audit(r, job->action, &job->id,
                            reply == NULL ? NGX_HTTP_SERVICE_UNAVAILABLE
                                          : NGX_HTTP_INTERNAL_SERVER_ERROR,
                            "storage error");
        ngx_ota_api_redis_error(r, reply, job->action);
        return;
    }

    if (job->queued) {
        /* the XADD's answer, or an LPOP's */
        if (reply->type == REDIS_REPLY_STRING && call->index == 0
            && call->sent == 1)
        {
            ngx_ota_job_answer(job, reply);
            return;
        }

        if (ngx_current_msec >= job->deadline) {
            ngx_ota_admin_refused(r, job->action, &job->id,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "no ota-worker answered within 10 s (is "
                                  "ota-worker running?); the job will not "
                                  "be done later");
            return;
        }

        ngx_add_timer(&job->timer, NGX_OTA_JOB_POLL);
        return;
    }

    /* HGET state */
    if (reply->type != REDIS_REPLY_STRING) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1, "no batch %V%Z",
                     &job->id);
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_NOT_FOUND,
                              msg);
        return;
    }

    job->deadline = ngx_current_msec + NGX_OTA_JOB_WAIT;

    if (ota_jobcmd_init(&j, job->job, ngx_ota_now_ms(),
                        ngx_ota_now_ms() + NGX_OTA_JOB_WAIT) != 0
        || ota_jobcmd_batch_op(&j, ota_batch_op_job(job->action
                                   + sizeof("batch.") - 1),
                               (char *) job->id.data)
           != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->queued = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: job %s for batch \"%V\" queued",
                   job->job, &job->id);

    /* XADD, and a first look for the reply in the same round trip */
    rc = ngx_ota_redis_argv(call, j.argc, j.argv, j.argvlen);

    if (rc != NGX_OK) {
        ngx_ota_admin_audit(r, job->action, &job->id,
                            NGX_HTTP_SERVICE_UNAVAILABLE, "storage error");
        ngx_ota_api_send_failed(r, rc);
    }
}


/* the timer: one LPOP on a new call */
static void
ngx_ota_job_poll(ngx_event_t *ev)
{
    ngx_int_t              rc;
    ngx_ota_job_t         *job;
    ngx_http_request_t    *r;
    ngx_ota_redis_call_t  *call;

    job = (ngx_ota_job_t *) ((u_char *) ev - offsetof(ngx_ota_job_t, timer));
    r = job->request;

    call = ngx_ota_redis_call(r, ngx_ota_job_reply, job);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(r->connection);
        return;
    }

    /* sent == 1 marks this call as a poll */
    rc = ngx_ota_redis_cmd(call, "LPOP %s", job->reply_key);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_audit(r, job->action, &job->id,
                            NGX_HTTP_SERVICE_UNAVAILABLE, "storage error");
        ngx_ota_api_send_failed(r, rc);
        ngx_http_run_posted_requests(r->connection);
    }
}


/* the worker's reply: {"ok":true,...} or {"ok":false,"error":...} */
static void
ngx_ota_job_answer(ngx_ota_job_t *job, redisReply *reply)
{
    json_t              *j;
    const char          *err;
    ngx_http_request_t  *r = job->request;

    j = json_loadb(reply->str, reply->len, 0, NULL);

    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        ngx_ota_admin_refused(r, job->action, &job->id,
                              NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "unreadable reply from the worker");
        return;
    }

    if (!json_is_true(json_object_get(j, "ok"))) {
        err = json_string_value(json_object_get(j, "error"));

        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_CONFLICT,
                              err ? err : "the worker refused the job");
        json_decref(j);
        return;
    }

    job->answer->json = j;

    ngx_ota_admin_done(r, job->action, &job->id, NGX_HTTP_OK, job->answer);
}


static void
ngx_ota_job_cleanup(void *data)
{
    ngx_ota_job_t  *job = data;

    if (job->timer.timer_set) {
        ngx_del_timer(&job->timer);
    }
}
