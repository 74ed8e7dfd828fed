/* unit tests: the HTTP upgrade answer as text from compiled packages
 * (include/ota_offer_text.c) against the jansson answer it replaces
 * (ota_offer_json(), dumped as the module dumped it) */

#include "tap.h"
#include "ota_offer.h"
#include "ota_offer_text.h"
#include "ota_jesc.h"
#include "ota_token.h"

#include <stdio.h>
#include <stdlib.h>

#define KEY "0123456789abcdef-server-key"

#define V(s)  ((ota_view_t) { (s), sizeof(s) - 1 })

static ota_offer_cache_t  *cache;


static void *
test_alloc(void *ctx, size_t size)
{
    (void) ctx;
    return malloc(size + 1);
}


static ota_offer_t
base_offer(void)
{
    ota_offer_t  o;

    memset(&o, 0, sizeof(o));
    o.device = V("dev1");
    o.batch = V("b1");
    o.module = V("MCU");
    o.task_from = V("1.0.0");
    o.package = V("pkg-1");
    o.version = V("1.1.0");
    o.type = V("full");
    o.pkg_from = V("");
    o.sign_method = V("sha256");
    o.sign = V("aaaa");
    o.files = V("[{\"name\":\"fw.bin\",\"size\":600,\"sign\":\"aaaa\","
                "\"offset\":0}]");
    o.ext = V("{\"region\":\"eu\",\"batch\":\"custom\",\"n\":1}");
    o.manifest = V("");
    o.signature = V("");
    o.size = 600;
    o.key = V(KEY);
    o.prefix = V("http://ota.example.com/ota/v1/");
    o.expires = 1767229200;
    return o;
}


/* the old answer: NULL when ota_offer_json() gives none */
static char *
old_answer(const ota_offer_t *o)
{
    char    *s;
    json_t  *j;

    j = ota_offer_json(o, OTA_OFFER_HTTP);
    if (j == NULL) {
        return NULL;
    }

    s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    return s;
}


/* the new one, through the cache (c may be NULL: compiled once) */
static char *
new_answer(ota_offer_cache_t *c, const ota_offer_t *o, int *hit)
{
    int               h, fh;
    char             *s;
    size_t            len;
    ota_offer_pkg_t  *p, *fb;

    h = fh = 0;
    fb = NULL;

    p = ota_offer_cache_get(c, o, &h);
    if (p == NULL) {
        return NULL;
    }

    if (o->fallback != NULL) {
        fb = ota_offer_cache_get(c, o->fallback, &fh);
        if (fb == NULL) {
            ota_offer_pkg_release(p);
            return NULL;
        }
    }

    s = ota_offer_text(p, fb, o, test_alloc, NULL, &len);
    if (s != NULL) {
        s[len] = '\0';
    }

    if (hit != NULL) {
        *hit = h && (fb == NULL || fh);
    }

    ota_offer_pkg_release(p);
    ota_offer_pkg_release(fb);

    return s;
}


/* both NULL or both the same text */
static int
same(const ota_offer_t *o, const char *what)
{
    int    eq;
    char  *a, *b;

    a = old_answer(o);
    b = new_answer(cache, o, NULL);
    eq = (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);

    ok(eq, "%s", what);
    if (!eq) {
        printf("#   jansson: %s\n#   text:    %s\n", a ? a : "(null)",
               b ? b : "(null)");
    }

    free(a);
    free(b);
    return eq;
}


/* jansson's escaping of s, or NULL when json_stringn refuses it */
static char *
jansson_esc(const char *s, size_t len)
{
    char    *d;
    json_t  *j;

    j = json_stringn(s, len);
    if (j == NULL) {
        return NULL;
    }

    d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return d;
}


static int
esc_same(const char *s, size_t len)
{
    int     eq;
    char   *j, *e;
    size_t  n;

    j = jansson_esc(s, len);
    n = ota_json_esc_len(s, len);

    if (j == NULL || n == (size_t) -1) {
        eq = j == NULL && n == (size_t) -1;
        free(j);
        return eq;
    }

    e = malloc(n + 3);
    e[0] = '"';
    (void) ota_json_esc(e + 1, s, len);
    e[n + 1] = '"';
    e[n + 2] = '\0';

    eq = strlen(j) == n + 2 && memcmp(j, e, n + 2) == 0;
    if (!eq) {
        printf("#   jansson %s, text %s\n", j, e);
    }

    free(j);
    free(e);
    return eq;
}


static unsigned long  seed = 22;

static unsigned
rnd(unsigned n)
{
    seed = seed * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned) ((seed >> 33) % n);
}


