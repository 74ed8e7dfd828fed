/* test_package.c: a package as otactl package add and POST packages add
 * it (include/ota_package.h: the checks, worded for each, the id and the
 * slot, the record) and its placing in the store (include/ota_store.h) */

#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ota_package.h"
#include "ota_settings.h"
#include "ota_store.h"

static void
pkg_fields(ota_package_t *p, const char *ver)
{
    ota_package_init(p);
    p->product = "sedan";
    p->module = "ECU";
    p->name = "fw";
    p->version = ver;
}

static void
test_checks(void)
{
    ota_package_t  p;
    ota_check_t    api, cli;

    ota_check_init(&api, 1);
    ota_check_init(&cli, 0);

    pkg_fields(&p, "1.2.0");
    is_int(ota_package_check(&api, &p), 0, "a full package");
    is_str(p.type, "full", "full by default");
    is_str(p.sign, "sha256", "sha256 by default");
    is_int(p.md5, 0, "no md5");
    is_str(p.fbuf, "", "no from");
    ota_package_free(&p);

    pkg_fields(&p, NULL);
    is_int(ota_package_check(&api, &p), -1, "no version");
    is_str(api.msg, "a package needs \"product\", \"module\", \"name\" and "
           "\"version\"", "the API's words");
    is_int(ota_package_check(&cli, &p), -1, "no version (otactl)");
    is_str(cli.msg, "package add needs --product, --module, --name and "
           "--version", "otactl's words");
    ota_package_free(&p);

    pkg_fields(&p, "1.2.0");
    p.type = "diff";
    is_int(ota_package_check(&api, &p), -1, "a diff without from");
    ok(strstr(api.msg, "needs \"from\"") != NULL, "says so: %s", api.msg);
    ota_package_free(&p);
    pkg_fields(&p, "1.2.0");
    p.type = "diff";
    p.from = "1.2.0";
    is_int(ota_package_check(&cli, &p), -1, "from not lower");
    is_str(cli.msg, "--from 1.2.0 must be lower than --version 1.2.0",
           "otactl's words");
    ota_package_free(&p);

    pkg_fields(&p, "1.2.0");
    p.ext[0] = "a=1";
    p.ext[1] = "a=2";
    p.next = 2;
    is_int(ota_package_check(&api, &p), -1, "an ext key twice");
    is_str(api.msg, "\"ext\" a given twice", "named");
    ota_package_free(&p);

    pkg_fields(&p, "1.2.0");
    p.sign = "md5";
    p.ext[0] = "hw=rev3";
    p.next = 1;
    is_int(ota_package_check(&api, &p), 0, "md5 with an ext");
    is_int(p.md5, 1, "md5");
    ok(json_object_get(p.ext_json, "hw") != NULL, "the ext as JSON");
    ota_package_free(&p);
}

static void
test_files(void)
{
    ota_settings_t      s;
    ota_check_t         c;
    ota_package_file_t  before[1];

    ota_settings_default(&s);
    ota_check_init(&c, 1);
    strcpy(before[0].name, "a.bin");

    is_int(ota_package_check_file_name(&c, &s, "FW.BIN", before, 1), 0,
           "an extension of another case");
    is_int(ota_package_check_file_name(&c, &s, "a.bin", before, 1), -1,
           "a name twice");
    is_str(c.msg, "two files named a.bin", "said");
    is_int(ota_package_check_file_name(&c, &s, "fw.exe", before, 0), -1,
           "an extension not accepted");
    ok(strncmp(c.msg, "fw.exe: file type not accepted", 30) == 0, "%s",
       c.msg);
    is_int(ota_package_check_file_name(&c, &s, "manifest.json", before, 0),
           -1, "the manifest's name");
    is_int(ota_package_check_file_size(&c, &s, "a.bin", 0), -1, "empty");
    is_str(c.msg, "a.bin is empty", "said");
    is_int(ota_package_check_file_size(&c, &s, "a.bin", s.max_size), 0,
           "the limit itself");
    is_int(ota_package_check_file_size(&c, &s, "a.bin", s.max_size + 1), -1,
           "a byte over");
    is_int(ota_package_check_file_size(&c, &s, "a.bin", -1), -1,
           "an upload over (size unknown)");
    is_str(c.msg, "a.bin is over the limit of 1000 MB", "said");
    is_int(ota_package_check_nfiles(&c, 0), -1, "no file");
    is_str(c.msg, "a package needs at least one \"file\" part", "said");
    is_int(ota_package_check_nfiles(&c, OTA_PKG_FILES_MAX + 1), -1,
           "too many files");
}

