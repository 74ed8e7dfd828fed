/*
 * ota_version.h: package and device versions "X.Y.Z", each part 0..999999,
 * compared numerically (1.10.0 > 1.9.0).  Plain C, shared by the module,
 * the worker, otactl and the unit tests.
 */

#ifndef OTA_VERSION_H
#define OTA_VERSION_H

#include <stddef.h>

#define OTA_VERSION_PART_MAX  999999
#define OTA_VERSION_STR_MAX   24          /* "999999.999999.999999" + NUL */

typedef struct {
    unsigned  major;
    unsigned  minor;
    unsigned  patch;
} ota_version_t;

/* Parses exactly "X.Y.Z" of len bytes (no sign, no spaces, no leading '+',
 * parts 1..6 digits, value <= 999999).  Returns 0, or -1 when malformed. */
int ota_version_parse(const char *s, size_t len, ota_version_t *v);

/* Same for a NUL-terminated string. */
int ota_version_parse_cstr(const char *s, ota_version_t *v);

/* <0, 0, >0 like strcmp, numerically part by part. */
int ota_version_cmp(const ota_version_t *a, const ota_version_t *b);

/* Canonical text ("01.2.3" is refused by the parser, so this round-trips).
 * buf must hold OTA_VERSION_STR_MAX bytes; returns the length. */
int ota_version_format(const ota_version_t *v, char *buf);

#endif /* OTA_VERSION_H */
