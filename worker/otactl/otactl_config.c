/* otactl config show|set: the platform's settings (include/ota_settings.h),
 * kept in Redis and read alike by otactl, the admin API and the console;
 * and otactl's entries in the audit stream (include/ota_audit.h) */

#include "otactl.h"

#include <stdio.h>
#include <string.h>

#include "ota_audit.h"
#include "ota_check.h"
#include "ota_keys.h"
#include "ota_settings.h"

static int otactl_api_settings(json_t *j, ota_settings_t *s);

int
otactl_settings_load(otactl_t *o)
{
    ota_settings_t  s;
    redisReply     *r;
    json_t         *j;
    size_t          i;
    int             rc;

    if (o->api) {
        /* GET config: the platform's values, as the server checks them */
        rc = otactl_api_get(o, "config", 0, &j, NULL);
        if (rc != OTACTL_OK) {
            return rc;
        }
        rc = otactl_api_settings(j, &s);
        json_decref(j);
        if (rc != OTACTL_OK) {
            return rc;
        }
        goto merge;
    }

    r = otactl_cmd(o, "HGETALL %s", OTA_KEY_CONFIG);
    if (r == NULL) {
        return -1;
    }
    ota_settings_default(&s);
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING
            || r->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }
        if (ota_settings_load(&s, r->element[i]->str, r->element[i + 1]->str)
            != 0)
        {
            fprintf(stderr, "otactl: warning: setting %s in Redis is not "
                    "valid (\"%s\"): its default applies\n",
                    r->element[i]->str, r->element[i + 1]->str);
        }
    }
    freeReplyObject(r);

merge:
    /* what this host sets itself (config file, environment) wins */
    if (!(o->local & OTA_SET_BIT_MAX_SIZE)) {
        o->settings.max_size = s.max_size;
        o->settings.stored = (o->settings.stored & ~OTA_SET_BIT_MAX_SIZE)
                             | (s.stored & OTA_SET_BIT_MAX_SIZE);
    }
    if (!(o->local & OTA_SET_BIT_EXTENSIONS)) {
        memcpy(o->settings.exts, s.exts, sizeof(s.exts));
        o->settings.stored = (o->settings.stored & ~OTA_SET_BIT_EXTENSIONS)
                             | (s.stored & OTA_SET_BIT_EXTENSIONS);
    }
    return 0;
}

void
otactl_audit(otactl_t *o, const char *action, const char *object,
    int status, const char *result)
{
    ota_audit_t         a;
    ota_audit_fields_t  f;
    redisReply         *r;

    memset(&f, 0, sizeof(f));
    f.time = ota_now_ms();
    f.token = ota_audit_cstr("otactl");
    f.role = ota_audit_cstr("operator");
    f.action = action;
    f.object = ota_audit_cstr(object);
    f.status = status;
    f.result = ota_audit_cstr(result ? result : "ok");
    f.remote = ota_audit_cstr("");
    ota_audit_encode(&a, &f);

    if (o->rc == NULL) {
        return;
    }
    r = redisCommandArgv(o->rc, a.argc, a.argv, a.argvlen);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "otactl: warning: the audit entry of %s was not "
                "written\n", action);
    }
    freeReplyObject(r);
}

static int
otactl_config_print(otactl_t *o, ota_settings_t *s)
{
    otactl_table_t  t;
    char            buf[64];
    int             i;

    if (o->json) {
        otactl_print_json(ota_settings_json(s));
        return OTACTL_OK;
    }
    otactl_table_init(&t, 3, "SETTING", "VALUE", "");
    for (i = 0; i < OTA_SETTINGS_N; i++) {
        int  bit = i == 0 ? OTA_SET_BIT_MAX_SIZE : OTA_SET_BIT_EXTENSIONS;

        otactl_table_row(&t, ota_settings_names[i],
                         i == 0 ? ota_settings_size_str(s->max_size, buf,
                                                        sizeof(buf))
                                : s->exts,
                         (s->stored & bit) ? "" : "(default)");
    }
    otactl_table_print(&t, stdout);
    otactl_table_free(&t);
    return OTACTL_OK;
}

/* GET config (or the answer of PUT config) into s: the settings the API
 * does not list as defaults were stored */
