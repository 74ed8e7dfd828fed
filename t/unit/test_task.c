/* unit tests: the task state machine (include/ota_task) */

#include "tap.h"
#include "ota_task.h"

static ota_task_t
task(ota_task_state_t st, const char *from)
{
    ota_task_t  t = { 0 };

    t.state = st;
    t.size = 1000;
    ota_version_parse_cstr("2.0.0", &t.target);
    if (from != NULL) {
        ota_version_parse_cstr(from, &t.from);
        t.has_from = 1;
    }
    return t;
}

static ota_task_event_t
ev(ota_task_event_type_t type)
{
    ota_task_event_t  e = { 0 };

    e.type = type;
    return e;
}

static ota_task_event_t
dl(long long covered)
{
    ota_task_event_t  e = ev(OTA_TE_DOWNLOAD);

    e.covered = covered;
    return e;
}

static ota_task_event_t
step(int s)
{
    ota_task_event_t  e = ev(OTA_TE_PROGRESS);

    e.step = s;
    return e;
}

static ota_task_event_t
inform(const char *v)
{
    ota_task_event_t  e = ev(OTA_TE_INFORM);

    ota_version_parse_cstr(v, &e.version);
    return e;
}

/* a download of the diff (size bytes) or, diff 0, of the full package */
static ota_task_event_t
dlp(int diff, long long covered, long long size)
{
    ota_task_event_t  e = dl(covered);

    e.diff = diff;
    e.size = size;
    return e;
}

static void
test_diffs(void)
{
    ota_task_t        t;
    ota_task_event_t  e;

    /* the diff offered: taken by a task that counted nothing yet */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    t.full = 1000;
    e = dlp(1, 60, 200);
    is_int(ota_task_apply(&t, &e),
           OTA_TASK_MOVED | OTA_TASK_COVERED | OTA_TASK_PKG,
           "a diff's first bytes: the task counts the diff");
    is_int(t.diff, 1, "on the diff");
    is_int(t.size, 200, "size is the diff's");
    e = dlp(1, 200, 200);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_COVERED,
           "the whole diff: downloaded");
    is_int(t.state, OTA_TS_DOWNLOADED, "downloaded at 200 of 200");
    e = inform("2.0.0");
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED, "inform target");
    is_int((int) ota_task_saved(&t), 800, "saved 1000 - 200");
    e = dlp(0, 500, 1000);
    is_int(ota_task_apply(&t, &e), 0, "a final task never changes package");
    is_int(t.diff, 1, "still on the diff");

    /* the device cannot apply the diff: it downloads the full package */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    t.full = 1000;
    e = dlp(1, 200, 200);
    (void) ota_task_apply(&t, &e);
    e = step(5);
    (void) ota_task_apply(&t, &e);
    is_int(t.state, OTA_TS_INSTALLING, "diff whole, a step: installing");
    e = dlp(0, 100, 1000);
    is_int(ota_task_apply(&t, &e),
           OTA_TASK_MOVED | OTA_TASK_COVERED | OTA_TASK_PKG,
           "the full package's bytes: the fallback");
    is_int(t.state, OTA_TS_DOWNLOADING, "back to downloading");
    is_int(t.diff, 0, "on the full package");
    is_int((int) t.size, 1000, "size is the full package's");
    is_int((int) t.covered, 100, "covered counts the full package");
    e = dlp(1, 200, 200);
    is_int(ota_task_apply(&t, &e), 0, "never back to the diff");
    e = dlp(0, 999, 1000);
    (void) ota_task_apply(&t, &e);
    is_int(t.state, OTA_TS_DOWNLOADING, "999 of 1000: downloading");
    e = dlp(0, 1000, 1000);
    (void) ota_task_apply(&t, &e);
    is_int(t.state, OTA_TS_INSTALLING,
           "every byte of the full one (a step was reported): installing");
    e = inform("2.0.0");
    (void) ota_task_apply(&t, &e);
    is_int((int) ota_task_saved(&t), 0, "succeeded on the full: no saving");

    /* a diff after bytes of the full package is not taken */
    t = task(OTA_TS_DOWNLOADING, "1.0.0");
    t.full = 1000;
    t.covered = 10;
    e = dlp(1, 50, 200);
    is_int(ota_task_apply(&t, &e), 0, "diff bytes after full bytes: ignored");
    is_int(t.diff, 0, "still on the full package");
    is_int((int) t.covered, 10, "covered unchanged");

    /* a diff of no size is malformed for the switch */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    e = dlp(1, 50, 0);
    is_int(ota_task_apply(&t, &e), 0, "a diff without a size: ignored");
}

