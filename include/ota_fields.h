/*
 * ota_fields.h: names of the fields of stream entries (events from nginx,
 * jobs from otactl), of task states and of hash fields read by more than one
 * program.  Producers and consumers use these names so the two sides cannot
 * drift apart.
 */

#ifndef OTA_FIELDS_H
#define OTA_FIELDS_H

/* ---- every stream entry ----------------------------------------------- */
#define OTA_F_TYPE          "type"
#define OTA_F_TS            "ts"            /* producer's clock, ms */

/* ---- events (OTA_STREAM_EVENTS) --------------------------------------- */
#define OTA_EV_DOWNLOAD     "download"      /* device package module covered size
                                               [batch notified] */
#define OTA_EV_INFORM       "inform"        /* device product module version */
#define OTA_EV_PROGRESS     "progress"      /* device product module step desc */
#define OTA_EV_NOTIFIED     "notified"      /* device module batch package */

#define OTA_F_DEVICE        "device"
#define OTA_F_PRODUCT       "product"
#define OTA_F_MODULE        "module"
#define OTA_F_PACKAGE       "package"
#define OTA_F_BATCH         "batch"
#define OTA_F_VERSION       "version"
#define OTA_F_COVERED       "covered"       /* bytes of the package delivered */
#define OTA_F_SIZE          "size"          /* bytes in the package (all files) */
#define OTA_F_STEP          "step"          /* -4..100 */
#define OTA_F_DESC          "desc"
#define OTA_F_NOTIFIED      "notified"      /* download: ms the upgrade answer
                                               handed out the task of batch:
                                               its notified event folded in */

/* ---- batch states (the worker moves them; the admin API reads them) ---- */
#define OTA_BATCH_CREATING   "creating"
#define OTA_BATCH_RUNNING    "running"
#define OTA_BATCH_PAUSED     "paused"
#define OTA_BATCH_CANCELLED  "cancelled"
#define OTA_BATCH_FINISHED   "finished"

/* ---- jobs (OTA_STREAM_JOBS) ------------------------------------------- */
#define OTA_JOB_BATCH_CREATE "batch_create"
#define OTA_JOB_BATCH_PAUSE  "batch_pause"
#define OTA_JOB_BATCH_RESUME "batch_resume"
#define OTA_JOB_BATCH_CANCEL "batch_cancel"
#define OTA_JOB_PACKAGE_DIFF "package_diff"
#define OTA_JOB_RUNNING      "running"      /* OTA_KEY_JOB state */

/* package_diff's fields (the new package is OTA_F_ID) */
#define OTA_F_DIFF_FROM     "from"          /* the old package */
#define OTA_F_DIFF_LEVEL    "level"
#define OTA_F_DIFF_RATIO    "max_ratio"
#define OTA_F_DIFF_DESC     "desc"
#define OTA_F_SIGN_LATER    "sign_later"    /* "1": state unsigned */

#define OTA_F_ID            "id"            /* batch id */
#define OTA_F_JOB           "job"           /* job id, names OTA_KEY_JOB_REPLY */
#define OTA_F_EXPIRES       "expires"       /* ms: otactl stopped waiting;
                                               the worker refuses it then */
#define OTA_F_BTYPE         "batch_type"    /* verify | upgrade */
#define OTA_F_NAME          "name"
#define OTA_F_DEVICES       "devices"       /* comma separated */
#define OTA_F_FROM_VERSION  "from_version"
#define OTA_F_PROTOCOL      "protocol"      /* http | https | mqtt */
#define OTA_F_METHOD        "method"        /* static | dynamic */
#define OTA_F_PUSH          "push"          /* 0 | 1 */
/* the rollout options of batch_create (docs/rollouts.md), normalized by
 * include/ota_rollout.c; the batch record keeps them under the same
 * names */
