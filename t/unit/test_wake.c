/* unit tests: the wake channel's messages (include/ota_wake) */

#include "tap.h"
#include "ota_wake.h"

static ota_wake_kind_e
parse(const char *s, ota_wake_t *w)
{
    const char  *why;

    return ota_wake_parse(s, strlen(s), w, &why);
}

int
main(void)
{
    ota_wake_t      w;
    ota_wake_str_t  d;
    size_t          pos, n;
    char            buf[64], got[256];

    static const char  *bad[] = {
        "", " ", "dev", "dev ", "dev m", "dev m ", "dev  m d1", "dev m d1 ",
        "dev m d1  d2", "dev m/x d1", "dev m d/1", "mod", "mod p", "mod p m x",
        "mod p m ", "mod p/ m", "wake m d1", "DEV m d1",
    };

    is_int(parse("dev default d1", &w), OTA_WAKE_DEV, "one device");
    is_int(w.ndevices, 1, "counted");
    ok(w.module.len == 7 && memcmp(w.module.data, "default", 7) == 0,
       "its module");

    is_int(parse("dev MCU d1 a:b:c 00.11", &w), OTA_WAKE_DEV, "three devices");
    is_int(w.ndevices, 3, "counted");
    got[0] = '\0';
    for (pos = 0; ota_wake_next(&w, &pos, &d); ) {
        strncat(got, d.data, d.len);
        strcat(got, "|");
    }
    is_str(got, "d1|a:b:c|00.11|", "each in order");

    is_int(parse("mod prodA MCU", &w), OTA_WAKE_MOD, "a module of a product");
    ok(w.product.len == 5 && memcmp(w.product.data, "prodA", 5) == 0
       && w.module.len == 3, "product and module");
    pos = 0;
    ok(!ota_wake_next(&w, &pos, &d), "no devices in a mod message");

    for (n = 0; n < sizeof(bad) / sizeof(bad[0]); n++) {
        is_int(parse(bad[n], &w), OTA_WAKE_BAD, "refused: \"%s\"", bad[n]);
    }

    n = ota_wake_format(buf, sizeof(buf), NULL, "default", "d1");
    is_str(buf, "dev default d1", "format dev");
    is_int(n, 14, "its length");
    n = ota_wake_format(buf, sizeof(buf), "p1", "m", NULL);
    is_str(buf, "mod p1 m", "format mod");
    is_int(parse(buf, &w), OTA_WAKE_MOD, "what format writes parses");
    is_int(ota_wake_format(buf, sizeof(buf), NULL, "m/", "d1"), 0,
           "a bad module is not formatted");
    is_int(ota_wake_format(buf, 8, NULL, "default", "d1"), 0,
           "too small a buffer");

    return done_testing();
}
