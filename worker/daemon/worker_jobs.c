/*
 * Admin jobs from otactl: batch_create, batch_pause, batch_resume,
 * batch_cancel (package_diff in worker_diff.c).  Each job ends with one JSON reply on its reply list and
 * its XACK (worker_jobs.h: a job runs in steps).
 *
 * Creating a batch is resumable: the batch record remembers where task
 * creation stands (its cursor), each chunk of tasks and the cursor after it
 * are written by one script, and a task that exists is never made twice.
 * A worker that dies midway leaves the job pending; whoever reads it again
 * continues from the cursor.
 */

#include "worker_jobs.h"
#include "worker_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_version.h"


static const char *
ota_job_f(redisReply *f, const char *name)
{
    const char  *v = ota_entry_field(f, name);

    return v ? v : "";
}

/* runs a script that answers {status, ...} or {"error", reason} and frees
 * c; *refused when it refused (the job's error reply is sent, its rc is
 * returned); OTA_W_RETRY when Redis did not answer */
static int
ota_job_script(ota_worker_t *w, ota_job_t *j, ota_lua_id_t id, ota_cmd_t *c,
    int *refused)
{
    redisReply  *r;
    int          rc = OTA_W_OK;

    *refused = 0;
    r = ota_pipe_script(&w->pipe, ota_lua(id), c);
    ota_cmd_free(c);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    if (strcmp(ota_reply_str(r->element[0]), "error") == 0) {
        *refused = 1;
        rc = ota_job_error(w, j, "%s", ota_reply_str(r->element[1]));
    }
    freeReplyObject(r);
    return rc;
}

/* ---- checks ------------------------------------------------------------------ */

static int
ota_job_check(ota_worker_t *w, ota_job_run_t *run, int *refused)
{
    ota_job_t     *j = &run->j;
    ota_version_t  v;
    const char    *p, *q;
    char           err[OTA_ROLLOUT_ERR_MAX];

    *refused = 1;
    if (!ota_name_id(j->id, strlen(j->id))) {
        return ota_job_error(w, j, "invalid batch id \"%s\"", j->id);
    }
    if (!ota_name_id(j->package, strlen(j->package))) {
        return ota_job_error(w, j, "invalid package id \"%s\"", j->package);
    }
    if (strcmp(j->btype, "verify") && strcmp(j->btype, "upgrade")) {
        return ota_job_error(w, j, "invalid batch type \"%s\"", j->btype);
    }
    if (j->name[0] == '\0') {
        return ota_job_error(w, j, "a batch needs a name");
    }
    if (j->from_version[0]
        && ota_version_parse_cstr(j->from_version, &v) != 0)
    {
        return ota_job_error(w, j, "invalid from version \"%s\"",
                             j->from_version);
    }
    if (strcmp(j->protocol, "http") && strcmp(j->protocol, "https")
        && strcmp(j->protocol, "mqtt"))
    {
        return ota_job_error(w, j, "invalid protocol \"%s\"", j->protocol);
    }
    if (strcmp(j->method, "static") && strcmp(j->method, "dynamic")) {
        return ota_job_error(w, j, "invalid method \"%s\"", j->method);
    }
    if (strcmp(j->btype, "verify") == 0) {
        if (j->devices[0] == '\0') {
            return ota_job_error(w, j, "a verify batch needs a device list");
        }
        if (strcmp(j->method, "dynamic") == 0) {
            return ota_job_error(w, j, "a verify batch cannot be dynamic");
        }
        for (p = j->devices; ; p = q + 1) {
            q = strchr(p, ',');
            size_t l = q ? (size_t) (q - p) : strlen(p);
            if (!ota_name_device(p, l)) {
                return ota_job_error(w, j, "invalid device \"%.*s\"",
                                     (int) l, p);
            }
            if (q == NULL) {
                break;
            }
        }
    } else if (j->devices[0]) {
        return ota_job_error(w, j, "an upgrade batch takes every device of "
                             "the product, not a list");
    }
    /* a job may come from anywhere: the producer's checks again (but a
     * start time that passed while the job waited starts the batch now) */
    if (ota_rollout_check(&j->ro, 0, ota_now_ms(), &run->rollout, err,
                          sizeof(err)) != 0)
    {
        return ota_job_error(w, j, "%s", err);
    }
    *refused = 0;
    return OTA_W_OK;
}

