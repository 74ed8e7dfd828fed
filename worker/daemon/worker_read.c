/*
 * worker_read.c: one read of the streams, and what it read handled.
 *
 * After a (re)connect, or when the tick took over a stopped consumer's
 * jobs, our own pending entries of both streams come first (XREADGROUP
 * from an id).  Otherwise the jobs are read with XREADGROUP and, by the
 * worker holding the reader lease, the new events with XREAD after the
 * position we read up to: the apply script that stores their effects
 * moves the group's cursor past them (docs/worker.md, "One reader").  The
 * reader blocks on XREAD over both streams (a new job wakes it up too); a
 * worker without the lease blocks on its jobs read.
 *
 * Jobs are run here in steps (worker_jobs.h); between the steps of a long
 * one the events are read and the tick runs.  Events go to
 * worker_events.c; a full read may leave its apply in flight (sent behind
 * the next read: worker_pipe.h).
 */

#include "ota_worker.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "worker_jobs.h"

static int ota_read(ota_worker_t *w, int events_only, int block);

/* a long job (creating 1M tasks) keeps events flowing and the
 * maintenance ticking between its steps, every so often */
static void
ota_read_between_steps(ota_worker_t *w)
{
    int64_t  now = ota_now_ms();

    if (now - w->last_poll < 200 || ota_pipe_lost(&w->pipe)) {
        return;
    }
    w->last_poll = now;
    (void) ota_read(w, 1, 0);
    if (now - w->last_tick >= 1000) {
        (void) ota_maint_tick(w);
    }
}

/* one job, step by step */
static int
ota_read_job(ota_worker_t *w, redisReply *entry)
{
    ota_job_run_t  run;
    int            rc;

    rc = ota_jobs_start(w, entry, &run);
    if (rc == OTA_JOB_MORE) {
        w->in_job = 1;
        do {
            rc = ota_jobs_step(w, &run);
            if (rc == OTA_JOB_MORE) {
                ota_read_between_steps(w);
            }
        } while (rc == OTA_JOB_MORE);
        w->in_job = 0;
    }
    ota_jobs_end(&run);
    return rc;
}

/* handles one list of entries of one stream; from: the events were read
 * after the group's cursor, which sits at from (else they came from the
 * pending list) */
static int
ota_read_entries(ota_worker_t *w, int jobs, redisReply *entries,
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
    rc = ota_pipe_settle(&w->pipe);
    if (rc != OTA_W_OK) {
        return rc;
    }
    for (i = 0; i < entries->elements && !w->stop; i++) {
        rc = ota_read_job(w, entries->element[i]);
        if (rc != OTA_W_OK) {
            return rc;
        }
        w->jobs++;
    }
    return OTA_W_OK;
}

/* the entries of a stream in a read reply, or NULL */
static redisReply *
ota_read_stream(redisReply *r, const char *stream)
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
ota_read_last_id(redisReply *e)
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

/* XREADGROUP of the jobs (with pending: of both streams, our own pending
 * entries from where we are in them); blk: BLOCK that long */
