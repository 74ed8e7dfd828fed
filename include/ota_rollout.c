#include "ota_rollout.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ota_fields.h"


static int
ota_rollout_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}


/* digits only, 1..maxd of them, value in *v; -1 otherwise */
static int
ota_rollout_digits(const char *s, size_t len, size_t maxd, long long *v)
{
    size_t  i;

    if (len == 0 || len > maxd) {
        return -1;
    }
    *v = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}


/* ---- syntax ------------------------------------------------------------- */

long long
ota_pct_parse(const char *s, size_t len)
{
    const char  *dot = memchr(s, '.', len);
    long long    ip, fp = 0;
    size_t       il = dot ? (size_t) (dot - s) : len, fl;

    if (ota_rollout_digits(s, il, 6, &ip) != 0) {
        return -1;
    }
    if (dot != NULL) {
        fl = len - il - 1;
        if (ota_rollout_digits(dot + 1, fl, 2, &fp) != 0) {
            return -1;
        }
        if (fl == 1) {
            fp *= 10;
        }
    }
    return ip * 100 + fp;
}


size_t
ota_pct_format(long long c, char *buf)
{
    int  n;

    if (c % 100 == 0) {
        n = snprintf(buf, 16, "%lld", c / 100);
    } else if (c % 10 == 0) {
        n = snprintf(buf, 16, "%lld.%lld", c / 100, (c % 100) / 10);
    } else {
        n = snprintf(buf, 16, "%lld.%02lld", c / 100, c % 100);
    }
    return n < 0 ? 0 : (size_t) n;
}


int
ota_waves_parse(const char *s, ota_waves_t *w, char *err, size_t errlen)
{
    const char  *p, *q;
    size_t       l;
    long long    v;
    int          pct;

    memset(w, 0, sizeof(*w));
    if (s == NULL || *s == '\0') {
        return ota_rollout_err(err, errlen, "--waves needs a list such as "
                               "1%%,10%%,100%% or 10,100,1000");
    }
    for (p = s; ; p = q + 1) {
        q = strchr(p, ',');
        l = q ? (size_t) (q - p) : strlen(p);
        pct = l > 0 && p[l - 1] == '%';
        if (w->n == OTA_WAVES_MAX) {
            return ota_rollout_err(err, errlen, "--waves: at most %d waves",
                                   OTA_WAVES_MAX);
        }
        if (w->n > 0 && pct != w->percent) {
            return ota_rollout_err(err, errlen, "--waves \"%s\": either "
                                   "every wave a percentage (1%%,10%%,100%%) "
                                   "or every wave a device count "
                                   "(10,100,1000), not both", s);
        }
        w->percent = pct;
        if (pct) {
            v = ota_pct_parse(p, l - 1);
            if (v <= 0 || v > OTA_PCT_FULL) {
                return ota_rollout_err(err, errlen, "--waves: \"%.*s\" is "
                                       "not a percentage in (0, 100] with at "
                                       "most two decimals", (int) l, p);
            }
        } else if (ota_rollout_digits(p, l, 10, &v) != 0 || v < 1
                   || v > OTA_WAVE_COUNT_MAX)
        {
            return ota_rollout_err(err, errlen, "--waves: \"%.*s\" is not a "
                                   "device count (1..%lld) or a percentage "
                                   "(10%%)", (int) l, p,
                                   OTA_WAVE_COUNT_MAX);
        }
        if (w->n > 0 && v <= w->v[w->n - 1]) {
            return ota_rollout_err(err, errlen, "--waves \"%s\": the waves "
                                   "are cumulative, each larger than the one "
                                   "before", s);
        }
        w->v[w->n++] = v;
        if (q == NULL) {
            break;
        }
    }
    return 0;
}


size_t
ota_waves_format(const ota_waves_t *w, char *buf, size_t len)
{
    size_t  o = 0;
    char    t[16];
    int     k;

    if (len == 0) {
        return 0;
    }
    buf[0] = '\0';
    for (k = 0; k < w->n; k++) {
        if (w->percent) {
            ota_pct_format(w->v[k], t);
        } else {
            snprintf(t, sizeof(t), "%lld", w->v[k]);
        }
        o += snprintf(buf + o, o < len ? len - o : 0, "%s%s%s",
                      k ? "," : "", t, w->percent ? "%" : "");
        if (o >= len) {
            buf[len - 1] = '\0';
            return len - 1;
        }
    }
    return o;
}