/* every listed device must exist and belong to the package's product */
static int
ota_job_verify_devices(ota_worker_t *w, ota_job_t *j, int *refused)
{
    redisReply  *p, *r;
    const char  *s, *q;
    char         dev[OTA_NAME_MAX + 1], product[OTA_NAME_MAX + 1];
    size_t       nd = 0, i;
    int          rc = OTA_W_OK;

    *refused = 0;
    p = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_PACKAGE " product", j->package);
    if (p == NULL) {
        return OTA_W_RETRY;
    }
    if (p->type != REDIS_REPLY_STRING) {
        freeReplyObject(p);
        *refused = 1;
        return ota_job_error(w, j, "no package %s", j->package);
    }
    snprintf(product, sizeof(product), "%s", p->str);
    freeReplyObject(p);

    for (s = j->devices; ; s = q + 1) {
        q = strchr(s, ',');
        snprintf(dev, sizeof(dev), "%.*s",
                 (int) (q ? (size_t) (q - s) : strlen(s)), s);
        if (ota_pipe_append(&w->pipe, "HGET " OTA_KEY_DEVICE " product", dev)
            != 0)
        {
            return OTA_W_RETRY;
        }
        nd++;
        if (q == NULL) {
            break;
        }
    }
    s = j->devices;
    for (i = 0; i < nd; i++) {
        q = strchr(s, ',');
        snprintf(dev, sizeof(dev), "%.*s",
                 (int) (q ? (size_t) (q - s) : strlen(s)), s);
        s = q ? q + 1 : s;
        r = ota_pipe_reply(&w->pipe);
        if (r == NULL) {
            return OTA_W_RETRY;
        }
        if (!*refused && (r->type != REDIS_REPLY_STRING
                          || strcmp(r->str, product) != 0))
        {
            *refused = 1;
            rc = ota_job_error(w, j, r->type == REDIS_REPLY_STRING
                               ? "device %s belongs to product %s, not %s"
                               : "no device %s%.0s in product %s", dev,
                               r->type == REDIS_REPLY_STRING ? r->str : "",
                               product);
        }
        freeReplyObject(r);
    }
    return rc;
}

/* ---- batch_create --------------------------------------------------------- */

static void
ota_job_cmd_kv(void *ctx, const char *k, const char *v)
{
    ota_cmd_adds(ctx, k);
    ota_cmd_adds(ctx, v);
}

/* which set the creation walks: the job's list (verify), else the
 * devices at the source version when one is known, else the product's */
static int
ota_job_create_begin(ota_worker_t *w, ota_job_run_t *run, const char *cursor)
{
    ota_job_t   *j = &run->j;
    redisReply  *b, *s;

    run->phase = OTA_JOB_CREATE;
    run->t0 = ota_now_ms();
    run->last_keep = run->t0;
    snprintf(run->cursor, sizeof(run->cursor), "%s", cursor[0] ? cursor : "0");
    if (strcmp(j->btype, "verify") == 0) {
        run->list = j->devices;
        return OTA_JOB_MORE;
    }
    b = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_BATCH " product module "
                     "from_version", j->id);
    s = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_PACKAGE " type from",
                     j->package);
    if (b == NULL || s == NULL || b->type != REDIS_REPLY_ARRAY
        || s->type != REDIS_REPLY_ARRAY)
    {
        freeReplyObject(b);
        freeReplyObject(s);
        return OTA_W_RETRY;
    }
    const char *prod = ota_reply_str(b->element[0]);
    const char *mod = ota_reply_str(b->element[1]);
    const char *from = ota_reply_str(b->element[2]);
    if (strcmp(ota_reply_str(s->element[0]), "diff") == 0) {
        from = ota_reply_str(s->element[1]);
    }
    if (from[0]) {
        snprintf(run->src, sizeof(run->src), OTA_KEY_VERSION_SET, prod, mod,
                 from);
    } else {
        snprintf(run->src, sizeof(run->src), OTA_KEY_PRODUCT_DEVICES, prod);
    }
    freeReplyObject(b);
    freeReplyObject(s);
    return OTA_JOB_MORE;
}

/* the arguments of the next chunk from the job's list (the cursor: how
 * many list entries are done); next: the cursor after it */
