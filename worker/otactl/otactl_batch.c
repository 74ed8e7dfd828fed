/* otactl batch create|show|list|pause|resume|cancel: jobs for the worker
 * and statistics read in O(1) from its counters */

#include "otactl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ota_audit.h"
#include "ota_batch_create.h"
#include "ota_check.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_task_columns.h"
#include "ota_names.h"
#include "ota_rollout_view.h"
#include "ota_stats.h"
#include "ota_version.h"


static int
otactl_parse_wait(otactl_t *o, const char *w)
{
    char  *end;
    long   v;

    if (w == NULL) {
        return 0;
    }
    v = strtol(w, &end, 10);
    if (*end || end == w || v < 1 || v > 3600) {
        return otactl_fail("invalid --wait \"%s\" (seconds, 1..3600)", w);
    }
    o->wait = (int) v;
    return 0;
}

/* a new job's envelope (include/ota_batch_create.h): its id into job
 * (33 bytes), expiring when otactl stops waiting (*deadline) */
static int
otactl_job_start(otactl_t *o, ota_jobcmd_t *jc, char *job, int64_t *deadline)
{
    if (ota_random_hex(job, 16) != 0) {
        return otactl_fail("no randomness for the job id");
    }
    *deadline = ota_now_ms() + (int64_t) o->wait * 1000;
    /* a worker that finds the job after otactl gave up must not act on it */
    if (ota_jobcmd_init(jc, job, ota_now_ms(), *deadline) != 0) {
        return otactl_fail("bad job id");
    }
    return OTACTL_OK;
}

static int otactl_job_print(otactl_t *o, json_t *j);

/* XADDs the job and waits for the worker's reply; prints the outcome */
static int
otactl_job(otactl_t *o, ota_jobcmd_t *jc, const char *job, int64_t deadline,
    const char *batch, const char *what, const char *action)
{
    char         key[128];
    redisReply  *r, *st;
    json_t      *j;
    long long    seen_total = -1;
    int          rc;

    if (otactl_connect(o) != 0) {
        return OTACTL_FAIL;
    }
    r = redisCommandArgv(o->rc, jc->argc, jc->argv, jc->argvlen);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        otactl_fail("Redis: %s", r ? r->str : o->rc->errstr);
        freeReplyObject(r);
        return OTACTL_FAIL;
    }
    freeReplyObject(r);

    snprintf(key, sizeof(key), OTA_KEY_JOB_REPLY, job);
    for ( ;; ) {
        r = otactl_cmd(o, "BLPOP %s 1", key);
        if (r == NULL) {
            return OTACTL_FAIL;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            break;
        }
        freeReplyObject(r);

        if (ota_now_ms() < deadline) {
            continue;
        }

        /* a long creation is still running: keep waiting while it grows */
        st = otactl_cmd(o, "HMGET " OTA_KEY_BATCH " state total", batch);
        if (st != NULL && st->element[0]->type == REDIS_REPLY_STRING
            && strcmp(st->element[0]->str, "creating") == 0
            && ota_reply_ll(st->element[1], 0) != seen_total)
        {
            seen_total = ota_reply_ll(st->element[1], 0);
            deadline = ota_now_ms() + (int64_t) o->wait * 1000;
            freeReplyObject(st);
            continue;
        }
        freeReplyObject(st);

        fprintf(stderr, "otactl: no ota-worker answered within %d s (is "
                "ota-worker running against %s?); %s\n", o->wait,
                ota_redis_addr_str(&o->addr), what);
        return OTACTL_UNAVAIL;
    }

    j = json_loads(r->element[1]->str, 0, NULL);
    freeReplyObject(r);
    if (j == NULL) {
        return otactl_fail("unreadable reply from the worker");
    }
    if (!json_is_true(json_object_get(j, "ok"))) {
        const char *e = json_string_value(json_object_get(j, "error"));
        rc = otactl_fail("%s", e ? e : "the worker refused the job");
        otactl_audit(o, action, batch, 409, e ? e : "refused");
        json_decref(j);
        return rc;
    }
    otactl_audit(o, action, batch, strcmp(action, OTA_ACT_BATCH_CREATE) == 0
                                   ? 201 : 200, NULL);

    return otactl_job_print(o, j);
}

/* the worker's answer to a job done ({"ok":true,"id",...}), freed */
static int
otactl_job_print(otactl_t *o, json_t *j)
{
    if (o->json) {
        otactl_print_json(j);
    } else {
        json_t *sk = json_object_get(j, "skipped");
        printf("%s\n", json_string_value(json_object_get(j, "id")));
        if (json_object_get(j, "total") != NULL && sk != NULL) {
            fprintf(stderr, "otactl: %lld tasks; skipped: %lld already at the "
                    "target version, %lld with an open task, %lld at another "
                    "source version\n",
                    (long long) json_integer_value(json_object_get(j, "total")),
                    (long long) json_integer_value(json_object_get(sk, "current")),
                    (long long) json_integer_value(json_object_get(sk, "busy")),
                    (long long) json_integer_value(json_object_get(sk, "version")));
        }
        json_decref(j);
    }
    return OTACTL_OK;
}

