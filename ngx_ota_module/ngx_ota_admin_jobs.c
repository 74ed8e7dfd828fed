/*
 * ngx_ota_admin_jobs.c: the admin API's jobs for the worker, as otactl
 * sends them:
 *
 *   POST batches   {"package","type","name","devices" ("d1,d2" or an
 *                  array),"from_version","protocol","method","push"} and
 *                  the rollout's {"waves","success_threshold",
 *                  "error_threshold","max_per_minute","ramp",
 *                  "abort_failure_rate","abort_min","start_at","timeout"}:
 *                  the options are checked by ota_batch_check() and
 *                  ota_rollout_check() (otactl batch create's checks), the
 *                  package must exist (404); 201 with
 *                  the worker's answer once the batch is created, 202
 *                  {"id","state":"creating"} when a large batch is still
 *                  being created after NGX_OTA_JOB_ACCEPT ms (GET
 *                  batches/<id> follows it), 409 with the worker's reason
 *                  when it refuses (an unverified package...)
 *   POST batches/<id>/pause|resume|cancel
 *                  the batch must exist (404); 200 with the worker's
 *                  answer, or 409 with its reason (a batch already final)
 *
 * A job goes on OTA_STREAM_JOBS (include/ota_batch_create.h encodes it,
 * with an expiry: a worker that reads it after the API stopped waiting
 * refuses it instead of acting behind the admin's back), and the worker's
 * reply on OTA_KEY_JOB_REPLY is the answer.
 *
 * Waiting never blocks: the reply list is asked with LPOP on an nginx
 * timer every NGX_OTA_JOB_POLL ms (a BLPOP would hold the worker process's
 * one Redis connection for every other request), for at most
 * NGX_OTA_JOB_WAIT ms (?wait=SECS, 1..3600: otactl --wait), then 503.
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
#include "ota_rollout.h"


#define NGX_OTA_JOB_POLL   100          /* ms between two LPOPs */
#define NGX_OTA_JOB_WAIT   10000        /* ms for a worker to answer */
#define NGX_OTA_JOB_WAIT_MAX  3600      /* ?wait= seconds at most */
#define NGX_OTA_JOB_WAIT_BAD                                                  \
    "\"wait\" must be seconds for the worker to answer, 1..3600"
#define NGX_OTA_JOB_ACCEPT 2000         /* ms before a batch still being
                                           created is answered 202 */


typedef struct {
    ngx_event_t            timer;       /* the next LPOP */
    ngx_http_request_t    *request;
    ngx_ota_api_answer_t  *answer;
    const char            *action;
    ngx_str_t              id;          /* the batch, NUL-terminated */
    char                   job[33];     /* 16 random bytes in hex */
    char                   reply_key[sizeof(OTA_KEY_JOB_REPLY) + 32];
    ngx_msec_t             deadline;
    ngx_msec_t             wait;        /* ms: ?wait=, 0 when bad */
    ngx_msec_t             accept;      /* create: 202 from then on */
    ota_batch_opts_t       opts;        /* create */
    ota_rollout_t          rollout;     /* create: checked */
    ngx_ota_api_answer_t  *body;        /* create: its JSON, held */
    unsigned               create:1;    /* POST batches */
    unsigned               queued:1;    /* the job is on the stream */
} ngx_ota_job_t;


static void ngx_ota_job_reply(ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_job_poll(ngx_event_t *ev);
static void ngx_ota_job_cleanup(void *data);
static void ngx_ota_job_answer(ngx_ota_job_t *job, redisReply *reply);
static void ngx_ota_batch_create_body(ngx_http_request_t *r, json_t *body);


/* the state of a job, deleted timer and all with the request */
static ngx_ota_job_t *
ngx_ota_job_new(ngx_http_request_t *r, const char *action)
{
    ngx_ota_ctx_t       *ctx;
    ngx_ota_job_t       *job;
    ngx_int_t            wait;
    ngx_pool_cleanup_t  *cln;
    u_char               rnd[16];

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_ota_job_t));
    if (cln == NULL) {
        return NULL;
    }

    job = cln->data;
    ngx_memzero(job, sizeof(ngx_ota_job_t));
    cln->handler = ngx_ota_job_cleanup;

    job->request = r;
    job->action = action;

    /* ?wait=SECS: how long the worker is waited for (otactl --wait); the
     * job expires then, so no worker acts on it later */
    if (ngx_ota_admin_arg_int(r, "wait", NGX_OTA_JOB_WAIT / 1000,
                              NGX_OTA_JOB_WAIT_MAX, &wait)
        == NGX_OK
        && wait > 0)
    {
        job->wait = (ngx_msec_t) wait * 1000;
    }

    job->answer = ngx_ota_api_answer(r);

    if (job->answer == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    *ngx_hex_dump((u_char *) job->job, rnd, sizeof(rnd)) = '\0';
    ngx_snprintf((u_char *) job->reply_key, sizeof(job->reply_key) - 1,
                 OTA_KEY_JOB_REPLY "%Z", job->job);

    /* the timer's data is the connection: nginx's debug log reads its fd */
    job->timer.handler = ngx_ota_job_poll;
    job->timer.data = r->connection;
    job->timer.log = r->connection->log;

    ctx->api = job;

    return job;
}


