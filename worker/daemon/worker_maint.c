/*
 * Once a second: heartbeat, the reader lease, take over entries left
 * pending by dead consumers (XAUTOCLAIM), fail tasks past their deadline,
 * and trim what every consumer has acknowledged from both streams.
 * Taken-over events are handled at once (worker_events.c); taken-over
 * jobs become this consumer's pending entries, which the next read takes
 * (worker_read.c), so a job never runs inside the tick.
 */

#include "ota_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ota_fields.h"
#include "ota_keys.h"

#define OTA_TRIM_EVERY_MS    5000
#define OTA_TIMEOUT_BATCH    500

int
ota_maint_setup(ota_worker_t *w)
{
    static const char  *streams[] = { OTA_STREAM_JOBS, OTA_STREAM_EVENTS };
    redisReply         *r;
    int                 i, rc = 0;

    /* pipelined, and not through ota_pipe_cmd(): BUSYGROUP is the usual
     * answer, not an error to log */
    for (i = 0; i < 2; i++) {
        if (ota_pipe_append(&w->pipe, "XGROUP CREATE %s " OTA_GROUP
                            " 0 MKSTREAM", streams[i]) != 0)
        {
            return -1;
        }
    }
    for (i = 0; i < 2; i++) {
        r = ota_pipe_reply(&w->pipe);
        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR
            && strncmp(r->str, "BUSYGROUP", 9) != 0)
        {
            ota_log(OTA_LOG_ERR, "XGROUP CREATE %s: %s", streams[i], r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    if (rc != 0) {
        return rc;
    }

    r = ota_pipe_cmd(&w->pipe, "HSET " OTA_KEY_WORKERS " %s %lld",
                     w->consumer, (long long) time(NULL));
    freeReplyObject(r);
    return ota_pipe_lost(&w->pipe) ? -1 : 0;
}

/* Entries idle on any consumer longer than claim_idle become ours.
 * Events are handled at once; jobs stay our pending entries, read again
 * from the start of our list by the next read (a job may run long: never
 * inside the tick). */
static int
ota_maint_claim(ota_worker_t *w, const char *stream, int jobs)
{
    redisReply  *r;
    char         start[64] = "0-0";
    int          rounds, rc = OTA_W_OK;

    for (rounds = 0; rounds < 10 && !w->stop; rounds++) {
        r = jobs ? ota_pipe_cmd(&w->pipe, "XAUTOCLAIM %s " OTA_GROUP " %s %d "
                                "%s COUNT %d JUSTID", stream, w->consumer,
                                w->claim_idle, start, w->count)
                 : ota_pipe_cmd(&w->pipe, "XAUTOCLAIM %s " OTA_GROUP " %s %d "
                                "%s COUNT %d", stream, w->consumer,
                                w->claim_idle, start, w->count);
        if (r == NULL) {
            return OTA_W_RETRY;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
            freeReplyObject(r);
            return OTA_W_OK;
        }
        snprintf(start, sizeof(start), "%s", r->element[0]->str);
        if (r->element[1]->elements > 0) {
            ota_log(OTA_LOG_INFO, "took over %zu entries of %s left by a "
                    "stopped consumer", r->element[1]->elements, stream);
            if (jobs) {
                w->read_pending = 1;
                strcpy(w->pending_from[0], "0");
            } else {
                ota_arena_mark_t  none = { NULL, 0 };

                rc = ota_events_handle(w, r->element[1]->element,
                                       r->element[1]->elements, NULL, none,
                                       NULL);
            }
        }
        freeReplyObject(r);
        if (rc != OTA_W_OK || strcmp(start, "0-0") == 0) {
            break;
        }
    }
    return rc;
}

/* Scheduled batches whose --start-at has come start (batch_start.lua: a
 * batch starts only from state scheduled, so several workers start it
 * once). */
static int
ota_maint_scheduled(ota_worker_t *w)
{
    redisReply  *r;
    ota_cmd_t    c;

    ota_cmd_init(&c);
    ota_cmd_addll(&c, (long long) ota_now_ms());
    ota_cmd_addll(&c, 100);
    r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_BATCH_START), &c);
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    if (r->integer > 0) {
        ota_log(OTA_LOG_INFO, "%lld scheduled batches started",
                (long long) r->integer);
    }
    freeReplyObject(r);
    return OTA_W_OK;
}

/* Upgrade notices of push batches with waves, as their waves open
 * (notify.lua): pages of OTA_NOTIFY_PAGE while more are left, for at most
 * 50 ms a tick, so the tick stays short however large a wave is. */
#define OTA_NOTIFY_PAGE  1000

