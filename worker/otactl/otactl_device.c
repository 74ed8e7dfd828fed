/* otactl device add|show|list, module add|list */

#include "otactl.h"
#include "otactl_lua.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ota_audit.h"
#include "ota_check.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_task_columns.h"
#include "ota_names.h"
#include "ota_version.h"

/* device show: the device's most recent tasks */
#define OTACTL_SHOW_TASKS  10

/* ---- over the admin API --------------------------------------------------- */

static int
otactl_api_device_add(otactl_t *o, const char *dev, const char *prod,
    const char *secret)
{
    json_t  *body, *j;
    int      rc;

    body = json_pack("{s:s, s:s, s:s}", "device", dev, "product", prod,
                     "secret", secret);
    if (body == NULL) {
        return otactl_fail("out of memory");
    }
    rc = otactl_api(o, "POST", "devices", body, 0, &j, NULL);
    json_decref(body);
    if (rc != OTACTL_OK) {
        return rc;
    }
    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:s, s:s}", "device", dev,
                                    "product", prod, "secret", secret));
    } else {
        printf("%s\n", secret);
    }
    json_decref(j);
    return OTACTL_OK;
}

/* sorts the tasks newest batch first, as ZREVRANGE of the batches */
static int
otactl_api_task_cmp(const void *a, const void *b)
{
    json_t      *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    json_int_t   cx = json_integer_value(json_object_get(x, "created")),
                 cy = json_integer_value(json_object_get(y, "created"));

    if (cx != cy) {
        return cx < cy ? 1 : -1;
    }
    return -strcmp(json_string_value(json_object_get(x, "batch")),
                   json_string_value(json_object_get(y, "batch")));
}

/*
 * GET devices/<dev>, window after window of batches, into what
 * otactl_device_show() builds: the device's OTACTL_SHOW_TASKS most recent
 * tasks.  Each answer also carries the device's open tasks that lie
 * outside its window, so the tasks are put in order by their batch's
 * creation and taken once.  NULL with *rc (404: *missing).
 */
#define OTACTL_API_WINDOWS  100         /* 100,000 batches at most */