int
main(void)
{
    ota_task_t          t;
    ota_task_event_t    e;
    ota_batch_counts_t  c = { { 0 }, 0 };
    int                 rc, s, i;

    /* the happy path, every step */
    t = task(OTA_TS_PENDING, "1.0.0");
    e = ev(OTA_TE_NOTIFIED);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED, "pending -> notified");
    is_int(t.state, OTA_TS_NOTIFIED, "state notified");
    is_int(ota_task_apply(&t, &e), 0, "repeated notified changes nothing");

    e = dl(0);
    is_int(ota_task_apply(&t, &e), 0, "zero bytes: still notified");
    e = dl(400);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_COVERED,
           "notified -> downloading");
    is_int(t.covered, 400, "covered 400");
    e = dl(300);
    is_int(ota_task_apply(&t, &e), 0, "a late smaller count is ignored");
    is_int(t.covered, 400, "covered stays 400");
    e = dl(400);
    is_int(ota_task_apply(&t, &e), 0, "a replayed count is ignored");
    e = dl(700);
    is_int(ota_task_apply(&t, &e), OTA_TASK_COVERED, "more bytes: covered");
    is_int(t.state, OTA_TS_DOWNLOADING, "still downloading");
    e = step(10);
    is_int(ota_task_apply(&t, &e), OTA_TASK_STEP,
           "a step during download is recorded, no move");
    is_int(t.state, OTA_TS_DOWNLOADING, "still downloading after a step");
    e = dl(1000);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_COVERED,
           "every byte, a step reported before: moved");
    is_int(t.state, OTA_TS_INSTALLING, "state installing (the step carries it on)");
    e = ev(OTA_TE_NOTIFIED);
    is_int(ota_task_apply(&t, &e), 0, "late notified does not go back");
    e = dl(500);
    is_int(ota_task_apply(&t, &e), 0, "late download does not go back");
    e = step(0);
    is_int(ota_task_apply(&t, &e), OTA_TASK_STEP,
           "step 0 after download: recorded");
    is_int(t.state, OTA_TS_INSTALLING, "state installing");
    e = step(60);
    is_int(ota_task_apply(&t, &e), OTA_TASK_STEP, "step 60 recorded");
    is_int(ota_task_apply(&t, &e), 0, "repeated step changes nothing");
    e = inform("1.0.0");
    is_int(ota_task_apply(&t, &e), 0, "source version: no change");
    e = inform("2.0.0");
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED, "target version: succeeded");
    is_int(t.state, OTA_TS_SUCCEEDED, "state succeeded");

    /* final states are final */
    for (s = OTA_TS_SUCCEEDED; s <= OTA_TS_CANCELLED; s++) {
        ota_task_event_t all[6];

        all[0] = ev(OTA_TE_NOTIFIED);
        all[1] = dl(1000);
        all[2] = step(-1);
        all[3] = inform("3.0.0");
        all[4] = ev(OTA_TE_TIMEOUT);
        all[5] = ev(OTA_TE_CANCEL);
        for (i = 0; i < 6; i++) {
            t = task((ota_task_state_t) s, "1.0.0");
            t.covered = 1000;               /* complete: dl(1000) adds nothing */
            is_int(ota_task_apply(&t, &all[i]), 0,
                   "%s ignores event %d", ota_task_state_name(s), i);
            is_int(t.state, s, "%s stays", ota_task_state_name(s));
        }

        /* late coverage: the last merge answered after the device's
         * inform (issue 14): covered grows, the state stays */
        t = task((ota_task_state_t) s, "1.0.0");
        t.covered = 600;
        e = dl(1000);
        is_int(ota_task_apply(&t, &e), OTA_TASK_COVERED,
               "%s takes a later, larger coverage", ota_task_state_name(s));
        is_int(t.covered, 1000, "%s: covered 1000", ota_task_state_name(s));
        is_int(t.state, s, "%s: state unchanged", ota_task_state_name(s));
        e = dl(700);
        is_int(ota_task_apply(&t, &e), 0, "%s: a smaller one changes nothing",
               ota_task_state_name(s));
        e = dl(5000);
        is_int(ota_task_apply(&t, &e), 0, "%s: over the size is clipped",
               ota_task_state_name(s));
        is_int(t.covered, 1000, "%s: covered stays 1000", ota_task_state_name(s));
        e = dl(-1);
        is_int(ota_task_apply(&t, &e), -1, "%s: a negative count is malformed",
               ota_task_state_name(s));
    }

    /* a whole download in one event skips downloading */
    t = task(OTA_TS_PENDING, "1.0.0");
    e = dl(5000);
    rc = ota_task_apply(&t, &e);
    is_int(rc, OTA_TASK_MOVED | OTA_TASK_COVERED, "pending -> downloaded");
    is_int(t.state, OTA_TS_DOWNLOADED, "state downloaded");
    is_int(t.covered, 1000, "covered clipped to the size");

    e = dl(-5);
    t = task(OTA_TS_PENDING, "1.0.0");
    is_int(ota_task_apply(&t, &e), -1, "negative covered is malformed");

    /* failure reasons of negative steps, from every open state */
    {
        static const char *why[] = { OTA_REASON_UPGRADE, OTA_REASON_DOWNLOAD,
                                     OTA_REASON_VERIFY, OTA_REASON_FLASH };

        for (s = OTA_TS_PENDING; s <= OTA_TS_INSTALLING; s++) {
            for (i = -1; i >= -4; i--) {
                t = task((ota_task_state_t) s, "1.0.0");
                e = step(i);
                is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED,
                       "%s, step %d: failed", ota_task_state_name(s), i);
                is_int(t.state, OTA_TS_FAILED, "state failed");
                is_str(t.reason, why[-i - 1], "reason for step %d", i);
            }
        }
    }
    t = task(OTA_TS_INSTALLING, "1.0.0");
    e = step(-5);
    is_int(ota_task_apply(&t, &e), -1, "step -5 is malformed");
    e = step(101);
    is_int(ota_task_apply(&t, &e), -1, "step 101 is malformed");
    is_int(t.state, OTA_TS_INSTALLING, "and changes nothing");
    ok(ota_task_step_reason(5) == NULL, "no reason for a positive step");

    /* versions */
    t = task(OTA_TS_DOWNLOADING, "1.0.0");
    e = inform("1.5.0");
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED,
           "neither source nor target: failed");
    is_str(t.reason, OTA_REASON_WRONG_VER, "reason wrong_version");

    t = task(OTA_TS_PENDING, NULL);
    e = inform("1.0.0");
    is_int(ota_task_apply(&t, &e), 0,
           "no source known: an older version is its first report");
    e = inform("3.0.0");
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED,
           "no source known: a newer version is wrong");
    is_str(t.reason, OTA_REASON_WRONG_VER, "reason wrong_version");

    t = task(OTA_TS_PENDING, "1.0.0");
    e = inform("2.0.0");
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED,
           "target reported while pending: succeeded");

    /* timeout and cancel from every open state */
    for (s = OTA_TS_PENDING; s <= OTA_TS_INSTALLING; s++) {
        t = task((ota_task_state_t) s, "1.0.0");
        e = ev(OTA_TE_TIMEOUT);
        is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED, "%s times out",
               ota_task_state_name(s));
        is_str(t.reason, OTA_REASON_TIMEOUT, "reason timeout");
        t = task((ota_task_state_t) s, "1.0.0");
        e = ev(OTA_TE_CANCEL);
        is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED, "%s cancels",
               ota_task_state_name(s));
        is_int(t.state, OTA_TS_CANCELLED, "state cancelled");
        ok(t.reason == NULL, "no reason for cancelled");
    }

    /* out of order: inform before any download */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    e = inform("2.0.0");
    ota_task_apply(&t, &e);
    e = dl(1000);
    is_int(ota_task_apply(&t, &e), OTA_TASK_COVERED,
           "download after success: counted, not moved");
    is_int(t.covered, 1000, "covered 1000 after success");
    e = step(-2);
    is_int(ota_task_apply(&t, &e), 0, "failure after success: ignored");
    is_int(t.state, OTA_TS_SUCCEEDED, "still succeeded");

    /* a step before the download is complete (the last merge answered
     * after the device's report): recorded, and once the last byte is
     * counted the task is installing, not left downloaded */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    e = step(50);
    is_int(ota_task_apply(&t, &e), OTA_TASK_STEP, "step while notified: recorded");
    is_int(t.state, OTA_TS_NOTIFIED, "and no move");
    e = dl(400);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_COVERED,
           "part of it: downloading");
    is_int(t.state, OTA_TS_DOWNLOADING, "state downloading");
    e = dl(1000);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_COVERED,
           "the rest after the step: moved");
    is_int(t.state, OTA_TS_INSTALLING, "out of order step: installing");
    is_int(t.step, 50, "the step kept");

    /* the same with step 0 and the whole download in one event */
    t = task(OTA_TS_NOTIFIED, "1.0.0");
    e = step(0);
    ota_task_apply(&t, &e);
    e = dl(1000);
    ota_task_apply(&t, &e);
    is_int(t.state, OTA_TS_INSTALLING, "step 0 then all bytes: installing");

    /* no step yet: downloaded, the next step moves it */
    t = task(OTA_TS_DOWNLOADING, "1.0.0");
    e = dl(1000);
    ota_task_apply(&t, &e);
    is_int(t.state, OTA_TS_DOWNLOADED, "no step: downloaded");
    e = step(10);
    is_int(ota_task_apply(&t, &e), OTA_TASK_MOVED | OTA_TASK_STEP,
           "then a step: installing");

    /* can_move: never backwards */
    for (s = 0; s < OTA_TS_COUNT; s++) {
        for (i = 0; i < OTA_TS_COUNT; i++) {
            int want = !ota_task_state_final((ota_task_state_t) s) && s != i
                       && (i > s || ota_task_state_final((ota_task_state_t) i));
            is_int(ota_task_can_move((ota_task_state_t) s,
                                     (ota_task_state_t) i), want,
                   "can_move %s -> %s", ota_task_state_name(s),
                   ota_task_state_name(i));
        }
    }

    /* counter moves keep the total */
    c.total = 3;
    c.n[OTA_TS_PENDING] = 3;
    ota_task_count_move(&c, OTA_TS_PENDING, OTA_TS_DOWNLOADING);
    ota_task_count_move(&c, OTA_TS_DOWNLOADING, OTA_TS_SUCCEEDED);
    ota_task_count_move(&c, OTA_TS_PENDING, OTA_TS_FAILED);
    ota_task_count_move(&c, OTA_TS_FAILED, OTA_TS_FAILED);
    is_int(c.n[OTA_TS_PENDING], 1, "pending 1");
    is_int(c.n[OTA_TS_SUCCEEDED], 1, "succeeded 1");
    is_int(c.n[OTA_TS_FAILED], 1, "failed 1 (a self move counts nothing)");
    is_int(c.n[OTA_TS_DOWNLOADING], 0, "downloading 0");

    test_diffs();

    return done_testing();
}
