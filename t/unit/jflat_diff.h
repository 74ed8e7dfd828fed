/*
 * jflat_diff.h: ota_jflat (include/ota_jflat.h) against jansson on one
 * input, shared by t/unit/test_jflat.c and t/fuzz/fuzz_jflat.c.
 *
 * jflat_diff() returns NULL when the two agree, else what differs:
 *   - jflat reads it: jansson reads it too (json_loadb with the module's
 *     JSON_REJECT_DUPLICATES), as an object with the same members, types
 *     and values;
 *   - jflat says INVALID: jansson refuses it;
 *   - jansson reads an object jflat covers (no array, one level of objects,
 *     at most OTA_JF_MAX members, no NUL byte): jflat reads it (no silent
 *     fallback);
 *   - whatever jflat read, the request checks (ota_request_*_flat) give the
 *     same answer as on jansson's tree (ota_request_*): the same message,
 *     the same fields.
 */

#ifndef JFLAT_DIFF_H
#define JFLAT_DIFF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ota_jflat.h"
#include "ota_request.h"


static int
jflat_diff_same_obj(const ota_jflat_t *f, int at, json_t *obj)
{
    int                     k;
    size_t                  n;
    json_t                 *v;
    const ota_jf_member_t  *m;

    n = 0;
    for (k = 0; k < f->n; k++) {
        m = &f->m[k];
        if (m->parent != at) {
            continue;
        }
        n++;

        v = json_object_getn(obj, m->key, m->key_len);
        if (v == NULL) {
            return 0;
        }

        switch (m->type) {
        case OTA_JF_NULL:
            if (!json_is_null(v)) return 0;
            break;
        case OTA_JF_TRUE:
            if (!json_is_true(v)) return 0;
            break;
        case OTA_JF_FALSE:
            if (!json_is_false(v)) return 0;
            break;
        case OTA_JF_INT:
            if (!json_is_integer(v) || json_integer_value(v) != m->i) {
                return 0;
            }
            break;
        case OTA_JF_REAL:
            if (!json_is_real(v)
                || memcmp(&m->d, &(double) { json_real_value(v) },
                          sizeof(double)) != 0)
            {
                return 0;
            }
            break;
        case OTA_JF_STRING:
            if (!json_is_string(v) || json_string_length(v) != m->len
                || memcmp(json_string_value(v), m->str, m->len) != 0)
            {
                return 0;
            }
            break;
        case OTA_JF_OBJECT:
            if (!json_is_object(v) || !jflat_diff_same_obj(f, k, v)) {
                return 0;
            }
            break;
        default:
            return 0;
        }
    }

    return n == json_object_size(obj);
}


/* an object jflat must read: no array, objects one level deep, at most
 * OTA_JF_MAX members, reals short enough for its strtod buffer */
static int
jflat_diff_covered(json_t *obj, int depth, size_t *count, size_t len)
{
    json_t      *v;
    const char  *key;

    json_object_foreach(obj, key, v) {
        (*count)++;
        if (json_is_array(v)) {
            return 0;
        }
        if (json_is_real(v) && len > OTA_JF_NUM_MAX) {
            return 0;
        }
        if (json_is_object(v)
            && (depth > 0 || !jflat_diff_covered(v, depth + 1, count, len)))
        {
            return 0;
        }
    }

    return *count <= OTA_JF_MAX;
}


static int
jflat_diff_view(ota_view_t a, ota_view_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}


static int
jflat_diff_msg(const char *a, const char *b)
{
    return (a == NULL && b == NULL)
           || (a != NULL && b != NULL && strcmp(a, b) == 0);
}


static int
jflat_diff_report(const ota_report_req_t *a, const ota_report_req_t *b)
{
    return jflat_diff_view(a->module, b->module)
           && jflat_diff_view(a->version, b->version)
           && a->step == b->step
           && jflat_diff_view(a->desc, b->desc)
           && a->desc_chars == b->desc_chars
           && a->has_id == b->has_id && a->id_is_int == b->id_is_int
           && a->id_int == b->id_int
           && jflat_diff_view(a->id, b->id);
}


/* the request checks on both readings */
static const char *
jflat_diff_requests(const ota_jflat_t *f, json_t *j)
{
    const char        *e1, *e2;
    ota_auth_req_t     a1, a2;
    ota_report_req_t   r1, r2;

    e1 = ota_request_auth_flat(f, &a1);
    e2 = ota_request_auth(j, &a2);
    if (!jflat_diff_msg(e1, e2)) {
        return "auth: another message";
    }
    if (e1 == NULL
        && !(jflat_diff_view(a1.product, a2.product)
             && jflat_diff_view(a1.device, a2.device)
             && jflat_diff_view(a1.sign, a2.sign)
             && jflat_diff_view(a1.ts, a2.ts) && a1.ts_ms == a2.ts_ms))
    {
        return "auth: other fields";
    }

    e1 = ota_request_inform_flat(f, &r1);
    e2 = ota_request_inform(j, &r2);
    if (!jflat_diff_msg(e1, e2)) {
        return "inform: another message";
    }
    if (e1 == NULL && !jflat_diff_report(&r1, &r2)) {
        return "inform: other fields";
    }

    e1 = ota_request_progress_flat(f, &r1);
    e2 = ota_request_progress(j, &r2);
    if (!jflat_diff_msg(e1, e2)) {
        return "progress: another message";
    }
    if (e1 == NULL && !jflat_diff_report(&r1, &r2)) {
        return "progress: other fields";
    }

    return NULL;
}


/* *rc gets what jflat said (for the caller's counts) */
static const char *
jflat_diff(const char *in, size_t len, ota_jf_rc_e *rc)
{
    char          *scratch;
    size_t         count;
    json_t        *j;
    const char    *why;
    ota_jflat_t    f;
    json_error_t   err;

    scratch = malloc(len + 1);
    if (scratch == NULL) {
        abort();
    }

    *rc = ota_jflat_parse(&f, in, len, scratch, len);
    j = json_loadb(in, len, JSON_REJECT_DUPLICATES, &err);

    why = NULL;

    if (*rc == OTA_JF_OK) {
        if (j == NULL) {
            why = "jflat read what jansson refuses";
        } else if (!json_is_object(j) || !jflat_diff_same_obj(&f, -1, j)) {
            why = "jflat read other members than jansson";
        } else {
            why = jflat_diff_requests(&f, j);
        }

    } else if (*rc == OTA_JF_INVALID) {
        if (j != NULL) {
            why = "jflat refused what jansson reads";
        }

    } else if (j != NULL && json_is_object(j)
               && memchr(in, '\0', len) == NULL)
    {
        /* a NUL byte is left to jansson (ota_jflat.c says why) */
        count = 0;
        if (jflat_diff_covered(j, 0, &count, len)) {
            why = "jflat did not read a flat object";
        }
    }

    if (j != NULL) {
        json_decref(j);
    }
    free(scratch);

    return why;
}

#endif /* JFLAT_DIFF_H */
