/*
 * cov_replay: ota_cov_add() (include/ota_cov.c) as the merge script of the
 * module (lua/module/merge.lua) is called, for t/38-merge-lua.t, which
 * sends the same calls to both and compares the answers.
 *
 *   cov_replay SIZE LIMIT < calls
 *
 * Each line of input is one call: start end start end ...  Each is clamped
 * to [0, SIZE] as the script clamps it, then added with ota_cov_add() on a
 * set of at most LIMIT ranges.  Each line of output: the script's answer,
 * "covered added dropped", then the set as the script's ZSET holds it,
 * " start-end" per range in order.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_cov.h"

int
main(int argc, char **argv)
{
    ota_cov_t   c = OTA_COV_INIT;
    char        line[65536], *p, *end;
    long long   size, covered = 0, s, e, added, dropped;
    int64_t     a;
    size_t      i;
    int         rc;

    if (argc != 3) {
        fprintf(stderr, "usage: cov_replay SIZE LIMIT < calls\n");
        return 2;
    }
    size = atoll(argv[1]);
    c.limit = (size_t) atoll(argv[2]);

    while (fgets(line, sizeof(line), stdin) != NULL) {
        added = 0;
        dropped = 0;
        for (p = line; ; ) {
            s = strtoll(p, &end, 10);
            if (end == p) {
                break;
            }
            p = end;
            e = strtoll(p, &end, 10);
            if (end == p) {
                break;
            }
            p = end;
            if (s < 0) {
                s = 0;
            }
            if (e > size) {
                e = size;
            }
            if (e <= s) {
                continue;
            }
            rc = ota_cov_add(&c, s, e, &a);
            if (rc == OTA_COV_FULL) {
                dropped++;
            } else if (rc != OTA_COV_OK) {
                fprintf(stderr, "cov_replay: out of memory\n");
                return 1;
            } else {
                added += a;
            }
        }
        covered += added;
        printf("%lld %lld %lld", covered, added, dropped);
        for (i = 0; i < c.n; i++) {
            printf(" %lld-%lld", (long long) c.r[i].start,
                   (long long) c.r[i].end);
        }
        printf("\n");
        fflush(stdout);
    }
    ota_cov_free(&c);
    return 0;
}
