/*
 * Device events (download, notified, progress, inform) and task timeouts.
 *
 * A read of entries is handled in two round trips whatever its size:
 *   1. one script applies the version reports (versions, distribution
 *      counters, version sets, dynamic batches) and looks up the task of
 *      every event;
 *   2. C runs every event through ota_task_apply(), per task, in stream
 *      order (events of one task in one read collapse into one write);
 *      one script writes every changed task with its counters, each only
 *      if the task is still in the state read in 1, and acknowledges the
 *      entries in the same atomic step when nothing moved under us (else
 *      the moved tasks are read and decided again: another worker got
 *      there first, and the acknowledgement waits for them).
 */

#include "ota_worker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_task.h"
#include "ota_token.h"

#define OTA_EV_ROUNDS   8
#define OTA_DESC_MAX    128

typedef struct {
    int             type;           /* OTA_TE_*, -1: nothing to do */
    int             inform;
    const char     *device;
    const char     *product;
    const char     *module;
    const char     *package;
    const char     *batch;
    const char     *version;
    const char     *desc;
    const char     *ts;
    long long       covered;
    int             step;
    ota_version_t   ver;
    int             look;
    int             task;
    int             done;
    int             cached;         /* task from the cache (no lookup) */
    struct ota_tc_s *tc;            /* its slot then */
    struct ota_bi_s *spec;          /* notified, decided on its batch */
} ota_ev_t;

typedef struct {
    const char     *device;
    const char     *module;
    const char     *batch;
    redisReply     *res;
    int             late;           /* a download is among its events */
} ota_look_t;

typedef struct {
    const char        *device;
    const char        *batch;
    const char        *package;
    ota_task_t         t;
    ota_task_state_t   orig;
    int                changed;
    int                timeout;
    int                status;      /* -1 unreadable, -2 moved under us */
    int                cached;      /* decided on the cache: always checked */
    const char        *module;
    const char        *desc;
    struct ota_tc_s   *tc;          /* its cache slot when cached */
    const char        *evmod;       /* module as the event named it (lives
                                       with the read, unlike module) */
    int                spec;        /* assumed pending: the apply checks
                                       membership and state */
    int                nofrom;      /* source version not read yet */
} ota_wt_t;

typedef struct {
    int     *slot;
    size_t   mask;
} ota_htab_t;

static uint32_t
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

