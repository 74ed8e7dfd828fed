/*
 * ota_batch_req.h: a request to create a batch (the options of `otactl
 * batch create`, docs/otactl.md and docs/rollouts.md), checked and turned
 * into the fields of the batch_create job (ota_fields.h) in one place.
 * otactl runs it on its command line, the admin API on a POST body, and
 * the worker again on the job it reads (a job may come from anywhere), so
 * every path accepts and refuses the same options with the same reasons.
 */

#ifndef OTA_BATCH_REQ_H
#define OTA_BATCH_REQ_H

#include <stdint.h>

#include "ota_rollout.h"
#include "ota_version.h"

#define OTA_BATCH_NAME_MAX      128     /* characters of a batch name */
#define OTA_BATCH_DEVICES_MAX   10000   /* devices of a verify batch */

/* the options as given (NULL: not given); strings, as a command line or a
 * job entry carries them */
typedef struct {
    const char  *package;
    const char  *type;              /* verify | upgrade */
    const char  *name;
    const char  *devices;           /* d1,d2,... (verify) */
    const char  *from_version;
    const char  *protocol;          /* http | https | mqtt (https) */
    const char  *method;            /* static | dynamic (static) */
    const char  *push;              /* "1" for active push */
    /* the rollout (docs/rollouts.md) */
    const char  *waves;             /* 1%,10%,100% | 10,100,1000 */
    const char  *success_threshold; /* percent (100 with waves) */
    const char  *error_threshold;   /* percent */
    const char  *max_per_minute;    /* devices newly offered per minute */
    const char  *ramp;              /* BASE,FACTOR */
    const char  *abort_failure_rate;    /* percent */
    const char  *abort_min;         /* finished devices */
    const char  *start_at;          /* a time (ota_time_parse) or unix ms */
    const char  *timeout;           /* minutes per task */
} ota_batch_req_t;

/* the request checked and normalized; strings point into the request */
typedef struct {
    const char   *package;
    const char   *type;
    const char   *name;
    const char   *devices;          /* "" for an upgrade batch */
    char          from_version[OTA_VERSION_STR_MAX];
    const char   *protocol;
    const char   *method;
    int           push;
    int           ndevices;
    /* the rollout: -1 (or 0 for the counts) when not given */
    int           rollout;          /* a rule checked as tasks end */
    int           gated;            /* offers by wave, rate or start */
    ota_waves_t   waves;            /* n == 0: none */
    long long     success;          /* hundredths */
    long long     error;
    long long     max_per_minute;
    long long     ramp_base, ramp_factor;
    long long     abort_rate;
    long long     abort_min;
    int64_t       start_at;         /* ms, 0: none */
    long long     timeout;          /* minutes */
} ota_batch_job_t;

/* the producer (otactl, the admin API) also refuses a start in the past */
#define OTA_BATCH_REQ_PRODUCER  1

/* 0, or -1 with a one-line reason in err (what was wrong and what to
 * write instead) */
int ota_batch_req_check(const ota_batch_req_t *r, int flags, int64_t now_ms,
    ota_batch_job_t *j, char *err, size_t errlen);

/* called once per field, in order, with NUL-terminated name and value */
typedef void (*ota_batch_kv_pt)(void *ctx, const char *k, const char *v);

/* every field of the batch_create job but type, id, job, ts and expires
 * (the producer adds those): package batch_type name devices from_version
 * protocol method push, then the rollout options that were given */
void ota_batch_job_fields(const ota_batch_job_t *j, ota_batch_kv_pt add,
    void *ctx);

/* the rollout options as the batch record keeps them (ramp as ramp_base
 * and ramp_factor, the rollout flag), nothing for a batch without */
void ota_batch_rollout_fields(const ota_batch_job_t *j, ota_batch_kv_pt add,
    void *ctx);

#endif /* OTA_BATCH_REQ_H */
