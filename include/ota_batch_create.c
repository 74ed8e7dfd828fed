/* ota_batch_create.c: a batch's options and jobs (ota_batch_create.h) */

#include "ota_batch_create.h"

#include <stdio.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"


int
ota_batch_check(ota_check_t *c, ota_batch_opts_t *b)
{
    ota_version_t  v;
    const char    *p, *q;
    size_t         l;

    if (b->package == NULL || b->type == NULL || b->name == NULL) {
        return ota_check_fail(c, "%s needs %s, %s and %s",
                              c->api ? "a batch" : "batch create",
                              ota_check_field(c, "package"),
                              ota_check_field(c, "type"),
                              ota_check_field(c, "name"));
    }
    if (!ota_name_id(b->package, strlen(b->package))) {
        return ota_check_fail(c, "invalid package id \"%s\"", b->package);
    }
    if (strcmp(b->type, "verify") != 0 && strcmp(b->type, "upgrade") != 0) {
        return ota_check_fail(c, "invalid %s \"%s\" (verify or upgrade)",
                              ota_check_field(c, "type"), b->type);
    }
    if (b->name[0] == '\0'
        || !ota_text_ok(b->name, strlen(b->name), OTA_BATCH_NAME_MAX))
    {
        return ota_check_fail(c, "invalid %s: 1-128 characters, no control "
                              "characters", ota_check_field(c, "name"));
    }
    if (b->protocol == NULL) {
        b->protocol = "https";
    }
    if (strcmp(b->protocol, "http") != 0 && strcmp(b->protocol, "https") != 0
        && strcmp(b->protocol, "mqtt") != 0)
    {
        return ota_check_fail(c, "invalid %s \"%s\" (http, https or mqtt)",
                              ota_check_field(c, "protocol"), b->protocol);
    }
    if (b->method == NULL) {
        b->method = "static";
    }
    if (strcmp(b->method, "static") != 0 && strcmp(b->method, "dynamic") != 0)
    {
        return ota_check_fail(c, "invalid %s \"%s\" (static or dynamic)",
                              ota_check_field(c, "method"), b->method);
    }
    b->fvbuf[0] = '\0';
    if (b->from_version != NULL) {
        if (ota_version_parse_cstr(b->from_version, &v) != 0) {
            return ota_check_fail(c, "invalid %s \"%s\" (want X.Y.Z)",
                                  ota_check_field(c, "from_version"),
                                  b->from_version);
        }
        ota_version_format(&v, b->fvbuf);
    }

    b->ndevices = 0;
    if (strcmp(b->type, "verify") == 0) {
        if (b->devices == NULL || b->devices[0] == '\0') {
            return ota_check_fail(c, "a verify batch needs %s d1,d2,...",
                                  ota_check_field(c, "devices"));
        }
        if (strcmp(b->method, "dynamic") == 0) {
            return ota_check_fail(c, "a verify batch has a fixed device "
                                  "list: %s dynamic is for upgrade batches",
                                  ota_check_field(c, "method"));
        }
        for (p = b->devices; ; p = q + 1) {
            q = strchr(p, ',');
            l = q ? (size_t) (q - p) : strlen(p);
            if (!ota_name_device(p, l)) {
                return ota_check_fail(c, "invalid device name \"%.*s\" in %s",
                                      (int) l, p,
                                      ota_check_field(c, "devices"));
            }
            if (++b->ndevices > OTA_BATCH_DEVICES_MAX) {
                return ota_check_fail(c, "at most %d devices in a verify "
                                      "batch", OTA_BATCH_DEVICES_MAX);
            }
            if (q == NULL) {
                break;
            }
        }
    } else if (b->devices != NULL) {
        return ota_check_fail(c, "%s is for verify batches; an upgrade "
                              "batch targets every device of the product "
                              "(narrow it with %s)",
                              ota_check_field(c, "devices"),
                              ota_check_field(c, "from_version"));
    }
    return 0;
}


void
ota_batch_id(char *id, time_t now, const unsigned char *rnd)
{
    struct tm  tm;
    char       ts[32];

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
    snprintf(id, OTA_NAME_MAX + 1, "b%s-%02x%02x%02x%02x", ts, rnd[0], rnd[1],
             rnd[2], rnd[3]);
}


