/*
 * worker_pipe.h: the worker's one Redis connection and its pipeline, with
 * one owner.  Every command of the worker (stream reads, jobs, events,
 * maintenance) goes through here, so this file alone knows what is on the
 * wire and in which order the replies come:
 *
 *   - single commands (ota_pipe_cmd, _exec, _script): sent and answered;
 *   - pipelines: commands appended (ota_pipe_append*), then their replies
 *     read in order (ota_pipe_reply*); a command is refused while replies
 *     of an earlier pipeline are still owed (the connection is broken off:
 *     replies would no longer match their commands);
 *   - the held apply: the event path may leave one apply script in flight
 *     (ota_pipe_hold), parked until the reader appends its next read
 *     (ota_pipe_append_read) and sends the apply behind it
 *     (ota_pipe_send_held).  Any other command first answers the held
 *     apply (ota_pipe_settle): its reply goes to the settle function its
 *     owner gave, which may run commands itself.  When the connection is
 *     lost the settle function gets NULL.
 *
 * Scripts are EVALSHA with a fallback to EVAL when Redis forgot them
 * (NOSCRIPT); ota_pipe_connect() loads every script after connecting so a
 * pipelined EVALSHA never misses.
 */

#ifndef WORKER_PIPE_H
#define WORKER_PIPE_H

#include "ota_common.h"

/* the held apply's reply (NULL: the connection is gone, the apply may or
 * may not have run); returns what ota_pipe_settle() returns */
typedef int (*ota_pipe_settle_pt)(void *data, redisReply *r);

typedef struct {
    ota_script_t        *script;
    ota_cmd_t           *args;
    ota_pipe_settle_pt   settle;
    void                *data;
    int                  sent;          /* appended behind a read */
} ota_pipe_held_t;

typedef struct {
    redisContext        *rc;
    int                  owed;          /* replies of appended commands not
                                           read yet (before the held one) */
    ota_pipe_held_t      held;          /* settle NULL: none */
    ota_script_t        *scripts;
    int                  nscripts;
    long long            ahead;         /* applies sent behind a read */
} ota_pipe_t;

#define OTA_PIPE_HELD  1                /* ota_pipe_held(): parked */
#define OTA_PIPE_SENT  2                /* ... and sent */

/* one attempt: connect, AUTH, SELECT (ota_redis_connect), SCRIPT LOAD of
 * every script; 0, or -1 with the reason in err */
int ota_pipe_connect(ota_pipe_t *p, const ota_addr_t *a,
    ota_script_t *scripts, int nscripts, char *err, size_t errlen);

/* hangs up; a held apply is given up (its settle function gets NULL) */
void ota_pipe_close(ota_pipe_t *p);

/* the connection is broken (or was never made) */
int ota_pipe_lost(const ota_pipe_t *p);
const char *ota_pipe_error(const ota_pipe_t *p);

/* breaks the connection off on purpose: what is in the pipeline is
 * unknown (an append failed half-way); everything is read again after
 * the reconnect */
void ota_pipe_break(ota_pipe_t *p, const char *why);

/* ---- single commands: the held apply is answered first ------------------ */

redisReply *ota_pipe_cmd(ota_pipe_t *p, const char *fmt, ...);
redisReply *ota_pipe_exec(ota_pipe_t *p, ota_cmd_t *c);
/* logs an error reply with the script's name */
redisReply *ota_pipe_script(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args);

/* ---- pipelines: the held apply is answered before the first append ------- */

int ota_pipe_append(ota_pipe_t *p, const char *fmt, ...);
int ota_pipe_append_argv(ota_pipe_t *p, int argc, const char **argv,
    const size_t *argvlen);
int ota_pipe_append_script(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args);

/* the reader's read: appended before a parked apply, which then goes
 * behind it with ota_pipe_send_held() */
int ota_pipe_append_read(ota_pipe_t *p, int argc, const char **argv);

/* the next owed reply, in the order appended; NULL when the connection
 * broke (or nothing is owed) */
redisReply *ota_pipe_reply(ota_pipe_t *p);
/* ... read into an arena (ota_arena_reply): do not freeReplyObject() it */
redisReply *ota_pipe_reply_arena(ota_pipe_t *p, ota_arena_t *a);

/* ---- the held apply -------------------------------------------------------- */

void ota_pipe_hold(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args,
    ota_pipe_settle_pt settle, void *data);
/* 0, OTA_PIPE_HELD or OTA_PIPE_SENT */
int ota_pipe_held(const ota_pipe_t *p);
/* appends the parked apply behind what was appended; 0 or -1 */
int ota_pipe_send_held(ota_pipe_t *p);
/* reads (or first sends) the held apply's reply and hands it to its
 * settle function; returns that function's result, 0 when none is held */
int ota_pipe_settle(ota_pipe_t *p);

#endif /* WORKER_PIPE_H */
