/*
 * ota_request.h: the JSON bodies of the device API's POST requests
 * (auth, inform, progress), checked without nginx.  Plain C, on a jansson
 * tree or on a flat body read by ota_jflat (the module's fast path: the same
 * rules, the same messages), shared by the module, the MQTT bridge, the
 * unit tests and the fuzz targets.
 *
 *   auth      {"product","device","timestamp" (ms, number or digits),"sign"}
 *   inform    {"module","version"}  or  {"id","params":{"version","module"}}
 *   progress  {"module","step","desc"}
 *             or  {"id","params":{"step","desc","module"}}
 *
 * "module" omitted (or null) means "default"; "id" (string or integer) is
 * for the caller to echo.  The parsers return NULL when the body is
 * accepted, or the message of the 400 answer (a static string).  Results
 * are views into the JSON (valid while it lives), into static strings
 * ("default", "") or, for a numeric timestamp, into the result struct
 * itself: callers copy what they keep before json_decref().  The _flat
 * entries read an ota_jflat_t (views into its input and scratch buffer).
 */

#ifndef OTA_REQUEST_H
#define OTA_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ota_jflat.h"
#include "ota_version.h"

#define OTA_REQ_DESC_MAX    128         /* characters (code points) */
#define OTA_REQ_STEP_MIN    -4
#define OTA_REQ_STEP_MAX    100
#define OTA_REQ_TS_MAX_LEN  18          /* digits of a ms timestamp */
#define OTA_REQ_INT_BUF     24          /* "-9223372036854775808" + NUL */

typedef struct {
    const char  *data;
    size_t       len;
} ota_view_t;

typedef struct {
    ota_view_t   product;       /* a valid product name */
    ota_view_t   device;        /* a valid device name */
    ota_view_t   sign;          /* unchecked: the signature check is later */
    ota_view_t   ts;            /* as written: the sign covers it */
    int64_t      ts_ms;         /* its value, >= 0 */
    char         ts_buf[OTA_REQ_INT_BUF];  /* ts of a numeric timestamp */
} ota_auth_req_t;

typedef struct {
    ota_view_t     module;      /* a valid module name */
    ota_view_t     version;     /* inform: X.Y.Z */
    ota_version_t  ver;         /* inform: version parsed */
    int            step;        /* progress: OTA_REQ_STEP_MIN..MAX */
    ota_view_t     desc;        /* progress: "" when omitted */
    size_t         desc_chars;  /* progress: <= OTA_REQ_DESC_MAX */
    ota_view_t     id;          /* string id when has_id && !id_is_int */
    json_int_t     id_int;      /* integer id when has_id && id_is_int */
    unsigned       has_id:1;
    unsigned       id_is_int:1;
} ota_report_req_t;

/* an object of a request body: a jansson object (json), or the object at
 * index at of a flat body (flat; at -1: its top object) */
typedef struct {
    json_t             *json;
    const ota_jflat_t  *flat;
    int                 at;
} ota_req_obj_t;

/* body must outlive the views; a is zeroed first */
const char *ota_request_auth(json_t *body, ota_auth_req_t *a);
const char *ota_request_auth_flat(const ota_jflat_t *body,
    ota_auth_req_t *a);

/* rep is zeroed first */
const char *ota_request_inform(json_t *body, ota_report_req_t *rep);
const char *ota_request_progress(json_t *body, ota_report_req_t *rep);
const char *ota_request_inform_flat(const ota_jflat_t *body,
    ota_report_req_t *rep);
const char *ota_request_progress_flat(const ota_jflat_t *body,
    ota_report_req_t *rep);

/* a request that names only a module, in either shape ({"module"} or
 * {"id","params":{"module"}}): "id" and "module" of rep (MQTT firmware/get) */
const char *ota_request_target(json_t *body, ota_report_req_t *rep);

/* code points of UTF-8 text (continuation bytes not counted) */
size_t ota_utf8_chars(const char *s, size_t len);

#endif /* OTA_REQUEST_H */