static void
otactl_jobcmd_kv(void *ctx, const char *k, const char *v)
{
    ota_jobcmd_t  *j = ctx;

    if (ota_jobcmd_add_copy(j, k, v) != 0) {
        j->full = 1;
    }
}

/* ---- over the admin API --------------------------------------------------- */

/* POST batches with the options as given (the API checks them with the
 * same code); a 202 (a large batch still being created) is followed with
 * GET batches/<id> as direct mode follows the worker: while it grows */
static int
otactl_api_batch_create(otactl_t *o, ota_batch_opts_t *b,
    ota_rollout_opts_t *ro, ota_rollout_t *rl)
{
    json_t      *body, *j, *bj, *sk;
    long         st;
    long long    seen = -1;
    int64_t      deadline;
    int          rc;
    char         at[32], path[128];
    const char  *state;

    body = json_object();
    if (body == NULL) {
        return otactl_fail("out of memory");
    }
#define SET(k, v) if ((v) != NULL) json_object_set_new(body, k, json_string(v))
    SET("package", b->package);
    SET("type", b->type);
    SET("name", b->name);
    SET("devices", b->devices);
    SET("from_version", b->from_version);
    SET("protocol", b->protocol);
    SET("method", b->method);
    SET("waves", ro->waves);
    SET("success_threshold", ro->success_threshold);
    SET("error_threshold", ro->error_threshold);
    SET("max_per_minute", ro->max_per_minute);
    SET("ramp", ro->ramp);
    SET("abort_failure_rate", ro->abort_failure_rate);
    SET("abort_min", ro->abort_min);
    SET("timeout", ro->timeout);
#undef SET
    if (b->push) {
        json_object_set_new(body, "push", json_true());
    }
    if (ro->start_at != NULL) {
        /* in ms: the time was read in this host's zone, not the server's */
        snprintf(at, sizeof(at), "%lld", (long long) rl->start_at);
        json_object_set_new(body, "start_at", json_string(at));
    }

    /* the API waits --wait for the worker and expires the job then, as
     * direct mode does */
    snprintf(path, sizeof(path), "batches?wait=%d", o->wait);
    rc = otactl_api(o, "POST", path, body, 0, &j, &st);
    json_decref(body);
    if (rc != OTACTL_OK) {
        return rc;
    }
    if (st != 202) {
        return otactl_job_print(o, j);
    }

    /* still being created: follow it */
    snprintf(path, sizeof(path), "batches/%s",
             json_string_value(json_object_get(j, "id")));
    json_decref(j);
    deadline = ota_now_ms() + (int64_t) o->wait * 1000;
    for ( ;; ) {
        rc = otactl_api_get(o, path, 0, &bj, NULL);
        if (rc != OTACTL_OK) {
            return rc;
        }
        state = json_string_value(json_object_get(bj, "state"));
        if (state != NULL && strcmp(state, "creating") != 0) {
            break;
        }
        if (json_integer_value(json_object_get(bj, "total")) != seen) {
            seen = json_integer_value(json_object_get(bj, "total"));
            deadline = ota_now_ms() + (int64_t) o->wait * 1000;
        }
        json_decref(bj);
        if (ota_now_ms() >= deadline) {
            fprintf(stderr, "otactl: the batch %s is still being created "
                    "after %d s; follow it with otactl batch show %s\n",
                    path + 8, o->wait, path + 8);
            return OTACTL_UNAVAIL;
        }
        usleep(200 * 1000);
    }
    sk = json_object_get(bj, "skipped");
    j = json_pack("{s:b, s:O, s:O, s:O, s:O}", "ok", 1,
                  "id", json_object_get(bj, "id"),
                  "state", json_object_get(bj, "state"),
                  "total", json_object_get(bj, "total"),
                  "skipped", sk ? sk : json_object_get(bj, "counts"));
    json_decref(bj);
    if (j == NULL) {
        return otactl_fail("out of memory");
    }
    return otactl_job_print(o, j);
}

/* POST batches/<id>/<verb>: the worker's answer, as the job's */
static int
otactl_api_batch_op(otactl_t *o, const char *verb, const char *id)
{
    json_t  *j;
    char     path[160];
    int      rc;

    snprintf(path, sizeof(path), "batches/%s/%s?wait=%d", id, verb, o->wait);
    rc = otactl_api(o, "POST", path, NULL, 0, &j, NULL);
    if (rc != OTACTL_OK) {
        return rc;
    }
    return otactl_job_print(o, j);
}

