/* unit tests: package diff's checks and the delta itself (include/ota_delta):
 * the refusals before any work, and a delta that zstd's patch-from decodes
 * back into the exact new file */

#include "tap.h"
#include "ota_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

static ota_delta_side_t
side(const char *id, const char *prod, const char *mod, const char *ver,
    const char *type, const char *files)
{
    ota_delta_side_t  s;

    memset(&s, 0, sizeof(s));
    s.id = id;
    s.product = prod;
    s.module = mod;
    s.version = ver;
    s.type = type;
    s.files = files;
    return s;
}

static int
put(const char *path, const unsigned char *b, size_t n)
{
    FILE  *f = fopen(path, "wb");

    if (f == NULL || fwrite(b, 1, n, f) != n) {
        return -1;
    }
    return fclose(f);
}

static unsigned char *
get(const char *path, size_t *n)
{
    FILE           *f = fopen(path, "rb");
    unsigned char  *b;
    long            len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0) {
        return NULL;
    }
    rewind(f);
    b = malloc((size_t) len + 1);
    *n = fread(b, 1, (size_t) len, f);
    fclose(f);
    return b;
}

int
main(void)
{
    ota_delta_side_t  a, b;
    char              err[512], dir[] = "/tmp/ota-delta-XXXXXX";
    char              po[256], pn[256], pd[256];
    unsigned char    *old, *new, *d, *out;
    size_t            n, i, dn, N = 1 << 20;
    long long         dsize;
    double            ratio;
    int               level;
    ZSTD_DCtx        *dc;

    /* ---- options ---- */
    ok(ota_delta_level("19", &level, err, sizeof(err)) == 0 && level == 19,
       "level 19");
    ok(ota_delta_level("1", &level, err, sizeof(err)) == 0 && level == 1,
       "level 1");
    ok(ota_delta_level("0", &level, err, sizeof(err)) == -1
       && strstr(err, "1..19") != NULL, "level 0 refused with the range");
    ok(ota_delta_level("20", &level, err, sizeof(err)) == -1, "level 20");
    ok(ota_delta_level("3x", &level, err, sizeof(err)) == -1, "level 3x");
    ok(ota_delta_level("", &level, err, sizeof(err)) == -1, "level empty");
    ok(ota_delta_level(NULL, &level, err, sizeof(err)) == -1, "level NULL");
    ok(ota_delta_ratio("0.5", &ratio, err, sizeof(err)) == 0
       && ratio == 0.5, "ratio 0.5");
    ok(ota_delta_ratio("1", &ratio, err, sizeof(err)) == 0, "ratio 1");
    ok(ota_delta_ratio("0", &ratio, err, sizeof(err)) == -1
       && strstr(err, "0 < F <= 1") != NULL, "ratio 0 refused");
    ok(ota_delta_ratio("1.01", &ratio, err, sizeof(err)) == -1, "ratio 1.01");
    ok(ota_delta_ratio("nan", &ratio, err, sizeof(err)) == -1, "ratio nan");
    ok(ota_delta_ratio("-0.5", &ratio, err, sizeof(err)) == -1, "ratio < 0");

    /* ---- a side ---- */
    a = side("p1", "cam", "fw", "1.0.0", "full",
             "[{\"name\":\"fw.bin\",\"size\":100,\"sign\":\"x\"}]");
    ok(ota_delta_side(&a, "from", err, sizeof(err)) == 0
       && strcmp(a.file, "fw.bin") == 0 && a.size == 100,
       "a full package of one file: its name and size");
    b = side("d1", "cam", "fw", "1.0.0", "diff", a.files);
    ok(ota_delta_side(&b, "to", err, sizeof(err)) == -1
       && strstr(err, "is a diff") && strstr(err, "--to"), "a diff refused");
    b = side("p2", "cam", "fw", "1.0.0", "full",
             "[{\"name\":\"a.bin\",\"size\":1},{\"name\":\"b.bin\",\"size\":1}]");
    ok(ota_delta_side(&b, "from", err, sizeof(err)) == -1
       && strstr(err, "has 2 files"), "two files refused: %s", err);
    b = side("p3", "cam", "fw", "1.0.0", "full", "not json");
    ok(ota_delta_side(&b, "from", err, sizeof(err)) == -1
       && strstr(err, "has 0 files"), "unreadable files refused");
    b = side("p4", "cam", "fw", "1.0.0", "full", "[{\"size\":1}]");
    ok(ota_delta_side(&b, "from", err, sizeof(err)) == -1
       && strstr(err, "no file name"), "a file without a name refused");
    b = side("p5", "cam", "fw", "1.0.0", "full",
             "[{\"name\":\"../x.bin\",\"size\":1}]");
    ok(ota_delta_side(&b, "from", err, sizeof(err)) == -1,
       "a file name with a slash refused");

    /* ---- a pair ---- */
    a = side("p1", "cam", "fw", "1.0.0", "full", NULL);
    b = side("p2", "cam", "fw", "1.10.0", "full", NULL);
    ok(ota_delta_pair(&a, &b, err, sizeof(err)) == 0,
       "1.0.0 -> 1.10.0 of one module (numeric order)");
    ok(ota_delta_pair(&b, &a, err, sizeof(err)) == -1
       && strstr(err, "not below"), "from above to refused");
    ok(ota_delta_pair(&a, &a, err, sizeof(err)) == -1, "the same version");
    b = side("p2", "cam", "boot", "2.0.0", "full", NULL);
    ok(ota_delta_pair(&a, &b, err, sizeof(err)) == -1
       && strstr(err, "not of one module"), "another module refused");
    b = side("p2", "door", "fw", "2.0.0", "full", NULL);
    ok(ota_delta_pair(&a, &b, err, sizeof(err)) == -1
       && strstr(err, "not of one module"), "another product refused");
    b = side("p2", "cam", "fw", "2.0", "full", NULL);
    ok(ota_delta_pair(&a, &b, err, sizeof(err)) == -1,
       "a malformed version refused");

    /* ---- the size limit ---- */
    b = side("p2", "cam", "fw", "2.0.0", "full", NULL);
    b.size = 1000;
    ok(ota_delta_size_ok(&a, &b, 500, 0.5, err, sizeof(err)) == 0,
       "a delta at the limit kept");
    ok(ota_delta_size_ok(&a, &b, 501, 0.5, err, sizeof(err)) == -1
       && strstr(err, "better served the full package"),
       "a delta over the limit refused");

    /* ---- the delta: decodes back into the exact new file ---- */
    ok(mkdtemp(dir) != NULL, "a temporary directory");
    snprintf(po, sizeof(po), "%s/old.bin", dir);
    snprintf(pn, sizeof(pn), "%s/new.bin", dir);
    snprintf(pd, sizeof(pd), "%s/new.bin.zst", dir);
    old = malloc(N);
    new = malloc(N);
    srand(7);
    for (i = 0; i < N; i++) {
        old[i] = (unsigned char) rand();
    }
    memcpy(new, old, N);
    for (i = 0; i < N; i += 4096) {     /* a few changed bytes */
        new[i] ^= 0x5a;
    }
    ok(put(po, old, N) == 0 && put(pn, new, N) == 0, "two 1 MB files");
    ok(ota_delta_make(po, pn, pd, 3, &dsize, err, sizeof(err)) == 0,
       "the delta is made: %s", err);
    ok(dsize > 0 && dsize < (long long) N / 10,
       "a random file with a few changes: the delta is small (%lld)", dsize);
    d = get(pd, &dn);
    ok(d != NULL && (long long) dn == dsize, "its size as told");
    out = malloc(N);
    dc = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 31);
    ZSTD_DCtx_refPrefix(dc, old, N);
    n = d ? ZSTD_decompressDCtx(dc, out, N, d, dn) : 0;
    ok(!ZSTD_isError(n) && n == N && memcmp(out, new, N) == 0,
       "patch-from the old file gives the exact new bytes");
    ZSTD_freeDCtx(dc);
    ok(ota_delta_make(po, pn, pd, 3, &dsize, err, sizeof(err)) == -1
       && strstr(err, "cannot write"), "an existing output is not replaced");
    unlink(pd);
    snprintf(pd, sizeof(pd), "%s/missing.bin", dir);
    ok(ota_delta_make(pd, pn, po, 3, &dsize, err, sizeof(err)) == -1
       && strstr(err, "cannot read"), "a missing old file refused");
    ok(access(po, F_OK) == 0, "and the existing file left alone");
    snprintf(pd, sizeof(pd), "%s/empty.bin", dir);
    put(pd, old, 0);
    ok(ota_delta_make(pd, pn, "/nonexistent/x", 3, &dsize, err,
                      sizeof(err)) == -1 && strstr(err, "empty"),
       "an empty old file refused");
    unlink(pd);
    snprintf(pd, sizeof(pd), "%s/x.zst", dir);
    ok(ota_delta_make(po, pn, pd, 25, &dsize, err, sizeof(err)) == -1
       && access(pd, F_OK) != 0, "a bad level: refused, no file left");

    unlink(po);
    unlink(pn);
    rmdir(dir);
    free(old);
    free(new);
    free(out);
    free(d);
    return done_testing();
}
