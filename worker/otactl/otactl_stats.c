/* otactl stats versions: the version distribution of a product's modules,
 * read from the counters the worker keeps (never by scanning devices) */

#include "otactl.h"

#include <stdlib.h>
#include <string.h>

#include "ota_keys.h"
#include "ota_names.h"
#include "ota_version.h"

typedef struct {
    const char     *version;
    long long       n;
    ota_version_t   v;
} otactl_ver_t;

static int
otactl_ver_cmp(const void *a, const void *b)
{
    const otactl_ver_t *x = a, *y = b;

    return -ota_version_cmp(&x->v, &y->v);      /* newest first */
}

/*
 * Over the admin API: the product's modules (GET products/<p>), then
 * GET versions?product=&module= for each, into the same JSON and table
 * (the API sorts the versions with the same ota_version_cmp()).
 */
static int
otactl_api_stats_versions(otactl_t *o, const char *prod, const char *mod)
{
    otactl_table_t   tb;
    json_t          *jp, *jout, *jm, *jv, *j, *v;
    const char      *m;
    char             path[512], cnt[24], pct[16], *ep, *em;
    long long        devices, unrep;
    size_t           i, k;
    long             st;
    int              rc, found = 0;

    ep = otactl_api_esc(o, prod);
    if (ep == NULL) {
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "products/%s", ep);
    rc = otactl_api_get(o, path, OTACTL_API_404, &jp, &st);
    if (rc != OTACTL_OK || jp == NULL) {
        otactl_api_free(ep);
        return rc != OTACTL_OK ? rc : otactl_fail("no product %s", prod);
    }
    devices = json_integer_value(json_object_get(jp, "devices"));
    jout = json_pack("{s:s, s:I, s:[]}", "product", prod, "devices",
                     (json_int_t) devices, "modules");
    otactl_table_init(&tb, 4, "MODULE", "VERSION", "DEVICES", "SHARE");
    rc = OTACTL_OK;
    json_array_foreach(json_object_get(jp, "modules"), i, v) {
        m = json_string_value(json_object_get(v, "module"));
        if (m == NULL || (mod != NULL && strcmp(m, mod) != 0)) {
            continue;
        }
        found = 1;
        em = otactl_api_esc(o, m);
        if (em == NULL) {
            rc = otactl_fail("out of memory");
            break;
        }
        snprintf(path, sizeof(path), "versions?product=%s&module=%s", ep, em);
        otactl_api_free(em);
        rc = otactl_api_get(o, path, 0, &j, NULL);
        if (rc != OTACTL_OK) {
            break;
        }
        jv = json_object();
        json_array_foreach(json_object_get(j, "versions"), k, v) {
            long long n = json_integer_value(json_object_get(v, "devices"));
            const char *ver = json_string_value(json_object_get(v, "version"));

            if (n <= 0 || ver == NULL) {
                continue;
            }
            json_object_set_new(jv, ver, json_integer(n));
            snprintf(cnt, sizeof(cnt), "%lld", n);
            snprintf(pct, sizeof(pct), "%.1f%%",
                     devices > 0 ? n * 100.0 / devices : 0.0);
            otactl_table_row(&tb, m, ver, cnt, pct);
        }
        unrep = json_integer_value(json_object_get(j, "unreported"));
        if (unrep > 0) {
            snprintf(cnt, sizeof(cnt), "%lld", unrep);
            snprintf(pct, sizeof(pct), "%.1f%%",
                     devices > 0 ? unrep * 100.0 / devices : 0.0);
            otactl_table_row(&tb, m, "(not reported)", cnt, pct);
        }
        jm = json_pack("{s:s, s:o, s:I}", "module", m, "versions", jv,
                       "unreported", (json_int_t) (unrep > 0 ? unrep : 0));
        json_array_append_new(json_object_get(jout, "modules"), jm);
        json_decref(j);
    }
    otactl_api_free(ep);
    json_decref(jp);
    if (rc == OTACTL_OK && mod != NULL && !found) {
        rc = otactl_fail("no module %s in product %s", mod, prod);
    }
    if (rc != OTACTL_OK) {
        json_decref(jout);
        otactl_table_free(&tb);
        return rc;
    }
    if (o->json) {
        otactl_print_json(jout);
    } else {
        json_decref(jout);
        otactl_table_print(&tb, stdout);
    }
    otactl_table_free(&tb);
    return OTACTL_OK;
}

