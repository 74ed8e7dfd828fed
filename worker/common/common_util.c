/* time, randomness, logging and the configuration file reader */

#include "ota_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

int          ota_log_level = OTA_LOG_INFO;
const char  *ota_log_name = "ota";

int64_t
ota_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ota_random_hex(char *out, size_t n)
{
    unsigned char  b[64];
    size_t         i;

    if (n > sizeof(b) || RAND_bytes(b, (int) n) != 1) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
    out[2 * n] = '\0';
    return 0;
}

void
ota_log(int level, const char *fmt, ...)
{
    static const char  *lv[] = { "error", "warn", "info", "debug" };
    char                ts[32];
    time_t              now;
    struct tm           tm;
    va_list             ap;

    if (level > ota_log_level) {
        return;
    }

    now = time(NULL);
    localtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);

    fprintf(stderr, "%s %s[%d] %s: ", ts, ota_log_name, (int) getpid(),
            lv[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

int
ota_config_int(const char *name, const char *v, long min, long max,
    int *out, char *err, size_t errlen)
{
    char  *end;
    long   n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < min || n > max) {
        snprintf(err, errlen, "invalid %s \"%s\" (want %ld..%ld)", name, v,
                 min, max);
        return -1;
    }
    *out = (int) n;
    return 0;
}

int
ota_log_level_set(const char *v, char *err, size_t errlen)
{
    static const char  *lv[] = { "error", "warn", "info", "debug" };
    int                 i;

    for (i = 0; i < 4; i++) {
        if (strcmp(v, lv[i]) == 0) {
            ota_log_level = i;
            return 0;
        }
    }
    snprintf(err, errlen, "invalid log level \"%s\"", v);
    return -1;
}

static char *
ota_trim(char *s)
{
    char  *e;

    while (isspace((unsigned char) *s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }
    return s;
}

int
ota_config_load(const char *path, ota_config_cb cb, void *ctx, char *err,
    size_t errlen)
{
    FILE   *f;
    char    line[4096], msg[256], *p, *k, *v;
    int     n = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open config file %s: %s", path,
                 strerror(errno));
        return -1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        n++;
        p = strchr(line, '#');
        if (p != NULL) {
            *p = '\0';
        }
        k = ota_trim(line);
        if (*k == '\0') {
            continue;
        }

        v = k;
        while (*v && !isspace((unsigned char) *v) && *v != '=') {
            v++;
        }
        if (*v) {
            *v++ = '\0';
        }
        v = ota_trim(v);
        if (*v == '=') {
            v = ota_trim(v + 1);
        }
        if (*v == '\0') {
            snprintf(err, errlen, "%s:%d: \"%s\" needs a value", path, n, k);
            fclose(f);
            return -1;
        }

        msg[0] = '\0';
        if (cb(ctx, k, v, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, n,
                     msg[0] ? msg : "unknown setting");
            fclose(f);
            return -1;
        }
    }

    fclose(f);
    return 0;
}
