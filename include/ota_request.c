/*
 * ota_request.c: checks of the device API's request bodies (ota_request.h).
 * The messages are the ones the device sees in the 400 answer; the tests
 * (t/20-auth.t, t/21-report.t, t/unit/test_request.c) assert them.
 *
 * The checks read the body through ota_req_obj_t, a jansson object or an
 * object of an ota_jflat_t (the module's fast path, made for speed: no
 * tree): one set of rules for both, so a body reads the same either way.
 */

#include "ota_request.h"
#include "ota_dec.h"

#include <string.h>

#include "ota_names.h"
#include "ota_token.h"


typedef enum {
    OTA_REQ_STR_OK = 0,
    OTA_REQ_STR_ABSENT,                 /* absent or null */
    OTA_REQ_STR_WRONG                   /* not a string */
} ota_req_str_e;


typedef enum {
    OTA_REQ_V_ABSENT = 0,
    OTA_REQ_V_NULL,
    OTA_REQ_V_STRING,
    OTA_REQ_V_INT,
    OTA_REQ_V_OBJECT,
    OTA_REQ_V_OTHER                     /* bool, real, array */
} ota_req_kind_e;


typedef struct {
    ota_req_kind_e   kind;
    ota_view_t       s;                 /* OTA_REQ_V_STRING */
    long long        i;                 /* OTA_REQ_V_INT */
    ota_req_obj_t    obj;               /* OTA_REQ_V_OBJECT */
} ota_req_val_t;


/* member name of o, whichever representation */
static void
ota_req_get(const ota_req_obj_t *o, const char *name, ota_req_val_t *v)
{
    json_t                 *m;
    const ota_jf_member_t  *f;

    memset(v, 0, sizeof(ota_req_val_t));

    if (o->flat != NULL) {
        f = ota_jflat_get(o->flat, o->at, name);
        if (f == NULL) {
            v->kind = OTA_REQ_V_ABSENT;
            return;
        }

        switch (f->type) {
        case OTA_JF_NULL:
            v->kind = OTA_REQ_V_NULL;
            break;
        case OTA_JF_STRING:
            v->kind = OTA_REQ_V_STRING;
            v->s.data = f->str;
            v->s.len = f->len;
            break;
        case OTA_JF_INT:
            v->kind = OTA_REQ_V_INT;
            v->i = f->i;
            break;
        case OTA_JF_OBJECT:
            v->kind = OTA_REQ_V_OBJECT;
            v->obj.flat = o->flat;
            v->obj.at = ota_jflat_index(o->flat, f);
            break;
        default:
            v->kind = OTA_REQ_V_OTHER;
            break;
        }
        return;
    }

    m = json_object_get(o->json, name);

    if (m == NULL) {
        v->kind = OTA_REQ_V_ABSENT;
    } else if (json_is_null(m)) {
        v->kind = OTA_REQ_V_NULL;
    } else if (json_is_string(m)) {
        v->kind = OTA_REQ_V_STRING;
        v->s.data = json_string_value(m);
        v->s.len = json_string_length(m);
    } else if (json_is_integer(m)) {
        v->kind = OTA_REQ_V_INT;
        v->i = (long long) json_integer_value(m);
    } else if (json_is_object(m)) {
        v->kind = OTA_REQ_V_OBJECT;
        v->obj.json = m;
    } else {
        v->kind = OTA_REQ_V_OTHER;
    }
}


/* a string member as a view into the body */
static ota_req_str_e
ota_req_str(const ota_req_obj_t *obj, const char *name, ota_view_t *out)
{
    ota_req_val_t  v;

    ota_req_get(obj, name, &v);

    if (v.kind == OTA_REQ_V_ABSENT || v.kind == OTA_REQ_V_NULL) {
        return OTA_REQ_STR_ABSENT;
    }

    if (v.kind != OTA_REQ_V_STRING) {
        return OTA_REQ_STR_WRONG;
    }

    *out = v.s;

    return OTA_REQ_STR_OK;
}


