/*
 * ota_dec.h: integers in decimal without printf (ota_dec.c).
 */

#ifndef OTA_DEC_H
#define OTA_DEC_H

/* v in decimal at out (at least 20 bytes), no NUL; returns the end */
char *ota_dec_ll(char *out, long long v);

#endif /* OTA_DEC_H */
