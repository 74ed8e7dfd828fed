/* ota_event.c: device events as XADD argument vectors (ota_event.h) */

#include "ota_event.h"
#include "ota_dec.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"


/* the fields an event may have: their names, where they are in
 * ota_event_fields_t, what they hold */
enum {
    OTA_EVF_NONE = 0, OTA_EVF_DEVICE, OTA_EVF_PRODUCT, OTA_EVF_MODULE,
    OTA_EVF_PACKAGE, OTA_EVF_BATCH, OTA_EVF_VERSION, OTA_EVF_COVERED,
    OTA_EVF_SIZE, OTA_EVF_STEP, OTA_EVF_DESC
};

enum { OTA_EVK_STR = 0, OTA_EVK_OPTSTR, OTA_EVK_LL, OTA_EVK_INT };

static const struct {
    const char  *name;
    size_t       off;
    int          kind;
    int          num;                   /* its buffer in ota_event_t.num */
} ota_event_field[] = {
    [OTA_EVF_DEVICE]  = { OTA_F_DEVICE,  offsetof(ota_event_fields_t, device),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_PRODUCT] = { OTA_F_PRODUCT, offsetof(ota_event_fields_t, product),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_MODULE]  = { OTA_F_MODULE,  offsetof(ota_event_fields_t, module),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_PACKAGE] = { OTA_F_PACKAGE, offsetof(ota_event_fields_t, package),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_BATCH]   = { OTA_F_BATCH,   offsetof(ota_event_fields_t, batch),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_VERSION] = { OTA_F_VERSION, offsetof(ota_event_fields_t, version),
                          OTA_EVK_STR, 0 },
    [OTA_EVF_COVERED] = { OTA_F_COVERED, offsetof(ota_event_fields_t, covered),
                          OTA_EVK_LL, 1 },
    [OTA_EVF_SIZE]    = { OTA_F_SIZE,    offsetof(ota_event_fields_t, size),
                          OTA_EVK_LL, 2 },
    [OTA_EVF_STEP]    = { OTA_F_STEP,    offsetof(ota_event_fields_t, step),
                          OTA_EVK_INT, 3 },
    [OTA_EVF_DESC]    = { OTA_F_DESC,    offsetof(ota_event_fields_t, desc),
                          OTA_EVK_OPTSTR, 0 },
};

/* the fields of each type, in the order they are written */
static const struct {
    const char     *type;
    unsigned char   fields[6];          /* OTA_EVF_NONE ends */
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


/* v in decimal, as "%lld" prints it: not snprintf, as every event has two
 * or three numbers (speed) */
static void
ota_event_num(ota_event_t *e, int k, long long v)
{
    char  *end;

    end = ota_dec_ll(e->num[k], v);
    *end = '\0';

    ota_event_arg(e, e->num[k], (size_t) (end - e->num[k]));
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
        int              id = ota_event_types[t].fields[i];
        const char      *p = (const char *) f + ota_event_field[id].off;
        ota_event_str_t  v;

        ota_event_arg(e, ota_event_field[id].name,
                      strlen(ota_event_field[id].name));
        switch (ota_event_field[id].kind) {
        case OTA_EVK_LL:
            ota_event_num(e, ota_event_field[id].num, *(const long long *) p);
            break;
        case OTA_EVK_INT:
            ota_event_num(e, ota_event_field[id].num, *(const int *) p);
            break;
        default:
            v = *(const ota_event_str_t *) p;
            if (v.data == NULL || v.len == 0) {
                /* a required string missing: refused */
                rc = ota_event_field[id].kind == OTA_EVK_STR ? -1 : 0;
                v.data = "";
                v.len = 0;
            }
            ota_event_arg(e, v.data, v.len);
        }
    }
    /* a download with the notified event folded in: both fields or
     * neither */
    if (rc == 0 && f->notified > 0
        && strcmp(ota_event_types[t].type, OTA_EV_DOWNLOAD) == 0)
    {
        if (f->batch.data == NULL || f->batch.len == 0) {
            rc = -1;
        } else {
            ota_event_arg(e, OTA_F_BATCH, sizeof(OTA_F_BATCH) - 1);
            ota_event_arg(e, f->batch.data, f->batch.len);
            ota_event_arg(e, OTA_F_NOTIFIED, sizeof(OTA_F_NOTIFIED) - 1);
            ota_event_num(e, 4, (long long) f->notified);
        }
    }
    if (rc != 0) {
        e->argc = 0;
    }
    return rc;
}
