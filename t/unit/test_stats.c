/* unit tests: batch statistics arithmetic (include/ota_stats) */

#include <math.h>

#include "tap.h"
#include "ota_stats.h"
#include "ota_fields.h"

#define near(a, b)  (fabs((a) - (b)) < 1e-9)

int
main(void)
{
    ota_batch_counts_t  c = { { 0 }, 0 };
    int                 i;

    ok(ota_success_rate(&c) < 0, "no result yet: rate undefined (-1)");
    ok(near(ota_completion(&c), 0.0), "empty batch: completion 0");

    c.total = 10;
    c.n[OTA_TS_PENDING] = 10;
    ok(ota_success_rate(&c) < 0, "all pending: rate undefined");
    ok(near(ota_completion(&c), 0.0), "all pending: completion 0");

    c.n[OTA_TS_PENDING] = 4;
    c.n[OTA_TS_SUCCEEDED] = 3;
    c.n[OTA_TS_FAILED] = 1;
    c.n[OTA_TS_CANCELLED] = 2;
    ok(near(ota_success_rate(&c), 0.75), "3 of 4 finished: 0.75");
    ok(near(ota_completion(&c), 0.6), "6 of 10 final: 0.6");

    c.n[OTA_TS_PENDING] = 0;
    c.n[OTA_TS_SUCCEEDED] = 0;
    c.n[OTA_TS_FAILED] = 0;
    c.n[OTA_TS_CANCELLED] = 10;
    ok(ota_success_rate(&c) < 0, "all cancelled: rate undefined");
    ok(near(ota_completion(&c), 1.0), "all cancelled: complete");

    c.n[OTA_TS_CANCELLED] = 0;
    c.n[OTA_TS_FAILED] = 10;
    ok(near(ota_success_rate(&c), 0.0), "all failed: 0");

    for (i = 0; i < OTA_TS_COUNT; i++) {
        const char *n = ota_task_state_name((ota_task_state_t) i);
        is_int(ota_task_state_parse(n, strlen(n)), i, "parse %s", n);
    }
    is_int(ota_task_state_parse("done", 4), -1, "unknown state");
    is_str(ota_task_state_name(OTA_TS_COUNT), "unknown", "out of range name");
    ok(ota_task_state_final(OTA_TS_SUCCEEDED) && ota_task_state_final(OTA_TS_FAILED)
       && ota_task_state_final(OTA_TS_CANCELLED)
       && !ota_task_state_final(OTA_TS_INSTALLING), "final states");

    /* progress: one rounding rule, 100 only when every byte went out */
    {
        char  buf[32];

        ok(near(ota_progress_percent(0, 1000), 0.0), "nothing: 0");
        ok(near(ota_progress_percent(333, 1000), 33.3), "333 of 1000: 33.3");
        ok(near(ota_progress_percent(999, 1000), 99.9), "999 of 1000: 99.9");
        ok(near(ota_progress_percent(1000, 1000), 100.0), "all: 100");
        ok(near(ota_progress_percent(2000, 1000), 100.0), "clamped to 100");
        ok(near(ota_progress_percent(-5, 1000), 0.0), "negative: 0");
        ok(near(ota_progress_percent(5, 0), 0.0), "empty package: 0");
        ok(ota_progress_percent(999999, 1000000) < 100.0,
           "size - 1 of 1000000 is below 100");
        ok(near(ota_progress_percent(999999, 1000000), 99.99), "... 99.99");
        ok(ota_progress_percent(1048575999LL, 1048576000LL) < 100.0,
           "size - 1 of 1000 MB is below 100");
        snprintf(buf, sizeof(buf), "%.2f",
                 ota_progress_percent(1048575999LL, 1048576000LL));
        is_str(buf, "99.99", "and prints 99.99, not 100.00");
        snprintf(buf, sizeof(buf), "%.2f", ota_progress_percent(1, 3));
        is_str(buf, "33.33", "1 of 3 prints 33.33");
    }

    return done_testing();
}