static int
ota_maint_notify(ota_worker_t *w)
{
    redisReply  *r;
    ota_cmd_t    c;
    int64_t      t0 = ota_now_ms();
    int          more;

    do {
        ota_cmd_init(&c);
        ota_cmd_addll(&c, (long long) ota_now_ms());
        ota_cmd_addll(&c, OTA_NOTIFY_PAGE);
        r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_NOTIFY), &c);
        ota_cmd_free(&c);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return OTA_W_RETRY;
        }
        more = ota_reply_ll(r->element[1], 0) != 0;
        freeReplyObject(r);
    } while (more && !w->stop && ota_now_ms() - t0 < 50);
    return OTA_W_OK;
}

/* One page of due deadlines; *more: the page was full.  Deadlines are
 * written once per task and pushed back when they fall due
 * (docs/worker.md), so many can fall due together (a batch notified
 * within a minute comes due within a minute): pages are taken until none
 * is left or 100 ms went by, so real timeouts are not held up behind
 * them. */
static int
ota_maint_timeouts(ota_worker_t *w)
{
    redisReply  *r;
    int64_t      t0 = ota_now_ms();
    int          rc = OTA_W_OK, more, pages = 0;

    do {
        r = ota_pipe_cmd(&w->pipe, "ZRANGEBYSCORE " OTA_KEY_TASK_DEADLINES
                         " -inf %lld LIMIT 0 %d", (long long) ota_now_ms(),
                         OTA_TIMEOUT_BATCH);
        if (r == NULL) {
            return OTA_W_RETRY;
        }
        more = r->type == REDIS_REPLY_ARRAY
               && r->elements == OTA_TIMEOUT_BATCH;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
            rc = ota_events_timeouts(w, r);
        }
        freeReplyObject(r);
    } while (rc == OTA_W_OK && more && ++pages < 50 && !w->stop
             && ota_now_ms() - t0 < 100);
    return rc;
}

/* MINID = the oldest pending entry, or the last delivered one when none
 * is pending: everything older is acknowledged by every consumer */
static void
ota_maint_trim(ota_worker_t *w, const char *stream)
{
    redisReply  *g, *p, *t;
    char         minid[64] = "";
    size_t       i, k;

    p = ota_pipe_cmd(&w->pipe, "XPENDING %s " OTA_GROUP, stream);
    if (p == NULL || p->type != REDIS_REPLY_ARRAY || p->elements < 2) {
        freeReplyObject(p);
        return;
    }
    if (p->element[0]->integer > 0 && p->element[1]->type == REDIS_REPLY_STRING)
    {
        snprintf(minid, sizeof(minid), "%s", p->element[1]->str);
    }
    freeReplyObject(p);

    if (minid[0] == '\0') {
        g = ota_pipe_cmd(&w->pipe, "XINFO GROUPS %s", stream);
        for (i = 0; g && g->type == REDIS_REPLY_ARRAY && i < g->elements; i++)
        {
            redisReply *e = g->element[i];
            const char *name = NULL, *last = NULL;

            for (k = 0; k + 1 < e->elements; k += 2) {
                if (strcmp(e->element[k]->str, "name") == 0) {
                    name = e->element[k + 1]->str;
                } else if (strcmp(e->element[k]->str, "last-delivered-id")
                           == 0)
                {
                    last = e->element[k + 1]->str;
                }
            }
            if (name && last && strcmp(name, OTA_GROUP) == 0) {
                snprintf(minid, sizeof(minid), "%s", last);
            }
        }
        freeReplyObject(g);
    }

    if (minid[0] && strcmp(minid, "0-0") != 0) {
        t = ota_pipe_cmd(&w->pipe, "XTRIM %s MINID %s", stream, minid);
        freeReplyObject(t);
    }
}

/* forget consumers that hold nothing and were idle for a long time */
static void
ota_maint_consumers(ota_worker_t *w, const char *stream)
{
    redisReply  *c, *d;
    long long    limit = (long long) w->claim_idle * 10;
    size_t       i, k;

    if (limit < 600000) {
        limit = 600000;
    }
    c = ota_pipe_cmd(&w->pipe, "XINFO CONSUMERS %s " OTA_GROUP, stream);
    for (i = 0; c && c->type == REDIS_REPLY_ARRAY && i < c->elements; i++) {
        redisReply *e = c->element[i];
        const char *name = NULL;
        long long   pending = 1, idle = 0;

        for (k = 0; k + 1 < e->elements; k += 2) {
            const char *f = e->element[k]->str;
            if (strcmp(f, "name") == 0) {
                name = e->element[k + 1]->str;
            } else if (strcmp(f, "pending") == 0) {
                pending = e->element[k + 1]->integer;
            } else if (strcmp(f, "idle") == 0) {
                idle = e->element[k + 1]->integer;
            }
        }
        if (name && pending == 0 && idle > limit
            && strcmp(name, w->consumer) != 0)
        {
            d = ota_pipe_cmd(&w->pipe, "XGROUP DELCONSUMER %s " OTA_GROUP " %s",
                               stream, name);
            freeReplyObject(d);
            d = ota_pipe_cmd(&w->pipe, "HDEL " OTA_KEY_WORKERS " %s", name);
            freeReplyObject(d);
        }
    }
    freeReplyObject(c);
}

