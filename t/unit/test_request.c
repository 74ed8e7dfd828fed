/* unit tests: device API request bodies (auth, inform, progress), every
 * accepted shape and every refusal with its message */

#include "tap.h"
#include "ota_request.h"

#include <stdlib.h>

static json_t *
load(const char *text)
{
    json_t        *j;
    json_error_t   err;

    /* the module's flags (ngx_ota_json.c) */
    j = json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        printf("# bad test JSON: %s\n", text);
        exit(2);
    }
    return j;
}

static int
view_is(ota_view_t v, const char *s)
{
    return v.data != NULL && v.len == strlen(s)
           && memcmp(v.data, s, v.len) == 0;
}

static const char *
auth(const char *text, ota_auth_req_t *a)
{
    static char    buf[256];
    const char    *err;
    json_t        *j;

    j = load(text);
    err = ota_request_auth(j, a);
    /* the message only: the views die with the JSON */
    snprintf(buf, sizeof(buf), "%s", err ? err : "");
    json_decref(j);
    return buf;
}

static const char *
inform(const char *text)
{
    static char        buf[256];
    const char        *err;
    json_t            *j;
    ota_report_req_t   rep;

    j = load(text);
    err = ota_request_inform(j, &rep);
    snprintf(buf, sizeof(buf), "%s", err ? err : "");
    json_decref(j);
    return buf;
}

static const char *
progress(const char *text)
{
    static char        buf[256];
    const char        *err;
    json_t            *j;
    ota_report_req_t   rep;

    j = load(text);
    err = ota_request_progress(j, &rep);
    snprintf(buf, sizeof(buf), "%s", err ? err : "");
    json_decref(j);
    return buf;
}

#define TS_MSG \
    "\"timestamp\": must be milliseconds since the epoch, digits only"
#define STEP_TYPE "\"step\" must be an integer or a string of one"
#define STEP_RANGE "\"step\" must be between -4 and 100"
#define MOD_NAME "\"module\" is not a valid module name ([A-Za-z0-9_-]{1,64})"
#define VER_MSG "\"version\" must be X.Y.Z, each part 0..999999"

