/* unit tests: the upgrade offer of both channels (include/ota_offer.c) */

#include "tap.h"
#include "ota_offer.h"
#include "ota_token.h"

#include <stdio.h>
#include <stdlib.h>

#define KEY "0123456789abcdef-server-key"

#define V(s)  ((ota_view_t) { (s), sizeof(s) - 1 })

static const char *
str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long
num(json_t *o, const char *k)
{
    return (long long) json_integer_value(json_object_get(o, k));
}

static ota_offer_t
base_offer(void)
{
    ota_offer_t  o;

    memset(&o, 0, sizeof(o));
    o.device = V("dev1");
    o.batch = V("b1");
    o.module = V("MCU");
    o.task_from = V("1.0.0");
    o.package = V("pkg-1");
    o.version = V("1.1.0");
    o.type = V("full");
    o.sign_method = V("sha256");
    o.sign = V("aaaa");
    o.files = V("[{\"name\":\"fw.bin\",\"size\":600,\"sign\":\"aaaa\","
                "\"offset\":0}]");
    o.ext = V("{\"region\":\"eu\",\"batch\":\"custom\"}");
    o.size = 600;
    o.key = V(KEY);
    o.prefix = V("http://ota.example.com/ota/v1/");
    o.expires = 1767229200;
    return o;
}

