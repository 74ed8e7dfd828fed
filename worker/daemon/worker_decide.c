/*
 * worker_decide.c: from stream entries to decided tasks.
 *
 *   ota_decide_parse()    an entry into an event (checked names, numbers)
 *   ota_decide_sources()  per round: where each event's task comes from:
 *                         the task cache, the batch cache (a notified
 *                         event of a known batch), or this round's lookup
 *   ota_decide()          after the lookup: every event applied to its
 *                         task with ota_task_apply(), in stream order;
 *                         several events of one task become one write
 */

#include "worker_decide.h"

#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_names.h"
#include "ota_token.h"
#include "worker_lookup.h"
#include "worker_wire.h"


/* ---- parsing ------------------------------------------------------------ */

static int
ota_decide_name_ok(const char *s, int (*check)(const char *, size_t))
{
    return s != NULL && check(s, strlen(s));
}


int
ota_decide_parse(redisReply *entry, ota_ev_t *e)
{
    redisReply  *f;
    const char  *type, *v;
    char        *end;

    memset(e, 0, sizeof(*e));
    e->type = -1;
    e->look = -1;
    e->task = -1;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) {
        return -1;
    }
    f = entry->element[1];
    type = ota_entry_field(f, OTA_F_TYPE);
    if (type == NULL) {
        return -1;                      /* deleted entry or not ours */
    }

    e->device = ota_entry_field(f, OTA_F_DEVICE);
    e->module = ota_entry_field(f, OTA_F_MODULE);
    e->ts = ota_entry_field(f, OTA_F_TS);
    if (e->module == NULL || e->module[0] == '\0') {
        e->module = "default";
    }
    if (!ota_decide_name_ok(e->device, ota_name_device)
        || !ota_decide_name_ok(e->module, ota_name_module))
    {
        return -1;
    }

    if (strcmp(type, OTA_EV_DOWNLOAD) == 0) {
        e->package = ota_entry_field(f, OTA_F_PACKAGE);
        v = ota_entry_field(f, OTA_F_COVERED);
        if (!ota_decide_name_ok(e->package, ota_name_id) || v == NULL) {
            return -1;
        }
        e->covered = ota_parse_int64(v, strlen(v));
        if (e->covered < 0) {
            return -1;
        }
        /* the task's notified event folded in by the module (docs/
         * download.md, "The notified event"); a bad batch only loses the
         * fold, not the download */
        if (ota_entry_field(f, OTA_F_NOTIFIED) != NULL) {
            v = ota_entry_field(f, OTA_F_BATCH);
            e->nbatch = ota_decide_name_ok(v, ota_name_id) ? v : NULL;
        }
        e->type = OTA_TE_DOWNLOAD;
        return 0;
    }

    if (strcmp(type, OTA_EV_NOTIFIED) == 0) {
        e->batch = ota_entry_field(f, OTA_F_BATCH);
        if (!ota_decide_name_ok(e->batch, ota_name_id)) {
            return -1;
        }
        e->type = OTA_TE_NOTIFIED;
        return 0;
    }

    if (strcmp(type, OTA_EV_PROGRESS) == 0) {
        v = ota_entry_field(f, OTA_F_STEP);
        if (v == NULL || *v == '\0') {
            return -1;
        }
        long s = strtol(v, &end, 10);
        if (*end || s < OTA_STEP_MIN || s > OTA_STEP_MAX) {
            return -1;
        }
        e->step = (int) s;
        e->desc = ota_entry_field(f, OTA_F_DESC);
        e->type = OTA_TE_PROGRESS;
        return 0;
    }

    if (strcmp(type, OTA_EV_INFORM) == 0) {
        e->product = ota_entry_field(f, OTA_F_PRODUCT);
        e->version = ota_entry_field(f, OTA_F_VERSION);
        if (!ota_decide_name_ok(e->product, ota_name_product)
            || e->version == NULL
            || ota_version_parse_cstr(e->version, &e->ver) != 0)
        {
            return -1;
        }
        e->inform = 1;
        e->type = OTA_TE_INFORM;
        return 0;
    }

    return -1;
}


/* back to the state right after parsing (a read's first round only) */
void
ota_decide_reset(ota_evread_t *rd)
{
    size_t  i;

    for (i = 0; i < rd->n; i++) {
        rd->ev[i].done = 0;
        rd->ev[i].look = -1;
        rd->ev[i].task = -1;
        rd->ev[i].cached = 0;
        rd->ev[i].tc = NULL;
    }
}


/* ---- the round's tables --------------------------------------------------- */

static int
ota_htab_init(ota_htab_t *h, size_t n)
{
    size_t  sz = 64;

    free(h->slot);
    while (sz < n * 2) {
        sz <<= 1;
    }
    h->slot = malloc(sz * sizeof(int));
    if (h->slot == NULL) {
        return -1;
    }
    memset(h->slot, 0xff, sz * sizeof(int));
    h->mask = sz - 1;
    return 0;
}


static int
ota_streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}


