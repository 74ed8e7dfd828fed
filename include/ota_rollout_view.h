/*
 * ota_rollout_view.h: a batch's rollout (docs/rollouts.md) as the admin
 * reads it: waves table, current wave, pause reason, rate, abort,
 * scheduled start, read from the batch record and its per-wave counters
 * and laid out as JSON in one place, for `otactl batch show` and the
 * admin API's batches/<id> alike.
 */

#ifndef OTA_ROLLOUT_VIEW_H
#define OTA_ROLLOUT_VIEW_H

#include <jansson.h>

#include "ota_rollout.h"
#include "ota_stats.h"

typedef struct {
    const char  *s;
    size_t       len;
} ota_rview_t;

/*
 * Filled from the batch record (ota_rollout_field() per field of
 * OTA_KEY_BATCH) and the per-wave counters (ota_rollout_wave_field() per
 * field of OTA_KEY_BATCH_WAVES); the views point into the caller's
 * replies, which must live until the JSON is made.
 */
typedef struct {
    ota_rview_t  waves;             /* the option as normalized */
    ota_rview_t  success, error;    /* thresholds, percent text */
    ota_rview_t  abort_rate;
    ota_rview_t  ramp;              /* "BASE,FACTOR" */
    long long    max_per_minute;    /* 0: no rate limit */
    long long    rate;              /* the limit now */
    ota_rview_t  abort_reason;
    ota_rview_t  pause_reason;
    ota_rview_t  pause_kind;
    long long    bound[OTA_WAVES_MAX];
    int          nbound;
    int          has_bounds;
    long long    wave;              /* current, 0 before the start */
    long long    abort_min;
    long long    aborted;           /* ms */
    long long    start_at;          /* ms, 0: none */
    long long    started;           /* ms */
    long long    timeout;           /* minutes, -1: the worker's */
    long long    pause_wave;
    long long    wn[OTA_WAVES_MAX][OTA_TS_COUNT];
    long long    opened[OTA_WAVES_MAX];
} ota_rollout_view_t;

void ota_rollout_view_init(ota_rollout_view_t *v);
/* 1 when k is a field of the rollout (taken into v, or internal), 0 for
 * the batch's other fields */
int ota_rollout_field(ota_rollout_view_t *v, const char *k, size_t kl,
    const char *val, size_t vl);
void ota_rollout_wave_field(ota_rollout_view_t *v, const char *k, size_t kl,
    const char *val, size_t vl);

/* waves in the batch (1 without --waves: the whole batch) */
int ota_rollout_nwaves(const ota_rollout_view_t *v);

/* devices of wave k (1..), from the bounds and the batch's total */
long long ota_rollout_wave_size(const ota_rollout_view_t *v, int k,
    long long total);

/*
 * Sets on obj: "waves" ([] without --waves, else [{"wave","devices",
 * "state":"waiting|open|done","opened","counts":{...}}]), "wave" (null
 * without --waves), "success_threshold", "error_threshold", "pause_reason",
 * "pause_kind", "rate" ({"max_per_minute","ramp":{"base","factor"} or
 * null,"now"} or null), "abort" ({"failure_rate","min","reason","at"} or null),
 * "start_at", "started", "timeout" (minutes or null).  c: the batch's
 * counters (a single wave's counts are the batch's).  0, or -1 when out
 * of memory.
 */
int ota_rollout_json(const ota_rollout_view_t *v,
    const ota_batch_counts_t *c, json_t *obj);

#endif /* OTA_ROLLOUT_VIEW_H */