#define OTA_F_WAVES         "waves"         /* "1%,10%,100%" or "10,100" */
#define OTA_F_SUCCESS_THRESHOLD "success_threshold" /* percent */
#define OTA_F_ERROR_THRESHOLD "error_threshold"     /* percent */
#define OTA_F_MAX_PER_MINUTE "max_per_minute"       /* devices offered */
#define OTA_F_RAMP          "ramp"          /* "BASE,FACTOR" */
#define OTA_F_ABORT_RATE    "abort_failure_rate"    /* percent */
#define OTA_F_ABORT_MIN     "abort_min"     /* finished devices */
#define OTA_F_START_AT      "start_at"      /* ms */
#define OTA_F_TIMEOUT       "timeout"       /* minutes per task */

/* ---- batch record fields of a rollout (written by the worker) ---------- */
#define OTA_R_ROLLOUT       "rollout"       /* "1": waves, an error
                                               threshold, an abort rule or
                                               a ramp, checked as tasks
                                               move */
#define OTA_R_WAVE_BOUNDS   "wave_bounds"   /* "2,15": ranks ending waves */
#define OTA_R_WAVE          "wave"          /* the wave open last, 1.. */
#define OTA_R_WAVE_UPTO     "wave_upto"     /* devices of rank <= it are
                                               offered; none: every one */
#define OTA_R_WAVE_ACK      "wave_ack"      /* waves up to it: their error
                                               pause was resumed by an admin */
#define OTA_R_RATE          "rate"          /* devices newly offered per
                                               minute now (the ramp grows
                                               it); none: no limit */
#define OTA_R_ABORT         "abort"         /* why it was aborted */
#define OTA_R_ABORTED       "aborted"       /* ms */
#define OTA_R_STARTED       "started"       /* ms it started running */
#define OTA_R_PAUSE_REASON  "pause_reason"
#define OTA_R_PAUSE_KIND    "pause_kind"    /* admin | error_threshold */
#define OTA_R_PAUSE_WAVE    "pause_wave"
#define OTA_R_NOTICE_RANK   "notice_rank"   /* push notices published up to
                                               this rank (notify.lua) */
/* OTA_KEY_BATCH_WAVES: "<wave>:<state>", "<wave>:r:<reason>" counts and */
#define OTA_R_WAVE_OPENED   "opened"        /* "<wave>:opened" -> ms */
/* the batch state before its --start-at */
#define OTA_BATCH_SCHEDULED "scheduled"

/* ---- task states (docs/redis-schema.md "Tasks", docs/worker.md) -------- */
#define OTA_ST_PENDING      "pending"
#define OTA_ST_NOTIFIED     "notified"
#define OTA_ST_DOWNLOADING  "downloading"
#define OTA_ST_DOWNLOADED   "downloaded"
#define OTA_ST_INSTALLING   "installing"
#define OTA_ST_SUCCEEDED    "succeeded"
#define OTA_ST_FAILED       "failed"
#define OTA_ST_CANCELLED    "cancelled"

/* ---- package states ---------------------------------------------------- */
#define OTA_PKG_UNVERIFIED    "unverified"
#define OTA_PKG_VERIFYING     "verifying"
#define OTA_PKG_VERIFIED      "verified"
#define OTA_PKG_VERIFY_FAILED "verify_failed"
#define OTA_PKG_READY         "ready"
/* uploaded with sign_later: waits for POST packages/<id>/signature */
#define OTA_PKG_UNSIGNED      "unsigned"

/* batch record counters of the deltas (docs/delta.md): bytes saved
 * (the full package's size less the diff's, for each task that succeeded
 * on the diff) and the number of such tasks (worker, apply.lua) */
#define OTA_B_BYTES_SAVED     "bytes_saved"
#define OTA_B_DIFF_SUCCEEDED  "diff_succeeded"

/* ---- package store ------------------------------------------------------
 * <ota_package_root>/<package id>/            one directory per package
 *     manifest.json   {"id","product","module","version","type","from",
 *                      "sign_method","size","files":[{"name","size",
 *                      "sign","offset"}]} written last, atomically (rename)
 *     <file name>     each file, immutable once the manifest exists
 * "offset" is the file's first byte in the package's concatenated byte
 * space, in which download coverage is counted.
 */
#define OTA_MANIFEST_NAME   "manifest.json"

#endif /* OTA_FIELDS_H */
