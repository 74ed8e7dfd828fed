/*
 * worker_apply.c: the apply script (lua/worker/apply.lua) of a round: its
 * arguments (the tasks as decided, the read's acknowledgement), its
 * answer (which tasks did not go as decided), and the acknowledgement of
 * a read whose last round wrote nothing.  Layouts: worker_wire.h.
 */

#include "worker_apply.h"

#include <stdio.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "worker_wire.h"


/* a task goes to the apply script when it changed, carries a description,
 * or was decided on the cache (its state is checked even if unchanged) */
int
ota_apply_sent(const ota_wt_t *t)
{
    return t->status >= 0 && (t->changed || t->desc != NULL || t->cached);
}


/* the head: now, timeout, the acknowledgement */
static void
ota_apply_head(ota_cmd_t *c, ota_worker_t *w, const ota_cmd_t *ack)
{
    int  k, nack = ack != NULL ? ack->argc : 0;

    ota_cmd_addll(c, (long long) ota_now_ms());             /* _NOW */
    ota_cmd_addll(c, (long long) w->task_timeout * 1000);   /* _TIMEOUT */
    ota_cmd_addll(c, nack);                                 /* _NACK */
    for (k = 0; k < nack; k++) {
        ota_cmd_add(c, ack->buf + ack->off[k], ack->lens[k]);
    }
}


/* OTA_APPLY_MORE of a task: its rare values joined, "" when all are ""
 * (worker_wire.h); returns the length, or -1 when they do not fit */
static int
ota_apply_more(char *buf, size_t size, const char *pkg, long long saved,
    long long psize, const char *reason)
{
    char  sv[OTA_FMT_LL_MAX] = "", ps[OTA_FMT_LL_MAX] = "";
    int   n;

    if (*pkg == '\0' && saved <= 0 && psize < 0 && *reason == '\0') {
        buf[0] = '\0';
        return 0;
    }
    if (saved > 0) {
        ota_fmt_ll(sv, saved);
    }
    if (psize >= 0) {
        ota_fmt_ll(ps, psize);
    }
    n = snprintf(buf, size, "%s" OTA_APPLY_MORE_SEP "%s" OTA_APPLY_MORE_SEP
                 "%s" OTA_APPLY_MORE_SEP "%s", pkg, sv, ps, reason);
    return n < 0 || (size_t) n >= size ? -1 : n;
}


/* the round's arguments in rd->apply; returns how many tasks go */
int
ota_apply_build(ota_evread_t *rd)
{
    const char  *v[OTA_APPLY_TASK_N];
    size_t       l[OTA_APPLY_TASK_N];
    char         cov[OTA_FMT_LL_MAX], step[OTA_FMT_LL_MAX];
    char         more[4096];        /* a package name and a reason */
    long long    sv;
    char         desc[OTA_DESC_MAX + 1];
    ota_cmd_t   *c = &rd->apply;
    int          k, f, n, nw = 0;

    ota_cmd_reset(c);
    ota_apply_head(c, rd->w, rd->ack.argc > 0 ? &rd->ack : NULL);

    for (k = 0; k < rd->nt; k++) {
        ota_wt_t *t = &rd->tasks[k];

        if (!ota_apply_sent(t)) {
            continue;
        }
        v[OTA_APPLY_DEVICE] = t->device;
        v[OTA_APPLY_BATCH] = t->batch;
        v[OTA_APPLY_EXPECTED] = ota_task_state_name(t->orig);
        v[OTA_APPLY_NEW] = ota_task_state_name(t->t.state);
        v[OTA_APPLY_COVERED] = "";
        v[OTA_APPLY_STEP] = "";
        v[OTA_APPLY_DESC] = "";
        /* kind: a timeout, a task decided on the cache (missing is a
         * conflict then: the device may have another open task), on its
         * batch, or a task a lookup found */
        v[OTA_APPLY_KIND] = t->timeout ? OTA_APPLY_K_TIMEOUT
                            : t->cached ? OTA_APPLY_K_CACHED
                            : t->spec ? OTA_APPLY_K_SPEC : OTA_APPLY_K_LOOKED;
        v[OTA_APPLY_MORE] = more;
        for (f = 0; f < OTA_APPLY_TASK_N; f++) {
            l[f] = strlen(v[f]);
        }
        if (t->changed & OTA_TASK_COVERED) {
            l[OTA_APPLY_COVERED] = ota_fmt_ll(cov, t->t.covered);
            v[OTA_APPLY_COVERED] = cov;
        }
        /* the bytes a diff saved, with the move to succeeded only: the
         * script counts them when that move is written (once) */
        sv = (t->changed & OTA_TASK_MOVED) ? ota_task_saved(&t->t) : 0;
        n = ota_apply_more(more, sizeof(more),
                           (t->changed & OTA_TASK_PKG) && t->pkg_write
                           ? t->pkg_write : "", sv,
                           (t->changed & OTA_TASK_PKG) && t->t.diff
                           ? t->t.size : -1,
                           (t->changed & OTA_TASK_MOVED) && t->t.reason
                           ? t->t.reason : "");
        if (n < 0) {
            c->oom = 1;         /* names and reasons are short: refuse */
            break;
        }
        l[OTA_APPLY_MORE] = (size_t) n;
        if (t->changed & OTA_TASK_STEP) {
            l[OTA_APPLY_STEP] = ota_fmt_ll(step, t->t.step);
            v[OTA_APPLY_STEP] = step;
        }
        if (t->desc != NULL) {
            size_t  dl = strnlen(t->desc, OTA_DESC_MAX);

            /* the mark first: an empty desc is not none */
            desc[0] = OTA_APPLY_DESC_MARK[0];
            memcpy(desc + 1, t->desc, dl);
            v[OTA_APPLY_DESC] = desc;
            l[OTA_APPLY_DESC] = dl + 1;
        }
        for (f = 0; f < OTA_APPLY_TASK_N; f++) {
            ota_cmd_add(c, v[f], l[f]);
        }
        nw++;
    }
    rd->nw = nw;
    return nw;
}


