/*
 * ota_dec.c: a signed integer in decimal, as "%lld" prints it, written by
 * hand: events, report answers and quoted ids carry a few numbers each and
 * snprintf was a visible part of those requests (speed, issue 22).
 */

#include "ota_dec.h"

#include <stddef.h>


char *
ota_dec_ll(char *out, long long v)
{
    char                 tmp[20];
    size_t               n;
    unsigned long long   u;

    if (v < 0) {
        *out++ = '-';
        u = (unsigned long long) -(v + 1) + 1;
    } else {
        u = (unsigned long long) v;
    }

    n = 0;
    do {
        tmp[n++] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    while (n) {
        *out++ = tmp[--n];
    }

    return out;
}
