/*
 * worker_job.c: what every admin job does with the job in hand, whatever
 * runs it (worker_jobs.c, worker_diff.c): its reply to otactl, its
 * refusal, and its claim kept fresh.
 */

#include "worker_job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"


/* pushes the reply for otactl (if anyone waits) */
int
ota_job_reply(ota_worker_t *w, ota_job_t *j, json_t *v)
{
    char         key[128], *s;
    redisReply  *r;

    if (v == NULL) {
        return OTA_W_RETRY;
    }
    if (j->job[0] == '\0' || !ota_name_id(j->job, strlen(j->job))) {
        json_decref(v);
        return OTA_W_OK;
    }
    s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (s == NULL) {
        return OTA_W_RETRY;
    }
    snprintf(key, sizeof(key), OTA_KEY_JOB_REPLY, j->job);
    if (ota_pipe_append(&w->pipe, "RPUSH %s %s", key, s) == 0
        && ota_pipe_append(&w->pipe, "EXPIRE %s 60", key) == 0)
    {
        r = ota_pipe_reply(&w->pipe);
        freeReplyObject(r);
        r = ota_pipe_reply(&w->pipe);
        freeReplyObject(r);
    }
    free(s);
    return ota_pipe_lost(&w->pipe) ? OTA_W_RETRY : OTA_W_OK;
}

int
ota_job_error(ota_worker_t *w, ota_job_t *j, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ota_log(OTA_LOG_INFO, "job %s (%s %s) refused: %s", j->entry_id, j->type,
            j->id, msg);
    return ota_job_reply(w, j, json_pack("{s:b, s:s, s:s}", "ok", 0,
                                         "error", msg, "id", j->id));
}

/* keeps our claim on the job fresh so nobody takes it over while we work */
void
ota_job_keep(ota_worker_t *w, ota_job_t *j)
{
    redisReply  *r;

    r = ota_pipe_cmd(&w->pipe, "XCLAIM " OTA_STREAM_JOBS " " OTA_GROUP
                     " %s 0 %s JUSTID", w->consumer, j->entry_id);
    freeReplyObject(r);
}
