/*
 * ota_cov.c: sorted range set (see ota_cov.h).
 *
 * add() finds, by binary search, the first range whose end reaches the new
 * start (touching counts: [0,5) and [5,9) become [0,9)), swallows every
 * range that starts at or before the new end, and writes the union in place.
 * O(log n) search plus one memmove.
 */

#include "ota_cov.h"

#include <stdlib.h>
#include <string.h>


/* index of the first range with end >= start (n when none) */
static size_t
ota_cov_first_reaching(const ota_cov_t *c, int64_t start)
{
    size_t  lo = 0, hi = c->n, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (c->r[mid].end < start) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    return lo;
}


static int
ota_cov_grow(ota_cov_t *c)
{
    size_t        cap;
    ota_range_t  *r;

    cap = c->cap ? c->cap * 2 : 4;
    if (c->limit && cap > c->limit) {
        cap = c->limit;
    }

    r = realloc(c->r, cap * sizeof(ota_range_t));
    if (r == NULL) {
        return OTA_COV_NOMEM;
    }

    c->r = r;
    c->cap = cap;

    return OTA_COV_OK;
}


int
ota_cov_add(ota_cov_t *c, int64_t start, int64_t end, int64_t *added)
{
    size_t   i, j, k;
    int64_t  gone, s, e;

    if (added) {
        *added = 0;
    }

    if (start < 0) {
        start = 0;
    }

    if (end <= start) {
        return OTA_COV_OK;
    }

    i = ota_cov_first_reaching(c, start);

    /* j: one past the last range that touches or overlaps [start, end) */
    for (j = i; j < c->n && c->r[j].start <= end; j++) {
        /* void */
    }

    if (i == j) {
        /* disjoint from everything: a new range at i */
        if (c->limit && c->n >= c->limit) {
            return OTA_COV_FULL;
        }

        if (c->n == c->cap && ota_cov_grow(c) != OTA_COV_OK) {
            return OTA_COV_NOMEM;
        }

        memmove(&c->r[i + 1], &c->r[i], (c->n - i) * sizeof(ota_range_t));
        c->r[i].start = start;
        c->r[i].end = end;
        c->n++;

        if (added) {
            *added = end - start;
        }

        return OTA_COV_OK;
    }

    s = c->r[i].start < start ? c->r[i].start : start;
    e = c->r[j - 1].end > end ? c->r[j - 1].end : end;

    gone = 0;
    for (k = i; k < j; k++) {
        gone += c->r[k].end - c->r[k].start;
    }

    c->r[i].start = s;
    c->r[i].end = e;

    memmove(&c->r[i + 1], &c->r[j], (c->n - j) * sizeof(ota_range_t));
    c->n -= j - i - 1;

    if (added) {
        *added = (e - s) - gone;
    }

    return OTA_COV_OK;
}


int
ota_cov_merge(ota_cov_t *dst, const ota_cov_t *src, int64_t *added)
{
    int      rc;
    size_t   i;
    int64_t  a;

    if (added) {
        *added = 0;
    }

    for (i = 0; i < src->n; i++) {
        rc = ota_cov_add(dst, src->r[i].start, src->r[i].end, &a);
        if (rc != OTA_COV_OK) {
            return rc;
        }
        if (added) {
            *added += a;
        }
    }

    return OTA_COV_OK;
}


int64_t
ota_cov_total(const ota_cov_t *c)
{
    size_t   i;
    int64_t  t = 0;

    for (i = 0; i < c->n; i++) {
        t += c->r[i].end - c->r[i].start;
    }

    return t;
}


int
ota_cov_contains(const ota_cov_t *c, int64_t start, int64_t end)
{
    size_t  i;

    if (end <= start) {
        return 1;
    }

    i = ota_cov_first_reaching(c, start + 1);

    return i < c->n && c->r[i].start <= start && c->r[i].end >= end;
}


void
ota_cov_clear(ota_cov_t *c)
{
    c->n = 0;
}


void
ota_cov_free(ota_cov_t *c)
{
    free(c->r);
    c->r = NULL;
    c->n = 0;
    c->cap = 0;
}


void
ota_cov_swap(ota_cov_t *a, ota_cov_t *b)
{
    ota_range_t  *r;
    size_t        n, cap;

    r = a->r; n = a->n; cap = a->cap;
    a->r = b->r; a->n = b->n; a->cap = b->cap;
    b->r = r; b->n = n; b->cap = cap;
}
