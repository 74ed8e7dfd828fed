/*
 * ota_stats.h: task states and the batch statistics computed from the
 * per-state counters (OTA_KEY_BATCH_COUNTS).  Shared by the worker, otactl
 * (`batch show`) and the module's admin API so all three print the same
 * numbers.
 */

#ifndef OTA_STATS_H
#define OTA_STATS_H

#include <stddef.h>

typedef enum {
    OTA_TS_PENDING = 0,
    OTA_TS_NOTIFIED,
    OTA_TS_DOWNLOADING,
    OTA_TS_DOWNLOADED,
    OTA_TS_INSTALLING,
    OTA_TS_SUCCEEDED,
    OTA_TS_FAILED,
    OTA_TS_CANCELLED,
    OTA_TS_COUNT
} ota_task_state_t;

/* "pending" ... "cancelled" (the OTA_ST_* names of ota_fields.h) */
const char *ota_task_state_name(ota_task_state_t s);

/* the state of a name, or -1 */
int ota_task_state_parse(const char *s, size_t len);

/* 1 for succeeded, failed, cancelled */
int ota_task_state_final(ota_task_state_t s);

typedef struct {
    long long  n[OTA_TS_COUNT];
    long long  total;             /* tasks in the batch */
} ota_batch_counts_t;

/* succeeded / (succeeded + failed), or -1 when neither happened yet
 * (printed as JSON null, "-" in tables) */
double ota_success_rate(const ota_batch_counts_t *c);

/* (succeeded + failed + cancelled) / total, 0 for an empty batch */
double ota_completion(const ota_batch_counts_t *c);

/* A task's download progress in percent, two decimals, rounded down: 100
 * only when every byte went out (covered >= size), so size - 1 bytes is
 * 99.99 whatever the size; covered is clamped to [0, size], an empty
 * package is 0.  The one rule of otactl, the admin API and the tests;
 * print it with "%.2f" (never with fewer decimals: "%.1f" would round
 * 99.99 up to 100.0). */
double ota_progress_percent(long long covered, long long size);

#endif /* OTA_STATS_H */
