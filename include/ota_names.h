/*
 * ota_names.h: what a device id, product, module, package id, batch id and
 * file name may look like.  Every program checks names with these before a
 * name reaches a Redis key or a path, so no key injection and no path tricks
 * ("..", "/", NUL) get through anywhere.
 */

#ifndef OTA_NAMES_H
#define OTA_NAMES_H

#include <stddef.h>

#define OTA_NAME_MAX   64

/* device, product: [A-Za-z0-9_.:-]{1,64}, not starting with '.' */
int ota_name_device(const char *s, size_t len);
int ota_name_product(const char *s, size_t len);

/* module: [A-Za-z0-9_-]{1,64} (docs/otactl.md, "module add") */
int ota_name_module(const char *s, size_t len);

/* package and batch ids: [A-Za-z0-9_-]{1,64} */
int ota_name_id(const char *s, size_t len);

/* stored file name: [A-Za-z0-9_.-]{1,128}, not starting with '.',
 * never "manifest.json" */
int ota_name_file(const char *s, size_t len);

/* a package file's name ends with one of the accepted extensions, given
 * as a space-separated list (".bin .tar.gz ..."), compared without regard
 * to case: "FW.BIN" is a .bin file (the rule of `otactl package add` and
 * of any upload path; docs/otactl.md) */
int ota_name_ext_ok(const char *name, size_t len, const char *exts);

/* each returns 1 when valid, 0 when not */

#endif /* OTA_NAMES_H */
