/*
 * ota_delta.h: server-side deltas (docs/delta.md): the delta of a new
 * package file against an old one with zstd's patch-from, and the checks
 * that refuse a pair before any work (same product and module, from older
 * than to, full packages of one file, the size limit).  Plain C, shared by
 * otactl (package diff), the worker (package_diff jobs from the admin API)
 * and the unit tests.  Every refusal writes its reason into err.
 */

#ifndef OTA_DELTA_H
#define OTA_DELTA_H

#include <stddef.h>

#define OTA_DELTA_LEVEL_DEFAULT  19

/* one side of a delta, from its package record */
typedef struct {
    const char  *id;
    const char  *product;
    const char  *module;
    const char  *version;
    const char  *type;          /* "full" or "diff" */
    const char  *files;         /* the record's files JSON */
    /* filled by ota_delta_side() */
    char         file[160];     /* its one file's name */
    long long    size;
} ota_delta_side_t;

/* --level / "level": 1..19.  Returns 0, or -1 with err. */
int ota_delta_level(const char *s, int *level, char *err, size_t elen);

/* --max-ratio / "max_ratio": 0 < F <= 1.  Returns 0, or -1 with err. */
int ota_delta_ratio(const char *s, double *ratio, char *err, size_t elen);

/* a full package of one file; what names the side ("from", "to").
 * Returns 0 with s->file and s->size, or -1 with err. */
int ota_delta_side(ota_delta_side_t *s, const char *what, char *err,
    size_t elen);

/* one module, from below to.  Returns 0, or -1 with err. */
int ota_delta_pair(const ota_delta_side_t *from, const ota_delta_side_t *to,
    char *err, size_t elen);

/* the delta's size against the full file's.  Returns 0, or -1 with err. */
int ota_delta_size_ok(const ota_delta_side_t *from,
    const ota_delta_side_t *to, long long dsize, double ratio, char *err,
    size_t elen);

/* the delta of newp against oldp into outp (created, mode 0600; removed
 * on failure), checked by decoding it back.  Returns 0 with *size, or -1
 * with err. */
int ota_delta_make(const char *oldp, const char *newp, const char *outp,
    int level, long long *size, char *err, size_t elen);

#endif /* OTA_DELTA_H */
