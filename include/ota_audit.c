/* ota_audit.c: audit stream entries as XADD argument vectors (ota_audit.h) */

#include "ota_audit.h"

#include <stdio.h>
#include <string.h>

#include "ota_keys.h"


const char  *ota_audit_field_names[OTA_AUDIT_NFIELDS] = {
    "time", "token", "role", "action", "object", "status", "result", "remote"
};


ota_audit_str_t
ota_audit_cstr(const char *s)
{
    ota_audit_str_t  v;

    v.data = s ? s : "";
    v.len = s ? strlen(s) : 0;
    return v;
}


static void
ota_audit_arg(ota_audit_t *a, const char *s, size_t len)
{
    a->argv[a->argc] = s;
    a->argvlen[a->argc++] = len;
}


/* a string field, cut to max bytes without splitting a UTF-8 sequence */
static void
ota_audit_str(ota_audit_t *a, const char *name, ota_audit_str_t v, size_t max)
{
    size_t  len = v.len;

    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char) v.data[len] & 0xc0) == 0x80) {
            len--;
        }
    }
    ota_audit_arg(a, name, strlen(name));
    ota_audit_arg(a, v.data ? v.data : "", v.data ? len : 0);
}


void
ota_audit_encode(ota_audit_t *a, const ota_audit_fields_t *f)
{
    const char  *action = f->action ? f->action : "";

    a->argc = 0;
    ota_audit_arg(a, "XADD", 4);
    ota_audit_arg(a, OTA_STREAM_AUDIT, sizeof(OTA_STREAM_AUDIT) - 1);
    /* an approximate cap costs Redis nothing per entry (whole nodes go) */
    ota_audit_arg(a, "MAXLEN", 6);
    ota_audit_arg(a, "~", 1);
    ota_audit_arg(a, OTA_AUDIT_KEEP, sizeof(OTA_AUDIT_KEEP) - 1);
    ota_audit_arg(a, "*", 1);

    snprintf(a->num[0], sizeof(a->num[0]), "%lld", (long long) f->time);
    snprintf(a->num[1], sizeof(a->num[1]), "%d", f->status);

    ota_audit_arg(a, "time", 4);
    ota_audit_arg(a, a->num[0], strlen(a->num[0]));
    ota_audit_str(a, "token", f->token, 64);
    ota_audit_str(a, "role", f->role, 16);
    ota_audit_arg(a, "action", 6);
    ota_audit_arg(a, action, strlen(action));
    ota_audit_str(a, "object", f->object, OTA_AUDIT_OBJECT_MAX);
    ota_audit_arg(a, "status", 6);
    ota_audit_arg(a, a->num[1], strlen(a->num[1]));
    ota_audit_str(a, "result", f->result, OTA_AUDIT_RESULT_MAX);
    ota_audit_str(a, "remote", f->remote, 64);
}
