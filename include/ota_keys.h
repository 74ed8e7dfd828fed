/*
 * ota_keys.h: the one place that names every Redis key, stream, group and
 * channel of the OTA system.  The module, the worker, otactl and the tests
 * build keys only through these macros (printf formats) so a rename happens
 * here and nowhere else.  docs/redis-schema.md documents each key's type and
 * fields.
 *
 * Hash tags: every key that belongs to one device carries "{<device>}" so a
 * device's keys (record, versions, tasks, coverage, nonces) live in one Redis
 * Cluster slot and can be changed together by one script or MULTI.  Batch,
 * product and package keys are tagged by their own id likewise.
 */

#ifndef OTA_KEYS_H
#define OTA_KEYS_H

#define OTA_KEY_PREFIX          "ota:"

/* ---- devices (tag: device) ------------------------------------------- */

/* HASH product, secret, created (unix s) */
#define OTA_KEY_DEVICE          "ota:dev:{%s}"
/* HASH module -> current version "X.Y.Z" */
#define OTA_KEY_DEVICE_VERSIONS "ota:dev:{%s}:ver"
/* HASH module -> batch id of the device's open task for that module */
#define OTA_KEY_DEVICE_OPEN     "ota:dev:{%s}:open"
/* HASH module -> ts (ms) of the inform event that set the version, so a
 * late, older report never overwrites a newer one (worker) */
#define OTA_KEY_DEVICE_VERSION_TS "ota:dev:{%s}:verts"
/* ZSET batch id scored by creation time: every task the device ever had */
#define OTA_KEY_DEVICE_TASKS    "ota:dev:{%s}:tasks"
/* HASH one task (device, batch): see docs/redis-schema.md for fields */
#define OTA_KEY_TASK            "ota:task:{%s}:%s"          /* device, batch */
/* ZSET coverage of (device, package): member "start-end", score start */
#define OTA_KEY_COVERAGE        "ota:cov:{%s}:%s"           /* device, pkg */
/* STRING covered byte count of (device, package), kept by the same script */
#define OTA_KEY_COVERED         "ota:covn:{%s}:%s"          /* device, pkg */
/* STRING replay guard for one auth signature timestamp, expires with window */
#define OTA_KEY_AUTH_NONCE      "ota:nonce:{%s}:%s"         /* device, ts */

/* ---- products (tag: product) ----------------------------------------- */

/* SET every product name */
#define OTA_KEY_PRODUCTS        "ota:products"
/* SET devices of a product */
#define OTA_KEY_PRODUCT_DEVICES "ota:prod:{%s}:devices"
/* HASH module name -> JSON {"alias","desc","created"} */
#define OTA_KEY_PRODUCT_MODULES "ota:prod:{%s}:modules"
/* ZSET package ids of a product scored by creation time */
#define OTA_KEY_PRODUCT_PACKAGES "ota:prod:{%s}:pkgs"
/* HASH "<module>:<version>" -> package id (one package per module+version) */
#define OTA_KEY_PRODUCT_PKGVER  "ota:prod:{%s}:pkgver"
/* SET ids of the product's running dynamic batches */
#define OTA_KEY_PRODUCT_DYNAMIC "ota:prod:{%s}:dynamic"
/* HASH version -> device count, for one (product, module) */
#define OTA_KEY_VERSION_DIST    "ota:verdist:{%s}:%s"       /* product, module */
/* SET devices now at one version of one (product, module) */
#define OTA_KEY_VERSION_SET     "ota:verset:{%s}:%s:%s"     /* product, module, version */

/* ---- packages (tag: package id) -------------------------------------- */

/* HASH package record: see docs/redis-schema.md */
#define OTA_KEY_PACKAGE         "ota:pkg:{%s}"
/* ZSET every package id scored by creation time */
#define OTA_KEY_PACKAGES        "ota:pkgs"

/* ---- batches (tag: batch id) ----------------------------------------- */

/* HASH batch record */
#define OTA_KEY_BATCH           "ota:batch:{%s}"
/* HASH task state -> count (pending ... cancelled), kept on each transition */
#define OTA_KEY_BATCH_COUNTS    "ota:batch:{%s}:counts"
/* HASH failure reason -> count */
#define OTA_KEY_BATCH_FAILURES  "ota:batch:{%s}:failures"
/* ZSET devices of the batch scored by insertion order */
#define OTA_KEY_BATCH_DEVICES   "ota:batch:{%s}:devices"
/* HASH device -> its version of the module when batch creation gave it a
 * task (devices that never reported one are absent): the "from" of a task
 * not written yet (a pending task gets its hash on its first move) */
#define OTA_KEY_BATCH_FROM      "ota:batch:{%s}:from"
/* ZSET every batch id scored by creation time */
#define OTA_KEY_BATCHES         "ota:batches"
/* ZSET "<batch>:<device>" of in-progress tasks scored by the time (ms)
 * they fail as timed out unless they progress (worker) */
#define OTA_KEY_TASK_DEADLINES  "ota:deadlines"

/* ---- streams, groups, replies, channels ------------------------------- */

/* STREAM admin jobs (otactl -> worker): see ota_fields.h */
#define OTA_STREAM_JOBS         "ota:jobs"
/* STREAM device events (nginx module -> worker): see ota_fields.h */
#define OTA_STREAM_EVENTS       "ota:events"
/* consumer group on both streams */
#define OTA_GROUP               "ota-workers"
/* LIST one job's result for otactl to BLPOP; expires after a minute */
#define OTA_KEY_JOB_REPLY       "ota:reply:%s"              /* job id */
/* pub/sub: upgrade notice for one device (active push batches) */
#define OTA_CHANNEL_PUSH        "ota:push:%s"               /* device */
/* HASH worker heartbeats: consumer name -> unix time */
#define OTA_KEY_WORKERS         "ota:workers"

#endif /* OTA_KEYS_H */
