/*
 * ota_rollout.h: the rules of a safe rollout (docs/rollouts.md), in plain
 * C shared by otactl, the worker, the module's admin API and the unit
 * tests: the options' syntax and checks and the wave bounds; a batch's
 * rollout as the admin reads it is ota_rollout_view.h.
 *
 * The decisions themselves (a wave opens, the batch pauses or aborts) are
 * taken inside the worker's scripts, in the same atomic step that moves
 * the counters they read (lua/lib/rollout.lua); the wave bounds are
 * computed here once, when the batch starts, and stored in the batch
 * record.  The arithmetic is integer: percentages carry at most two
 * decimals and are handled as hundredths of a percent ("12.5" is 1250,
 * 100 % is 10000).
 *
 * Whoever creates a batch (otactl, the admin API) checks the options with
 * ota_rollout_check() and adds ota_rollout_fields() to the batch_create
 * job; the worker checks the job's fields again with the same function
 * and stores the same fields in the batch record.
 */

#ifndef OTA_ROLLOUT_H
#define OTA_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>


#define OTA_WAVES_MAX           64          /* waves of one batch */
#define OTA_PCT_FULL            10000       /* 100 % in hundredths */
#define OTA_RATE_MAX            1000000     /* --max-per-minute */
#define OTA_RAMP_FACTOR_MIN     110         /* 1.1 (hundredths) */
#define OTA_RAMP_FACTOR_MAX     500         /* 5 */
#define OTA_ABORT_MIN_MAX       1000000000LL
#define OTA_WAVE_COUNT_MAX      1000000000LL    /* an absolute wave */
#define OTA_TIMEOUT_MIN_MAX     525600      /* minutes: a year */
#define OTA_START_AHEAD_MAX_MS  (366LL * 86400 * 1000)
#define OTA_ROLLOUT_TEXT_MAX    512         /* a normalized --waves */
#define OTA_ROLLOUT_ERR_MAX     256

/* ---- syntax ------------------------------------------------------------- */

/* A percentage "P" or "P.D" or "P.DD" (no sign, no spaces, at most 6
 * integer digits) in hundredths; -1 when malformed.  "5" -> 500,
 * "12.5" -> 1250, "0.25" -> 25. */
long long ota_pct_parse(const char *s, size_t len);

/* hundredths back to the shortest text ("1250" -> "12.5"); buf of 16 */
size_t ota_pct_format(long long c, char *buf);

/* --waves: a comma list, either every item a percentage with '%' (of the
 * batch, cumulative: "1%,10%,50%,100%") or every item an absolute
 * cumulative device count ("10,100,1000"), strictly increasing, at most
 * OTA_WAVES_MAX items, percentages in (0, 100], counts 1..1e9. */
typedef struct {
    int         n;
    int         percent;                    /* items are hundredths */
    long long   v[OTA_WAVES_MAX];
} ota_waves_t;

/* 0, or -1 with the reason in err */
int ota_waves_parse(const char *s, ota_waves_t *w, char *err, size_t errlen);

/* the normalized text ("1%,10.5%,100%" or "10,100"); buf of len */
size_t ota_waves_format(const ota_waves_t *w, char *buf, size_t len);

/*
 * The bounds of the waves of a batch of total devices: the devices, in
 * their batch order (their rank, 1..total: docs/rollouts.md, "Order"),
 * of wave k are those of rank bound[k-2] < rank <= bound[k-1], and the
 * last wave takes every rank above the last bound, devices that join a
 * dynamic batch later included.  A percentage P gives the cumulative
 * count ceil(total * P / 100); a count is clipped to total; a count that
 * does not grow (an empty wave) is left out, and so is one that reaches
 * total (the last wave is then the rest).  So a batch of 150 devices with
 * "1%,10%,100%" has bounds {2, 15}: waves of 2, 13 and 135 devices.
 * grows (a dynamic batch, whose devices join later): counts are kept as
 * given, not clipped to total, so "10,100" makes waves of 10 and 90
 * devices and the rest, however many have joined yet.
 * Returns how many bounds were written (the number of waves less one).
 */
int ota_waves_bounds(const ota_waves_t *w, long long total, int grows,
    long long *bound);

/* the bounds as the batch record keeps them ("2,15"; "" for none) */
size_t ota_waves_bounds_format(const long long *bound, int n, char *buf,
    size_t len);

/* --ramp "BASE,FACTOR": base 1..OTA_RATE_MAX devices per minute, factor
 * 1.1..5 with at most two decimals (hundredths in *factor) */
int ota_ramp_parse(const char *s, long long *base, long long *factor,
    char *err, size_t errlen);

/* --start-at: "YYYY-MM-DD HH:MM[:SS]" (a 'T' may replace the space) in
 * the local time of the caller, or followed by a zone ("Z", "+HH:MM",
 * "-HHMM", "+HH") for ISO 8601; unix ms in *ms.  0 or -1 with the reason. */
int ota_time_parse(const char *s, int64_t *ms, char *err, size_t errlen);

/* ---- the options of a rollout ------------------------------------------- */

/* as given (NULL or "": not given), as a command line, a POST body or a
 * job entry carries them */
typedef struct {
    const char  *waves;                 /* 1%,10%,100% | 10,100,1000 */
    const char  *success_threshold;     /* percent (100 with waves) */
    const char  *error_threshold;       /* percent */
    const char  *max_per_minute;        /* devices newly offered */
    const char  *ramp;                  /* BASE,FACTOR */
    const char  *abort_failure_rate;    /* percent */
    const char  *abort_min;             /* finished devices */
    const char  *start_at;              /* a time (ota_time_parse) or ms */
    const char  *timeout;               /* minutes per task */
} ota_rollout_opts_t;

/* checked and normalized; -1 (0 for abort_min, start_at) when not given */
typedef struct {
    ota_waves_t   waves;                /* n == 0: none */
    long long     success;              /* hundredths */
    long long     error;
    long long     max_per_minute;       /* 0: no limit */
    long long     ramp_base, ramp_factor;   /* 0: no ramp */
    long long     abort_rate;
    long long     abort_min;
    int64_t       start_at;             /* ms, 0: none */
    long long     timeout;              /* minutes, 0: never */
    int           rules;                /* a rule checked as tasks move */
} ota_rollout_t;

/* the producer (otactl, the admin API) also refuses a start in the past
 * or more than a year ahead; the worker, reading the job later, does not */
#define OTA_ROLLOUT_PRODUCER    1

/* 0, or -1 with a one-line reason in err (what was wrong and what to
 * write instead) */
int ota_rollout_check(const ota_rollout_opts_t *o, int flags, int64_t now_ms,
    ota_rollout_t *r, char *err, size_t errlen);

/* called once per field with NUL-terminated name and value */
typedef void (*ota_rollout_kv_pt)(void *ctx, const char *k, const char *v);

/* the options that were given, normalized, under their field names
 * (ota_fields.h: OTA_F_WAVES ...): the batch_create job's fields and the
 * batch record's alike, plus OTA_R_ROLLOUT "1" when a rule is to be
 * checked as tasks move (the record's; the worker ignores it in a job) */
void ota_rollout_fields(const ota_rollout_t *r, ota_rollout_kv_pt add,
    void *ctx);

#endif /* OTA_ROLLOUT_H */