int
ota_waves_bounds(const ota_waves_t *w, long long total, int grows,
    long long *bound)
{
    long long  b, last = 0;
    int        k, n = 0;

    for (k = 0; k < w->n; k++) {
        /* ceil(total * P / 10000): exact in 64 bits (total < 2^40) */
        b = w->percent ? (total * w->v[k] + OTA_PCT_FULL - 1) / OTA_PCT_FULL
                       : w->v[k];
        if (grows && !w->percent) {
            if (b > last) {
                bound[n++] = b;
                last = b;
            }
            continue;
        }
        if (b > total) {
            b = total;
        }
        if (b <= last || b >= total) {
            continue;
        }
        bound[n++] = b;
        last = b;
    }
    return n;
}


size_t
ota_waves_bounds_format(const long long *bound, int n, char *buf, size_t len)
{
    size_t  o = 0;
    int     k;

    if (len == 0) {
        return 0;
    }
    buf[0] = '\0';
    for (k = 0; k < n && o < len; k++) {
        o += snprintf(buf + o, len - o, "%s%lld", k ? "," : "", bound[k]);
    }
    if (o >= len) {
        o = len - 1;
        buf[o] = '\0';
    }
    return o;
}


int
ota_ramp_parse(const char *s, long long *base, long long *factor,
    char *err, size_t errlen)
{
    const char  *c = s ? strchr(s, ',') : NULL;

    if (c == NULL
        || ota_rollout_digits(s, (size_t) (c - s), 7, base) != 0
        || *base < 1 || *base > OTA_RATE_MAX
        || (*factor = ota_pct_parse(c + 1, strlen(c + 1))) < 0
        || *factor < OTA_RAMP_FACTOR_MIN || *factor > OTA_RAMP_FACTOR_MAX)
    {
        return ota_rollout_err(err, errlen, "invalid --ramp \"%s\" (BASE,"
                               "FACTOR: start at BASE devices per minute, "
                               "1..%d, and multiply by FACTOR, 1.1..5, each "
                               "time BASE devices succeeded; e.g. 10,2)",
                               s ? s : "", OTA_RATE_MAX);
    }
    return 0;
}


/* "HH" (00..23 for hours, 00..59 else) at s, two digits */
static int
ota_time_2(const char *s, int max, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') {
        return -1;
    }
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return *v <= max ? 0 : -1;
}


int
ota_time_parse(const char *s, int64_t *ms, char *err, size_t errlen)
{
    struct tm    tm, chk;
    const char  *p = s;
    long long    y;
    int          mo, d, h, mi, sec = 0, zh = 0, zm = 0, zone = 0, sign = 1;
    time_t       t;

    if (s == NULL || strlen(s) < 16
        || ota_rollout_digits(s, 4, 4, &y) != 0 || s[4] != '-'
        || ota_time_2(s + 5, 12, &mo) || s[7] != '-'
        || ota_time_2(s + 8, 31, &d) || (s[10] != ' ' && s[10] != 'T')
        || ota_time_2(s + 11, 23, &h) || s[13] != ':'
        || ota_time_2(s + 14, 59, &mi) || y < 1970 || mo < 1 || d < 1)
    {
        goto bad;
    }
    p = s + 16;
    if (*p == ':') {
        if (ota_time_2(p + 1, 59, &sec)) {
            goto bad;
        }
        p += 3;
    }
    if (*p == 'Z' && p[1] == '\0') {
        zone = 1;
        p++;
    } else if (*p == '+' || *p == '-') {
        zone = 1;
        sign = *p == '-' ? -1 : 1;
        if (ota_time_2(p + 1, 23, &zh)) {
            goto bad;
        }
        p += 3;
        if (*p == ':') {
            p++;
        }
        if (*p != '\0') {
            if (ota_time_2(p, 59, &zm)) {
                goto bad;
            }
            p += 2;
        }
    }
    if (*p != '\0') {
        goto bad;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int) y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    chk = tm;
    t = zone ? timegm(&tm) : mktime(&tm);
    /* mktime and timegm normalize: 2026-02-30 would become March 2 */
    if (t == (time_t) -1 || tm.tm_mday != chk.tm_mday
        || tm.tm_mon != chk.tm_mon)
    {
        goto bad;
    }
    if (zone) {
        t -= sign * (zh * 3600 + zm * 60);
    }
    *ms = (int64_t) t * 1000;
    return 0;

bad:
    return ota_rollout_err(err, errlen, "--start-at \"%s\": want \"YYYY-MM-DD "
                           "HH:MM[:SS]\" in local time, or ISO 8601 with a "
                           "zone (2026-12-24T02:00:00+01:00, ...Z)",
                           s ? s : "");
}


