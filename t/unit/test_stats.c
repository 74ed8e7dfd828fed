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

    return done_testing();
}
