/* unit tests: ota_jflat, the module's flat reader of request bodies,
 * against jansson (jflat_diff.h): hand-written cases, generated bodies and
 * their random mutations from a fixed seed; the answer's string quoting
 * against json_dumps; the decimal writer against printf */

#include "tap.h"
#include "jflat_diff.h"
#include "ota_dec.h"

#include <stdint.h>
#include <stdlib.h>


static uint64_t  seed = 0x22b22b22bULL;

static unsigned
rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned) (seed % n);
}


/* what jflat says of text, and whether it agrees with jansson */
static ota_jf_rc_e
check(const char *text, size_t len, int *bad)
{
    ota_jf_rc_e   rc;
    const char   *why;

    why = jflat_diff(text, len, &rc);
    if (why != NULL) {
        (*bad)++;
        if (*bad <= 5) {
            size_t  i;

            printf("# %s: '", why);
            for (i = 0; i < len; i++) {
                unsigned char  ch = (unsigned char) text[i];

                printf(ch < 0x20 || ch >= 0x7f ? "\\x%02x" : "%c", ch);
            }
            printf("'\n");
        }
    }

    return rc;
}


/* text for a test's name: control characters and bytes >= 0x7f as \xNN */
static const char *
printable(const char *s)
{
    char        *o;
    static char  buf[512];

    for (o = buf; *s && o < buf + sizeof(buf) - 5; s++) {
        unsigned char  ch = (unsigned char) *s;

        if (ch < 0x20 || ch >= 0x7f) {
            o += sprintf(o, "\\x%02x", ch);
        } else {
            *o++ = (char) ch;
        }
    }
    *o = '\0';

    return buf;
}


static const char *valid[] = {
    "{}",
    " \t\r\n{ } \n",
    "{\"product\":\"p1\",\"device\":\"d1\",\"timestamp\":\"1700000000000\","
        "\"sign\":\"00ff\"}",
    "{\"product\":\"p1\",\"device\":\"d1\",\"timestamp\":1700000000000,"
        "\"sign\":\"00\"}",
    "{\"module\":\"MCU\",\"version\":\"1.2.3\"}",
    "{\"module\":\"default\",\"step\":100,\"desc\":\"installed\"}",
    "{\"module\":\"m\",\"step\":\"-2\",\"desc\":\"caf\\u00e9\"}",
    "{\"id\":\"123\",\"params\":{\"version\":\"1.0.0\",\"module\":\"MCU\"}}",
    "{\"id\":7,\"params\":{\"step\":-4,\"desc\":\"x\"}}",
    "{\"id\":null,\"params\":{}}",
    "{\"a\":true,\"b\":false,\"c\":null,\"d\":-0,\"e\":0.5,\"f\":1e3,"
        "\"g\":-1.5E-3,\"h\":2e+2}",
    "{\"i\":9223372036854775807,\"j\":-9223372036854775808}",
    "{\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    "{\"u\":\"\\u0041\\u00E9\\u20ac\\uD83D\\uDE00\\ud800\\udc00\\uDBFF"
        "\\uDFFF\"}",
    "{\"utf\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
        "\xed\x9f\xbf\xee\x80\x80\x7f\"}",
    "{\"\":\"empty key\",\"k\\u0065y\":1}",
    "{\"tiny\":1e-400,\"neg\":-1e-400}",
    "{\"desc\":\"" "0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789\"}",
    NULL
};

static const char *invalid[] = {
    "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
    "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":1} 1", "{\"a\" 1}", "{'a':1}",
    "{a:1}", "{\"a\":01}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":.5}",
    "{\"a\":1.}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":0x1}", "{\"a\":1x}",
    "{\"a\":-01}", "{\"a\":truex}", "{\"a\":tru}", "{\"a\":True}",
    "{\"a\":nul}", "{\"a\":null1}", "{\"a\":falsee}",
    "{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}",
    "{\"a\":1e400}", "{\"a\":-1e400}",
    "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}",
    "{\"p\":{\"x\":1,\"x\":1}}",
    "{\"a\":\"\\u0000\"}", "{\"\\u0000\":1}", "{\"a\":\"\\x\"}",
    "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\uD800\"}",
    "{\"a\":\"\\uD800x\"}", "{\"a\":\"\\uD800\\u0041\"}",
    "{\"a\":\"\\uDC00\"}", "{\"a\":\"\\uDBFF\\uDBFF\"}",
    "{\"a\":\"tab\there\"}", "{\"a\":\"nl\nhere\"}", "{\"a\":\"\x1f\"}",
    "{\"a\":\"\x80\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xc1\xbf\"}",
    "{\"a\":\"\xc3\"}", "{\"a\":\"\xe0\x80\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":\"\xf0\x80\x80\xaf\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
    "{\"a\":\"\xf5\x80\x80\x80\"}", "{\"a\":\"\xff\"}",
    "{\"a\":\"unterminated}", "{\"a\":\"x\\", "\xef\xbb\xbf{}",
    "null", "1", "\"s\"", "true",
    NULL
};