/* a required string member: NULL, or the message for its absence or type */
static const char *
ota_req_need(const ota_req_obj_t *obj, const char *name, ota_view_t *out,
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


/* v in decimal, as "%lld" would print it (no printf: speed) */
static size_t
ota_req_ll(char *buf, long long v)
{
    return (size_t) (ota_dec_ll(buf, v) - buf);
}


static const char *
ota_request_auth_obj(const ota_req_obj_t *body, ota_auth_req_t *a)
{
    const char     *err;
    ota_req_val_t   ts;

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
    ota_req_get(body, "timestamp", &ts);

    if (ts.kind == OTA_REQ_V_ABSENT || ts.kind == OTA_REQ_V_NULL) {
        return "\"timestamp\": missing field";
    }

    if (ts.kind == OTA_REQ_V_INT) {
        /* as "%lld" prints it: what the device signed */
        a->ts.data = a->ts_buf;
        a->ts.len = ota_req_ll(a->ts_buf, ts.i);

    } else if (ts.kind == OTA_REQ_V_STRING) {
        a->ts = ts.s;

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
ota_request_report(const ota_req_obj_t *body, ota_report_req_t *rep,
    ota_req_obj_t *src)
{
    ota_req_val_t  params, id;

    *src = *body;

    ota_req_get(body, "params", &params);
    if (params.kind != OTA_REQ_V_ABSENT) {
        /* "params": null is refused too, as the module always did */
        if (params.kind != OTA_REQ_V_OBJECT) {
            return "\"params\" must be an object";
        }
        *src = params.obj;
    }

    ota_req_get(body, "id", &id);
    if (id.kind != OTA_REQ_V_ABSENT && id.kind != OTA_REQ_V_NULL) {
        if (id.kind == OTA_REQ_V_STRING) {
            rep->id = id.s;

        } else if (id.kind == OTA_REQ_V_INT) {
            rep->id_int = (json_int_t) id.i;
            rep->id_is_int = 1;

        } else {
            return "\"id\" must be a string or an integer";
        }

        rep->has_id = 1;
    }

    switch (ota_req_str(src, "module", &rep->module)) {
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


static const char *
ota_request_target_obj(const ota_req_obj_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  src;

    return ota_request_report(body, rep, &src);
}


static const char *
ota_request_inform_obj(const ota_req_obj_t *body, ota_report_req_t *rep)
{
    const char     *err;
    ota_req_obj_t   src;

    err = ota_request_report(body, rep, &src);
    if (err != NULL) {
        return err;
    }

    err = ota_req_need(&src, "version", &rep->version,
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
ota_request_step(const ota_req_obj_t *src, int *step)
{
    int             sign;
    size_t          i, len;
    long long       n;
    const char     *s;
    ota_req_val_t   v;

    ota_req_get(src, "step", &v);

    if (v.kind == OTA_REQ_V_ABSENT || v.kind == OTA_REQ_V_NULL) {
        return "\"step\" is missing";
    }

    if (v.kind == OTA_REQ_V_INT) {
        n = v.i;

    } else if (v.kind == OTA_REQ_V_STRING) {
        s = v.s.data;
        len = v.s.len;

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


static const char *
ota_request_progress_obj(const ota_req_obj_t *body, ota_report_req_t *rep)
{
    const char     *err;
    ota_req_obj_t   src;

    err = ota_request_report(body, rep, &src);
    if (err != NULL) {
        return err;
    }

    err = ota_request_step(&src, &rep->step);
    if (err != NULL) {
        return err;
    }

    switch (ota_req_str(&src, "desc", &rep->desc)) {
    case OTA_REQ_STR_ABSENT:
        rep->desc.data = "";
        rep->desc.len = 0;
        break;
    case OTA_REQ_STR_WRONG:
        return "\"desc\" must be a string";
    default:
        break;
    }

    /* characters, not bytes: the UTF-8 is checked already (jansson, or
     * ota_jflat as jansson does) */
    rep->desc_chars = ota_utf8_chars(rep->desc.data, rep->desc.len);

    if (rep->desc_chars > OTA_REQ_DESC_MAX) {
        return "\"desc\" is longer than 128 characters";
    }

    return NULL;
}


/*
 * The entries: a jansson body (the MQTT bridge, the fallback of the
 * module), or the top object of a flat one (the module's fast path).
 */

static void
ota_req_obj_json(ota_req_obj_t *o, json_t *body)
{
    o->json = body;
    o->flat = NULL;
    o->at = -1;
}


static void
ota_req_obj_flat(ota_req_obj_t *o, const ota_jflat_t *body)
{
    o->json = NULL;
    o->flat = body;
    o->at = -1;
}


const char *
ota_request_auth(json_t *body, ota_auth_req_t *a)
{
    ota_req_obj_t  o;

    memset(a, 0, sizeof(ota_auth_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    ota_req_obj_json(&o, body);

    return ota_request_auth_obj(&o, a);
}


const char *
ota_request_auth_flat(const ota_jflat_t *body, ota_auth_req_t *a)
{
    ota_req_obj_t  o;

    memset(a, 0, sizeof(ota_auth_req_t));
    ota_req_obj_flat(&o, body);

    return ota_request_auth_obj(&o, a);
}


const char *
ota_request_inform(json_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  o;

    memset(rep, 0, sizeof(ota_report_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    ota_req_obj_json(&o, body);

    return ota_request_inform_obj(&o, rep);
}


const char *
ota_request_inform_flat(const ota_jflat_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  o;

    memset(rep, 0, sizeof(ota_report_req_t));
    ota_req_obj_flat(&o, body);

    return ota_request_inform_obj(&o, rep);
}


const char *
ota_request_progress(json_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  o;

    memset(rep, 0, sizeof(ota_report_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    ota_req_obj_json(&o, body);

    return ota_request_progress_obj(&o, rep);
}


const char *
ota_request_progress_flat(const ota_jflat_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  o;

    memset(rep, 0, sizeof(ota_report_req_t));
    ota_req_obj_flat(&o, body);

    return ota_request_progress_obj(&o, rep);
}


const char *
ota_request_target(json_t *body, ota_report_req_t *rep)
{
    ota_req_obj_t  o;

    memset(rep, 0, sizeof(ota_report_req_t));

    if (!json_is_object(body)) {
        return "the body must be a JSON object";
    }

    ota_req_obj_json(&o, body);

    return ota_request_target_obj(&o, rep);
}
