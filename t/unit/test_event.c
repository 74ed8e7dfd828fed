/* unit tests: the event encoder (include/ota_event) */

#include "tap.h"
#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"

/* the vector as "a b c" */
static const char *
joined(const ota_event_t *e)
{
    static char  buf[1024];
    size_t       n = 0;
    int          i;

    buf[0] = '\0';
    for (i = 0; i < e->argc && n + 1 < sizeof(buf); i++) {
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%.*s",
                               i ? " " : "", (int) e->argvlen[i],
                               e->argv[i]);
    }
    return buf;
}

int
main(void)
{
    ota_event_t         e;
    ota_event_fields_t  f;

    memset(&f, 0, sizeof(f));
    f.type = OTA_EV_DOWNLOAD;
    f.ts = 1700000000123LL;
    f.device = ota_event_cstr("dev-1");
    f.package = ota_event_cstr("pkg");
    f.module = ota_event_cstr("MCU");
    f.covered = 500;
    f.size = 1000;
    f.product = ota_event_cstr("not-written");
    ok(ota_event_encode(&e, &f) == 0, "download");
    is_str(joined(&e), "XADD " OTA_STREAM_EVENTS " * type download ts "
           "1700000000123 device dev-1 package pkg module MCU covered 500 "
           "size 1000", "  its fields, ts in ms, nothing else");

    /* the notified event folded in: batch and its ts, only when set */
    f.batch = ota_event_cstr("b7");
    ok(ota_event_encode(&e, &f) == 0 && e.argc == 17,
       "download: a batch alone adds nothing");
    f.notified = 1700000000100LL;
    ok(ota_event_encode(&e, &f) == 0 && e.argc == 21, "download + notified");
    is_str(joined(&e), "XADD " OTA_STREAM_EVENTS " * type download ts "
           "1700000000123 device dev-1 package pkg module MCU covered 500 "
           "size 1000 batch b7 notified 1700000000100",
           "  batch and the notified ts after the download's fields");
    f.batch.len = 0;
    ok(ota_event_encode(&e, &f) == -1 && e.argc == 0,
       "  notified without its batch is refused");
    f.batch.data = NULL;
    f.notified = 0;

    memset(&f, 0, sizeof(f));
    f.type = OTA_EV_INFORM;
    f.ts = 5;
    f.device = ota_event_cstr("d");
    f.product = ota_event_cstr("p");
    f.module = ota_event_cstr("default");
    f.version = ota_event_cstr("1.2.3");
    ok(ota_event_encode(&e, &f) == 0, "inform");
    is_str(joined(&e), "XADD ota:events * type inform ts 5 device d "
           "product p module default version 1.2.3", "  its fields");

    f.type = OTA_EV_PROGRESS;
    f.step = -2;
    f.desc.data = "no space left";
    f.desc.len = 8;                     /* not NUL-terminated there */
    ok(ota_event_encode(&e, &f) == 0, "progress");
    is_str(joined(&e), "XADD ota:events * type progress ts 5 device d "
           "product p module default step -2 desc no space", "  its fields");
    f.desc.data = NULL;
    f.desc.len = 0;
    ok(ota_event_encode(&e, &f) == 0 && e.argc == 17
       && e.argvlen[16] == 0, "progress without desc: an empty desc");

    f.type = OTA_EV_NOTIFIED;
    f.batch = ota_event_cstr("b1");
    f.package = ota_event_cstr("pk");
    ok(ota_event_encode(&e, &f) == 0, "notified");
    is_str(joined(&e), "XADD ota:events * type notified ts 5 device d "
           "module default batch b1 package pk", "  its fields");

    f.batch.len = 0;
    ok(ota_event_encode(&e, &f) == -1 && e.argc == 0,
       "notified without a batch is refused");
    f.type = "other";
    ok(ota_event_encode(&e, &f) == -1, "an unknown type is refused");
    f.type = NULL;
    ok(ota_event_encode(&e, &f) == -1, "no type is refused");
    f.type = OTA_EV_INFORM;
    f.device = ota_event_cstr("");
    ok(ota_event_encode(&e, &f) == -1, "an empty device is refused");

    return done_testing();
}