/* ---- the options of a rollout ------------------------------------------- */

static int
ota_rollout_given(const char *s)
{
    return s != NULL && s[0] != '\0';
}


/* digits only (at most 15), in [lo, hi] */
static int
ota_rollout_count(const char *s, long long lo, long long hi, long long *v)
{
    size_t  l = strlen(s);

    if (ota_rollout_digits(s, l, 15, v) != 0) {
        return -1;
    }
    return *v >= lo && *v <= hi ? 0 : -1;
}


/* a percentage 0..100 (above: above 0) */
static int
ota_rollout_pct_opt(const char *opt, const char *s, int above, long long *v,
    char *err, size_t errlen)
{
    *v = ota_pct_parse(s, strlen(s));
    if (*v < 0 || *v > OTA_PCT_FULL || (above && *v == 0)) {
        return ota_rollout_err(err, errlen, "invalid --%s \"%s\" (a "
                               "percentage %s..100 with at most two "
                               "decimals, no %%)", opt, s,
                               above ? "above 0" : "0");
    }
    return 0;
}


int
ota_rollout_check(const ota_rollout_opts_t *o, int flags, int64_t now,
    ota_rollout_t *r, char *err, size_t errlen)
{
    long long  v;

    memset(r, 0, sizeof(*r));
    r->success = -1;
    r->error = -1;
    r->abort_rate = -1;
    r->timeout = -1;

    if (ota_rollout_given(o->waves)
        && ota_waves_parse(o->waves, &r->waves, err, errlen) != 0)
    {
        return -1;
    }
    if (ota_rollout_given(o->success_threshold)) {
        if (r->waves.n == 0) {
            return ota_rollout_err(err, errlen, "--success-threshold decides "
                                   "when the next wave opens: it needs "
                                   "--waves");
        }
        if (ota_rollout_pct_opt("success-threshold", o->success_threshold,
                                0, &r->success, err, errlen) != 0)
        {
            return -1;
        }
    }
    if (ota_rollout_given(o->error_threshold)
        && ota_rollout_pct_opt("error-threshold", o->error_threshold, 0,
                               &r->error, err, errlen) != 0)
    {
        return -1;
    }
    if (ota_rollout_given(o->max_per_minute)
        && ota_rollout_count(o->max_per_minute, 1, OTA_RATE_MAX,
                             &r->max_per_minute) != 0)
    {
        return ota_rollout_err(err, errlen, "invalid --max-per-minute \"%s\" "
                               "(devices newly offered the upgrade per "
                               "minute, 1..%d)", o->max_per_minute,
                               OTA_RATE_MAX);
    }
    if (ota_rollout_given(o->ramp)) {
        if (r->max_per_minute == 0) {
            return ota_rollout_err(err, errlen, "--ramp grows the rate up to "
                                   "--max-per-minute: give both");
        }
        if (ota_ramp_parse(o->ramp, &r->ramp_base, &r->ramp_factor, err,
                           errlen) != 0)
        {
            return -1;
        }
        if (r->ramp_base > r->max_per_minute) {
            return ota_rollout_err(err, errlen, "--ramp base %lld is above "
                                   "--max-per-minute %lld", r->ramp_base,
                                   r->max_per_minute);
        }
    }
    if (ota_rollout_given(o->abort_failure_rate)
        != ota_rollout_given(o->abort_min))
    {
        return ota_rollout_err(err, errlen, "the abort rule needs both "
                               "--abort-failure-rate P and --abort-min N "
                               "(abort once N devices finished and at least "
                               "P %% of them failed)");
    }
    if (ota_rollout_given(o->abort_failure_rate)) {
        if (ota_rollout_pct_opt("abort-failure-rate", o->abort_failure_rate,
                                1, &r->abort_rate, err, errlen) != 0)
        {
            return -1;
        }
        if (ota_rollout_count(o->abort_min, 1, OTA_ABORT_MIN_MAX,
                              &r->abort_min) != 0)
        {
            return ota_rollout_err(err, errlen, "invalid --abort-min \"%s\" "
                                   "(finished devices, 1..%lld)",
                                   o->abort_min, OTA_ABORT_MIN_MAX);
        }
    }
    if (ota_rollout_given(o->start_at)) {
        /* unix ms (a job's field), or a time as people write it */
        if (ota_rollout_count(o->start_at, 1, 1LL << 50, &v) == 0) {
            r->start_at = v;
        } else if (ota_time_parse(o->start_at, &r->start_at, err, errlen)
                   != 0)
        {
            return -1;
        }
        if ((flags & OTA_ROLLOUT_PRODUCER) && r->start_at < now) {
            return ota_rollout_err(err, errlen, "--start-at \"%s\" is in the "
                                   "past; leave it out to start now",
                                   o->start_at);
        }
        if ((flags & OTA_ROLLOUT_PRODUCER)
            && r->start_at > now + OTA_START_AHEAD_MAX_MS)
        {
            return ota_rollout_err(err, errlen, "--start-at \"%s\" is more "
                                   "than a year ahead", o->start_at);
        }
    }
    if (ota_rollout_given(o->timeout)
        && ota_rollout_count(o->timeout, 0, OTA_TIMEOUT_MIN_MAX, &r->timeout)
           != 0)
    {
        return ota_rollout_err(err, errlen, "invalid --timeout \"%s\" "
                               "(minutes a task in progress may go without "
                               "progress, 0..%d; 0: never)", o->timeout,
                               OTA_TIMEOUT_MIN_MAX);
    }
    r->rules = r->waves.n > 0 || r->error >= 0 || r->abort_rate > 0
               || r->ramp_base > 0;
    return 0;
}