static json_t *
otactl_api_device_json(otactl_t *o, const char *dev, int *missing, int *rc)
{
    json_t      *j, *all = NULL, *page, *t, *seen, *out, **v;
    char         path[256];
    char        *esc;
    long long    offset = 0;
    size_t       i, n;
    int          w;

    *missing = 0;
    esc = otactl_api_esc(o, dev);
    seen = json_object();
    all = json_array();
    if (esc == NULL || seen == NULL || all == NULL) {
        otactl_api_free(esc);
        json_decref(seen);
        json_decref(all);
        *rc = otactl_fail("out of memory");
        return NULL;
    }
    j = NULL;
    for (w = 0; w < OTACTL_API_WINDOWS; w++) {
        snprintf(path, sizeof(path), "devices/%s?offset=%lld&limit=1000",
                 esc, offset);
        *rc = otactl_api_get(o, path, OTACTL_API_404, &page, NULL);
        if (*rc == OTACTL_OK && page == NULL) {
            *missing = 1;
            *rc = OTACTL_FAIL;
        }
        if (*rc != OTACTL_OK) {
            json_decref(j);
            j = NULL;
            break;
        }
        json_array_foreach(json_object_get(page, "tasks"), i, t) {
            const char *b = json_string_value(json_object_get(t, "batch"));

            if (b != NULL && json_object_get(seen, b) == NULL) {
                json_object_set_new(seen, b, json_true());
                json_array_append(all, t);
            }
        }
        t = json_incref(json_object_get(page, "next_offset"));
        if (j == NULL) {
            j = page;                   /* the record: from the first */
        } else {
            json_decref(page);
        }
        if (!json_is_integer(t)) {
            json_decref(t);
            break;
        }
        offset = json_integer_value(t);
        json_decref(t);
    }
    otactl_api_free(esc);
    json_decref(seen);
    if (j == NULL) {
        json_decref(all);
        return NULL;
    }

    n = json_array_size(all);
    v = calloc(n + 1, sizeof(json_t *));
    out = json_array();
    if (v == NULL || out == NULL) {
        free(v);
        json_decref(out);
        json_decref(all);
        json_decref(j);
        *rc = otactl_fail("out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        v[i] = json_array_get(all, i);
    }
    qsort(v, n, sizeof(json_t *), otactl_api_task_cmp);
    for (i = 0; i < n && i < OTACTL_SHOW_TASKS; i++) {
        const char  *reason = json_string_value(json_object_get(v[i],
                                                                "reason"));
        json_array_append_new(out, json_pack(
            "{s:O, s:O, s:O, s:O, s:s, s:I, s:I}",
            "batch", json_object_get(v[i], "batch"),
            "module", json_object_get(v[i], "module"),
            "version", json_object_get(v[i], "version"),
            "state", json_object_get(v[i], "state"),
            "reason", reason ? reason : "",
            "covered", json_integer_value(json_object_get(v[i], "covered")),
            "size", json_integer_value(json_object_get(v[i], "size"))));
    }
    free(v);
    json_decref(all);

    t = json_pack("{s:O, s:O, s:O, s:O, s:O, s:o}",
                  "device", json_object_get(j, "device"),
                  "product", json_object_get(j, "product"),
                  "created", json_object_get(j, "created"),
                  "versions", json_object_get(j, "versions"),
                  "open", json_object_get(j, "open"),
                  "tasks", out);
    json_decref(j);
    if (t == NULL) {
        *rc = otactl_fail("unexpected answer from the admin API");
    }
    return t;
}

static int
otactl_device_add(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                             { "secret", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *dev, *prod, *secret;
    char          gen[2 * OTA_SECRET_BYTES + 1], now[32], *defmod;
    ota_check_t   chk;
    ota_cmd_t     c;
    redisReply   *r;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "device add")) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("device add needs exactly one device name");
    }
    dev = pos.pos[0];
    prod = otactl_opt(opts, "product");
    secret = otactl_opt(opts, "secret");

    ota_check_init(&chk, 0);
    if (ota_check_device(&chk, dev, prod, secret) != 0) {
        return otactl_fail("%s", chk.msg);
    }
    if (secret == NULL) {
        if (ota_random_hex(gen, OTA_SECRET_BYTES) != 0) {
            return otactl_fail("no randomness for the secret");
        }
        secret = gen;
    }

    if (o->api) {
        return otactl_api_device_add(o, dev, prod, secret);
    }

    defmod = ota_module_json("", OTA_MODULE_DEFAULT_DESC, (long long) time(NULL));
    if (defmod == NULL) {
        return otactl_fail("out of memory");
    }
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    ota_cmd_init(&c);
    ota_cmd_adds(&c, now);
    ota_cmd_adds(&c, defmod);
    ota_cmd_adds(&c, dev);
    ota_cmd_adds(&c, prod);
    ota_cmd_adds(&c, secret);
    free(defmod);

    r = NULL;
    if (otactl_connect(o) == 0) {
        r = otactl_script(o, &otactl_lua_scripts[OTACTL_LUA_DEVICE_ADD], &c);
    }
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        if (r != NULL) {
            otactl_fail("Redis refused: %s", ota_reply_str(r));
        } else if (o->rc != NULL) {
            otactl_fail("Redis at %s: %s", ota_redis_addr_str(&o->addr),
                        o->rc->errstr);
        }
        freeReplyObject(r);
        return OTACTL_FAIL;
    }

    if (strcmp(ota_reply_str(r->element[0]), "exists") == 0) {
        rc = otactl_fail(OTA_MSG_DEVICE_EXISTS, dev,
                         ota_reply_str(r->element[2]));
        freeReplyObject(r);
        otactl_audit(o, OTA_ACT_DEVICE_ADD, dev, 409, "exists");
        return rc;
    }
    freeReplyObject(r);
    otactl_audit(o, OTA_ACT_DEVICE_ADD, dev, 201, NULL);

    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:s, s:s}", "device", dev,
                                    "product", prod, "secret", secret));
    } else {
        printf("%s\n", secret);
    }
    return OTACTL_OK;
}

