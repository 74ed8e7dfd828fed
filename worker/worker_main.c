/*
 * ota-worker: consumes the job and event streams through the consumer
 * group "ota-workers", creates batches and tasks, runs each task's state
 * machine, keeps the statistics counters, expires stalled tasks.
 *
 *   ota-worker --redis HOST:PORT [--store DIR] [--consumer NAME]
 *              [--config FILE] [--task-timeout SECS] [--claim-idle MS]
 *
 * An entry is acknowledged only after its effect is stored; whatever was
 * read but not acknowledged when the worker died (or Redis went away) is
 * read again by this consumer after a restart, or claimed by another one
 * after --claim-idle.  Every handler is idempotent, so reading twice is
 * harmless.  SIGTERM / SIGINT: finish the entries in hand, then exit 0.
 */

#include "ota_worker.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ota_fields.h"
#include "ota_keys.h"

static ota_worker_t  *ota_the_worker;

static void
ota_worker_signal(int sig)
{
    (void) sig;
    if (ota_the_worker != NULL) {
        ota_the_worker->stop = 1;
    }
}

static void
ota_worker_usage(FILE *f)
{
    fprintf(f,
        "usage: ota-worker --redis HOST:PORT [--store DIR] [--consumer NAME]\n"
        "                  [--config FILE] [--task-timeout SECS]\n"
        "                  [--claim-idle MS] [--chunk N] [--count N]\n"
        "                  [--log-level error|warn|info|debug]\n"
        "See docs/worker.md and conf/worker.conf.\n");
}

static int
ota_worker_set(ota_worker_t *w, const char *k, const char *v, char *err,
    size_t errlen)
{
    if (strcmp(k, "redis") == 0) {
        return ota_redis_parse_addr(v, &w->addr, err, errlen);
    }
    if (strcmp(k, "redis_password") == 0) {
        snprintf(w->addr.password, sizeof(w->addr.password), "%s", v);
        return 0;
    }
    if (strcmp(k, "redis_db") == 0) {
        return ota_config_int(k, v, 0, 1000, &w->addr.db, err, errlen);
    }
    if (strcmp(k, "store") == 0) {
        if (strlen(v) >= sizeof(w->store)) {
            snprintf(err, errlen, "store path too long");
            return -1;
        }
        strcpy(w->store, v);
        return 0;
    }
    if (strcmp(k, "consumer") == 0) {
        if (strlen(v) >= sizeof(w->consumer) || strchr(v, ' ')) {
            snprintf(err, errlen, "invalid consumer name \"%s\"", v);
            return -1;
        }
        strcpy(w->consumer, v);
        return 0;
    }
    if (strcmp(k, "task_timeout") == 0 || strcmp(k, "task-timeout") == 0) {
        return ota_config_int("task timeout", v, 0, 30 * 86400,
                              &w->task_timeout, err, errlen);
    }
    if (strcmp(k, "claim_idle") == 0 || strcmp(k, "claim-idle") == 0) {
        return ota_config_int("claim idle", v, 100, 86400000, &w->claim_idle,
                              err, errlen);
    }
    if (strcmp(k, "chunk") == 0) {
        return ota_config_int("chunk", v, 1, 3000, &w->chunk, err, errlen);
    }
    if (strcmp(k, "count") == 0) {
        return ota_config_int("count", v, 1, 100000, &w->count, err, errlen);
    }
    if (strcmp(k, "log_level") == 0 || strcmp(k, "log-level") == 0) {
        return ota_log_level_set(v, err, errlen);
    }
    /* the file is shared with otactl: its settings are not ours */
    if (strcmp(k, "package_exts") == 0 || strcmp(k, "package_max_mb") == 0
        || strcmp(k, "token_secret") == 0)
    {
        return 0;
    }
    snprintf(err, errlen, "unknown setting \"%s\"", k);
    return -1;
}

static int
ota_worker_config_cb(void *ctx, const char *k, const char *v, char *err,
    size_t errlen)
{
    return ota_worker_set(ctx, k, v, err, errlen);
}

/* ---- Redis ---------------------------------------------------------------- */

int
ota_worker_lost(ota_worker_t *w)
{
    return w->rc == NULL || w->rc->err != 0;
}

