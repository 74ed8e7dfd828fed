/*
 * worker_gather.h: how long the reader waits after a read that was not
 * full before it reads again (--gather, docs/worker.md).
 *
 * Made for speed: each read costs Redis the fixed part of its scripts,
 * and the events of one device session (inform, download, progress,
 * inform over a few hundred ms) that land in one read are looked up
 * once and written once instead of once per read (bench/README.md,
 * "Redis and the worker per session").  So the reader lets events gather
 * for up to gather ms, but no longer than the stream needs, at the rate
 * the last read saw, to fill a whole read (count entries): under a load
 * that fills reads sooner the wait shrinks to that, and the events wait
 * no longer than it takes to collect a full read.  The first event after
 * a quiet spell is not held at all (the blocked read returns with it);
 * the ones after it gather.
 *
 * Plain C without the worker's state, so the unit test can run it
 * (t/unit/test_gather.c).
 */

#ifndef WORKER_GATHER_H
#define WORKER_GATHER_H

#include <stdint.h>

/* ms to wait before the next read.  gather: the most (--gather; 0: none);
 * count: entries a read takes (--count); got: events the read just got;
 * since: ms from the start of the read before it to the start of this
 * one (the time those events came in over). */
static inline int
ota_gather_wait(int gather, int count, long got, int64_t since)
{
    int64_t  fill;

    if (gather <= 0 || got <= 0 || got >= count) {
        return 0;               /* nothing came in, or more are waiting */
    }
    if (since < 1) {
        since = 1;
    }
    /* count entries at got per since ms: count * since / got ms */
    fill = ((int64_t) count * since + got - 1) / got;
    return fill < gather ? (int) fill : gather;
}

#endif /* WORKER_GATHER_H */
