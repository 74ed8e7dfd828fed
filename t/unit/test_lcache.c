/* unit tests: the bounded cache of verified names (include/ota_lcache.c) */

#include "tap.h"
#include "ota_lcache.h"

#include <stdio.h>

static const char *
get(ota_lcache_t *c, const char *k, int64_t now)
{
    return ota_lcache_get(c, k, strlen(k), now);
}

static void
put(ota_lcache_t *c, const char *k, const char *v, int64_t now)
{
    ota_lcache_put(c, k, strlen(k), v, now);
}

int
main(void)
{
    int            i, kept;
    char           k[32], big[OTA_LCACHE_VALUE_MAX + 2];
    ota_lcache_t  *c;

    ok(ota_lcache_new(0, 1000) == NULL && ota_lcache_new(10, 0) == NULL,
       "no size or no lifetime: no cache");
    ok(get(NULL, "a", 0) == NULL, "a missing cache finds nothing");
    put(NULL, "a", "b", 0);
    ota_lcache_drop(NULL, "a", 1);

    c = ota_lcache_new(10, 1000);
    is_int(ota_lcache_capacity(c), 16, "10 entries: 4 sets of 4");

    put(c, "dev-1", "prod\nsecret", 100);
    is_str(get(c, "dev-1", 100), "prod\nsecret", "found");
    is_str(get(c, "dev-1", 1099), "prod\nsecret", "until its lifetime ends");
    ok(get(c, "dev-1", 1100) == NULL, "then not");
    ok(get(c, "dev-2", 100) == NULL, "another name: nothing");
    ok(get(c, "dev-", 100) == NULL, "a prefix: nothing");

    put(c, "dev-1", "prod\nnew", 2000);
    is_str(get(c, "dev-1", 2000), "prod\nnew", "a put replaces and renews");
    ota_lcache_drop(c, "dev-1", 5);
    ok(get(c, "dev-1", 2000) == NULL, "dropped");

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put(c, "big", big, 0);
    ok(get(c, "big", 0) == NULL, "a value over the maximum is not kept");
    ota_lcache_put(c, big, OTA_LCACHE_KEY_MAX + 1, "x", 0);
    ok(ota_lcache_get(c, big, OTA_LCACHE_KEY_MAX + 1, 0) == NULL,
       "nor a key over it");
    ota_lcache_put(c, big, OTA_LCACHE_KEY_MAX, "x", 0);
    is_str(ota_lcache_get(c, big, OTA_LCACHE_KEY_MAX, 0), "x",
           "a key of the maximum is");
    ota_lcache_free(c);

    /* bounded: many more names than room, the newest are there */
    c = ota_lcache_new(64, 1000000);
    for (i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "d%d", i);
        put(c, k, "p", i);
    }
    kept = 0;
    for (i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "d%d", i);
        kept += get(c, k, 10000) != NULL;
    }
    ok(kept <= 64 && kept > 32, "10000 names, room for 64: %d kept", kept);
    kept = 0;
    for (i = 9990; i < 10000; i++) {
        snprintf(k, sizeof(k), "d%d", i);
        kept += get(c, k, 10000) != NULL;
    }
    is_int(kept, 10, "the last 10 put are all there");
    ota_lcache_free(c);

    /* an expired entry is reused before a live one is evicted */
    c = ota_lcache_new(4, 100);
    put(c, "a", "1", 0);
    put(c, "b", "2", 50);
    put(c, "c", "3", 50);
    put(c, "d", "4", 50);
    put(c, "e", "5", 120);           /* "a" expired at 100 */
    ok(get(c, "b", 120) && get(c, "c", 120) && get(c, "d", 120)
       && get(c, "e", 120), "the expired one made room");
    ota_lcache_free(c);

    return done_testing();
}