/* The apply found the reader lease gone or the group's cursor moved (a
 * consumer that read with XREADGROUP, a worker that took the lease over):
 * it did nothing.  What we read and decided is void: the cache is
 * forgotten and the reader asks for the lease and the cursor again. */
int
ota_apply_lost(ota_worker_t *w, redisReply *ar)
{
    if (ar == NULL || ar->type != REDIS_REPLY_ARRAY || ar->elements < 1
        || ar->element[OTA_APPLY_R_ACKED]->type != REDIS_REPLY_INTEGER
        || ar->element[OTA_APPLY_R_ACKED]->integer != OTA_APPLY_LOST)
    {
        return 0;
    }
    ota_log(OTA_LOG_INFO, "the event cursor moved under consumer %s; "
            "reading again from the group's cursor", w->consumer);
    ota_cache_forget(&w->cache);
    w->reader = 0;
    w->resync = 1;
    return 1;
}


/* the apply's answer: which tasks went as decided.  Returns the number of
 * events left to decide again (their task moved under us), -1 when the
 * answer is missing or malformed; *dropped: tasks taken out of the cache */
int
ota_apply_finish(ota_evread_t *rd, redisReply *ar, int *dropped)
{
    ota_cache_t  *cache = &rd->w->cache;
    redisReply   *rs;
    size_t        i, x = 0;
    int           k, j = 0, left = 0;

    *dropped = 0;
    if (ota_apply_lost(rd->w, ar)) {
        *dropped = 1;
        return -1;
    }
    if (ar == NULL || ar->type != REDIS_REPLY_ARRAY || ar->elements != 2
        || ar->element[OTA_APPLY_R_RESULTS]->type != REDIS_REPLY_ARRAY
        || ar->element[OTA_APPLY_R_RESULTS]->elements % 2 != 0)
    {
        ota_cache_forget(cache);        /* it assumed the writes were done */
        *dropped = 1;
        return -1;
    }
    if (ar->element[OTA_APPLY_R_ACKED]->type == REDIS_REPLY_INTEGER
        && ar->element[OTA_APPLY_R_ACKED]->integer == 1)
    {
        rd->acked = 1;                  /* with the effects, no conflict */
    }

    /* the results other than "ok": (n-th task sent, result) pairs in the
     * order the tasks were sent */
    rs = ar->element[OTA_APPLY_R_RESULTS];
    for (k = 0; k < rd->nt; k++) {
        ota_wt_t    *t = &rd->tasks[k];
        const char  *res;

        if (!ota_apply_sent(t)) {
            continue;
        }
        j++;
        if (x + 1 >= rs->elements || rs->element[x]->type
            != REDIS_REPLY_INTEGER || rs->element[x]->integer != j)
        {
            continue;                   /* ok */
        }
        res = rs->element[x + 1]->str;
        x += 2;
        ota_cache_drop(cache, t->device, t->evmod);
        (*dropped)++;
        if (res == NULL || (strcmp(res, OTA_APPLY_R_FRESH)
                            && strcmp(res, OTA_APPLY_R_PAUSED)
                            && strcmp(res, OTA_APPLY_R_GONE)))
        {
            t->status = -2;             /* moved under us: decide again */
        }
    }
    if (x != rs->elements || j != rd->nw) {
        ota_log(OTA_LOG_ERR, "the apply script answered for tasks it was "
                "not given; the task cache is forgotten");
        ota_cache_forget(cache);
        *dropped = 1;
        return -1;
    }

    for (i = 0; i < rd->n; i++) {
        ota_ev_t *e = &rd->ev[i];

        if (e->done || e->type < 0) {
            continue;
        }
        if (e->task >= 0 && rd->tasks[e->task].status == -2) {
            left++;
            continue;
        }
        e->done = 1;
    }
    return left;
}


