/*
 * worker_round.h: what the event path of ota-worker passes between its
 * files while it decides a read: the events, the tasks they are about,
 * the state of the rounds (docs/worker.md, "Events"; docs/architecture.md
 * walks the path file by file).
 *
 *   worker_events.c   a read: its rounds (look up, decide, apply), the
 *                     apply left in flight and its settling, the
 *                     acknowledgement, timeouts                (the driver)
 *   worker_decide.c   parses the entries; per round, where each event's
 *                     task comes from (cache, batch, lookup); runs the
 *                     events through ota_task_apply() in stream order
 *   worker_lookup.c   the lookup script: its arguments, its answers
 *   worker_apply.c    the apply script: its arguments, its answer, the
 *                     acknowledgement
 *   worker_cache.c    what the worker remembers between reads: open tasks
 *                     and batches (worker_cache.h)
 *
 * Calls go down this list only (events -> decide -> lookup; events ->
 * apply; all -> cache, worker_pipe.c), each through its own header; the
 * apply left in flight comes back to worker_events.c through the settle
 * function it gave worker_pipe.c.
 */

#ifndef WORKER_ROUND_H
#define WORKER_ROUND_H

#include <stdint.h>

#include "ota_task.h"
#include "ota_version.h"
#include "ota_worker.h"

#define OTA_EV_ROUNDS   8       /* rounds of a read before it gives up */
#define OTA_DESC_MAX    128     /* bytes of a progress desc kept */

struct ota_tc_s;
struct ota_bi_s;

/* one entry of the read (or one due deadline) */
typedef struct {
    int               type;         /* OTA_TE_*, -1: nothing to do */
    int               inform;       /* a version report */
    const char       *device;
    const char       *product;
    const char       *module;
    const char       *package;
    const char       *batch;
    const char       *nbatch;       /* download: its notified event of
                                       this batch folded in */
    const char       *version;
    const char       *desc;
    const char       *ts;
    long long         covered;
    int               step;
    ota_version_t     ver;
    int               look;         /* its lookup this round, or -1 */
    int               task;         /* its task, or -1 */
    int               done;
    int               cached;       /* task from the cache (no lookup) */
    struct ota_tc_s  *tc;           /* its slot then */
    struct ota_bi_s  *spec;         /* notified, decided on its batch */
} ota_ev_t;

/* one question of this round's lookup, and its answer */
typedef struct {
    const char       *device;
    const char       *module;
    const char       *batch;
    redisReply       *res;
    int               late;         /* a download is among its events */
} ota_look_t;

/* one task the read's events are about, as decided */
typedef struct {
    const char       *device;
    const char       *batch;
    const char       *package;      /* the one covered counts */
    const char       *bpackage;     /* the batch's */
    const char       *diffs;        /* the batch's diffs (lookup), or NULL */
    const char       *pkg_write;    /* OTA_APPLY_PKG when it changed */
    ota_task_t        t;
    ota_task_state_t  orig;         /* the state it was decided on */
    int               changed;      /* OTA_TASK_* */
    int               timeout;
    int               status;       /* -1 unreadable, -2 moved under us */
    int               cached;       /* decided on the cache: always checked */
    const char       *module;
    const char       *desc;
    struct ota_tc_s  *tc;           /* its cache slot when cached */
    const char       *evmod;        /* module as the event named it (lives
                                       with the read, unlike module) */
    int               spec;         /* assumed pending: the apply checks
                                       membership and state */
    int               nofrom;       /* source version not read yet */
} ota_wt_t;

typedef struct {
    int              *slot;
    size_t            mask;
} ota_htab_t;

/* a read of events, or a page of due deadlines, while it is decided: it
 * lives until its last round (and, when its apply is left in flight,
 * until that is settled) */
typedef struct {
    ota_worker_t     *w;
    ota_ev_t         *ev;
    size_t            n;
    ota_look_t       *look;         /* n slots: this round's questions */
    int               nl;
    ota_wt_t         *tasks;        /* n slots: the tasks decided */
    int               nt;
    int               nw;           /* tasks sent to the apply */
    int               ninf;         /* version reports sent this round */
    ota_htab_t        hl, ht;       /* lookups and tasks by key */
    redisReply       *lr;           /* this round's lookup reply */
    redisReply       *info;         /* ... its batches */
    ota_cmd_t         apply;        /* the apply's arguments */
    ota_cmd_t         ack;          /* the read's acknowledgement (none
                                       for deadlines) */
    int               acked;        /* the apply acknowledged it */
    ota_cmd_t         zrem;         /* deadlines of tasks that are gone */
    ota_arena_t      *arena;        /* the entries live there while the */
    ota_arena_mark_t  mark;         /* apply is in flight */
} ota_evread_t;

#endif /* WORKER_ROUND_H */