/* GET batches/<id>: the fields of otactl_batch_json(); *missing on 404 */
static json_t *
otactl_api_batch_json(otactl_t *o, const char *id, int *missing, int *rc)
{
    json_t  *j;
    long     st = 0;
    char     path[128];

    *missing = 0;
    snprintf(path, sizeof(path), "batches/%s", id);
    *rc = otactl_api_get(o, path, OTACTL_API_404, &j, &st);
    if (*rc == OTACTL_OK && j == NULL) {
        *missing = 1;
        *rc = OTACTL_FAIL;
    }
    return j;
}

static int
otactl_batch_create(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "package", OTACTL_ARG, 0, 0, 0 },
                             { "type", OTACTL_ARG, 0, 0, 0 },
                             { "name", OTACTL_ARG, 0, 0, 0 },
                             { "devices", OTACTL_ARG, 0, 0, 0 },
                             { "from-version", OTACTL_ARG, 0, 0, 0 },
                             { "protocol", OTACTL_ARG, 0, 0, 0 },
                             { "method", OTACTL_ARG, 0, 0, 0 },
                             { "push", OTACTL_FLAG, 0, 0, 0 },
                             { "wait", OTACTL_ARG, 0, 0, 0 },
                             { "waves", OTACTL_ARG, 0, 0, 0 },
                             { "success-threshold", OTACTL_ARG, 0, 0, 0 },
                             { "error-threshold", OTACTL_ARG, 0, 0, 0 },
                             { "max-per-minute", OTACTL_ARG, 0, 0, 0 },
                             { "ramp", OTACTL_ARG, 0, 0, 0 },
                             { "abort-failure-rate", OTACTL_ARG, 0, 0, 0 },
                             { "abort-min", OTACTL_ARG, 0, 0, 0 },
                             { "start-at", OTACTL_ARG, 0, 0, 0 },
                             { "timeout", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *pkg, *type, *name, *devs, *fromv, *proto, *method;
    ota_rollout_opts_t  ro;
    ota_rollout_t       rl;
    char          err[OTA_ROLLOUT_ERR_MAX];
    char          id[OTA_NAME_MAX + 1], job[33];
    unsigned char rnd[4];
    ota_batch_opts_t  b;
    ota_check_t   chk;
    ota_jobcmd_t  jc;
    redisReply   *r;
    int64_t       deadline;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "batch create")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("batch create takes only options");
    }
    pkg = otactl_opt(opts, "package");
    type = otactl_opt(opts, "type");
    name = otactl_opt(opts, "name");
    devs = otactl_opt(opts, "devices");
    fromv = otactl_opt(opts, "from-version");
    proto = otactl_opt(opts, "protocol");
    method = otactl_opt(opts, "method");
    if ((rc = otactl_parse_wait(o, otactl_opt(opts, "wait"))) != 0) {
        return rc;
    }

    memset(&b, 0, sizeof(b));
    b.package = pkg;
    b.type = type;
    b.name = name;
    b.devices = devs;
    b.from_version = fromv;
    b.protocol = proto;
    b.method = method;
    b.push = otactl_opt(opts, "push") != NULL;
    ota_check_init(&chk, 0);
    if (ota_batch_check(&chk, &b) != 0) {
        return otactl_fail("%s", chk.msg);
    }
    ro.waves = otactl_opt(opts, "waves");
    ro.success_threshold = otactl_opt(opts, "success-threshold");
    ro.error_threshold = otactl_opt(opts, "error-threshold");
    ro.max_per_minute = otactl_opt(opts, "max-per-minute");
    ro.ramp = otactl_opt(opts, "ramp");
    ro.abort_failure_rate = otactl_opt(opts, "abort-failure-rate");
    ro.abort_min = otactl_opt(opts, "abort-min");
    ro.start_at = otactl_opt(opts, "start-at");
    ro.timeout = otactl_opt(opts, "timeout");
    if (ota_rollout_check(&ro, OTA_ROLLOUT_PRODUCER, ota_now_ms(), &rl, err,
                          sizeof(err)) != 0)
    {
        return otactl_fail("%s", err);
    }

    if (o->api) {
        return otactl_api_batch_create(o, &b, &ro, &rl);
    }

    r = otactl_cmd(o, "EXISTS " OTA_KEY_PACKAGE, pkg);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    if (r->integer == 0) {
        freeReplyObject(r);
        return otactl_fail("no package %s", pkg);
    }
    freeReplyObject(r);

    if (RAND_bytes(rnd, (int) sizeof(rnd)) != 1) {
        return otactl_fail("no randomness for the batch id");
    }
    ota_batch_id(id, time(NULL), rnd);

    if ((rc = otactl_job_start(o, &jc, job, &deadline)) != OTACTL_OK) {
        return rc;
    }
    if (ota_jobcmd_batch_create(&jc, &b, id) != 0) {
        return otactl_fail("too many job fields");
    }
    ota_rollout_fields(&rl, otactl_jobcmd_kv, &jc);
    if (jc.full) {
        return otactl_fail("too many job fields");
    }
    return otactl_job(o, &jc, job, deadline, id, "the batch was not created",
                      OTA_ACT_BATCH_CREATE);
}

