/*
 * ota_task.h: the task state machine (docs/worker.md, "Events: the task
 * state machine"), as a pure function.
 *
 *   pending -> notified -> downloading -> downloaded -> installing
 *           -> succeeded | failed | cancelled
 *
 * The worker reads a task, runs every event it holds for that task through
 * ota_task_apply() and writes the result back with a compare-and-set on the
 * state it read, so the rules live here once and are unit tested
 * (t/unit/test_task.c).  Events carry absolute values (bytes covered, step,
 * version), so replaying one changes nothing and no rule ever moves a task
 * back to an earlier state.
 */

#ifndef OTA_TASK_H
#define OTA_TASK_H

#include "ota_stats.h"
#include "ota_version.h"

/* failure reasons (task field "reason", batch failures hash) */
#define OTA_REASON_UPGRADE     "upgrade_failed"     /* step -1 */
#define OTA_REASON_DOWNLOAD    "download_failed"    /* step -2 */
#define OTA_REASON_VERIFY      "verify_failed"      /* step -3 */
#define OTA_REASON_FLASH       "flash_failed"       /* step -4 */
#define OTA_REASON_TIMEOUT     "timeout"
#define OTA_REASON_WRONG_VER   "wrong_version"

#define OTA_STEP_MIN   -4
#define OTA_STEP_MAX   100

typedef enum {
    OTA_TE_NOTIFIED = 0,    /* device was handed the upgrade information */
    OTA_TE_DOWNLOAD,        /* covered bytes (absolute) of size */
    OTA_TE_PROGRESS,        /* step -4..100 */
    OTA_TE_INFORM,          /* the device's current version */
    OTA_TE_TIMEOUT,         /* no progress for longer than the timeout */
    OTA_TE_CANCEL           /* the batch was cancelled */
} ota_task_event_type_t;

typedef struct {
    ota_task_state_t  state;
    long long         covered;      /* bytes delivered, never decreases */
    long long         size;         /* bytes in the package covered
                                       counts (the diff's when diff) */
    long long         full;         /* bytes in the batch's package */
    int               diff;         /* covered counts the diff package
                                       the device was offered */
    int               step;         /* last step, valid when has_step */
    int               has_step;
    ota_version_t     target;       /* the package's version */
    ota_version_t     from;         /* version when the task was created */
    int               has_from;     /* 0: the device never reported one */
    const char       *reason;       /* set when state is failed */
} ota_task_t;

typedef struct {
    ota_task_event_type_t  type;
    long long              covered;     /* download */
    int                    diff;        /* download: of the diff, not of
                                           the batch's package */
    long long              size;        /* download: that package's bytes */
    int                    step;        /* progress */
    ota_version_t          version;     /* inform */
} ota_task_event_t;

/* what ota_task_apply() changed */
#define OTA_TASK_MOVED     0x01     /* state (and maybe reason) */
#define OTA_TASK_COVERED   0x02     /* covered grew */
#define OTA_TASK_STEP      0x04     /* step recorded */
#define OTA_TASK_PKG       0x08     /* covered counts another package now
                                       (diff, or back to the full one) */

/* Applies one event to t in place; returns the OTA_TASK_* bits of what
 * changed, 0 when the event changes nothing (late, repeated, or not
 * meaningful in the current state), -1 when the event is malformed
 * (step out of -4..100, negative covered).  A final task never moves, but
 * takes a later, larger covered (OTA_TASK_COVERED).
 *
 * Diffs (docs/delta.md): a download of the diff is taken by a task that
 * counted nothing yet (it becomes the package covered counts: OTA_TASK_PKG,
 * size the diff's); a download of the batch's package by a task on the
 * diff is the device falling back: covered counts the full package from
 * then on, from its own coverage, and a task that had the whole diff goes
 * back to downloading (OTA_TASK_MOVED).  Never back to the diff; a final
 * task never changes package. */
int ota_task_apply(ota_task_t *t, const ota_task_event_t *e);

/* the failure reason of a negative step, NULL for 0..100 */
const char *ota_task_step_reason(int step);

/* bytes a succeeded task saved by its diff (the full package's size less
 * the diff's), 0 when it did not succeed on a diff */
long long ota_task_saved(const ota_task_t *t);

/* 1 when a move from a to b is allowed by the state machine (b later
 * than a, a not final); used by tests and as a guard before writing */
int ota_task_can_move(ota_task_state_t a, ota_task_state_t b);

/* the counter deltas of one move: n[from]--, n[to]++ (total unchanged) */
void ota_task_count_move(ota_batch_counts_t *c, ota_task_state_t from,
    ota_task_state_t to);

#endif /* OTA_TASK_H */