/* index of the lookup (device, module, batch), adding it when new */
static int
ota_look_find(ota_evread_t *rd, const char *dev, const char *mod,
    const char *batch)
{
    ota_htab_t  *h = &rd->hl;
    size_t       i = ota_hash(dev, mod, batch) & h->mask;

    while (h->slot[i] >= 0) {
        ota_look_t *x = &rd->look[h->slot[i]];
        if (ota_streq(x->device, dev) && ota_streq(x->module, mod)
            && ota_streq(x->batch, batch))
        {
            return h->slot[i];
        }
        i = (i + 1) & h->mask;
    }
    rd->look[rd->nl].device = dev;
    rd->look[rd->nl].module = mod;
    rd->look[rd->nl].batch = batch;
    rd->look[rd->nl].res = NULL;
    rd->look[rd->nl].late = 0;
    h->slot[i] = rd->nl;
    return rd->nl++;
}


static int
ota_task_find(ota_evread_t *rd, const char *dev, const char *batch,
    int *created)
{
    ota_htab_t  *h = &rd->ht;
    size_t       i = ota_hash(dev, batch, NULL) & h->mask;

    *created = 0;
    while (h->slot[i] >= 0) {
        ota_wt_t *x = &rd->tasks[h->slot[i]];
        if (strcmp(x->device, dev) == 0 && strcmp(x->batch, batch) == 0) {
            return h->slot[i];
        }
        i = (i + 1) & h->mask;
    }
    memset(&rd->tasks[rd->nt], 0, sizeof(ota_wt_t));
    rd->tasks[rd->nt].device = dev;
    rd->tasks[rd->nt].batch = batch;
    h->slot[i] = rd->nt;
    *created = 1;
    return rd->nt++;
}


/* ---- where each task comes from ------------------------------------------ */

int
ota_decide_sources(ota_evread_t *rd, int spec)
{
    ota_cache_t  *cache = &rd->w->cache;
    size_t        i;

    rd->nl = 0;
    rd->nt = 0;
    if (ota_htab_init(&rd->hl, rd->n) != 0
        || ota_htab_init(&rd->ht, rd->n) != 0)
    {
        ota_log(OTA_LOG_ERR, "out of memory handling events");
        return -1;
    }

    for (i = 0; i < rd->n; i++) {
        ota_ev_t *e = &rd->ev[i];

        if (e->done || e->type < 0) {
            continue;
        }
        e->cached = 0;
        e->tc = NULL;
        e->spec = NULL;
        if (e->type != OTA_TE_TIMEOUT) {
            ota_tc_t *tc = ota_cache_task(cache, e->device, e->module);

            if (tc != NULL
                && (e->batch == NULL || strcmp(e->batch, tc->batch) == 0)
                && (e->type != OTA_TE_DOWNLOAD
                    || strcmp(e->package, tc->package) == 0)
                && (e->type != OTA_TE_INFORM || !tc->nofrom
                    || ota_version_cmp(&e->ver, &tc->t.target) == 0))
            {
                e->cached = 1;
                e->tc = tc;
                continue;
            }
            /* a notified event of a known batch: decided on the batch
             * (worker_cache.h); the first round only, a conflict is
             * looked up */
            if (spec && tc == NULL && e->type == OTA_TE_NOTIFIED
                && e->batch != NULL
                && (e->spec = ota_cache_batch(cache, e->batch)) != NULL)
            {
                continue;
            }
        }
        e->look = ota_look_find(rd, e->device,
                                e->type == OTA_TE_TIMEOUT ? "" : e->module,
                                e->batch);
        if (e->type == OTA_TE_DOWNLOAD) {
            rd->look[e->look].late = 1;
        }
    }
    return 0;
}


/* ---- deciding --------------------------------------------------------------- */

/* the task of an event decided on the cache, or on its batch alone */
static ota_wt_t *
ota_decide_known(ota_evread_t *rd, ota_ev_t *e, int *k)
{
    ota_wt_t  *t;
    int        created;

    if (e->cached) {
        ota_tc_t *tc = e->tc;

        *k = ota_task_find(rd, e->device, tc->batch, &created);
        t = &rd->tasks[*k];
        if (created) {
            t->t = tc->t;
            t->orig = t->t.state;
            t->package = tc->package;
            t->bpackage = tc->package;      /* only full ones are cached */
            t->module = tc->module;
            t->cached = 1;
            t->tc = tc;
            t->evmod = e->module;
            t->nofrom = tc->nofrom;
        }
        return t;
    }

    ota_bi_t *bi = e->spec;

    *k = ota_task_find(rd, e->device, bi->batch, &created);
    t = &rd->tasks[*k];
    if (created) {
        t->t.state = OTA_TS_PENDING;
        t->t.size = bi->size;
        t->t.full = bi->size;
        t->t.target = bi->target;
        t->orig = OTA_TS_PENDING;
        t->package = bi->package;
        t->bpackage = bi->package;
        t->module = bi->module;
        t->spec = 1;
        t->nofrom = 1;
        t->evmod = e->module;
    }
    return t;
}


/* the task of an event from the lookup's answer, or NULL when it has no
 * open task (the event is then done) */
