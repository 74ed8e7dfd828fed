/* unit tests: the rules of a safe rollout (include/ota_rollout) */

#include <stdlib.h>

#include "tap.h"
#include "ota_fields.h"
#include "ota_rollout.h"

typedef struct {
    char    buf[1024];
    size_t  len;
} kv_t;

static void
kv_add(void *ctx, const char *k, const char *v)
{
    kv_t  *c = ctx;

    c->len += snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%s=%s ",
                       k, v);
}

static const char  *rate, *ramp;      /* for check() */

static int
check(const char *waves, const char *succ, const char *err, const char *ar,
    const char *am, const char *start, const char *tmo, int flags,
    ota_rollout_t *r, char *e)
{
    ota_rollout_opts_t  o = { waves, succ, err, rate, ramp, ar, am, start,
                              tmo };

    return ota_rollout_check(&o, flags, 1798000000000LL, r, e,
                             OTA_ROLLOUT_ERR_MAX);
}

int
main(void)
{
    ota_waves_t    w;
    ota_rollout_t  r;
    long long      b[OTA_WAVES_MAX];
    char           e[OTA_ROLLOUT_ERR_MAX], t[OTA_ROLLOUT_TEXT_MAX];
    int64_t        ms;
    int            n;
    kv_t           kv;

    /* percentages in hundredths */
    is_int(ota_pct_parse("5", 1), 500, "5 -> 500");
    is_int(ota_pct_parse("12.5", 4), 1250, "12.5 -> 1250");
    is_int(ota_pct_parse("0.25", 4), 25, "0.25 -> 25");
    is_int(ota_pct_parse("1.234", 5), -1, "three decimals refused");
    is_int(ota_pct_parse("-1", 2), -1, "a sign refused");
    is_int(ota_pct_parse("", 0), -1, "empty refused");
    is_int(ota_pct_parse("1.", 2), -1, "a bare dot refused");
    ota_pct_format(1250, t);
    is_str(t, "12.5", "1250 -> 12.5");
    ota_pct_format(25, t);
    is_str(t, "0.25", "25 -> 0.25");
    ota_pct_format(10000, t);
    is_str(t, "100", "10000 -> 100");

    /* waves */
    ok(ota_waves_parse("1%,10%,50%,100%", &w, e, sizeof(e)) == 0
       && w.n == 4 && w.percent && w.v[0] == 100 && w.v[3] == 10000,
       "percent waves");
    ota_waves_format(&w, t, sizeof(t));
    is_str(t, "1%,10%,50%,100%", "  normalized");
    ok(ota_waves_parse("10,100,1000", &w, e, sizeof(e)) == 0 && w.n == 3
       && !w.percent && w.v[2] == 1000, "count waves");
    ok(ota_waves_parse("10%,100", &w, e, sizeof(e)) != 0
       && strstr(e, "not both") != NULL, "mixed kinds refused: %s", e);
    ok(ota_waves_parse("10%,5%", &w, e, sizeof(e)) != 0
       && strstr(e, "cumulative") != NULL, "decreasing refused: %s", e);
    ok(ota_waves_parse("0%,5%", &w, e, sizeof(e)) != 0, "0 %% refused");
    ok(ota_waves_parse("101%", &w, e, sizeof(e)) != 0, "101 %% refused");
    ok(ota_waves_parse("0,5", &w, e, sizeof(e)) != 0, "a count of 0 refused");
    ok(ota_waves_parse("1,,5", &w, e, sizeof(e)) != 0, "an empty item refused");
    ok(ota_waves_parse("", &w, e, sizeof(e)) != 0, "empty refused");

    /* bounds: the docs' example, 150 devices, 1%,10%,100% */
    ota_waves_parse("1%,10%,100%", &w, e, sizeof(e));
    n = ota_waves_bounds(&w, 150, 0, b);
    ok(n == 2 && b[0] == 2 && b[1] == 15, "150 devices: bounds 2,15 "
       "(ceil 1.5, 15; 100 %% is the rest)");
    ota_waves_bounds_format(b, n, t, sizeof(t));
    is_str(t, "2,15", "  as the record keeps them");
    n = ota_waves_bounds(&w, 1000000, 0, b);
    ok(n == 2 && b[0] == 10000 && b[1] == 100000, "1M devices: 10000,100000");
    n = ota_waves_bounds(&w, 5, 0, b);
    ok(n == 1 && b[0] == 1, "5 devices: 1 then the rest (10 %% = 1 too: "
       "an empty wave is left out)");
    n = ota_waves_bounds(&w, 0, 0, b);
    is_int(n, 0, "no devices: one wave");
    ota_waves_parse("10,100,1000", &w, e, sizeof(e));
    n = ota_waves_bounds(&w, 50, 0, b);
    ok(n == 1 && b[0] == 10, "counts clipped: 50 devices -> 10 then 40");
    n = ota_waves_bounds(&w, 0, 1, b);
    ok(n == 3 && b[0] == 10 && b[2] == 1000, "a dynamic batch keeps its "
       "counts: 10, 90, 900 and the rest, even with no device yet");
    ota_waves_parse("50%,100%", &w, e, sizeof(e));
    n = ota_waves_bounds(&w, 4, 1, b);
    ok(n == 1 && b[0] == 2, "  its percentages are of the devices it has");
    ota_waves_bounds_format(b, 0, t, sizeof(t));
    is_str(t, "", "no bounds: empty");

    /* times */
    ok(ota_time_parse("2026-12-24T02:00:00Z", &ms, e, sizeof(e)) == 0
       && ms == 1798077600000LL, "ISO 8601 UTC");
    ok(ota_time_parse("2026-12-24T03:00+01:00", &ms, e, sizeof(e)) == 0
       && ms == 1798077600000LL, "with an offset");
    ok(ota_time_parse("2026-12-23T21:00-0500", &ms, e, sizeof(e)) == 0
       && ms == 1798077600000LL, "-HHMM");
    setenv("TZ", "UTC", 1);
    ok(ota_time_parse("2026-12-24 02:00", &ms, e, sizeof(e)) == 0
       && ms == 1798077600000LL, "local time (TZ=UTC)");
    ok(ota_time_parse("2026-02-30 02:00", &ms, e, sizeof(e)) != 0,
       "February 30 refused");
    ok(ota_time_parse("2026-12-24 25:00", &ms, e, sizeof(e)) != 0,
       "hour 25 refused");
    ok(ota_time_parse("tomorrow", &ms, e, sizeof(e)) != 0
       && strstr(e, "YYYY-MM-DD") != NULL, "words refused: %s", e);
    ok(ota_time_parse("2026-12-24 02:00Zx", &ms, e, sizeof(e)) != 0,
       "trailing bytes refused");

    /* the options together */
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) == 0
       && !r.rules && r.waves.n == 0 && r.timeout == -1, "no options: no "
       "rules");
    ok(check("1%,100%", NULL, "20", "30", "10", NULL, "45", 0, &r, e) == 0
       && r.rules && r.error == 2000 && r.abort_rate == 3000
       && r.abort_min == 10 && r.timeout == 45, "waves, error, abort, "
       "timeout");
    memset(&kv, 0, sizeof(kv));
    ota_rollout_fields(&r, kv_add, &kv);
    is_str(kv.buf, "waves=1%,100% success_threshold=100 error_threshold=20 "
           "abort_failure_rate=30 abort_min=10 timeout=45 rollout=1 ",
           "  the fields, the default success threshold written out");
    ok(check(NULL, "90", NULL, NULL, NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "needs --waves") != NULL, "a success threshold without "
       "waves refused: %s", e);
    ok(check(NULL, NULL, "101", NULL, NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "error-threshold") != NULL, "error threshold 101 "
       "refused: %s", e);
    ok(check(NULL, NULL, NULL, "20", NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "both") != NULL, "an abort rate without a minimum "
       "refused: %s", e);
    ok(check(NULL, NULL, NULL, "0", "5", NULL, NULL, 0, &r, e) != 0,
       "an abort rate of 0 refused");
    ok(check(NULL, NULL, NULL, "20", "0", NULL, NULL, 0, &r, e) != 0
       && strstr(e, "abort-min") != NULL, "an abort minimum of 0 refused");
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, "x", 0, &r, e) != 0
       && strstr(e, "timeout") != NULL, "a bad timeout refused");
    ok(check(NULL, NULL, NULL, NULL, NULL, "2026-12-24T02:00:00Z", NULL,
             OTA_ROLLOUT_PRODUCER, &r, e) == 0 && r.start_at == 1798077600000LL
       && !r.rules, "a start time alone: no rules");
    ok(check(NULL, NULL, NULL, NULL, NULL, "2020-01-01T00:00:00Z", NULL,
             OTA_ROLLOUT_PRODUCER, &r, e) != 0 && strstr(e, "past") != NULL,
       "a start in the past refused by the producer: %s", e);
    ok(check(NULL, NULL, NULL, NULL, NULL, "1577836800000", NULL, 0, &r, e)
       == 0 && r.start_at == 1577836800000LL, "  the worker takes it (ms, "
       "as in a job): starts now");
    ok(check(NULL, NULL, NULL, NULL, NULL, "2030-01-01T00:00:00Z", NULL,
             OTA_ROLLOUT_PRODUCER, &r, e) != 0 && strstr(e, "year") != NULL,
       "more than a year ahead refused");

    /* rate and ramp */
    {
        long long  base, f;

        ok(ota_ramp_parse("10,2", &base, &f, e, sizeof(e)) == 0 && base == 10
           && f == 200, "ramp 10,2");
        ok(ota_ramp_parse("5,1.5", &base, &f, e, sizeof(e)) == 0 && base == 5
           && f == 150, "ramp 5,1.5");
        ok(ota_ramp_parse("5,1.05", &base, &f, e, sizeof(e)) != 0
           && strstr(e, "1.1..5") != NULL, "factor 1.05 refused: %s", e);
        ok(ota_ramp_parse("5,6", &base, &f, e, sizeof(e)) != 0, "factor 6 "
           "refused");
        ok(ota_ramp_parse("0,2", &base, &f, e, sizeof(e)) != 0, "base 0 "
           "refused");
        ok(ota_ramp_parse("10", &base, &f, e, sizeof(e)) != 0, "no factor "
           "refused");
    }
    rate = "100";
    ramp = "10,2";
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) == 0
       && r.max_per_minute == 100 && r.ramp_base == 10 && r.ramp_factor == 200
       && r.rules, "a rate with a ramp: a rule");
    memset(&kv, 0, sizeof(kv));
    ota_rollout_fields(&r, kv_add, &kv);
    is_str(kv.buf, "max_per_minute=100 ramp=10,2 rollout=1 ", "  its fields");
    ramp = "200,2";
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "above") != NULL, "a ramp base above the rate refused");
    rate = NULL;
    ramp = "10,2";
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "give both") != NULL, "a ramp without a rate refused");
    rate = "0";
    ramp = NULL;
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) != 0
       && strstr(e, "max-per-minute") != NULL, "a rate of 0 refused");
    rate = "50";
    ok(check(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, &r, e) == 0
       && !r.rules, "a rate alone: no rule (the module charges offers)");

    return done_testing();
}
