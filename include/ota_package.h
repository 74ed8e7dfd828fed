/*
 * ota_package.h: a package as an admin adds it (`otactl package add`,
 * `POST packages`): the checks of its fields and files, its id, its
 * manifest and its Redis record, shared by otactl and the admin API so
 * both refuse the same things and place a package in the store the same
 * way:
 *
 *   1. the fields are checked (ota_package_check), every file's name,
 *      extension and size too (ota_package_check_file_*), against the
 *      platform's settings (ota_settings.h);
 *   2. the files are placed as include/ota_store.h says (a temporary name
 *      while the digests are computed, synced, read-only, renamed), the
 *      manifest (ota_package_manifest()) last, in <store>/<id>
 *      (ota_package_id(); a random id when the readable one is taken on
 *      disk);
 *   3. lua/admin/package_add.lua writes the record (the fields of
 *      ota_package_record()) in the package's slot (ota_package_slot()),
 *      refusing in the same step a version that exists, also one that
 *      another upload registered meanwhile: the caller then removes its
 *      directory.  Any refusal from step 2 on removes the directory.
 */

#ifndef OTA_PACKAGE_H
#define OTA_PACKAGE_H

#include <stddef.h>

#include <jansson.h>

#include "ota_check.h"
#include "ota_names.h"
#include "ota_settings.h"
#include "ota_version.h"

#define OTA_PKG_FILES_MAX   64
#define OTA_PKG_EXT_MAX     64          /* custom key=value pairs */
#define OTA_PKG_NAME_MAX    128
#define OTA_PKG_EXT_KEY_MAX 64
#define OTA_PKG_FILE_NAME_MAX 128

/* the digest of a file, as hex (sha256 is the longer) */
#define OTA_PKG_SIGN_MAX    64

typedef struct {
    /* as given (NULL when absent) */
    const char   *product;
    const char   *module;
    const char   *name;
    const char   *version;
    const char   *type;                 /* full (default) | diff */
    const char   *from;                 /* diff only */
    const char   *sign;                 /* md5 | sha256 (default) */
    const char   *desc;
    int           verify;
    const char   *ext[OTA_PKG_EXT_MAX]; /* "key=value" */
    int           next;

    /* filled by ota_package_check() */
    char          vbuf[OTA_VERSION_STR_MAX];  /* canonical version */
    char          fbuf[OTA_VERSION_STR_MAX];  /* canonical from, or "" */
    int           md5;                        /* 1: md5, 0: sha256 */
    json_t       *ext_json;                   /* owned: ota_package_free */
} ota_package_t;

typedef struct {
    char          name[OTA_PKG_FILE_NAME_MAX + 1];
    long long     size;
    long long     offset;               /* in the package's byte space */
    char          sign[OTA_PKG_SIGN_MAX + 1];
} ota_package_file_t;

void ota_package_init(ota_package_t *p);
void ota_package_free(ota_package_t *p);

/* the number of files: at least one, at most OTA_PKG_FILES_MAX */
int ota_package_check_nfiles(ota_check_t *c, int n);

/* every field (not the files); fills the canonical values */
int ota_package_check(ota_check_t *c, ota_package_t *p);

/* a file's name: valid, an accepted extension, not given twice (names:
 * the n files before it) */
int ota_package_check_file_name(ota_check_t *c, const ota_settings_t *s,
    const char *name, const ota_package_file_t *before, int n);

/* a file's size (label: what to call it in the message, its path for
 * otactl, its name for the API): not empty, at most the limit; size -1:
 * an upload went over the limit (its whole size is not known) */
int ota_package_check_file_size(ota_check_t *c, const ota_settings_t *s,
    const char *label, long long size);

/* the readable id "<product>-<module>-<version>" (a diff:
 * "<product>-<module>-<from>-<version>") with dots as "_" into id
 * (OTA_NAME_MAX + 1 bytes); "" when that is no valid id (too long) */
void ota_package_id(const ota_package_t *p, char *id);

/* the package's slot in OTA_KEY_PRODUCT_PKGVER after "<module>:": its
 * version, or "<from>><version>" for a diff (OTA_PKG_SLOT_MAX bytes) */
#define OTA_PKG_SLOT_MAX  (2 * OTA_VERSION_STR_MAX + 2)
void ota_package_slot(const ota_package_t *p, char *slot);

/* a random id "pkg-<16 hex>" from 8 random bytes (rnd) */
void ota_package_random_id(const unsigned char *rnd, char *id);

/* manifest.json's object (docs/redis-schema.md, "Package store") */
json_t *ota_package_manifest(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n);

/*
 * The record's fields and values in the order they are written, for
 * package_add.lua: fields[i] / values[i], i < *count (at most
 * OTA_PKG_RECORD_MAX).  The values point into p, files_json, ext_json,
 * id and bufs (which must live until the command is sent).
 */
#define OTA_PKG_RECORD_MAX  18
typedef struct {
    char          size[24];
    char          created[24];
} ota_package_record_bufs_t;

int ota_package_record(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n, const char *files_json,
    const char *ext_json, long long created, ota_package_record_bufs_t *bufs,
    const char **fields, const char **values);

/* the package's state when it is added */
const char *ota_package_initial_state(const ota_package_t *p);

/* what `otactl package add --json` and POST packages answer */
json_t *ota_package_added_json(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n);

#endif /* OTA_PACKAGE_H */
