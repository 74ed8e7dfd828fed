/* otactl's output: JSON, sizes, times, rates, and what free text may be */

#include "otactl.h"

#include "ota_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
otactl_print_json(json_t *v)
{
    char  *s;

    if (v == NULL) {
        fprintf(stderr, "otactl: out of memory building JSON\n");
        return;
    }
    s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL) {
        printf("%s\n", s);
        free(s);
    }
    json_decref(v);
}

const char *
otactl_bytes(long long n, char *buf, size_t len)
{
    if (n < 0) {
        snprintf(buf, len, "-");
    } else if (n < 1024) {
        snprintf(buf, len, "%lld B", n);
    } else if (n < 1024 * 1024) {
        snprintf(buf, len, "%.1f KB", n / 1024.0);
    } else if (n < 1024LL * 1024 * 1024) {
        snprintf(buf, len, "%.1f MB", n / (1024.0 * 1024));
    } else {
        snprintf(buf, len, "%.2f GB", n / (1024.0 * 1024 * 1024));
    }
    return buf;
}

const char *
otactl_time(long long t, char *buf, size_t len)
{
    time_t     s;
    struct tm  tm;

    if (t <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    s = (time_t) (t > 100000000000LL ? t / 1000 : t);
    localtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

json_t *
otactl_rate_json(double r)
{
    return r < 0 ? json_null() : json_real((double) (long long) (r * 10000 + 0.5)
                                           / 10000);
}

const char *
otactl_rate_str(double r, char *buf, size_t len)
{
    if (r < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.1f%%", r * 100);
    }
    return buf;
}

/* the one rule of the admin API too (include/ota_check.h) */
int
otactl_text_ok(const char *s, size_t max)
{
    return ota_text_ok(s, strlen(s), max);
}


/* "default" first, then by name: the order of the admin API's modules */
static int
otactl_module_before(const char *a, const char *b)
{
    int  da = strcmp(a, "default") == 0, db = strcmp(b, "default") == 0;

    if (da != db) {
        return da;
    }
    return strcmp(a, b) < 0;
}

void
otactl_sort_modules(redisReply **el, size_t n, size_t stride)
{
    size_t       i, j, k;
    redisReply  *t;

    /* insertion sort: a product has a handful of modules */
    for (i = stride; i + stride <= n; i += stride) {
        for (j = i; j >= stride
             && el[j]->type == REDIS_REPLY_STRING
             && el[j - stride]->type == REDIS_REPLY_STRING
             && otactl_module_before(el[j]->str, el[j - stride]->str);
             j -= stride)
        {
            for (k = 0; k < stride; k++) {
                t = el[j + k];
                el[j + k] = el[j - stride + k];
                el[j - stride + k] = t;
            }
        }
    }
}