static int
ota_htab_init(ota_htab_t *h, size_t n)
{
    size_t  sz = 64;

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
ota_look_find(ota_htab_t *h, ota_look_t *l, int *nl, const char *dev,
    const char *mod, const char *batch)
{
    size_t  i = ota_hash(dev, mod, batch) & h->mask;

    while (h->slot[i] >= 0) {
        ota_look_t *x = &l[h->slot[i]];
        if (ota_streq(x->device, dev) && ota_streq(x->module, mod)
            && ota_streq(x->batch, batch))
        {
            return h->slot[i];
        }
        i = (i + 1) & h->mask;
    }
    l[*nl].device = dev;
    l[*nl].module = mod;
    l[*nl].batch = batch;
    l[*nl].res = NULL;
    l[*nl].late = 0;
    h->slot[i] = *nl;
    return (*nl)++;
}

static int
ota_task_find(ota_htab_t *h, ota_wt_t *t, int *nt, const char *dev,
    const char *batch, int *created)
{
    size_t  i = ota_hash(dev, batch, NULL) & h->mask;

    *created = 0;
    while (h->slot[i] >= 0) {
        ota_wt_t *x = &t[h->slot[i]];
        if (strcmp(x->device, dev) == 0 && strcmp(x->batch, batch) == 0) {
            return h->slot[i];
        }
        i = (i + 1) & h->mask;
    }
    memset(&t[*nt], 0, sizeof(ota_wt_t));
    t[*nt].device = dev;
    t[*nt].batch = batch;
    h->slot[i] = *nt;
    *created = 1;
    return (*nt)++;
}

/* ---- the task cache ------------------------------------------------------
 *
 * The worker remembers the open tasks it read or wrote last, keyed by
 * (device, module): the next event of such a task is decided without the
 * lookup (an open entry and a task read in Redis).  The cache is only a
 * guess: the apply script compares the state it was decided on (compare
 * and set) for every cached task, written or not, and a task that moved
 * meanwhile (another worker, a timeout, a cancel) is dropped from the cache
 * and read and decided again.  Direct-mapped, bounded, final tasks never
 * kept. */

#ifndef OTA_TC_SLOTS                /* -D for tests: a tiny cache evicts */
#define OTA_TC_SLOTS   (1u << 18)
#endif
#define OTA_TC_WAYS    4u             /* slots a key may use */

typedef struct ota_tc_s {
    char         *blob;             /* device \0 module \0 batch \0 package */
    const char   *device;
    const char   *module;
    const char   *batch;
    const char   *package;
    ota_task_t    t;
    int           nofrom;           /* t.from not known (see ota_bi_t) */
} ota_tc_t;

static ota_tc_t  *ota_tc;

/* ---- the batch cache -------------------------------------------------------
 *
 * What every task of a batch shares and never changes (package, module,
 * target version, size), from the lookups' answers.  A notified event names
 * its batch, and a task that was never notified is pending with every
 * column at its default, so such an event is decided on this alone: the
 * task is assumed pending and the apply script checks that the device is
 * in the batch and its task still pending (else the event is looked up
 * and decided again).  Its source version is not read then: an inform of
 * another version than the target, the one decision that needs it, goes
 * through a lookup. */

#define OTA_BI_SLOTS  64u

typedef struct ota_bi_s {
    char           *blob;           /* batch \0 package \0 module */
    const char     *batch;
    const char     *package;
    const char     *module;
    ota_version_t   target;
    long long       size;
} ota_bi_t;

static ota_bi_t  ota_bi[OTA_BI_SLOTS];

/* blobs of replaced entries, freed when no round runs (ota_bi_reap): a
 * round's events and tasks point into the entries they were decided on */
static char    **ota_bi_dead;
static size_t    ota_bi_ndead;

static void
ota_bi_reap(void)
{
    size_t  i;

    for (i = 0; i < ota_bi_ndead; i++) {
        free(ota_bi_dead[i]);
    }
    ota_bi_ndead = 0;
}

static ota_bi_t *
ota_bi_get(const char *batch)
{
    ota_bi_t  *b = &ota_bi[ota_hash(batch, NULL, NULL) & (OTA_BI_SLOTS - 1)];

    return b->blob != NULL && strcmp(b->batch, batch) == 0 ? b : NULL;
}

/* remembers the batches of a lookup's answer (id size version package
 * module each); called when no task of the round points into the cache */
static void
ota_bi_learn(redisReply *info)
{
    ota_bi_t       *b;
    ota_version_t   v;
    size_t          i, lb, lp, lm;
    char           *p;

    for (i = 0; info != NULL && i + 5 <= info->elements; i += 5) {
        redisReply **f = &info->element[i];
        int          k, strings = 1;

        for (k = 0; k < 5; k++) {
            strings &= f[k]->type == REDIS_REPLY_STRING;
        }
        if (!strings || ota_bi_get(f[0]->str)
            || ota_version_parse_cstr(f[2]->str, &v) != 0)
        {
            continue;
        }
        lb = strlen(f[0]->str) + 1;
        lp = strlen(f[3]->str) + 1;
        lm = strlen(f[4]->str) + 1;
        p = malloc(lb + lp + lm);
        if (p == NULL) {
            return;               /* only costs lookups */
        }
        b = &ota_bi[ota_hash(f[0]->str, NULL, NULL) & (OTA_BI_SLOTS - 1)];
        if (b->blob != NULL) {
            char **d = realloc(ota_bi_dead,
                               (ota_bi_ndead + 1) * sizeof(char *));
            if (d == NULL) {
                free(p);
                return;
            }
            ota_bi_dead = d;
            ota_bi_dead[ota_bi_ndead++] = b->blob;
        }
        memcpy(p, f[0]->str, lb);
        memcpy(p + lb, f[3]->str, lp);
        memcpy(p + lb + lp, f[4]->str, lm);
        b->blob = p;
        b->batch = p;
        b->package = p + lb;
        b->module = p + lb + lp;
        b->target = v;
        b->size = atoll(f[1]->str);
    }
}

/* the first of the OTA_TC_WAYS slots of (device, module) */
static ota_tc_t *
ota_tc_set(const char *dev, const char *mod, uint32_t *h)
{
    if (ota_tc == NULL) {
        ota_tc = calloc(OTA_TC_SLOTS, sizeof(ota_tc_t));
        if (ota_tc == NULL) {
            return NULL;          /* no cache: every event is looked up */
        }
    }
    *h = ota_hash(dev, mod, NULL);
    return &ota_tc[*h & (OTA_TC_SLOTS - 1) & ~(OTA_TC_WAYS - 1)];
}

static ota_tc_t *
ota_tc_get(const char *dev, const char *mod)
{
    ota_tc_t  *c;
    uint32_t   h, i;

    c = ota_tc_set(dev, mod, &h);
    for (i = 0; c != NULL && i < OTA_TC_WAYS; i++) {
        if (c[i].blob != NULL && strcmp(c[i].device, dev) == 0
            && strcmp(c[i].module, mod) == 0)
        {
            return &c[i];
        }
    }
    return NULL;
}

/* where (device, module) goes: its slot, else a free one, else one of the
 * set picked by the hash's high bits */
static ota_tc_t *
ota_tc_place(const char *dev, const char *mod)
{
    ota_tc_t  *c;
    uint32_t   h, i;

    if ((c = ota_tc_get(dev, mod)) != NULL) {
        return c;
    }
    c = ota_tc_set(dev, mod, &h);
    if (c == NULL) {
        return NULL;
    }
    for (i = 0; i < OTA_TC_WAYS; i++) {
        if (c[i].blob == NULL) {
            return &c[i];
        }
    }
    return &c[(h >> 28) % OTA_TC_WAYS];
}

/* forgets every cached task (after a reconnect: Redis may have lost or
 * changed data behind our back) */
void
ota_events_forget(void)
{
    size_t  i;

    for (i = 0; i < OTA_BI_SLOTS; i++) {    /* dead: a round may run */
        if (ota_bi[i].blob != NULL) {
            char **d = realloc(ota_bi_dead,
                               (ota_bi_ndead + 1) * sizeof(char *));
            if (d == NULL) {
                continue;         /* leaked rather than freed under a round */
            }
            ota_bi_dead = d;
            ota_bi_dead[ota_bi_ndead++] = ota_bi[i].blob;
        }
    }
    memset(ota_bi, 0, sizeof(ota_bi));
    if (ota_tc == NULL) {
        return;
    }
    for (i = 0; i < OTA_TC_SLOTS; i++) {
        free(ota_tc[i].blob);
    }
    memset(ota_tc, 0, OTA_TC_SLOTS * sizeof(ota_tc_t));
}

/* a cache entry for an open task, every string copied (t's strings may
 * live in a slot that is replaced before this entry is installed) */
static int
ota_tc_make(const ota_wt_t *t, ota_tc_t *c)
{
    size_t  ld, lm, lb, lp;
    char   *b;

    ld = strlen(t->device) + 1;
    lm = strlen(t->module) + 1;
    lb = strlen(t->batch) + 1;
    lp = strlen(t->package) + 1;
    b = malloc(ld + lm + lb + lp);
    if (b == NULL) {
        return -1;                /* not cached: looked up next time */
    }
    memcpy(b, t->device, ld);
    memcpy(b + ld, t->module, lm);
    memcpy(b + ld + lm, t->batch, lb);
    memcpy(b + ld + lm + lb, t->package, lp);
    c->blob = b;
    c->device = b;
    c->module = b + ld;
    c->batch = b + ld + lm;
    c->package = b + ld + lm + lb;
    c->t = t->t;
    c->t.reason = NULL;
    c->nofrom = t->nofrom;
    return 0;
}

/* after deciding a round: remember the open tasks as the apply script
 * will store them, forget the rest (ota_ev_finish() drops the ones its
 * answer says did not go as decided).  A
 * task that came from its slot is updated there (its strings live in the
 * slot).  Every other copy is made and every slot to forget is noted
 * before any slot changes: a task's strings may live in a slot another
 * task replaces. */
static void
ota_tc_update(ota_wt_t *tasks, int nt)
{
    ota_tc_t   *nw, *c, **drop;
    char      **dblob;
    uint32_t    h;
    int         k, keep;

    if (nt == 0 || ota_tc_set("", "", &h) == NULL) {
        return;                   /* nothing to do, or no cache */
    }
    nw = calloc((size_t) nt, sizeof(ota_tc_t));
    drop = calloc((size_t) nt, sizeof(ota_tc_t *));
    dblob = calloc((size_t) nt, sizeof(char *));
    if (nw == NULL || drop == NULL || dblob == NULL) {
        ota_events_forget();      /* cannot keep it exact: only costs lookups */
        goto done;
    }
    for (k = 0; k < nt; k++) {
        ota_wt_t *t = &tasks[k];

        if (t->module == NULL) {
            continue;
        }
        keep = t->status == 0 && !t->timeout
               && !ota_task_state_final(t->t.state);
        if (keep && t->tc != NULL && t->tc->blob != NULL
            && t->tc->batch == t->batch)
        {
            t->tc->t = t->t;      /* same task, same slot: in place */
            t->tc->t.reason = NULL;
            t->tc->nofrom = t->nofrom;
            continue;
        }
        if (keep && ota_tc_make(t, &nw[k]) == 0) {
            continue;
        }
        c = t->tc != NULL ? t->tc : ota_tc_get(t->device, t->module);
        if (c != NULL && c->blob != NULL) {
            drop[k] = c;
            dblob[k] = c->blob;
        }
    }
    for (k = 0; k < nt; k++) {
        if (drop[k] != NULL && drop[k]->blob == dblob[k]) {
            free(drop[k]->blob);
            memset(drop[k], 0, sizeof(ota_tc_t));
        }
    }
    for (k = 0; k < nt; k++) {
        if (nw[k].blob != NULL) {
            c = ota_tc_place(nw[k].device, nw[k].module);
            free(c->blob);
            *c = nw[k];
        }
    }
done:
    free(nw);
    free(drop);
    free(dblob);
}

/* ---- parsing ------------------------------------------------------------ */

static int
ota_ev_name_ok(const char *s, int (*check)(const char *, size_t))
{
    return s != NULL && check(s, strlen(s));
}

static int
ota_ev_parse(redisReply *entry, ota_ev_t *e)
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
        return -1;                /* deleted entry or not ours */
    }

    e->device = ota_entry_field(f, OTA_F_DEVICE);
    e->module = ota_entry_field(f, OTA_F_MODULE);
    e->ts = ota_entry_field(f, OTA_F_TS);
    if (e->module == NULL || e->module[0] == '\0') {
        e->module = "default";
    }
    if (!ota_ev_name_ok(e->device, ota_name_device)
        || !ota_ev_name_ok(e->module, ota_name_module))
    {
        return -1;
    }

    if (strcmp(type, OTA_EV_DOWNLOAD) == 0) {
        e->package = ota_entry_field(f, OTA_F_PACKAGE);
        v = ota_entry_field(f, OTA_F_COVERED);
        if (!ota_ev_name_ok(e->package, ota_name_id) || v == NULL) {
            return -1;
        }
        e->covered = ota_parse_int64(v, strlen(v));
        if (e->covered < 0) {
            return -1;
        }
        e->type = OTA_TE_DOWNLOAD;
        return 0;
    }

    if (strcmp(type, OTA_EV_NOTIFIED) == 0) {
        e->batch = ota_entry_field(f, OTA_F_BATCH);
        if (!ota_ev_name_ok(e->batch, ota_name_id)) {
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
        if (!ota_ev_name_ok(e->product, ota_name_product)
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

/* ---- the apply left in flight ---------------------------------------------
 *
 * A full read is usually followed by another one, so its apply script is
 * not waited for: it is sent behind the next XREAD, on the same
 * connection and in that order, so Redis answers the read and then runs
 * the apply while the worker decides the new entries on its cache (worker
 * and Redis work at the same time instead of in turn).  The cache is
 * updated as if the apply succeeded.  Its answer confirms that (every task
 * "ok"), or the tasks that did not go as decided are dropped from the
 * cache, the decisions taken on it meanwhile are thrown away and taken
 * again, and the read is finished the usual way (lookups and compare and
 * set rounds).  The apply acknowledges its own entries, so nothing is
 * acknowledged before its effect is stored; a worker killed with an apply
 * in flight leaves the entries unacknowledged (after the group's cursor,
 * or pending), like any other read. */

typedef struct {
    int                active;
    int                sent;        /* appended behind the next read */
    ota_ev_t          *ev;
    size_t             n;
    ota_look_t        *look;
    ota_wt_t          *tasks;
    int                nt;
    int                nw;
    ota_cmd_t          apply;
    ota_cmd_t          ack;
    ota_arena_t       *arena;       /* the read's entries live there */
    ota_arena_mark_t   mark;
} ota_ev_flight_t;

static ota_ev_flight_t  ota_fl;

#define OTA_EV_HELD  -2

static int ota_ev_flush(ota_worker_t *w, int *dirty);

/* ---- the rounds ------------------------------------------------------------ */

/* the version reports of the read, for the lookup script; returns how
 * many */
static int
ota_ev_add_informs(ota_cmd_t *c, ota_ev_t *ev, size_t n)
{
    size_t  i;
    int     k = 0;

    for (i = 0; i < n; i++) {
        if (!ev[i].inform || ev[i].type < 0) {
            continue;
        }
        if (c != NULL) {
            ota_cmd_adds(c, ev[i].device);
            ota_cmd_adds(c, ev[i].product);
            ota_cmd_adds(c, ev[i].module);
            ota_cmd_adds(c, ev[i].version);
            ota_cmd_adds(c, ev[i].ts ? ev[i].ts : "0");
        }
        k++;
    }
    return k;
}

/* a task as the lookup script answers it: "g<TAB>state<TAB>covered<TAB>
 * step<TAB>from" (split in place; empty fields are the defaults) and its
 * batch, the g-th of info (id size version package module) */
static int
ota_ev_parse_task(ota_wt_t *t, redisReply *res, redisReply *info)
{
    char    *f[5], *p = res->str;
    size_t   g;
    int      k, s;

    for (k = 0; k < 5; k++) {
        f[k] = p;
        p = strchr(p, '\t');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
    g = (size_t) atol(f[0]);
    if (k != 4 || g < 1 || g * 5 > info->elements) {
        return -1;
    }
    s = f[1][0] ? ota_task_state_parse(f[1], strlen(f[1]))
                : (int) OTA_TS_PENDING;
    if (s < 0 || ota_version_parse_cstr(info->element[g * 5 - 3]->str,
                                        &t->t.target))
    {
        return -1;
    }
    t->batch = info->element[g * 5 - 5]->str;
    t->t.state = (ota_task_state_t) s;
    t->orig = t->t.state;
    t->t.covered = atoll(f[2]);
    t->t.size = atoll(info->element[g * 5 - 4]->str);
    t->t.has_from = ota_version_parse_cstr(f[4], &t->t.from) == 0;
    t->package = info->element[g * 5 - 2]->str;
    t->module = info->element[g * 5 - 1]->str;
    if (f[3][0]) {
        t->t.step = atoi(f[3]);
        t->t.has_step = 1;
    }
    return 0;
}

/* a task goes to the apply script when it changed, carries a description,
 * or was decided on the cache (its state is checked even if unchanged) */
static int
ota_wt_sent(const ota_wt_t *t)
{
    return t->status >= 0 && (t->changed || t->desc != NULL || t->cached);
}

/* forgets (device, module) in the cache */
static void
ota_tc_drop(const char *dev, const char *mod)
{
    ota_tc_t  *c = ota_tc_get(dev, mod);

    if (c != NULL) {
        free(c->blob);
        memset(c, 0, sizeof(ota_tc_t));
    }
}

/* the apply found the reader lease gone or the group's cursor moved (a
 * consumer that read with XREADGROUP, a worker that took the lease over):
 * it did nothing.  What we read and decided is void: the cache is
 * forgotten and the reader asks for the lease and the cursor again. */
static int
ota_ev_lost(ota_worker_t *w, redisReply *ar)
{
    if (ar == NULL || ar->type != REDIS_REPLY_ARRAY || ar->elements < 1
        || ar->element[0]->type != REDIS_REPLY_INTEGER
        || ar->element[0]->integer != -1)
    {
        return 0;
    }
    ota_log(OTA_LOG_INFO, "the event cursor moved under consumer %s; "
            "reading again from the group's cursor", w->consumer);
    ota_events_forget();
    w->reader = 0;
    w->resync = 1;
    return 1;
}

/* the apply's answer: which tasks went as decided.  Returns the number of
 * events left to decide again (their task moved under us), -1 when the
 * answer is missing or malformed; *dropped: tasks taken out of the cache */
static int
ota_ev_finish(ota_worker_t *w, ota_ev_t *ev, size_t n, ota_wt_t *tasks,
    int nt, int nw, redisReply *ar, int *acked, int *dropped)
{
    redisReply  *rs;
    size_t       i, x = 0;
    int          k, j = 0, left = 0;

    *dropped = 0;
    if (ota_ev_lost(w, ar)) {
        *dropped = 1;
        return -1;
    }
    if (ar == NULL || ar->type != REDIS_REPLY_ARRAY || ar->elements != 2
        || ar->element[1]->type != REDIS_REPLY_ARRAY
        || ar->element[1]->elements % 2 != 0)
    {
        ota_events_forget();      /* the cache assumed the writes were done */
        *dropped = 1;
        return -1;
    }
    if (ar->element[0]->type == REDIS_REPLY_INTEGER
        && ar->element[0]->integer == 1)
    {
        *acked = 1;               /* with the effects, nothing conflicted */
    }

    /* the results other than "ok": (n-th task sent, result) pairs in the
     * order the tasks were sent */
    rs = ar->element[1];
    for (k = 0; k < nt; k++) {
        ota_wt_t    *t = &tasks[k];
        const char  *res;

        if (!ota_wt_sent(t)) {
            continue;
        }
        j++;
        if (x + 1 >= rs->elements || rs->element[x]->type
            != REDIS_REPLY_INTEGER || rs->element[x]->integer != j)
        {
            continue;             /* ok */
        }
        res = rs->element[x + 1]->str;
        x += 2;
        ota_tc_drop(t->device, t->evmod);
        (*dropped)++;
        if (res == NULL || (strcmp(res, "fresh") && strcmp(res, "paused")
                            && strcmp(res, "gone")))
        {
            t->status = -2;       /* moved under us: decide again */
        }
    }
    if (x != rs->elements || j != nw) {
        ota_log(OTA_LOG_ERR, "the apply script answered for tasks it was "
                "not given; the task cache is forgotten");
        ota_events_forget();
        *dropped = 1;
        return -1;
    }

    for (i = 0; i < n; i++) {
        ota_ev_t *e = &ev[i];
        if (e->done || e->type < 0) {
            continue;
        }
        if (e->task >= 0 && tasks[e->task].status == -2) {
            left++;
            continue;
        }
        e->done = 1;
    }
    return left;
}

/* back to the state right after parsing (a read's first round only) */
static void
ota_ev_reset(ota_ev_t *ev, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        ev[i].done = 0;
        ev[i].look = -1;
        ev[i].task = -1;
        ev[i].cached = 0;
        ev[i].tc = NULL;
    }
}

/* one round: look up (with the version reports in the first round),
 * decide, write (and acknowledge the ids of ack when nothing conflicts:
 * *acked is set then); returns the number of events left undecided
 * (conflicts), -1 when Redis went away, or OTA_EV_HELD when hold allowed
 * the apply to be left in flight (ota_fl) */
static int
ota_ev_round(ota_worker_t *w, ota_ev_t *ev, size_t n, ota_look_t *look,
    ota_wt_t *tasks, ota_cmd_t *zrem, int informs, ota_cmd_t *ack,
    int *acked, int hold, int spec)
{
    ota_htab_t   hl = { 0 }, ht = { 0 };
    ota_cmd_t    c;
    redisReply  *lr = NULL, *ar = NULL, *info = NULL;
    int          nl, nt, left = 0, created, rc = -1, ninf, dirty, dropped;
    int          restarts = 0;
    size_t       i;

    ota_cmd_init(&c);

again:
    nl = 0;
    nt = 0;
    ninf = 0;
    free(hl.slot);
    free(ht.slot);
    hl.slot = ht.slot = NULL;
    if (ota_htab_init(&hl, n) != 0 || ota_htab_init(&ht, n) != 0) {
        ota_log(OTA_LOG_ERR, "out of memory handling events");
        goto done;
    }
    ota_cmd_reset(&c);

    for (i = 0; i < n; i++) {
        ota_ev_t *e = &ev[i];
        if (e->done || e->type < 0) {
            continue;
        }
        e->cached = 0;
        e->tc = NULL;
        e->spec = NULL;
        if (e->type != OTA_TE_TIMEOUT) {
            ota_tc_t *tc = ota_tc_get(e->device, e->module);
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
             * (see ota_bi_t); the first round only, a conflict is looked
             * up */
            if (spec && tc == NULL && e->type == OTA_TE_NOTIFIED
                && e->batch != NULL
                && (e->spec = ota_bi_get(e->batch)) != NULL)
            {
                continue;
            }
        }
        e->look = ota_look_find(&hl, look, &nl, e->device,
                                e->type == OTA_TE_TIMEOUT ? "" : e->module,
                                e->batch);
        if (e->type == OTA_TE_DOWNLOAD) {
            look[e->look].late = 1;
        }
    }
    if (informs) {
        ninf = ota_ev_add_informs(NULL, ev, n);
    }

    /* a lookup waits for the apply in flight (it reads what the apply
     * writes); if that apply did not go as decided, the cache changed and
     * this read starts over */
    if (ota_fl.active && (nl > 0 || ninf > 0)) {
        dirty = 0;
        if (ota_ev_flush(w, &dirty) != OTA_W_OK && ota_worker_lost(w)) {
            goto done;
        }
        if (dirty && restarts++ < OTA_EV_ROUNDS) {
            ota_ev_reset(ev, n);
            goto again;
        }
    }

    ota_cmd_addll(&c, (long long) ota_now_ms());
    ota_cmd_addll(&c, ninf);                /* report count */
    if (ninf > 0) {
        ota_ev_add_informs(&c, ev, n);
    }
    for (int k = 0; k < nl; k++) {
        ota_cmd_adds(&c, look[k].device);
        ota_cmd_adds(&c, look[k].module);
        /* "*": no open task means the last closed one (late coverage) */
        ota_cmd_adds(&c, look[k].batch ? look[k].batch
                                       : look[k].late ? "*" : "");
    }
    if (nl > 0 || ninf > 0) {
        lr = ota_worker_script(w, OTA_LUA_LOOKUP, &c);
        if (lr == NULL || lr->type != REDIS_REPLY_ARRAY
            || lr->elements != (size_t) nl + 2
            || lr->element[1]->type != REDIS_REPLY_ARRAY)
        {
            goto done;
        }
        info = lr->element[1];
        if (lr->element[0]->integer > 0) {
            ota_log(OTA_LOG_DEBUG, "%lld devices joined dynamic batches",
                    lr->element[0]->integer);
        }
        for (int k = 0; k < nl; k++) {
            look[k].res = lr->element[k + 2];
        }
    }

    /* decide, per task, in stream order */
    for (i = 0; i < n; i++) {
        ota_ev_t          *e = &ev[i];
        redisReply        *res;
        ota_wt_t          *t;
        ota_task_event_t   te;
        int                k, r;
        size_t             g;

        if (e->done || e->type < 0) {
            continue;
        }
        if (e->cached) {
            ota_tc_t *tc = e->tc;
            k = ota_task_find(&ht, tasks, &nt, e->device, tc->batch,
                              &created);
            t = &tasks[k];
            if (created) {
                t->t = tc->t;
                t->orig = t->t.state;
                t->package = tc->package;
                t->module = tc->module;
                t->cached = 1;
                t->tc = tc;
                t->evmod = e->module;
                t->nofrom = tc->nofrom;
            }
            goto decide;
        }
        if (e->spec != NULL) {
            ota_bi_t *bi = e->spec;
            k = ota_task_find(&ht, tasks, &nt, e->device, bi->batch,
                              &created);
            t = &tasks[k];
            if (created) {
                t->t.state = OTA_TS_PENDING;
                t->t.size = bi->size;
                t->t.target = bi->target;
                t->orig = OTA_TS_PENDING;
                t->package = bi->package;
                t->module = bi->module;
                t->spec = 1;
                t->nofrom = 1;
                t->evmod = e->module;
            }
            goto decide;
        }
        res = look[e->look].res;
        g = res->type == REDIS_REPLY_STRING ? (size_t) atol(res->str) : 0;
        if (g < 1 || g * 5 > info->elements) {
            e->done = 1;          /* no open task: a version report only */
            if (e->type == OTA_TE_TIMEOUT) {
                ota_cmd_addf(zrem, "%s:%s", e->batch, e->device);
            }
            continue;
        }
        k = ota_task_find(&ht, tasks, &nt, e->device,
                          info->element[g * 5 - 5]->str, &created);
        t = &tasks[k];
        if (created) {
            t->evmod = e->module;
            if (ota_ev_parse_task(t, res, info) != 0) {
                ota_log(OTA_LOG_WARN, "task %s of device %s is unreadable; "
                        "event ignored", t->batch, t->device);
                t->status = -1;
            }
        } else if (t->nofrom) {
            /* an earlier event of the read assumed the task from its
             * batch: the lookup tells its source version */
            ota_wt_t  x;

            memset(&x, 0, sizeof(x));
            if (ota_ev_parse_task(&x, res, info) == 0) {
                t->t.from = x.t.from;
                t->t.has_from = x.t.has_from;
                t->nofrom = 0;
            }
        }
    decide:
        e->task = k;
        if (t->status < 0) {
            e->done = 1;
            continue;
        }
        if (e->type == OTA_TE_DOWNLOAD && strcmp(t->package, e->package)) {
            e->done = 1;          /* bytes of another package */
            continue;
        }

        memset(&te, 0, sizeof(te));
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
        }
        if (r <= 0 && e->type == OTA_TE_TIMEOUT
            && ota_task_state_final(t->t.state))
        {
            ota_cmd_addf(zrem, "%s:%s", e->batch, e->device);
        }
    }

    /* the changed tasks, for the apply script */
    ota_cmd_reset(&c);
    ota_cmd_addll(&c, (long long) ota_now_ms());
    ota_cmd_addll(&c, (long long) w->task_timeout * 1000);
    ota_cmd_addll(&c, ack ? ack->argc : 0);
    for (int k = 0; ack && k < ack->argc; k++) {
        ota_cmd_add(&c, ack->buf + ack->off[k], ack->lens[k]);
    }
    int nw = 0;
    for (int k = 0; k < nt; k++) {
        ota_wt_t *t = &tasks[k];

        if (!ota_wt_sent(t)) {
            continue;
        }
        ota_cmd_adds(&c, t->device);
        ota_cmd_adds(&c, t->batch);
        ota_cmd_adds(&c, ota_task_state_name(t->orig));
        ota_cmd_adds(&c, ota_task_state_name(t->t.state));
        ota_cmd_adds(&c, (t->changed & OTA_TASK_MOVED) && t->t.reason
                         ? t->t.reason : "");
        if (t->changed & OTA_TASK_COVERED) {
            ota_cmd_addll(&c, t->t.covered);
        } else {
            ota_cmd_adds(&c, "");
        }
        if (t->changed & OTA_TASK_STEP) {
            ota_cmd_addll(&c, t->t.step);
        } else {
            ota_cmd_adds(&c, "");
        }
        if (t->desc != NULL) {
            char    d[OTA_DESC_MAX + 1];
            size_t  dl = strnlen(t->desc, OTA_DESC_MAX);

            d[0] = 'd';           /* "d" + desc: an empty desc is not none */
            memcpy(d + 1, t->desc, dl);
            ota_cmd_add(&c, d, dl + 1);
        } else {
            ota_cmd_adds(&c, "");
        }
        /* kind: a timeout, a task decided on the cache (missing is a
         * conflict then: the device may have another open task), or a
         * task a lookup found */
        ota_cmd_adds(&c, t->timeout ? "t" : t->cached ? "c"
                         : t->spec ? "s" : "");
        nw++;
    }

    /* decided on the cache while an apply was in flight: that apply must
     * have gone as decided, else these decisions are taken again */
    if (ota_fl.active) {
        dirty = 0;
        if (ota_ev_flush(w, &dirty) != OTA_W_OK && ota_worker_lost(w)) {
            goto done;
        }
        if (dirty && restarts++ < OTA_EV_ROUNDS) {
            freeReplyObject(lr);
            lr = NULL;
            ota_ev_reset(ev, n);
            goto again;
        }
        if (dirty) {
            goto done;            /* contended: the entries stay pending */
        }
    }

    /* the cache as the apply will leave it (corrected from its answer) */
    ota_tc_update(tasks, nt);
    ota_bi_learn(info);           /* no task points into ota_bi any more */

    if (nw > 0 && hold) {
        ota_fl.active = 1;
        ota_fl.sent = 0;
        ota_fl.apply = c;         /* the caller hands over ev, look, tasks */
        ota_fl.tasks = tasks;
        ota_fl.nt = nt;
        ota_fl.nw = nw;
        ota_cmd_init(&c);
        rc = OTA_EV_HELD;
        goto done;
    }

    if (nw > 0) {
        ar = ota_worker_script(w, OTA_LUA_APPLY, &c);
        left = ota_ev_finish(w, ev, n, tasks, nt, nw, ar, acked, &dropped);
        if (left < 0) {
            goto done;
        }
    } else {
        for (i = 0; i < n; i++) {
            ev[i].done = 1;       /* nothing to write: every event is done */
        }
    }
    rc = left;

done:
    freeReplyObject(lr);
    freeReplyObject(ar);
    ota_cmd_free(&c);
    free(hl.slot);
    free(ht.slot);
    return rc;
}

/* the rounds of a read from round first on; OTA_W_OK, OTA_W_RETRY, or
 * OTA_EV_HELD when its first apply was left in flight */
static int
ota_ev_rounds(ota_worker_t *w, ota_ev_t *ev, size_t n, ota_look_t *look,
    ota_wt_t *tasks, int first, int informs, ota_cmd_t *ack, int *acked,
    int hold)
{
    ota_cmd_t  zrem;
    int        round, left = 0, rc = OTA_W_OK;

    ota_cmd_init(&zrem);
    ota_cmd_adds(&zrem, "ZREM");
    ota_cmd_adds(&zrem, OTA_KEY_TASK_DEADLINES);

    for (round = first; round < OTA_EV_ROUNDS; round++) {
        left = ota_ev_round(w, ev, n, look, tasks, &zrem,
                            informs && round == 0, ack, acked,
                            hold && round == 0, round == 0);
        if (left <= 0) {
            break;
        }
    }
    if (left == OTA_EV_HELD) {
        rc = OTA_EV_HELD;
    } else if (left < 0 || ota_worker_lost(w)) {
        rc = OTA_W_RETRY;
    } else if (left > 0) {
        ota_log(OTA_LOG_WARN, "%d events still contended after %d rounds; "
                "they stay pending and are retried", left, OTA_EV_ROUNDS);
        rc = OTA_W_RETRY;
    }

    if (zrem.argc > 2 && !ota_worker_lost(w)) {
        redisReply *r = ota_cmd_exec(w->rc, &zrem);
        freeReplyObject(r);
    }
    ota_cmd_free(&zrem);
    return rc;
}

static int
ota_ev_decide(ota_worker_t *w, ota_ev_t *ev, size_t n, int informs,
    ota_cmd_t *ack, int *acked, int hold)
{
    ota_look_t  *look;
    ota_wt_t    *tasks;
    int          rc;

    look = calloc(n, sizeof(*look));
    tasks = calloc(n, sizeof(*tasks));
    if (look == NULL || tasks == NULL) {
        free(look);
        free(tasks);
        ota_log(OTA_LOG_ERR, "out of memory handling %zu events", n);
        return OTA_W_RETRY;
    }
    rc = ota_ev_rounds(w, ev, n, look, tasks, 0, informs, ack, acked, hold);
    if (rc == OTA_EV_HELD) {
        ota_fl.look = look;       /* with the apply in flight */
        return rc;
    }
    free(look);
    free(tasks);
    return rc;
}

/* a cursor acknowledgement: "cursor" reader from to count */
static int
ota_ev_is_cursor(const ota_cmd_t *ack)
{
    return ack->argc == 5 && strcmp(ack->buf + ack->off[0], "cursor") == 0;
}

/* acknowledges ack unless the apply did (acked): the ids with XACK, or
 * the cursor moved by the apply script with no task (the same check of
 * the lease and the cursor); a moved cursor is the worker's from then on */
static int
ota_ev_ack(ota_worker_t *w, ota_cmd_t *ack, int acked)
{
    ota_cmd_t    x;
    redisReply  *r;
    int          rc = OTA_W_OK, cursor = ota_ev_is_cursor(ack);

    if (!acked && ack->argc > 0) {
        /* nothing was written (or the last write was not clean): every
         * effect is stored, so acknowledge now */
        ota_cmd_init(&x);
        if (cursor) {
            ota_cmd_addll(&x, (long long) ota_now_ms());
            ota_cmd_addll(&x, (long long) w->task_timeout * 1000);
            ota_cmd_addll(&x, ack->argc);
        } else {
            ota_cmd_adds(&x, "XACK");
            ota_cmd_adds(&x, OTA_STREAM_EVENTS);
            ota_cmd_adds(&x, OTA_GROUP);
        }
        for (int k = 0; k < ack->argc; k++) {
            ota_cmd_add(&x, ack->buf + ack->off[k], ack->lens[k]);
        }
        r = cursor ? ota_worker_script(w, OTA_LUA_APPLY, &x)
                   : ota_cmd_exec(w->rc, &x);
        if (r == NULL || r->type == REDIS_REPLY_ERROR || ota_ev_lost(w, r)) {
            rc = OTA_W_RETRY;
        }
        freeReplyObject(r);
        ota_cmd_free(&x);
    }
    if (rc == OTA_W_OK && cursor) {
        snprintf(w->cur, sizeof(w->cur), "%.*s", (int) ack->lens[3],
                 ack->buf + ack->off[3]);
    }
    return rc;
}

/* frees what a flight holds and releases its read's entries */
static void
ota_ev_flight_free(ota_ev_flight_t *f)
{
    free(f->ev);
    free(f->look);
    free(f->tasks);
    ota_cmd_free(&f->apply);
    ota_cmd_free(&f->ack);
    ota_arena_release(f->arena, f->mark);
    memset(f, 0, sizeof(*f));
}

/* waits for the apply in flight and finishes its read (rounds again for
 * the tasks that moved under us, acknowledgement); *dirty: the cache
 * changed, so decisions taken on it meanwhile are void */
static int
ota_ev_flush(ota_worker_t *w, int *dirty)
{
    ota_ev_flight_t   f;
    ota_script_t     *s = ota_lua(OTA_LUA_APPLY);
    redisReply       *ar = NULL;
    int               left, acked = 0, dropped = 0, rc = OTA_W_OK;

    if (!ota_fl.active) {
        return OTA_W_OK;
    }
    f = ota_fl;
    memset(&ota_fl, 0, sizeof(ota_fl));   /* the connection is free again */

    if (!ota_worker_lost(w)) {
        if (f.sent || ota_script_append(w->rc, s, &f.apply) == 0) {
            ar = ota_redis_reply(w->rc);
        }
        if (ar != NULL && ar->type == REDIS_REPLY_ERROR
            && strncmp(ar->str, "NOSCRIPT", 8) == 0)
        {
            freeReplyObject(ar);      /* Redis forgot it: run it again */
            ar = ota_worker_script(w, OTA_LUA_APPLY, &f.apply);
        } else if (ar != NULL && ar->type == REDIS_REPLY_ERROR) {
            ota_log(OTA_LOG_ERR, "script %s failed: %s", s->name, ar->str);
        }
    }
    left = ota_ev_finish(w, f.ev, f.n, f.tasks, f.nt, f.nw, ar, &acked,
                         &dropped);
    freeReplyObject(ar);
    *dirty = dropped > 0 || left != 0;
    if (*dirty) {
        w->redone++;
        ota_log(OTA_LOG_DEBUG, "an apply in flight did not go as decided "
                "(%d tasks); decided again", dropped);
    }
    if (left > 0) {
        rc = ota_ev_rounds(w, f.ev, f.n, f.look, f.tasks, 1, 0, &f.ack,
                           &acked, 0);
    } else if (left < 0) {
        rc = OTA_W_RETRY;
    }
    if (rc == OTA_W_OK) {
        rc = ota_ev_ack(w, &f.ack, acked);
    }
    if (rc == OTA_W_OK) {
        w->events += (long long) f.n;
    }
    ota_ev_flight_free(&f);
    return rc;
}

int
ota_events_flush(ota_worker_t *w)
{
    int  dirty = 0;

    return ota_ev_flush(w, &dirty);
}

int
ota_events_held(void)
{
    return ota_fl.active;
}

int
ota_events_sent(void)
{
    return ota_fl.active && ota_fl.sent;
}

/* appends the apply in flight behind a read just appended */
int
ota_events_send(ota_worker_t *w)
{
    if (!ota_fl.active || ota_fl.sent) {
        return 0;
    }
    if (ota_script_append(w->rc, ota_lua(OTA_LUA_APPLY), &ota_fl.apply) != 0)
    {
        return -1;
    }
    ota_fl.sent = 1;
    w->ahead++;
    return 0;
}

/* the connection is gone: the apply may or may not have run, and its
 * entries stay pending (read again after reconnecting) */
void
ota_events_drop(void)
{
    if (!ota_fl.active) {
        return;
    }
    ota_ev_flight_free(&ota_fl);
    ota_events_forget();
}

int
ota_events_handle(ota_worker_t *w, redisReply **entries, size_t n,
    ota_arena_t *arena, ota_arena_mark_t mark, const char *from)
{
    ota_ev_t    *ev;
    ota_cmd_t    ack;
    size_t       i, bad = 0;
    int          rc, acked = 0;

    ota_bi_reap();                /* no round runs between reads */
    ev = calloc(n, sizeof(*ev));
    if (ev == NULL) {
        ota_log(OTA_LOG_ERR, "out of memory handling %zu events", n);
        return OTA_W_RETRY;
    }
    for (i = 0; i < n; i++) {
        if (ota_ev_parse(entries[i], &ev[i]) != 0) {
            bad++;
            if (entries[i]->type == REDIS_REPLY_ARRAY
                && entries[i]->element[1]->type == REDIS_REPLY_ARRAY)
            {
                ota_log(OTA_LOG_WARN, "event %s is malformed; dropped",
                        entries[i]->element[0]->str);
            }
        }
    }

    /* the acknowledgement, for the apply script to store with the
     * effects: the cursor's move (from the last entry before the read to
     * its last entry), or the ids of entries from the pending list */
    ota_cmd_init(&ack);
    if (from != NULL) {
        redisReply *last = entries[n - 1];

        ota_cmd_adds(&ack, "cursor");
        ota_cmd_adds(&ack, w->consumer);
        ota_cmd_adds(&ack, from);
        ota_cmd_adds(&ack, last->type == REDIS_REPLY_ARRAY
                           && last->elements >= 1
                           && last->element[0]->type == REDIS_REPLY_STRING
                           ? last->element[0]->str : from);
        ota_cmd_addll(&ack, (long long) n);
    }
    for (i = 0; from == NULL && i < n; i++) {
        if (entries[i]->type == REDIS_REPLY_ARRAY
            && entries[i]->elements >= 1)
        {
            ota_cmd_adds(&ack, entries[i]->element[0]->str);
        }
    }

    rc = ota_ev_decide(w, ev, n, 1, &ack, &acked, arena != NULL);
    if (rc == OTA_EV_HELD) {
        ota_fl.ev = ev;           /* finished by ota_ev_flush() */
        ota_fl.n = n;
        ota_fl.ack = ack;
        ota_fl.arena = arena;
        ota_fl.mark = mark;
        return OTA_W_OK;
    }
    if (rc == OTA_W_OK) {
        rc = ota_ev_ack(w, &ack, acked);
    }
    if (rc == OTA_W_OK) {
        w->events += (long long) n;
    }
    ota_cmd_free(&ack);
    free(ev);
    return rc;
}

/* ---- timeouts ----------------------------------------------------------------- */

/* one page of due deadlines; *more: the page was full */
static int
ota_maint_timeouts_page(ota_worker_t *w, int *more)
{
    redisReply  *r;
    ota_ev_t    *ev;
    size_t       i, n;
    int          rc, acked = 0;

    *more = 0;
    r = ota_worker_cmd(w, "ZRANGEBYSCORE " OTA_KEY_TASK_DEADLINES
                       " -inf %lld LIMIT 0 500", (long long) ota_now_ms());
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return OTA_W_OK;
    }
    n = r->elements;
    *more = n == 500;
    ev = calloc(n, sizeof(*ev));
    if (ev == NULL) {
        freeReplyObject(r);
        return OTA_W_OK;
    }
    for (i = 0; i < n; i++) {
        char *m = r->element[i]->str, *colon = strchr(m, ':');

        ev[i].type = -1;
        ev[i].look = -1;
        ev[i].task = -1;
        if (colon == NULL) {
            continue;
        }
        *colon = '\0';            /* member "<batch>:<device>" */
        ev[i].batch = m;
        ev[i].device = colon + 1;
        ev[i].module = "";
        ev[i].type = OTA_TE_TIMEOUT;
    }
    rc = ota_ev_decide(w, ev, n, 0, NULL, &acked, 0);
    free(ev);
    freeReplyObject(r);
    return rc;
}

/* Deadlines are written once per task and pushed back when they fall due
 * (docs/worker.md), so many can fall due together (a batch notified within
 * a minute comes due within a minute): take pages until none is left or
 * 100 ms went by, so real timeouts are not held up behind them. */
int
ota_maint_timeouts(ota_worker_t *w)
{
    int64_t  t0 = ota_now_ms();
    int      rc, more, pages = 0;

    do {
        rc = ota_maint_timeouts_page(w, &more);
    } while (rc == OTA_W_OK && more && ++pages < 50 && !w->stop
             && ota_now_ms() - t0 < 100);
    return rc;
}
