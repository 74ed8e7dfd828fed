/*
 * ota_store.h: placing a package's files in the store, the one way
 * otactl (`package add`, `package diff`) and the admin API's upload
 * (`POST packages`) do it (docs/redis-schema.md, "Package store"):
 *
 *   - each file is written to <dir>/.<name>.tmp while its digests are
 *     computed on the bytes as they are written (sha256 always: the
 *     manifest names it; md5 when the package's sign method is md5), then
 *     synced, made read-only (0444) and renamed to <dir>/<name>;
 *   - manifest.json is written last (temporary name, fsync, rename, and
 *     the directory synced so the rename itself is on disk);
 *   - on a failure the directory is removed (ota_store_rmtree).
 *
 * Writes go straight to the file (the caller buffers: otactl reads 64 KiB
 * at a time, the module gathers a request's pieces into 256 KiB), and
 * every OTA_STORE_KICK bytes the kernel is asked to start writing them
 * back (sync_file_range, which does not wait), so that the fsync at the
 * end has little left to do: for speed, and so that the module's event
 * loop is never held long by one sync.  Plain C on POSIX and OpenSSL.
 */

#ifndef OTA_STORE_H
#define OTA_STORE_H

#include <stddef.h>

#include <jansson.h>

#define OTA_STORE_PATH_MAX   4096
#define OTA_STORE_KICK       (8 << 20)
#define OTA_STORE_ERR_MAX    320

typedef struct {
    int         fd;                 /* -1 when not open */
    int         md5;                /* an md5 digest too */
    long long   size;               /* bytes written */
    long long   kicked;             /* bytes handed to writeback */
    void       *sha;                /* EVP_MD_CTX * */
    void       *mdc;                /* EVP_MD_CTX *, md5 */
    char        tmp[OTA_STORE_PATH_MAX];
    char        dst[OTA_STORE_PATH_MAX];
    char        err[OTA_STORE_ERR_MAX];
} ota_store_file_t;

/* creates <dir>/.<name>.tmp (exclusive); md5: compute an md5 as well.
 * 0, or -1 with the reason in f->err (nothing left behind) */
int ota_store_file_open(ota_store_file_t *f, const char *dir,
    const char *name, int md5);

/* appends len bytes and digests them: 0, or -1 with the reason */
int ota_store_file_write(ota_store_file_t *f, const void *data, size_t len);

/* syncs, makes read-only, renames into place; the digests as hex into
 * sha (65 bytes) and, when md5 was asked for, md5 (33 bytes, else
 * untouched): 0, or -1 with the reason (the temporary file removed) */
int ota_store_file_close(ota_store_file_t *f, char *sha, char *md5);

/* closes and removes the temporary file (any state; twice is harmless) */
void ota_store_file_abort(ota_store_file_t *f);

/* writes m as <dir>/manifest.json, last (temporary name, fsync, rename,
 * directory fsync): 0, or -1 with the reason in err (errlen bytes) */
int ota_store_manifest(const char *dir, json_t *m, char *err, size_t errlen);

/* removes dir and the files in it (a package directory has no
 * subdirectories): 0, or -1 */
int ota_store_rmtree(const char *dir);

/* fsyncs a directory (after a rename into it); errors are ignored */
void ota_store_sync_dir(const char *dir);

#endif /* OTA_STORE_H */
