/*
 * ota_delta.c: the delta of a new file against an old one with zstd's
 * patch-from (docs/delta.md): the old file is the compressor's prefix, so
 * whatever the new file shares with it costs a reference, found across
 * the whole file by long-distance matching.  The result is a plain zstd
 * frame that `zstd -d --patch-from=OLD` (and ZSTD_DCtx_refPrefix) turns
 * back into the new file; it is decoded once here and compared before it
 * is kept.  And the checks that refuse a pair before that work.
 *
 * Both files are mapped whole: package files are bounded (package_max_mb).
 */

#include "ota_delta.h"
#include "ota_version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zstd.h>

typedef struct {
    void    *data;
    size_t   size;
} ota_delta_map_t;


static int
ota_delta_err(char *err, size_t elen, const char *fmt, ...)
{
    va_list  ap;

    if (elen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, elen, fmt, ap);
        va_end(ap);
    }
    return -1;
}


int
ota_delta_level(const char *s, int *level, char *err, size_t elen)
{
    char  *end;
    long   v;

    errno = 0;
    v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || *end || end == s || errno || v < 1 || v > 19) {
        return ota_delta_err(err, elen, "invalid --level \"%s\" (1..19)",
                             s != NULL ? s : "");
    }
    *level = (int) v;
    return 0;
}


int
ota_delta_ratio(const char *s, double *ratio, char *err, size_t elen)
{
    char    *end;
    double   v;

    v = s != NULL ? strtod(s, &end) : 0;
    if (s == NULL || *end || end == s || !(v > 0 && v <= 1)) {
        return ota_delta_err(err, elen, "invalid --max-ratio \"%s\" (a "
                             "fraction of the full file, 0 < F <= 1)",
                             s != NULL ? s : "");
    }
    *ratio = v;
    return 0;
}


int
ota_delta_side(ota_delta_side_t *s, const char *what, char *err, size_t elen)
{
    json_t      *files, *f;
    const char  *name;
    size_t       n;

    if (s->type != NULL && strcmp(s->type, "diff") == 0) {
        return ota_delta_err(err, elen, "package %s (--%s) is a diff: "
                             "deltas are made between full packages", s->id,
                             what);
    }
    files = json_loads(s->files != NULL ? s->files : "", 0, NULL);
    n = json_array_size(files);
    if (n != 1) {
        json_decref(files);
        return ota_delta_err(err, elen, "package %s (--%s) has %zu files: "
                             "package diff takes packages of one file",
                             s->id, what, n);
    }
    f = json_array_get(files, 0);
    name = json_string_value(json_object_get(f, "name"));
    s->size = json_integer_value(json_object_get(f, "size"));
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL
        || strlen(name) + sizeof(".zst") > sizeof(s->file))
    {
        json_decref(files);
        return ota_delta_err(err, elen, "package %s: no file name in its "
                             "record", s->id);
    }
    snprintf(s->file, sizeof(s->file), "%s", name);
    json_decref(files);
    return 0;
}


int
ota_delta_pair(const ota_delta_side_t *from, const ota_delta_side_t *to,
    char *err, size_t elen)
{
    ota_version_t  vo, vn;

    if (strcmp(from->product, to->product) != 0
        || strcmp(from->module, to->module) != 0)
    {
        return ota_delta_err(err, elen, "packages %s (product %s module %s) "
                             "and %s (product %s module %s) are not of one "
                             "module", from->id, from->product, from->module,
                             to->id, to->product, to->module);
    }
    if (ota_version_parse_cstr(from->version, &vo) != 0
        || ota_version_parse_cstr(to->version, &vn) != 0
        || ota_version_cmp(&vo, &vn) >= 0)
    {
        return ota_delta_err(err, elen, "--from %s is version %s, not below "
                             "--to %s's %s", from->id, from->version, to->id,
                             to->version);
    }
    return 0;
}


int
ota_delta_size_ok(const ota_delta_side_t *from, const ota_delta_side_t *to,
    long long dsize, double ratio, char *err, size_t elen)
{
    if ((double) dsize > ratio * (double) to->size) {
        return ota_delta_err(err, elen, "the delta of %s from %s is %lld "
                             "bytes, %.3f of the full file's %lld (limit "
                             "%.3f: --max-ratio or delta_max_ratio): devices "
                             "are better served the full package", to->id,
                             from->id, dsize,
                             to->size > 0
                             ? (double) dsize / (double) to->size : 0.0,
                             to->size, ratio);
    }
    return 0;
}


static int
ota_delta_map(ota_delta_map_t *m, const char *path, char *err, size_t elen)
{
    struct stat  st;
    int          fd;

    m->data = NULL;
    errno = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        ota_delta_err(err, elen, "cannot read %s: %s", path,
                      fd < 0 || errno ? strerror(errno) : "empty");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    m->size = (size_t) st.st_size;
    m->data = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->data == MAP_FAILED) {
        m->data = NULL;
        return ota_delta_err(err, elen, "cannot map %s: %s", path,
                             strerror(errno));
    }
    return 0;
}