static const char *other[] = {          /* JSON, not for jflat */
    "[]", "[1,2]", "{\"a\":[]}", "{\"a\":{\"b\":{}}}",
    "{\"id\":1,\"params\":{\"x\":[1]}}",
    NULL
};


static const char *keys[] = {
    "product", "device", "timestamp", "sign", "module", "version", "step",
    "desc", "id", "params", "x", "", "k\\u00e9y"
};

static void
gen_ws(char **o)
{
    static const char  ws[] = " \t\r\n";

    while (rnd(6) == 0) {
        *(*o)++ = ws[rnd(4)];
    }
}

static void
gen_string(char **o)
{
    unsigned     i, n;
    static const char *pieces[] = {
        "a", "Z", "0", "-", ".", " ", "/", "\\\"", "\\\\", "\\/", "\\b",
        "\\f", "\\n", "\\r", "\\t", "\\u0041", "\\u00e9", "\\u20AC",
        "\\uD83D\\uDE00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\x7f", "\\u001f", "\\u007F", "MCU", "1.2.3", "installed"
    };

    *(*o)++ = '"';
    n = rnd(8);
    for (i = 0; i < n; i++) {
        const char  *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
        size_t       l = strlen(p);

        memcpy(*o, p, l);
        *o += l;
    }
    *(*o)++ = '"';
}

static void gen_object(char **o, int depth);

static void
gen_value(char **o, int depth)
{
    static const char *nums[] = {
        "0", "-0", "1", "-4", "100", "101", "1700000000000", "12.5",
        "-3e2", "1E-2", "9223372036854775807", "-9223372036854775808",
        "0.0", "42"
    };

    switch (rnd(depth == 0 ? 9 : 8)) {
    case 0: case 1: case 2:
        gen_string(o);
        break;
    case 3: case 4: {
        const char  *p = nums[rnd(sizeof(nums) / sizeof(nums[0]))];

        memcpy(*o, p, strlen(p));
        *o += strlen(p);
        break;
    }
    case 5:
        memcpy(*o, "true", 4);
        *o += 4;
        break;
    case 6:
        memcpy(*o, "false", 5);
        *o += 5;
        break;
    case 7:
        memcpy(*o, "null", 4);
        *o += 4;
        break;
    default:
        gen_object(o, depth + 1);
        break;
    }
}

static void
gen_object(char **o, int depth)
{
    unsigned  i, n;

    *(*o)++ = '{';
    gen_ws(o);
    n = rnd(6);
    for (i = 0; i < n; i++) {
        const char  *k = keys[rnd(sizeof(keys) / sizeof(keys[0]))];

        if (i) {
            *(*o)++ = ',';
            gen_ws(o);
        }
        *(*o)++ = '"';
        memcpy(*o, k, strlen(k));
        *o += strlen(k);
        *(*o)++ = '"';
        gen_ws(o);
        *(*o)++ = ':';
        gen_ws(o);
        gen_value(o, depth);
        gen_ws(o);
    }
    *(*o)++ = '}';
}