static int
otactl_batch_op(otactl_t *o, const char *verb, const char *type, int argc,
    char **argv)
{
    otactl_opt_t  opts[] = { { "wait", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    ota_jobcmd_t  jc;
    redisReply   *r;
    const char   *id;
    char          what[64], job[33];
    int64_t       deadline;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, verb)) != 0) {
        return rc;
    }
    if ((rc = otactl_parse_wait(o, otactl_opt(opts, "wait"))) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("batch %s needs exactly one batch id", verb);
    }
    id = pos.pos[0];
    if (!ota_name_id(id, strlen(id))) {
        return otactl_fail("invalid batch id \"%s\"", id);
    }
    if (o->api) {
        return otactl_api_batch_op(o, verb, id);
    }
    r = otactl_cmd(o, "HGET " OTA_KEY_BATCH " state", id);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return otactl_fail("no batch %s", id);
    }
    freeReplyObject(r);

    if ((rc = otactl_job_start(o, &jc, job, &deadline)) != OTACTL_OK) {
        return rc;
    }
    if (ota_jobcmd_batch_op(&jc, type, id) != 0) {
        return otactl_fail("too many job fields");
    }
    snprintf(what, sizeof(what), "batch %s not done", verb);
    return otactl_job(o, &jc, job, deadline, id, what,
                      verb[0] == 'p' ? OTA_ACT_BATCH_PAUSE
                      : verb[0] == 'r' ? OTA_ACT_BATCH_RESUME
                      : OTA_ACT_BATCH_CANCEL);
}

/* ---- reading ----------------------------------------------------------------- */

static json_t *
otactl_batch_json(otactl_t *o, const char *id, int *missing)
{
    redisReply          *b, *cnt, *fl, *wv;
    ota_batch_counts_t   c;
    ota_rollout_view_t   rv;
    json_t              *j, *jc, *jf, *jsk;
    size_t               i;
    int                  s;

    *missing = 0;
    b = otactl_cmd(o, "HGETALL " OTA_KEY_BATCH, id);
    if (b == NULL) {
        return NULL;
    }
    if (b->elements == 0) {
        freeReplyObject(b);
        *missing = 1;
        return NULL;
    }
    cnt = otactl_cmd(o, "HGETALL " OTA_KEY_BATCH_COUNTS, id);
    fl = otactl_cmd(o, "HGETALL " OTA_KEY_BATCH_FAILURES, id);
    wv = otactl_cmd(o, "HGETALL " OTA_KEY_BATCH_WAVES, id);
    if (cnt == NULL || fl == NULL || wv == NULL) {
        freeReplyObject(b);
        freeReplyObject(cnt);
        freeReplyObject(fl);
        freeReplyObject(wv);
        return NULL;
    }
    ota_rollout_view_init(&rv);
    for (i = 0; i + 1 < wv->elements; i += 2) {
        ota_rollout_wave_field(&rv, wv->element[i]->str, wv->element[i]->len,
                               wv->element[i + 1]->str,
                               wv->element[i + 1]->len);
    }

    memset(&c, 0, sizeof(c));
    j = json_object();
    jsk = json_object();
    for (i = 0; i + 1 < b->elements; i += 2) {
        const char *k = b->element[i]->str, *v = b->element[i + 1]->str;

        if (ota_rollout_field(&rv, k, b->element[i]->len, v,
                              b->element[i + 1]->len))
        {
            continue;
        }
        if (strcmp(k, "total") == 0) {
            c.total = atoll(v);
        } else if (strncmp(k, "skipped_", 8) == 0) {
            json_object_set_new(jsk, k + 8, json_integer(atoll(v)));
        } else if (strcmp(k, OTA_B_BYTES_SAVED) == 0
                   || strcmp(k, OTA_B_DIFF_SUCCEEDED) == 0)
        {
            json_object_set_new(j, k, json_integer(atoll(v)));
        } else if (strcmp(k, "created") == 0 || strcmp(k, "finished") == 0
                   || strcmp(k, "size") == 0)
        {
            json_object_set_new(j, k, json_integer(atoll(v)));
        } else if (strcmp(k, "push") == 0) {
            json_object_set_new(j, k, json_boolean(strcmp(v, "1") == 0));
        } else if (strcmp(k, "cursor") != 0) {
            json_object_set_new(j, k, json_string(v));
        }
    }
    for (i = 0; i + 1 < cnt->elements; i += 2) {
        s = ota_task_state_parse(cnt->element[i]->str, cnt->element[i]->len);
        if (s >= 0) {
            c.n[s] = atoll(cnt->element[i + 1]->str);
        }
    }
    jc = json_object();
    for (s = 0; s < OTA_TS_COUNT; s++) {
        json_object_set_new(jc, ota_task_state_name(s), json_integer(c.n[s]));
    }
    jf = json_object();
    for (i = 0; i + 1 < fl->elements; i += 2) {
        long long n = atoll(fl->element[i + 1]->str);
        if (n > 0) {
            json_object_set_new(jf, fl->element[i]->str, json_integer(n));
        }
    }

    json_object_set_new(j, "id", json_string(id));
    json_object_set_new(j, "total", json_integer(c.total));
    json_object_set_new(j, "counts", jc);
    json_object_set_new(j, "success_rate",
                        otactl_rate_json(ota_success_rate(&c)));
    json_object_set_new(j, "completion", otactl_rate_json(ota_completion(&c)));
    json_object_set_new(j, "failures", jf);
    json_object_set_new(j, "skipped", jsk);
    /* what the diffs saved (docs/delta.md), 0 before any */
    if (json_object_get(j, OTA_B_BYTES_SAVED) == NULL) {
        json_object_set_new(j, OTA_B_BYTES_SAVED, json_integer(0));
    }
    if (json_object_get(j, OTA_B_DIFF_SUCCEEDED) == NULL) {
        json_object_set_new(j, OTA_B_DIFF_SUCCEEDED, json_integer(0));
    }
    if (ota_rollout_json(&rv, &c, j) != 0) {
        json_decref(j);
        j = NULL;
        otactl_fail("out of memory");
    }

    freeReplyObject(b);
    freeReplyObject(cnt);
    freeReplyObject(fl);
    freeReplyObject(wv);
    return j;
}