/* the device's most recent tasks, newest batch first: a device's task is
 * its membership of a batch's devices, so the batches are asked newest
 * first, a page of ZSCOREs per round trip (no per-device history to keep
 * on the worker's path); stops at max.  Returns how many, -1 on error. */
#define OTACTL_SHOW_PAGE   256

static int
otactl_device_tasks(otactl_t *o, const char *dev,
    char bids[][OTA_NAME_MAX + 1], int max)
{
    redisReply  *ids, *r;
    long         start = 0;
    int          nb = 0;
    size_t       i;

    while (nb < max) {
        ids = otactl_cmd(o, "ZREVRANGE " OTA_KEY_BATCHES " %ld %ld", start,
                         start + OTACTL_SHOW_PAGE - 1);
        if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(ids);
            return -1;
        }
        for (i = 0; i < ids->elements; i++) {
            redisAppendCommand(o->rc, "ZSCORE " OTA_KEY_BATCH_DEVICES " %s",
                               ids->element[i]->str, dev);
        }
        for (i = 0; i < ids->elements; i++) {
            r = ota_redis_reply(o->rc);
            if (r == NULL) {
                freeReplyObject(ids);
                otactl_fail("Redis: %s", o->rc->err ? o->rc->errstr
                                                    : "no reply");
                return -1;
            }
            if (r->type == REDIS_REPLY_STRING && nb < max) {
                snprintf(bids[nb++], OTA_NAME_MAX + 1, "%s",
                         ids->element[i]->str);
            }
            freeReplyObject(r);
        }
        start += OTACTL_SHOW_PAGE;
        i = ids->elements;
        freeReplyObject(ids);
        if (i < OTACTL_SHOW_PAGE) {
            break;
        }
    }
    return nb;
}

static int otactl_device_print(otactl_t *o, json_t *j);

