/*
 * ota_jesc.h: JSON string escaping without jansson (ota_jesc.c).
 */

#ifndef OTA_JESC_H
#define OTA_JESC_H

#include <stddef.h>

/* jansson's string escaping (no JSON_ESCAPE_SLASH, no JSON_ENSURE_ASCII):
 * the length of s escaped, without quotes, or (size_t) -1 when s is not
 * UTF-8 as jansson checks it (json_stringn would refuse it) */
size_t ota_json_esc_len(const char *s, size_t len);
/* writes s escaped (s checked by ota_json_esc_len); returns the end */
char *ota_json_esc(char *out, const char *s, size_t len);

#endif /* OTA_JESC_H */