/* every device of the batch with its task state and delivered percent */
static json_t *
otactl_batch_devices(otactl_t *o, const char *id)
{
    json_t      *ja = json_array();
    redisReply  *d;
    long long    start = 0, bsize;
    size_t       i;

    if (ja == NULL || otactl_connect(o) != 0) {
        json_decref(ja);
        return NULL;
    }
    /* the tasks' view columns (ota_task_columns.h), one HMGET per column
     * and page of devices; a device without a state is pending, its size
     * is the batch's */
    redisReply         *c[OTA_TCOL_VIEW_N];
    const char        **av = NULL;
    size_t             *al = NULL;
    char                key[256];
    int                 k;

    d = otactl_cmd(o, "HGET " OTA_KEY_BATCH " size", id);
    if (d == NULL) {
        json_decref(ja);
        return NULL;
    }
    bsize = ota_reply_ll(d, 0);
    freeReplyObject(d);
    for ( ;; ) {
        d = otactl_cmd(o, "ZRANGE " OTA_KEY_BATCH_DEVICES " %lld %lld", id,
                       start, start + 999);
        if (d == NULL) {
            json_decref(ja);
            return NULL;
        }
        if (d->elements == 0) {
            freeReplyObject(d);
            break;
        }
        free(av);
        free(al);
        av = malloc((d->elements + 2) * sizeof(char *));
        al = malloc((d->elements + 2) * sizeof(size_t));
        if (av == NULL || al == NULL) {
            freeReplyObject(d);
            json_decref(ja);
            ja = NULL;
            otactl_fail("out of memory");
            break;
        }
        av[0] = "HMGET";
        al[0] = 5;
        for (i = 0; i < d->elements; i++) {
            av[i + 2] = d->element[i]->str;
            al[i + 2] = d->element[i]->len;
        }
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            snprintf(key, sizeof(key), ota_task_columns[k].key, id);
            av[1] = key;
            al[1] = strlen(key);
            redisAppendCommandArgv(o->rc, (int) d->elements + 2, av, al);
        }
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            c[k] = ota_redis_reply(o->rc);
        }
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            if (c[k] == NULL || c[k]->type != REDIS_REPLY_ARRAY
                || c[k]->elements != d->elements)
            {
                for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
                    freeReplyObject(c[k]);
                }
                freeReplyObject(d);
                json_decref(ja);
                otactl_fail("Redis: %s", o->rc->err ? o->rc->errstr
                                                    : "unexpected reply");
                ja = NULL;
                goto done;
            }
        }
        for (i = 0; i < d->elements; i++) {
            long long   cov, sz;
            double      pr;
            json_t     *jd;
            redisReply *st = c[OTA_TCOL_STATE]->element[i],
                       *rs = c[OTA_TCOL_REASON]->element[i],
                       *sp = c[OTA_TCOL_STEP]->element[i];

            cov = ota_reply_ll(c[OTA_TCOL_COVERED]->element[i], 0);
            /* a task on a diff: covered counts the diff's bytes */
            sz = ota_reply_ll(c[OTA_TCOL_PSIZE]->element[i], bsize);
            pr = ota_progress_percent(cov, sz);
            jd = json_pack("{s:s, s:s, s:f, s:I, s:I}",
                           "device", d->element[i]->str,
                           "state", st->type == REDIS_REPLY_STRING
                                    ? st->str
                                    : ota_task_columns[OTA_TCOL_STATE].dflt,
                           "progress", pr, "covered", (json_int_t) cov,
                           "size", (json_int_t) sz);
            if (jd != NULL && rs->type == REDIS_REPLY_STRING && rs->len) {
                json_object_set_new(jd, "reason", json_string(rs->str));
            }
            if (jd != NULL && sp->type == REDIS_REPLY_STRING && sp->len) {
                json_object_set_new(jd, "step", json_integer(atoi(sp->str)));
            }
            if (jd != NULL && c[OTA_TCOL_PKG]->element[i]->type
                              == REDIS_REPLY_STRING)
            {
                json_object_set_new(jd, "package",
                    json_string(c[OTA_TCOL_PKG]->element[i]->str));
            }
            json_array_append_new(ja, jd);
        }
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            freeReplyObject(c[k]);
        }
        start += d->elements;
        freeReplyObject(d);
    }
