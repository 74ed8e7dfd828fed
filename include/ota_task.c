#include "ota_task.h"

#include <stddef.h>

const char *
ota_task_step_reason(int step)
{
    switch (step) {
    case -1: return OTA_REASON_UPGRADE;
    case -2: return OTA_REASON_DOWNLOAD;
    case -3: return OTA_REASON_VERIFY;
    case -4: return OTA_REASON_FLASH;
    default: return NULL;
    }
}

int
ota_task_can_move(ota_task_state_t a, ota_task_state_t b)
{
    if ((unsigned) a >= OTA_TS_COUNT || (unsigned) b >= OTA_TS_COUNT
        || ota_task_state_final(a) || a == b)
    {
        return 0;
    }

    /* every final state is reachable from every open one; open states
     * only move forward in the order of the enum */
    return ota_task_state_final(b) || b > a;
}

static int
ota_task_move(ota_task_t *t, ota_task_state_t to, const char *reason)
{
    if (!ota_task_can_move(t->state, to)) {
        return 0;
    }
    t->state = to;
    t->reason = to == OTA_TS_FAILED ? reason : NULL;
    return OTA_TASK_MOVED;
}

/* a download of the other package than the one covered counts: 1 when
 * the task takes it (rc gets what changed), 0 when it is ignored */
static int
ota_task_switch(ota_task_t *t, const ota_task_event_t *e, int *rc)
{
    if (ota_task_state_final(t->state) || e->size <= 0) {
        return 0;
    }

    if (e->diff) {
        /* the diff, first: only before any byte of the full package */
        if (t->covered > 0) {
            return 0;
        }
        if (t->full <= 0) {
            t->full = t->size;
        }
        t->diff = 1;
        t->size = e->size;
        *rc |= OTA_TASK_PKG;
        return 1;
    }

    /* the device falls back to the full package: covered counts it now */
    t->diff = 0;
    t->size = t->full > 0 ? t->full : e->size;
    t->covered = 0;
    *rc |= OTA_TASK_PKG | OTA_TASK_COVERED;

    if (t->state == OTA_TS_DOWNLOADED || t->state == OTA_TS_INSTALLING) {
        t->state = OTA_TS_DOWNLOADING;
        *rc |= OTA_TASK_MOVED;
    }

    return 1;
}


long long
ota_task_saved(const ota_task_t *t)
{
    if (t->state != OTA_TS_SUCCEEDED || !t->diff || t->full <= t->size) {
        return 0;
    }
    return t->full - t->size;
}


static int
ota_task_download(ota_task_t *t, const ota_task_event_t *e)
{
    int        rc = 0;
    long long  covered = e->covered;

    if (covered < 0) {
        return -1;
    }

    if (e->diff != t->diff && !ota_task_switch(t, e, &rc)) {
        return 0;                 /* bytes of a package it does not count */
    }
    if (t->size > 0 && covered > t->size) {
        covered = t->size;        /* never report more than 100 % */
    }

    /* coverage only grows: a late, smaller count is ignored */
    if (covered > t->covered) {
        t->covered = covered;
        rc |= OTA_TASK_COVERED;
    }

    if (t->state <= OTA_TS_DOWNLOADING) {
        if (t->covered > 0 && t->covered >= t->size) {
            rc |= ota_task_move(t, OTA_TS_DOWNLOADED, NULL);

            /* a step reported before the last coverage came in (its merge
             * answered after the device's report): every byte went out
             * and the device has reported, so it is installing */
            if (t->has_step && t->step >= 0) {
                rc |= ota_task_move(t, OTA_TS_INSTALLING, NULL);
            }

        } else if (t->covered > 0) {
            rc |= ota_task_move(t, OTA_TS_DOWNLOADING, NULL);
        }
    }

    return rc;
}

static int
ota_task_progress(ota_task_t *t, int step)
{
    int  rc;

    if (step < OTA_STEP_MIN || step > OTA_STEP_MAX) {
        return -1;
    }

    if (step < 0) {
        return ota_task_move(t, OTA_TS_FAILED, ota_task_step_reason(step));
    }

    rc = (!t->has_step || t->step != step) ? OTA_TASK_STEP : 0;
    t->step = step;
    t->has_step = 1;

    /* install steps mean installing only once every byte went out: a
     * device may report download percentages as steps before that */
    if (t->state == OTA_TS_DOWNLOADED) {
        rc |= ota_task_move(t, OTA_TS_INSTALLING, NULL);
    }

    return rc;
}

static int
ota_task_inform(ota_task_t *t, const ota_version_t *v)
{
    int  c;

    c = ota_version_cmp(v, &t->target);
    if (c == 0) {
        return ota_task_move(t, OTA_TS_SUCCEEDED, NULL);
    }

    if (t->has_from) {
        if (ota_version_cmp(v, &t->from) == 0) {
            return 0;             /* still at its source: not started */
        }

    } else if (c < 0) {
        return 0;                 /* first report of an older version */
    }

    return ota_task_move(t, OTA_TS_FAILED, OTA_REASON_WRONG_VER);
}

int
ota_task_apply(ota_task_t *t, const ota_task_event_t *e)
{
    if (ota_task_state_final(t->state)) {
        /* final states are final; a later, larger coverage still counts
         * (the last merge may answer after the device's inform): covered
         * grows, the state stays, so no counter moves */
        return e->type == OTA_TE_DOWNLOAD ? ota_task_download(t, e) : 0;
    }

    switch (e->type) {

    case OTA_TE_NOTIFIED:
        return t->state == OTA_TS_PENDING
               ? ota_task_move(t, OTA_TS_NOTIFIED, NULL) : 0;

    case OTA_TE_DOWNLOAD:
        return ota_task_download(t, e);

    case OTA_TE_PROGRESS:
        if (e->step < OTA_STEP_MIN || e->step > OTA_STEP_MAX) {
            return -1;
        }
        return ota_task_progress(t, e->step);

    case OTA_TE_INFORM:
        return ota_task_inform(t, &e->version);

    case OTA_TE_TIMEOUT:
        return ota_task_move(t, OTA_TS_FAILED, OTA_REASON_TIMEOUT);

    case OTA_TE_CANCEL:
        return ota_task_move(t, OTA_TS_CANCELLED, NULL);
    }

    return -1;
}

void
ota_task_count_move(ota_batch_counts_t *c, ota_task_state_t from,
    ota_task_state_t to)
{
    if (from == to || (unsigned) from >= OTA_TS_COUNT
        || (unsigned) to >= OTA_TS_COUNT)
    {
        return;
    }
    c->n[from]--;
    c->n[to]++;
}