int
ota_jobcmd_add(ota_jobcmd_t *j, const char *field, const char *value)
{
    if (j->argc + 2 > OTA_JOBCMD_ARGC_MAX) {
        return -1;
    }
    j->argv[j->argc] = field;
    j->argvlen[j->argc++] = strlen(field);
    j->argv[j->argc] = value;
    j->argvlen[j->argc++] = strlen(value);
    return 0;
}


int
ota_jobcmd_add_copy(ota_jobcmd_t *j, const char *field, const char *value)
{
    size_t  fl = strlen(field) + 1, vl = strlen(value) + 1;
    char   *p = j->copy + j->copied;

    if (j->copied + fl + vl > sizeof(j->copy)) {
        return -1;
    }
    memcpy(p, field, fl);
    memcpy(p + fl, value, vl);
    if (ota_jobcmd_add(j, p, p + fl) != 0) {
        return -1;
    }
    j->copied += fl + vl;
    return 0;
}


int
ota_jobcmd_init(ota_jobcmd_t *j, const char *job, int64_t now_ms,
    int64_t expires_ms)
{
    size_t  i, l = strlen(job);

    if (l == 0 || l > 64) {
        return -1;
    }
    for (i = 0; i < l; i++) {
        if (!((job[i] >= '0' && job[i] <= '9')
              || (job[i] >= 'a' && job[i] <= 'f')))
        {
            return -1;
        }
    }
    j->argc = 0;
    j->copied = 0;
    j->full = 0;
    j->argv[j->argc] = "XADD";
    j->argvlen[j->argc++] = 4;
    j->argv[j->argc] = OTA_STREAM_JOBS;
    j->argvlen[j->argc++] = sizeof(OTA_STREAM_JOBS) - 1;
    j->argv[j->argc] = "*";
    j->argvlen[j->argc++] = 1;
    snprintf(j->num[0], sizeof(j->num[0]), "%lld", (long long) now_ms);
    snprintf(j->num[1], sizeof(j->num[1]), "%lld", (long long) expires_ms);
    ota_jobcmd_add(j, OTA_F_JOB, job);
    ota_jobcmd_add(j, OTA_F_TS, j->num[0]);
    /* a worker that finds the job after the admin gave up must not act */
    ota_jobcmd_add(j, OTA_F_EXPIRES, j->num[1]);
    return 0;
}


int
ota_jobcmd_batch_create(ota_jobcmd_t *j, const ota_batch_opts_t *b,
    const char *id)
{
    int  rc = 0;

    rc |= ota_jobcmd_add(j, OTA_F_TYPE, OTA_JOB_BATCH_CREATE);
    rc |= ota_jobcmd_add(j, OTA_F_ID, id);
    rc |= ota_jobcmd_add(j, OTA_F_PACKAGE, b->package);
    rc |= ota_jobcmd_add(j, OTA_F_BTYPE, b->type);
    rc |= ota_jobcmd_add(j, OTA_F_NAME, b->name);
    rc |= ota_jobcmd_add(j, OTA_F_DEVICES, b->devices ? b->devices : "");
    rc |= ota_jobcmd_add(j, OTA_F_FROM_VERSION, b->fvbuf);
    rc |= ota_jobcmd_add(j, OTA_F_PROTOCOL, b->protocol);
    rc |= ota_jobcmd_add(j, OTA_F_METHOD, b->method);
    rc |= ota_jobcmd_add(j, OTA_F_PUSH, b->push ? "1" : "0");
    return rc;
}


int
ota_jobcmd_batch_op(ota_jobcmd_t *j, const char *type, const char *id)
{
    int  rc = 0;

    rc |= ota_jobcmd_add(j, OTA_F_TYPE, type);
    rc |= ota_jobcmd_add(j, OTA_F_ID, id);
    return rc;
}


const char *
ota_batch_op_job(const char *verb)
{
    if (strcmp(verb, "pause") == 0) {
        return OTA_JOB_BATCH_PAUSE;
    }
    if (strcmp(verb, "resume") == 0) {
        return OTA_JOB_BATCH_RESUME;
    }
    if (strcmp(verb, "cancel") == 0) {
        return OTA_JOB_BATCH_CANCEL;
    }
    return NULL;
}