redisReply *
ota_worker_cmd(ota_worker_t *w, const char *fmt, ...)
{
    va_list  ap;
    void    *r;

    if (ota_worker_lost(w)) {
        return NULL;
    }
    if (ota_events_sent()) {
        (void) ota_events_flush(w);   /* its answer comes first */
    }
    va_start(ap, fmt);
    r = redisvCommand(w->rc, fmt, ap);
    va_end(ap);
    if (r != NULL && ((redisReply *) r)->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "Redis refused %.40s...: %s", fmt,
                ((redisReply *) r)->str);
    }
    return r;
}

redisReply *
ota_worker_script(ota_worker_t *w, ota_lua_id_t id, ota_cmd_t *args)
{
    redisReply  *r;

    if (ota_worker_lost(w)) {
        return NULL;
    }
    if (ota_events_sent()) {
        (void) ota_events_flush(w);   /* its answer comes first */
    }
    r = ota_script_run(w->rc, ota_lua(id), args);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "script %s failed: %s", ota_lua(id)->name,
                r->str);
    }
    return r;
}

static void
ota_worker_disconnect(ota_worker_t *w)
{
    if (w->rc != NULL) {
        redisFree(w->rc);
        w->rc = NULL;
    }
}

/* connects with a growing delay until Redis answers or we are stopped */
static int
ota_worker_connect(ota_worker_t *w)
{
    char   err[512];
    int    delay = 100, logged = 0;

    ota_worker_disconnect(w);

    while (!w->stop) {
        w->rc = ota_redis_connect(&w->addr, 2000, err, sizeof(err));
        if (w->rc != NULL && ota_lua_load_all(w->rc) == 0
            && ota_maint_setup(w) == 0)
        {
            if (logged) {
                ota_log(OTA_LOG_INFO, "connected to Redis at %s again",
                        ota_redis_addr_str(&w->addr));
            }
            /* whatever we read and did not acknowledge is read again */
            ota_events_forget();
            w->reader = 0;            /* the lease and cursor: asked anew */
            w->resync = 1;
            w->read_pending = 1;
            strcpy(w->pending_from[0], "0");
            strcpy(w->pending_from[1], "0");
            return 0;
        }
        if (w->rc != NULL) {
            snprintf(err, sizeof(err), "Redis at %s: %s",
                     ota_redis_addr_str(&w->addr),
                     w->rc->err ? w->rc->errstr : "setup failed");
            ota_worker_disconnect(w);
        }
        if (!logged) {
            ota_log(OTA_LOG_WARN, "%s; retrying", err);
            logged = 1;
        }
        usleep((useconds_t) delay * 1000);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    return -1;
}

/* handles one list of entries of one stream; from: the events were read
 * after the group's cursor, which sits at from (else they came from the
 * pending list) */
static int
ota_worker_entries(ota_worker_t *w, int jobs, redisReply *entries,
    ota_arena_t *arena, ota_arena_mark_t mark, const char *from)
{
    size_t  i;
    int     rc;

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY
        || entries->elements == 0)
    {
        return OTA_W_OK;
    }
    if (!jobs) {
        /* only a full read may leave its apply in flight: another read
         * is likely to follow at once */
        return ota_events_handle(w, entries->element, entries->elements,
                                 entries->elements == (size_t) w->count
                                 ? arena : NULL, mark, from);
    }
    /* a job's commands wait for the events before it */
    rc = ota_events_flush(w);
    if (rc != OTA_W_OK) {
        return rc;
    }
    for (i = 0; i < entries->elements && !w->stop; i++) {
        rc = ota_jobs_handle(w, entries->element[i]);
        if (rc != OTA_W_OK) {
            return rc;
        }
        w->jobs++;
    }
    return OTA_W_OK;
}

/* the entries of a stream in a read reply, or NULL */
static redisReply *
ota_worker_stream(redisReply *r, const char *stream)
{
    size_t  i;

    for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++)
    {
        redisReply *s = r->element[i];

        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2
            && s->element[0]->type == REDIS_REPLY_STRING
            && strcmp(s->element[0]->str, stream) == 0
            && s->element[1]->type == REDIS_REPLY_ARRAY)
        {
            return s->element[1];
        }
    }
    return NULL;
}

/* the id of the last entry of a list, or NULL */
static const char *
ota_worker_last_id(redisReply *e)
{
    redisReply  *last;

    if (e == NULL || e->elements == 0) {
        return NULL;
    }
    last = e->element[e->elements - 1];
    if (last->type != REDIS_REPLY_ARRAY || last->elements < 1
        || last->element[0]->type != REDIS_REPLY_STRING)
    {
        return NULL;
    }
    return last->element[0]->str;
}