done:
    free(av);
    free(al);
    return ja;
}

/* a percentage field of the JSON (a number or null) as text */
static const char *
otactl_pct(json_t *v, char *buf, size_t len)
{
    if (!json_is_number(v)) {
        return NULL;
    }
    snprintf(buf, len, "%g %%", json_number_value(v));
    return buf;
}

/* the rollout's lines and its waves as a table */
static void
otactl_batch_rollout_print(json_t *j)
{
    json_t      *w = json_object_get(j, "waves"), *v, *c, *ab;
    const char  *s;
    char         p1[32], p2[32], t[32], n[7][24];
    size_t       i;

    if (json_integer_value(json_object_get(j, "start_at")) > 0) {
        printf("start at:     %s\n", otactl_time(json_integer_value(
               json_object_get(j, "start_at")), t, sizeof(t)));
    }
    if (json_integer_value(json_object_get(j, "started")) > 0) {
        printf("started:      %s\n", otactl_time(json_integer_value(
               json_object_get(j, "started")), t, sizeof(t)));
    }
    if (json_is_integer(json_object_get(j, "timeout"))) {
        printf("task timeout: %lld min\n",
               (long long) json_integer_value(json_object_get(j, "timeout")));
    }
    if (otactl_pct(json_object_get(j, "error_threshold"), p2, sizeof(p2))) {
        printf("error threshold: more than %s of a wave failed pauses the "
               "batch\n", p2);
    }
    v = json_object_get(j, "rate");
    if (json_is_object(v)) {
        c = json_object_get(v, "ramp");
        printf("rate:         %lld devices newly offered per minute now, at "
               "most %lld", (long long) json_integer_value(json_object_get(v,
               "now")), (long long) json_integer_value(json_object_get(v,
               "max_per_minute")));
        if (json_is_object(c)) {
            printf(" (ramp from %lld, x%g each time as many succeeded)",
                   (long long) json_integer_value(json_object_get(c, "base")),
                   json_number_value(json_object_get(c, "factor")));
        }
        printf("\n");
    }
    ab = json_object_get(j, "abort");
    if (json_is_object(ab)) {
        printf("abort rule:   %s failed of at least %lld finished\n",
               otactl_pct(json_object_get(ab, "failure_rate"), p1,
                          sizeof(p1)),
               (long long) json_integer_value(json_object_get(ab, "min")));
        if ((s = json_string_value(json_object_get(ab, "reason"))) != NULL) {
            printf("aborted:      %s\n", s);
        }
    }
    if ((s = json_string_value(json_object_get(j, "pause_reason"))) != NULL) {
        printf("paused:       %s\n", s);
    }
    if (json_array_size(w) == 0) {
        return;
    }
    printf("waves:        %zu, the next opens at %s succeeded of a wave; "
           "wave %lld open\n\n", json_array_size(w),
           otactl_pct(json_object_get(j, "success_threshold"), p1,
                      sizeof(p1)) ? p1 : "100 %",
           (long long) json_integer_value(json_object_get(j, "wave")));

    otactl_table_t  tb;

    otactl_table_init(&tb, 9, "WAVE", "DEVICES", "STATE", "PENDING",
                      "ACTIVE", "SUCCEEDED", "FAILED", "CANCELLED", "OPENED");
    json_array_foreach(w, i, v) {
        c = json_object_get(v, "counts");
#define C(k) ((long long) json_integer_value(json_object_get(c, k)))
        snprintf(n[0], sizeof(n[0]), "%lld",
                 (long long) json_integer_value(json_object_get(v, "wave")));
        snprintf(n[1], sizeof(n[1]), "%lld",
                 (long long) json_integer_value(json_object_get(v, "devices")));
        snprintf(n[2], sizeof(n[2]), "%lld", C(OTA_ST_PENDING));
        snprintf(n[3], sizeof(n[3]), "%lld", C(OTA_ST_NOTIFIED)
                 + C(OTA_ST_DOWNLOADING) + C(OTA_ST_DOWNLOADED)
                 + C(OTA_ST_INSTALLING));
        snprintf(n[4], sizeof(n[4]), "%lld", C(OTA_ST_SUCCEEDED));
        snprintf(n[5], sizeof(n[5]), "%lld", C(OTA_ST_FAILED));
        snprintf(n[6], sizeof(n[6]), "%lld", C(OTA_ST_CANCELLED));
#undef C
        otactl_table_row(&tb, n[0], n[1],
            json_string_value(json_object_get(v, "state")), n[2], n[3], n[4],
            n[5], n[6], json_is_integer(json_object_get(v, "opened"))
                  ? otactl_time(json_integer_value(json_object_get(v,
                                "opened")), t, sizeof(t)) : "-");
    }
    otactl_table_print(&tb, stdout);
    otactl_table_free(&tb);
}

