/* ota_rollout_view.c: a batch's rollout as the admin reads it
 * (ota_rollout_view.h), for otactl and the module's admin API alike */

#include "ota_rollout_view.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"


void
ota_rollout_view_init(ota_rollout_view_t *v)
{
    memset(v, 0, sizeof(*v));
    v->timeout = -1;
}


static long long
ota_rollout_ll(const char *s, size_t len)
{
    long long  v = 0;
    size_t     i;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > (1LL << 53)) {
            break;
        }
    }
    return v;
}


#define ota_rollout_is(k, kl, name)                                          \
    ((kl) == sizeof(name) - 1 && memcmp(k, name, kl) == 0)

/* the record's fields the view takes: a text (an ota_rview_t), a number
 * (long long), or one the view only hides (internal to the worker) */
typedef enum { OTA_RV_TEXT, OTA_RV_NUM, OTA_RV_HIDE } ota_rv_kind_e;

typedef struct {
    const char     *name;
    ota_rv_kind_e   kind;
    size_t          off;
} ota_rollout_key_t;

#define T(n, m)  { n, OTA_RV_TEXT, offsetof(ota_rollout_view_t, m) }
#define N(n, m)  { n, OTA_RV_NUM, offsetof(ota_rollout_view_t, m) }
#define H(n)     { n, OTA_RV_HIDE, 0 }

static const ota_rollout_key_t  ota_rollout_keys[] = {
    T(OTA_F_WAVES, waves), T(OTA_F_SUCCESS_THRESHOLD, success),
    T(OTA_F_ERROR_THRESHOLD, error), T(OTA_F_ABORT_RATE, abort_rate),
    T(OTA_F_RAMP, ramp), T(OTA_R_ABORT, abort_reason),
    T(OTA_R_PAUSE_REASON, pause_reason), T(OTA_R_PAUSE_KIND, pause_kind),
    N(OTA_R_WAVE, wave), N(OTA_F_MAX_PER_MINUTE, max_per_minute),
    N(OTA_R_RATE, rate), N(OTA_F_ABORT_MIN, abort_min),
    N(OTA_R_ABORTED, aborted), N(OTA_F_START_AT, start_at),
    N(OTA_R_STARTED, started), N(OTA_F_TIMEOUT, timeout),
    N(OTA_R_PAUSE_WAVE, pause_wave),
    H(OTA_R_ROLLOUT), H(OTA_R_WAVE_UPTO), H(OTA_R_WAVE_ACK),
    H(OTA_R_NOTICE_RANK), H(OTA_R_WAVE_BOUNDS)
};

#undef T
#undef N
#undef H

int
ota_rollout_field(ota_rollout_view_t *v, const char *k, size_t kl,
    const char *val, size_t vl)
{
    const ota_rollout_key_t  *e;
    const char               *p, *q, *end = val + vl;
    ota_rview_t              *t;
    size_t                    i;

    for (i = 0; i < sizeof(ota_rollout_keys) / sizeof(ota_rollout_keys[0]);
         i++)
    {
        e = &ota_rollout_keys[i];
        if (strlen(e->name) == kl && memcmp(e->name, k, kl) == 0) {
            break;
        }
    }
    if (i == sizeof(ota_rollout_keys) / sizeof(ota_rollout_keys[0])) {
        return 0;
    }

    if (e->kind == OTA_RV_TEXT) {
        t = (ota_rview_t *) ((char *) v + e->off);
        t->s = val;
        t->len = vl;
    } else if (e->kind == OTA_RV_NUM) {
        *(long long *) ((char *) v + e->off) = ota_rollout_ll(val, vl);
    } else if (ota_rollout_is(k, kl, OTA_R_WAVE_BOUNDS)) {
        v->has_bounds = 1;
        v->nbound = 0;
        for (p = val; p < end && v->nbound < OTA_WAVES_MAX - 1; p = q + 1) {
            q = memchr(p, ',', (size_t) (end - p));
            if (q == NULL) {
                q = end;
            }
            if (q > p) {
                v->bound[v->nbound++] = ota_rollout_ll(p, (size_t) (q - p));
            }
        }
    }
    return 1;
}


/* "<wave>:<state>" -> count, "<wave>:opened" -> ms (the per-wave failure
 * reasons "<wave>:r:<reason>" are for the scripts' pause reasons) */
void
ota_rollout_wave_field(ota_rollout_view_t *v, const char *k, size_t kl,
    const char *val, size_t vl)
{
    const char  *c = memchr(k, ':', kl);
    long long    w;
    int          s;

    if (c == NULL || c == k) {
        return;
    }
    w = ota_rollout_ll(k, (size_t) (c - k));
    if (w < 1 || w > OTA_WAVES_MAX) {
        return;
    }
    c++;
    kl -= (size_t) (c - k);
    if (ota_rollout_is(c, kl, OTA_R_WAVE_OPENED)) {
        v->opened[w - 1] = ota_rollout_ll(val, vl);
        return;
    }
    s = ota_task_state_parse(c, kl);
    if (s >= 0) {
        /* counts may pass below zero for a moment only in Redis's view
         * of an interrupted script: never, but never print one either */
        v->wn[w - 1][s] = vl && val[0] == '-' ? 0 : ota_rollout_ll(val, vl);
    }
}


int
ota_rollout_nwaves(const ota_rollout_view_t *v)
{
    return v->nbound + 1;
}