static void
ota_job_list_chunk(ota_worker_t *w, ota_job_run_t *run, ota_cmd_t *c,
    char *next, size_t nextlen)
{
    const char  *p, *q;
    long long    idx = atoll(run->cursor);
    size_t       i;

    for (p = run->list, i = 0; *p && (long long) i < idx; p++) {
        if (*p == ',') {
            i++;
        }
    }
    /* the cursor after the chunk goes first: count the chunk's entries */
    q = p;
    for (i = 0; *q && i < (size_t) w->chunk; i++) {
        const char *e = strchr(q, ',');
        q = e ? e + 1 : q + strlen(q);
    }
    if (*q) {
        snprintf(next, nextlen, "%lld", idx + (long long) i);
    } else {
        snprintf(next, nextlen, "end");
    }
    ota_cmd_adds(c, next);
    for (i = 0; *p && i < (size_t) w->chunk; i++) {
        q = strchr(p, ',');
        ota_cmd_add(c, p, q ? (size_t) (q - p) : strlen(p));
        p = q ? q + 1 : p + strlen(p);
    }
}

/* one chunk of tasks: from the job's list, or one SSCAN page of the set */
static int
ota_job_create_chunk(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *s = NULL, *r = NULL;
    ota_cmd_t    c;
    char         next[64];
    size_t       i;
    int          rc = OTA_JOB_MORE;

    ota_cmd_init(&c);
    ota_cmd_adds(&c, j->id);
    ota_cmd_addll(&c, (long long) ota_now_ms());

    if (run->list != NULL) {
        ota_job_list_chunk(w, run, &c, next, sizeof(next));
        r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_CREATE_CHUNK), &c);

    } else {
        s = run->pre != NULL ? run->pre
            : ota_pipe_cmd(&w->pipe, "SSCAN %s %s COUNT %d", run->src,
                           run->cursor, w->chunk);
        run->pre = NULL;
        if (s == NULL || s->type != REDIS_REPLY_ARRAY || s->elements != 2) {
            freeReplyObject(s);
            ota_cmd_free(&c);
            return OTA_W_RETRY;
        }
        snprintf(next, sizeof(next), "%s", ota_reply_str(s->element[0]));
        if (strcmp(next, "0") == 0) {
            strcpy(next, "end");
        }
        ota_cmd_adds(&c, next);
        for (i = 0; i < s->element[1]->elements; i++) {
            ota_cmd_add(&c, s->element[1]->element[i]->str,
                        s->element[1]->element[i]->len);
        }
        if (strcmp(next, "end") != 0) {
            /* the next page is read while Redis runs this chunk: Redis
             * never waits for us between a page and its chunk */
            if (ota_pipe_append_script(&w->pipe,
                                       ota_lua(OTA_LUA_CREATE_CHUNK), &c) == 0
                && ota_pipe_append(&w->pipe, "SSCAN %s %s COUNT %d", run->src,
                                   next, w->chunk) == 0)
            {
                r = ota_pipe_reply(&w->pipe);
                run->pre = ota_pipe_reply(&w->pipe);
            }
            if (r != NULL && r->type == REDIS_REPLY_ERROR
                && strncmp(r->str, "NOSCRIPT", 8) == 0)
            {
                freeReplyObject(r);
                r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_CREATE_CHUNK),
                                    &c);
            }
            if (run->pre != NULL && run->pre->type != REDIS_REPLY_ARRAY) {
                freeReplyObject(run->pre);
                run->pre = NULL;        /* read again, unpipelined */
            }
        } else {
            r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_CREATE_CHUNK), &c);
        }
        freeReplyObject(s);
    }
    ota_cmd_free(&c);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    if (strcmp(ota_reply_str(r->element[0]), "ok") != 0) {
        /* cancelled (or removed) while being created: stop here */
        strcpy(next, "end");
    } else if (r->elements >= 2) {
        run->made += r->element[1]->integer;
    }
    freeReplyObject(r);
    snprintf(run->cursor, sizeof(run->cursor), "%s", next);

    if (ota_now_ms() - run->last_keep > 1000) {
        run->last_keep = ota_now_ms();
        ota_job_keep(w, j);
    }
    if (ota_pipe_lost(&w->pipe)) {
        rc = OTA_W_RETRY;
    }
    return rc;
}

/* creating -> running (or scheduled), and the job's answer; the wave
 * bounds from the batch's total, which no one changes while it is being
 * created (dynamic batches take devices once running) */
