/*
 * worker_cache.c: the worker's cache of open tasks and of batches
 * (worker_cache.h).  Plain memory: no Redis, no knowledge of scripts.
 */

#include "worker_cache.h"

#include <stdlib.h>
#include <string.h>


/* a replaced blob waits for ota_cache_reap(): a round's events and tasks
 * may point into it; 0, or -1 when it cannot wait (it is then leaked
 * rather than freed under a round) */
static int
ota_cache_bury(ota_cache_t *c, char *blob)
{
    char  **d = realloc(c->dead, (c->ndead + 1) * sizeof(char *));

    if (d == NULL) {
        return -1;
    }
    c->dead = d;
    c->dead[c->ndead++] = blob;
    return 0;
}


void
ota_cache_reap(ota_cache_t *c)
{
    size_t  i;

    for (i = 0; i < c->ndead; i++) {
        free(c->dead[i]);
    }
    c->ndead = 0;
}


/* ---- batches -------------------------------------------------------------- */

ota_bi_t *
ota_cache_batch(ota_cache_t *c, const char *batch)
{
    ota_bi_t  *b = &c->bi[ota_hash(batch, NULL, NULL) & (OTA_BI_SLOTS - 1)];

    return b->blob != NULL && strcmp(b->batch, batch) == 0 ? b : NULL;
}


void
ota_cache_add_batch(ota_cache_t *c, const char *batch, const char *size,
    const char *version, const char *package, const char *module)
{
    ota_version_t   v;
    ota_bi_t       *b;
    size_t          lb, lp, lm;
    char           *p;

    if (ota_cache_batch(c, batch) != NULL
        || ota_version_parse_cstr(version, &v) != 0)
    {
        return;
    }
    lb = strlen(batch) + 1;
    lp = strlen(package) + 1;
    lm = strlen(module) + 1;
    p = malloc(lb + lp + lm);
    if (p == NULL) {
        return;                         /* only costs lookups */
    }
    b = &c->bi[ota_hash(batch, NULL, NULL) & (OTA_BI_SLOTS - 1)];
    if (b->blob != NULL && ota_cache_bury(c, b->blob) != 0) {
        free(p);
        return;
    }
    memcpy(p, batch, lb);
    memcpy(p + lb, package, lp);
    memcpy(p + lb + lp, module, lm);
    b->blob = p;
    b->batch = p;
    b->package = p + lb;
    b->module = p + lb + lp;
    b->target = v;
    b->size = atoll(size);
}


/* ---- tasks ------------------------------------------------------------------ */

/* the first of the OTA_TC_WAYS slots of (device, module) */
static ota_tc_t *
ota_cache_set(ota_cache_t *c, const char *dev, const char *mod, uint32_t *h)
{
    if (c->tc == NULL) {
        c->tc = calloc(OTA_TC_SLOTS, sizeof(ota_tc_t));
        if (c->tc == NULL) {
            return NULL;                /* no cache: every event is looked up */
        }
    }
    *h = ota_hash(dev, mod, NULL);
    return &c->tc[*h & (OTA_TC_SLOTS - 1) & ~(OTA_TC_WAYS - 1)];
}


ota_tc_t *
ota_cache_task(ota_cache_t *c, const char *dev, const char *mod)
{
    ota_tc_t  *s;
    uint32_t   h, i;

    s = ota_cache_set(c, dev, mod, &h);
    for (i = 0; s != NULL && i < OTA_TC_WAYS; i++) {
        if (s[i].blob != NULL && strcmp(s[i].device, dev) == 0
            && strcmp(s[i].module, mod) == 0)
        {
            return &s[i];
        }
    }
    return NULL;
}


/* where (device, module) goes: its slot, else a free one, else one of the
 * set picked by the hash's high bits */
static ota_tc_t *
ota_cache_place(ota_cache_t *c, const char *dev, const char *mod)
{
    ota_tc_t  *s;
    uint32_t   h, i;

    if ((s = ota_cache_task(c, dev, mod)) != NULL) {
        return s;
    }
    s = ota_cache_set(c, dev, mod, &h);
    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < OTA_TC_WAYS; i++) {
        if (s[i].blob == NULL) {
            return &s[i];
        }
    }
    return &s[(h >> 28) % OTA_TC_WAYS];
}


