/*
 * ota_audit.h: the one encoder of an entry of the audit stream
 * (OTA_STREAM_AUDIT, docs/redis-schema.md): every write through the admin
 * API (and every change otactl makes with Redis directly) is appended as
 *
 *   time    ms of the write
 *   token   the admin token's name (ota_admin_token NAME:TOKEN), or
 *           "otactl" for otactl talking to Redis itself
 *   role    operator | viewer
 *   action  device.add module.add package.add batch.create batch.pause
 *           batch.resume batch.cancel config.set
 *   object  what it named: a device, "<product>/<module>", a package or
 *           batch id, the settings changed ("" when the request was
 *           refused before it named one)
 *   status  the HTTP status of the answer (201, 409, ...)
 *   result  "ok", or the reason of the refusal
 *   remote  the client's address ("" for otactl)
 *
 * The stream is capped (XADD MAXLEN ~ OTA_AUDIT_KEEP): the newest entries
 * are kept, a log of the oldest is the operator's (redis-cli XRANGE).
 * Never a secret or a token in an entry.
 */

#ifndef OTA_AUDIT_H
#define OTA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define OTA_AUDIT_KEEP       "1000000"
#define OTA_AUDIT_OBJECT_MAX 256        /* bytes of "object" kept */
#define OTA_AUDIT_RESULT_MAX 512

#define OTA_ACT_DEVICE_ADD    "device.add"
#define OTA_ACT_MODULE_ADD    "module.add"
#define OTA_ACT_PACKAGE_ADD   "package.add"
#define OTA_ACT_PACKAGE_DIFF  "package.diff"
#define OTA_ACT_BATCH_CREATE  "batch.create"
#define OTA_ACT_BATCH_PAUSE   "batch.pause"
#define OTA_ACT_BATCH_RESUME  "batch.resume"
#define OTA_ACT_BATCH_CANCEL  "batch.cancel"
#define OTA_ACT_CONFIG_SET    "config.set"
#define OTA_ACT_PRODUCT_SET   "product.set"
#define OTA_ACT_PACKAGE_SIGN  "package.sign"

typedef struct {
    const char  *data;
    size_t       len;
} ota_audit_str_t;

typedef struct {
    int64_t          time;              /* ms */
    ota_audit_str_t  token;
    ota_audit_str_t  role;
    const char      *action;
    ota_audit_str_t  object;
    int              status;
    ota_audit_str_t  result;
    ota_audit_str_t  remote;
} ota_audit_fields_t;

/* XADD <stream> MAXLEN ~ <keep> * and eight fields */
#define OTA_AUDIT_ARGC   22

typedef struct {
    int           argc;
    const char   *argv[OTA_AUDIT_ARGC];
    size_t        argvlen[OTA_AUDIT_ARGC];
    char          num[2][24];
} ota_audit_t;

/* the vector points into f's strings (cut to the limits above) */
void ota_audit_encode(ota_audit_t *a, const ota_audit_fields_t *f);

ota_audit_str_t ota_audit_cstr(const char *s);

/* the fields of an entry, in the order they are written (readers) */
#define OTA_AUDIT_NFIELDS  8
extern const char  *ota_audit_field_names[OTA_AUDIT_NFIELDS];

#endif /* OTA_AUDIT_H */
