/*
 * ota_settings.h: the platform's parameters (the manual's "system
 * configuration -> parameter management"): which file extensions a
 * package may have and how large each file may be.  They live in Redis
 * (OTA_KEY_CONFIG, one field per setting) and are read alike by otactl,
 * the admin API's upload and the console; a setting never written has its
 * default.  `otactl config set` and `PUT config` check a value with
 * ota_settings_set(), so a bad one is refused the same way by both.
 *
 *   package.max_size     bytes per package file: "2000MB", "1g", "500000"
 *                        (B, KB, MB, GB; K = 1024), 1 byte .. 1 TB;
 *                        default 1000MB
 *   package.extensions   accepted endings: ".bin,.zip" or ".bin .zip"
 *                        (compared without regard to case); default
 *                        .bin .dav .tar .gz .zip .gzip .apk .tar.gz
 *                        .tar.xz .pack
 */

#ifndef OTA_SETTINGS_H
#define OTA_SETTINGS_H

#include <stddef.h>

#include "ota_check.h"

#define OTA_SET_MAX_SIZE       "package.max_size"
#define OTA_SET_EXTENSIONS     "package.extensions"

#define OTA_SETTINGS_EXTS_DEFAULT \
    ".bin .dav .tar .gz .zip .gzip .apk .tar.gz .tar.xz .pack"
#define OTA_SETTINGS_MAX_SIZE_DEFAULT  (1000LL * 1024 * 1024)
#define OTA_SETTINGS_MAX_SIZE_LIMIT    (1024LL * 1024 * 1024 * 1024)

#define OTA_SETTINGS_EXTS_MAX   1024     /* bytes of the stored list */
#define OTA_SETTINGS_EXT_LEN    32       /* bytes of one extension */

typedef struct {
    char        exts[OTA_SETTINGS_EXTS_MAX];  /* ".bin .zip": lower case,
                                                 space separated */
    long long   max_size;                     /* bytes per file */
    unsigned    stored;                       /* bit per setting: from
                                                 Redis, not the default */
} ota_settings_t;

enum { OTA_SET_BIT_MAX_SIZE = 1, OTA_SET_BIT_EXTENSIONS = 2 };

/* the number of settings and their names, in the order they are shown */
#define OTA_SETTINGS_N  2
extern const char  *ota_settings_names[OTA_SETTINGS_N];

void ota_settings_default(ota_settings_t *s);

/* key = value into s after checking it; -1 with the reason in c (an
 * unknown key, a bad value) */
int ota_settings_set(ota_settings_t *s, ota_check_t *c, const char *key,
    const char *value);

/* a size with a unit ("2000MB", "2g", "1500"): bytes, -1 when malformed */
long long ota_settings_parse_size(const char *v);

/* a value as it is stored in Redis (bytes in decimal, the extensions
 * list); buf of at least OTA_SETTINGS_EXTS_MAX bytes; NULL for an unknown
 * key */
const char *ota_settings_stored(const ota_settings_t *s, const char *key,
    char *buf, size_t len);

/* the size as people read it: "2000 MB", "512 KB", "1500 bytes" */
const char *ota_settings_size_str(long long bytes, char *buf, size_t len);

/* a field of the Redis hash read back: a value that does not parse (the
 * hash written by hand) leaves the default and returns -1 */
int ota_settings_load(ota_settings_t *s, const char *key, const char *value);

/* what `otactl config show --json` and GET config answer:
 * {"package.max_size": bytes, "package.extensions": ".bin .zip ...",
 *  "defaults": [names of the settings at their default]}; a json_t *,
 * NULL on no memory */
void *ota_settings_json(const ota_settings_t *s);

#endif /* OTA_SETTINGS_H */