int
main(void)
{
    json_t            *j;
    ota_auth_req_t     a;
    ota_report_req_t   rep;
    char               text[1024], desc[600];
    int                i;

    /* ---- auth ---------------------------------------------------------- */

    j = load("{\"product\":\"p1\",\"device\":\"dev-1\",\"sign\":\"abc\","
             "\"timestamp\":1700000000000}");
    ok(ota_request_auth(j, &a) == NULL, "auth: flat body, numeric timestamp");
    ok(view_is(a.product, "p1") && view_is(a.device, "dev-1")
       && view_is(a.sign, "abc"), "auth: product, device, sign views");
    ok(view_is(a.ts, "1700000000000") && a.ts_ms == 1700000000000LL,
       "auth: numeric timestamp printed and valued");
    json_decref(j);

    j = load("{\"product\":\"p1\",\"device\":\"d\",\"sign\":\"\","
             "\"timestamp\":\"0001700000000000\"}");
    ok(ota_request_auth(j, &a) == NULL
       && view_is(a.ts, "0001700000000000") && a.ts_ms == 1700000000000LL,
       "auth: string timestamp kept as written (the sign covers it)");
    ok(a.ts.data == json_string_value(json_object_get(j, "timestamp")),
       "auth: string timestamp is a view into the JSON");
    json_decref(j);

    is_str(auth("{\"device\":\"d\",\"sign\":\"s\",\"timestamp\":1}", &a),
           "\"product\": missing field", "auth: product missing");
    is_str(auth("{\"product\":null,\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"product\": missing field", "auth: product null is missing");
    is_str(auth("{\"product\":7,\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"product\": must be a string", "auth: product a number");
    is_str(auth("{\"product\":\"p\",\"sign\":\"s\",\"timestamp\":1}", &a),
           "\"device\": missing field", "auth: device missing");
    is_str(auth("{\"product\":\"p\",\"device\":[],\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"device\": must be a string", "auth: device an array");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"timestamp\":1}", &a),
           "\"sign\": missing field", "auth: sign missing");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":true,"
                "\"timestamp\":1}", &a),
           "\"sign\": must be a string", "auth: sign a boolean");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\"}", &a),
           "\"timestamp\": missing field", "auth: timestamp missing");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":1.5}", &a),
           "\"timestamp\": must be an integer (ms) or a string of digits",
           "auth: timestamp a real");
    is_str(auth("{\"product\":1,\"device\":1,\"sign\":1,\"timestamp\":1}",
                &a),
           "\"product\": must be a string", "auth: first bad field reported");
    is_str(auth("{\"product\":\"a/b\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"product\": not a valid product name", "auth: product name");
    is_str(auth("{\"product\":\"p\",\"device\":\".d\",\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"device\": not a valid device name", "auth: device name");
    is_str(auth("{\"product\":\"p\",\"device\":\"\",\"sign\":\"s\","
                "\"timestamp\":1}", &a),
           "\"device\": not a valid device name", "auth: empty device");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":-5}", &a), TS_MSG, "auth: negative timestamp");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":\"12a\"}", &a), TS_MSG,
           "auth: timestamp with a letter");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":\"\"}", &a), TS_MSG, "auth: empty timestamp");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":\"1234567890123456789\"}", &a), TS_MSG,
           "auth: 19 digit timestamp");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":1234567890123456789}", &a), TS_MSG,
           "auth: 19 digit numeric timestamp");
    is_str(auth("{\"product\":\"p\",\"device\":\"d\",\"sign\":\"s\","
                "\"timestamp\":\"123456789012345678\"}", &a), "",
           "auth: 18 digit timestamp accepted");

    j = json_array();
    is_str(ota_request_auth(j, &a), "the body must be a JSON object",
           "auth: not an object");
    json_decref(j);

    /* ---- inform -------------------------------------------------------- */

    j = load("{\"module\":\"MCU\",\"version\":\"1.0.1\"}");
    ok(ota_request_inform(j, &rep) == NULL && view_is(rep.module, "MCU")
       && view_is(rep.version, "1.0.1") && !rep.has_id
       && rep.ver.major == 1 && rep.ver.minor == 0 && rep.ver.patch == 1,
       "inform: flat body");
    json_decref(j);

    j = load("{\"version\":\"2.3.4\"}");
    ok(ota_request_inform(j, &rep) == NULL && view_is(rep.module, "default"),
       "inform: module omitted means default");
    json_decref(j);

    j = load("{\"module\":null,\"version\":\"2.3.4\"}");
    ok(ota_request_inform(j, &rep) == NULL && view_is(rep.module, "default"),
       "inform: module null means default");
    json_decref(j);

    j = load("{\"id\":\"123\",\"params\":{\"version\":\"1.0.1\","
             "\"module\":\"MCU\"}}");
    ok(ota_request_inform(j, &rep) == NULL && rep.has_id && !rep.id_is_int
       && view_is(rep.id, "123") && view_is(rep.module, "MCU")
       && view_is(rep.version, "1.0.1"), "inform: Alibaba shape, string id");
    json_decref(j);

    j = load("{\"id\":42,\"params\":{\"version\":\"1.0.1\"}}");
    ok(ota_request_inform(j, &rep) == NULL && rep.has_id && rep.id_is_int
       && rep.id_int == 42 && view_is(rep.module, "default"),
       "inform: Alibaba shape, integer id, module omitted");
    json_decref(j);

    j = load("{\"id\":null,\"params\":{\"version\":\"1.0.1\"},"
             "\"version\":\"9.9.9\"}");
    ok(ota_request_inform(j, &rep) == NULL && !rep.has_id
       && view_is(rep.version, "1.0.1"),
       "inform: null id ignored, params win over the top level");
    json_decref(j);

    is_str(inform("{\"params\":null,\"version\":\"1.0.0\"}"),
           "\"params\" must be an object", "inform: params null");
    is_str(inform("{\"params\":[1],\"version\":\"1.0.0\"}"),
           "\"params\" must be an object", "inform: params an array");
    is_str(inform("{\"id\":1.5,\"version\":\"1.0.0\"}"),
           "\"id\" must be a string or an integer", "inform: id a real");
    is_str(inform("{\"id\":{},\"version\":\"1.0.0\"}"),
           "\"id\" must be a string or an integer", "inform: id an object");
    is_str(inform("{\"module\":5,\"version\":\"1.0.0\"}"),
           "\"module\" must be a string", "inform: module a number");
    is_str(inform("{\"module\":\"\",\"version\":\"1.0.0\"}"), MOD_NAME,
           "inform: empty module");
    is_str(inform("{\"module\":\"a.b\",\"version\":\"1.0.0\"}"), MOD_NAME,
           "inform: module with a dot");
    is_str(inform("{\"module\":\"MCU\"}"), "\"version\" is missing",
           "inform: version missing");
    is_str(inform("{\"version\":null}"), "\"version\" is missing",
           "inform: version null");
    is_str(inform("{\"version\":101}"), "\"version\" must be a string",
           "inform: version a number");
    is_str(inform("{\"version\":\"1.0\"}"), VER_MSG, "inform: two parts");
    is_str(inform("{\"version\":\"1.0.1000000\"}"), VER_MSG,
           "inform: part over 999999");
    is_str(inform("{\"id\":true,\"module\":5}"),
           "\"id\" must be a string or an integer",
           "inform: id checked before module");
    is_str(inform("{\"params\":{\"version\":\"1.0.0\"},\"module\":\"x/y\"}"),
           "", "inform: top-level module ignored with params");

    j = json_string("x");
    is_str(ota_request_inform(j, &rep), "the body must be a JSON object",
           "inform: not an object");
    json_decref(j);

    /* ---- progress ------------------------------------------------------ */

    j = load("{\"module\":\"MCU\",\"step\":50,\"desc\":\"half\"}");
    ok(ota_request_progress(j, &rep) == NULL && view_is(rep.module, "MCU")
       && rep.step == 50 && view_is(rep.desc, "half") && rep.desc_chars == 4,
       "progress: flat body, numeric step");
    json_decref(j);

    j = load("{\"id\":\"7\",\"params\":{\"step\":\"-2\",\"desc\":\"bad sign\","
             "\"module\":\"MCU\"}}");
    ok(ota_request_progress(j, &rep) == NULL && rep.step == -2
       && view_is(rep.id, "7") && view_is(rep.desc, "bad sign"),
       "progress: Alibaba shape, string step");
    json_decref(j);

    j = load("{\"step\":100}");
    ok(ota_request_progress(j, &rep) == NULL && rep.step == 100
       && view_is(rep.module, "default") && view_is(rep.desc, "")
       && rep.desc_chars == 0, "progress: desc and module omitted");
    json_decref(j);

    j = load("{\"step\":\"-04\",\"desc\":null}");
    ok(ota_request_progress(j, &rep) == NULL && rep.step == -4
       && view_is(rep.desc, ""), "progress: \"-04\", desc null");
    json_decref(j);

    j = load("{\"step\":\"000\"}");
    ok(ota_request_progress(j, &rep) == NULL && rep.step == 0,
       "progress: \"000\" is 0");
    json_decref(j);

    j = load("{\"step\":\"-0\"}");
    ok(ota_request_progress(j, &rep) == NULL && rep.step == 0,
       "progress: \"-0\" is 0");
    json_decref(j);

    is_str(progress("{\"desc\":\"x\"}"), "\"step\" is missing",
           "progress: step missing");
    is_str(progress("{\"step\":null}"), "\"step\" is missing",
           "progress: step null");
    is_str(progress("{\"step\":-5}"), STEP_RANGE, "progress: -5");
    is_str(progress("{\"step\":101}"), STEP_RANGE, "progress: 101");
    is_str(progress("{\"step\":\"-5\"}"), STEP_RANGE, "progress: \"-5\"");
    is_str(progress("{\"step\":\"999\"}"), STEP_RANGE, "progress: \"999\"");
    is_str(progress("{\"step\":9223372036854775807}"), STEP_RANGE,
           "progress: huge step");
    is_str(progress("{\"step\":\"1000\"}"), STEP_TYPE,
           "progress: four digits");
    is_str(progress("{\"step\":\"\"}"), STEP_TYPE, "progress: empty step");
    is_str(progress("{\"step\":\"-\"}"), STEP_TYPE, "progress: \"-\"");
    is_str(progress("{\"step\":\"--1\"}"), STEP_TYPE, "progress: \"--1\"");
    is_str(progress("{\"step\":\"+1\"}"), STEP_TYPE, "progress: \"+1\"");
    is_str(progress("{\"step\":\" 1\"}"), STEP_TYPE, "progress: \" 1\"");
    is_str(progress("{\"step\":\"5x\"}"), STEP_TYPE, "progress: \"5x\"");
    is_str(progress("{\"step\":50.0}"), STEP_TYPE, "progress: a real");
    is_str(progress("{\"step\":true}"), STEP_TYPE, "progress: a boolean");
    is_str(progress("{\"step\":1,\"desc\":1}"), "\"desc\" must be a string",
           "progress: desc a number");
    is_str(progress("{\"module\":\"-\",\"step\":\"x\"}"), STEP_TYPE,
           "progress: module checked before step");
    is_str(progress("{\"module\":\"a b\",\"step\":\"x\"}"), MOD_NAME,
           "progress: bad module before a bad step");

    /* desc: 128 characters, not bytes */
    memset(desc, 'a', 128);
    desc[128] = '\0';
    snprintf(text, sizeof(text), "{\"step\":1,\"desc\":\"%s\"}", desc);
    is_str(progress(text), "", "progress: 128 ASCII characters");
    snprintf(text, sizeof(text), "{\"step\":1,\"desc\":\"%sa\"}", desc);
    is_str(progress(text), "\"desc\" is longer than 128 characters",
           "progress: 129 ASCII characters");

    desc[0] = '\0';
    for (i = 0; i < 128; i++) {
        strcat(desc, "\xc3\xa9");             /* U+00E9, two bytes */
    }
    snprintf(text, sizeof(text), "{\"step\":1,\"desc\":\"%s\"}", desc);
    j = load(text);
    ok(ota_request_progress(j, &rep) == NULL && rep.desc_chars == 128
       && rep.desc.len == 256, "progress: 128 two-byte characters");
    json_decref(j);
    snprintf(text, sizeof(text), "{\"step\":1,\"desc\":\"%s\\u00e9\"}", desc);
    is_str(progress(text), "\"desc\" is longer than 128 characters",
           "progress: 129 two-byte characters");
    snprintf(text, sizeof(text),
             "{\"step\":1,\"desc\":\"%.250s\\ud83d\\ude00\"}", desc);
    is_str(progress(text), "", "progress: 125 + one 4-byte character");

    is_int(ota_utf8_chars("\xf0\x9f\x98\x80" "ab", 6), 3,
           "utf8 chars: a 4-byte character counts once");

    return done_testing();
}