/* The reader lease (docs/worker.md, "One reader"): taken when free,
 * renewed while ours, given up at exit.  It lives claim_idle ms, at least
 * 3 s: it is renewed every tick (a second), and a tick may wait for a
 * blocked read (a second) and a job step.  Whenever we take it, or the
 * cursor is not where we left it (a consumer read events with
 * XREADGROUP), we read on from the group's cursor and forget the cached
 * tasks (another worker may have moved them). */
int
ota_maint_lease(ota_worker_t *w, int release)
{
    ota_cmd_t    c;
    redisReply  *r;
    const char  *at;

    ota_cmd_init(&c);
    ota_cmd_adds(&c, w->consumer);
    ota_cmd_addll(&c, w->claim_idle > 3000 ? w->claim_idle : 3000);
    ota_cmd_adds(&c, release ? "release" : "hold");
    r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_READER), &c);
    ota_cmd_free(&c);
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        if (r->type == REDIS_REPLY_ERROR
            && strncmp(r->str, "NOGROUP", 7) == 0)
        {
            ota_maint_setup(w);
        }
        freeReplyObject(r);
        return OTA_W_RETRY;
    }
    at = r->element[1]->str;
    if (release || r->element[0]->integer != 1) {
        if (!release && strcmp(at, w->holder) != 0) {
            ota_log(OTA_LOG_INFO, "consumer %s reads the events; this one "
                    "takes over if it stops", at);
            snprintf(w->holder, sizeof(w->holder), "%s", at);
        }
        w->reader = 0;
    } else if (!w->reader || w->resync || strcmp(at, w->cur) != 0) {
        if (!w->reader) {
            ota_log(OTA_LOG_INFO, "reading the events from %s on (reader "
                    "lease taken)", at);
        } else {
            ota_log(OTA_LOG_INFO, "the event cursor is at %s: reading on "
                    "from there", at);
        }
        ota_cache_forget(&w->cache);
        w->holder[0] = '\0';
        snprintf(w->cur, sizeof(w->cur), "%s", at);
        snprintf(w->rpos, sizeof(w->rpos), "%s", at);
        w->reader = 1;
    }
    w->resync = 0;
    freeReplyObject(r);
    return OTA_W_OK;
}

int
ota_maint_tick(ota_worker_t *w)
{
    redisReply  *r;
    int64_t      now = ota_now_ms();
    int          rc;

    w->last_tick = now;

    r = ota_pipe_cmd(&w->pipe, "HSET " OTA_KEY_WORKERS " %s %lld", w->consumer,
                       (long long) (now / 1000));
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    freeReplyObject(r);

    rc = ota_maint_lease(w, 0);
    if (rc != OTA_W_OK) {
        return rc;
    }

    /* a long job refreshes its own entry: never claim it back here */
    if (!w->in_job) {
        rc = ota_maint_claim(w, OTA_STREAM_JOBS, 1);
        if (rc != OTA_W_OK) {
            return rc;
        }
    }
    rc = ota_maint_claim(w, OTA_STREAM_EVENTS, 0);
    if (rc != OTA_W_OK) {
        return rc;
    }

    /* also with --task-timeout 0: a batch's own --timeout sets deadlines */
    rc = ota_maint_timeouts(w);
    if (rc != OTA_W_OK) {
        return rc;
    }

    rc = ota_maint_scheduled(w);
    if (rc != OTA_W_OK) {
        return rc;
    }

    rc = ota_maint_notify(w);
    if (rc != OTA_W_OK) {
        return rc;
    }

    if (now - w->last_trim >= OTA_TRIM_EVERY_MS) {
        w->last_trim = now;
        ota_maint_trim(w, OTA_STREAM_EVENTS);
        ota_maint_trim(w, OTA_STREAM_JOBS);
        ota_maint_consumers(w, OTA_STREAM_EVENTS);
    }

    return ota_pipe_lost(&w->pipe) ? OTA_W_RETRY : OTA_W_OK;
}
