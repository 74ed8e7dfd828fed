/*
 * otactl_delta.c: the delta of a new file against an old one with zstd's
 * patch-from (docs/delta.md): the old file is the compressor's prefix, so
 * whatever the new file shares with it costs a reference, found across
 * the whole file by long-distance matching.  The result is a plain zstd
 * frame that `zstd -d --patch-from=OLD` (and ZSTD_DCtx_refPrefix) turns
 * back into the new file; it is decoded once here and compared before it
 * is kept.
 *
 * Both files are mapped whole: package files are bounded (package_max_mb)
 * and this runs on the admin's machine, not on a node.
 */

#include "otactl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

typedef struct {
    const char  *path;
    void        *data;
    size_t       size;
} otactl_map_t;


static int
otactl_map(otactl_map_t *m, const char *path)
{
    struct stat  st;
    int          fd;

    m->path = path;
    m->data = NULL;
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        otactl_fail("cannot read %s: %s", path,
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
        otactl_fail("cannot map %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}


static void
otactl_unmap(otactl_map_t *m)
{
    if (m->data != NULL) {
        munmap(m->data, m->size);
    }
}


/* the window covers the larger file, as zstd --patch-from chooses it */
static int
otactl_delta_wlog(size_t a, size_t b)
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
otactl_delta_check(const void *delta, size_t dlen, otactl_map_t *old,
    otactl_map_t *new, int wlog)
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
otactl_delta_make(const char *oldp, const char *newp, const char *outp,
    int level, long long *size)
{
    otactl_map_t  old, new;
    ZSTD_CCtx    *c = NULL;
    void         *dst = NULL;
    size_t        cap, n = 0, w;
    ssize_t       k;
    int           fd = -1, rc = -1, wlog;

    memset(&old, 0, sizeof(old));
    memset(&new, 0, sizeof(new));
    if (otactl_map(&old, oldp) != 0 || otactl_map(&new, newp) != 0) {
        goto done;
    }

    wlog = otactl_delta_wlog(old.size, new.size);
    cap = ZSTD_compressBound(new.size);
    dst = malloc(cap);
    c = ZSTD_createCCtx();
    if (dst == NULL || c == NULL) {
        otactl_fail("out of memory for the delta of %s", newp);
        goto done;
    }

#define otactl_zset(p, v)                                                    \
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, p, v))) {                     \
        otactl_fail("zstd refused " #p " %d", (int) (v));                    \
        goto done;                                                           \
    }

    otactl_zset(ZSTD_c_compressionLevel, level)
    otactl_zset(ZSTD_c_enableLongDistanceMatching, 1)
    otactl_zset(ZSTD_c_windowLog, wlog)
    otactl_zset(ZSTD_c_checksumFlag, 1)

#undef otactl_zset

    if (ZSTD_isError(ZSTD_CCtx_refPrefix(c, old.data, old.size))
        || ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, new.size)))
    {
        otactl_fail("zstd refused %s as the delta's base", oldp);
        goto done;
    }
    n = ZSTD_compress2(c, dst, cap, new.data, new.size);
    if (ZSTD_isError(n)) {
        otactl_fail("zstd: %s", ZSTD_getErrorName(n));
        goto done;
    }
    if (otactl_delta_check(dst, n, &old, &new, wlog) != 0) {
        otactl_fail("the delta of %s does not decode back into it", newp);
        goto done;
    }

    fd = open(outp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        otactl_fail("cannot write %s: %s", outp, strerror(errno));
        goto done;
    }
    for (w = 0; w < n; ) {
        k = write(fd, (char *) dst + w, n - w);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            otactl_fail("cannot write %s: %s", outp, strerror(errno));
            goto done;
        }
        w += (size_t) k;
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
    otactl_unmap(&old);
    otactl_unmap(&new);
    return rc;
}