static ota_wt_t *
ota_decide_looked(ota_evread_t *rd, ota_ev_t *e, int *k)
{
    redisReply  *res = rd->look[e->look].res;
    ota_wt_t    *t;
    size_t       g;
    int          created;

    g = ota_lookup_batch_of(res, rd->info);
    if (g == 0) {
        e->done = 1;                    /* no open task: a version report */
        if (e->type == OTA_TE_TIMEOUT) {
            ota_cmd_addf(&rd->zrem, "%s:%s", e->batch, e->device);
        }
        return NULL;
    }
    *k = ota_task_find(rd, e->device, ota_lookup_batch_id(rd->info, g),
                       &created);
    t = &rd->tasks[*k];
    if (created) {
        t->evmod = e->module;
        if (ota_lookup_task(t, res, rd->info) != 0) {
            ota_log(OTA_LOG_WARN, "task %s of device %s is unreadable; "
                    "event ignored", t->batch, t->device);
            t->status = -1;
        }
    } else if (t->nofrom) {
        /* an earlier event of the read assumed the task from its batch:
         * the lookup tells its source version */
        ota_wt_t  x;

        memset(&x, 0, sizeof(x));
        if (ota_lookup_task(&x, res, rd->info) == 0) {
            t->t.from = x.t.from;
            t->t.has_from = x.t.has_from;
            t->nofrom = 0;
        }
    }
    return t;
}


/* A download of another package than the one the task's covered counts:
 * the batch's package (the device falls back from its diff) or a diff of
 * it (the one the device was offered); te says which, for
 * ota_task_apply() to decide.  -1: a package that is neither. */
static int
ota_decide_other(ota_evread_t *rd, ota_ev_t *e, ota_wt_t *t,
    ota_task_event_t *te)
{
    const char  *diffs;
    long long    size;

    if (t->t.diff && strcmp(e->package, t->bpackage) == 0) {
        te->diff = 0;
        te->size = t->t.full;
        return 0;
    }
    if (t->t.diff) {
        return -1;                      /* never from one diff to another */
    }

    /* the batch's diffs: from this event's lookup, else the task's */
    diffs = e->look >= 0 && rd->look[e->look].res != NULL
            ? ota_lookup_diffs(rd->look[e->look].res, rd->info) : t->diffs;
    size = diffs != NULL ? ota_lookup_diff_size(diffs, e->package) : -1;
    if (size <= 0) {
        return -1;
    }
    te->diff = 1;
    te->size = size;
    return 0;
}


void
ota_decide(ota_evread_t *rd)
{
    ota_task_event_t   te;
    ota_wt_t          *t;
    size_t             i;
    int                k = -1, r;

    for (i = 0; i < rd->n; i++) {
        ota_ev_t *e = &rd->ev[i];

        if (e->done || e->type < 0) {
            continue;
        }
        t = e->cached || e->spec != NULL ? ota_decide_known(rd, e, &k)
                                         : ota_decide_looked(rd, e, &k);
        if (t == NULL) {
            continue;
        }
        e->task = k;
        if (t->status < 0) {
            e->done = 1;
            continue;
        }
        memset(&te, 0, sizeof(te));
        if (e->nbatch != NULL && strcmp(e->nbatch, t->batch) == 0) {
            /* notified folded into the download: applied first, as the
             * separate event was, so the task passes notified once and
             * even a download it ignores still notifies it (another
             * batch's task: the event's notified had nothing to move) */
            te.type = OTA_TE_NOTIFIED;
            r = ota_task_apply(&t->t, &te);
            if (r > 0) {
                t->changed |= r;
            }
        }
        if (e->type == OTA_TE_DOWNLOAD && strcmp(t->package, e->package)
            && ota_decide_other(rd, e, t, &te) != 0)
        {
            e->done = 1;                /* bytes of another package */
            continue;
        }
        if (e->type == OTA_TE_DOWNLOAD && strcmp(t->package, e->package) == 0)
        {
            te.diff = t->t.diff;        /* the package it counts */
            te.size = t->t.size;
        }

        te.type = (ota_task_event_type_t) e->type;
        te.covered = e->covered;
        te.step = e->step;
        te.version = e->ver;
        if (e->type == OTA_TE_TIMEOUT) {
            t->timeout = 1;
        }
        if (e->type == OTA_TE_PROGRESS && e->desc != NULL
            && !ota_task_state_final(t->t.state))
        {
            t->desc = e->desc;
        }
        r = ota_task_apply(&t->t, &te);
        if (r > 0) {
            t->changed |= r;
            if (r & OTA_TASK_PKG) {
                /* e->package lives with the read, as the task does */
                t->package = t->t.diff ? e->package : t->bpackage;
                t->pkg_write = t->t.diff ? e->package : OTA_APPLY_PKG_FULL;
            }
        }
        if (r <= 0 && e->type == OTA_TE_TIMEOUT
            && ota_task_state_final(t->t.state))
        {
            ota_cmd_addf(&rd->zrem, "%s:%s", e->batch, e->device);
        }
    }
}
