/* unit tests: the coverage range set (include/ota_cov.c) */

#include "tap.h"
#include "ota_cov.h"

#include <stdlib.h>


static int
cov_is(const ota_cov_t *c, const char *want)
{
    char    buf[1024], *p = buf;
    size_t  i;

    buf[0] = '\0';
    for (i = 0; i < c->n; i++) {
        p += snprintf(p, buf + sizeof(buf) - p, "%s%lld-%lld", i ? "," : "",
                      (long long) c->r[i].start, (long long) c->r[i].end);
    }

    if (strcmp(buf, want) != 0) {
        printf("#   set is '%s', want '%s'\n", buf, want);
        return 0;
    }
    return 1;
}


/* the set's invariant: sorted, non-empty, disjoint, not touching */
static int
cov_sane(const ota_cov_t *c)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        if (c->r[i].end <= c->r[i].start) {
            return 0;
        }
        if (i && c->r[i - 1].end >= c->r[i].start) {
            return 0;
        }
    }
    return 1;
}


int
main(void)
{
    int        rc, bad, round;
    size_t     i;
    int64_t    added, s, e, want, total;
    ota_cov_t  c = OTA_COV_INIT, d = OTA_COV_INIT;
    unsigned char  bits[4096];

    rc = ota_cov_add(&c, 10, 20, &added);
    ok(rc == OTA_COV_OK && added == 10 && cov_is(&c, "10-20"),
       "first range is added whole");

    ota_cov_add(&c, 30, 40, &added);
    ok(added == 10 && cov_is(&c, "10-20,30-40"), "a disjoint range stays apart");

    ota_cov_add(&c, 15, 25, &added);
    ok(added == 5 && cov_is(&c, "10-25,30-40"), "an overlap counts only new bytes");

    ota_cov_add(&c, 25, 30, &added);
    ok(added == 5 && cov_is(&c, "10-40"), "a range filling a gap joins both sides");

    ota_cov_add(&c, 12, 38, &added);
    ok(added == 0 && cov_is(&c, "10-40"), "re-sent bytes count nothing");

    ota_cov_add(&c, 40, 50, &added);
    ok(added == 10 && cov_is(&c, "10-50"), "touching ranges merge (end is exclusive)");

    ota_cov_add(&c, 0, 10, &added);
    ok(added == 10 && cov_is(&c, "0-50"), "touching on the left merges");

    ota_cov_add(&c, 60, 70, NULL);
    ota_cov_add(&c, 80, 90, NULL);
    ota_cov_add(&c, 100, 110, NULL);
    ota_cov_add(&c, 55, 105, &added);
    ok(added == 5 + 10 + 10 && cov_is(&c, "0-50,55-110"),
       "one range swallowing several counts only the gaps (%lld)",
       (long long) added);
    is_int(ota_cov_total(&c), 105, "total is the number of distinct bytes");

    ota_cov_add(&c, 7, 7, &added);
    ok(added == 0 && cov_is(&c, "0-50,55-110"), "an empty range changes nothing");
    ota_cov_add(&c, 9, 3, &added);
    ok(added == 0 && cov_is(&c, "0-50,55-110"), "an inverted range changes nothing");
    ota_cov_add(&c, -5, 2, &added);
    ok(added == 0 && cov_is(&c, "0-50,55-110"), "negative starts are clamped to 0");

    ok(ota_cov_contains(&c, 0, 50), "contains a whole range");
    ok(ota_cov_contains(&c, 60, 61), "contains a byte inside");
    ok(!ota_cov_contains(&c, 49, 56), "does not contain a gap");
    ok(!ota_cov_contains(&c, 110, 111), "does not contain the byte after the end");

    /* limit: a new range over the limit is refused, merging ones still go */
    ota_cov_clear(&c);
    c.limit = 2;
    ota_cov_add(&c, 0, 10, NULL);
    ota_cov_add(&c, 20, 30, NULL);
    rc = ota_cov_add(&c, 40, 50, &added);
    ok(rc == OTA_COV_FULL && added == 0 && cov_is(&c, "0-10,20-30"),
       "a third range over a limit of 2 is refused and nothing changes");
    rc = ota_cov_add(&c, 5, 25, &added);
    ok(rc == OTA_COV_OK && added == 10 && cov_is(&c, "0-30"),
       "a range that merges still fits under the limit");
    c.limit = 0;

    /* merge and swap */
    ota_cov_clear(&c);
    ota_cov_add(&c, 0, 100, NULL);
    ota_cov_add(&d, 50, 150, NULL);
    ota_cov_add(&d, 200, 300, NULL);
    rc = ota_cov_merge(&c, &d, &added);
    ok(rc == OTA_COV_OK && added == 150 && cov_is(&c, "0-150,200-300"),
       "merge adds only what is new (%lld)", (long long) added);
    ota_cov_swap(&c, &d);
    ok(cov_is(&c, "50-150,200-300") && cov_is(&d, "0-150,200-300"),
       "swap exchanges contents");

    /* large offsets (packages up to 1000 MB and beyond) */
    ota_cov_clear(&c);
    ota_cov_add(&c, 0, 3000000000LL, NULL);
    ota_cov_add(&c, 3000000000LL, 6000000000LL, &added);
    ok(added == 3000000000LL && cov_is(&c, "0-6000000000"),
       "offsets beyond 4 GiB are exact");

    /* random ranges against a bitmap: parallel segments, resumes, overlaps */
    bad = 0;
    for (round = 0; round < 200; round++) {
        srand(round + 1);
        ota_cov_clear(&c);
        memset(bits, 0, sizeof(bits));
        total = 0;

        for (i = 0; i < 300; i++) {
            s = rand() % 4096;
            e = s + rand() % 200;
            if (e > 4096) {
                e = 4096;
            }

            want = 0;
            for (int64_t k = s; k < e; k++) {
                if (!bits[k]) {
                    bits[k] = 1;
                    want++;
                }
            }

            if (ota_cov_add(&c, s, e, &added) != OTA_COV_OK || added != want) {
                bad++;
            }
            total += want;
        }

        if (!cov_sane(&c) || ota_cov_total(&c) != total) {
            bad++;
        }

        for (s = 0; s < 4096; s++) {
            if (ota_cov_contains(&c, s, s + 1) != bits[s]) {
                bad++;
                break;
            }
        }
    }
    is_int(bad, 0, "200 random rounds agree with a bitmap byte for byte");

    /* every byte of a package sent once in 8 interleaved segments = 100 % */
    ota_cov_clear(&c);
    total = 0;
    for (i = 0; i < 8; i++) {
        for (s = (int64_t) i * 1000; s < (int64_t) (i + 1) * 1000; s += 100) {
            ota_cov_add(&c, s, s + 100, &added);
            total += added;
        }
    }
    ok(total == 8000 && cov_is(&c, "0-8000"),
       "8 segments of 1000 bytes cover 0-8000 exactly once");

    ota_cov_free(&c);
    ota_cov_free(&d);
    ok(c.n == 0 && c.r == NULL, "free leaves an empty usable set");

    return done_testing();
}
