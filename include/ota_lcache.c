/*
 * ota_lcache.c: the bounded cache of verified names (ota_lcache.h).
 * t/unit/test_lcache.c holds the cases.
 */

#include "ota_lcache.h"

#include <stdlib.h>
#include <string.h>

#define OTA_LCACHE_WAYS  4

typedef struct {
    int64_t   expires;                          /* ms; 0: free */
    uint8_t   key_len;                          /* <= OTA_LCACHE_KEY_MAX */
    char      key[OTA_LCACHE_KEY_MAX];
    char      value[OTA_LCACHE_VALUE_MAX + 1];
} ota_lcache_entry_t;

struct ota_lcache_s {
    ota_lcache_entry_t  *e;
    uint32_t             mask;                  /* sets - 1 */
    int64_t              ttl;
};


ota_lcache_t *
ota_lcache_new(long entries, int64_t ttl_ms)
{
    uint32_t       sets;
    ota_lcache_t  *c;

    if (entries <= 0 || ttl_ms <= 0) {
        return NULL;
    }

    sets = 1;
    while ((long) sets * OTA_LCACHE_WAYS < entries && sets < (1u << 28)) {
        sets <<= 1;
    }

    c = calloc(1, sizeof(ota_lcache_t));
    if (c == NULL) {
        return NULL;
    }

    c->e = calloc((size_t) sets * OTA_LCACHE_WAYS, sizeof(ota_lcache_entry_t));
    if (c->e == NULL) {
        free(c);
        return NULL;
    }

    c->mask = sets - 1;
    c->ttl = ttl_ms;

    return c;
}


void
ota_lcache_free(ota_lcache_t *c)
{
    if (c != NULL) {
        free(c->e);
        free(c);
    }
}


size_t
ota_lcache_capacity(const ota_lcache_t *c)
{
    return c ? ((size_t) c->mask + 1) * OTA_LCACHE_WAYS : 0;
}


static ota_lcache_entry_t *
ota_lcache_set(ota_lcache_t *c, const char *key, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;
    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) key[i]) * 16777619u;
    }

    return &c->e[(size_t) (h & c->mask) * OTA_LCACHE_WAYS];
}


static ota_lcache_entry_t *
ota_lcache_find(ota_lcache_t *c, const char *key, size_t len)
{
    int                  i;
    ota_lcache_entry_t  *e;

    if (c == NULL || len == 0 || len > OTA_LCACHE_KEY_MAX) {
        return NULL;
    }

    e = ota_lcache_set(c, key, len);

    for (i = 0; i < OTA_LCACHE_WAYS; i++) {
        if (e[i].expires != 0 && e[i].key_len == len
            && memcmp(e[i].key, key, len) == 0)
        {
            return &e[i];
        }
    }

    return NULL;
}


const char *
ota_lcache_get(ota_lcache_t *c, const char *key, size_t len, int64_t now)
{
    ota_lcache_entry_t  *e;

    e = ota_lcache_find(c, key, len);

    return (e != NULL && e->expires > now) ? e->value : NULL;
}


void
ota_lcache_put(ota_lcache_t *c, const char *key, size_t len,
    const char *value, int64_t now)
{
    int                  i;
    size_t               vl;
    ota_lcache_entry_t  *e, *victim;

    if (c == NULL || len == 0 || len > OTA_LCACHE_KEY_MAX) {
        return;
    }

    vl = strlen(value);
    if (vl > OTA_LCACHE_VALUE_MAX) {
        return;
    }

    victim = ota_lcache_find(c, key, len);

    if (victim == NULL) {
        /* a free or expired way, else the one that expires first */
        e = ota_lcache_set(c, key, len);
        victim = &e[0];
        for (i = 0; i < OTA_LCACHE_WAYS; i++) {
            if (e[i].expires <= now) {
                victim = &e[i];
                break;
            }
            if (e[i].expires < victim->expires) {
                victim = &e[i];
            }
        }
    }

    memcpy(victim->key, key, len);
    victim->key_len = (uint8_t) len;
    memcpy(victim->value, value, vl + 1);
    victim->expires = now + c->ttl;
}


void
ota_lcache_drop(ota_lcache_t *c, const char *key, size_t len)
{
    ota_lcache_entry_t  *e;

    e = ota_lcache_find(c, key, len);
    if (e != NULL) {
        memset(e, 0, sizeof(ota_lcache_entry_t));
    }
}
