/*
 * ota_check.h: the refusals of what an admin submits, shared by otactl
 * and the module's admin API, so that both refuse the same input for the
 * same reason (the checks of devices and modules here; packages in
 * ota_package.h, batches in ota_batch_check.h, platform settings in
 * ota_settings.h).
 *
 * A refusal is one line in an ota_check_t.  The same check names a field
 * the way its caller's user wrote it: otactl's option ("--from") or the
 * API's JSON or form field ("\"from\""), chosen at ota_check_init().
 * Every check returns 0 when the input is good and -1 with the reason in
 * c->msg when not.
 */

#ifndef OTA_CHECK_H
#define OTA_CHECK_H

#include <stddef.h>

#define OTA_CHECK_MSG_MAX  512

typedef struct {
    int    api;                     /* 1: API field names, 0: otactl's */
    char   msg[OTA_CHECK_MSG_MAX];
    char   fbuf[4][72];             /* field names being formatted */
    int    fk;
} ota_check_t;

void ota_check_init(ota_check_t *c, int api);

/* how the caller's user names a field given as the API names it:
 * "--from-version" or "\"from_version\"" (one of a few buffers in c, so
 * up to four may be used in one message) */
const char *ota_check_field(ota_check_t *c, const char *name);

/* a reason worded for otactl's options ("--max-per-minute 0 ...") worded
 * for the API's fields instead ("\"max_per_minute\" 0 ...") into c->msg,
 * for checks that only speak otactl's words (ota_rollout_check); -1 */
int ota_check_fail_api(ota_check_t *c, const char *cli_msg);

/* sets c->msg and returns -1 */
int ota_check_fail(ota_check_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* free text an admin gives (names, aliases, descriptions, custom values):
 * valid UTF-8, no control characters, at most max bytes; 1 when good */
int ota_text_ok(const char *s, size_t len, size_t max);

/* a device secret: 16-128 printable ASCII characters, no spaces */
int ota_secret_ok(const char *s, size_t len);

#define OTA_SECRET_BYTES   32       /* of randomness in a generated secret */
#define OTA_ALIAS_MAX      128
#define OTA_DESC_MAX       1024

/* the string fields of a JSON object an admin sent (the API's bodies):
 * names is a NULL-terminated list; out[i] is the value of names[i], or
 * NULL when absent or null.  A field not in the list, or one that is not a
 * string, is refused (nothing is guessed).  obj is a json_t *. */
int ota_check_fields(ota_check_t *c, const void *obj,
    const char *const *names, const char **out);

/* devices in one request (POST devices with an array) */
#define OTA_DEVICES_ADD_MAX  10000

/* a device to add: name, product, optional secret (NULL: generated) */
int ota_check_device(ota_check_t *c, const char *device, const char *product,
    const char *secret);

/* a module to add: name, product, optional alias and description */
int ota_check_module(ota_check_t *c, const char *module, const char *product,
    const char *alias, const char *desc);

/* the JSON stored for a module (OTA_KEY_PRODUCT_MODULES):
 * {"alias","desc","created"}, malloc'ed (free()), NULL on no memory */
char *ota_module_json(const char *alias, const char *desc, long long created);

/* the stored JSON of module "default", which every product has */
#define OTA_MODULE_DEFAULT       "default"
#define OTA_MODULE_DEFAULT_DESC  "every product has a default module"

/* the refusals that need Redis, worded once for otactl and the API */
#define OTA_MSG_DEVICE_EXISTS    "device %s already exists (product %s)"
#define OTA_MSG_MODULE_EXISTS    "module %s already exists in product %s"
#define OTA_MSG_NO_MODULE        "no module %s in product %s (otactl module " \
                                 "add %s --product %s)"
#define OTA_MSG_VERSION_EXISTS   "product %s module %s already has version " \
                                 "%s (package %s)"
#define OTA_MSG_NO_PACKAGE       "no package %s"
#define OTA_MSG_NO_BATCH         "no batch %s"
#define OTA_MSG_NO_PRODUCT       "no product %s"
#define OTA_MSG_NO_DEVICE        "no device %s"

#endif /* OTA_CHECK_H */