/*
 * One read (or only events during a long job).
 *
 * Pending mode (after a (re)connect): our own pending entries of both
 * streams, with XREADGROUP from an id.  Else the jobs with XREADGROUP, and,
 * by the worker holding the reader lease, the new events with XREAD after
 * the position we read up to: the apply script that stores their effects
 * moves the group's cursor past them (docs/worker.md, "One reader").  The
 * reader blocks on XREAD over both streams (a new job wakes it up too);
 * a worker without the lease blocks on its jobs read.
 */
static int
ota_worker_read(ota_worker_t *w, int events_only, int block)
{
    redisReply        *r[2] = { NULL, NULL }, *jobs = NULL, *evs = NULL;
    ota_arena_t       *a;
    ota_arena_mark_t   mark;
    char               count[16], blk[16], from[64];
    const char        *argv[16], *last;
    int                argc, nreq = 0, rc = OTA_W_OK, pending = w->read_pending;
    int                ahead, cursor, blocking, k, got = 0;

    if (ota_events_held() && (events_only || pending || !w->reader)) {
        rc = ota_events_flush(w);
        if (rc != OTA_W_OK) {
            return rc;
        }
    }
    cursor = w->reader && !pending;     /* (a flush may lose the lease) */
    if (events_only && !cursor) {
        return OTA_W_OK;          /* own backlog first, in the main loop */
    }
    /* an apply waits to be sent: read ahead, without blocking (a blocked
     * read would hold the apply behind it) */
    ahead = ota_events_held();
    blocking = block > 0 && !pending && !ahead && !events_only;

    snprintf(count, sizeof(count), "%d", w->count);
    snprintf(blk, sizeof(blk), "%d", block);

    /* the entries are read into the arena (no malloc per object) and
     * live until the mark is returned to, after they were handled, or
     * until the apply they left in flight is answered */
    a = &w->arena[w->ar];
    mark = ota_arena_mark(a);

    if (!events_only) {
        argc = 0;
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = OTA_GROUP;
        argv[argc++] = w->consumer;
        argv[argc++] = "COUNT";
        argv[argc++] = count;
        if (blocking && !cursor) {
            argv[argc++] = "BLOCK";
            argv[argc++] = blk;
        }
        argv[argc++] = "STREAMS";
        argv[argc++] = OTA_STREAM_JOBS;
        if (pending) {
            argv[argc++] = OTA_STREAM_EVENTS;
            argv[argc++] = w->pending_from[0];
            argv[argc++] = w->pending_from[1];
        } else {
            argv[argc++] = ">";
        }
        if (redisAppendCommandArgv(w->rc, argc, argv, NULL) != REDIS_OK) {
            return OTA_W_RETRY;
        }
        nreq++;
    }
    if (cursor && blocking) {
        /* a blocked XREAD would hold the jobs' reply behind it: a job
         * read now is handled now, the events are read after it */
        r[0] = ota_arena_reply(w->rc, a);
        if (r[0] == NULL) {
            ota_arena_release(a, mark);
            return OTA_W_RETRY;
        }
        got = 1;
        jobs = ota_worker_stream(r[0], OTA_STREAM_JOBS);
        if (r[0]->type == REDIS_REPLY_ERROR
            || (jobs != NULL && jobs->elements > 0))
        {
            cursor = 0;
        }
    }
    if (cursor) {
        snprintf(from, sizeof(from), "%s", w->rpos);
        argc = 0;
        argv[argc++] = "XREAD";
        argv[argc++] = "COUNT";
        argv[argc++] = count;
        if (blocking) {
            argv[argc++] = "BLOCK";
            argv[argc++] = blk;
        }
        argv[argc++] = "STREAMS";
        if (blocking) {
            argv[argc++] = OTA_STREAM_JOBS;
        }
        argv[argc++] = OTA_STREAM_EVENTS;
        if (blocking) {
            argv[argc++] = w->jobs_seen;
        }
        argv[argc++] = from;
        if (redisAppendCommandArgv(w->rc, argc, argv, NULL) != REDIS_OK) {
            /* the jobs read may be in the pipeline: start the connection
             * over rather than read its reply as another's */
            ota_arena_release(a, mark);
            w->rc->err = REDIS_ERR_OOM;
            snprintf(w->rc->errstr, sizeof(w->rc->errstr), "out of memory");
            return OTA_W_RETRY;
        }
        nreq++;
    }
    if (ahead && ota_events_send(w) != 0) {
        /* the read is in the pipeline but not the apply: replies would
         * no longer match their commands, so start the connection over
         * (the entries of both are read again) */
        w->rc->err = REDIS_ERR_OOM;
        snprintf(w->rc->errstr, sizeof(w->rc->errstr), "out of memory");
        return OTA_W_RETRY;
    }
    /* every reply is read before anything else is sent */
    for (k = got; k < nreq; k++) {
        r[k] = ota_arena_reply(w->rc, a);
        if (r[k] == NULL) {
            ota_arena_release(a, mark);
            return OTA_W_RETRY;
        }
    }
    for (k = 0; k < nreq; k++) {
        if (r[k]->type == REDIS_REPLY_ERROR) {
            ota_log(OTA_LOG_ERR, "%s: %s", k == 0 && !events_only
                    ? "XREADGROUP" : "XREAD", r[k]->str);
            (void) ota_events_flush(w);
            if (strncmp(r[k]->str, "NOGROUP", 7) == 0) {
                ota_maint_setup(w);
            }
            ota_arena_release(a, mark);
            usleep(200000);
            return OTA_W_OK;
        }
    }

    if (!events_only) {
        jobs = ota_worker_stream(r[0], OTA_STREAM_JOBS);
        if (pending) {
            evs = ota_worker_stream(r[0], OTA_STREAM_EVENTS);
            /* the PEL is read from an id on: step past what we saw */
            if ((last = ota_worker_last_id(jobs)) != NULL) {
                snprintf(w->pending_from[0], 64, "%s", last);
            }
            if ((last = ota_worker_last_id(evs)) != NULL) {
                snprintf(w->pending_from[1], 64, "%s", last);
            }
        }
    }
    if (cursor) {
        redisReply *x = r[nreq - 1];

        /* jobs in the XREAD only wake us up: XREADGROUP takes them */
        if ((last = ota_worker_last_id(ota_worker_stream(x, OTA_STREAM_JOBS)))
            != NULL)
        {
            snprintf(w->jobs_seen, sizeof(w->jobs_seen), "%s", last);
        }
        evs = ota_worker_stream(x, OTA_STREAM_EVENTS);
        if (jobs != NULL && jobs->elements > 0) {
            /* a job may run long and read events meanwhile: these are
             * read again after it */
            evs = NULL;
        }
    }

    rc = ota_worker_entries(w, 1, jobs, NULL, mark, NULL);
    if (rc == OTA_W_OK && evs != NULL && evs->elements > 0) {
        if (cursor && (last = ota_worker_last_id(evs)) != NULL) {
            snprintf(w->rpos, sizeof(w->rpos), "%s", last);
        }
        rc = ota_worker_entries(w, 0, evs,
                                pending || events_only ? NULL : a, mark,
                                cursor ? from : NULL);
    }
    if (ota_events_sent()) {
        /* the apply sent with this read found no events to overlap */
        if (ota_events_flush(w) != OTA_W_OK && rc == OTA_W_OK) {
            rc = OTA_W_RETRY;
        }
    }
    if (ota_events_held()) {
        w->ar ^= 1;               /* these entries stay with the apply */
    } else {
        ota_arena_release(a, mark);
    }
    if (rc != OTA_W_OK && cursor) {
        /* not all stored: read again from the cursor */
        snprintf(w->rpos, sizeof(w->rpos), "%s", w->cur);
    }

    if (pending && rc == OTA_W_OK
        && (jobs == NULL || jobs->elements == 0)
        && (evs == NULL || evs->elements == 0))
    {
        w->read_pending = 0;      /* our backlog is done: new entries now */
    }
    return rc;
}