static int
otactl_device_show(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *dev;
    redisReply   *d, *ver, *open;
    json_t       *j, *jv, *jo, *jt;
    size_t        i;
    int           rc, nb;
    char          bids[OTACTL_SHOW_TASKS][OTA_NAME_MAX + 1];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "device show")) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("device show needs exactly one device name");
    }
    dev = pos.pos[0];
    if (!ota_name_device(dev, strlen(dev))) {
        return otactl_fail("invalid device name \"%s\"", dev);
    }

    if (o->api) {
        int  missing;

        j = otactl_api_device_json(o, dev, &missing, &rc);
        if (j == NULL) {
            return missing ? otactl_fail("no device %s", dev) : rc;
        }
        return otactl_device_print(o, j);
    }

    d = otactl_cmd(o, "HMGET " OTA_KEY_DEVICE " product created", dev);
    if (d == NULL) {
        return OTACTL_FAIL;
    }
    if (d->element[0]->type == REDIS_REPLY_NIL) {
        freeReplyObject(d);
        return otactl_fail("no device %s", dev);
    }
    ver = otactl_cmd(o, "HGETALL " OTA_KEY_DEVICE_VERSIONS, dev);
    open = otactl_cmd(o, "HGETALL " OTA_KEY_DEVICE_OPEN, dev);
    nb = otactl_device_tasks(o, dev, bids, OTACTL_SHOW_TASKS);
    if (ver == NULL || open == NULL || nb < 0) {
        freeReplyObject(d);
        freeReplyObject(ver);
        freeReplyObject(open);
        return OTACTL_FAIL;
    }

    j = json_object();
    jv = json_object();
    jo = json_object();
    jt = json_array();
    if (j == NULL || jv == NULL || jo == NULL || jt == NULL) {
        return otactl_fail("out of memory");
    }
    for (i = 0; i + 1 < ver->elements; i += 2) {
        if (strchr(ver->element[i]->str, '@') == NULL) {  /* not "<m>@ts" */
            json_object_set_new(jv, ver->element[i]->str,
                                json_string(ver->element[i + 1]->str));
        }
    }
    for (i = 0; i + 1 < open->elements; i += 2) {
        json_object_set_new(jo, open->element[i]->str,
                            json_string(open->element[i + 1]->str));
    }
    for (i = 0; i < (size_t) nb; i++) {
        /* the shared fields are the batch's; no state yet means pending */
        redisReply  *t, *c[OTA_TCOL_VIEW_N];
        char         key[256];
        int          ok = 1, k;

        t = otactl_cmd(o, "HMGET " OTA_KEY_BATCH " module version size",
                       bids[i]);
        /* the task's view columns (ota_task_columns.h) */
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            snprintf(key, sizeof(key), ota_task_columns[k].key, bids[i]);
            c[k] = otactl_cmd(o, "HGET %s %s", key, dev);
            ok &= c[k] != NULL;
        }
        if (ok && t != NULL && t->element[0]->type == REDIS_REPLY_STRING) {
            json_array_append_new(jt, json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                "batch", bids[i],
                "module", ota_reply_str(t->element[0]),
                "version", ota_reply_str(t->element[1]),
                "state", c[OTA_TCOL_STATE]->type == REDIS_REPLY_STRING
                         ? c[OTA_TCOL_STATE]->str
                         : ota_task_columns[OTA_TCOL_STATE].dflt,
                "reason", ota_reply_str(c[OTA_TCOL_REASON]),
                "covered", (json_int_t) ota_reply_ll(c[OTA_TCOL_COVERED], 0),
                "size", (json_int_t) ota_reply_ll(c[OTA_TCOL_PSIZE],
                                        ota_reply_ll(t->element[2], 0))));
        }
        freeReplyObject(t);
        for (k = 0; k < OTA_TCOL_VIEW_N; k++) {
            freeReplyObject(c[k]);
        }
    }
    json_object_set_new(j, "device", json_string(dev));
    json_object_set_new(j, "product", json_string(ota_reply_str(d->element[0])));
    json_object_set_new(j, "created",
                        json_integer(ota_reply_ll(d->element[1], 0)));
    json_object_set_new(j, "versions", jv);
    json_object_set_new(j, "open", jo);
    json_object_set_new(j, "tasks", jt);

    freeReplyObject(d);
    freeReplyObject(ver);
    freeReplyObject(open);
    return otactl_device_print(o, j);
}

/* what device show prints of its JSON (direct or over the API), freed */
static int
otactl_device_print(otactl_t *o, json_t *j)
{
    json_t  *jv = json_object_get(j, "versions"),
            *jt = json_object_get(j, "tasks");
    char     t1[32];

    if (o->json) {
        otactl_print_json(j);
    } else {
        const char  *k;
        json_t      *v;
        size_t       idx;

        printf("device:   %s\nproduct:  %s\ncreated:  %s\n",
               json_string_value(json_object_get(j, "device")),
               json_string_value(json_object_get(j, "product")),
               otactl_time(json_integer_value(json_object_get(j, "created")),
                           t1, sizeof(t1)));
        printf("versions:");
        if (json_object_size(jv) == 0) {
            printf(" (never reported)");
        }
        json_object_foreach(jv, k, v) {
            printf(" %s=%s", k, json_string_value(v));
        }
        printf("\n");
        if (json_array_size(jt) > 0) {
            otactl_table_t  tb;

            printf("\n");
            otactl_table_init(&tb, 5, "BATCH", "MODULE", "VERSION", "STATE",
                              "REASON");
            json_array_foreach(jt, idx, v) {
                otactl_table_row(&tb,
                    json_string_value(json_object_get(v, "batch")),
                    json_string_value(json_object_get(v, "module")),
                    json_string_value(json_object_get(v, "version")),
                    json_string_value(json_object_get(v, "state")),
                    json_string_value(json_object_get(v, "reason")));
            }
            otactl_table_print(&tb, stdout);
            otactl_table_free(&tb);
        }
        json_decref(j);
    }
    return OTACTL_OK;
}