static int
otactl_api_settings(json_t *j, ota_settings_t *s)
{
    json_t  *d, *v;
    size_t   i, k;
    char     val[OTA_SETTINGS_EXTS_MAX];
    int      dflt;

    ota_settings_default(s);
    d = json_object_get(j, "defaults");
    for (i = 0; i < OTA_SETTINGS_N; i++) {
        dflt = 0;
        json_array_foreach(d, k, v) {
            if (json_is_string(v)
                && strcmp(json_string_value(v), ota_settings_names[i]) == 0)
            {
                dflt = 1;
            }
        }
        v = json_object_get(j, ota_settings_names[i]);
        if (dflt || v == NULL) {
            continue;
        }
        if (json_is_integer(v)) {
            snprintf(val, sizeof(val), "%lld",
                     (long long) json_integer_value(v));
        } else if (json_is_string(v)) {
            snprintf(val, sizeof(val), "%s", json_string_value(v));
        } else {
            continue;
        }
        if (ota_settings_load(s, ota_settings_names[i], val) != 0) {
            return otactl_fail("unexpected %s from the admin API: %s",
                               ota_settings_names[i], val);
        }
    }
    return OTACTL_OK;
}

static int
otactl_api_config(otactl_t *o, const char *name, const char *value)
{
    ota_settings_t   s;
    json_t          *j, *body = NULL;
    int              rc;

    if (name != NULL) {
        body = json_pack("{s:s}", name, value);
        if (body == NULL) {
            return otactl_fail("out of memory");
        }
        rc = otactl_api(o, "PUT", "config", body, 0, &j, NULL);
        json_decref(body);
    } else {
        rc = otactl_api_get(o, "config", 0, &j, NULL);
    }
    if (rc != OTACTL_OK) {
        return rc;
    }
    rc = otactl_api_settings(j, &s);
    json_decref(j);
    return rc != OTACTL_OK ? rc : otactl_config_print(o, &s);
}

static int
otactl_config_show(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "config show")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("config show takes no arguments");
    }
    if (o->api) {
        return otactl_api_config(o, NULL, NULL);
    }
    /* the platform's values, whatever this host overrides */
    o->local = 0;
    if (otactl_settings_load(o) != 0) {
        return OTACTL_FAIL;
    }
    return otactl_config_print(o, &o->settings);
}

static int
otactl_config_set(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t     opts[] = { { NULL, 0, 0, 0, 0 } };
    otactl_pos_t     pos;
    ota_check_t      c;
    ota_settings_t   s;
    redisReply      *r;
    char             stored[OTA_SETTINGS_EXTS_MAX];
    char             obj[OTA_SETTINGS_EXTS_MAX + 64];
    int              rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "config set")) != 0) {
        return rc;
    }
    if (pos.npos != 2) {
        return otactl_usage("config set needs a setting and a value "
                            "(config set package.max_size 2000MB)");
    }
    ota_check_init(&c, 0);
    ota_settings_default(&s);
    if (ota_settings_set(&s, &c, pos.pos[0], pos.pos[1]) != 0) {
        return otactl_fail("%s", c.msg);
    }
    if (o->api) {
        return otactl_api_config(o, pos.pos[0], pos.pos[1]);
    }
    ota_settings_stored(&s, pos.pos[0], stored, sizeof(stored));
    r = otactl_cmd(o, "HSET %s %s %s", OTA_KEY_CONFIG, pos.pos[0], stored);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    freeReplyObject(r);
    snprintf(obj, sizeof(obj), "%s=%s", pos.pos[0], stored);
    otactl_audit(o, OTA_ACT_CONFIG_SET, obj, 200, NULL);

    o->local = 0;
    if (otactl_settings_load(o) != 0) {
        return OTACTL_FAIL;
    }
    return otactl_config_print(o, &o->settings);
}

int
otactl_config(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("config needs show or set");
    }
    if (strcmp(argv[0], "show") == 0) {
        return otactl_config_show(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "set") == 0) {
        return otactl_config_set(o, argc - 1, argv + 1);
    }
    return otactl_usage("unknown config command \"%s\" (show, set)", argv[0]);
}