static int
otactl_batch_show(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "devices", OTACTL_FLAG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *id, *k;
    json_t       *j, *jd = NULL, *v, *c;
    int           rc, missing, s;
    size_t        i;
    char          r1[16], r2[16], t1[32], t2[32];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "batch show")) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("batch show needs exactly one batch id");
    }
    id = pos.pos[0];
    if (!ota_name_id(id, strlen(id))) {
        return otactl_fail("invalid batch id \"%s\"", id);
    }
    rc = OTACTL_FAIL;
    j = o->api ? otactl_api_batch_json(o, id, &missing, &rc)
               : otactl_batch_json(o, id, &missing);
    if (j == NULL) {
        return missing ? otactl_fail("no batch %s", id) : rc;
    }
    if (otactl_opt(opts, "devices")) {
        if (o->api) {
            char  path[128];

            snprintf(path, sizeof(path), "batches/%s/devices", id);
            rc = otactl_api_all(o, path, "devices", 0, &jd);
        } else {
            jd = otactl_batch_devices(o, id);
        }
        if (jd == NULL) {
            json_decref(j);
            return rc;
        }
        json_object_set(j, "devices", jd);
    }
    if (o->json) {
        json_decref(jd);
        otactl_print_json(j);
        return OTACTL_OK;
    }

#define S(n) (json_string_value(json_object_get(j, n)) \
              ? json_string_value(json_object_get(j, n)) : "")
#define N(o, n) ((long long) json_integer_value(json_object_get(o, n)))
#define R(n) (json_is_null(json_object_get(j, n)) ? -1.0 \
              : json_number_value(json_object_get(j, n)))
    printf("batch:        %s (%s)\n", id, S("name"));
    printf("type:         %s, %s, %s%s\n", S("type"), S("method"),
           S("protocol"), json_is_true(json_object_get(j, "push"))
           ? ", active push" : "");
    printf("package:      %s (%s %s)\n", S("package"), S("module"),
           S("version"));
    if (S("from_version")[0]) {
        printf("from version: %s\n", S("from_version"));
    }
    printf("state:        %s\n", S("state"));
    printf("created:      %s\n", otactl_time(N(j, "created"), t1, sizeof(t1)));
    if (N(j, "finished") > 0) {
        printf("finished:     %s\n",
               otactl_time(N(j, "finished"), t2, sizeof(t2)));
    }
    printf("total:        %lld\n", N(j, "total"));
    c = json_object_get(j, "counts");
    printf("counts:      ");
    for (s = 0; s < OTA_TS_COUNT; s++) {
        printf(" %s %lld", ota_task_state_name(s),
               N(c, ota_task_state_name(s)));
    }
    printf("\nsuccess rate: %s\ncompletion:   %s\n",
           otactl_rate_str(R("success_rate"), r1, sizeof(r1)),
           otactl_rate_str(R("completion"), r2, sizeof(r2)));
    if (json_object_size(json_object_get(j, "failures")) > 0) {
        printf("failures:    ");
        json_object_foreach(json_object_get(j, "failures"), k, v) {
            printf(" %s %lld", k, (long long) json_integer_value(v));
        }
        printf("\n");
    }
    v = json_object_get(j, "skipped");
    if (N(v, "current") + N(v, "busy") + N(v, "version") > 0) {
        printf("skipped:      %lld at the target version, %lld with an open "
               "task, %lld at another version\n", N(v, "current"),
               N(v, "busy"), N(v, "version"));
    }
    if (N(j, "diff_succeeded") > 0) {
        printf("deltas:       %lld bytes saved by %lld devices that upgraded "
               "with a diff\n", N(j, "bytes_saved"), N(j, "diff_succeeded"));
    }
    otactl_batch_rollout_print(j);
    if (jd != NULL) {
        otactl_table_t  tb;
        char            pr[16];

        printf("\n");
        otactl_table_init(&tb, 4, "DEVICE", "STATE", "PROGRESS", "REASON");
        json_array_foreach(jd, i, v) {
            /* two decimals, as computed: 99.99 stays below 100 */
            snprintf(pr, sizeof(pr), "%.2f%%",
                     json_number_value(json_object_get(v, "progress")));
            otactl_table_row(&tb, json_string_value(json_object_get(v, "device")),
                json_string_value(json_object_get(v, "state")), pr,
                json_string_value(json_object_get(v, "reason")));
        }
        otactl_table_print(&tb, stdout);
        otactl_table_free(&tb);
        json_decref(jd);
    }
