/*
 * worker_pipe.c: the worker's Redis connection and pipeline, one owner
 * (worker_pipe.h).  The order of the replies is kept here: p->owed counts
 * the replies of appended commands that the caller still has to read, and
 * the held apply, once sent, is always the last reply on the wire.
 */

#include "worker_pipe.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


int
ota_pipe_connect(ota_pipe_t *p, const ota_addr_t *a, ota_script_t *scripts,
    int nscripts, char *err, size_t errlen)
{
    int  i;

    ota_pipe_close(p);
    p->scripts = scripts;
    p->nscripts = nscripts;
    p->rc = ota_redis_connect(a, 2000, err, errlen);
    if (p->rc == NULL) {
        return -1;
    }
    for (i = 0; i < nscripts; i++) {
        if (ota_script_load(p->rc, &scripts[i]) != 0) {
            snprintf(err, errlen, "Redis at %s: %s", ota_redis_addr_str(a),
                     p->rc->err ? p->rc->errstr
                                : "a script does not load");
            ota_pipe_close(p);
            return -1;
        }
    }
    return 0;
}


void
ota_pipe_close(ota_pipe_t *p)
{
    ota_pipe_held_t  h = p->held;

    memset(&p->held, 0, sizeof(p->held));
    if (h.settle != NULL) {
        (void) h.settle(h.data, NULL);
    }
    if (p->rc != NULL) {
        redisFree(p->rc);
        p->rc = NULL;
    }
    p->owed = 0;
}


int
ota_pipe_lost(const ota_pipe_t *p)
{
    return p->rc == NULL || p->rc->err != 0;
}


const char *
ota_pipe_error(const ota_pipe_t *p)
{
    return p->rc == NULL ? "not connected"
           : p->rc->err ? p->rc->errstr : "";
}


void
ota_pipe_break(ota_pipe_t *p, const char *why)
{
    if (p->rc != NULL && p->rc->err == 0) {
        p->rc->err = REDIS_ERR_OTHER;
        snprintf(p->rc->errstr, sizeof(p->rc->errstr), "%s", why);
    }
}


/* before a command of its own: nothing owed (else its reply would be
 * taken for an owed one), and the held apply answered */
static int
ota_pipe_ready(ota_pipe_t *p, int settle)
{
    if (ota_pipe_lost(p)) {
        return -1;
    }
    if (p->owed != 0) {
        ota_log(OTA_LOG_ERR, "a command while %d replies are owed: the "
                "connection starts over", p->owed);
        ota_pipe_break(p, "replies out of order");
        return -1;
    }
    if (settle && p->held.settle != NULL) {
        (void) ota_pipe_settle(p);
        if (ota_pipe_lost(p)) {
            return -1;
        }
    }
    return 0;
}


static redisReply *
ota_pipe_get(ota_pipe_t *p)
{
    void  *r = NULL;

    if (redisGetReply(p->rc, &r) != REDIS_OK) {
        return NULL;
    }
    return r;
}


/* ---- single commands --------------------------------------------------- */

redisReply *
ota_pipe_cmd(ota_pipe_t *p, const char *fmt, ...)
{
    va_list      ap;
    redisReply  *r;
    int          rv;

    if (ota_pipe_ready(p, 1) != 0) {
        return NULL;
    }
    va_start(ap, fmt);
    rv = redisvAppendCommand(p->rc, fmt, ap);
    va_end(ap);
    if (rv != REDIS_OK) {
        return NULL;
    }
    r = ota_pipe_get(p);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "Redis refused %.40s...: %s", fmt, r->str);
    }
    return r;
}


redisReply *
ota_pipe_exec(ota_pipe_t *p, ota_cmd_t *c)
{
    if (ota_pipe_ready(p, 1) != 0) {
        return NULL;
    }
    return ota_cmd_exec(p->rc, c);
}


redisReply *
ota_pipe_script(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args)
{
    redisReply  *r;

    if (ota_pipe_ready(p, 1) != 0) {
        return NULL;
    }
    r = ota_script_run(p->rc, s, args);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "script %s failed: %s", s->name, r->str);
    }
    return r;
}


/* ---- pipelines --------------------------------------------------------- */

static int
ota_pipe_appended(ota_pipe_t *p, int ok)
{
    if (!ok) {
        /* what part of the pipeline went out is unknown */
        ota_pipe_break(p, "out of memory appending a command");
        return -1;
    }
    p->owed++;
    return 0;
}


