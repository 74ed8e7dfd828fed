/*
 * ota_cov.h: a set of byte ranges, kept sorted, disjoint and with no two
 * ranges touching, so its total is the number of distinct bytes it holds.
 * The nginx module keeps the ranges a download has sent but Redis has not
 * yet stored in such sets; lua/module/merge.lua applies the same merge rule
 * to the Redis copy (docs/download.md; t/38-merge-lua.t holds the two
 * against each other).
 *
 * Ranges are half open: [start, end).  Plain C, no nginx, unit tested in
 * t/unit/test_cov.c.
 */

#ifndef OTA_COV_H
#define OTA_COV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t   start;
    int64_t   end;                  /* exclusive */
} ota_range_t;

typedef struct {
    ota_range_t  *r;                /* sorted by start, disjoint, not touching */
    size_t        n;
    size_t        cap;
    size_t        limit;            /* most ranges held; 0: no limit */
} ota_cov_t;

enum {
    OTA_COV_OK = 0,
    OTA_COV_NOMEM = -1,             /* nothing changed */
    OTA_COV_FULL = -2               /* would need a range over limit: nothing changed */
};

#define OTA_COV_INIT  { NULL, 0, 0, 0 }

/*
 * The most ranges kept in Redis for one (device, package) (the ZSET of
 * OTA_KEY_COVERAGE).  A range that would need a range of its own in a full
 * set is not recorded; one that extends, joins or swallows ranges always
 * is.  So the set stays small whatever a client asks for (a hostile one
 * with 500-part multipart requests made 46k ranges before), what it holds
 * was always delivered (dropping only undercounts), and real clients are
 * untouched: curl -C -, wget -c and a resumed download grow one range,
 * aria2c -x16 about two per connection.  128 also keeps the ZSET in Redis's
 * compact encoding (zset-max-listpack-entries).  The same rule as
 * ota_cov_add() with limit set.
 */
#define OTA_COV_STORED_MAX  128

/* Adds [start, end); *added (may be NULL) gets the bytes that were not
 * in the set before.  An empty or inverted range changes nothing. */
int ota_cov_add(ota_cov_t *c, int64_t start, int64_t end, int64_t *added);

/* Adds every range of src to dst; stops at the first failure. */
int ota_cov_merge(ota_cov_t *dst, const ota_cov_t *src, int64_t *added);

/* Bytes held. */
int64_t ota_cov_total(const ota_cov_t *c);

/* 1 when [start, end) is wholly in the set. */
int ota_cov_contains(const ota_cov_t *c, int64_t start, int64_t end);

/* Empties the set, keeping its memory. */
void ota_cov_clear(ota_cov_t *c);

/* Releases the memory; the set is empty and usable again. */
void ota_cov_free(ota_cov_t *c);

/* Exchanges the contents of two sets (limits stay where they were). */
void ota_cov_swap(ota_cov_t *a, ota_cov_t *b);

#endif /* OTA_COV_H */