static size_t
mutate(char *buf, size_t len, size_t cap)
{
    unsigned  i, n, at;
    static const char  alpha[] =
        "{}[]:,\"\\u0123456789abcdefABCDEF.eE+-tnl \t\n\r/"
        "\x00\x01\x1f\x7f\x80\xbf\xc0\xc2\xe0\xed\xf0\xf4\xf5\xff";

    n = 1 + rnd(3);
    for (i = 0; i < n; i++) {
        at = len ? rnd((unsigned) len) : 0;

        switch (rnd(3)) {
        case 0:                         /* replace */
            if (len) {
                buf[at] = alpha[rnd(sizeof(alpha) - 1)];
            }
            break;
        case 1:                         /* insert */
            if (len + 1 < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = alpha[rnd(sizeof(alpha) - 1)];
                len++;
            }
            break;
        default:                        /* delete */
            if (len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        }
    }

    return len;
}


static void
test_quote(void)
{
    int       i, n, bad;
    char      s[64], out[512], *e;
    char     *dumped;
    json_t   *j;
    size_t    len;

    bad = 0;
    for (i = 0; i < 20000; i++) {
        len = rnd(20);
        for (n = 0; n < (int) len; n++) {
            /* ASCII with every control character; UTF-8 as it is */
            s[n] = (char) (rnd(4) == 0 ? rnd(0x20) : 0x20 + rnd(0x60));
        }
        if (rnd(3) == 0 && len + 3 < sizeof(s)) {
            memcpy(s + len, "\xe2\x82\xac", 3);
            len += 3;
        }

        j = json_stringn(s, len);
        dumped = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        e = ota_jflat_quote(out, s, len);

        if (dumped == NULL || ota_jflat_quoted_len(s, len) != (size_t) (e - out)
            || strlen(dumped) != (size_t) (e - out)
            || memcmp(dumped, out, (size_t) (e - out)) != 0)
        {
            if (bad++ < 3) {
                printf("# quote: '%.*s' vs '%s'\n", (int) (e - out), out,
                       dumped ? dumped : "(null)");
            }
        }

        free(dumped);
        json_decref(j);
    }

    is_int(bad, 0, "quote: 20000 strings written as json_dumps writes them");
}


static void
test_ll(void)
{
    int        i, bad;
    char       a[32], b[32], *e;
    long long  v;
    static const long long  edge[] = {
        0, 1, -1, 9, 10, -10, 1700000000000LL, 9223372036854775807LL,
        -9223372036854775807LL - 1
    };

    bad = 0;
    for (i = 0; i < 10000; i++) {
        v = i < 9 ? edge[i]
                  : (long long) (((uint64_t) rnd(1u << 31) << 33)
                                 ^ rnd(1u << 31)) >> rnd(60);
        e = ota_dec_ll(a, v);
        *e = '\0';
        snprintf(b, sizeof(b), "%lld", v);
        if (strcmp(a, b) != 0) {
            bad++;
        }
    }

    is_int(bad, 0, "ll: 10000 numbers written as %%lld writes them");
}


int
main(void)
{
    int          i, k, bad, n_ok, n_inv, n_uns;
    char         buf[4096], mut[4096], *o;
    size_t       len, mlen;
    ota_jf_rc_e  rc;

    for (i = 0; valid[i]; i++) {
        bad = 0;
        rc = check(valid[i], strlen(valid[i]), &bad);
        ok(rc == OTA_JF_OK && bad == 0, "valid %d read as jansson reads it",
           i);
    }

    for (i = 0; invalid[i]; i++) {
        bad = 0;
        len = strlen(invalid[i]);
        rc = check(invalid[i], len, &bad);
        ok(rc == OTA_JF_INVALID && bad == 0, "invalid %d refused: '%s'", i,
           printable(invalid[i]));
    }

    /* a NUL byte inside the buffer (not the end of a C string): jansson
     * skips one after a number or a word, so jflat leaves them all to it */
    bad = 0;
    rc = check("{\"a\":1}\0", 8, &bad);
    ok(rc == OTA_JF_UNSUPPORTED && bad == 0, "a NUL after the object: "
       "jansson's");
    bad = 0;
    rc = check("{\"a\":1\0}", 8, &bad);
    ok(rc == OTA_JF_UNSUPPORTED && bad == 0, "a NUL after a number: "
       "jansson's (which reads it)");
    bad = 0;
    rc = check("{\"a\":\"x\0y\"}", 11, &bad);
    ok(rc == OTA_JF_UNSUPPORTED && bad == 0, "a raw NUL in a string: "
       "jansson's (which refuses it)");

    for (i = 0; other[i]; i++) {
        bad = 0;
        rc = check(other[i], strlen(other[i]), &bad);
        ok(rc == OTA_JF_UNSUPPORTED && bad == 0,
           "not flat, left to jansson: '%s'", other[i]);
    }

    /* more members than OTA_JF_MAX: left to jansson */
    o = buf;
    *o++ = '{';
    for (i = 0; i <= OTA_JF_MAX; i++) {
        o += sprintf(o, "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    *o++ = '}';
    bad = 0;
    rc = check(buf, (size_t) (o - buf), &bad);
    ok(rc == OTA_JF_UNSUPPORTED && bad == 0, "%d members left to jansson",
       OTA_JF_MAX + 1);

    /* a view without escapes points into the input; with, the scratch */
    {
        char         scratch[64];
        ota_jflat_t  f;
        const char  *in = "{\"a\":\"plain\",\"b\":\"e\\u0301\"}";
        const ota_jf_member_t  *a, *b;

        rc = ota_jflat_parse(&f, in, strlen(in), scratch, sizeof(scratch));
        a = ota_jflat_get(&f, -1, "a");
        b = ota_jflat_get(&f, -1, "b");
        ok(rc == OTA_JF_OK && a && b && a->str == in + 6
           && b->str == scratch && b->len == 3
           && memcmp(b->str, "e\xcc\x81", 3) == 0
           && ota_jflat_get(&f, -1, "c") == NULL,
           "views: plain string into the input, escaped into the scratch");
    }

    /* generated bodies and their mutations */
    bad = 0;
    n_ok = n_inv = n_uns = 0;
    for (i = 0; i < 40000; i++) {
        o = buf;
        gen_ws(&o);
        gen_object(&o, 0);
        gen_ws(&o);
        len = (size_t) (o - buf);

        rc = check(buf, len, &bad);
        n_ok += rc == OTA_JF_OK;
        n_inv += rc == OTA_JF_INVALID;
        n_uns += rc == OTA_JF_UNSUPPORTED;

        for (k = 0; k < 5; k++) {
            memcpy(mut, buf, len);
            mlen = mutate(mut, len, sizeof(mut));
            rc = check(mut, mlen, &bad);
            n_ok += rc == OTA_JF_OK;
            n_inv += rc == OTA_JF_INVALID;
            n_uns += rc == OTA_JF_UNSUPPORTED;
        }
    }

    printf("# generated: %d read, %d refused, %d left to jansson\n", n_ok,
           n_inv, n_uns);
    is_int(bad, 0, "240000 generated and mutated bodies: jflat agrees with "
           "jansson, and the request checks with themselves");
    ok(n_ok > 20000 && n_inv > 20000, "both outcomes well exercised");

    test_quote();
    test_ll();

    return done_testing();
}