int
ota_pipe_append(ota_pipe_t *p, const char *fmt, ...)
{
    va_list  ap;
    int      rv;

    if (p->owed == 0 && ota_pipe_ready(p, 1) != 0) {
        return -1;
    }
    if (ota_pipe_lost(p)) {
        return -1;
    }
    va_start(ap, fmt);
    rv = redisvAppendCommand(p->rc, fmt, ap);
    va_end(ap);
    return ota_pipe_appended(p, rv == REDIS_OK);
}


int
ota_pipe_append_argv(ota_pipe_t *p, int argc, const char **argv,
    const size_t *argvlen)
{
    if (p->owed == 0 && ota_pipe_ready(p, 1) != 0) {
        return -1;
    }
    if (ota_pipe_lost(p)) {
        return -1;
    }
    return ota_pipe_appended(p, redisAppendCommandArgv(p->rc, argc, argv,
                                                       argvlen) == REDIS_OK);
}


int
ota_pipe_append_script(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args)
{
    if (p->owed == 0 && ota_pipe_ready(p, 1) != 0) {
        return -1;
    }
    if (ota_pipe_lost(p)) {
        return -1;
    }
    return ota_pipe_appended(p, ota_script_append(p->rc, s, args) == 0);
}


int
ota_pipe_append_read(ota_pipe_t *p, int argc, const char **argv)
{
    /* a parked apply stays parked: it goes behind this read; one already
     * sent is answered first (its reply would come before the read's) */
    if (p->owed == 0
        && ota_pipe_ready(p, p->held.settle != NULL && p->held.sent) != 0)
    {
        return -1;
    }
    if (ota_pipe_lost(p)) {
        return -1;
    }
    return ota_pipe_appended(p, redisAppendCommandArgv(p->rc, argc, argv,
                                                       NULL) == REDIS_OK);
}


redisReply *
ota_pipe_reply(ota_pipe_t *p)
{
    if (ota_pipe_lost(p) || p->owed == 0) {
        return NULL;
    }
    p->owed--;
    return ota_pipe_get(p);
}


redisReply *
ota_pipe_reply_arena(ota_pipe_t *p, ota_arena_t *a)
{
    if (ota_pipe_lost(p) || p->owed == 0) {
        return NULL;
    }
    p->owed--;
    return ota_arena_reply(p->rc, a);
}


/* ---- the held apply ------------------------------------------------------ */

void
ota_pipe_hold(ota_pipe_t *p, ota_script_t *s, ota_cmd_t *args,
    ota_pipe_settle_pt settle, void *data)
{
    p->held.script = s;
    p->held.args = args;
    p->held.settle = settle;
    p->held.data = data;
    p->held.sent = 0;
}


int
ota_pipe_held(const ota_pipe_t *p)
{
    return p->held.settle == NULL ? 0
           : p->held.sent ? OTA_PIPE_SENT : OTA_PIPE_HELD;
}


int
ota_pipe_send_held(ota_pipe_t *p)
{
    if (p->held.settle == NULL || p->held.sent) {
        return 0;
    }
    if (ota_pipe_lost(p)
        || ota_script_append(p->rc, p->held.script, p->held.args) != 0)
    {
        /* the read may be on the wire without the apply: replies would no
         * longer match their commands */
        ota_pipe_break(p, "out of memory sending an apply");
        return -1;
    }
    p->held.sent = 1;
    p->ahead++;
    return 0;
}


int
ota_pipe_settle(ota_pipe_t *p)
{
    ota_pipe_held_t   h = p->held;
    redisReply       *r = NULL;
    int               rc;

    if (h.settle == NULL) {
        return 0;
    }
    if (p->owed != 0) {
        ota_log(OTA_LOG_ERR, "an apply answered while %d replies are owed: "
                "the connection starts over", p->owed);
        ota_pipe_break(p, "replies out of order");
    }
    memset(&p->held, 0, sizeof(p->held));     /* the connection is free */

    if (!ota_pipe_lost(p)
        && (h.sent || ota_script_append(p->rc, h.script, h.args) == 0))
    {
        r = ota_pipe_get(p);
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOSCRIPT", 8) == 0)
    {
        freeReplyObject(r);               /* Redis forgot it: run it again */
        r = ota_script_run(p->rc, h.script, h.args);
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "script %s failed: %s", h.script->name, r->str);
    }
    rc = h.settle(h.data, r);
    freeReplyObject(r);
    return rc;
}