static void
ota_delta_unmap(ota_delta_map_t *m)
{
    if (m->data != NULL) {
        munmap(m->data, m->size);
    }
}


/* the window covers the larger file, as zstd --patch-from chooses it */
static int
ota_delta_wlog(size_t a, size_t b)
{
    size_t       n = a > b ? a : b;
    int          w = 0;
    ZSTD_bounds  lim = ZSTD_cParam_getBounds(ZSTD_c_windowLog);

    while (w < 62 && ((size_t) 1 << w) < n) {
        w++;
    }
    w++;
    if (w < lim.lowerBound) {
        w = lim.lowerBound;
    }
    return w > lim.upperBound ? lim.upperBound : w;
}


/* the delta decodes back into the new file */
static int
ota_delta_check(const void *delta, size_t dlen, ota_delta_map_t *old,
    ota_delta_map_t *new, int wlog)
{
    ZSTD_DCtx  *d;
    void       *out;
    size_t      n;
    int         ok = 0;

    d = ZSTD_createDCtx();
    out = malloc(new->size);
    if (d != NULL && out != NULL
        && !ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, wlog))
        && !ZSTD_isError(ZSTD_DCtx_refPrefix(d, old->data, old->size)))
    {
        n = ZSTD_decompressDCtx(d, out, new->size, delta, dlen);
        ok = !ZSTD_isError(n) && n == new->size
             && memcmp(out, new->data, n) == 0;
    }
    free(out);
    ZSTD_freeDCtx(d);
    return ok ? 0 : -1;
}


int
ota_delta_make(const char *oldp, const char *newp, const char *outp,
    int level, long long *size, char *err, size_t elen)
{
    ota_delta_map_t  old, new;
    ZSTD_CCtx       *c = NULL;
    void            *dst = NULL;
    size_t           cap, n = 0, w;
    ssize_t          k;
    int              fd = -1, rc = -1, wlog;

    memset(&old, 0, sizeof(old));
    memset(&new, 0, sizeof(new));
    if (level < 1 || level > 19) {     /* zstd would clamp it silently */
        return ota_delta_err(err, elen, "invalid level %d (1..19)", level);
    }
    if (ota_delta_map(&old, oldp, err, elen) != 0
        || ota_delta_map(&new, newp, err, elen) != 0)
    {
        goto done;
    }

    wlog = ota_delta_wlog(old.size, new.size);
    cap = ZSTD_compressBound(new.size);
    dst = malloc(cap);
    c = ZSTD_createCCtx();
    if (dst == NULL || c == NULL) {
        ota_delta_err(err, elen, "out of memory for the delta of %s", newp);
        goto done;
    }

#define ota_delta_zset(p, v)                                                 \
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, p, v))) {                     \
        ota_delta_err(err, elen, "zstd refused " #p " %d", (int) (v));       \
        goto done;                                                           \
    }

    ota_delta_zset(ZSTD_c_compressionLevel, level)
    ota_delta_zset(ZSTD_c_enableLongDistanceMatching, 1)
    ota_delta_zset(ZSTD_c_windowLog, wlog)
    ota_delta_zset(ZSTD_c_checksumFlag, 1)

#undef ota_delta_zset

    if (ZSTD_isError(ZSTD_CCtx_refPrefix(c, old.data, old.size))
        || ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, new.size)))
    {
        ota_delta_err(err, elen, "zstd refused %s as the delta's base", oldp);
        goto done;
    }
    n = ZSTD_compress2(c, dst, cap, new.data, new.size);
    if (ZSTD_isError(n)) {
        ota_delta_err(err, elen, "zstd: %s", ZSTD_getErrorName(n));
        goto done;
    }
    if (ota_delta_check(dst, n, &old, &new, wlog) != 0) {
        ota_delta_err(err, elen, "the delta of %s does not decode back into "
                      "it", newp);
        goto done;
    }

    fd = open(outp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        ota_delta_err(err, elen, "cannot write %s: %s", outp,
                      strerror(errno));
        goto done;
    }
    for (w = 0; w < n; ) {
        k = write(fd, (char *) dst + w, n - w);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            ota_delta_err(err, elen, "cannot write %s: %s", outp,
                          k < 0 ? strerror(errno) : "short write");
            goto done;
        }
        w += (size_t) k;
    }
    if (fsync(fd) != 0) {
        ota_delta_err(err, elen, "cannot write %s: %s", outp,
                      strerror(errno));
        goto done;
    }
    *size = (long long) n;
    rc = 0;

done:
    if (fd >= 0) {
        close(fd);
        if (rc != 0) {
            unlink(outp);
        }
    }
    ZSTD_freeCCtx(c);
    free(dst);
    ota_delta_unmap(&old);
    ota_delta_unmap(&new);
    return rc;
}
