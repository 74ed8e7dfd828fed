/*
 * ota_keys.h: the one place that names every Redis key, stream, group and
 * channel of the OTA system.  The module, the worker, otactl and the tests
 * build keys only through these macros (printf formats) so a rename happens
 * here and nowhere else.  docs/redis-schema.md documents each key's type and
 * fields.
 *
 * Hash tags: every key that belongs to one device carries "{<device>}" so a
 * device's keys (record, versions, open tasks, coverage, nonces) live in
 * one Redis Cluster slot and can be changed together by one script or
 * MULTI.  Batch, product and package keys are tagged by their own id
 * likewise (a batch's tasks are batch keys: see OTA_KEY_BATCH_STATE).
 */

#ifndef OTA_KEYS_H
#define OTA_KEYS_H

#define OTA_KEY_PREFIX          "ota:"

/* ---- devices (tag: device) ------------------------------------------- */

/* HASH product, secret, created (unix s) */
#define OTA_KEY_DEVICE          "ota:dev:{%s}"
/* HASH module -> current version "X.Y.Z", and "<module>@ts" -> ts (ms) of
 * the inform event that set it, so a late, older report never overwrites a
 * newer one (worker; '@' is not allowed in module names) */
#define OTA_KEY_DEVICE_VERSIONS "ota:dev:{%s}:ver"
#define OTA_VERSION_TS_SUFFIX   "@ts"
/* HASH module -> batch id of the device's open task for that module */
#define OTA_KEY_DEVICE_OPEN     "ota:dev:{%s}:open"
/* HASH module -> batch id of the device's last task of that module that
 * became final (worker, in the same step that clears the open entry): a
 * download event that arrives after the task closed (its merge answered
 * after the device's inform) still finds the task and raises its covered,
 * without moving its state (docs/worker.md, "Late coverage") */
#define OTA_KEY_DEVICE_LAST     "ota:dev:{%s}:last"
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
/* HASH "<module>:<version>" -> package id (one full package per
 * module+version), "<module>:<from>><version>" -> a diff package's id */
#define OTA_KEY_PRODUCT_PKGVER  "ota:prod:{%s}:pkgver"
/* HASH signing policy: require ("1": unsigned packages refused), pubkey
 * (PEM: the only key accepted, optional), key_id (docs/signing.md) */
#define OTA_KEY_PRODUCT_SIGNING "ota:prod:{%s}:signing"
/* SET ids of the product's running dynamic batches */
#define OTA_KEY_PRODUCT_DYNAMIC "ota:prod:{%s}:dynamic"
/* HASH version -> device count, for one (product, module) */
#define OTA_KEY_VERSION_DIST    "ota:verdist:{%s}:%s"       /* product, module */
/* SET devices now at one version of one (product, module) */
#define OTA_KEY_VERSION_SET     "ota:verset:{%s}:%s:%s"     /* product, module, version */

/* ---- packages (tag: package id) -------------------------------------- */

/* HASH package record: see docs/redis-schema.md */
#define OTA_KEY_PACKAGE         "ota:pkg:{%s}"
/* HASH of a full package: from version -> id of the diff package from that
 * version to it (same product, module and version): the index the upgrade
 * answers (HTTP and MQTT) and the worker read to offer and count the diff
 * (docs/delta.md).  Written by package_add.lua, for a diff when its target
 * exists and for a full package from the diffs already registered */
#define OTA_KEY_PACKAGE_DIFFS   "ota:pkg:{%s}:diffs"
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
/*
 * The tasks of a batch, one per device of OTA_KEY_BATCH_DEVICES, stored by
 * column: one HASH device -> value per field, so the worker reads and
 * writes the tasks of a whole stream read with one variadic command per
 * column.  A device absent from a column has the column's default.  The
 * fields every task of the batch shares (package, product, module,
 * version, size) are the batch's own.
 */
/* the device's version of the module when it got the task; default "" */
#define OTA_KEY_BATCH_FROM      "ota:batch:{%s}:from"
/* task state; default pending */
#define OTA_KEY_BATCH_STATE     "ota:batch:{%s}:state"
/* bytes of the package the device has downloaded; default 0 */
#define OTA_KEY_BATCH_COVERED   "ota:batch:{%s}:covered"
/* last install step reported (-4 .. 100); default none */
#define OTA_KEY_BATCH_STEP      "ota:batch:{%s}:step"
/* why the task failed; default none */
#define OTA_KEY_BATCH_REASON    "ota:batch:{%s}:reason"
/* last progress description (at most 128 bytes); default none */
#define OTA_KEY_BATCH_DESC      "ota:batch:{%s}:desc"
/* ms the task was created (devices that joined a dynamic batch); default
 * the batch's created */
#define OTA_KEY_BATCH_CREATED   "ota:batch:{%s}:created"
/* ms of the task's last change; default its created */
#define OTA_KEY_BATCH_UPDATED   "ota:batch:{%s}:updated"
/* task column: the diff package whose coverage the task's covered counts
 * (the device downloads the diff it was offered); absent: the batch's own
 * package (docs/delta.md) */
