/* ota_package.c: a package as an admin adds it (ota_package.h) */

#include "ota_package.h"

#include <stdio.h>
#include <string.h>

#include "ota_fields.h"


void
ota_package_init(ota_package_t *p)
{
    memset(p, 0, sizeof(*p));
}


void
ota_package_free(ota_package_t *p)
{
    if (p->ext_json != NULL) {
        json_decref(p->ext_json);
        p->ext_json = NULL;
    }
}


int
ota_package_check_nfiles(ota_check_t *c, int n)
{
    if (n == 0) {
        return ota_check_fail(c, c->api ? "a package needs at least one "
                                          "\"file\" part"
                                        : "package add needs at least one "
                                          "file");
    }
    if (n > OTA_PKG_FILES_MAX) {
        return ota_check_fail(c, "at most %d files per package",
                              OTA_PKG_FILES_MAX);
    }
    return 0;
}


static int
ota_package_check_ext(ota_check_t *c, ota_package_t *p)
{
    const char  *kv, *eq;
    char         key[OTA_PKG_EXT_KEY_MAX + 1];
    size_t       l;
    int          i;

    p->ext_json = json_object();
    if (p->ext_json == NULL) {
        return ota_check_fail(c, "out of memory");
    }
    if (p->next > OTA_PKG_EXT_MAX) {
        return ota_check_fail(c, "at most %d %s values", OTA_PKG_EXT_MAX,
                              ota_check_field(c, "ext"));
    }
    for (i = 0; i < p->next; i++) {
        kv = p->ext[i];
        eq = strchr(kv, '=');
        l = eq ? (size_t) (eq - kv) : 0;
        if (eq == NULL || l == 0 || l > OTA_PKG_EXT_KEY_MAX) {
            return ota_check_fail(c, "invalid %s \"%s\" (want key=value, key "
                                  "1-64 characters)",
                                  ota_check_field(c, "ext"), kv);
        }
        memcpy(key, kv, l);
        key[l] = '\0';
        if (!ota_name_file(key, l)
            || !ota_text_ok(eq + 1, strlen(eq + 1), OTA_DESC_MAX))
        {
            return ota_check_fail(c, "invalid %s \"%s\" (key of A-Z a-z 0-9 "
                                  "_ - ., value at most 1024 characters)",
                                  ota_check_field(c, "ext"), kv);
        }
        if (json_object_get(p->ext_json, key) != NULL) {
            return ota_check_fail(c, "%s %s given twice",
                                  ota_check_field(c, "ext"), key);
        }
        if (json_object_set_new(p->ext_json, key, json_string(eq + 1)) != 0) {
            return ota_check_fail(c, "out of memory");
        }
    }
    return 0;
}


int
ota_package_check(ota_check_t *c, ota_package_t *p)
{
    ota_version_t  v, fv;

    if (p->product == NULL || p->module == NULL || p->name == NULL
        || p->version == NULL)
    {
        return ota_check_fail(c, "%s needs %s, %s, %s and %s",
                              c->api ? "a package" : "package add",
                              ota_check_field(c, "product"),
                              ota_check_field(c, "module"),
                              ota_check_field(c, "name"),
                              ota_check_field(c, "version"));
    }
    if (!ota_name_product(p->product, strlen(p->product))) {
        return ota_check_fail(c, "invalid product name \"%s\"", p->product);
    }
    if (!ota_name_module(p->module, strlen(p->module))) {
        return ota_check_fail(c, "invalid module name \"%s\"", p->module);
    }
    if (p->name[0] == '\0'
        || !ota_text_ok(p->name, strlen(p->name), OTA_PKG_NAME_MAX))
    {
        return ota_check_fail(c, "invalid %s: 1-128 characters, no control "
                              "characters", ota_check_field(c, "name"));
    }
    if (ota_version_parse_cstr(p->version, &v) != 0) {
        return ota_check_fail(c, "invalid version \"%s\" (want X.Y.Z, each "
                              "part 0..999999, no leading zeros)",
                              p->version);
    }
    ota_version_format(&v, p->vbuf);

    if (p->type == NULL) {
        p->type = "full";
    }
    if (strcmp(p->type, "full") != 0 && strcmp(p->type, "diff") != 0) {
        return ota_check_fail(c, "invalid %s \"%s\" (full or diff)",
                              ota_check_field(c, "type"), p->type);
    }
    if (strcmp(p->type, "diff") == 0) {
        if (p->from == NULL) {
            return ota_check_fail(c, "a diff package needs %s X.Y.Z (the "
                                  "version it applies to)",
                                  ota_check_field(c, "from"));
        }
        if (ota_version_parse_cstr(p->from, &fv) != 0) {
            return ota_check_fail(c, "invalid %s \"%s\" (want X.Y.Z)",
                                  ota_check_field(c, "from"), p->from);
        }
        if (ota_version_cmp(&fv, &v) >= 0) {
            return ota_check_fail(c, "%s %s must be lower than %s %s",
                                  ota_check_field(c, "from"), p->from,
                                  ota_check_field(c, "version"), p->version);
        }
        ota_version_format(&fv, p->fbuf);
    } else {
        if (p->from != NULL) {
            return ota_check_fail(c, "%s is only for %s diff packages",
                                  ota_check_field(c, "from"),
                                  ota_check_field(c, "type"));
        }
        p->fbuf[0] = '\0';
    }

    if (p->sign == NULL) {
        p->sign = "sha256";
    }
    if (strcmp(p->sign, "md5") == 0) {
        p->md5 = 1;
    } else if (strcmp(p->sign, "sha256") == 0) {
        p->md5 = 0;
    } else {
        return ota_check_fail(c, "invalid %s \"%s\" (md5 or sha256)",
                              ota_check_field(c, "sign"), p->sign);
    }
    if (p->desc != NULL
        && !ota_text_ok(p->desc, strlen(p->desc), OTA_DESC_MAX))
    {
        return ota_check_fail(c, "invalid %s: at most 1024 characters, no "
                              "control characters",
                              ota_check_field(c, "desc"));
    }
    return ota_package_check_ext(c, p);
}


