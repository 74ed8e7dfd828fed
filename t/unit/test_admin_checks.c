/* test_admin_checks.c: what otactl and the admin API refuse alike
 * (include/ota_settings.h, ota_check.h, ota_batch_create.h, ota_audit.h) */

#include "tap.h"

#include <jansson.h>

#include "ota_audit.h"
#include "ota_batch_create.h"
#include "ota_check.h"
#include "ota_settings.h"

static void
test_sizes(void)
{
    is_int(ota_settings_parse_size("2000MB"), 2000LL * 1024 * 1024, "2000MB");
    is_int(ota_settings_parse_size("2g"), 2LL << 30, "2g");
    is_int(ota_settings_parse_size("512 KB"), 512 * 1024, "512 KB");
    is_int(ota_settings_parse_size("1500"), 1500, "bytes");
    is_int(ota_settings_parse_size("1024GB"), 1LL << 40, "the 1 TB limit");
    is_int(ota_settings_parse_size("1025GB"), -1, "over it");
    is_int(ota_settings_parse_size("12 parsecs"), -1, "a unit that is none");
    is_int(ota_settings_parse_size("-5MB"), -1, "negative");
    is_int(ota_settings_parse_size(""), -1, "empty");
    is_int(ota_settings_parse_size("99999999999999999999"), -1, "overflow");
}

static void
test_settings(void)
{
    ota_settings_t  s;
    ota_check_t     c;
    char            buf[OTA_SETTINGS_EXTS_MAX];

    ota_settings_default(&s);
    is_int(s.max_size, 1000LL * 1024 * 1024, "default: 1000 MB");
    is_str(s.exts, OTA_SETTINGS_EXTS_DEFAULT, "default extensions");
    is_int(s.stored, 0, "nothing stored");

    ota_check_init(&c, 1);
    is_int(ota_settings_set(&s, &c, OTA_SET_EXTENSIONS, ".BIN, .zip .bin,"),
           0, "a list with case, commas and a repeat");
    is_str(s.exts, ".bin .zip", "lower case, once each");
    is_int(s.stored, OTA_SET_BIT_EXTENSIONS, "marked stored");
    is_int(ota_settings_set(&s, &c, OTA_SET_EXTENSIONS, "bin"), -1,
           "no dot");
    ok(strstr(c.msg, "invalid file extension \"bin\"") != NULL, "says which");
    is_int(ota_settings_set(&s, &c, OTA_SET_EXTENSIONS, ".b/n"), -1, "a slash");
    is_int(ota_settings_set(&s, &c, OTA_SET_EXTENSIONS, " , "), -1, "empty");
    is_str(s.exts, ".bin .zip", "a refusal changes nothing");
    is_int(ota_settings_set(&s, &c, OTA_SET_MAX_SIZE, "0"), -1, "size 0");
    is_int(ota_settings_set(&s, &c, "package.colour", "red"), -1, "unknown");
    ok(strstr(c.msg, "unknown setting") != NULL, "says so");

    is_int(ota_settings_load(&s, OTA_SET_MAX_SIZE, "4096"), 0, "load");
    is_str(ota_settings_stored(&s, OTA_SET_MAX_SIZE, buf, sizeof(buf)), "4096",
           "stored as bytes");
    is_int(ota_settings_load(&s, OTA_SET_MAX_SIZE, "junk"), -1,
           "a hand-written value that does not parse");
    is_int(s.max_size, 4096, "keeps what it had");
    is_str(ota_settings_size_str(2000LL << 20, buf, sizeof(buf)), "2000 MB",
           "shown in MB");
    is_str(ota_settings_size_str(1500, buf, sizeof(buf)), "1500 bytes",
           "or bytes");
}