#undef S
#undef R
    json_decref(j);
    return OTACTL_OK;
}

static int
otactl_batch_list(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "package", OTACTL_ARG, 0, 0, 0 },
                               { "product", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *pkg, *prod;
    redisReply     *ids;
    otactl_table_t  tb;
    json_t         *ja, *j, *all = NULL;
    size_t          i, n;
    int             rc, missing;
    char            tot[24], ok[24], fl[24], r1[16], r2[16];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "batch list")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("batch list takes no arguments");
    }
    pkg = otactl_opt(opts, "package");
    prod = otactl_opt(opts, "product");
    if (pkg != NULL && !ota_name_id(pkg, strlen(pkg))) {
        return otactl_fail("invalid package id \"%s\"", pkg);
    }
    if (prod != NULL && !ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    ids = NULL;
    if (o->api) {
        /* the API's pages are newest first; otactl lists oldest first */
        rc = otactl_api_all(o, "batches", "batches", 0, &all);
        if (rc != OTACTL_OK) {
            return rc;
        }
        n = json_array_size(all);
    } else {
        ids = otactl_cmd(o, "ZRANGE " OTA_KEY_BATCHES " 0 -1");
        if (ids == NULL) {
            return OTACTL_FAIL;
        }
        n = ids->elements;
    }
    ja = json_array();
    otactl_table_init(&tb, 10, "ID", "NAME", "TYPE", "PACKAGE", "STATE",
                      "TOTAL", "SUCCEEDED", "FAILED", "SUCCESS", "COMPLETION");
    for (i = 0; i < n; i++) {
        if (all != NULL) {
            /* each batch as batch show reads it (the list's items lack
             * the rollout's fields) */
            j = otactl_api_batch_json(o, json_string_value(json_object_get(
                    json_array_get(all, n - 1 - i), "id")), &missing, &rc);
        } else {
            j = otactl_batch_json(o, ids->element[i]->str, &missing);
        }
        if (j == NULL) {
            continue;
        }
#define S(n) (json_string_value(json_object_get(j, n)) \
              ? json_string_value(json_object_get(j, n)) : "")
#define R(n) (json_is_null(json_object_get(j, n)) ? -1.0 \
              : json_number_value(json_object_get(j, n)))
        if ((pkg && strcmp(S("package"), pkg) != 0)
            || (prod && strcmp(S("product"), prod) != 0))
        {
            json_decref(j);
            continue;
        }
        snprintf(tot, sizeof(tot), "%lld", N(j, "total"));
        snprintf(ok, sizeof(ok), "%lld",
                 N(json_object_get(j, "counts"), "succeeded"));
        snprintf(fl, sizeof(fl), "%lld",
                 N(json_object_get(j, "counts"), "failed"));
        otactl_table_row(&tb, S("id"), S("name"), S("type"), S("package"),
                         S("state"), tot, ok, fl,
                         otactl_rate_str(R("success_rate"), r1, sizeof(r1)),
                         otactl_rate_str(R("completion"), r2, sizeof(r2)));
#undef S
#undef R
        json_array_append_new(ja, j);
    }
    freeReplyObject(ids);
    json_decref(all);
    return otactl_list_print(o, ja, &tb);
}
#undef N

int
otactl_batch(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("batch needs a verb: create, show, list, pause, "
                            "resume, cancel");
    }
    if (strcmp(argv[0], "create") == 0) {
        return otactl_batch_create(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "show") == 0) {
        return otactl_batch_show(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "list") == 0) {
        return otactl_batch_list(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "pause") == 0) {
        return otactl_batch_op(o, "pause", OTA_JOB_BATCH_PAUSE, argc - 1,
                               argv + 1);
    }
    if (strcmp(argv[0], "resume") == 0) {
        return otactl_batch_op(o, "resume", OTA_JOB_BATCH_RESUME, argc - 1,
                               argv + 1);
    }
    if (strcmp(argv[0], "cancel") == 0) {
        return otactl_batch_op(o, "cancel", OTA_JOB_BATCH_CANCEL, argc - 1,
                               argv + 1);
    }
    return otactl_usage("unknown verb \"batch %s\" (create, show, list, "
                        "pause, resume, cancel)", argv[0]);
}
