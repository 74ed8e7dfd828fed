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
 *   POST packages/<to>/diffs {"from","level","max_ratio","name","desc",
 *                  "sign_later"} otactl package diff's checks, then a
 *                  package_diff job (sign_later true: recorded in state
 *                  unsigned with its manifest, which a product that
 *                  requires signatures needs)
 *                  (the worker computes the delta): 201 with the new
 *                  package, 202 {"job","state":"running"} when the
 *                  worker is still on it after ?wait=
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
#include "ota_delta.h"
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
    unsigned               diff:1;      /* POST packages/<id>/diffs */
    unsigned               follow:1;    /* create or diff: a poll reads
                                           the state too (202) */
    ngx_str_t              from;        /* diff: the old package */
    json_t                *dbody;       /* diff: the body, held */
    u_char                *prod;        /* diff: both packages' */
    u_char                *mod;
    u_char                *fver;        /* diff: the old one's version */
    u_char                *tver;
    u_char                *ftype;       /* diff: the old one's type, files */
    u_char                *ffiles;
    const char            *dv[5];       /* diff: from level max_ratio name
                                           desc, in dbody */
    unsigned               fmissing:1;  /* diff: no old package */
    unsigned               sign_later:1; /* diff: state unsigned */
    unsigned               refused:1;   /* diff: refused by a check */
    unsigned               queued:1;    /* the job is on the stream */
} ngx_ota_job_t;