int
ota_package_check_file_name(ota_check_t *c, const ota_settings_t *s,
    const char *name, const ota_package_file_t *before, int n)
{
    size_t  l = strlen(name);
    int     i;

    if (!ota_name_file(name, l)) {
        return ota_check_fail(c, "invalid file name \"%s\" (1-128 of A-Z a-z "
                              "0-9 _ - ., not starting with '.')", name);
    }
    if (!ota_name_ext_ok(name, l, s->exts)) {
        return ota_check_fail(c, "%s: file type not accepted (accepted: %s)",
                              name, s->exts);
    }
    for (i = 0; i < n; i++) {
        if (strcmp(before[i].name, name) == 0) {
            return ota_check_fail(c, "two files named %s", name);
        }
    }
    return 0;
}


int
ota_package_check_file_size(ota_check_t *c, const ota_settings_t *s,
    const char *label, long long size)
{
    char  lim[32];

    if (size == 0) {
        return ota_check_fail(c, "%s is empty", label);
    }
    ota_settings_size_str(s->max_size, lim, sizeof(lim));
    if (size < 0) {
        /* an upload stops at the first byte over: its size is not known */
        return ota_check_fail(c, "%s is over the limit of %s", label, lim);
    }
    if (size > s->max_size) {
        return ota_check_fail(c, "%s is %lld bytes, over the limit of %s",
                              label, size, lim);
    }
    return 0;
}


void
ota_package_id(const ota_package_t *p, char *id)
{
    size_t  l;

    id[0] = '\0';
    if (strlen(p->product) + strlen(p->module) + strlen(p->vbuf)
        + strlen(p->fbuf) + 3 > OTA_NAME_MAX)
    {
        return;
    }
    snprintf(id, OTA_NAME_MAX + 1, "%s-%s-%s%s%s", p->product, p->module,
             p->fbuf, p->fbuf[0] ? "-" : "", p->vbuf);
    for (l = 0; id[l]; l++) {
        if (id[l] == '.') {
            id[l] = '_';
        }
    }
    if (!ota_name_id(id, strlen(id))) {
        id[0] = '\0';       /* a product name with ':' */
    }
}


void
ota_package_slot(const ota_package_t *p, char *slot)
{
    if (p->fbuf[0]) {
        snprintf(slot, OTA_PKG_SLOT_MAX, "%s>%s", p->fbuf, p->vbuf);
    } else {
        snprintf(slot, OTA_PKG_SLOT_MAX, "%s", p->vbuf);
    }
}


void
ota_package_random_id(const unsigned char *rnd, char *id)
{
    int  i;

    memcpy(id, "pkg-", 4);
    for (i = 0; i < 8; i++) {
        snprintf(id + 4 + 2 * i, 3, "%02x", rnd[i]);
    }
}


static json_t *
ota_package_files_json(const ota_package_file_t *files, int n)
{
    json_t  *a;
    int      i;

    a = json_array();
    for (i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:I}",
                "name", files[i].name, "size", (json_int_t) files[i].size,
                "sign", files[i].sign, "offset",
                (json_int_t) files[i].offset)) != 0)
        {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}


json_t *
ota_package_manifest(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n)
{
    json_t     *jf;
    long long   total = 0;
    int         i;

    for (i = 0; i < n; i++) {
        total += files[i].size;
    }
    jf = ota_package_files_json(files, n);
    if (jf == NULL) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o}",
        "id", id, "product", p->product, "module", p->module,
        "version", p->vbuf, "type", p->type, "from", p->fbuf,
        "sign_method", p->sign, "size", (json_int_t) total, "files", jf);
}


const char *
ota_package_initial_state(const ota_package_t *p)
{
    return p->verify ? OTA_PKG_UNVERIFIED : OTA_PKG_READY;
}


int
ota_package_record(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n, const char *files_json,
    const char *ext_json, long long created, ota_package_record_bufs_t *bufs,
    const char **fields, const char **values)
{
    long long  total = 0;
    int        i, k = 0;

    for (i = 0; i < n; i++) {
        total += files[i].size;
    }
    snprintf(bufs->size, sizeof(bufs->size), "%lld", total);
    snprintf(bufs->created, sizeof(bufs->created), "%lld", created);

#define F(name, v)  fields[k] = name; values[k++] = v
    F("id", id);
    F("product", p->product);
    F("module", p->module);
    F("name", p->name);
    F("version", p->vbuf);
    F("type", p->type);
    F("from", p->fbuf);
    F("sign_method", p->sign);
    F("sign", files[0].sign);
    F("size", bufs->size);
    F("files", files_json);
    F("verify", p->verify ? "1" : "0");
    F("state", ota_package_initial_state(p));
    F("verify_batch", "");
    F("desc", p->desc ? p->desc : "");
    F("ext", ext_json);
    F("created", bufs->created);
#undef F

    return k;
}


json_t *
ota_package_added_json(const ota_package_t *p, const char *id,
    const ota_package_file_t *files, int n)
{
    long long  total = 0;
    int        i;

    for (i = 0; i < n; i++) {
        total += files[i].size;
    }
    return json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", id,
                     "sign_method", p->sign, "sign", files[0].sign,
                     "size", (json_int_t) total,
                     "state", ota_package_initial_state(p));
}
