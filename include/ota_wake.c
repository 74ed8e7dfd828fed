/*
 * ota_wake.c: the wake channel's messages (ota_wake.h).
 */

#include "ota_wake.h"
#include "ota_keys.h"
#include "ota_names.h"

#include <stdio.h>
#include <string.h>


/* the next word of [*p, end): 0 when there is none or it is empty */
static int
ota_wake_word(const char **p, const char *end, ota_wake_str_t *w)
{
    const char  *s = *p, *sp;

    if (s >= end) {
        return 0;
    }

    sp = memchr(s, ' ', (size_t) (end - s));
    w->data = s;
    w->len = (size_t) ((sp ? sp : end) - s);
    *p = sp ? sp + 1 : end;

    return w->len > 0 && !(sp && sp + 1 == end);  /* no trailing blank */
}


ota_wake_kind_e
ota_wake_parse(const char *msg, size_t len, ota_wake_t *w, const char **why)
{
    const char      *p = msg, *end = msg + len;
    size_t           pos;
    ota_wake_str_t   kind, dev;

    memset(w, 0, sizeof(ota_wake_t));
    *why = "no kind";

    if (!ota_wake_word(&p, end, &kind)) {
        return OTA_WAKE_BAD;
    }

    if (kind.len == sizeof(OTA_WAKE_MODULE) - 1
        && memcmp(kind.data, OTA_WAKE_MODULE, kind.len) == 0)
    {
        *why = "\"" OTA_WAKE_MODULE "\" needs a product and a module";
        if (!ota_wake_word(&p, end, &w->product)
            || !ota_wake_word(&p, end, &w->module) || p != end
            || !ota_name_product(w->product.data, w->product.len)
            || !ota_name_module(w->module.data, w->module.len))
        {
            return OTA_WAKE_BAD;
        }

        w->kind = OTA_WAKE_MOD;
        return w->kind;
    }

    if (!(kind.len == sizeof(OTA_WAKE_DEVICES) - 1
          && memcmp(kind.data, OTA_WAKE_DEVICES, kind.len) == 0))
    {
        *why = "unknown kind";
        return OTA_WAKE_BAD;
    }

    *why = "\"" OTA_WAKE_DEVICES "\" needs a module and devices";
    if (!ota_wake_word(&p, end, &w->module) || p == end
        || !ota_name_module(w->module.data, w->module.len))
    {
        return OTA_WAKE_BAD;
    }

    w->devices.data = p;
    w->devices.len = (size_t) (end - p);

    /* every device checked now: the reader then trusts the list */
    for (pos = 0; pos < w->devices.len; w->ndevices++) {
        p = w->devices.data + pos;
        if (!ota_wake_word(&p, end, &dev)
            || !ota_name_device(dev.data, dev.len))
        {
            *why = "a device name is not valid";
            w->ndevices = 0;
            return OTA_WAKE_BAD;
        }
        pos = (size_t) (p - w->devices.data);
    }

    w->kind = OTA_WAKE_DEV;
    return w->kind;
}


int
ota_wake_next(const ota_wake_t *w, size_t *pos, ota_wake_str_t *dev)
{
    const char  *p, *end;

    if (w->kind != OTA_WAKE_DEV || *pos >= w->devices.len) {
        return 0;
    }

    p = w->devices.data + *pos;
    end = w->devices.data + w->devices.len;

    (void) ota_wake_word(&p, end, dev);
    *pos = (size_t) (p - w->devices.data);

    return 1;
}


size_t
ota_wake_format(char *buf, size_t size, const char *product,
    const char *module, const char *device)
{
    int  n;

    if (!ota_name_module(module, strlen(module))) {
        return 0;
    }

    if (product != NULL) {
        if (!ota_name_product(product, strlen(product))) {
            return 0;
        }
        n = snprintf(buf, size, OTA_WAKE_MODULE " %s %s", product, module);

    } else {
        if (device == NULL || !ota_name_device(device, strlen(device))) {
            return 0;
        }
        n = snprintf(buf, size, OTA_WAKE_DEVICES " %s %s", module, device);
    }

    return n > 0 && (size_t) n < size ? (size_t) n : 0;
}
