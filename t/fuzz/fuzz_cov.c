/* libFuzzer target: the coverage range set against a bitmap model.  Each
 * 4 input bytes add one range inside a 4 KiB space; after every step the set
 * must hold exactly the model's bytes, stay sorted, disjoint and
 * non-touching, and report the newly added bytes exactly. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_cov.h"

#define SPACE  4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char  model[SPACE];
    ota_cov_t             c = OTA_COV_INIT;
    int64_t               total = 0, added, start, end, i, want;
    size_t                k, j;

    memset(model, 0, sizeof(model));

    for (k = 0; k + 4 <= size; k += 4) {
        start = ((data[k] << 8) | data[k + 1]) % SPACE;
        end = ((data[k + 2] << 8) | data[k + 3]) % (SPACE + 1);

        if (ota_cov_add(&c, start, end, &added) != OTA_COV_OK) {
            abort();
        }

        want = 0;
        for (i = start; i < end; i++) {
            if (!model[i]) {
                model[i] = 1;
                want++;
            }
        }
        if (added != want && !(end <= start && added == 0)) {
            abort();
        }
        total += want;

        if (ota_cov_total(&c) != total) {
            abort();
        }
        for (j = 0; j < c.n; j++) {
            if (c.r[j].start >= c.r[j].end
                || (j > 0 && c.r[j - 1].end >= c.r[j].start))
            {
                abort();                /* unsorted, empty or touching */
            }
        }
        if (end > start && !ota_cov_contains(&c, start, end)) {
            abort();
        }
    }

    /* every held byte is in the model and the reverse */
    for (j = 0; j < c.n; j++) {
        for (i = c.r[j].start; i < c.r[j].end; i++) {
            if (!model[i]) {
                abort();
            }
        }
    }

    ota_cov_free(&c);
    return 0;
}