static int
ota_job_create_done(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *f;
    ota_cmd_t    c;
    long long    bound[OTA_WAVES_MAX];
    char         bounds[OTA_WAVES_MAX * 12];
    int          rc, nb = 0;

    if (run->rollout.waves.n > 0) {
        f = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_BATCH " total", j->id);
        if (f == NULL) {
            return OTA_W_RETRY;
        }
        nb = ota_waves_bounds(&run->rollout.waves, ota_reply_ll(f, 0),
                              strcmp(j->method, "dynamic") == 0, bound);
        freeReplyObject(f);
    }
    ota_waves_bounds_format(bound, nb, bounds, sizeof(bounds));

    ota_cmd_init(&c);
    ota_cmd_adds(&c, j->id);
    ota_cmd_addll(&c, (long long) ota_now_ms());
    ota_cmd_adds(&c, bounds);
    f = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_CREATE_FINISH), &c);
    ota_cmd_free(&c);
    if (f == NULL || f->type != REDIS_REPLY_ARRAY || f->elements < 5) {
        freeReplyObject(f);
        return OTA_W_RETRY;
    }
    ota_log(OTA_LOG_INFO, "batch %s (%s of %s): %s tasks in %lld ms, state "
            "%s", j->id, j->btype, j->package, ota_reply_str(f->element[1]),
            (long long) (ota_now_ms() - run->t0),
            ota_reply_str(f->element[0]));
    rc = ota_job_reply(w, j, json_pack("{s:b, s:s, s:s, s:I, s:{s:I, s:I, s:I}}",
        "ok", 1, "id", j->id, "state", ota_reply_str(f->element[0]),
        "total", (json_int_t) ota_reply_ll(f->element[1], 0), "skipped",
        "current", (json_int_t) ota_reply_ll(f->element[2], 0),
        "busy", (json_int_t) ota_reply_ll(f->element[3], 0),
        "version", (json_int_t) ota_reply_ll(f->element[4], 0)));
    freeReplyObject(f);
    return rc;
}

static int
ota_job_create(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *r;
    ota_cmd_t    c;
    char         push[2], cursor[64];
    int          rc, refused, exists;

    run->t0 = ota_now_ms();
    rc = ota_job_check(w, run, &refused);
    if (refused) {
        return rc;
    }

    r = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_BATCH " state cursor", j->id);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    exists = r->element[0]->type == REDIS_REPLY_STRING;
    freeReplyObject(r);

    if (!exists) {
        if (j->expires > 0 && ota_now_ms() > j->expires) {
            return ota_job_error(w, j, "job expired before a worker read it "
                                 "(otactl gave up waiting); nothing done");
        }
        if (strcmp(j->btype, "verify") == 0) {
            rc = ota_job_verify_devices(w, j, &refused);
            if (refused || rc != OTA_W_OK) {
                return rc;
            }
        }
        snprintf(push, sizeof(push), "%s", strcmp(j->push, "1") ? "0" : "1");
        ota_cmd_init(&c);
        ota_cmd_adds(&c, j->id);
        ota_cmd_adds(&c, j->package);
        ota_cmd_adds(&c, j->btype);
        ota_cmd_adds(&c, j->name);
        ota_cmd_adds(&c, j->from_version);
        ota_cmd_adds(&c, j->protocol);
        ota_cmd_adds(&c, j->method);
        ota_cmd_adds(&c, push);
        ota_cmd_addll(&c, (long long) ota_now_ms());
        ota_cmd_adds(&c, j->job);
        ota_rollout_fields(&run->rollout, ota_job_cmd_kv, &c);
        rc = ota_job_script(w, j, OTA_LUA_BATCH_INIT, &c, &refused);
        if (refused || rc != OTA_W_OK) {
            return rc;
        }
    }

    /* resume (or start) task creation from the stored cursor */
    r = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_BATCH " state cursor", j->id);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    if (strcmp(ota_reply_str(r->element[0]), OTA_BATCH_CREATING) == 0) {
        snprintf(cursor, sizeof(cursor), "%s", ota_reply_str(r->element[1]));
        freeReplyObject(r);
        return ota_job_create_begin(w, run, cursor);
    }
    freeReplyObject(r);
    return ota_job_create_done(w, run);
}

/* ---- pause, resume, cancel --------------------------------------------------- */

