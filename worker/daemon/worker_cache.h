/*
 * worker_cache.h: what the worker remembers between reads of events.
 *
 * Tasks.  The open tasks it read or wrote last, keyed by (device, module):
 * the next event of such a task is decided without the lookup (an open
 * entry and a task read in Redis).  The cache is only a guess: the apply
 * script compares the state it was decided on (compare and set) for every
 * cached task, written or not, and a task that moved meanwhile (another
 * worker, a timeout, a cancel) is dropped from the cache and read and
 * decided again.  4-way set associative, bounded, final tasks never kept.
 *
 * Batches.  What every task of a batch shares and never changes (package,
 * module, target version, size), from the lookups' answers.  A notified
 * event names its batch, and a task that was never notified is pending
 * with every column at its default, so such an event is decided on this
 * alone: the task is assumed pending and the apply script checks that the
 * device is in the batch and its task still pending (else the event is
 * looked up and decided again).  Its source version is not read then: an
 * inform of another version than the target, the one decision that needs
 * it, goes through a lookup.
 *
 * The events and tasks of a read point into the cache's entries while it
 * is decided, so entries are replaced only where worker_events.c says (a
 * replaced batch's strings are freed by ota_cache_reap() between reads),
 * and gen counts the times the cache was found wrong or forgotten:
 * decisions taken on it before a change of gen are void.
 */

#ifndef WORKER_CACHE_H
#define WORKER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ota_task.h"
#include "ota_version.h"

#ifndef OTA_TC_SLOTS                /* -D for tests: a tiny cache evicts */
#define OTA_TC_SLOTS   (1u << 18)
#endif
#define OTA_TC_WAYS    4u           /* slots a key may use */
#define OTA_BI_SLOTS   64u

typedef struct ota_tc_s {
    char            *blob;          /* device \0 module \0 batch \0 package */
    const char      *device;
    const char      *module;
    const char      *batch;
    const char      *package;
    ota_task_t       t;
    int              nofrom;        /* t.from not known (a batch-decided
                                       task) */
} ota_tc_t;

typedef struct ota_bi_s {
    char            *blob;          /* batch \0 package \0 module */
    const char      *batch;
    const char      *package;
    const char      *module;
    ota_version_t    target;
    long long        size;
} ota_bi_t;

typedef struct {
    ota_tc_t        *tc;            /* OTA_TC_SLOTS, made on first use */
    ota_bi_t         bi[OTA_BI_SLOTS];
    char           **dead;          /* replaced batches' blobs */
    size_t           ndead;
    unsigned         gen;
} ota_cache_t;

/* FNV-1a of up to three strings (NULL: empty), for the caches and the
 * rounds' tables */
static inline uint32_t
ota_hash(const char *a, const char *b, const char *c)
{
    uint32_t     h = 2166136261u;
    const char  *p[3] = { a, b, c };
    int          i;

    for (i = 0; i < 3; i++) {
        for (const char *s = p[i] ? p[i] : ""; *s; s++) {
            h = (h ^ (unsigned char) *s) * 16777619u;
        }
        h = (h ^ 0xff) * 16777619u;
    }
    return h;
}

/* the cached open task of (device, module), or NULL */
ota_tc_t *ota_cache_task(ota_cache_t *c, const char *dev, const char *mod);
/* forgets (device, module) */
void ota_cache_drop(ota_cache_t *c, const char *dev, const char *mod);

/* a task as it will be stored: remembered when it is open, forgotten
 * when not (keep 0); tc: the slot it was decided on, if any */
typedef struct {
    const char        *device;
    const char        *module;
    const char        *batch;
    const char        *package;
    const ota_task_t  *t;
    int                nofrom;
    int                keep;
    ota_tc_t          *tc;
} ota_cache_put_t;

/* every change of one decided read at once: no slot changes before
 * every copy is made (a task's strings may live in a slot another task
 * replaces) */
void ota_cache_update(ota_cache_t *c, const ota_cache_put_t *put, int n);

/* the batch, or NULL */
ota_bi_t *ota_cache_batch(ota_cache_t *c, const char *batch);
/* remembers a batch (no task of a round may point into the cache's
 * batches then); a batch already known is left as it is */
void ota_cache_add_batch(ota_cache_t *c, const char *batch, const char *size,
    const char *version, const char *package, const char *module);

/* forgets everything (after a reconnect, or when the cache cannot be kept
 * exact); gen moves on */
void ota_cache_forget(ota_cache_t *c);
/* frees what replaced entries left (when no round runs) */
void ota_cache_reap(ota_cache_t *c);
void ota_cache_free(ota_cache_t *c);

#endif /* WORKER_CACHE_H */
