/* ota_task_columns.c: the task columns (ota_task_columns.h) */

#include "ota_task_columns.h"

#include <stddef.h>

#include "ota_fields.h"
#include "ota_keys.h"

const ota_task_column_t  ota_task_columns[OTA_TCOL_N] = {
    [OTA_TCOL_STATE]   = { "state",   OTA_KEY_BATCH_STATE,   OTA_ST_PENDING },
    [OTA_TCOL_COVERED] = { "covered", OTA_KEY_BATCH_COVERED, "0" },
    [OTA_TCOL_STEP]    = { "step",    OTA_KEY_BATCH_STEP,    NULL },
    [OTA_TCOL_REASON]  = { "reason",  OTA_KEY_BATCH_REASON,  NULL },
    [OTA_TCOL_PKG]     = { "package", OTA_KEY_BATCH_PKG,     NULL },
    [OTA_TCOL_PSIZE]   = { "size",    OTA_KEY_BATCH_PSIZE,   NULL },
    [OTA_TCOL_FROM]    = { "from",    OTA_KEY_BATCH_FROM,    "" },
    [OTA_TCOL_DESC]    = { "desc",    OTA_KEY_BATCH_DESC,    NULL },
    [OTA_TCOL_CREATED] = { "created", OTA_KEY_BATCH_CREATED, NULL },
    [OTA_TCOL_UPDATED] = { "updated", OTA_KEY_BATCH_UPDATED, NULL },
};
