/* libFuzzer target: the device API's JSON request bodies (auth, inform,
 * progress) as the module reads them.  Never crashes; what is accepted
 * holds views into the JSON's own strings (or the documented constants),
 * valid names, a version that re-parses, a step in range and a desc within
 * 128 characters. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_names.h"
#include "ota_request.h"
#include "ota_token.h"
#include "ota_version.h"

/* v is exactly the string member name of obj */
static void
check_member(json_t *obj, const char *name, ota_view_t *v)
{
    json_t  *m;

    m = json_object_get(obj, name);
    if (m == NULL || !json_is_string(m)
        || v->data != json_string_value(m)
        || v->len != json_string_length(m))
    {
        abort();
    }
}

/* v is the member, or the constant an absent/null member stands for */
static void
check_member_or(json_t *obj, const char *name, ota_view_t *v,
    const char *def)
{
    json_t  *m;

    m = json_object_get(obj, name);
    if (m == NULL || json_is_null(m)) {
        if (v->len != strlen(def) || memcmp(v->data, def, v->len) != 0) {
            abort();
        }
        return;
    }

    check_member(obj, name, v);
}

static void
check_auth(json_t *body)
{
    json_t          *ts;
    ota_auth_req_t   a;

    if (ota_request_auth(body, &a) != NULL) {
        return;
    }

    check_member(body, "product", &a.product);
    check_member(body, "device", &a.device);
    check_member(body, "sign", &a.sign);

    if (!ota_name_product(a.product.data, a.product.len)
        || !ota_name_device(a.device.data, a.device.len))
    {
        abort();
    }

    ts = json_object_get(body, "timestamp");
    if (json_is_string(ts)) {
        check_member(body, "timestamp", &a.ts);

    } else if (!json_is_integer(ts) || a.ts.data != a.ts_buf
               || json_integer_value(ts) != a.ts_ms)
    {
        abort();
    }

    /* what the sign covers is what the window check uses */
    if (a.ts_ms < 0 || ota_parse_int64(a.ts.data, a.ts.len) != a.ts_ms) {
        abort();
    }
}

/* the object a report's fields come from */
static json_t *
report_src(json_t *body)
{
    json_t  *params;

    params = json_object_get(body, "params");
    return params ? params : body;
}

static void
check_id(json_t *body, ota_report_req_t *rep)
{
    json_t  *id;

    id = json_object_get(body, "id");

    if (!rep->has_id) {
        if (id != NULL && !json_is_null(id)) {
            abort();
        }
        return;
    }

    if (rep->id_is_int) {
        if (!json_is_integer(id) || json_integer_value(id) != rep->id_int) {
            abort();
        }
        return;
    }

    check_member(body, "id", &rep->id);
}

/* what an accepted inform and progress share: the source object, the id,
 * a valid module (default "default"); returns the source */
static json_t *
check_report(json_t *body, ota_report_req_t *rep)
{
    json_t  *src = report_src(body);

    if (!json_is_object(src)) {
        abort();
    }
    check_id(body, rep);
    check_member_or(src, "module", &rep->module, "default");
    if (!ota_name_module(rep->module.data, rep->module.len)) {
        abort();
    }
    return src;
}

static void
check_inform(json_t *body)
{
    char              buf[OTA_VERSION_STR_MAX];
    json_t           *src;
    ota_version_t     v;
    ota_report_req_t  rep;

    if (ota_request_inform(body, &rep) != NULL) {
        return;
    }

    src = check_report(body, &rep);
    check_member(src, "version", &rep.version);

    /* accepted versions are canonical: they re-parse and print back */
    if (ota_version_parse(rep.version.data, rep.version.len, &v) != 0
        || ota_version_cmp(&v, &rep.ver) != 0
        || (size_t) ota_version_format(&v, buf) != rep.version.len
        || memcmp(buf, rep.version.data, rep.version.len) != 0)
    {
        abort();
    }
}

static void
check_progress(json_t *body)
{
    json_t           *src;
    ota_report_req_t  rep;

    if (ota_request_progress(body, &rep) != NULL) {
        return;
    }

    src = check_report(body, &rep);
    check_member_or(src, "desc", &rep.desc, "");

    if (rep.step < OTA_REQ_STEP_MIN || rep.step > OTA_REQ_STEP_MAX
        || rep.desc_chars > OTA_REQ_DESC_MAX
        || rep.desc_chars != ota_utf8_chars(rep.desc.data, rep.desc.len)
        || rep.desc.len > 4 * OTA_REQ_DESC_MAX)
    {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t            *body;
    json_error_t       err;
    ota_auth_req_t     a;
    ota_report_req_t   rep;

    /* the module's flags (ngx_ota_module/ngx_ota_json.c) */
    body = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                      &err);
    if (body == NULL) {
        return 0;
    }

    /* the module only passes objects; the parsers refuse the rest anyway */
    if (!json_is_object(body)) {
        if (ota_request_auth(body, &a) == NULL
            || ota_request_inform(body, &rep) == NULL
            || ota_request_progress(body, &rep) == NULL)
        {
            abort();
        }
        json_decref(body);
        return 0;
    }

    check_auth(body);
    check_inform(body);
    check_progress(body);

    json_decref(body);

    return 0;
}