static void
test_checks(void)
{
    ota_check_t   c;
    json_t       *o;
    const char   *v[3];
    const char   *names[] = { "device", "product", "secret", NULL };

    ota_check_init(&c, 1);
    is_int(ota_check_device(&c, "d1", "p", NULL), 0, "a device");
    is_int(ota_check_device(&c, "d1", NULL, NULL), -1, "no product");
    is_str(c.msg, "a device needs \"product\"", "the API names the field");
    ota_check_init(&c, 0);
    is_int(ota_check_device(&c, "d1", NULL, NULL), -1, "no product (otactl)");
    is_str(c.msg, "device add needs --product", "otactl names the option");
    is_int(ota_check_device(&c, "d1", "p", "short"), -1, "a short secret");
    is_int(ota_check_module(&c, "M", "p", "a\x01", NULL), -1,
           "a control character");
    is_int(ota_check_module(&c, "M", "p", "caf\xc3\xa9", NULL), 0, "UTF-8");
    is_int(ota_check_module(&c, "M", "p", "\xc3", NULL), -1, "cut UTF-8");
    is_int(ota_check_module(&c, "M", "p", "\xc2\x85", NULL), -1, "C1 control");

    ota_check_init(&c, 1);
    o = json_pack("{s:s, s:s}", "device", "d", "product", "p");
    is_int(ota_check_fields(&c, o, names, v), 0, "known fields");
    ok(v[0] && strcmp(v[0], "d") == 0 && v[2] == NULL, "their values");
    json_object_set_new(o, "colour", json_string("red"));
    is_int(ota_check_fields(&c, o, names, v), -1, "an unknown field");
    ok(strstr(c.msg, "unknown field \"colour\" (known: device, product, "
              "secret)") != NULL, "named, with the known ones");
    json_object_del(o, "colour");
    json_object_set_new(o, "secret", json_integer(5));
    is_int(ota_check_fields(&c, o, names, v), -1, "a number for a string");
    json_object_set_new(o, "secret", json_null());
    is_int(ota_check_fields(&c, o, names, v), 0, "null is absent");
    json_decref(o);
}

static void
test_batches(void)
{
    ota_check_t       c;
    ota_batch_opts_t  b;
    ota_jobcmd_t      j;

    memset(&b, 0, sizeof(b));
    b.package = "p1";
    b.type = "verify";
    b.name = "v";
    b.devices = "d1,d2";
    ota_check_init(&c, 1);
    is_int(ota_batch_check(&c, &b), 0, "a verify batch");
    is_int(b.ndevices, 2, "two devices");
    is_str(b.protocol, "https", "default protocol");
    b.devices = "d1,,d2";
    is_int(ota_batch_check(&c, &b), -1, "an empty name in the list");
    b.devices = NULL;
    b.type = "upgrade";
    b.from_version = "1.2.3";
    is_int(ota_batch_check(&c, &b), 0, "an upgrade batch");
    is_str(b.fvbuf, "1.2.3", "the source version canonical");
    b.method = "sideways";
    is_int(ota_batch_check(&c, &b), -1, "a bad method");
    is_str(c.msg, "invalid \"method\" \"sideways\" (static or dynamic)",
           "worded for the API");

    is_int(ota_jobcmd_init(&j, "xyz", 1, 2), -1, "a job id not hex");
    is_int(ota_jobcmd_init(&j, "0123abcd", 1000, 2000), 0, "a job");
    is_int(ota_jobcmd_batch_op(&j, "batch_pause", "b1"), 0, "pause b1");
    is_int(j.argc, 3 + 6 + 4, "XADD ota:jobs * and five fields");
    is_str(j.argv[1], "ota:jobs", "on the jobs stream");
}

static void
test_audit(void)
{
    ota_audit_t         a;
    ota_audit_fields_t  f;
    char                big[600];

    memset(&f, 0, sizeof(f));
    memset(big, 'x', sizeof(big));
    big[255] = '\xc3';                  /* an e-acute across the cut */
    big[256] = '\xa9';
    f.time = 1;
    f.action = "device.add";
    f.token = ota_audit_cstr("ci");
    f.object.data = big;
    f.object.len = sizeof(big);
    f.status = 201;
    f.result = ota_audit_cstr(NULL);
    ota_audit_encode(&a, &f);
    is_int(a.argc, OTA_AUDIT_ARGC, "every field");
    is_str(a.argv[0], "XADD", "an XADD");
    is_str(a.argv[2], "MAXLEN", "capped");
    is_int(a.argvlen[15], 255, "a long object cut before a split character");
    is_str(a.argv[17], "201", "status");
}

int
main(void)
{
    test_sizes();
    test_settings();
    test_checks();
    test_batches();
    test_audit();
    done_testing();
    return tap_failed != 0;
}
