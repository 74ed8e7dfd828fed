/*
 * ota_multipart.h: a streaming parser of multipart/form-data bodies (RFC
 * 7578, what `curl -F` and a browser's form send), for the admin API's
 * package upload.  It is fed the body in pieces as they arrive, holds no
 * copy of part contents (only a part's header block, at most
 * OTA_MP_HEADER_MAX bytes) and reports through callbacks:
 *
 *   begin(part)    a part's headers were read: its name, its file name
 *                  (has_filename) and content type
 *   data(p, n)     bytes of the current part's content, in order; a
 *                  content may come in any number of pieces
 *   end()          the current part's content is complete
 *
 * A callback returns 0 to go on, OTA_MP_PAUSE (begin only) to have
 * ota_mp_parse() return at once after that part's headers (the caller
 * feeds the rest of its piece later, from *used), or -1 to stop: the
 * parse then returns OTA_MP_ABORT and the caller has its own reason.
 *
 * The delimiter is found without a copy: on a partial match at the end
 * of a piece the matched bytes are the delimiter's own prefix, so they are
 * given to data() from the delimiter itself if the match fails later.
 * Plain C, no allocation; unit tested and fuzzed.
 */

#ifndef OTA_MULTIPART_H
#define OTA_MULTIPART_H

#include <stddef.h>

#define OTA_MP_BOUNDARY_MAX   70
#define OTA_MP_HEADER_MAX     8192      /* one part's header block */
#define OTA_MP_NAME_MAX       256
#define OTA_MP_FILENAME_MAX   1024
#define OTA_MP_TYPE_MAX       256

enum {
    OTA_MP_OK = 0,
    OTA_MP_PAUSE = 1,
    OTA_MP_ERROR = -1,              /* malformed: the reason in mp->err */
    OTA_MP_ABORT = -2               /* a callback said stop */
};

typedef struct {
    const char  *name;              /* NUL-terminated */
    size_t       name_len;
    const char  *filename;          /* the last path component only */
    size_t       filename_len;
    int          has_filename;      /* a file part (filename="...") */
    const char  *content_type;      /* "" when none */
} ota_mp_part_t;

typedef int (*ota_mp_begin_pt)(void *ctx, const ota_mp_part_t *part);
typedef int (*ota_mp_data_pt)(void *ctx, const char *data, size_t len);
typedef int (*ota_mp_end_pt)(void *ctx);

typedef struct {
    ota_mp_begin_pt  begin;
    ota_mp_data_pt   data;
    ota_mp_end_pt    end;
    void            *ctx;

    /* "\r\n--" boundary */
    char             delim[4 + OTA_MP_BOUNDARY_MAX + 1];
    size_t           dlen;

    int              state;
    size_t           match;         /* delimiter bytes matched */
    int              in_part;
    unsigned         parts;

    char             hdr[OTA_MP_HEADER_MAX];
    size_t           hlen;

    char             name[OTA_MP_NAME_MAX + 1];
    char             filename[OTA_MP_FILENAME_MAX + 1];
    char             type[OTA_MP_TYPE_MAX + 1];

    char             err[160];
} ota_mp_t;

/* the boundary of a Content-Type header value "multipart/form-data;
 * boundary=..." (quoted or not) into out (OTA_MP_BOUNDARY_MAX + 1 bytes);
 * 0, or -1 when the type is another or has no valid boundary */
int ota_mp_boundary(const char *ct, size_t len, char *out);

/* 0, or -1 for a boundary that is empty or too long */
int ota_mp_init(ota_mp_t *mp, const char *boundary, ota_mp_begin_pt begin,
    ota_mp_data_pt data, ota_mp_end_pt end, void *ctx);

/* parses len bytes; *used is how many were consumed (all of them unless
 * OTA_MP_PAUSE or an error) */
int ota_mp_parse(ota_mp_t *mp, const char *data, size_t len, size_t *used);

/* at the end of the body: OTA_MP_OK when the closing delimiter was seen,
 * else OTA_MP_ERROR (a body cut short) */
int ota_mp_finish(ota_mp_t *mp);

#endif /* OTA_MULTIPART_H */
