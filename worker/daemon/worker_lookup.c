/*
 * worker_lookup.c: the lookup script (lua/worker/lookup.lua) of a round:
 * the read's version reports and one question per task to read, in one
 * call; its answers parsed into tasks.  Layouts: worker_wire.h.
 */

#include "worker_lookup.h"

#include <stdlib.h>
#include <string.h>

#include "worker_wire.h"


/* the version reports of the read (appended to c unless NULL); returns
 * how many */
int
ota_lookup_informs(ota_evread_t *rd, ota_cmd_t *c)
{
    const char  *v[OTA_LOOKUP_INFORM_N];
    size_t       i;
    int          k = 0, f;

    for (i = 0; i < rd->n; i++) {
        ota_ev_t *e = &rd->ev[i];

        if (!e->inform || e->type < 0) {
            continue;
        }
        if (c != NULL) {
            v[OTA_LOOKUP_I_DEVICE] = e->device;
            v[OTA_LOOKUP_I_PRODUCT] = e->product;
            v[OTA_LOOKUP_I_MODULE] = e->module;
            v[OTA_LOOKUP_I_VERSION] = e->version;
            v[OTA_LOOKUP_I_TS] = e->ts ? e->ts : "0";
            for (f = 0; f < OTA_LOOKUP_INFORM_N; f++) {
                ota_cmd_adds(c, v[f]);
            }
        }
        k++;
    }
    return k;
}


/* Runs the lookup for this round's questions (and, with informs, the
 * read's version reports); 0, or -1 when Redis did not answer as agreed */
int
ota_lookup(ota_evread_t *rd, int informs)
{
    ota_cmd_t    c;
    const char  *q[OTA_LOOKUP_ASK_N];
    redisReply  *lr;
    int          k, f, rc = -1;

    freeReplyObject(rd->lr);            /* the last round's: no task of */
    rd->lr = NULL;                      /* this round points into it */
    rd->info = NULL;
    rd->ninf = informs ? ota_lookup_informs(rd, NULL) : 0;
    if (rd->nl == 0 && rd->ninf == 0) {
        return 0;
    }
    ota_cmd_init(&c);
    ota_cmd_addll(&c, (long long) ota_now_ms());      /* OTA_LOOKUP_NOW */
    ota_cmd_addll(&c, rd->ninf);                      /* OTA_LOOKUP_NINFORM */
    if (rd->ninf > 0) {
        (void) ota_lookup_informs(rd, &c);
    }
    for (k = 0; k < rd->nl; k++) {
        q[OTA_LOOKUP_Q_DEVICE] = rd->look[k].device;
        q[OTA_LOOKUP_Q_MODULE] = rd->look[k].module;
        q[OTA_LOOKUP_Q_BATCH] = rd->look[k].batch ? rd->look[k].batch
                                : rd->look[k].late ? OTA_LOOKUP_Q_OPEN_OR_LAST
                                : OTA_LOOKUP_Q_OPEN;
        for (f = 0; f < OTA_LOOKUP_ASK_N; f++) {
            ota_cmd_adds(&c, q[f]);
        }
    }
    lr = ota_pipe_script(&rd->w->pipe, ota_lua(OTA_LUA_LOOKUP), &c);
    ota_cmd_free(&c);
    rd->lr = lr;
    if (lr == NULL || lr->type != REDIS_REPLY_ARRAY
        || lr->elements != (size_t) rd->nl + OTA_LOOKUP_R_TASKS
        || lr->element[OTA_LOOKUP_R_BATCHES]->type != REDIS_REPLY_ARRAY)
    {
        return rc;
    }
    rd->info = lr->element[OTA_LOOKUP_R_BATCHES];
    if (lr->element[OTA_LOOKUP_R_JOINED]->integer > 0) {
        ota_log(OTA_LOG_DEBUG, "%lld devices joined dynamic batches",
                lr->element[OTA_LOOKUP_R_JOINED]->integer);
    }
    for (k = 0; k < rd->nl; k++) {
        rd->look[k].res = lr->element[k + OTA_LOOKUP_R_TASKS];
    }
    return 0;
}


/* the batch (from 1) an answer's task is of, 0 when there is no task */
size_t
ota_lookup_batch_of(redisReply *res, redisReply *info)
{
    size_t  g;

    if (res == NULL || info == NULL || res->type != REDIS_REPLY_STRING) {
        return 0;
    }
    g = (size_t) atol(res->str);     /* the first field: OTA_LOOKUP_T_BATCH */
    return g >= 1 && g * OTA_LOOKUP_B_N <= info->elements ? g : 0;
}


static redisReply *
ota_lookup_bfield(redisReply *info, size_t g, int f)
{
    return info->element[(g - 1) * OTA_LOOKUP_B_N + f];
}


const char *
ota_lookup_batch_id(redisReply *info, size_t g)
{
    return ota_lookup_bfield(info, g, OTA_LOOKUP_B_ID)->str;
}


