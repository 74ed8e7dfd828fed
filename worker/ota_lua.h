/*
 * ota_lua.h: the Lua prelude of every script the worker and otactl run in
 * Redis.  Key formats and state names come from include/ota_keys.h and
 * include/ota_fields.h by string pasting, so scripts build keys with the
 * same macros as C code (string.format understands their %s).
 */

#ifndef OTA_LUA_H
#define OTA_LUA_H

#include "ota_keys.h"
#include "ota_fields.h"
#include "ota_task.h"

#define OTA_LUA_PRELUDE                                                      \
    "local K_DEVICE='" OTA_KEY_DEVICE "'\n"                                  \
    "local K_DEVVER='" OTA_KEY_DEVICE_VERSIONS "'\n"                         \
    "local VER_TS='" OTA_VERSION_TS_SUFFIX "'\n"                             \
    "local K_DEVOPEN='" OTA_KEY_DEVICE_OPEN "'\n"                            \
    "local K_PRODUCTS='" OTA_KEY_PRODUCTS "'\n"                              \
    "local K_PRODDEV='" OTA_KEY_PRODUCT_DEVICES "'\n"                        \
    "local K_PRODMOD='" OTA_KEY_PRODUCT_MODULES "'\n"                        \
    "local K_PRODPKGS='" OTA_KEY_PRODUCT_PACKAGES "'\n"                      \
    "local K_PKGVER='" OTA_KEY_PRODUCT_PKGVER "'\n"                          \
    "local K_DYNAMIC='" OTA_KEY_PRODUCT_DYNAMIC "'\n"                        \
    "local K_VERDIST='" OTA_KEY_VERSION_DIST "'\n"                           \
    "local K_VERSET='" OTA_KEY_VERSION_SET "'\n"                             \
    "local K_PKG='" OTA_KEY_PACKAGE "'\n"                                    \
    "local K_PKGS='" OTA_KEY_PACKAGES "'\n"                                  \
    "local K_BATCH='" OTA_KEY_BATCH "'\n"                                    \
    "local K_COUNTS='" OTA_KEY_BATCH_COUNTS "'\n"                            \
    "local K_FAILS='" OTA_KEY_BATCH_FAILURES "'\n"                           \
    "local K_BDEVS='" OTA_KEY_BATCH_DEVICES "'\n"                            \
    "local K_BFROM='" OTA_KEY_BATCH_FROM "'\n"                              \
    "local K_BSTATE='" OTA_KEY_BATCH_STATE "'\n"                            \
    "local K_BCOVERED='" OTA_KEY_BATCH_COVERED "'\n"                        \
    "local K_BSTEP='" OTA_KEY_BATCH_STEP "'\n"                              \
    "local K_BREASON='" OTA_KEY_BATCH_REASON "'\n"                          \
    "local K_BDESC='" OTA_KEY_BATCH_DESC "'\n"                              \
    "local K_BCREATED='" OTA_KEY_BATCH_CREATED "'\n"                        \
    "local K_BUPDATED='" OTA_KEY_BATCH_UPDATED "'\n"                        \
    "local K_BATCHES='" OTA_KEY_BATCHES "'\n"                                \
    "local K_DEADLINES='" OTA_KEY_TASK_DEADLINES "'\n"                       \
    "local K_PUSH='" OTA_CHANNEL_PUSH "'\n"                                  \
    "local S_NOTICES='" OTA_STREAM_NOTICES "'\n"                            \
    "local K_READER='" OTA_KEY_EVENTS_READER "'\n"                          \
    "local S_EVENTS='" OTA_STREAM_EVENTS "'\n"                              \
    "local GROUP='" OTA_GROUP "'\n"                                         \
    "local ST_PENDING='" OTA_ST_PENDING "'\n"                                \
    "local ST_NOTIFIED='" OTA_ST_NOTIFIED "'\n"                              \
    "local ST_DOWNLOADING='" OTA_ST_DOWNLOADING "'\n"                        \
    "local ST_DOWNLOADED='" OTA_ST_DOWNLOADED "'\n"                          \
    "local ST_INSTALLING='" OTA_ST_INSTALLING "'\n"                          \
    "local ST_SUCCEEDED='" OTA_ST_SUCCEEDED "'\n"                            \
    "local ST_FAILED='" OTA_ST_FAILED "'\n"                                  \
    "local ST_CANCELLED='" OTA_ST_CANCELLED "'\n"                            \
    "local STATES={ST_PENDING,ST_NOTIFIED,ST_DOWNLOADING,ST_DOWNLOADED,"     \
        "ST_INSTALLING,ST_SUCCEEDED,ST_FAILED,ST_CANCELLED}\n"               \
    "local FINAL={[ST_SUCCEEDED]=true,[ST_FAILED]=true,"                     \
        "[ST_CANCELLED]=true}\n"                                             \
    "local PKG_UNVERIFIED='" OTA_PKG_UNVERIFIED "'\n"                        \
    "local PKG_VERIFYING='" OTA_PKG_VERIFYING "'\n"                          \
    "local PKG_VERIFIED='" OTA_PKG_VERIFIED "'\n"                            \
    "local PKG_VERIFY_FAILED='" OTA_PKG_VERIFY_FAILED "'\n"                  \
    "local PKG_READY='" OTA_PKG_READY "'\n"                                  \
    "local fmt=string.format\n"                                              \
    "local call=redis.call\n"

#endif /* OTA_LUA_H */