ngx_int_t
ngx_ota_admin_batch_op(ngx_http_request_t *r, ngx_str_t *id,
    const char *action)
{
    ngx_int_t              rc;
    ngx_str_t              key;
    ngx_ota_job_t         *job;
    ngx_ota_redis_call_t  *call;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    job = ngx_ota_job_new(r, action);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (job->wait == 0) {
        return ngx_ota_admin_refuse(r, action, id, NGX_HTTP_BAD_REQUEST,
                                    NGX_OTA_JOB_WAIT_BAD);
    }

    job->id.len = id->len;
    job->id.data = ngx_ota_pstrdup0(r->pool, id);

    if (job->id.data == NULL
        || ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, &job->id, NULL, NULL)
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


ngx_int_t
ngx_ota_admin_batch_create(ngx_http_request_t *r)
{
    return ngx_ota_read_json_body(r, ngx_ota_batch_create_body);
}


/* "devices": "d1,d2" or ["d1","d2"]: the comma list of ota_batch_check()
 * into *out (pool); NULL when absent; -1 with the reason in c */
static ngx_int_t
ngx_ota_batch_devices(ngx_http_request_t *r, json_t *v, ota_check_t *c,
    const char **out)
{
    u_char  *p;
    size_t   i, len;
    json_t  *e;

    *out = NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (json_is_string(v)) {
        *out = json_string_value(v);
        return NGX_OK;
    }

    if (!json_is_array(v) || json_array_size(v) == 0) {
        (void) ota_check_fail(c, "\"devices\" is a list of device names "
                              "(\"d1,d2\" or [\"d1\",\"d2\"])");
        return NGX_ERROR;
    }

    if (json_array_size(v) > OTA_BATCH_DEVICES_MAX) {
        (void) ota_check_fail(c, "at most %d devices in a verify batch",
                              OTA_BATCH_DEVICES_MAX);
        return NGX_ERROR;
    }

    len = 0;

    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || ngx_strchr(json_string_value(e), ',')) {
            (void) ota_check_fail(c, "\"devices\"[%d] is not a device name",
                                  (int) i);
            return NGX_ERROR;
        }
        len += json_string_length(e) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *out = (const char *) p;

    json_array_foreach(v, i, e) {
        p = ngx_cpymem(p, json_string_value(e), json_string_length(e));
        *p++ = ',';
    }

    p[-1] = '\0';

    return NGX_OK;
}


/* the rollout's fields, as otactl's options take them */
static const char *const  ngx_ota_rollout_names[] = {
    "waves", "success_threshold", "error_threshold", "max_per_minute",
    "ramp", "abort_failure_rate", "abort_min", "start_at", "timeout", NULL
};


/* one rollout field as the text its otactl option takes: a string, a
 * number (a percentage may be 12.5), or for "waves" an array of them
 * joined by commas; NULL when absent; NGX_ERROR with the reason in c */
static ngx_int_t
ngx_ota_rollout_value(ngx_http_request_t *r, const char *name, json_t *v,
    ota_check_t *c, const char **out)
{
    u_char  *p, *last;
    size_t   i;
    json_t  *e;

    *out = NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (json_is_string(v)) {
        *out = json_string_value(v);
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, OTA_ROLLOUT_TEXT_MAX);
    if (p == NULL) {
        (void) ota_check_fail(c, "out of memory");
        return NGX_ERROR;
    }

    *out = (const char *) p;
    last = p + OTA_ROLLOUT_TEXT_MAX - 1;

    if (json_is_array(v) && ngx_strcmp(name, "waves") == 0
        && json_array_size(v) > 0)
    {
        json_array_foreach(v, i, e) {
            if (i > 0 && p < last) {
                *p++ = ',';
            }

            if (json_is_string(e)) {
                p = ngx_slprintf(p, last, "%s", json_string_value(e));

            } else if (json_is_integer(e)) {
                p = ngx_slprintf(p, last, "%L",
                                 (int64_t) json_integer_value(e));

            } else {
                (void) ota_check_fail(c, "\"waves\"[%d] is not a wave "
                                      "(\"10%%\" or a device count)",
                                      (int) i);
                return NGX_ERROR;
            }
        }

        *p = '\0';
        return NGX_OK;
    }

    if (json_is_integer(v)) {
        *ngx_slprintf(p, last, "%L", (int64_t) json_integer_value(v)) = '\0';
        return NGX_OK;
    }

    if (json_is_real(v)) {
        /* a percentage has at most two decimals: more is refused by the
         * check, so none is rounded away here */
        (void) snprintf((char *) p, OTA_ROLLOUT_TEXT_MAX, "%.6g",
                        json_real_value(v));
        return NGX_OK;
    }

    (void) ota_check_fail(c, "\"%s\" must be a string or a number", name);
    return NGX_ERROR;
}