/* a task as the lookup answers it: OTA_LOOKUP_T_N fields joined by
 * OTA_LOOKUP_SEP (split in place; empty fields are the defaults), and its
 * batch's shared fields from info */
int
ota_lookup_task(ota_wt_t *t, redisReply *res, redisReply *info)
{
    char    *f[OTA_LOOKUP_T_N], *p = res->str;
    size_t   g;
    int      k, s;

    for (k = 0; k < OTA_LOOKUP_T_N; k++) {
        f[k] = p;
        p = strstr(p, OTA_LOOKUP_SEP);
        if (p == NULL) {
            break;
        }
        *p = '\0';
        p += sizeof(OTA_LOOKUP_SEP) - 1;
    }
    if (k != OTA_LOOKUP_T_N - 1) {
        return -1;
    }
    g = ota_lookup_batch_of(res, info);
    if (g == 0) {
        return -1;
    }
    s = f[OTA_LOOKUP_T_STATE][0]
        ? ota_task_state_parse(f[OTA_LOOKUP_T_STATE],
                               strlen(f[OTA_LOOKUP_T_STATE]))
        : (int) OTA_TS_PENDING;
    if (s < 0
        || ota_version_parse_cstr(
               ota_lookup_bfield(info, g, OTA_LOOKUP_B_VERSION)->str,
               &t->t.target))
    {
        return -1;
    }
    t->batch = ota_lookup_batch_id(info, g);
    t->t.state = (ota_task_state_t) s;
    t->orig = t->t.state;
    t->t.covered = atoll(f[OTA_LOOKUP_T_COVERED]);
    t->t.size = atoll(ota_lookup_bfield(info, g, OTA_LOOKUP_B_SIZE)->str);
    t->t.full = t->t.size;
    t->t.has_from = ota_version_parse_cstr(f[OTA_LOOKUP_T_FROM],
                                           &t->t.from) == 0;
    t->package = ota_lookup_bfield(info, g, OTA_LOOKUP_B_PACKAGE)->str;
    t->bpackage = t->package;
    t->diffs = ota_lookup_bfield(info, g, OTA_LOOKUP_B_DIFFS)->str;
    t->module = ota_lookup_bfield(info, g, OTA_LOOKUP_B_MODULE)->str;
    if (f[OTA_LOOKUP_T_PKG][0]) {
        /* covered counts the diff the device downloads */
        t->package = f[OTA_LOOKUP_T_PKG];
        t->t.diff = 1;
        t->t.size = atoll(f[OTA_LOOKUP_T_PKGSIZE]);
    }
    if (f[OTA_LOOKUP_T_STEP][0]) {
        t->t.step = atoi(f[OTA_LOOKUP_T_STEP]);
        t->t.has_step = 1;
    }
    return 0;
}


/* the diffs of the batch of an answer's task ("" when there is none) */
const char *
ota_lookup_diffs(redisReply *res, redisReply *info)
{
    size_t       g = ota_lookup_batch_of(res, info);
    redisReply  *d;

    if (g == 0) {
        return "";
    }
    d = ota_lookup_bfield(info, g, OTA_LOOKUP_B_DIFFS);
    return d->type == REDIS_REPLY_STRING ? d->str : "";
}


/* the size of the diff id in a batch's diffs ("<id> <size> ..."), -1 when
 * the package is not one of them */
long long
ota_lookup_diff_size(const char *diffs, const char *id)
{
    size_t       n = strlen(id);
    const char  *p = diffs;

    while (p != NULL && *p) {
        const char *sp = strchr(p, OTA_LOOKUP_DSEP[0]);

        if (sp == NULL) {
            return -1;
        }
        if ((size_t) (sp - p) == n && strncmp(p, id, n) == 0) {
            return atoll(sp + 1);
        }
        p = strchr(sp + 1, OTA_LOOKUP_DSEP[0]);
        p = p ? p + 1 : NULL;
    }
    return -1;
}


/* remembers the batches of an answer (ota_cache_add_batch); only those
 * whose fields are all strings */
void
ota_lookup_learn(ota_cache_t *c, redisReply *info)
{
    size_t  i;
    int     k, strings;

    for (i = 0; info != NULL && i + OTA_LOOKUP_B_N <= info->elements;
         i += OTA_LOOKUP_B_N)
    {
        redisReply **f = &info->element[i];

        strings = 1;
        for (k = 0; k < OTA_LOOKUP_B_N; k++) {
            strings &= f[k]->type == REDIS_REPLY_STRING;
        }
        if (strings) {
            ota_cache_add_batch(c, f[OTA_LOOKUP_B_ID]->str,
                                f[OTA_LOOKUP_B_SIZE]->str,
                                f[OTA_LOOKUP_B_VERSION]->str,
                                f[OTA_LOOKUP_B_PACKAGE]->str,
                                f[OTA_LOOKUP_B_MODULE]->str);
        }
    }
}
