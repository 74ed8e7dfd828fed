/*
 * worker_job.h: an admin job from the job stream, as read (ota_job_t) and
 * in hand while it runs in steps (ota_job_run_t), and what every job does
 * with it (worker_job.c).  The jobs themselves: worker_jobs.h (batches),
 * worker_diff.h (package diffs).
 */

#ifndef WORKER_JOB_H
#define WORKER_JOB_H

#include <jansson.h>

#include "ota_rollout.h"
#include "ota_worker.h"

#define OTA_JOB_MORE    1

typedef struct {
    const char  *entry_id;
    const char  *type;
    const char  *job;
    const char  *id;
    const char  *package;
    const char  *btype;
    const char  *name;
    const char  *devices;
    const char  *from_version;
    const char  *protocol;
    const char  *method;
    const char  *push;
    long long    expires;
    const char  *diff_from;         /* package_diff: the old package */
    const char  *level;
    const char  *max_ratio;
    const char  *desc;
    const char  *sign_later;        /* "1": recorded unsigned */
    ota_rollout_opts_t  ro;         /* the rollout's fields as given */
} ota_job_t;

enum { OTA_JOB_CREATE = 0, OTA_JOB_CANCEL, OTA_JOB_DIFF };

/* a job in hand; its strings point into the entry, which must live until
 * the job ends */
typedef struct {
    ota_job_t    j;
    int          phase;
    const char  *op;                /* pause, resume, cancel */
    /* creating tasks */
    char         cursor[64];        /* where the next chunk starts */
    char         src[256];          /* the set walked (upgrade batches) */
    const char  *list;              /* or the job's device list */
    redisReply  *pre;               /* the next SSCAN page, read behind the
                                       chunk before it */
    long long    made;
    int64_t      t0, last_keep;
    ota_rollout_t  rollout;         /* checked (ota_job_check) */
    /* cancelling tasks */
    long long    start;
    /* package_diff (worker_diff.c): otactl computing it */
    int          pid;               /* 0: none */
    int          fd[2];             /* its stdout, stderr */
    char         out[256];          /* what it printed */
    char         err[1024];
    size_t       nout, nerr;
} ota_job_run_t;

/* a job's reply (v is consumed), a refusal, and the claim on the job
 * kept fresh */
int ota_job_reply(ota_worker_t *w, ota_job_t *j, json_t *v);
int ota_job_error(ota_worker_t *w, ota_job_t *j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ota_job_keep(ota_worker_t *w, ota_job_t *j);

#endif /* WORKER_JOB_H */