/* the rollout's fields of the body, checked as otactl checks its options,
 * into job->rollout */
static ngx_int_t
ngx_ota_batch_rollout(ngx_http_request_t *r, ngx_ota_job_t *job,
    json_t *body, ota_check_t *c)
{
    ngx_uint_t           i;
    const char          *v[9];
    ota_rollout_opts_t   ro;
    char                 err[OTA_ROLLOUT_ERR_MAX];

    for (i = 0; ngx_ota_rollout_names[i]; i++) {
        if (ngx_ota_rollout_value(r, ngx_ota_rollout_names[i],
                                  json_object_get(body,
                                                  ngx_ota_rollout_names[i]),
                                  c, &v[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_memzero(&ro, sizeof(ota_rollout_opts_t));
    ro.waves = v[0];
    ro.success_threshold = v[1];
    ro.error_threshold = v[2];
    ro.max_per_minute = v[3];
    ro.ramp = v[4];
    ro.abort_failure_rate = v[5];
    ro.abort_min = v[6];
    ro.start_at = v[7];
    ro.timeout = v[8];

    if (ota_rollout_check(&ro, OTA_ROLLOUT_PRODUCER, ngx_ota_now_ms(),
                          &job->rollout, err, sizeof(err))
        != 0)
    {
        /* otactl's reason, naming the fields as this body does */
        (void) ota_check_fail_api(c, err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a rollout field into the job (copied: the values are ota_rollout_fields'
 * own buffers) */
static void
ngx_ota_jobcmd_kv(void *ctx, const char *k, const char *v)
{
    ota_jobcmd_t  *j = ctx;

    if (ota_jobcmd_add_copy(j, k, v) != 0) {
        j->full = 1;
    }
}


static void
ngx_ota_batch_create_body(ngx_http_request_t *r, json_t *body)
{
    static const char *const  fields[] = { "package", "type", "name",
                                           "from_version", "protocol",
                                           "method", NULL };

    json_t                *copy, *push;
    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_str_t              pkg, key;
    const char            *v[6];
    ota_check_t            c;
    ngx_ota_job_t         *job;
    ngx_ota_redis_call_t  *call;
    u_char                 rnd[4];

    job = ngx_ota_job_new(r, OTA_ACT_BATCH_CREATE);
    if (job == NULL) {
        json_decref(body);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->create = 1;

    if (job->wait == 0) {
        json_decref(body);
        ngx_ota_admin_refused(r, job->action, NULL, NGX_HTTP_BAD_REQUEST,
                              NGX_OTA_JOB_WAIT_BAD);
        return;
    }

    job->body = ngx_ota_api_answer(r);
    if (job->body == NULL) {
        json_decref(body);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->body->json = body;

    ota_check_init(&c, 1);

    /* the string fields as otactl's options; devices and push apart */
    copy = json_copy(body);
    if (copy == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) json_object_del(copy, "devices");
    (void) json_object_del(copy, "push");

    for (i = 0; ngx_ota_rollout_names[i]; i++) {
        (void) json_object_del(copy, ngx_ota_rollout_names[i]);
    }

    rc = ota_check_fields(&c, copy, fields, v) == 0 ? NGX_OK : NGX_ERROR;
    json_decref(copy);

    push = json_object_get(body, "push");

    if (rc == NGX_OK && push != NULL && !json_is_boolean(push)
        && !json_is_null(push))
    {
        (void) ota_check_fail(&c, "\"push\" is true or false");
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        job->opts.package = v[0];
        job->opts.type = v[1];
        job->opts.name = v[2];
        job->opts.from_version = v[3];
        job->opts.protocol = v[4];
        job->opts.method = v[5];
        job->opts.push = json_is_true(push);

        rc = ngx_ota_batch_devices(r, json_object_get(body, "devices"), &c,
                                   &job->opts.devices);
    }

    if (rc == NGX_OK && ota_batch_check(&c, &job->opts) != 0) {
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_batch_rollout(r, job, body, &c);
    }

    if (rc != NGX_OK) {
        ngx_ota_admin_refused(r, job->action, NULL, NGX_HTTP_BAD_REQUEST,
                              c.msg[0] ? c.msg : "out of memory");
        return;
    }

    /* the batch's id: the audit and every answer name it */
    job->id.data = ngx_pnalloc(r->pool, OTA_NAME_MAX + 1);
    if (job->id.data == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ota_batch_id((char *) job->id.data, ngx_time(), rnd);
    job->id.len = ngx_strlen(job->id.data);

    pkg.data = (u_char *) job->opts.package;
    pkg.len = ngx_strlen(job->opts.package);

    if (ngx_ota_key(r->pool, &key, OTA_KEY_PACKAGE, &pkg, NULL, NULL)
        == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    call = ngx_ota_redis_call(r, ngx_ota_job_reply, job);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* HGET, not EXISTS: both steps read a string or nil */
    rc = ngx_ota_redis_cmd(call, "HGET %b id", key.data, key.len);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_send_failed(r, job->action, &job->id, rc);
    }
}


static void
ngx_ota_job_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t            rc;
    ota_jobcmd_t         j;
    ngx_ota_job_t       *job = call->data;
    ngx_http_request_t  *r = call->request;
    char                 msg[128 + OTA_NAME_MAX];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_admin_redis_error(r, job->action, &job->id, reply);
        return;
    }

    if (job->queued) {
        /* the XADD's answer, or a poll's: LPOP (and HGET state) */
        if (call->sent == 1 + job->create && call->index == 0) {
            if (reply->type == REDIS_REPLY_STRING) {
                ngx_ota_job_answer(job, reply);
                return;
            }

            if (job->create) {
                return;                 /* the state follows */
            }
        }

        /* a large batch still being created: its id now, 202 */
        if (job->create && call->sent == 2 && call->index == 1
            && reply->type == REDIS_REPLY_STRING
            && ngx_current_msec >= job->accept
            && reply->len == sizeof(OTA_BATCH_CREATING) - 1
            && ngx_strncmp(reply->str, OTA_BATCH_CREATING, reply->len) == 0)
        {
            job->answer->json = json_pack("{s:s, s:s}", "id",
                                          (char *) job->id.data, "state",
                                          OTA_BATCH_CREATING);
            if (job->answer->json == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_ota_admin_done(r, job->action, &job->id, NGX_HTTP_ACCEPTED,
                               job->answer);
            return;
        }

        if (ngx_current_msec >= job->deadline) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "no ota-worker answered within %M s (is "
                         "ota-worker running?); the job will not be done "
                         "later%Z", job->wait / 1000);
            ngx_ota_admin_refused(r, job->action, &job->id,
                                  NGX_HTTP_SERVICE_UNAVAILABLE, msg);
            return;
        }

        ngx_add_timer(&job->timer, NGX_OTA_JOB_POLL);
        return;
    }

    /* the batch's state (an op) or the package's id (create) */
    if (reply->type != REDIS_REPLY_STRING) {
        if (job->create) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1, "no package %s%Z",
                         job->opts.package);
        } else {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1, "no batch %V%Z",
                         &job->id);
        }

        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_NOT_FOUND,
                              msg);
        return;
    }

    job->deadline = ngx_current_msec + job->wait;
    job->accept = ngx_current_msec + NGX_OTA_JOB_ACCEPT;

    if (ota_jobcmd_init(&j, job->job, ngx_ota_now_ms(),
                        ngx_ota_now_ms() + job->wait) != 0
        || (job->create
            ? ota_jobcmd_batch_create(&j, &job->opts, (char *) job->id.data)
            : ota_jobcmd_batch_op(&j, ota_batch_op_job(job->action
                                      + sizeof("batch.") - 1),
                                  (char *) job->id.data))
           != 0)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (job->create) {
        /* the rollout's fields as otactl adds them (room for all: the
         * vector holds OTA_JOBCMD_ARGC_MAX arguments) */
        ota_rollout_fields(&job->rollout, ngx_ota_jobcmd_kv, &j);

        if (j.full) {
            ngx_ota_admin_refused(r, job->action, &job->id,
                                  NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "too many job fields");
            return;
        }
    }

    job->queued = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: job %s for batch \"%V\" queued",
                   job->job, &job->id);

    /* XADD, and a first look for the reply in the same round trip */
    rc = ngx_ota_redis_argv(call, j.argc, j.argv, j.argvlen);

    if (rc != NGX_OK) {
        ngx_ota_admin_send_failed(r, job->action, &job->id, rc);
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

    /* a poll: LPOP, and for a batch being created its state too */
    rc = ngx_ota_redis_cmd(call, "LPOP %s", job->reply_key);

    if (rc == NGX_OK && job->create) {
        rc = ngx_ota_redis_cmd(call, "HGET " OTA_KEY_BATCH " state",
                               (char *) job->id.data);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_send_failed(r, job->action, &job->id, rc);
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

    ngx_ota_admin_done(r, job->action, &job->id,
                       job->create ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                       job->answer);
}


static void
ngx_ota_job_cleanup(void *data)
{
    ngx_ota_job_t  *job = data;

    if (job->timer.timer_set) {
        ngx_del_timer(&job->timer);
    }
}
