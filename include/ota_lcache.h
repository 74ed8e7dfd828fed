/*
 * ota_lcache.h: a bounded cache of short values by name with an expiry,
 * for what has been verified against Redis and may be trusted for a while:
 * the broker plugin keeps a device's product and secret after a login, the
 * MQTT bridge that a device is in the product its topic names.  Plain C.
 *
 * 4-way set associative: a name hashes (FNV-1a) to a set of 4 entries; a
 * new name takes a free or expired entry of its set, else the one that
 * expires first.  So memory is fixed (size rounded up to a power of two
 * times 4 entries of about 340 bytes) and a lookup touches 4 entries.
 */

#ifndef OTA_LCACHE_H
#define OTA_LCACHE_H

#include <stddef.h>
#include <stdint.h>

#define OTA_LCACHE_KEY_MAX    130     /* "<module>@<product>" */
#define OTA_LCACHE_VALUE_MAX  200

typedef struct ota_lcache_s  ota_lcache_t;

/* room for about entries names, each trusted ttl_ms; NULL when entries or
 * ttl_ms is 0 (no cache: every call below then does nothing) or without
 * memory */
ota_lcache_t *ota_lcache_new(long entries, int64_t ttl_ms);
void ota_lcache_free(ota_lcache_t *c);

/* entries it holds room for */
size_t ota_lcache_capacity(const ota_lcache_t *c);

/* the value of key when it was put less than ttl_ms before now, else
 * NULL; valid until the next put or drop */
const char *ota_lcache_get(ota_lcache_t *c, const char *key, size_t len,
    int64_t now);

/* a key or value over its maximum is not kept */
void ota_lcache_put(ota_lcache_t *c, const char *key, size_t len,
    const char *value, int64_t now);

void ota_lcache_drop(ota_lcache_t *c, const char *key, size_t len);

#endif /* OTA_LCACHE_H */