/* a long job (creating 1M tasks) keeps events flowing every so often */
void
ota_worker_poll_during_job(ota_worker_t *w)
{
    int64_t  now = ota_now_ms();

    if (now - w->last_poll < 200 || ota_worker_lost(w)) {
        return;
    }
    w->last_poll = now;
    (void) ota_worker_read(w, 1, 0);
    if (now - w->last_tick >= 1000) {
        (void) ota_maint_tick(w);
    }
}

int
main(int argc, char **argv)
{
    ota_worker_t       w;
    struct sigaction   sa;
    char               err[512], host[64];
    const char        *config = NULL;
    int                i, rc;

    memset(&w, 0, sizeof(w));
    /* every stream read allocates and frees tens of thousands of small
     * reply objects and a few arrays of 100+ KB: without fast bins a large
     * request does not first consolidate all of them, and arrays stay in
     * the heap instead of an mmap and page faults per read */
    mallopt(M_MXFAST, 0);
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    w.task_timeout = 3600;
    w.claim_idle = 30000;
    w.chunk = 1000;
    w.count = 1000;
    w.block = 1000;
    strcpy(w.jobs_seen, "0-0");
    ota_log_name = "ota-worker";
    ota_the_worker = &w;
    if (ota_redis_parse_addr("127.0.0.1:6379", &w.addr, err, sizeof(err))) {
        return 1;
    }

    /* the config file first, so flags given on the line win */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[i + 1];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        }
    }
    if (config != NULL
        && ota_config_load(config, ota_worker_config_cb, &w, err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "ota-worker: %s\n", err);
        return 2;
    }

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v, *eq;
        char        name[64];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ota_worker_usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "ota-worker: unexpected argument \"%s\"\n", a);
            ota_worker_usage(stderr);
            return 2;
        }
        eq = strchr(a, '=');
        if (eq != NULL) {
            snprintf(name, sizeof(name), "%.*s", (int) (eq - a - 2), a + 2);
            v = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "ota-worker: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }
        if (strcmp(name, "config") == 0) {
            continue;
        }
        if (ota_worker_set(&w, name, v, err, sizeof(err)) != 0) {
            fprintf(stderr, "ota-worker: %s\n", err);
            ota_worker_usage(stderr);
            return 2;
        }
    }

    if (w.consumer[0] == '\0') {
        /* stable across restarts on one host: our own pending entries are
         * picked up again without waiting for --claim-idle */
        if (gethostname(host, sizeof(host)) != 0) {
            strcpy(host, "host");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(w.consumer, sizeof(w.consumer), "%s-%d", host, 1);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ota_worker_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    ota_log(OTA_LOG_INFO, "consumer %s of group " OTA_GROUP " on Redis %s, "
            "task timeout %d s, claim idle %d ms", w.consumer,
            ota_redis_addr_str(&w.addr), w.task_timeout, w.claim_idle);

    while (!w.stop) {
        if (ota_worker_lost(&w)) {
            ota_events_drop();
            if (w.rc != NULL) {
                ota_log(OTA_LOG_WARN, "lost Redis at %s: %s; reconnecting",
                        ota_redis_addr_str(&w.addr), w.rc->errstr);
            }
            if (ota_worker_connect(&w) != 0) {
                break;
            }
        }

        if (ota_now_ms() - w.last_tick >= 1000) {
            if (ota_events_flush(&w) != OTA_W_OK
                || ota_maint_tick(&w) != OTA_W_OK)
            {
                continue;
            }
        }

        if (w.resync
            && (ota_events_flush(&w) != OTA_W_OK
                || ota_maint_lease(&w, 0) != OTA_W_OK))
        {
            continue;
        }

        rc = ota_worker_read(&w, 0, w.block);
        if (rc != OTA_W_OK && !ota_worker_lost(&w)) {
            /* a handler could not finish: its entries stay pending and are
             * read again; do not spin on them */
            usleep(100000);
        }
    }

    if (!ota_worker_lost(&w)) {
        (void) ota_events_flush(&w);
    }
    ota_events_drop();
    ota_log(OTA_LOG_INFO, "stopping: %lld events, %lld jobs handled; "
            "%lld applies sent ahead, %lld of them decided again", w.events,
            w.jobs, w.ahead, w.redone);
    if (!ota_worker_lost(&w)) {
        redisReply *r;

        (void) ota_maint_lease(&w, 1);    /* another worker reads at once */
        r = ota_worker_cmd(&w, "HDEL " OTA_KEY_WORKERS " %s", w.consumer);
        freeReplyObject(r);
    }
    ota_worker_disconnect(&w);
    ota_arena_free(&w.arena[0]);
    ota_arena_free(&w.arena[1]);
    return 0;
}