/* the job's answer: the batch's state now */
static int
ota_job_state_done(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *r;
    int          rc;

    r = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_BATCH " state total", j->id);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    ota_log(OTA_LOG_INFO, "batch %s: %s -> %s", j->id, run->op,
            ota_reply_str(r->element[0]));
    rc = ota_job_reply(w, j, json_pack("{s:b, s:s, s:s, s:I}", "ok", 1,
                       "id", j->id, "state", ota_reply_str(r->element[0]),
                       "total", (json_int_t) ota_reply_ll(r->element[1], 0)));
    freeReplyObject(r);
    return rc;
}

static int
ota_job_state(ota_worker_t *w, ota_job_run_t *run, const char *op)
{
    ota_job_t   *j = &run->j;
    redisReply  *r;
    ota_cmd_t    c;
    int          rc, refused;

    run->op = op;
    if (!ota_name_id(j->id, strlen(j->id))) {
        return ota_job_error(w, j, "invalid batch id \"%s\"", j->id);
    }
    r = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_BATCH " state", j->id);
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    if (r->type == REDIS_REPLY_STRING
        && strcmp(r->str, OTA_BATCH_CREATING) == 0
        && strcmp(op, "cancel") != 0)
    {
        freeReplyObject(r);
        return ota_job_error(w, j, "batch %s is still being created; try "
                             "again in a moment", j->id);
    }
    freeReplyObject(r);

    if (j->expires > 0 && ota_now_ms() > j->expires) {
        return ota_job_error(w, j, "job expired before a worker read it; "
                             "nothing done");
    }

    ota_cmd_init(&c);
    ota_cmd_adds(&c, j->id);
    ota_cmd_adds(&c, op);
    ota_cmd_addll(&c, (long long) ota_now_ms());
    rc = ota_job_script(w, j, OTA_LUA_BATCH_STATE, &c, &refused);
    if (refused || rc != OTA_W_OK) {
        return rc;
    }
    if (strcmp(op, "cancel") == 0) {
        /* the state is cancelled first, so no chunk of creation and no
         * dynamic join adds a task behind us; then every open task, a
         * chunk per step */
        run->phase = OTA_JOB_CANCEL;
        run->start = 0;
        return OTA_JOB_MORE;
    }
    return ota_job_state_done(w, run);
}

/* one slice of the cancelled batch's tasks */
static int
ota_job_cancel_chunk(ota_worker_t *w, ota_job_run_t *run)
{
    redisReply  *r;
    ota_cmd_t    c;
    long long    n;

    ota_cmd_init(&c);
    ota_cmd_adds(&c, run->j.id);
    ota_cmd_addll(&c, (long long) ota_now_ms());
    ota_cmd_addll(&c, run->start);
    ota_cmd_addll(&c, w->chunk);
    r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_CANCEL_CHUNK), &c);
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    n = r->integer;
    freeReplyObject(r);
    if (n < w->chunk) {
        return OTA_W_OK;
    }
    run->start += n;
    ota_job_keep(w, &run->j);
    return OTA_JOB_MORE;
}

/* ---- a job, in steps ----------------------------------------------------------- */

/* a finished job's entry is acknowledged */
static int
ota_job_ack(ota_worker_t *w, ota_job_run_t *run, int rc)
{
    redisReply  *r;

    if (rc != OTA_W_OK) {
        return rc;
    }
    r = ota_pipe_cmd(&w->pipe, "XACK " OTA_STREAM_JOBS " " OTA_GROUP " %s",
                     run->j.entry_id);
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    freeReplyObject(r);
    return OTA_W_OK;
}

