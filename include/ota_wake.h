/*
 * ota_wake.h: the messages of the wake channel (OTA_CHANNEL_WAKE in
 * ota_keys.h), which tell nginx's waiting upgrade requests that a device
 * may have a new offer.  The worker's scripts publish them
 * (lua/lib/wake.lua); the module reads them (ngx_ota_wait.c).
 *
 *   "dev <module> <device> [<device>...]"   these devices, this module
 *   "mod <product> <module>"                every device of the product
 *
 * Words are separated by one space; names are checked as everywhere
 * (ota_names.h), so a malformed message is refused whole, never half read.
 */

#ifndef OTA_WAKE_H
#define OTA_WAKE_H

#include <stddef.h>

typedef enum {
    OTA_WAKE_BAD = 0,
    OTA_WAKE_DEV,                   /* module, then devices */
    OTA_WAKE_MOD                    /* product and module */
} ota_wake_kind_e;

typedef struct {
    const char  *data;              /* points into the message */
    size_t       len;
} ota_wake_str_t;

typedef struct {
    ota_wake_kind_e  kind;
    ota_wake_str_t   product;       /* OTA_WAKE_MOD */
    ota_wake_str_t   module;
    ota_wake_str_t   devices;       /* OTA_WAKE_DEV: "d1 d2 ...", checked */
    size_t           ndevices;
} ota_wake_t;

/* Parses msg; OTA_WAKE_BAD (and why, a static string) when malformed. */
ota_wake_kind_e ota_wake_parse(const char *msg, size_t len, ota_wake_t *w,
    const char **why);

/* The next device of w->devices after *pos (start with *pos = 0): 1 and
 * dev set, 0 at the end. */
int ota_wake_next(const ota_wake_t *w, size_t *pos, ota_wake_str_t *dev);

/* Writes "dev <module> <device>" or "mod <product> <module>" (product NULL
 * for the first) into buf; the length, or 0 when it does not fit or a name
 * is not valid. */
size_t ota_wake_format(char *buf, size_t size, const char *product,
    const char *module, const char *device);

#endif /* OTA_WAKE_H */