static void ngx_ota_job_reply(ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_job_poll(ngx_event_t *ev);
static void ngx_ota_job_cleanup(void *data);
static void ngx_ota_job_answer(ngx_ota_job_t *job, redisReply *reply);
static void ngx_ota_batch_create_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_diff_body(ngx_http_request_t *r, json_t *body);
static void ngx_ota_diff_check(ngx_ota_redis_call_t *call, redisReply *reply);
static void ngx_ota_diff_check2(ngx_ota_redis_call_t *call,
    redisReply *reply);


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
    job->follow = 1;

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


/* ---- POST packages/<to>/diffs {"from","level","max_ratio","name","desc"}
 * otactl package diff's checks (include/ota_delta.h) here, the delta
 * itself in the worker (worker/daemon/worker_diff.c): 400 for a bad body,
 * 404 for an unknown package, 409 for a pair package diff refuses, a diff
 * that exists, or a product that requires signed packages (the worker
 * holds no private key); then a package_diff job, waited for as a batch
 * create: 201 with the new package, 202 {"job","state":"running"} when
 * the worker is still making it at the end of ?wait= (503 when no worker
 * took the job by then) */

#define NGX_OTA_DIFF_FIELDS "id product module version type files"

ngx_int_t
ngx_ota_admin_package_diff(ngx_http_request_t *r, ngx_str_t *to)
{
    ngx_ota_job_t  *job;

    job = ngx_ota_job_new(r, OTA_ACT_PACKAGE_DIFF);
    if (job == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job->diff = 1;
    job->follow = 1;
    job->id.len = to->len;
    job->id.data = ngx_ota_pstrdup0(r->pool, to);

    if (job->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_ota_read_json_body(r, ngx_ota_diff_body);
}


/* a number of the body as the text its otactl option takes */
static ngx_int_t
ngx_ota_diff_number(json_t *copy, const char *name)
{
    char     buf[64];
    json_t  *v;

    v = json_object_get(copy, name);

    if (json_is_integer(v)) {
        (void) snprintf(buf, sizeof(buf), "%lld",
                        (long long) json_integer_value(v));

    } else if (json_is_real(v)) {
        (void) snprintf(buf, sizeof(buf), "%.6g", json_real_value(v));

    } else {
        return NGX_OK;
    }

    return json_object_set_new(copy, name, json_string(buf)) == 0
           ? NGX_OK : NGX_ERROR;
}


static void
ngx_ota_diff_body(ngx_http_request_t *r, json_t *body)
{
    static const char *const  fields[] = { "from", "level", "max_ratio",
                                           "name", "desc", NULL };

    int                    level;
    double                 ratio;
    json_t                *copy;
    ngx_int_t              rc;
    ota_check_t            c;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_job_t         *job;
    ngx_ota_redis_call_t  *call;
    char                   err[512];

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    job = ctx->api;

    copy = json_copy(body);
    json_decref(body);

    if (copy == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->dbody = copy;

    if (job->wait == 0) {
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_BAD_REQUEST,
                              NGX_OTA_JOB_WAIT_BAD);
        return;
    }

    if (ngx_ota_diff_number(copy, "level") != NGX_OK
        || ngx_ota_diff_number(copy, "max_ratio") != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ota_check_init(&c, 1);
    rc = NGX_OK;

    /* sign_later, the one boolean: taken out before the text fields */
    if (json_object_get(copy, "sign_later") != NULL) {
        if (!json_is_boolean(json_object_get(copy, "sign_later"))) {
            (void) ota_check_fail(&c, "invalid \"sign_later\" (true or "
                                  "false)");
            rc = NGX_ERROR;

        } else {
            job->sign_later = json_is_true(json_object_get(copy,
                                                           "sign_later"));
            (void) json_object_del(copy, "sign_later");
        }
    }

    if (rc == NGX_OK) {
        rc = ota_check_fields(&c, copy, fields, job->dv) == 0
             ? NGX_OK : NGX_ERROR;
    }

    if (rc == NGX_OK && job->dv[0] == NULL) {
        (void) ota_check_fail(&c, "a diff needs \"from\": the old package");
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK && !ota_name_id(job->dv[0], ngx_strlen(job->dv[0]))) {
        (void) ota_check_fail(&c, "invalid package id \"%s\"", job->dv[0]);
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK && job->dv[1] != NULL
        && ota_delta_level(job->dv[1], &level, err, sizeof(err)) != 0)
    {
        (void) ota_check_fail_api(&c, err);
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK && job->dv[2] != NULL
        && ota_delta_ratio(job->dv[2], &ratio, err, sizeof(err)) != 0)
    {
        (void) ota_check_fail_api(&c, err);
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK
        && ((job->dv[3] != NULL
             && (job->dv[3][0] == '\0'
                 || !ota_text_ok(job->dv[3], ngx_strlen(job->dv[3]), 128)))
            || (job->dv[4] != NULL
                && !ota_text_ok(job->dv[4], ngx_strlen(job->dv[4]),
                                OTA_DESC_MAX))))
    {
        (void) ota_check_fail(&c, "invalid \"name\" or \"desc\"");
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_BAD_REQUEST,
                              c.msg[0] ? c.msg : "out of memory");
        return;
    }

    job->from.data = (u_char *) job->dv[0];
    job->from.len = ngx_strlen(job->dv[0]);

    call = ngx_ota_redis_call(r, ngx_ota_diff_check, job);
    if (call == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(call, "HMGET " OTA_KEY_PACKAGE " "
                           NGX_OTA_DIFF_FIELDS, job->dv[0]);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HMGET " OTA_KEY_PACKAGE " "
                               NGX_OTA_DIFF_FIELDS, (char *) job->id.data);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_admin_send_failed(r, job->action, &job->id, rc);
    }
}


static u_char *
ngx_ota_diff_str(ngx_http_request_t *r, redisReply *e)
{
    ngx_str_t  s;

    if (e->type != REDIS_REPLY_STRING) {
        s.data = (u_char *) "";
        s.len = 0;

    } else {
        s.data = (u_char *) e->str;
        s.len = e->len;
    }

    return ngx_ota_pstrdup0(r->pool, &s);
}


/* the two records: the old one's kept, then both sides checked */
static void
ngx_ota_diff_check(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t              rc;
    ngx_uint_t             i;
    u_char                *ff[6], *tf[6];
    ota_delta_side_t       so, sn;
    ngx_ota_job_t         *job = call->data;
    ngx_http_request_t    *r = call->request;
    ngx_ota_redis_call_t  *next;
    char                   err[512];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 6)
    {
        ngx_ota_admin_redis_error(r, job->action, &job->id, reply);
        return;
    }

    if (call->index == 0) {
        /* the old package's record, kept in the job's strings */
        job->fmissing = reply->element[0]->type != REDIS_REPLY_STRING;

        for (i = 0; i < 6; i++) {
            ff[i] = ngx_ota_diff_str(r, reply->element[i]);
            if (ff[i] == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }

        job->prod = ff[1];
        job->mod = ff[2];
        job->fver = ff[3];
        job->ftype = ff[4];
        job->ffiles = ff[5];
        return;
    }

    if (reply->element[0]->type != REDIS_REPLY_STRING) {
        (void) ngx_snprintf((u_char *) err, sizeof(err) - 1,
                            "no package %V%Z", &job->id);
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_NOT_FOUND,
                              err);
        return;
    }

    if (job->fmissing) {
        (void) ngx_snprintf((u_char *) err, sizeof(err) - 1,
                            "no package %V (\"from\")%Z", &job->from);
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_NOT_FOUND,
                              err);
        return;
    }

    for (i = 0; i < 6; i++) {
        tf[i] = ngx_ota_diff_str(r, reply->element[i]);
        if (tf[i] == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_memzero(&so, sizeof(ota_delta_side_t));
    so.id = (char *) job->from.data;
    so.product = (char *) job->prod;
    so.module = (char *) job->mod;
    so.version = (char *) job->fver;
    so.type = (char *) job->ftype;
    so.files = (char *) job->ffiles;

    ngx_memzero(&sn, sizeof(ota_delta_side_t));
    sn.id = (char *) job->id.data;
    sn.product = (char *) tf[1];
    sn.module = (char *) tf[2];
    sn.version = (char *) tf[3];
    sn.type = (char *) tf[4];
    sn.files = (char *) tf[5];

    if (ota_delta_side(&so, "from", err, sizeof(err)) != 0
        || ota_delta_side(&sn, "to", err, sizeof(err)) != 0
        || ota_delta_pair(&so, &sn, err, sizeof(err)) != 0)
    {
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_CONFLICT,
                              err);
        return;
    }

    /* the pair is one product and module: the new one's from here */
    job->prod = tf[1];
    job->mod = tf[2];
    job->tver = tf[3];

    /* what the store would refuse, before any work: a diff in the slot,
     * a product that requires signed packages */
    next = ngx_ota_redis_call(r, ngx_ota_diff_check2, job);
    if (next == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ota_redis_cmd(next, "HGET " OTA_KEY_PRODUCT_PKGVER " %s:%s>%s",
                           (char *) job->prod, (char *) job->mod,
                           (char *) job->fver, (char *) job->tver);
    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(next, "HGET " OTA_KEY_PRODUCT_SIGNING
                               " require", (char *) job->prod);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(next);
        ngx_ota_admin_send_failed(r, job->action, &job->id, rc);
    }
}


static void
ngx_ota_diff_check2(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_int_t              rc;
    ota_jobcmd_t           j;
    ngx_ota_job_t         *job = call->data;
    ngx_http_request_t    *r = call->request;
    ngx_ota_redis_call_t  *next;
    char                   msg[512];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_ota_admin_redis_error(r, job->action, &job->id, reply);
        return;
    }

    if (job->refused) {
        return;                         /* answered by the first reply */
    }

    if (call->index == 0) {
        if (reply->type == REDIS_REPLY_STRING) {
            job->refused = 1;
            (void) ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                                "product %s module %s already has a diff "
                                "from %s to %s (package %*s)%Z",
                                job->prod, job->mod, job->fver, job->tver,
                                (size_t) reply->len, reply->str);
            ngx_ota_admin_refused(r, job->action, &job->id,
                                  NGX_HTTP_CONFLICT, msg);
        }
        return;
    }

    if (!job->sign_later
        && reply->type == REDIS_REPLY_STRING && reply->len == 1
        && reply->str[0] == '1')
    {
        (void) ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                            "product %s requires signed packages: the "
                            "worker holds no private key, so ask with "
                            "\"sign_later\": true and sign its manifest "
                            "(POST packages/<id>/signature; otactl --api "
                            "package diff --sign-key FILE does both)%Z",
                            job->prod);
        ngx_ota_admin_refused(r, job->action, &job->id, NGX_HTTP_CONFLICT,
                              msg);
        return;
    }

    /* the admin's whole ?wait= for the delta (no follow-up read, unlike a
     * batch): 202 at its last poll when the worker is still on it */
    job->deadline = ngx_current_msec + job->wait;
    job->accept = job->deadline - NGX_OTA_JOB_POLL;

    if (ota_jobcmd_init(&j, job->job, ngx_ota_now_ms(),
                        ngx_ota_now_ms() + job->wait) != 0
        || ota_jobcmd_add(&j, OTA_F_TYPE, OTA_JOB_PACKAGE_DIFF) != 0
        || ota_jobcmd_add(&j, OTA_F_ID, (char *) job->id.data) != 0
        || ota_jobcmd_add(&j, OTA_F_DIFF_FROM, job->dv[0]) != 0
        || (job->dv[1]
            && ota_jobcmd_add(&j, OTA_F_DIFF_LEVEL, job->dv[1]) != 0)
        || (job->dv[2]
            && ota_jobcmd_add(&j, OTA_F_DIFF_RATIO, job->dv[2]) != 0)
        || (job->dv[3] && ota_jobcmd_add(&j, OTA_F_NAME, job->dv[3]) != 0)
        || (job->dv[4]
            && ota_jobcmd_add(&j, OTA_F_DIFF_DESC, job->dv[4]) != 0)
        || (job->sign_later
            && ota_jobcmd_add(&j, OTA_F_SIGN_LATER, "1") != 0))
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    next = ngx_ota_redis_call(r, ngx_ota_job_reply, job);
    if (next == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->queued = 1;

    rc = ngx_ota_redis_argv(next, j.argc, j.argv, j.argvlen);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(next);
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
        if (call->sent == 1 + job->follow && call->index == 0) {
            if (reply->type == REDIS_REPLY_STRING) {
                ngx_ota_job_answer(job, reply);
                return;
            }

            if (job->follow) {
                return;                 /* the state follows */
            }
        }

        /* a delta still being computed: the job's id now, 202 */
        if (job->diff && call->sent == 2 && call->index == 1
            && reply->type == REDIS_REPLY_STRING
            && ngx_current_msec >= job->accept
            && reply->len == sizeof(OTA_JOB_RUNNING) - 1
            && ngx_strncmp(reply->str, OTA_JOB_RUNNING, reply->len) == 0)
        {
            job->answer->json = json_pack("{s:s, s:s, s:s, s:s}", "job",
                                          job->job, "state", OTA_JOB_RUNNING,
                                          "from", (char *) job->from.data,
                                          "to", (char *) job->id.data);
            if (job->answer->json == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_ota_admin_done(r, job->action, &job->id, NGX_HTTP_ACCEPTED,
                               job->answer);
            return;
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

    if (rc == NGX_OK && job->diff) {
        rc = ngx_ota_redis_cmd(call, "HGET " OTA_KEY_JOB " state", job->job);
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
                       job->follow ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                       job->answer);
}


static void
ngx_ota_job_cleanup(void *data)
{
    ngx_ota_job_t  *job = data;

    if (job->timer.timer_set) {
        ngx_del_timer(&job->timer);
    }

    if (job->dbody != NULL) {
        json_decref(job->dbody);
    }

}
