/*
 * ota_request.c: checks of the device API's request bodies (ota_request.h).
 * The messages are the ones the device sees in the 400 answer; the tests
 * (t/20-auth.t, t/21-report.t, t/unit/test_request.c) assert them.
 */

#include "ota_request.h"

#include <stdio.h>
#include <string.h>

#include "ota_names.h"
#include "ota_token.h"


typedef enum {
    OTA_REQ_STR_OK = 0,
    OTA_REQ_STR_ABSENT,                 /* absent or null */
    OTA_REQ_STR_WRONG                   /* not a string */
} ota_req_str_e;


/* a string member as a view into the JSON */
static ota_req_str_e
ota_req_str(json_t *obj, const char *name, ota_view_t *out)
{
    json_t  *v;

    v = json_object_get(obj, name);

    if (v == NULL || json_is_null(v)) {
        return OTA_REQ_STR_ABSENT;
    }

    if (!json_is_string(v)) {
        return OTA_REQ_STR_WRONG;
    }

    out->data = json_string_value(v);
    out->len = json_string_length(v);

    return OTA_REQ_STR_OK;
}


/* a required string member: NULL, or the message for its absence or type */
static const char *
ota_req_need(json_t *obj, const char *name, ota_view_t *out,
    const char *missing, const char *wrong)
{
    switch (ota_req_str(obj, name, out)) {
    case OTA_REQ_STR_ABSENT:
        return missing;
    case OTA_REQ_STR_WRONG:
        return wrong;
    default:
        return NULL;
    }
}


const char *
ota_request_auth(json_t *body, ota_auth_req_t *a)
{
    int          n;
    json_t      *ts;
    const char  *err;

    memset(a, 0, sizeof(ota_auth_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    err = ota_req_need(body, "product", &a->product,
                       "\"product\": missing field",
                       "\"product\": must be a string");
    if (err == NULL) {
        err = ota_req_need(body, "device", &a->device,
                           "\"device\": missing field",
                           "\"device\": must be a string");
    }
    if (err == NULL) {
        err = ota_req_need(body, "sign", &a->sign,
                           "\"sign\": missing field",
                           "\"sign\": must be a string");
    }
    if (err != NULL) {
        return err;
    }

    /* the sign covers the timestamp as the device wrote it */
    ts = json_object_get(body, "timestamp");

    if (ts == NULL || json_is_null(ts)) {
        return "\"timestamp\": missing field";
    }

    if (json_is_integer(ts)) {
        n = snprintf(a->ts_buf, sizeof(a->ts_buf), "%lld",
                     (long long) json_integer_value(ts));
        if (n < 0 || (size_t) n >= sizeof(a->ts_buf)) {
            return "\"timestamp\": must be milliseconds since the epoch, "
                   "digits only";
        }
        a->ts.data = a->ts_buf;
        a->ts.len = (size_t) n;

    } else if (json_is_string(ts)) {
        a->ts.data = json_string_value(ts);
        a->ts.len = json_string_length(ts);

    } else {
        return "\"timestamp\": must be an integer (ms) or a string of digits";
    }

    if (!ota_name_product(a->product.data, a->product.len)) {
        return "\"product\": not a valid product name";
    }

    if (!ota_name_device(a->device.data, a->device.len)) {
        return "\"device\": not a valid device name";
    }

    /* a negative number prints with '-' and is refused here too */
    a->ts_ms = (a->ts.len <= OTA_REQ_TS_MAX_LEN)
               ? ota_parse_int64(a->ts.data, a->ts.len) : -1;

    if (a->ts_ms < 0) {
        return "\"timestamp\": must be milliseconds since the epoch, "
               "digits only";
    }

    return NULL;
}


size_t
ota_utf8_chars(const char *s, size_t len)
{
    size_t  i, chars;

    chars = 0;
    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            chars++;
        }
    }

    return chars;
}


/* "params", "id" and "module", common to both reports; *src gets the object
 * holding the report's fields (the body, or its "params") */