int
main(void)
{
    char         sig[65], want[512];
    json_t      *j, *f, *e;
    ota_offer_t  o;

    ota_link_sign(KEY, sizeof(KEY) - 1, "pkg-1", 5, "dev1", 4, 1767229200,
                  sig);

    /* ---- HTTP shape ------------------------------------------------------ */
    o = base_offer();
    j = ota_offer_json(&o, OTA_OFFER_HTTP);
    ok(j != NULL, "HTTP offer built");
    is_str(str(j, "batch"), "b1", "batch");
    is_str(str(j, "package"), "pkg-1", "package");
    is_str(str(j, "module"), "MCU", "module");
    is_str(str(j, "version"), "1.1.0", "version");
    is_str(str(j, "type"), "full", "type");
    is_str(str(j, "from"), "1.0.0", "a full package's from is the task's");
    is_int(num(j, "size"), 600, "size of the first file");
    is_int(num(j, "total_size"), 600, "total_size");
    is_str(str(j, "sign_method"), "sha256", "sign_method");
    is_str(str(j, "sign"), "aaaa", "sign");
    snprintf(want, sizeof(want), "http://ota.example.com/ota/v1/packages/"
             "pkg-1?device=dev1&expires=1767229200&signature=%s", sig);
    is_str(str(j, "url"), want, "url is the signed link");
    is_int(num(j, "url_expires"), 1767229200, "url_expires");
    is_str(str(j, "signMethod"), "SHA256", "signMethod SHA256");
    ok(json_object_get(j, "md5") == NULL, "no md5 for a SHA-256 package");
    is_int(num(j, "isDiff"), 0, "isDiff 0");
    e = json_object_get(j, "extData");
    is_str(str(e, "region"), "eu", "extData has the custom values");
    is_str(str(e, "batch"), "b1", "and the batch id over a custom batch key");
    f = json_object_get(j, "files");
    ok(json_array_size(f) == 1, "files lists the one file");
    snprintf(want, sizeof(want), "http://ota.example.com/ota/v1/packages/"
             "pkg-1/fw.bin?device=dev1&expires=1767229200&signature=%s", sig);
    is_str(str(json_array_get(f, 0), "url"), want, "a file's link");
    is_str(str(json_array_get(f, 0), "sign"), "aaaa", "a file's sign");
    json_decref(j);

    /* ---- MQTT shape: the Alibaba data only ----------------------------- */
    j = ota_offer_json(&o, OTA_OFFER_MQTT);
    ok(j != NULL && json_object_size(j) == 8,
       "MQTT data: size version url sign module signMethod isDiff extData");
    ok(json_object_get(j, "files") == NULL && json_object_get(j, "batch")
       == NULL && json_object_get(j, "url_expires") == NULL,
       "no files for one file, no HTTP-only fields");
    snprintf(want, sizeof(want), "http://ota.example.com/ota/v1/packages/"
             "pkg-1?device=dev1&expires=1767229200&signature=%s", sig);
    is_str(str(j, "url"), want, "the same link as over HTTP");
    is_str(str(j, "signMethod"), "SHA256", "the same signMethod");
    is_str(str(json_object_get(j, "extData"), "batch"), "b1",
           "the same extData");
    json_decref(j);

    /* ---- MD5 diff of two files ------------------------------------------ */
    o = base_offer();
    o.type = V("diff");
    o.pkg_from = V("1.0.5");
    o.sign_method = V("md5");
    o.sign = V("ffff");
    o.files = V("[{\"name\":\"a.bin\",\"size\":10,\"sign\":\"1111\"},"
                "{\"name\":\"../x\",\"size\":5,\"sign\":\"2\"},"
                "{\"name\":\"b.bin\",\"size\":20,\"sign\":\"3333\"}]");
    o.ext = V("");
    o.size = 30;
    o.prefix = V("https://cdn.example.com/ota/v1");
    j = ota_offer_json(&o, OTA_OFFER_MQTT);
    is_str(str(j, "signMethod"), "Md5", "signMethod Md5");
    is_str(str(j, "md5"), "1111", "md5 is the first file's digest");
    is_str(str(j, "sign"), "1111", "sign too");
    is_int(num(j, "isDiff"), 1, "isDiff 1");
    is_int(num(j, "size"), 10, "size of the first file");
    f = json_object_get(j, "files");
    ok(json_array_size(f) == 2, "a multi-file package lists its files; an "
       "invalid name is left out");
    ok(strncmp(str(json_array_get(f, 1), "url"),
               "https://cdn.example.com/ota/v1/packages/pkg-1/b.bin?", 52)
       == 0, "a '/' is added to a prefix without one");
    is_int(json_object_size(json_object_get(j, "extData")), 1,
           "no custom data: extData has the batch only");
    json_decref(j);
    j = ota_offer_json(&o, OTA_OFFER_HTTP);
    is_str(str(j, "from"), "1.0.5", "a diff's from is the package's");
    is_str(str(j, "type"), "diff", "type diff");
    is_str(str(j, "sign_method"), "md5", "sign_method md5");
    is_int(num(j, "total_size"), 30, "total_size of both files");
    json_decref(j);

    /* ---- odd records ---------------------------------------------------- */
    o = base_offer();
    o.files = V("not json");
    o.type = V("");
    o.sign_method = V("");
    j = ota_offer_json(&o, OTA_OFFER_HTTP);
    ok(j != NULL && json_array_size(json_object_get(j, "files")) == 0,
       "unreadable files: an empty list");
    is_int(num(j, "size"), 600, "size falls back to the package's");
    is_str(str(j, "sign"), "aaaa", "sign to the package's");
    is_str(str(j, "type"), "full", "no type: full");
    is_str(str(j, "sign_method"), "sha256", "no method: sha256");
    json_decref(j);

    /* ---- a signed package: manifest and signature in both shapes ---- */
    o = base_offer();
    ok((j = ota_offer_json(&o, OTA_OFFER_HTTP)) != NULL
       && json_object_get(j, "manifest") == NULL
       && json_object_get(j, "signature") == NULL,
       "an unsigned package: no manifest, no signature");
    json_decref(j);
    o.manifest = V("eyJmb3JtYXQiOiJvdGEtbWFuaWZlc3QtMSJ9");
    o.signature = V("c2ln");
    j = ota_offer_json(&o, OTA_OFFER_HTTP);
    is_str(str(j, "manifest"), "eyJmb3JtYXQiOiJvdGEtbWFuaWZlc3QtMSJ9",
           "HTTP: the manifest as stored (base64)");
    is_str(str(j, "signature"), "c2ln", "HTTP: the signature as stored");
    json_decref(j);
    j = ota_offer_json(&o, OTA_OFFER_MQTT);
    is_str(str(j, "manifest"), "eyJmb3JtYXQiOiJvdGEtbWFuaWZlc3QtMSJ9",
           "MQTT: the manifest too");
    is_str(str(j, "signature"), "c2ln", "MQTT: the signature too");
    json_decref(j);

    /* ---- a diff with the full package as its fallback ------------------ */
    {
        ota_offer_t  full = base_offer();
        json_t      *fb;
        char         fsig[65];

        full.manifest = V("bWFuLWZ1bGw=");
        full.signature = V("c2lnLWZ1bGw=");
        o = base_offer();
        o.package = V("pkg-d");
        o.type = V("diff");
        o.pkg_from = V("1.0.0");
        o.sign = V("dddd");
        o.files = V("[{\"name\":\"fw.bin.zst\",\"size\":90,"
                    "\"sign\":\"dddd\",\"offset\":0}]");
        o.size = 90;
        o.fallback = &full;
        j = ota_offer_json(&o, OTA_OFFER_HTTP);
        ok(j != NULL, "diff offer built");
        is_str(str(j, "package"), "pkg-d", "the diff is the offer");
        is_int(num(j, "isDiff"), 1, "isDiff 1");
        is_int(num(j, "size"), 90, "the diff's size");
        fb = json_object_get(j, "fallback");
        ok(json_is_object(fb), "a fallback object");
        is_str(str(fb, "package"), "pkg-1", "fallback: the full package");
        is_str(str(fb, "type"), "full", "fallback type full");
        is_int(num(fb, "size"), 600, "fallback size");
        is_str(str(fb, "sign"), "aaaa", "fallback sign");
        is_str(str(fb, "manifest"), "bWFuLWZ1bGw=", "fallback manifest");
        is_str(str(fb, "signature"), "c2lnLWZ1bGw=", "fallback signature");
        ota_link_sign(KEY, sizeof(KEY) - 1, "pkg-1", 5, "dev1", 4,
                      1767229200, fsig);
        snprintf(want, sizeof(want), "http://ota.example.com/ota/v1/packages/"
                 "pkg-1?device=dev1&expires=1767229200&signature=%s", fsig);
        is_str(str(fb, "url"), want, "fallback url: its own signed link");
        ok(json_object_get(fb, "extData") == NULL
           && json_object_get(fb, "batch") == NULL,
           "fallback: no extData or batch of its own");
        ok(json_object_get(fb, "fallback") == NULL, "no nested fallback");
        json_decref(j);

        j = ota_offer_json(&o, OTA_OFFER_MQTT);
        fb = json_object_get(j, "fallback");
        is_int(num(fb, "size"), 600, "MQTT: fallback size");
        is_str(str(fb, "url"), want, "MQTT: fallback url");
        is_str(str(fb, "signMethod"), "SHA256", "MQTT: fallback signMethod");
        json_decref(j);

        o = base_offer();
        ok(json_object_get(j = ota_offer_json(&o, OTA_OFFER_HTTP), "fallback")
           == NULL, "a full package's offer has no fallback");
        json_decref(j);
    }

    {
        static char  longp[OTA_OFFER_PREFIX_MAX + 2];

        memset(longp, 'a', sizeof(longp) - 1);
        o = base_offer();
        o.prefix.data = longp;
        o.prefix.len = sizeof(longp) - 1;
        ok(ota_offer_json(&o, OTA_OFFER_HTTP) == NULL,
           "a prefix over the limit: no offer");
    }

    return done_testing();
}
