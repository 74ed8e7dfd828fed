/* unit tests: RESP commands without printf (include/ota_resp.c), byte for
 * byte what hiredis writes for the same format or argv */

#include "tap.h"
#include "ota_resp.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <limits.h>


#define MAXARGS  16


/* ota_resp_vargs + ota_resp_write, or -1 when the format is refused (then
 * hiredis formats from the same, unread, ap) */
static int
fmt_ours(char **out, int *fast, const char *fmt, ...)
{
    int          argc, len;
    char         nums[4][OTA_RESP_NUM_LEN];
    size_t       argvlen[MAXARGS];
    va_list      ap;
    const char  *argv[MAXARGS];

    va_start(ap, fmt);
    argc = ota_resp_vargs(fmt, ap, MAXARGS, argv, argvlen, nums, 4);

    if (argc < 0) {
        *fast = 0;
        len = redisvFormatCommand(out, fmt, ap);
        va_end(ap);
        return len;
    }

    va_end(ap);

    *fast = 1;
    len = (int) ota_resp_len(argc, argv, argvlen);
    *out = malloc(len + 1);
    if (*out == NULL) {
        return -1;
    }
    if (ota_resp_write(*out, argc, argv, argvlen) != *out + len) {
        free(*out);
        return -1;
    }

    return len;
}


#define SAME(want_fast, fmt, ...)                                           \
    do {                                                                    \
        char  *o_ = NULL, *h_ = NULL;                                       \
        int    f_ = -1;                                                     \
        int    lo_ = fmt_ours(&o_, &f_, fmt, ##__VA_ARGS__);                \
        int    lh_ = redisFormatCommand(&h_, fmt, ##__VA_ARGS__);           \
        ok(lo_ == lh_ && lo_ > 0 && memcmp(o_, h_, lo_) == 0                \
           && f_ == (want_fast),                                            \
           "\"%s\": as hiredis (%s)", fmt, (want_fast) ? "ours" : "hiredis's"); \
        if (!(lo_ == lh_ && lo_ > 0 && memcmp(o_, h_, lo_) == 0))           \
            printf("#   got %d '%.*s', want %d '%.*s'\n", lo_,              \
                   lo_ > 0 ? lo_ : 0, o_ ? o_ : "", lh_,                    \
                   lh_ > 0 ? lh_ : 0, h_ ? h_ : "");                        \
        free(o_);                                                           \
        free(h_);                                                           \
    } while (0)


static void
argv_same(int argc, const char **argv, const size_t *argvlen,
    const char *what)
{
    int     lh;
    char   *h = NULL, *o;
    size_t  lo;

    lh = redisFormatCommandArgv(&h, argc, argv, argvlen);
    lo = ota_resp_len(argc, argv, argvlen);
    o = malloc(lo + 1);
    if (o == NULL) {
        ok(0, "argv %s: out of memory", what);
        free(h);
        return;
    }
    ota_resp_write(o, argc, argv, argvlen);

    ok(lh > 0 && (size_t) lh == lo && memcmp(o, h, lo) == 0 && o[lo] == '\0',
       "argv %s: as hiredis (%d bytes)", what, lh);

    free(o);
    free(h);
}


int
main(void)
{
    int          i;
    char         big[70000];
    size_t       lens[MAXARGS];
    const char  *argv[MAXARGS];
    const char  *bin = "a\0b c\r\n";

    /* the module's formats */
    SAME(1, "HGETALL %s", "ota:pkg:{p1}");
    SAME(1, "HGET %s %b", "ota:dev:{d}:open", "default", (size_t) 7);
    SAME(1, "HGET %b %b", "k1", (size_t) 2, bin, (size_t) 7);
    SAME(1, "HMGET %b name type module version size files",
         "ota:pkg:{x}", (size_t) 11);
    SAME(1, "ZREVRANGE %s %d %d", "z", 0, -1);
    SAME(1, "XREVRANGE %s + - COUNT %i", "ota:events", 50);
    SAME(1, "ZADD %b NX %lld %b", "z", (size_t) 1, -9223372036854775807LL - 1,
         "m", (size_t) 1);
    SAME(1, "SET %b 1 NX EX %d", "ota:nonce", (size_t) 9, INT_MAX);
    SAME(1, "SORT %s ALPHA LIMIT %d %d", "s", INT_MIN, 10);
    SAME(1, "%s %b", "GET", "key", (size_t) 3);
    SAME(1, "MULTI");
    SAME(1, "  HGET   a    b  ");
    SAME(1, "X %u %lu %llu %ld", 4000000000U, 18446744073709551615UL,
         18446744073709551615ULL, -5L);
    SAME(1, "HGET %s %b", "", "", (size_t) 0);     /* empty arguments */
    SAME(1, "");

    /* what is left to hiredis, the arguments still unread */
    SAME(0, "ZREMRANGEBYSCORE %b -inf (%lld", "z", (size_t) 1, 1234LL);
    SAME(0, "SET k%s v", "x");
    SAME(0, "SET %s%s", "a", "b");
    SAME(0, "ECHO 100%%");
    SAME(0, "ECHO %x %s", 255U, "y");
    SAME(0, "ECHO %5d %s", 3, "y");
    SAME(0, "ECHO %hd %s", 3, "y");
    SAME(0, "ECHO %f %s", 1.5, "y");
    SAME(0, "ECHO %");
    SAME(0, "A %d %d %d %d %d", 1, 2, 3, 4, 5);   /* more than 4 numbers */
    SAME(0, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17");    /* > 16 */
    SAME(1, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16");

    /* argv */
    argv[0] = "EVALSHA";
    argv[1] = "0123456789abcdef0123456789abcdef01234567";
    argv[2] = "2";
    argv[3] = bin;
    lens[0] = 7; lens[1] = 40; lens[2] = 1; lens[3] = 7;
    argv_same(4, argv, lens, "with binary");
    argv_same(3, argv, NULL, "strlen");

    memset(big, 'x', sizeof(big));
    argv[3] = big;
    lens[3] = sizeof(big);
    argv_same(4, argv, lens, "with a 70000-byte argument");

    for (i = 0; i < MAXARGS; i++) {
        argv[i] = "";
        lens[i] = 0;
    }
    argv_same(MAXARGS, argv, lens, "16 empty arguments");
    argv_same(0, argv, lens, "no argument");

    return done_testing();
}