void
ota_cache_drop(ota_cache_t *c, const char *dev, const char *mod)
{
    ota_tc_t  *s = ota_cache_task(c, dev, mod);

    if (s != NULL) {
        free(s->blob);
        memset(s, 0, sizeof(ota_tc_t));
    }
}


/* a cache entry for an open task, every string copied (the put's strings
 * may live in a slot that is replaced before this entry is installed) */
static int
ota_cache_make(const ota_cache_put_t *p, ota_tc_t *e)
{
    size_t  ld, lm, lb, lp;
    char   *b;

    ld = strlen(p->device) + 1;
    lm = strlen(p->module) + 1;
    lb = strlen(p->batch) + 1;
    lp = strlen(p->package) + 1;
    b = malloc(ld + lm + lb + lp);
    if (b == NULL) {
        return -1;                      /* not cached: looked up next time */
    }
    memcpy(b, p->device, ld);
    memcpy(b + ld, p->module, lm);
    memcpy(b + ld + lm, p->batch, lb);
    memcpy(b + ld + lm + lb, p->package, lp);
    e->blob = b;
    e->device = b;
    e->module = b + ld;
    e->batch = b + ld + lm;
    e->package = b + ld + lm + lb;
    e->t = *p->t;
    e->t.reason = NULL;
    e->nofrom = p->nofrom;
    return 0;
}


/* A task that came from its slot is updated there (its strings live in
 * the slot).  Every other copy is made and every slot to forget is noted
 * before any slot changes. */
void
ota_cache_update(ota_cache_t *c, const ota_cache_put_t *put, int n)
{
    ota_tc_t   *nw, *s, **drop;
    char      **dblob;
    uint32_t    h;
    int         k;

    if (n == 0 || ota_cache_set(c, "", "", &h) == NULL) {
        return;                         /* nothing to do, or no cache */
    }
    nw = calloc((size_t) n, sizeof(ota_tc_t));
    drop = calloc((size_t) n, sizeof(ota_tc_t *));
    dblob = calloc((size_t) n, sizeof(char *));
    if (nw == NULL || drop == NULL || dblob == NULL) {
        ota_cache_forget(c);            /* cannot keep it exact: only costs
                                           lookups */
        goto done;
    }
    for (k = 0; k < n; k++) {
        const ota_cache_put_t *p = &put[k];

        if (p->device == NULL) {
            continue;
        }
        if (p->keep && p->tc != NULL && p->tc->blob != NULL
            && p->tc->batch == p->batch)
        {
            p->tc->t = *p->t;           /* same task, same slot: in place */
            p->tc->t.reason = NULL;
            p->tc->nofrom = p->nofrom;
            continue;
        }
        if (p->keep && ota_cache_make(p, &nw[k]) == 0) {
            continue;
        }
        s = p->tc != NULL ? p->tc : ota_cache_task(c, p->device, p->module);
        if (s != NULL && s->blob != NULL) {
            drop[k] = s;
            dblob[k] = s->blob;
        }
    }
    for (k = 0; k < n; k++) {
        if (drop[k] != NULL && drop[k]->blob == dblob[k]) {
            free(drop[k]->blob);
            memset(drop[k], 0, sizeof(ota_tc_t));
        }
    }
    for (k = 0; k < n; k++) {
        if (nw[k].blob != NULL) {
            s = ota_cache_place(c, nw[k].device, nw[k].module);
            free(s->blob);
            *s = nw[k];
        }
    }
done:
    free(nw);
    free(drop);
    free(dblob);
}


void
ota_cache_forget(ota_cache_t *c)
{
    size_t  i;

    c->gen++;
    for (i = 0; i < OTA_BI_SLOTS; i++) {    /* buried: a round may run */
        if (c->bi[i].blob != NULL && ota_cache_bury(c, c->bi[i].blob) != 0) {
            continue;                   /* leaked rather than freed under a
                                           round */
        }
    }
    memset(c->bi, 0, sizeof(c->bi));
    if (c->tc == NULL) {
        return;
    }
    for (i = 0; i < OTA_TC_SLOTS; i++) {
        free(c->tc[i].blob);
    }
    memset(c->tc, 0, OTA_TC_SLOTS * sizeof(ota_tc_t));
}


void
ota_cache_free(ota_cache_t *c)
{
    ota_cache_forget(c);
    ota_cache_reap(c);
    free(c->dead);
    free(c->tc);
    memset(c, 0, sizeof(*c));
}