static const char *
ota_request_report(json_t *body, ota_report_req_t *rep, json_t **src)
{
    json_t  *params, *id;

    memset(rep, 0, sizeof(ota_report_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    *src = body;

    params = json_object_get(body, "params");
    if (params != NULL) {
        /* "params": null is refused too, as the module always did */
        if (!json_is_object(params)) {
            return "\"params\" must be an object";
        }
        *src = params;
    }

    id = json_object_get(body, "id");
    if (id != NULL && !json_is_null(id)) {
        if (json_is_string(id)) {
            rep->id.data = json_string_value(id);
            rep->id.len = json_string_length(id);

        } else if (json_is_integer(id)) {
            rep->id_int = json_integer_value(id);
            rep->id_is_int = 1;

        } else {
            return "\"id\" must be a string or an integer";
        }

        rep->has_id = 1;
    }

    switch (ota_req_str(*src, "module", &rep->module)) {
    case OTA_REQ_STR_ABSENT:
        rep->module.data = "default";
        rep->module.len = sizeof("default") - 1;
        break;
    case OTA_REQ_STR_WRONG:
        return "\"module\" must be a string";
    default:
        break;
    }

    if (!ota_name_module(rep->module.data, rep->module.len)) {
        return "\"module\" is not a valid module name ([A-Za-z0-9_-]{1,64})";
    }

    return NULL;
}


const char *
ota_request_target(json_t *body, ota_report_req_t *rep)
{
    json_t  *src;

    return ota_request_report(body, rep, &src);
}


const char *
ota_request_inform(json_t *body, ota_report_req_t *rep)
{
    json_t      *src;
    const char  *err;

    err = ota_request_report(body, rep, &src);
    if (err != NULL) {
        return err;
    }

    err = ota_req_need(src, "version", &rep->version,
                       "\"version\" is missing",
                       "\"version\" must be a string");
    if (err != NULL) {
        return err;
    }

    if (ota_version_parse(rep->version.data, rep->version.len, &rep->ver)
        != 0)
    {
        return "\"version\" must be X.Y.Z, each part 0..999999";
    }

    return NULL;
}


/* "step": an integer, or a string of one: optional '-' then 1..3 digits */
static const char *
ota_request_step(json_t *src, int *step)
{
    int          sign;
    size_t       i, len;
    json_t      *v;
    json_int_t   n;
    const char  *s;

    v = json_object_get(src, "step");

    if (v == NULL || json_is_null(v)) {
        return "\"step\" is missing";
    }

    if (json_is_integer(v)) {
        n = json_integer_value(v);

    } else if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

        sign = 1;
        if (len > 1 && s[0] == '-') {
            sign = -1;
            s++;
            len--;
        }

        if (len == 0 || len > 3) {
            return "\"step\" must be an integer or a string of one";
        }

        n = 0;
        for (i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return "\"step\" must be an integer or a string of one";
            }
            n = n * 10 + (s[i] - '0');
        }

        n *= sign;

    } else {
        return "\"step\" must be an integer or a string of one";
    }

    if (n < OTA_REQ_STEP_MIN || n > OTA_REQ_STEP_MAX) {
        return "\"step\" must be between -4 and 100";
    }

    *step = (int) n;

    return NULL;
}


const char *
ota_request_progress(json_t *body, ota_report_req_t *rep)
{
    json_t      *src;
    const char  *err;

    err = ota_request_report(body, rep, &src);
    if (err != NULL) {
        return err;
    }

    err = ota_request_step(src, &rep->step);
    if (err != NULL) {
        return err;
    }

    switch (ota_req_str(src, "desc", &rep->desc)) {
    case OTA_REQ_STR_ABSENT:
        rep->desc.data = "";
        rep->desc.len = 0;
        break;
    case OTA_REQ_STR_WRONG:
        return "\"desc\" must be a string";
    default:
        break;
    }

    /* characters, not bytes: jansson has checked the UTF-8 already */
    rep->desc_chars = ota_utf8_chars(rep->desc.data, rep->desc.len);

    if (rep->desc_chars > OTA_REQ_DESC_MAX) {
        return "\"desc\" is longer than 128 characters";
    }

    return NULL;
}