void
ota_rollout_fields(const ota_rollout_t *r, ota_rollout_kv_pt add, void *ctx)
{
    char  b[OTA_ROLLOUT_TEXT_MAX], t[16];

    if (r->waves.n > 0) {
        ota_waves_format(&r->waves, b, sizeof(b));
        add(ctx, OTA_F_WAVES, b);
        /* the default threshold written out: the record says what rules */
        ota_pct_format(r->success >= 0 ? r->success : OTA_PCT_FULL, t);
        add(ctx, OTA_F_SUCCESS_THRESHOLD, t);
    }
    if (r->error >= 0) {
        ota_pct_format(r->error, t);
        add(ctx, OTA_F_ERROR_THRESHOLD, t);
    }
    if (r->max_per_minute > 0) {
        snprintf(b, sizeof(b), "%lld", r->max_per_minute);
        add(ctx, OTA_F_MAX_PER_MINUTE, b);
    }
    if (r->ramp_base > 0) {
        ota_pct_format(r->ramp_factor, t);
        snprintf(b, sizeof(b), "%lld,%s", r->ramp_base, t);
        add(ctx, OTA_F_RAMP, b);
    }
    if (r->abort_rate > 0) {
        ota_pct_format(r->abort_rate, t);
        add(ctx, OTA_F_ABORT_RATE, t);
        snprintf(b, sizeof(b), "%lld", r->abort_min);
        add(ctx, OTA_F_ABORT_MIN, b);
    }
    if (r->start_at > 0) {
        snprintf(b, sizeof(b), "%lld", (long long) r->start_at);
        add(ctx, OTA_F_START_AT, b);
    }
    if (r->timeout >= 0) {
        snprintf(b, sizeof(b), "%lld", r->timeout);
        add(ctx, OTA_F_TIMEOUT, b);
    }
    if (r->rules) {
        add(ctx, OTA_R_ROLLOUT, "1");
    }
}
