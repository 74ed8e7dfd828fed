/* unit tests: the reader's wait between reads (worker/daemon/worker_gather.h) */

#include "tap.h"
#include "worker_gather.h"

int
main(void)
{
    /* a trickle, or the first event after a quiet spell: the whole wait */
    ok(ota_gather_wait(100, 1000, 1, 1000) == 100,
       "one event after a blocked read: the whole gather");
    ok(ota_gather_wait(100, 1000, 500, 100) == 100,
       "500 events in 100 ms, 1000 a read: 200 ms to fill, so the gather");
    /* a load that fills a read sooner: only as long as that takes */
    ok(ota_gather_wait(100, 1000, 500, 10) == 20,
       "500 events in 10 ms: 20 ms fill a read of 1000");
    ok(ota_gather_wait(1000, 1000, 999, 5) == 6,
       "999 events in 5 ms: rounded up, 6 ms");
    ok(ota_gather_wait(100, 1000, 300, 0) == 4,
       "an interval under 1 ms counts as 1 ms");
    /* no wait */
    ok(ota_gather_wait(0, 1000, 5, 100) == 0, "--gather 0: never waits");
    ok(ota_gather_wait(100, 1000, 0, 100) == 0, "nothing read: no wait");
    ok(ota_gather_wait(100, 1000, 1000, 100) == 0,
       "a full read: reads again at once");
    ok(ota_gather_wait(100, 3, 2, 1000) == 100,
       "--count 3, 2 events: the gather");
    ok(ota_gather_wait(1000, 1000, 1, (int64_t) 1 << 40) == 1000,
       "a long quiet spell does not overflow");
    done_testing();
    return 0;
}
