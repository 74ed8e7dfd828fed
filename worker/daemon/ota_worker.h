/*
 * ota_worker.h: the ota-worker daemon (docs/worker.md).  One process reads
 * the job and event streams through the consumer group, on one Redis
 * connection (synchronous hiredis with pipelining).  Several processes may
 * run at once: every write is a script that checks the state it expects,
 * so the processes never need to know about each other; new events are
 * read by the holder of the reader lease only (docs/worker.md, "One
 * reader").
 *
 * Its files, each calling only files below it:
 *
 *   worker_main.c     options and config file, signals, the main loop:
 *                     (re)connect, the tick once a second, a read
 *   worker_read.c     one read of the streams: jobs (run in steps, with
 *                     events read and the tick between steps) and events
 *   worker_maint.c    the tick: heartbeat, reader lease, claims of a
 *                     stopped consumer's entries, timeouts, trimming
 *   worker_jobs.c     admin jobs: batch create, pause, resume, cancel
 *                     (worker_jobs.h)
 *   worker_diff.c     package_diff jobs (worker_diff.h)
 *   worker_job.c      a job in hand: its reply, refusal, claim kept
 *                     fresh (worker_job.h)
 *   worker_events.c   a read of events, or a page of due deadlines, to
 *                     its effect and acknowledgement (worker_round.h:
 *                     worker_decide.c, worker_lookup.c, worker_apply.c)
 *   worker_cache.c    open tasks and batches remembered between reads
 *                     (worker_cache.h)
 *   worker_pipe.c     the Redis connection and pipeline, one owner
 *                     (worker_pipe.h)
 *   worker_lua.c      generated (build/gen/) from lua/lib/ and
 *                     lua/worker/; argument and reply layouts of the event
 *                     scripts in worker_wire.h
 *
 * and below them worker/common/ (ota_common.h) and include/.
 */

#ifndef OTA_WORKER_H
#define OTA_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "ota_common.h"
#include "ota_fields.h"
#include "worker_cache.h"
#include "worker_lua.h"
#include "worker_pipe.h"

/* the batch states OTA_BATCH_* are in include/ota_fields.h */

typedef struct {
    ota_addr_t              addr;
    char                    store[4096];    /* package store (unused yet) */
    char                    consumer[128];
    int                     task_timeout;    /* s; 0: tasks never time out */
    int                     claim_idle;      /* ms before a dead consumer's
                                                entries are taken over */
    int                     chunk;           /* devices per creation step */
    int                     count;           /* entries per read */
    int                     block;           /* ms a read waits */
    int                     gather;          /* ms between a read that was
                                                not full and the next */
    long                    last_events;     /* events the last read got */

    ota_pipe_t              pipe;            /* the connection */
    ota_cache_t             cache;           /* tasks, batches */
    ota_arena_t             arena[2];        /* stream reads: one may stay
                                                with an apply in flight */
    int                     ar;              /* the arena of the next read */
    volatile sig_atomic_t   stop;
    int                     read_pending;    /* re-read our own PEL first */
    int                     reader;          /* holds the reader lease */
    int                     resync;          /* ... ask for it again now */
    char                    cur[64];         /* the group's cursor as we
                                                last moved it */
    char                    rpos[64];        /* where the next read starts
                                                (past cur while an apply is
                                                in flight) */
    char                    jobs_seen[64];   /* last job a wake-up showed */
    char                    holder[128];     /* the reader, when not us */
    char                    pending_from[2][64];
    int                     in_job;          /* inside a long job */
    int64_t                 last_tick;
    int64_t                 last_trim;
    int64_t                 last_poll;       /* events polled during a job */

    long long               events;          /* processed, for the log */
    long long               jobs;
    long long               redone;          /* applies sent ahead (counted
                                                by the pipe) not answered as
                                                decided */
} ota_worker_t;

/* results of handlers: OK acknowledges, RETRY leaves the entry pending
 * (Redis went away; it is read again after reconnecting) */
#define OTA_W_OK      0
#define OTA_W_RETRY  -1

/* the scripts: lua/worker/, generated into worker_lua.c */
#define ota_lua(id)  (&ota_lua_scripts[id])

/* worker_read.c: one read of both streams (or of our pending entries),
 * its entries handled; block: ms a read may wait */
int ota_read_streams(ota_worker_t *w, int block);

/* worker_maint.c: the tick (about once a second), the consumer group and
 * heartbeat after connecting, the reader lease (taken, renewed, or given
 * up with release) */
int ota_maint_tick(ota_worker_t *w);
int ota_maint_setup(ota_worker_t *w);
int ota_maint_lease(ota_worker_t *w, int release);

/* worker_events.c: a read of event entries.  With an arena the apply may
 * be left in flight (worker_events.c): the entries then stay in the arena
 * until it is settled, which releases it to mark.  from: the entries were
 * read after the group's cursor at from (NULL: from the pending list). */
int ota_events_handle(ota_worker_t *w, redisReply **entries, size_t n,
    ota_arena_t *arena, ota_arena_mark_t mark, const char *from);
/* a page of due deadlines ("<batch>:<device>" members, split in place) */
int ota_events_timeouts(ota_worker_t *w, redisReply *due);

#endif /* OTA_WORKER_H */