static void
test_id(void)
{
    ota_package_t  p;
    ota_check_t    c;
    char           id[OTA_NAME_MAX + 1], slot[OTA_PKG_SLOT_MAX];
    char           longp[70];

    ota_check_init(&c, 1);
    pkg_fields(&p, "1.2.0");
    (void) ota_package_check(&c, &p);
    ota_package_id(&p, id);
    is_str(id, "sedan-ECU-1_2_0", "the readable id");
    ota_package_slot(&p, slot);
    is_str(slot, "1.2.0", "a full package's slot: its version");
    ota_package_free(&p);

    pkg_fields(&p, "1.3.0");
    p.type = "diff";
    p.from = "1.2.0";
    (void) ota_package_check(&c, &p);
    ota_package_id(&p, id);
    is_str(id, "sedan-ECU-1_2_0-1_3_0", "a diff's id names both versions");
    ota_package_slot(&p, slot);
    is_str(slot, "1.2.0>1.3.0", "a diff's slot");
    ota_package_free(&p);

    memset(longp, 'p', 60);
    longp[60] = '\0';
    pkg_fields(&p, "1.2.0");
    p.product = longp;
    (void) ota_package_check(&c, &p);
    ota_package_id(&p, id);
    is_str(id, "", "too long for an id: none (a random one is taken)");
    ota_package_free(&p);
}

static void
test_store(void)
{
    char              dir[] = "/tmp/ota-test-store-XXXXXX", path[512];
    char              sha[65], md5[33];
    ota_store_file_t  f;
    struct stat       st;
    json_t           *m;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }

    is_int(ota_store_file_open(&f, dir, "a.bin", 1), 0, "open");
    snprintf(path, sizeof(path), "%s/.a.bin.tmp", dir);
    ok(stat(path, &st) == 0, "written under a temporary name");
    is_int(ota_store_file_write(&f, "abc", 3), 0, "write");
    is_int(ota_store_file_close(&f, sha, md5), 0, "close");
    is_str(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 of abc");
    is_str(md5, "900150983cd24fb0d6963f7d28e17f72", "md5 of abc");
    ok(stat(path, &st) != 0, "the temporary name is gone");
    snprintf(path, sizeof(path), "%s/a.bin", dir);
    ok(stat(path, &st) == 0 && st.st_size == 3, "in place");
    is_int(st.st_mode & 07777, 0444, "read-only");

    is_int(ota_store_file_open(&f, dir, "b.bin", 0), 0, "another");
    is_int(ota_store_file_write(&f, "x", 1), 0, "write");
    ota_store_file_abort(&f);
    ota_store_file_abort(&f);
    snprintf(path, sizeof(path), "%s/.b.bin.tmp", dir);
    ok(stat(path, &st) != 0, "an abort leaves nothing");
    snprintf(path, sizeof(path), "%s/b.bin", dir);
    ok(stat(path, &st) != 0, "not even the name");

    is_int(ota_store_file_open(&f, "/nonexistent-dir", "c.bin", 0), -1,
           "a directory that is not there");
    ok(strstr(f.err, "cannot write") != NULL, "%s", f.err);

    m = json_pack("{s:s}", "id", "x");
    is_int(ota_store_manifest(dir, m, path, sizeof(path)), 0, "manifest");
    json_decref(m);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0444,
       "manifest.json, read-only");

    is_int(ota_store_rmtree(dir), 0, "rmtree");
    ok(stat(dir, &st) != 0, "all gone");
}

int
main(void)
{
    test_checks();
    test_files();
    test_id();
    test_store();
    done_testing();
    return tap_failed != 0;
}
