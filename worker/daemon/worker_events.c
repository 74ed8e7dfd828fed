/*
 * worker_events.c: a read of device events (download, notified, progress,
 * inform), or a page of due deadlines, from its entries to its stored
 * effect and acknowledgement (worker_round.h names the files it uses).
 *
 * A read is handled in two round trips whatever its size:
 *   1. one script (worker_lookup.c) applies the version reports (versions,
 *      distribution counters, version sets, dynamic batches) and looks up
 *      the task of every event the caches cannot tell;
 *   2. C runs every event through ota_task_apply(), per task, in stream
 *      order (worker_decide.c); one script (worker_apply.c) writes every
 *      changed task with its counters, each only if the task is still in
 *      the state read in 1, and acknowledges the entries in the same
 *      atomic step when nothing moved under us (else the moved tasks are
 *      read and decided again: another worker got there first, and the
 *      acknowledgement waits for them).  Those are the rounds of a read.
 *
 * The apply left in flight.  A full read is usually followed by another
 * one, so its apply script is not waited for: it is handed to the pipe
 * (worker_pipe.h), which sends it behind the next read on the same
 * connection, so Redis answers the read and then runs the apply while the
 * worker decides the new entries on its cache (worker and Redis work at
 * the same time instead of in turn).  The cache is updated as if the apply
 * succeeded.  Its answer comes back to ota_ev_settled(): every task "ok",
 * or the tasks that did not go as decided are dropped from the cache, the
 * cache's generation moves on (so the decisions taken on it meanwhile are
 * thrown away and taken again), and the read is finished the usual way
 * (more rounds, then the acknowledgement).  The apply acknowledges its own
 * entries, so nothing is acknowledged before its effect is stored; a
 * worker killed with an apply in flight leaves the entries unacknowledged
 * (after the group's cursor, or pending), like any other read.
 */

#include "ota_worker.h"

#include <stdlib.h>
#include <string.h>

#include "ota_keys.h"
#include "worker_apply.h"
#include "worker_decide.h"
#include "worker_lookup.h"
#include "worker_round.h"

#define OTA_EV_HELD  -2


static ota_evread_t *
ota_evread_new(ota_worker_t *w, size_t n)
{
    ota_evread_t  *rd = calloc(1, sizeof(*rd));

    if (rd == NULL) {
        return NULL;
    }
    rd->w = w;
    rd->n = n;
    rd->ev = calloc(n, sizeof(ota_ev_t));
    rd->look = calloc(n, sizeof(ota_look_t));
    rd->tasks = calloc(n, sizeof(ota_wt_t));
    ota_cmd_init(&rd->apply);
    ota_cmd_init(&rd->ack);
    ota_cmd_init(&rd->zrem);
    ota_cmd_adds(&rd->zrem, "ZREM");
    ota_cmd_adds(&rd->zrem, OTA_KEY_TASK_DEADLINES);
    if (rd->ev == NULL || rd->look == NULL || rd->tasks == NULL) {
        free(rd->ev);
        free(rd->look);
        free(rd->tasks);
        ota_cmd_free(&rd->zrem);
        free(rd);
        ota_log(OTA_LOG_ERR, "out of memory handling %zu events", n);
        return NULL;
    }
    return rd;
}


/* frees what a read holds and releases its entries */
static void
ota_evread_free(ota_evread_t *rd)
{
    free(rd->ev);
    free(rd->look);
    free(rd->tasks);
    free(rd->hl.slot);
    free(rd->ht.slot);
    freeReplyObject(rd->lr);
    ota_cmd_free(&rd->apply);
    ota_cmd_free(&rd->ack);
    ota_cmd_free(&rd->zrem);
    if (rd->arena != NULL) {
        ota_arena_release(rd->arena, rd->mark);
    }
    free(rd);
}


/* the cache as the apply will leave it (corrected from its answer) */
static void
ota_ev_remember(ota_evread_t *rd)
{
    ota_cache_put_t  *put;
    int               k;

    if (rd->nt == 0) {
        return;
    }
    put = calloc((size_t) rd->nt, sizeof(*put));
    if (put == NULL) {
        ota_cache_forget(&rd->w->cache);
        return;
    }
    for (k = 0; k < rd->nt; k++) {
        ota_wt_t *t = &rd->tasks[k];

        if (t->module == NULL) {
            continue;                   /* never read */
        }
        put[k].device = t->device;
        put[k].module = t->module;
        put[k].batch = t->batch;
        put[k].package = t->package;
        put[k].t = &t->t;
        put[k].nofrom = t->nofrom;
        put[k].tc = t->tc;
        /* a task on a diff is not kept: the cache decides a download
         * only of the package it holds, and a diff's fallback needs the
         * batch's diffs, which only a lookup reads (docs/delta.md) */
        put[k].keep = t->status == 0 && !t->timeout && !t->t.diff
                      && !ota_task_state_final(t->t.state);
    }
    ota_cache_update(&rd->w->cache, put, rd->nt);
    free(put);
}