static int
otactl_stats_versions(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                               { "module", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *prod, *mod;
    redisReply     *mods, *dist, *ndev;
    otactl_table_t  tb;
    otactl_ver_t   *vs;
    json_t         *jout, *jm, *jv;
    long long       devices, reported;
    size_t          i, k, n;
    int             rc;
    char            cnt[24], pct[16];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "stats versions")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("stats versions takes only options");
    }
    prod = otactl_opt(opts, "product");
    mod = otactl_opt(opts, "module");
    if (prod == NULL) {
        return otactl_fail("stats versions needs --product");
    }
    if (!ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    if (mod != NULL && !ota_name_module(mod, strlen(mod))) {
        return otactl_fail("invalid module name \"%s\"", mod);
    }

    if (o->api) {
        return otactl_api_stats_versions(o, prod, mod);
    }

    mods = otactl_cmd(o, "HKEYS " OTA_KEY_PRODUCT_MODULES, prod);
    if (mods == NULL) {
        return OTACTL_FAIL;
    }
    otactl_sort_modules(mods->element, mods->elements, 1);
    if (mods->elements == 0) {
        freeReplyObject(mods);
        return otactl_fail("no product %s", prod);
    }
    if (mod != NULL) {
        for (i = 0; i < mods->elements; i++) {
            if (strcmp(mods->element[i]->str, mod) == 0) {
                break;
            }
        }
        if (i == mods->elements) {
            freeReplyObject(mods);
            return otactl_fail("no module %s in product %s", mod, prod);
        }
    }
    ndev = otactl_cmd(o, "SCARD " OTA_KEY_PRODUCT_DEVICES, prod);
    devices = ndev ? ndev->integer : 0;
    freeReplyObject(ndev);

    jout = json_pack("{s:s, s:I, s:[]}", "product", prod, "devices",
                     (json_int_t) devices, "modules");
    otactl_table_init(&tb, 4, "MODULE", "VERSION", "DEVICES", "SHARE");
    for (i = 0; i < mods->elements; i++) {
        const char *m = mods->element[i]->str;

        if (mod != NULL && strcmp(m, mod) != 0) {
            continue;
        }
        dist = otactl_cmd(o, "HGETALL " OTA_KEY_VERSION_DIST, prod, m);
        if (dist == NULL) {
            freeReplyObject(mods);
            json_decref(jout);
            otactl_table_free(&tb);
            return OTACTL_FAIL;
        }
        n = dist->elements / 2;
        vs = calloc(n + 1, sizeof(*vs));
        if (vs == NULL) {
            freeReplyObject(dist);
            freeReplyObject(mods);
            return otactl_fail("out of memory");
        }
        reported = 0;
        for (k = 0; k < n; k++) {
            vs[k].version = dist->element[2 * k]->str;
            vs[k].n = atoll(dist->element[2 * k + 1]->str);
            ota_version_parse_cstr(vs[k].version, &vs[k].v);
            reported += vs[k].n;
        }
        qsort(vs, n, sizeof(*vs), otactl_ver_cmp);

        jv = json_object();
        for (k = 0; k < n; k++) {
            if (vs[k].n <= 0) {
                continue;
            }
            json_object_set_new(jv, vs[k].version, json_integer(vs[k].n));
            snprintf(cnt, sizeof(cnt), "%lld", vs[k].n);
            snprintf(pct, sizeof(pct), "%.1f%%",
                     devices > 0 ? vs[k].n * 100.0 / devices : 0.0);
            otactl_table_row(&tb, m, vs[k].version, cnt, pct);
        }
        if (devices > reported) {
            snprintf(cnt, sizeof(cnt), "%lld", devices - reported);
            snprintf(pct, sizeof(pct), "%.1f%%",
                     (devices - reported) * 100.0 / devices);
            otactl_table_row(&tb, m, "(not reported)", cnt, pct);
        }
        jm = json_pack("{s:s, s:o, s:I}", "module", m, "versions", jv,
                       "unreported", (json_int_t) (devices > reported
                                                   ? devices - reported : 0));
        json_array_append_new(json_object_get(jout, "modules"), jm);
        free(vs);
        freeReplyObject(dist);
    }
    freeReplyObject(mods);

    if (o->json) {
        otactl_print_json(jout);
    } else {
        json_decref(jout);
        otactl_table_print(&tb, stdout);
    }
    otactl_table_free(&tb);
    return OTACTL_OK;
}

int
otactl_stats(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("stats needs a verb: versions");
    }
    if (strcmp(argv[0], "versions") == 0) {
        return otactl_stats_versions(o, argc - 1, argv + 1);
    }
    return otactl_usage("unknown verb \"stats %s\" (versions)", argv[0]);
}