#define OTA_KEY_BATCH_PKG       "ota:batch:{%s}:pkg"
/* task column: that diff's bytes, what covered is measured against
 * (progress); absent: the batch's size */
#define OTA_KEY_BATCH_PSIZE     "ota:batch:{%s}:psize"
/* HASH a rollout's counters per wave (docs/rollouts.md): "<wave>:<state>"
 * -> tasks of the wave in that state (pending left out: it is the wave's
 * size less the others), "<wave>:r:<reason>" -> its failures by reason,
 * "<wave>:opened" -> ms the wave opened (worker, in the step that moves
 * the tasks) */
#define OTA_KEY_BATCH_WAVES     "ota:batch:{%s}:waves"
/* LIST the batch's history: JSON {"at","event",...} of each start, wave
 * opened, pause, resume, abort, cancel and finish, oldest first, at most
 * OTA_HISTORY_MAX (worker) */
#define OTA_KEY_BATCH_HISTORY   "ota:batch:{%s}:history"
#define OTA_HISTORY_MAX         200
/* ZSET the devices newly offered the upgrade of a batch with a rate
 * limit in the last minute: device -> ms (module, every node; entries
 * older than a minute are trimmed by whoever offers) */
#define OTA_KEY_BATCH_OFFERS    "ota:batch:{%s}:offers"
/* ZSET every batch id scored by creation time */
#define OTA_KEY_BATCHES         "ota:batches"
/* SET active-push batches with waves or a start time whose notices are
 * being published, wave by wave, by the worker's tick (notify.lua) */
#define OTA_KEY_NOTIFY          "ota:notify"
/* ZSET scheduled batches (--start-at) scored by their start (ms) */
#define OTA_KEY_SCHEDULED       "ota:scheduled"
/* ZSET "<batch>:<device>" of in-progress tasks scored by the time (ms)
 * they fail as timed out unless they progress (worker) */
#define OTA_KEY_TASK_DEADLINES  "ota:deadlines"

/* ---- the platform ------------------------------------------------------ */

/* HASH the platform's settings (include/ota_settings.h): setting name ->
 * value as stored; a field that is absent has its default */
#define OTA_KEY_CONFIG          "ota:config"
/* STREAM every write through the admin API and otactl: who, what, when,
 * the answer (include/ota_audit.h); capped with MAXLEN ~ */
#define OTA_STREAM_AUDIT        "ota:audit"

/* ---- streams, groups, replies, channels ------------------------------- */

/* STREAM admin jobs (otactl -> worker): see ota_fields.h */
#define OTA_STREAM_JOBS         "ota:jobs"
/* STREAM device events (nginx module -> worker): see ota_fields.h */
#define OTA_STREAM_EVENTS       "ota:events"
/* consumer group on both streams */
#define OTA_GROUP               "ota-workers"
/* STRING the consumer that reads new events (the reader lease, PX): it
 * moves the group's last-delivered id in the script that stores their
 * effects (docs/worker.md, "One reader") */
#define OTA_KEY_EVENTS_READER   "ota:events:reader"
/* LIST one job's result for otactl to BLPOP; expires after a minute */
#define OTA_KEY_JOB_REPLY       "ota:reply:%s"              /* job id */
#define OTA_KEY_JOB             "ota:job:%s"    /* job id: hash, state while
                                                   a package_diff runs */
/* pub/sub: upgrade notice for one device (active push batches) */
#define OTA_CHANNEL_PUSH        "ota:push:%s"               /* device */
/* pub/sub: a device may have a new offer (an upgrade it can fetch now):
 * nginx's waiting upgrade requests (GET upgrade?wait=) re-check on it.
 * Every nginx worker process of every node subscribes once.  A message is
 * one of (words separated by one space; include/ota_wake.h parses it):
 *   "dev <module> <device> [<device>...]"  these devices, this module
 *   "mod <product> <module>"  any device of the product, this module
 *                             (a batch started running or resumed) */
#define OTA_CHANNEL_WAKE        "ota:wake"
#define OTA_WAKE_DEVICES        "dev"
#define OTA_WAKE_MODULE         "mod"
/* STREAM upgrade notices to deliver over MQTT: one entry (device product
 * module batch ts) per task of an active-push batch, read by the bridges
 * (ota-mqtt) in the group OTA_GROUP_BRIDGES and acknowledged after the
 * broker took the MQTT publish, so a notice waits while bridges or broker
 * are down.  The bridges create it (MKSTREAM) and trim it; the worker
 * appends with NOMKSTREAM, so without any bridge nothing piles up */
#define OTA_STREAM_NOTICES      "ota:notices"
#define OTA_GROUP_BRIDGES       "ota-bridges"
/* HASH reason -> MQTT messages the bridges dropped (admin metrics) */
#define OTA_KEY_MQTT_DROPPED    "ota:mqtt:dropped"
/* HASH kind -> MQTT messages the bridges handled (admin metrics) */
#define OTA_KEY_MQTT_HANDLED    "ota:mqtt:handled"
/* HASH worker heartbeats: consumer name -> unix time */
#define OTA_KEY_WORKERS         "ota:workers"

#endif /* OTA_KEYS_H */
