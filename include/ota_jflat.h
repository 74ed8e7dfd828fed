/*
 * ota_jflat.h: a small strict reader of the device API's JSON request
 * bodies (auth, inform, progress), without a jansson tree.  Made for speed:
 * jansson builds a tree of malloc'ed nodes and a hash table per object for
 * a body of 4 short members; this reader makes no allocation at all
 * (members in the caller's ota_jflat_t, unescaped strings in the caller's
 * scratch buffer, unescaped strings without escapes are views into the
 * input).
 *
 * What it reads: one JSON object whose members are strings, numbers, true,
 * false, null, or objects of such scalars (one level: {"id","params":{}}),
 * at most OTA_JF_MAX members in all.  It accepts exactly what jansson's
 * json_loadb(JSON_REJECT_DUPLICATES) accepts for such a body, with the same
 * values: full string escapes (\uXXXX, surrogate pairs into UTF-8), UTF-8
 * checked as jansson does, \u0000 refused, integers in long long, reals by
 * strtod with jansson's overflow rule, no trailing garbage, duplicate keys
 * refused.  t/unit/test_jflat.c checks this against jansson on many inputs.
 *
 * It never says why a body is refused: on anything but OTA_JF_OK the caller
 * parses the body with jansson as before, so every refusal keeps its exact
 * message (line, column, jansson's text) and every body this reader does
 * not cover (arrays, deeper nesting, many members) is read as before.
 */

#ifndef OTA_JFLAT_H
#define OTA_JFLAT_H

#include <stddef.h>

#define OTA_JF_MAX      32          /* members, nested ones included */
#define OTA_JF_NUM_MAX  64          /* characters of a real for strtod */

typedef enum {
    OTA_JF_OK = 0,
    OTA_JF_INVALID,                 /* jansson refuses it as well */
    OTA_JF_UNSUPPORTED              /* maybe valid, not read here */
} ota_jf_rc_e;

typedef enum {
    OTA_JF_NULL = 0,
    OTA_JF_FALSE,
    OTA_JF_TRUE,
    OTA_JF_INT,
    OTA_JF_REAL,
    OTA_JF_STRING,
    OTA_JF_OBJECT
} ota_jf_type_e;

typedef struct {
    const char     *key;            /* unescaped, key_len bytes, no NUL */
    size_t          key_len;
    const char     *str;            /* OTA_JF_STRING: len bytes, no NUL */
    size_t          len;
    long long       i;              /* OTA_JF_INT */
    double          d;              /* OTA_JF_REAL */
    int             parent;         /* index of its object, -1: the top */
    ota_jf_type_e   type;
} ota_jf_member_t;

typedef struct {
    ota_jf_member_t  m[OTA_JF_MAX];
    int              n;
} ota_jflat_t;

/*
 * Reads in[0..len) into j.  scratch (at least len bytes) receives the
 * strings that hold escapes; the views of j point into in or scratch, so
 * both must outlive them.  Returns OTA_JF_OK, OTA_JF_INVALID or
 * OTA_JF_UNSUPPORTED (j is then not to be used).
 */
ota_jf_rc_e ota_jflat_parse(ota_jflat_t *j, const char *in, size_t len,
    char *scratch, size_t scratch_size);

/* the member name of the object at index parent (-1: the top object), or
 * NULL when absent */
const ota_jf_member_t *ota_jflat_get(const ota_jflat_t *j, int parent,
    const char *name);

/* the index of a member in j (to pass as parent for an object's members) */
#define ota_jflat_index(j, mp)  ((int) ((mp) - (j)->m))

/*
 * A string as a JSON string literal, quotes included, escaped as jansson's
 * json_dumps() does without flags ('"' '\\' and the control characters,
 * \b \f \n \r \t by name, the others \u00XX with upper-case hex; '/' and
 * non-ASCII as they are).  ota_jflat_quoted_len() is the exact length;
 * ota_jflat_quote() writes it at out and returns the end.
 */
size_t ota_jflat_quoted_len(const char *s, size_t len);
char *ota_jflat_quote(char *out, const char *s, size_t len);

#endif /* OTA_JFLAT_H */