/* the versions of a device as device list prints them: "m=v m=v" */
static void
otactl_versions_str(json_t *jv, char *vs, size_t len)
{
    const char  *k;
    json_t      *v;
    size_t       n = 0;

    vs[0] = '\0';
    json_object_foreach(jv, k, v) {
        n += snprintf(vs + n, n < len ? len - n : 0, "%s%s=%s", n ? " " : "",
                      k, json_string_value(v));
    }
}

/* GET devices?product=&cursor=: one SSCAN step of the product's devices
 * per request, as direct mode walks them */
static int
otactl_api_device_list(otactl_t *o, const char *prod, long long limit)
{
    json_t          *prods = NULL, *ja, *page, *d;
    otactl_table_t   tb;
    const char      *pn, *cur;
    char             path[512], cursor[32], vs[512], *esc;
    long long        shown = 0;
    size_t           p, i, np;
    int              rc;

    if (prod == NULL) {
        rc = otactl_api_all(o, "products", "products", 0, &prods);
        if (rc != OTACTL_OK) {
            return rc;
        }
        np = json_array_size(prods);
    } else {
        np = 1;
    }
    ja = json_array();
    otactl_table_init(&tb, 3, "DEVICE", "PRODUCT", "VERSIONS");
    for (p = 0; p < np && shown < limit; p++) {
        pn = prod ? prod : json_string_value(json_object_get(
                               json_array_get(prods, p), "product"));
        esc = otactl_api_esc(o, pn);
        if (esc == NULL) {
            rc = otactl_fail("out of memory");
            goto failed;
        }
        strcpy(cursor, "0");
        do {
            snprintf(path, sizeof(path), "devices?product=%s&cursor=%s&"
                     "limit=500", esc, cursor);
            rc = otactl_api_get(o, path, OTACTL_API_404, &page, NULL);
            if (rc == OTACTL_OK && page == NULL) {
                rc = otactl_fail("no product %s", pn);
            }
            if (rc != OTACTL_OK) {
                otactl_api_free(esc);
                goto failed;
            }
            cur = json_string_value(json_object_get(page, "cursor"));
            snprintf(cursor, sizeof(cursor), "%s", cur ? cur : "0");
            json_array_foreach(json_object_get(page, "devices"), i, d) {
                if (shown >= limit) {
                    break;
                }
                if (o->json) {
                    json_array_append_new(ja, json_pack("{s:O, s:s, s:O}",
                        "device", json_object_get(d, "device"),
                        "product", pn,
                        "versions", json_object_get(d, "versions")));
                } else {
                    otactl_versions_str(json_object_get(d, "versions"), vs,
                                        sizeof(vs));
                    otactl_table_row(&tb, json_string_value(
                                         json_object_get(d, "device")),
                                     pn, vs[0] ? vs : "-");
                }
                shown++;
            }
            json_decref(page);
        } while (strcmp(cursor, "0") != 0 && shown < limit);
        otactl_api_free(esc);
    }
    json_decref(prods);
    return otactl_list_print(o, ja, &tb);

failed:
    json_decref(prods);
    json_decref(ja);
    otactl_table_free(&tb);
    return rc;
}