/* ---- the acknowledgement --------------------------------------------------- */

/* For the apply script to store with the effects: the cursor's move (from
 * the position before the read to its last entry), or the ids of entries
 * from the pending list */
void
ota_apply_ack_init(ota_evread_t *rd, redisReply **entries, const char *from)
{
    ota_cmd_t   *ack = &rd->ack;
    const char  *v[OTA_ACK_CURSOR_N];
    redisReply  *last;
    size_t       i;
    int          f;

    ota_cmd_init(ack);
    if (from != NULL) {
        last = entries[rd->n - 1];
        v[0] = OTA_ACK_CURSOR;
        v[OTA_ACK_READER] = rd->w->consumer;
        v[OTA_ACK_FROM] = from;
        v[OTA_ACK_TO] = last->type == REDIS_REPLY_ARRAY && last->elements >= 1
                        && last->element[0]->type == REDIS_REPLY_STRING
                        ? last->element[0]->str : from;
        for (f = 0; f < OTA_ACK_COUNT; f++) {
            ota_cmd_adds(ack, v[f]);
        }
        ota_cmd_addll(ack, (long long) rd->n);             /* _COUNT */
        return;
    }
    for (i = 0; i < rd->n; i++) {
        if (entries[i]->type == REDIS_REPLY_ARRAY
            && entries[i]->elements >= 1)
        {
            ota_cmd_adds(ack, entries[i]->element[0]->str);
        }
    }
}


static int
ota_apply_is_cursor(const ota_cmd_t *ack)
{
    return ack->argc == OTA_ACK_CURSOR_N
           && strcmp(ack->buf + ack->off[0], OTA_ACK_CURSOR) == 0;
}


/* Acknowledges the read unless its apply did: the ids with XACK, or the
 * cursor moved by the apply script with no task (the same check of the
 * lease and the cursor); a moved cursor is the worker's from then on. */
int
ota_apply_ack(ota_evread_t *rd)
{
    ota_worker_t  *w = rd->w;
    ota_cmd_t     *ack = &rd->ack, x;
    redisReply    *r;
    int            rc = OTA_W_OK, cursor = ota_apply_is_cursor(ack), k;

    if (!rd->acked && ack->argc > 0) {
        /* nothing was written (or the last write was not clean): every
         * effect is stored, so acknowledge now */
        ota_cmd_init(&x);
        if (cursor) {
            ota_apply_head(&x, w, ack);
            r = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_APPLY), &x);
        } else {
            ota_cmd_adds(&x, "XACK");
            ota_cmd_adds(&x, OTA_STREAM_EVENTS);
            ota_cmd_adds(&x, OTA_GROUP);
            for (k = 0; k < ack->argc; k++) {
                ota_cmd_add(&x, ack->buf + ack->off[k], ack->lens[k]);
            }
            r = ota_pipe_exec(&w->pipe, &x);
        }
        if (r == NULL || r->type == REDIS_REPLY_ERROR
            || ota_apply_lost(w, r))
        {
            rc = OTA_W_RETRY;
        }
        freeReplyObject(r);
        ota_cmd_free(&x);
    }
    if (rc == OTA_W_OK && cursor) {
        snprintf(w->cur, sizeof(w->cur), "%.*s", (int) ack->lens[OTA_ACK_TO],
                 ack->buf + ack->off[OTA_ACK_TO]);
    }
    return rc;
}