static int
ota_read_append_group(ota_worker_t *w, const char *count, const char *blk,
    int pending)
{
    const char  *argv[16];
    int          argc = 0;

    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = OTA_GROUP;
    argv[argc++] = w->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (blk != NULL) {
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
    return ota_pipe_append_read(&w->pipe, argc, argv);
}

/* XREAD of the events after from; blk: BLOCK that long, on the job stream
 * too (a new job wakes the reader up) */
static int
ota_read_append_events(ota_worker_t *w, const char *count, const char *blk,
    const char *from)
{
    const char  *argv[16];
    int          argc = 0;

    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (blk != NULL) {
        argv[argc++] = "BLOCK";
        argv[argc++] = blk;
    }
    argv[argc++] = "STREAMS";
    if (blk != NULL) {
        argv[argc++] = OTA_STREAM_JOBS;
    }
    argv[argc++] = OTA_STREAM_EVENTS;
    if (blk != NULL) {
        argv[argc++] = w->jobs_seen;
    }
    argv[argc++] = from;
    return ota_pipe_append_read(&w->pipe, argc, argv);
}

/* the jobs and events of the replies: group, the XREADGROUP's (NULL when
 * none was sent); x, the XREAD's (NULL: none) */
static void
ota_read_take(ota_worker_t *w, redisReply *group, redisReply *x, int pending,
    redisReply **jobs, redisReply **evs)
{
    const char  *last;

    *jobs = NULL;
    *evs = NULL;
    if (group != NULL) {
        *jobs = ota_read_stream(group, OTA_STREAM_JOBS);
        if (pending) {
            *evs = ota_read_stream(group, OTA_STREAM_EVENTS);
            /* the PEL is read from an id on: step past what we saw */
            if ((last = ota_read_last_id(*jobs)) != NULL) {
                snprintf(w->pending_from[0], 64, "%s", last);
            }
            if ((last = ota_read_last_id(*evs)) != NULL) {
                snprintf(w->pending_from[1], 64, "%s", last);
            }
        }
    }
    if (x != NULL) {
        /* jobs in the XREAD only wake us up: XREADGROUP takes them */
        if ((last = ota_read_last_id(ota_read_stream(x, OTA_STREAM_JOBS)))
            != NULL)
        {
            snprintf(w->jobs_seen, sizeof(w->jobs_seen), "%s", last);
        }
        *evs = ota_read_stream(x, OTA_STREAM_EVENTS);
        if (*jobs != NULL && (*jobs)->elements > 0) {
            /* a job may run long and read events meanwhile: these are
             * read again after it */
            *evs = NULL;
        }
    }
}

/* One read (or only events, between the steps of a long job). */
static int
ota_read(ota_worker_t *w, int events_only, int block)
{
    redisReply        *r[2] = { NULL, NULL }, *jobs = NULL, *evs = NULL;
    ota_arena_t       *a;
    ota_arena_mark_t   mark;
    char               count[16], blk[16], from[64];
    const char        *last;
    int                nreq = 0, rc = OTA_W_OK, pending = w->read_pending;
    int                ahead, cursor, blocking, k, got = 0;
    ota_pipe_t        *p = &w->pipe;

    if (ota_pipe_held(p) && (events_only || pending || !w->reader)) {
        rc = ota_pipe_settle(p);
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
    ahead = ota_pipe_held(p) != 0;
    blocking = block > 0 && !pending && !ahead && !events_only;

    snprintf(count, sizeof(count), "%d", w->count);
    snprintf(blk, sizeof(blk), "%d", block);

    /* the entries are read into the arena (no malloc per object) and
     * live until the mark is returned to, after they were handled, or
     * until the apply they left in flight is answered */
    a = &w->arena[w->ar];
    mark = ota_arena_mark(a);

    if (!events_only) {
        if (ota_read_append_group(w, count, blocking && !cursor ? blk : NULL,
                                  pending) != 0)
        {
            return OTA_W_RETRY;
        }
        nreq++;
    }
    if (cursor && blocking) {
        /* a blocked XREAD would hold the jobs' reply behind it: a job
         * read now is handled now, the events are read after it */
        r[0] = ota_pipe_reply_arena(p, a);
        if (r[0] == NULL) {
            ota_arena_release(a, mark);
            return OTA_W_RETRY;
        }
        got = 1;
        jobs = ota_read_stream(r[0], OTA_STREAM_JOBS);
        if (r[0]->type == REDIS_REPLY_ERROR
            || (jobs != NULL && jobs->elements > 0))
        {
            cursor = 0;
        }
    }
    if (cursor) {
        snprintf(from, sizeof(from), "%s", w->rpos);
        if (ota_read_append_events(w, count, blocking ? blk : NULL, from)
            != 0)
        {
            /* the pipe started the connection over (the jobs read may be
             * in the pipeline: its reply must not be read as another's) */
            ota_arena_release(a, mark);
            return OTA_W_RETRY;
        }
        nreq++;
    }
    if (ahead && ota_pipe_send_held(p) != 0) {
        /* the read is in the pipeline but not the apply: the pipe started
         * the connection over (the entries of both are read again) */
        ota_arena_release(a, mark);
        return OTA_W_RETRY;
    }
    /* every reply is read before anything else is sent */
    for (k = got; k < nreq; k++) {
        r[k] = ota_pipe_reply_arena(p, a);
        if (r[k] == NULL) {
            ota_arena_release(a, mark);
            return OTA_W_RETRY;
        }
    }
    for (k = 0; k < nreq; k++) {
        if (r[k]->type == REDIS_REPLY_ERROR) {
            ota_log(OTA_LOG_ERR, "%s: %s", k == 0 && !events_only
                    ? "XREADGROUP" : "XREAD", r[k]->str);
            (void) ota_pipe_settle(p);
            if (strncmp(r[k]->str, "NOGROUP", 7) == 0) {
                ota_maint_setup(w);
            }
            ota_arena_release(a, mark);
            usleep(200000);
            return OTA_W_OK;
        }
    }

    ota_read_take(w, events_only ? NULL : r[0], cursor ? r[nreq - 1] : NULL,
                  pending, &jobs, &evs);

    rc = ota_read_entries(w, 1, jobs, NULL, mark, NULL);
    if (evs != NULL && !events_only) {
        w->last_events = (long) evs->elements;
    }
    if (rc == OTA_W_OK && evs != NULL && evs->elements > 0) {
        if (cursor && (last = ota_read_last_id(evs)) != NULL) {
            snprintf(w->rpos, sizeof(w->rpos), "%s", last);
        }
        rc = ota_read_entries(w, 0, evs,
                                pending || events_only ? NULL : a, mark,
                                cursor ? from : NULL);
    }
    if (ota_pipe_held(p) == OTA_PIPE_SENT) {
        /* the apply sent with this read found no events to overlap */
        if (ota_pipe_settle(p) != OTA_W_OK && rc == OTA_W_OK) {
            rc = OTA_W_RETRY;
        }
    }
    if (ota_pipe_held(p)) {
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

int
ota_read_streams(ota_worker_t *w, int block)
{
    return ota_read(w, 0, block);
}