static int
otactl_device_list(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                               { "limit", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *prod, *lim;
    redisReply     *prods, *s, *d;
    otactl_table_t  tb;
    json_t         *ja;
    char            cursor[32];
    long long       limit = 1000, shown = 0;
    size_t          p, i;
    int             rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "device list")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("device list takes no arguments");
    }
    prod = otactl_opt(opts, "product");
    lim = otactl_opt(opts, "limit");
    if (prod != NULL && !ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    if (lim != NULL) {
        char *end;
        limit = strtoll(lim, &end, 10);
        if (*end || limit < 1) {
            return otactl_fail("invalid --limit \"%s\" (want a positive "
                               "number)", lim);
        }
    }

    if (o->api) {
        return otactl_api_device_list(o, prod, limit);
    }

    if (prod != NULL) {
        prods = otactl_cmd(o, "SISMEMBER " OTA_KEY_PRODUCTS " %s", prod);
        if (prods == NULL) {
            return OTACTL_FAIL;
        }
        if (prods->integer == 0) {
            freeReplyObject(prods);
            return otactl_fail("no product %s", prod);
        }
        freeReplyObject(prods);
        prods = otactl_cmd(o, "SMEMBERS " OTA_KEY_PRODUCTS);
    } else {
        prods = otactl_cmd(o, "SMEMBERS " OTA_KEY_PRODUCTS);
    }
    if (prods == NULL) {
        return OTACTL_FAIL;
    }

    ja = json_array();
    otactl_table_init(&tb, 3, "DEVICE", "PRODUCT", "VERSIONS");
    for (p = 0; p < prods->elements && shown < limit; p++) {
        const char *pn = prods->element[p]->str;
        if (prod != NULL && strcmp(pn, prod) != 0) {
            continue;
        }
        strcpy(cursor, "0");
        do {
            s = otactl_cmd(o, "SSCAN " OTA_KEY_PRODUCT_DEVICES " %s COUNT 500",
                           pn, cursor);
            if (s == NULL) {
                break;
            }
            snprintf(cursor, sizeof(cursor), "%s", s->element[0]->str);
            for (i = 0; i < s->element[1]->elements && shown < limit; i++) {
                const char *dn = s->element[1]->element[i]->str;
                char        vs[512] = "";
                size_t      k, n = 0;

                d = otactl_cmd(o, "HGETALL " OTA_KEY_DEVICE_VERSIONS, dn);
                for (k = 0; d && k + 1 < d->elements; k += 2) {
                    if (strchr(d->element[k]->str, '@') != NULL) {
                        continue;           /* "<module>@ts" */
                    }
                    n += snprintf(vs + n, n < sizeof(vs) ? sizeof(vs) - n : 0,
                                  "%s%s=%s", n ? " " : "", d->element[k]->str,
                                  d->element[k + 1]->str);
                }
                if (o->json) {
                    json_t *jv = json_object();
                    for (k = 0; d && k + 1 < d->elements; k += 2) {
                        if (strchr(d->element[k]->str, '@') != NULL) {
                            continue;
                        }
                        json_object_set_new(jv, d->element[k]->str,
                                       json_string(d->element[k + 1]->str));
                    }
                    json_array_append_new(ja, json_pack("{s:s, s:s, s:o}",
                                          "device", dn, "product", pn,
                                          "versions", jv));
                } else {
                    otactl_table_row(&tb, dn, pn, vs[0] ? vs : "-");
                }
                freeReplyObject(d);
                shown++;
            }
            freeReplyObject(s);
        } while (strcmp(cursor, "0") != 0 && shown < limit);
    }
    freeReplyObject(prods);

    return otactl_list_print(o, ja, &tb);
}

int
otactl_device(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("device needs a verb: add, show, list");
    }
    if (strcmp(argv[0], "add") == 0) {
        return otactl_device_add(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "show") == 0) {
        return otactl_device_show(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "list") == 0) {
        return otactl_device_list(o, argc - 1, argv + 1);
    }
    return otactl_usage("unknown verb \"device %s\" (add, show, list)",
                        argv[0]);
}

/* ---- modules --------------------------------------------------------------- */