int
main(void)
{
    int          i, hit, bad;
    char        *a, *b;
    ota_offer_t  o, full;

    cache = ota_offer_cache_new(64);
    ok(cache != NULL, "a cache");

    /* ---- jansson's escaping --------------------------------------------- */
    ok(esc_same("plain", 5), "escape: plain ASCII");
    ok(esc_same("q\"b\\s/", 6), "escape: quote, backslash, slash kept");
    ok(esc_same("\b\f\n\r\t\x01\x1f\x7f", 8), "escape: control characters");
    ok(esc_same("a\0b", 3), "escape: NUL as \\u0000");
    ok(esc_same("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
       "escape: UTF-8 kept as it is");
    ok(esc_same("\xc3", 1), "escape: a cut sequence refused as jansson does");
    ok(esc_same("\xc0\xaf", 2), "escape: overlong refused");
    ok(esc_same("\xed\xa0\x80", 3), "escape: a surrogate refused");
    ok(esc_same("\xf4\x90\x80\x80", 4), "escape: over U+10FFFF refused");
    ok(esc_same("\xe0\x80\xaf", 3), "escape: overlong of 3 refused");
    ok(esc_same("\xf0\x80\x80\xaf", 4), "escape: overlong of 4 refused");
    ok(esc_same("\x80", 1), "escape: a lone continuation refused");
    ok(esc_same("\xff", 1), "escape: 0xFF refused");

    for (bad = 0, i = 0; i < 20000; i++) {
        char      s[12];
        unsigned  n, k;

        n = rnd(sizeof(s) + 1);
        for (k = 0; k < n; k++) {
            /* mostly the interesting bytes */
            s[k] = rnd(4) == 0 ? (char) rnd(256)
                   : "\"\\\n\x01 a/\xc3\xa9\xe2\x82\xac\xf0\x9f"
                     "\x98\x80\xed\xa0\x80\xff"[rnd(20)];
        }
        if (!esc_same(s, n)) {
            bad++;
        }
    }
    is_int(bad, 0, "escape: 20000 random strings as jansson escapes them");

    /* ---- the answer: jansson's bytes ----------------------------------- */
    o = base_offer();
    same(&o, "one file, a custom batch key in the middle of ext");

    a = new_answer(cache, &o, &hit);
    ok(a != NULL && hit, "asked again: from the cache");
    b = old_answer(&o);
    ok(a && b && strcmp(a, b) == 0, "and the same text");
    free(a);
    free(b);

    o.ext = V("{\"batch\":\"x\",\"region\":\"eu\"}");
    same(&o, "ext: batch first");
    o.ext = V("{\"region\":\"eu\",\"batch\":\"x\"}");
    same(&o, "ext: batch last");
    o.ext = V("{\"region\":\"eu\"}");
    same(&o, "ext: no batch key");
    o.ext = V("{}");
    same(&o, "ext: empty object");
    o.ext = V("");
    same(&o, "ext: none");
    o.ext = V("[1,2]");
    same(&o, "ext: an array is not custom data");
    o.ext = V("{\"a\":");
    same(&o, "ext: not JSON");
    o.ext = V("{\"a\":1} x");
    same(&o, "ext: trailing text");
    o.ext = V("{\"a\":1,\"b\":2,\"a\":3}");
    same(&o, "ext: a key twice (the last value in the first place)");
    o.ext = V("{\"q\\\"k\":\"v\\\\\\n\",\"\\u00e9\\u20ac\":\"\\ud83d\\ude00\","
              "\"ctl\":\"\\u0001\\u001f\\u007f\",\"sl\":\"a/b\","
              "\"r\":1.5,\"r2\":0.1,\"r3\":1e300,\"r4\":-0.0,\"r5\":3.14159265,"
              "\"i\":-9223372036854775807,\"t\":true,\"f\":false,\"z\":null,"
              "\"o\":{\"batch\":\"inner\",\"l\":[1,{\"x\":\"y\"},[]]},"
              "\"batch\":\"custom\",\"last\":\"\"}");
    same(&o, "ext: escaping of odd names and values, reals, nesting");
    o.ext = V("{\"bad\":\"\\u0000\"}");
    same(&o, "ext: a NUL jansson refuses: no custom data");

    o = base_offer();
    o.version = V("1.0\"x\\y\n\xc3\xa9/\x01");
    same(&o, "an odd version escaped");
    o.version = V("1.0\xff");
    same(&o, "a version that is not UTF-8: no answer either way");
    o = base_offer();
    o.sign = V("ab/\"cd");
    o.files = V("[{\"name\":\"fw.bin\",\"size\":600,\"offset\":0}]");
    same(&o, "a file without a digest: the package's sign");
    o.files = V("[{\"name\":\"fw.bin\",\"size\":600,\"sign\":7}]");
    same(&o, "a digest that is not a string");
    o.files = V("[{\"name\":\"../x\",\"size\":5,\"sign\":\"2\"},"
                "{\"name\":\"a.bin\",\"size\":1.5,\"sign\":\"3\"},"
                "{\"name\":\"b.bin\",\"size\":-20,\"sign\":\"3\\u00e9\"},"
                "{\"name\":\"c.bin\",\"size\":30},"
                "{\"size\":30},7,\"x\",{\"name\":\"d.bin\",\"size\":1,"
                "\"sign\":\"d\",\"sign\":\"e\"}]");
    same(&o, "files: bad names and sizes left out, the first valid one "
         "gives size and sign");
    o.files = V("not json");
    o.type = V("");
    o.sign_method = V("");
    same(&o, "unreadable files, no type, no method");
    o.files = V("{\"name\":\"x\"}");
    same(&o, "files not a list");
    o.files = V("[]");
    o.type = V("DIFF");
    o.pkg_from = V("0.9");
    o.sign_method = V("MD5");
    same(&o, "type and method compared without regard to case");

    o = base_offer();
    o.type = V("diff");
    o.pkg_from = V("1.0.5");
    o.sign_method = V("md5");
    o.sign = V("ffff");
    o.files = V("[{\"name\":\"a.bin\",\"size\":10,\"sign\":\"1111\"},"
                "{\"name\":\"../x\",\"size\":5,\"sign\":\"2\"},"
                "{\"name\":\"b.bin\",\"size\":20,\"sign\":\"3333\"}]");
    o.ext = V("");
    o.size = 30;
    o.prefix = V("https://cdn.example.com/ota/v1");
    same(&o, "an MD5 diff of two files, a prefix without '/'");
    o.task_from = V("\xff");
    same(&o, "a diff does not use the task's from (not UTF-8: no matter)");
    o.type = V("full");
    same(&o, "a full package does: no answer either way");

    o = base_offer();
    o.manifest = V("eyJmb3JtYXQiOiJvdGEtbWFuaWZlc3QtMSJ9");
    o.signature = V("c2ln");
    same(&o, "a signed package: manifest and signature");
    o.signature = V("");
    same(&o, "a manifest without a signature");

    o = base_offer();
    o.prefix = V("http://h\"x\\y\xc3\xa9:80/ota/v1/");
    same(&o, "a Host needing escapes");
    o.prefix = V("http://h\xc3/");
    same(&o, "a Host that is not UTF-8: no answer either way");
    o.prefix = V("");
    same(&o, "no prefix: links from '/'");
    o = base_offer();
    o.batch = V("b\"1");
    o.module = V("m\\1");
    o.task_from = V("1.0\n");
    same(&o, "batch, module and from escaped");
    o.device = V("d\"ev");
    same(&o, "a device escaped in the links");
    o.device = V("0123456789012345678901234567890123456789012345678901234567890"
                 "12345");
    same(&o, "a device name over the limit: no answer either way");
    {
        static char  longp[OTA_OFFER_PREFIX_MAX + 2];

        memset(longp, 'a', sizeof(longp) - 1);
        o = base_offer();
        o.prefix.data = longp;
        o.prefix.len = sizeof(longp) - 1;
        same(&o, "a prefix over the limit: no answer either way");
        o.prefix.len--;
        same(&o, "a prefix at the limit");
    }

    /* ---- a diff with the full package as fallback ---------------------- */
    full = base_offer();
    full.manifest = V("bWFuLWZ1bGw=");
    full.signature = V("c2lnLWZ1bGw=");
    full.files = V("[{\"name\":\"fw.bin\",\"size\":500,\"sign\":\"aaaa\"},"
                   "{\"name\":\"fw2.bin\",\"size\":100,\"sign\":\"bbbb\"}]");
    o = base_offer();
    o.package = V("pkg-d");
    o.type = V("diff");
    o.pkg_from = V("1.0.0");
    o.sign = V("dddd");
    o.files = V("[{\"name\":\"fw.bin.zst\",\"size\":90,"
                "\"sign\":\"dddd\",\"offset\":0}]");
    o.size = 90;
    o.fallback = &full;
    same(&o, "a diff with its fallback (its own links, manifest)");
    a = new_answer(cache, &o, &hit);
    ok(a != NULL && hit, "a diff and its fallback from the cache");
    free(a);
    o.task_from = V("\xff");
    same(&o, "the fallback uses the task's from");
    o.task_from = V("0.9\t");
    same(&o, "escaped there too");

    /* ---- the cache never serves a changed record ----------------------- */
    o = base_offer();
    a = new_answer(cache, &o, &hit);
    free(a);
    o.ext = V("{\"region\":\"us\"}");
    a = new_answer(cache, &o, &hit);
    b = old_answer(&o);
    ok(!hit && a && b && strcmp(a, b) == 0 && strstr(a, "\"us\"") != NULL,
       "a changed ext: compiled again, the new value");
    free(a);
    free(b);
    {
        const char  *fields[] = { "version", "type", "from", "method", "sign",
                                  "files", "manifest", "signature", "size" };
        int          f;

        for (f = 0; f < 9; f++) {
            o = base_offer();
            free(new_answer(cache, &o, NULL));

            switch (f) {
            case 0: o.version = V("1.1.1"); break;
            case 1: o.type = V("diff"); break;
            case 2: o.type = V("diff"); o.pkg_from = V("x"); break;
            case 3: o.sign_method = V("md5"); break;
            case 4: o.sign = V("bbbb"); break;
            case 5: o.files = V("[]"); break;
            case 6: o.manifest = V("bQ=="); break;
            case 7: o.manifest = V("bQ=="); o.signature = V("cw=="); break;
            default: o.size = 601; break;
            }

            a = new_answer(cache, &o, &hit);
            b = old_answer(&o);
            ok(!hit && a && b && strcmp(a, b) == 0,
               "a changed %s: compiled again", fields[f]);
            free(a);
            free(b);
        }
    }

    /* ---- bounded; a held entry outlives its eviction ------------------- */
    {
        char              id[32];
        size_t            kept;
        uint64_t          gets, hits;
        ota_offer_pkg_t  *held;

        o = base_offer();
        held = ota_offer_cache_get(cache, &o, &hit);

        for (i = 0; i < 500; i++) {
            snprintf(id, sizeof(id), "pkg-%d", i + 100);
            o.package.data = id;
            o.package.len = strlen(id);
            ota_offer_pkg_release(ota_offer_cache_get(cache, &o, &hit));
        }

        ota_offer_cache_stats(cache, &gets, &hits, &kept);
        ok(kept <= 64, "500 packages: at most 64 kept (%zu)", kept);

        o = base_offer();
        a = ota_offer_text(held, NULL, &o, test_alloc, NULL,
                           &(size_t) { 0 });
        ok(a != NULL, "an entry held through its eviction still answers");
        free(a);
        ota_offer_pkg_release(held);

        a = new_answer(NULL, &o, &hit);
        ok(a != NULL && !hit, "no cache: compiled for the one answer");
        free(a);
    }

    /* ---- random records: always jansson's bytes ------------------------ */
    {
        static const char  *vers[] = { "1.0", "", "2.0\"q", "\xc3\xa9",
                                       "x\\y", "\xff" };
        static const char  *files[] = {
            "[{\"name\":\"a.bin\",\"size\":1,\"sign\":\"s\"}]",
            "[{\"name\":\"a.bin\",\"size\":1},{\"name\":\"b.bin\","
            "\"size\":2,\"sign\":\"t\"}]",
            "[]", "", "[{\"name\":\"/x\",\"size\":1}]", "{",
            "[{\"name\":\"a.bin\",\"size\":1,\"sign\":\"\\u00e9\\\"\"}]" };
        static const char  *exts[] = {
            "", "{\"batch\":1}", "{\"a\":[1.25,{\"b\":null}],\"batch\":\"c\","
            "\"d\":\"\\u2028\"}", "{\"k\":\"v\"}", "x", "{\"\\t\":0.3}" };
        static const char  *types[] = { "full", "diff", "", "Diff" };
        static const char  *methods[] = { "sha256", "md5", "", "Md5" };

        for (bad = 0, i = 0; i < 3000; i++) {
            char  *x, *y;

            o = base_offer();
            o.version.data = vers[rnd(6)];
            o.version.len = strlen(o.version.data);
            o.files.data = files[rnd(7)];
            o.files.len = strlen(o.files.data);
            o.ext.data = exts[rnd(6)];
            o.ext.len = strlen(o.ext.data);
            o.type.data = types[rnd(4)];
            o.type.len = strlen(o.type.data);
            o.sign_method.data = methods[rnd(4)];
            o.sign_method.len = strlen(o.sign_method.data);
            o.pkg_from.data = vers[rnd(6)];
            o.pkg_from.len = strlen(o.pkg_from.data);
            o.task_from.data = vers[rnd(6)];
            o.task_from.len = strlen(o.task_from.data);
            o.size = rnd(1000);
            if (rnd(2)) {
                o.manifest = V("bWFu");
                o.signature = V("c2ln");
            }
            o.fallback = rnd(3) == 0 ? &full : NULL;

            x = old_answer(&o);
            y = new_answer(cache, &o, NULL);
            if (!((x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0)))
            {
                if (bad++ == 0) {
                    printf("#   jansson: %s\n#   text:    %s\n",
                           x ? x : "(null)", y ? y : "(null)");
                }
            }
            free(x);
            free(y);
        }
        is_int(bad, 0, "3000 random records: the same answer as jansson's");
    }

    ota_offer_cache_free(cache);

    return done_testing();
}
