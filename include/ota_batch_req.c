#include "ota_batch_req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_names.h"


static int
ota_breq_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}


static int
ota_breq_given(const char *s)
{
    return s != NULL && s[0] != '\0';
}


/* 1..max digits only, in [lo, hi] */
static int
ota_breq_count(const char *s, long long lo, long long hi, long long *v)
{
    char  *end;

    if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 12) {
        return -1;
    }
    *v = strtoll(s, &end, 10);
    return *end == '\0' && *v >= lo && *v <= hi ? 0 : -1;
}


/* a percentage 0..100 (lo_excl: above 0) */
static int
ota_breq_pct(const char *opt, const char *s, int lo_excl, long long *v,
    char *err, size_t errlen)
{
    *v = ota_pct_parse(s, strlen(s));
    if (*v < 0 || *v > OTA_PCT_FULL || (lo_excl && *v == 0)) {
        return ota_breq_err(err, errlen, "invalid --%s \"%s\" (a percentage "
                            "%s..100 with at most two decimals, no %%)", opt,
                            s, lo_excl ? "above 0" : "0");
    }
    return 0;
}


/* no control characters, at most max characters (bytes of UTF-8 text
 * counted as characters unless they continue one) */
static int
ota_breq_text(const char *s, size_t max)
{
    size_t  n = 0;

    for (; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
        if (((unsigned char) *s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n >= 1 && n <= max;
}


static int
ota_breq_base(const ota_batch_req_t *r, ota_batch_job_t *j, char *err,
    size_t errlen)
{
    ota_version_t  v;
    const char    *p, *q;
    size_t         l;

    if (!ota_breq_given(r->package) || !ota_breq_given(r->type)
        || r->name == NULL)
    {
        return ota_breq_err(err, errlen, "a batch needs a package, a type "
                            "and a name (--package, --type, --name)");
    }
    if (!ota_name_id(r->package, strlen(r->package))) {
        return ota_breq_err(err, errlen, "invalid package id \"%s\"",
                            r->package);
    }
    if (strcmp(r->type, "verify") != 0 && strcmp(r->type, "upgrade") != 0) {
        return ota_breq_err(err, errlen, "invalid --type \"%s\" (verify or "
                            "upgrade)", r->type);
    }
    if (!ota_breq_text(r->name, OTA_BATCH_NAME_MAX)) {
        return ota_breq_err(err, errlen, "invalid --name: 1-%d characters, no "
                            "control characters", OTA_BATCH_NAME_MAX);
    }
    j->package = r->package;
    j->type = r->type;
    j->name = r->name;

    j->protocol = ota_breq_given(r->protocol) ? r->protocol : "https";
    if (strcmp(j->protocol, "http") != 0 && strcmp(j->protocol, "https") != 0
        && strcmp(j->protocol, "mqtt") != 0)
    {
        return ota_breq_err(err, errlen, "invalid --protocol \"%s\" (http, "
                            "https or mqtt)", j->protocol);
    }
    j->method = ota_breq_given(r->method) ? r->method : "static";
    if (strcmp(j->method, "static") != 0 && strcmp(j->method, "dynamic") != 0)
    {
        return ota_breq_err(err, errlen, "invalid --method \"%s\" (static or "
                            "dynamic)", j->method);
    }
    j->push = r->push != NULL && strcmp(r->push, "1") == 0;

    if (ota_breq_given(r->from_version)) {
        if (ota_version_parse_cstr(r->from_version, &v) != 0) {
            return ota_breq_err(err, errlen, "invalid --from-version \"%s\" "
                                "(want X.Y.Z)", r->from_version);
        }
        ota_version_format(&v, j->from_version);
    }

    j->devices = "";
    if (strcmp(j->type, "verify") == 0) {
        if (!ota_breq_given(r->devices)) {
            return ota_breq_err(err, errlen, "a verify batch needs --devices "
                                "d1,d2,...");
        }
        if (strcmp(j->method, "dynamic") == 0) {
            return ota_breq_err(err, errlen, "a verify batch has a fixed "
                                "device list: --method dynamic is for "
                                "upgrade batches");
        }
        for (p = r->devices; ; p = q + 1) {
            q = strchr(p, ',');
            l = q ? (size_t) (q - p) : strlen(p);
            if (!ota_name_device(p, l)) {
                return ota_breq_err(err, errlen, "invalid device name "
                                    "\"%.*s\" in --devices", (int) l, p);
            }
            if (++j->ndevices > OTA_BATCH_DEVICES_MAX) {
                return ota_breq_err(err, errlen, "at most %d devices in a "
                                    "verify batch", OTA_BATCH_DEVICES_MAX);
            }
            if (q == NULL) {
                break;
            }
        }
        j->devices = r->devices;
    } else if (ota_breq_given(r->devices)) {
        return ota_breq_err(err, errlen, "--devices is for verify batches; an "
                            "upgrade batch targets every device of the "
                            "product (narrow it with --from-version)");
    }
    return 0;
}


static int
ota_breq_rollout(const ota_batch_req_t *r, int flags, int64_t now,
    ota_batch_job_t *j, char *err, size_t errlen)
{
    long long  v;

    if (ota_breq_given(r->waves)
        && ota_waves_parse(r->waves, &j->waves, err, errlen) != 0)
    {
        return -1;
    }
    if (ota_breq_given(r->success_threshold)) {
        if (j->waves.n == 0) {
            return ota_breq_err(err, errlen, "--success-threshold decides "
                                "when the next wave opens: it needs --waves");
        }
        if (ota_breq_pct("success-threshold", r->success_threshold, 0,
                         &j->success, err, errlen) != 0)
        {
            return -1;
        }
    }
    if (ota_breq_given(r->error_threshold)
        && ota_breq_pct("error-threshold", r->error_threshold, 0, &j->error,
                        err, errlen) != 0)
    {
        return -1;
    }
    if (ota_breq_given(r->max_per_minute)
        && ota_breq_count(r->max_per_minute, 1, OTA_RATE_MAX,
                          &j->max_per_minute) != 0)
    {
        return ota_breq_err(err, errlen, "invalid --max-per-minute \"%s\" "
                            "(devices newly offered per minute, 1..%d)",
                            r->max_per_minute, OTA_RATE_MAX);
    }
    if (ota_breq_given(r->ramp)) {
        if (j->max_per_minute == 0) {
            return ota_breq_err(err, errlen, "--ramp grows the rate up to "
                                "--max-per-minute: give both");
        }
        if (ota_ramp_parse(r->ramp, &j->ramp_base, &j->ramp_factor, err,
                           errlen) != 0)
        {
            return -1;
        }
        if (j->ramp_base > j->max_per_minute) {
            return ota_breq_err(err, errlen, "--ramp base %lld is above "
                                "--max-per-minute %lld", j->ramp_base,
                                j->max_per_minute);
        }
    }
    if (ota_breq_given(r->abort_failure_rate) != ota_breq_given(r->abort_min))
    {
        return ota_breq_err(err, errlen, "the abort rule needs both "
                            "--abort-failure-rate P and --abort-min N (abort "
                            "once N devices finished and P %% of them "
                            "failed)");
    }
    if (ota_breq_given(r->abort_failure_rate)) {
        if (ota_breq_pct("abort-failure-rate", r->abort_failure_rate, 1,
                         &j->abort_rate, err, errlen) != 0)
        {
            return -1;
        }
        if (ota_breq_count(r->abort_min, 1, OTA_ABORT_MIN_MAX, &j->abort_min)
            != 0)
        {
            return ota_breq_err(err, errlen, "invalid --abort-min \"%s\" "
                                "(finished devices, 1..%lld)", r->abort_min,
                                OTA_ABORT_MIN_MAX);
        }
    }
    if (ota_breq_given(r->start_at)) {
        /* unix ms (a job's field), or a time as people write it */
        if (ota_breq_count(r->start_at, 0, (1LL << 50), &v) == 0) {
            j->start_at = v;
        } else if (ota_time_parse(r->start_at, &j->start_at, err, errlen)
                   != 0)
        {
            return -1;
        }
        if ((flags & OTA_BATCH_REQ_PRODUCER) && j->start_at < now) {
            return ota_breq_err(err, errlen, "--start-at \"%s\" is in the "
                                "past; leave it out to start now",
                                r->start_at);
        }
        if ((flags & OTA_BATCH_REQ_PRODUCER)
            && j->start_at > now + OTA_START_AHEAD_MAX_MS)
        {
            return ota_breq_err(err, errlen, "--start-at \"%s\" is more than "
                                "a year ahead", r->start_at);
        }
    }
    if (ota_breq_given(r->timeout)
        && ota_breq_count(r->timeout, 0, OTA_TIMEOUT_MIN_MAX, &j->timeout)
           != 0)
    {
        return ota_breq_err(err, errlen, "invalid --timeout \"%s\" (minutes "
                            "a task in progress may go without progress, "
                            "0..%d; 0: never)", r->timeout,
                            OTA_TIMEOUT_MIN_MAX);
    }
    /* rules the worker checks as tasks end; offers (and push notices)
     * the worker hands out wave by wave or at a rate, or from a start */
    j->rollout = j->waves.n > 0 || j->error >= 0 || j->abort_rate > 0
                 || j->ramp_base > 0;
    j->gated = j->waves.n > 0 || j->max_per_minute > 0 || j->start_at > 0;
    return 0;
}


int
ota_batch_req_check(const ota_batch_req_t *r, int flags, int64_t now_ms,
    ota_batch_job_t *j, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    j->success = -1;
    j->error = -1;
    j->timeout = -1;
    if (ota_breq_base(r, j, err, errlen) != 0) {
        return -1;
    }
    return ota_breq_rollout(r, flags, now_ms, j, err, errlen);
}


/* the rollout options, as the job (ramp "B,F") or the record has them */
static void
ota_breq_rollout_kv(const ota_batch_job_t *j, int record, ota_batch_kv_pt add,
    void *ctx)
{
    char  b[OTA_ROLLOUT_TEXT_MAX], t[16];

    if (j->waves.n > 0) {
        ota_waves_format(&j->waves, b, sizeof(b));
        add(ctx, OTA_F_WAVES, b);
    }
    if (j->success >= 0) {
        ota_pct_format(j->success, t);
        add(ctx, OTA_F_SUCCESS_THRESHOLD, t);
    }
    if (j->error >= 0) {
        ota_pct_format(j->error, t);
        add(ctx, OTA_F_ERROR_THRESHOLD, t);
    }
    if (j->max_per_minute > 0) {
        snprintf(b, sizeof(b), "%lld", j->max_per_minute);
        add(ctx, OTA_F_MAX_PER_MINUTE, b);
    }
    if (j->ramp_base > 0) {
        ota_pct_format(j->ramp_factor, t);
        if (record) {
            snprintf(b, sizeof(b), "%lld", j->ramp_base);
            add(ctx, OTA_R_RAMP_BASE, b);
            add(ctx, OTA_R_RAMP_FACTOR, t);
        } else {
            snprintf(b, sizeof(b), "%lld,%s", j->ramp_base, t);
            add(ctx, OTA_F_RAMP, b);
        }
    }
    if (j->abort_rate > 0) {
        ota_pct_format(j->abort_rate, t);
        add(ctx, OTA_F_ABORT_RATE, t);
        snprintf(b, sizeof(b), "%lld", j->abort_min);
        add(ctx, OTA_F_ABORT_MIN, b);
    }
    if (j->start_at > 0) {
        snprintf(b, sizeof(b), "%lld", (long long) j->start_at);
        add(ctx, OTA_F_START_AT, b);
    }
    if (j->timeout >= 0) {
        snprintf(b, sizeof(b), "%lld", j->timeout);
        add(ctx, OTA_F_TIMEOUT, b);
    }
    if (record && j->rollout) {
        add(ctx, OTA_R_ROLLOUT, "1");
    }
    if (record && j->gated) {
        add(ctx, OTA_R_GATED, "1");
    }
}


void
ota_batch_job_fields(const ota_batch_job_t *j, ota_batch_kv_pt add,
    void *ctx)
{
    add(ctx, OTA_F_PACKAGE, j->package);
    add(ctx, OTA_F_BTYPE, j->type);
    add(ctx, OTA_F_NAME, j->name);
    add(ctx, OTA_F_DEVICES, j->devices);
    add(ctx, OTA_F_FROM_VERSION, j->from_version);
    add(ctx, OTA_F_PROTOCOL, j->protocol);
    add(ctx, OTA_F_METHOD, j->method);
    add(ctx, OTA_F_PUSH, j->push ? "1" : "0");
    ota_breq_rollout_kv(j, 0, add, ctx);
}


void
ota_batch_rollout_fields(const ota_batch_job_t *j, ota_batch_kv_pt add,
    void *ctx)
{
    ota_breq_rollout_kv(j, 1, add, ctx);
}