static int
otactl_api_module_add(otactl_t *o, const char *mod, const char *prod,
    const char *alias, const char *desc)
{
    json_t  *body, *j;
    int      rc;

    body = json_pack("{s:s, s:s, s:s, s:s}", "module", mod, "product", prod,
                     "alias", alias ? alias : "", "desc", desc ? desc : "");
    if (body == NULL) {
        return otactl_fail("out of memory");
    }
    rc = otactl_api(o, "POST", "modules", body, 0, &j, NULL);
    json_decref(body);
    if (rc != OTACTL_OK) {
        return rc;
    }
    if (json_is_true(json_object_get(j, "new_product")) && !o->json) {
        fprintf(stderr, "otactl: note: new product %s (with module "
                "\"default\")\n", prod);
    }
    json_decref(j);
    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:s}", "product", prod,
                                    "module", mod));
    } else {
        printf("%s\n", mod);
    }
    return OTACTL_OK;
}

/* the product's record over the API (GET products/<p>): NULL with *rc,
 * "no product" said */
static json_t *
otactl_api_product(otactl_t *o, const char *prod, int *rc)
{
    json_t  *j;
    char     path[256], *esc;

    esc = otactl_api_esc(o, prod);
    if (esc == NULL) {
        *rc = otactl_fail("out of memory");
        return NULL;
    }
    snprintf(path, sizeof(path), "products/%s", esc);
    otactl_api_free(esc);
    *rc = otactl_api_get(o, path, OTACTL_API_404, &j, NULL);
    if (*rc == OTACTL_OK && j == NULL) {
        *rc = otactl_fail("no product %s", prod);
    }
    return *rc == OTACTL_OK ? j : NULL;
}

static int
otactl_module_add(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                             { "alias", OTACTL_ARG, 0, 0, 0 },
                             { "desc", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *mod, *prod, *alias, *desc;
    char         *js, *defmod, obj[2 * OTA_NAME_MAX + 2];
    ota_check_t   chk;
    ota_cmd_t     c;
    redisReply   *r;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "module add")) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("module add needs exactly one module name");
    }
    mod = pos.pos[0];
    prod = otactl_opt(opts, "product");
    alias = otactl_opt(opts, "alias");
    desc = otactl_opt(opts, "desc");

    ota_check_init(&chk, 0);
    if (ota_check_module(&chk, mod, prod, alias, desc) != 0) {
        return otactl_fail("%s", chk.msg);
    }

    if (o->api) {
        return otactl_api_module_add(o, mod, prod, alias, desc);
    }

    js = ota_module_json(alias, desc, (long long) time(NULL));
    defmod = ota_module_json("", OTA_MODULE_DEFAULT_DESC, (long long) time(NULL));
    if (js == NULL || defmod == NULL) {
        free(js);
        free(defmod);
        return otactl_fail("out of memory");
    }
    ota_cmd_init(&c);
    ota_cmd_adds(&c, prod);
    ota_cmd_adds(&c, mod);
    ota_cmd_adds(&c, js);
    ota_cmd_adds(&c, defmod);
    free(js);
    free(defmod);

    r = NULL;
    if (otactl_connect(o) == 0) {
        r = otactl_script(o, &otactl_lua_scripts[OTACTL_LUA_MODULE_ADD], &c);
    }
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL) {
            otactl_fail("Redis refused: %s", ota_reply_str(r));
        }
        freeReplyObject(r);
        return OTACTL_FAIL;
    }
    snprintf(obj, sizeof(obj), "%s/%s", prod, mod);
    if (strcmp(ota_reply_str(r->element[0]), "exists") == 0) {
        freeReplyObject(r);
        otactl_audit(o, OTA_ACT_MODULE_ADD, obj, 409, "exists");
        return otactl_fail(OTA_MSG_MODULE_EXISTS, mod, prod);
    }
    otactl_audit(o, OTA_ACT_MODULE_ADD, obj, 201, NULL);
    if (r->elements > 1 && strcmp(ota_reply_str(r->element[1]), "1") == 0
        && !o->json)
    {
        fprintf(stderr, "otactl: note: new product %s (with module "
                "\"default\")\n", prod);
    }
    freeReplyObject(r);

    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:s}", "product", prod,
                                    "module", mod));
    } else {
        printf("%s\n", mod);
    }
    return OTACTL_OK;
}

