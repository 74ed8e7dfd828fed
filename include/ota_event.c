/* ota_event.c: device events as XADD argument vectors (ota_event.h) */

#include "ota_event.h"

#include <stdio.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"


/* the fields of each type, in the order they are written */
enum {
    OTA_EVF_DEVICE = 1, OTA_EVF_PRODUCT, OTA_EVF_MODULE, OTA_EVF_PACKAGE,
    OTA_EVF_BATCH, OTA_EVF_VERSION, OTA_EVF_COVERED, OTA_EVF_SIZE,
    OTA_EVF_STEP, OTA_EVF_DESC
};

static const struct {
    const char     *type;
    unsigned char   fields[6];          /* 0 ends */
} ota_event_types[] = {
    { OTA_EV_DOWNLOAD, { OTA_EVF_DEVICE, OTA_EVF_PACKAGE, OTA_EVF_MODULE,
                         OTA_EVF_COVERED, OTA_EVF_SIZE } },
    { OTA_EV_INFORM,   { OTA_EVF_DEVICE, OTA_EVF_PRODUCT, OTA_EVF_MODULE,
                         OTA_EVF_VERSION } },
    { OTA_EV_PROGRESS, { OTA_EVF_DEVICE, OTA_EVF_PRODUCT, OTA_EVF_MODULE,
                         OTA_EVF_STEP, OTA_EVF_DESC } },
    { OTA_EV_NOTIFIED, { OTA_EVF_DEVICE, OTA_EVF_MODULE, OTA_EVF_BATCH,
                         OTA_EVF_PACKAGE } },
};


ota_event_str_t
ota_event_cstr(const char *s)
{
    ota_event_str_t  v;

    v.data = s;
    v.len = s ? strlen(s) : 0;
    return v;
}


static void
ota_event_arg(ota_event_t *e, const char *s, size_t len)
{
    e->argv[e->argc] = s;
    e->argvlen[e->argc] = len;
    e->argc++;
}


static void
ota_event_num(ota_event_t *e, int k, long long v)
{
    int  n = snprintf(e->num[k], sizeof(e->num[k]), "%lld", v);

    ota_event_arg(e, e->num[k], (size_t) n);
}


static int
ota_event_str(ota_event_t *e, const char *name, ota_event_str_t v,
    int required)
{
    if (required && (v.data == NULL || v.len == 0)) {
        return -1;
    }
    ota_event_arg(e, name, strlen(name));
    ota_event_arg(e, v.data ? v.data : "", v.data ? v.len : 0);
    return 0;
}


int
ota_event_encode(ota_event_t *e, const ota_event_fields_t *f)
{
    size_t  t, i;
    int     rc = 0;

    e->argc = 0;
    for (t = 0; t < sizeof(ota_event_types) / sizeof(ota_event_types[0]);
         t++)
    {
        if (f->type != NULL && strcmp(f->type, ota_event_types[t].type) == 0)
        {
            break;
        }
    }
    if (t == sizeof(ota_event_types) / sizeof(ota_event_types[0])) {
        return -1;
    }

    ota_event_arg(e, "XADD", 4);
    ota_event_arg(e, OTA_STREAM_EVENTS, sizeof(OTA_STREAM_EVENTS) - 1);
    ota_event_arg(e, "*", 1);
    ota_event_arg(e, OTA_F_TYPE, sizeof(OTA_F_TYPE) - 1);
    ota_event_arg(e, ota_event_types[t].type,
                  strlen(ota_event_types[t].type));
    ota_event_arg(e, OTA_F_TS, sizeof(OTA_F_TS) - 1);
    ota_event_num(e, 0, (long long) f->ts);

    for (i = 0; i < 6 && ota_event_types[t].fields[i] && rc == 0; i++) {
        switch (ota_event_types[t].fields[i]) {
        case OTA_EVF_DEVICE:
            rc = ota_event_str(e, OTA_F_DEVICE, f->device, 1);
            break;
        case OTA_EVF_PRODUCT:
            rc = ota_event_str(e, OTA_F_PRODUCT, f->product, 1);
            break;
        case OTA_EVF_MODULE:
            rc = ota_event_str(e, OTA_F_MODULE, f->module, 1);
            break;
        case OTA_EVF_PACKAGE:
            rc = ota_event_str(e, OTA_F_PACKAGE, f->package, 1);
            break;
        case OTA_EVF_BATCH:
            rc = ota_event_str(e, OTA_F_BATCH, f->batch, 1);
            break;
        case OTA_EVF_VERSION:
            rc = ota_event_str(e, OTA_F_VERSION, f->version, 1);
            break;
        case OTA_EVF_DESC:
            rc = ota_event_str(e, OTA_F_DESC, f->desc, 0);
            break;
        case OTA_EVF_COVERED:
            ota_event_arg(e, OTA_F_COVERED, sizeof(OTA_F_COVERED) - 1);
            ota_event_num(e, 1, f->covered);
            break;
        case OTA_EVF_SIZE:
            ota_event_arg(e, OTA_F_SIZE, sizeof(OTA_F_SIZE) - 1);
            ota_event_num(e, 2, f->size);
            break;
        case OTA_EVF_STEP:
            ota_event_arg(e, OTA_F_STEP, sizeof(OTA_F_STEP) - 1);
            ota_event_num(e, 3, f->step);
            break;
        }
    }
    if (rc != 0) {
        e->argc = 0;
    }
    return rc;
}
