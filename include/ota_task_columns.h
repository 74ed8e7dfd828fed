/*
 * ota_task_columns.h: the one list of a task's columns.  Tasks are stored
 * by column, one HASH device -> value per field and batch (ota_keys.h,
 * docs/redis-schema.md "Tasks"); a device absent from a column has the
 * column's default.  Whoever shows tasks (the admin API's
 * batches/<id>/devices, `otactl batch show --devices`, `otactl device
 * show`) reads the view columns, OTA_TCOL_STATE .. OTA_TCOL_REASON, in
 * this order, one HMGET per column for a page of devices.
 */

#ifndef OTA_TASK_COLUMNS_H
#define OTA_TASK_COLUMNS_H

typedef enum {
    /* the view: what a reader of tasks shows */
    OTA_TCOL_STATE = 0,
    OTA_TCOL_COVERED,
    OTA_TCOL_STEP,
    OTA_TCOL_REASON,
    OTA_TCOL_PKG,           /* the diff the device downloads (docs/delta.md) */
    OTA_TCOL_PSIZE,         /* its bytes: covered is of that size; after
                               COVERED, so a reader that goes through the
                               columns in order has covered already */
    OTA_TCOL_VIEW_N,

    /* the rest */
    OTA_TCOL_FROM = OTA_TCOL_VIEW_N,
    OTA_TCOL_DESC,
    OTA_TCOL_CREATED,
    OTA_TCOL_UPDATED,
    OTA_TCOL_N
} ota_tcol_t;

typedef struct {
    const char  *name;          /* its name in JSON answers */
    const char  *key;           /* the column's key format (ota_keys.h,
                                   one %s: the batch id) */
    const char  *dflt;          /* the value of a device absent from it;
                                   NULL: none (the field is left out) */
} ota_task_column_t;

extern const ota_task_column_t  ota_task_columns[OTA_TCOL_N];

#endif /* OTA_TASK_COLUMNS_H */