static int
otactl_module_list(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *prod;
    redisReply     *r, *e;
    otactl_table_t  tb;
    json_t         *ja;
    size_t          i;
    int             rc;
    char            t1[32];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "module list")) != 0) {
        return rc;
    }
    prod = otactl_opt(opts, "product");
    if (pos.npos != 0) {
        return otactl_usage("module list takes no arguments");
    }
    if (prod == NULL) {
        return otactl_fail("module list needs --product");
    }
    if (!ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    if (o->api) {
        json_t  *jp = otactl_api_product(o, prod, &rc), *m;

        if (jp == NULL) {
            return rc;
        }
        ja = json_array();
        otactl_table_init(&tb, 4, "MODULE", "ALIAS", "CREATED",
                          "DESCRIPTION");
        json_array_foreach(json_object_get(jp, "modules"), i, m) {
            const char *alias = json_string_value(json_object_get(m, "alias"));
            const char *desc = json_string_value(json_object_get(m, "desc"));
            long long created = json_integer_value(json_object_get(m,
                                                               "created"));

            json_array_append_new(ja, json_pack("{s:O, s:s, s:s, s:I}",
                "module", json_object_get(m, "module"),
                "alias", alias ? alias : "", "desc", desc ? desc : "",
                "created", (json_int_t) created));
            otactl_table_row(&tb, json_string_value(json_object_get(m,
                             "module")), alias && *alias ? alias : "-",
                             otactl_time(created, t1, sizeof(t1)),
                             desc ? desc : "");
        }
        json_decref(jp);
        return otactl_list_print(o, ja, &tb);
    }

    e = otactl_cmd(o, "SISMEMBER " OTA_KEY_PRODUCTS " %s", prod);
    if (e == NULL) {
        return OTACTL_FAIL;
    }
    if (e->integer == 0) {
        freeReplyObject(e);
        return otactl_fail("no product %s", prod);
    }
    freeReplyObject(e);

    r = otactl_cmd(o, "HGETALL " OTA_KEY_PRODUCT_MODULES, prod);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    otactl_sort_modules(r->element, r->elements, 2);
    ja = json_array();
    otactl_table_init(&tb, 4, "MODULE", "ALIAS", "CREATED", "DESCRIPTION");
    for (i = 0; i + 1 < r->elements; i += 2) {
        json_t *m = json_loads(r->element[i + 1]->str, 0, NULL);
        const char *alias = json_string_value(json_object_get(m, "alias"));
        const char *desc = json_string_value(json_object_get(m, "desc"));
        long long created = json_integer_value(json_object_get(m, "created"));

        json_array_append_new(ja, json_pack("{s:s, s:s, s:s, s:I}",
            "module", r->element[i]->str, "alias", alias ? alias : "",
            "desc", desc ? desc : "", "created", (json_int_t) created));
        otactl_table_row(&tb, r->element[i]->str, alias && *alias ? alias : "-",
                         otactl_time(created, t1, sizeof(t1)),
                         desc ? desc : "");
        json_decref(m);
    }
    freeReplyObject(r);

    return otactl_list_print(o, ja, &tb);
}

int
otactl_module(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("module needs a verb: add, list");
    }
    if (strcmp(argv[0], "add") == 0) {
        return otactl_module_add(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "list") == 0) {
        return otactl_module_list(o, argc - 1, argv + 1);
    }
    return otactl_usage("unknown verb \"module %s\" (add, list)", argv[0]);
}
