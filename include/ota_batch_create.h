/*
 * ota_batch_create.h: creating a batch as an admin asks for it (`otactl
 * batch create`, `POST batches`), shared by otactl and the admin API: the
 * checks of its options, its id, and the job on OTA_STREAM_JOBS that the
 * worker runs (docs/redis-schema.md, "Streams"); also the envelope of the
 * other jobs (pause, resume, cancel).
 */

#ifndef OTA_BATCH_CREATE_H
#define OTA_BATCH_CREATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ota_check.h"
#include "ota_names.h"
#include "ota_version.h"

#define OTA_BATCH_DEVICES_MAX   10000   /* in a verify batch's list */
#define OTA_BATCH_NAME_MAX      128

typedef struct {
    /* as given (NULL when absent) */
    const char   *package;
    const char   *type;                 /* verify | upgrade */
    const char   *name;
    const char   *devices;              /* "d1,d2,...": verify */
    const char   *from_version;
    const char   *protocol;             /* http | https (default) | mqtt */
    const char   *method;               /* static (default) | dynamic */
    int           push;

    /* filled by ota_batch_check() */
    char          fvbuf[OTA_VERSION_STR_MAX];   /* canonical, or "" */
    int           ndevices;
} ota_batch_opts_t;

/* every option; fills the defaults and the canonical source version */
int ota_batch_check(ota_check_t *c, ota_batch_opts_t *b);

/* a new batch id "b<UTC yyyymmddHHMMSS>-<8 hex>" from 4 random bytes into
 * id (OTA_NAME_MAX + 1 bytes) */
void ota_batch_id(char *id, time_t now, const unsigned char *rnd);

/*
 * A job as an XADD argument vector (redisCommandArgv,
 * redisAsyncCommandArgv): XADD OTA_STREAM_JOBS * job <job id> ts <ms>
 * expires <ms> then the job's own fields.  The vector points into what it
 * is given (which must live until it is sent) and into the struct.
 * expires: when the one who asked stopped waiting; a worker that reads the
 * job later refuses it instead of acting behind the admin's back.
 */
#define OTA_JOBCMD_ARGC_MAX  64
#define OTA_JOBCMD_COPY_MAX  2048       /* bytes of copied fields */

typedef struct {
    int           argc;
    const char   *argv[OTA_JOBCMD_ARGC_MAX];
    size_t        argvlen[OTA_JOBCMD_ARGC_MAX];
    char          num[2][24];
    char          copy[OTA_JOBCMD_COPY_MAX];
    size_t        copied;
    int           full;                 /* for callers' callbacks */
} ota_jobcmd_t;

/* the envelope; 0, or -1 when the job id is not 1-64 hex characters */
int ota_jobcmd_init(ota_jobcmd_t *j, const char *job, int64_t now_ms,
    int64_t expires_ms);

/* one field of the job; -1 when the vector is full */
int ota_jobcmd_add(ota_jobcmd_t *j, const char *field, const char *value);

/* the same, copying field and value into the struct (for values that do
 * not outlive the call, such as ota_rollout_fields()'s); -1 when full */
int ota_jobcmd_add_copy(ota_jobcmd_t *j, const char *field,
    const char *value);

/* a batch_create job's fields for b (checked) and id */
int ota_jobcmd_batch_create(ota_jobcmd_t *j, const ota_batch_opts_t *b,
    const char *id);

/* a pause / resume / cancel job (type: OTA_JOB_BATCH_*) of batch id */
int ota_jobcmd_batch_op(ota_jobcmd_t *j, const char *type, const char *id);

/* the job type of a verb: "pause" -> OTA_JOB_BATCH_PAUSE, NULL when it is
 * none of pause, resume, cancel */
const char *ota_batch_op_job(const char *verb);

#endif /* OTA_BATCH_CREATE_H */