/* the apply in flight is answered now, before a command that depends on
 * it; 1 when it did not go as decided (the cache changed: decisions taken
 * on it since are void), -1 when Redis went away */
static int
ota_ev_settle(ota_worker_t *w)
{
    unsigned  gen = w->cache.gen;

    if (ota_pipe_settle(&w->pipe) != OTA_W_OK && ota_pipe_lost(&w->pipe)) {
        return -1;
    }
    return gen != w->cache.gen;
}


/* the apply in flight answered before the round goes on: 0 go on, 1
 * decide the read again from the start (the cache changed), 2 the cache
 * changed too often, -1 Redis went away */
static int
ota_ev_wait_apply(ota_evread_t *rd, int *restarts)
{
    int  dirty = ota_ev_settle(rd->w);

    if (dirty <= 0) {
        return dirty;
    }
    if ((*restarts)++ < OTA_EV_ROUNDS) {
        ota_decide_reset(rd);
        return 1;
    }
    return 2;
}


static int ota_ev_settled(void *data, redisReply *ar);


/* One round: look up (with the version reports in the first round),
 * decide, write (and acknowledge when nothing conflicts: rd->acked).
 * Returns the number of events left undecided (conflicts), -1 when Redis
 * went away or the read stays contended, or OTA_EV_HELD when hold allowed
 * the apply to be left in flight. */
static int
ota_ev_round(ota_evread_t *rd, int first, int hold)
{
    ota_worker_t  *w = rd->w;
    redisReply    *ar;
    size_t         i;
    int            restarts = 0, left, dropped, k;

again:
    if (ota_decide_sources(rd, first) != 0) {
        return -1;
    }

    /* a lookup waits for the apply in flight (it reads what the apply
     * writes); if that apply did not go as decided, the cache changed and
     * this read starts over */
    if (ota_pipe_held(&w->pipe)
        && (rd->nl > 0 || (first && ota_lookup_informs(rd, NULL) > 0)))
    {
        k = ota_ev_wait_apply(rd, &restarts);
        if (k < 0) {
            return -1;
        }
        if (k == 1) {
            goto again;
        }
    }

    if (ota_lookup(rd, first) != 0) {
        return -1;
    }
    ota_decide(rd);
    ota_apply_build(rd);

    /* decided on the cache while an apply was in flight: that apply must
     * have gone as decided, else these decisions are taken again */
    if (ota_pipe_held(&w->pipe)) {
        k = ota_ev_wait_apply(rd, &restarts);
        if (k == 1) {
            goto again;
        }
        if (k != 0) {
            return -1;                  /* gone, or contended: the entries
                                           stay */
        }
    }

    ota_ev_remember(rd);
    ota_lookup_learn(&w->cache, rd->info);  /* no task points into the
                                               batch cache any more */
    if (rd->nw > 0 && hold) {
        ota_pipe_hold(&w->pipe, ota_lua(OTA_LUA_APPLY), &rd->apply,
                      ota_ev_settled, rd);
        return OTA_EV_HELD;
    }
    if (rd->nw > 0) {
        ar = ota_pipe_script(&w->pipe, ota_lua(OTA_LUA_APPLY), &rd->apply);
        left = ota_apply_finish(rd, ar, &dropped);
        freeReplyObject(ar);
        return left;
    }
    for (i = 0; i < rd->n; i++) {
        rd->ev[i].done = 1;             /* nothing to write: all done */
    }
    return 0;
}


/* the rounds of a read from round first on; OTA_W_OK, OTA_W_RETRY, or
 * OTA_EV_HELD when its first apply was left in flight */
