/* unit tests: version parsing and numeric comparison (include/ota_version) */

#include "tap.h"
#include "ota_version.h"

static int
cmp(const char *a, const char *b)
{
    ota_version_t  x, y;

    if (ota_version_parse_cstr(a, &x) || ota_version_parse_cstr(b, &y)) {
        return 99;
    }
    return ota_version_cmp(&x, &y);
}

int
main(void)
{
    ota_version_t  v;
    char           buf[OTA_VERSION_STR_MAX];
    size_t         i;

    static const char *bad[] = {
        "", "1", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.", "a.b.c",
        "1.2.3a", " 1.2.3", "1.2.3 ", "-1.2.3", "+1.2.3", "01.2.3",
        "1.02.3", "1.2.03", "1000000.0.0", "0.1000000.0", "0.0.1000000",
        "1.2.3\n", "9999999999.1.1", "1,2,3", "1.2.-3"
    };

    ok(ota_version_parse_cstr("1.2.3", &v) == 0
       && v.major == 1 && v.minor == 2 && v.patch == 3, "parses 1.2.3");
    ok(ota_version_parse_cstr("0.0.0", &v) == 0, "parses 0.0.0");
    ok(ota_version_parse_cstr("999999.999999.999999", &v) == 0
       && v.patch == 999999, "parses the largest version");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(ota_version_parse_cstr(bad[i], &v) == -1, "refuses '%s'", bad[i]);
    }
    ok(ota_version_parse_cstr(NULL, &v) == -1, "refuses NULL");
    ok(ota_version_parse("1.2.3", 3, &v) == -1, "length is honoured");
    ok(ota_version_parse("1.2.3xyz", 5, &v) == 0 && v.patch == 3,
       "parses a prefix given its length");

    ok(cmp("1.10.0", "1.9.0") > 0, "1.10.0 > 1.9.0 (numeric, not text)");
    ok(cmp("2.0.0", "1.999999.999999") > 0, "major dominates");
    ok(cmp("1.2.3", "1.2.3") == 0, "equal versions");
    ok(cmp("1.2.3", "1.2.10") < 0, "1.2.3 < 1.2.10");
    ok(cmp("0.0.1", "0.0.0") > 0, "patch counts");

    ota_version_parse_cstr("10.0.7", &v);
    ota_version_format(&v, buf);
    is_str(buf, "10.0.7", "formats back to the same text");

    return done_testing();
}