int
ota_jobs_start(ota_worker_t *w, redisReply *entry, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *f;
    int          rc;

    memset(run, 0, sizeof(*run));
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) {
        return OTA_W_OK;
    }
    j->entry_id = entry->element[0]->str;
    f = entry->element[1];
    j->type = ota_job_f(f, OTA_F_TYPE);
    j->job = ota_job_f(f, OTA_F_JOB);
    j->id = ota_job_f(f, OTA_F_ID);
    j->package = ota_job_f(f, OTA_F_PACKAGE);
    j->btype = ota_job_f(f, OTA_F_BTYPE);
    j->name = ota_job_f(f, OTA_F_NAME);
    j->devices = ota_job_f(f, OTA_F_DEVICES);
    j->from_version = ota_job_f(f, OTA_F_FROM_VERSION);
    j->protocol = ota_job_f(f, OTA_F_PROTOCOL);
    j->method = ota_job_f(f, OTA_F_METHOD);
    j->push = ota_job_f(f, OTA_F_PUSH);
    j->expires = atoll(ota_job_f(f, OTA_F_EXPIRES));
    j->diff_from = ota_job_f(f, OTA_F_DIFF_FROM);
    j->level = ota_job_f(f, OTA_F_DIFF_LEVEL);
    j->max_ratio = ota_job_f(f, OTA_F_DIFF_RATIO);
    j->desc = ota_job_f(f, OTA_F_DIFF_DESC);
    j->sign_later = ota_job_f(f, OTA_F_SIGN_LATER);
    j->ro.waves = ota_job_f(f, OTA_F_WAVES);
    j->ro.success_threshold = ota_job_f(f, OTA_F_SUCCESS_THRESHOLD);
    j->ro.error_threshold = ota_job_f(f, OTA_F_ERROR_THRESHOLD);
    j->ro.max_per_minute = ota_job_f(f, OTA_F_MAX_PER_MINUTE);
    j->ro.ramp = ota_job_f(f, OTA_F_RAMP);
    j->ro.abort_failure_rate = ota_job_f(f, OTA_F_ABORT_RATE);
    j->ro.abort_min = ota_job_f(f, OTA_F_ABORT_MIN);
    j->ro.start_at = ota_job_f(f, OTA_F_START_AT);
    j->ro.timeout = ota_job_f(f, OTA_F_TIMEOUT);
    if (j->protocol[0] == '\0') {
        j->protocol = "https";
    }
    if (j->method[0] == '\0') {
        j->method = "static";
    }

    if (f->type != REDIS_REPLY_ARRAY) {
        rc = OTA_W_OK;                  /* deleted entry: nothing to do */
    } else if (strcmp(j->type, OTA_JOB_BATCH_CREATE) == 0) {
        rc = ota_job_create(w, run);
    } else if (strcmp(j->type, OTA_JOB_BATCH_PAUSE) == 0) {
        rc = ota_job_state(w, run, "pause");
    } else if (strcmp(j->type, OTA_JOB_BATCH_RESUME) == 0) {
        rc = ota_job_state(w, run, "resume");
    } else if (strcmp(j->type, OTA_JOB_BATCH_CANCEL) == 0) {
        rc = ota_job_state(w, run, "cancel");
    } else if (strcmp(j->type, OTA_JOB_PACKAGE_DIFF) == 0) {
        rc = ota_diff_start(w, run);
    } else {
        rc = ota_job_error(w, j, "unknown job type \"%s\"", j->type);
    }
    return rc == OTA_JOB_MORE ? rc : ota_job_ack(w, run, rc);
}

int
ota_jobs_step(ota_worker_t *w, ota_job_run_t *run)
{
    int  rc;

    if (run->phase == OTA_JOB_DIFF) {
        rc = ota_diff_step(w, run);
        return rc == OTA_JOB_MORE ? rc : ota_job_ack(w, run, rc);
    }

    if (run->phase == OTA_JOB_CANCEL) {
        rc = ota_job_cancel_chunk(w, run);
        if (rc == OTA_W_OK) {
            rc = ota_job_state_done(w, run);
        }
        return rc == OTA_JOB_MORE ? rc : ota_job_ack(w, run, rc);
    }

    if (strcmp(run->cursor, "end") != 0 && !w->stop) {
        rc = ota_job_create_chunk(w, run);
        if (rc != OTA_JOB_MORE || strcmp(run->cursor, "end") != 0) {
            return rc;
        }
    }
    if (strcmp(run->cursor, "end") != 0) {
        ota_log(OTA_LOG_INFO, "stopping in the middle of batch %s: it "
                "resumes from its cursor", run->j.id);
        return OTA_W_RETRY;
    }
    if (run->made > 0) {
        ota_log(OTA_LOG_DEBUG, "batch %s: %lld tasks made", run->j.id,
                run->made);
    }
    return ota_job_ack(w, run, ota_job_create_done(w, run));
}

void
ota_jobs_end(ota_job_run_t *run)
{
    int  i;

    freeReplyObject(run->pre);
    run->pre = NULL;
    if (run->phase == OTA_JOB_DIFF) {
        for (i = 0; i < 2; i++) {
            if (run->fd[i] >= 0) {
                close(run->fd[i]);
            }
        }
        if (run->pid > 0) {             /* not reached: a step waits */
            kill(run->pid, SIGKILL);
            waitpid(run->pid, NULL, 0);
        }
    }
}