long long
ota_rollout_wave_size(const ota_rollout_view_t *v, int k, long long total)
{
    long long  lo = k >= 2 ? v->bound[k - 2] : 0;
    long long  hi = k <= v->nbound ? v->bound[k - 1] : total;

    return hi > lo ? hi - lo : 0;
}


static json_t *
ota_rollout_str(ota_rview_t s)
{
    return s.s != NULL ? json_stringn(s.s, s.len) : json_null();
}


/* a percentage field: a number (12.5), or null */
static json_t *
ota_rollout_pct(ota_rview_t s)
{
    long long  c = s.s != NULL ? ota_pct_parse(s.s, s.len) : -1;

    if (c < 0) {
        return json_null();
    }
    return c % 100 == 0 ? json_integer(c / 100) : json_real((double) c / 100);
}


static json_t *
ota_rollout_ms(long long ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}


/* "BASE,FACTOR" as {"base","factor"}, or null */
static json_t *
ota_rollout_ramp_json(ota_rview_t s)
{
    const char  *c = s.s ? memchr(s.s, ',', s.len) : NULL;
    ota_rview_t  f;

    if (c == NULL) {
        return json_null();
    }
    f.s = c + 1;
    f.len = s.len - (size_t) (c + 1 - s.s);
    return json_pack("{s:I, s:o}", "base",
                     (json_int_t) ota_rollout_ll(s.s, (size_t) (c - s.s)),
                     "factor", ota_rollout_pct(f));
}


static json_t *
ota_rollout_waves_json(const ota_rollout_view_t *v,
    const ota_batch_counts_t *c)
{
    json_t      *a, *w, *jc;
    long long    size, n[OTA_TS_COUNT], fin, rest;
    int          k, s, nw = ota_rollout_nwaves(v);
    const char  *state;

    a = json_array();
    if (a == NULL || v->waves.s == NULL) {
        return a;
    }
    for (k = 1; k <= nw; k++) {
        size = ota_rollout_wave_size(v, k, c->total);
        if (nw == 1) {
            memcpy(n, c->n, sizeof(n));
        } else {
            memcpy(n, v->wn[k - 1], sizeof(n));
            /* pending is what the wave's other states leave */
            rest = size;
            for (s = 0; s < OTA_TS_COUNT; s++) {
                if (s != OTA_TS_PENDING) {
                    rest -= n[s];
                }
            }
            n[OTA_TS_PENDING] = rest > 0 ? rest : 0;
        }
        fin = n[OTA_TS_SUCCEEDED] + n[OTA_TS_FAILED] + n[OTA_TS_CANCELLED];
        state = k > v->wave ? "waiting" : (fin >= size ? "done" : "open");
        jc = json_object();
        for (s = 0; jc != NULL && s < OTA_TS_COUNT; s++) {
            json_object_set_new(jc, ota_task_state_name(s),
                                json_integer(n[s]));
        }
        w = json_pack("{s:i, s:I, s:s, s:o, s:o}", "wave", k,
                      "devices", (json_int_t) size, "state", state,
                      "opened", ota_rollout_ms(v->opened[k - 1]),
                      "counts", jc ? jc : json_object());
        if (w == NULL || json_array_append_new(a, w) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}


int
ota_rollout_json(const ota_rollout_view_t *v, const ota_batch_counts_t *c,
    json_t *obj)
{
    json_t  *ab = json_null(), *rate = json_null(), *waves;
    int      rc = 0;

    waves = ota_rollout_waves_json(v, c);
    if (waves == NULL) {
        return -1;
    }
    if (v->abort_rate.s != NULL) {
        ab = json_pack("{s:o, s:I, s:o, s:o}",
                       "failure_rate", ota_rollout_pct(v->abort_rate),
                       "min", (json_int_t) v->abort_min,
                       "reason", ota_rollout_str(v->abort_reason),
                       "at", ota_rollout_ms(v->aborted));
    }
    if (v->max_per_minute > 0) {
        rate = json_pack("{s:I, s:o, s:I}",
                         "max_per_minute", (json_int_t) v->max_per_minute,
                         "ramp", ota_rollout_ramp_json(v->ramp),
                         "now", (json_int_t) (v->rate > 0 ? v->rate
                                              : v->max_per_minute));
    }
    if (ab == NULL || rate == NULL) {
        json_decref(waves);
        json_decref(ab);
        json_decref(rate);
        return -1;
    }

    rc |= json_object_set_new(obj, "waves", waves);
    rc |= json_object_set_new(obj, "wave", v->waves.s != NULL
                                           ? json_integer(v->wave)
                                           : json_null());
    rc |= json_object_set_new(obj, "success_threshold",
                              v->waves.s != NULL && v->success.s == NULL
                              ? json_integer(100)
                              : ota_rollout_pct(v->success));
    rc |= json_object_set_new(obj, "error_threshold",
                              ota_rollout_pct(v->error));
    rc |= json_object_set_new(obj, "pause_reason",
                              ota_rollout_str(v->pause_reason));
    rc |= json_object_set_new(obj, "pause_kind",
                              ota_rollout_str(v->pause_kind));
    rc |= json_object_set_new(obj, "rate", rate);
    rc |= json_object_set_new(obj, "abort", ab);
    rc |= json_object_set_new(obj, "start_at", ota_rollout_ms(v->start_at));
    rc |= json_object_set_new(obj, "started", ota_rollout_ms(v->started));
    rc |= json_object_set_new(obj, "timeout", v->timeout >= 0
                                              ? json_integer(v->timeout)
                                              : json_null());
    return rc ? -1 : 0;
}
