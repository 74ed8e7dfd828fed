/* ota_store.c: placing a package's files in the store (ota_store.h) */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                 /* sync_file_range */
#endif

#include "ota_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ota_fields.h"


static int
ota_store_fail(char *err, size_t len, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}


/* a path too long to fit is refused, never cut */
static int
ota_store_path(char *buf, size_t len, const char *fmt, const char *a,
    const char *b)
{
    int  n = snprintf(buf, len, fmt, a, b);

    return (n < 0 || (size_t) n >= len) ? -1 : 0;
}


static void
ota_store_hex(const unsigned char *d, unsigned int n, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned int       i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }
    out[2 * n] = '\0';
}


int
ota_store_file_open(ota_store_file_t *f, const char *dir, const char *name,
    int md5)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->md5 = md5;

    if (ota_store_path(f->tmp, sizeof(f->tmp), "%s/.%s.tmp", dir, name) != 0
        || ota_store_path(f->dst, sizeof(f->dst), "%s/%s", dir, name) != 0)
    {
        f->tmp[0] = '\0';
        return ota_store_fail(f->err, sizeof(f->err), "path too long in %s",
                              dir);
    }

    f->sha = EVP_MD_CTX_new();
    f->mdc = md5 ? EVP_MD_CTX_new() : NULL;
    if (f->sha == NULL || (md5 && f->mdc == NULL)
        || EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL) != 1
        || (md5 && EVP_DigestInit_ex(f->mdc, EVP_md5(), NULL) != 1))
    {
        f->tmp[0] = '\0';
        ota_store_file_abort(f);
        return ota_store_fail(f->err, sizeof(f->err), "cannot start the "
                              "digest");
    }

    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int  e = errno;

        f->tmp[0] = '\0';           /* not ours: never unlinked */
        ota_store_file_abort(f);
        return ota_store_fail(f->err, sizeof(f->err), "cannot write %s/.%s"
                              ".tmp: %s", dir, name, strerror(e));
    }
    return 0;
}


int
ota_store_file_write(ota_store_file_t *f, const void *data, size_t len)
{
    const char  *p = data;
    size_t       w;
    ssize_t      k;

    if (EVP_DigestUpdate(f->sha, data, len) != 1
        || (f->mdc != NULL && EVP_DigestUpdate(f->mdc, data, len) != 1))
    {
        return ota_store_fail(f->err, sizeof(f->err), "digest failed");
    }

    for (w = 0; w < len; ) {
        k = write(f->fd, p + w, len - w);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return ota_store_fail(f->err, sizeof(f->err), "cannot write %s: "
                                  "%s", f->tmp, strerror(errno));
        }
        w += (size_t) k;
    }
    f->size += (long long) len;

#ifdef SYNC_FILE_RANGE_WRITE
    /* start the writeback of what is written (without waiting for it), so
     * the sync at the end does not find a whole file to write */
    if (f->size - f->kicked >= OTA_STORE_KICK) {
        (void) sync_file_range(f->fd, f->kicked, f->size - f->kicked,
                               SYNC_FILE_RANGE_WRITE);
        f->kicked = f->size;
    }
#endif
    return 0;
}


int
ota_store_file_close(ota_store_file_t *f, char *sha, char *md5)
{
    unsigned char  d[EVP_MAX_MD_SIZE];
    unsigned int   n;

    if (EVP_DigestFinal_ex(f->sha, d, &n) != 1) {
        ota_store_file_abort(f);
        return ota_store_fail(f->err, sizeof(f->err), "digest failed");
    }
    ota_store_hex(d, n, sha);
    if (f->mdc != NULL) {
        if (EVP_DigestFinal_ex(f->mdc, d, &n) != 1) {
            ota_store_file_abort(f);
            return ota_store_fail(f->err, sizeof(f->err), "digest failed");
        }
        if (md5 != NULL) {
            ota_store_hex(d, n, md5);
        }
    }

    if (fsync(f->fd) != 0 || fchmod(f->fd, 0444) != 0) {
        ota_store_fail(f->err, sizeof(f->err), "cannot sync %s: %s", f->tmp,
                 strerror(errno));
        ota_store_file_abort(f);
        return -1;
    }
    if (rename(f->tmp, f->dst) != 0) {
        ota_store_fail(f->err, sizeof(f->err), "cannot rename %s: %s", f->tmp,
                 strerror(errno));
        ota_store_file_abort(f);
        return -1;
    }
    f->tmp[0] = '\0';               /* in place: nothing to remove */
    ota_store_file_abort(f);
    return 0;
}


void
ota_store_file_abort(ota_store_file_t *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->tmp[0] != '\0') {
        unlink(f->tmp);
        f->tmp[0] = '\0';
    }
    EVP_MD_CTX_free(f->sha);
    EVP_MD_CTX_free(f->mdc);
    f->sha = NULL;
    f->mdc = NULL;
}


void
ota_store_sync_dir(const char *dir)
{
    int  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void) fsync(fd);
        close(fd);
    }
}


int
ota_store_manifest(const char *dir, json_t *m, char *err, size_t errlen)
{
    char    tmp[OTA_STORE_PATH_MAX], dst[OTA_STORE_PATH_MAX], *s;
    int     fd, rc = -1;
    size_t  len;

    if (ota_store_path(tmp, sizeof(tmp), "%s/.%s.tmp", dir,
                       OTA_MANIFEST_NAME) != 0
        || ota_store_path(dst, sizeof(dst), "%s/%s", dir, OTA_MANIFEST_NAME)
           != 0)
    {
        return ota_store_fail(err, errlen, "path too long in %s", dir);
    }
    s = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s == NULL) {
        return ota_store_fail(err, errlen, "out of memory");
    }
    len = strlen(s);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (fd < 0 || write(fd, s, len) != (ssize_t) len
        || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
    {
        ota_store_fail(err, errlen, "cannot write %s: %s", tmp,
                       strerror(errno));
        if (fd >= 0) {
            unlink(tmp);
        }
    } else if (rename(tmp, dst) != 0) {
        ota_store_fail(err, errlen, "cannot rename %s: %s", tmp,
                       strerror(errno));
        unlink(tmp);
    } else {
        rc = 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    free(s);
    if (rc == 0) {
        ota_store_sync_dir(dir);    /* the rename itself must reach the disk */
    }
    return rc;
}


int
ota_store_rmtree(const char *dir)
{
    DIR            *d;
    struct dirent  *e;
    char            p[OTA_STORE_PATH_MAX];

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (ota_store_path(p, sizeof(p), "%s/%s", dir, e->d_name) == 0) {
            unlink(p);
        }
    }
    closedir(d);
    return rmdir(dir);
}