static int
ota_ev_rounds(ota_evread_t *rd, int first, int hold)
{
    ota_worker_t  *w = rd->w;
    redisReply    *r;
    int            round, left = 0, rc = OTA_W_OK;

    for (round = first; round < OTA_EV_ROUNDS; round++) {
        left = ota_ev_round(rd, round == 0, hold && round == 0);
        if (left <= 0) {
            break;
        }
    }
    if (left == OTA_EV_HELD) {
        rc = OTA_EV_HELD;
    } else if (left < 0 || ota_pipe_lost(&w->pipe)) {
        rc = OTA_W_RETRY;
    } else if (left > 0) {
        ota_log(OTA_LOG_WARN, "%d events still contended after %d rounds; "
                "they stay pending and are retried", left, OTA_EV_ROUNDS);
        rc = OTA_W_RETRY;
    }

    if (rd->zrem.argc > 2 && !ota_pipe_lost(&w->pipe)) {
        r = ota_pipe_exec(&w->pipe, &rd->zrem);
        freeReplyObject(r);
        ota_cmd_reset(&rd->zrem);
        ota_cmd_adds(&rd->zrem, "ZREM");
        ota_cmd_adds(&rd->zrem, OTA_KEY_TASK_DEADLINES);
    }
    return rc;
}


/* The answer of an apply left in flight (NULL: the connection is gone;
 * its entries stay unacknowledged and are read again): the read is
 * finished, with rounds again for the tasks that moved under us. */
static int
ota_ev_settled(void *data, redisReply *ar)
{
    ota_evread_t  *rd = data;
    ota_worker_t  *w = rd->w;
    int            left, dropped = 0, rc = OTA_W_OK;

    left = ota_apply_finish(rd, ar, &dropped);
    if (dropped > 0 || left != 0) {
        w->cache.gen++;
        if (ar != NULL) {
            w->redone++;
            ota_log(OTA_LOG_DEBUG, "an apply in flight did not go as "
                    "decided (%d tasks); decided again", dropped);
        }
    }
    if (left > 0) {
        rc = ota_ev_rounds(rd, 1, 0);
    } else if (left < 0) {
        rc = OTA_W_RETRY;
    }
    if (rc == OTA_W_OK) {
        rc = ota_apply_ack(rd);
    }
    if (rc == OTA_W_OK) {
        w->events += (long long) rd->n;
    }
    ota_evread_free(rd);
    return rc;
}


int
ota_events_handle(ota_worker_t *w, redisReply **entries, size_t n,
    ota_arena_t *arena, ota_arena_mark_t mark, const char *from)
{
    ota_evread_t  *rd;
    size_t         i;
    int            rc;

    ota_cache_reap(&w->cache);          /* no round runs between reads */
    rd = ota_evread_new(w, n);
    if (rd == NULL) {
        return OTA_W_RETRY;
    }
    for (i = 0; i < n; i++) {
        if (ota_decide_parse(entries[i], &rd->ev[i]) != 0
            && entries[i]->type == REDIS_REPLY_ARRAY
            && entries[i]->elements >= 2
            && entries[i]->element[1]->type == REDIS_REPLY_ARRAY)
        {
            ota_log(OTA_LOG_WARN, "event %s is malformed; dropped",
                    entries[i]->element[0]->str);
        }
    }
    ota_apply_ack_init(rd, entries, from);

    rc = ota_ev_rounds(rd, 0, arena != NULL);
    if (rc == OTA_EV_HELD) {
        rd->arena = arena;              /* released when it is settled */
        rd->mark = mark;
        return OTA_W_OK;
    }
    if (rc == OTA_W_OK) {
        rc = ota_apply_ack(rd);
    }
    if (rc == OTA_W_OK) {
        w->events += (long long) n;
    }
    ota_evread_free(rd);
    return rc;
}


int
ota_events_timeouts(ota_worker_t *w, redisReply *due)
{
    ota_evread_t  *rd;
    size_t         i;
    int            rc;

    rd = ota_evread_new(w, due->elements);
    if (rd == NULL) {
        return OTA_W_OK;
    }
    for (i = 0; i < due->elements; i++) {
        ota_ev_t  *e = &rd->ev[i];
        char      *m = due->element[i]->str;
        char      *colon = m != NULL ? strchr(m, ':') : NULL;

        e->type = -1;
        e->look = -1;
        e->task = -1;
        if (colon == NULL) {
            continue;
        }
        *colon = '\0';                  /* member "<batch>:<device>" */
        e->batch = m;
        e->device = colon + 1;
        e->module = "";
        e->type = OTA_TE_TIMEOUT;
    }
    rc = ota_ev_rounds(rd, 0, 0);
    ota_evread_free(rd);
    return rc;
}
