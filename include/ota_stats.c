#include "ota_stats.h"

#include <string.h>

#include "ota_fields.h"

static const char  *ota_state_names[OTA_TS_COUNT] = {
    OTA_ST_PENDING, OTA_ST_NOTIFIED, OTA_ST_DOWNLOADING, OTA_ST_DOWNLOADED,
    OTA_ST_INSTALLING, OTA_ST_SUCCEEDED, OTA_ST_FAILED, OTA_ST_CANCELLED
};

const char *
ota_task_state_name(ota_task_state_t s)
{
    return (unsigned) s < OTA_TS_COUNT ? ota_state_names[s] : "unknown";
}

int
ota_task_state_parse(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < OTA_TS_COUNT; i++) {
        if (strlen(ota_state_names[i]) == len
            && memcmp(ota_state_names[i], s, len) == 0)
        {
            return i;
        }
    }
    return -1;
}

int
ota_task_state_final(ota_task_state_t s)
{
    return s == OTA_TS_SUCCEEDED || s == OTA_TS_FAILED
           || s == OTA_TS_CANCELLED;
}

double
ota_success_rate(const ota_batch_counts_t *c)
{
    long long  done = c->n[OTA_TS_SUCCEEDED] + c->n[OTA_TS_FAILED];

    return done > 0 ? (double) c->n[OTA_TS_SUCCEEDED] / (double) done : -1.0;
}

double
ota_completion(const ota_batch_counts_t *c)
{
    long long  done = c->n[OTA_TS_SUCCEEDED] + c->n[OTA_TS_FAILED]
                      + c->n[OTA_TS_CANCELLED];

    return c->total > 0 ? (double) done / (double) c->total : 0.0;
}

double
ota_progress_percent(long long covered, long long size)
{
    long long  hundredths;

    if (size <= 0 || covered <= 0) {
        return 0.0;
    }
    if (covered >= size) {
        return 100.0;
    }

    /* in integers: 1000 MB * 10000 fits easily; the quotient is floored,
     * so only covered == size reaches 10000 */
    hundredths = covered * 10000 / size;

    return (double) hundredths / 100.0;
}
