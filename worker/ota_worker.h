/*
 * ota_worker.h: the ota-worker daemon.  One process reads the job and event
 * streams through the consumer group, one Redis connection, synchronous
 * hiredis with pipelining.  Several processes may run at once: every write
 * is a script that checks the state it expects, so the processes never
 * need to know about each other; new events are read by the holder of the
 * reader lease only (docs/worker.md, "One reader").
 */

#ifndef OTA_WORKER_H
#define OTA_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "ota_common.h"

#define OTA_BATCH_CREATING   "creating"
#define OTA_BATCH_RUNNING    "running"
#define OTA_BATCH_PAUSED     "paused"
#define OTA_BATCH_CANCELLED  "cancelled"
#define OTA_BATCH_FINISHED   "finished"

typedef struct {
    ota_redis_addr_t        addr;
    char                    store[4096];    /* package store (unused yet) */
    char                    consumer[128];
    int                     task_timeout;    /* s; 0: tasks never time out */
    int                     claim_idle;      /* ms before a dead consumer's
                                                entries are taken over */
    int                     chunk;           /* devices per creation step */
    int                     count;           /* entries per read */
    int                     block;           /* ms a read waits */

    redisContext           *rc;
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
    long long               ahead;           /* applies sent behind a read */
    long long               redone;          /* ... not answered as decided */
} ota_worker_t;

/* results of handlers: OK acknowledges, RETRY leaves the entry pending
 * (Redis went away; it is read again after reconnecting) */
#define OTA_W_OK      0
#define OTA_W_RETRY  -1

/* worker_lua.c */
typedef enum {
    OTA_LUA_BATCH_INIT = 0,
    OTA_LUA_CREATE_CHUNK,
    OTA_LUA_CREATE_FINISH,
    OTA_LUA_BATCH_STATE,
    OTA_LUA_CANCEL_CHUNK,
    OTA_LUA_LOOKUP,
    OTA_LUA_APPLY,
    OTA_LUA_READER,
    OTA_LUA_COUNT
} ota_lua_id_t;

ota_script_t *ota_lua(ota_lua_id_t id);
int ota_lua_load_all(redisContext *rc);

/* worker_main.c */
int ota_worker_lost(ota_worker_t *w);            /* connection broken */
redisReply *ota_worker_cmd(ota_worker_t *w, const char *fmt, ...);
redisReply *ota_worker_script(ota_worker_t *w, ota_lua_id_t id,
    ota_cmd_t *args);
void ota_worker_poll_during_job(ota_worker_t *w);

/* worker_jobs.c: one job entry [id, [field, value, ...]] */
int ota_jobs_handle(ota_worker_t *w, redisReply *entry);

/* worker_events.c: a batch of event entries.  With an arena the apply
 * may be left in flight (see there): the entries then stay in the arena
 * until ota_events_flush() releases it to mark. */
int ota_events_handle(ota_worker_t *w, redisReply **entries, size_t n,
    ota_arena_t *arena, ota_arena_mark_t mark, const char *from);
int ota_events_held(void);          /* an apply is in flight */
int ota_events_sent(void);          /* ... and appended to the pipeline */
int ota_events_send(ota_worker_t *w);   /* appends it behind a read */
int ota_events_flush(ota_worker_t *w);  /* waits for it, finishes its read */
void ota_events_drop(void);         /* the connection is gone */
/* forgets the tasks cached by the event path (after a reconnect) */
void ota_events_forget(void);

/* worker_maint.c: timeouts, claims, trimming, heartbeats (about once a
 * second) */
int ota_maint_tick(ota_worker_t *w);
int ota_maint_timeouts(ota_worker_t *w);
int ota_maint_setup(ota_worker_t *w);
int ota_maint_lease(ota_worker_t *w, int release);

/* the field of a stream entry's field list, or NULL */

#endif /* OTA_WORKER_H */
