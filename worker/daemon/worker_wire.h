/*
 * worker_wire.h: the argument and reply layouts of the worker's two event
 * scripts, lua/worker/lookup.lua and lua/worker/apply.lua.  C builds and
 * reads them with these names; the scripts use the same names (lua/embed.pl
 * puts in each OTA_* macro's value at build time), so neither side counts
 * positions of its own.
 *
 * Indices named ARGV are Lua's ARGV positions (from 1).  Indices into a
 * reply, a group of arguments or a task string count from 0 (C's view;
 * the scripts add 1 where Lua counts from 1).
 */

#ifndef WORKER_WIRE_H
#define WORKER_WIRE_H

/* ---- lookup.lua ----------------------------------------------------------
 * ARGV: now, ninform, then ninform version reports of OTA_LOOKUP_INFORM_N
 * values, then one question of OTA_LOOKUP_ASK_N values per task looked up.
 */
#define OTA_LOOKUP_NOW          1       /* ARGV: now, ms */
#define OTA_LOOKUP_NINFORM      2       /* ARGV: how many reports follow */
#define OTA_LOOKUP_HEAD         2       /* ARGV before the reports */

/* a version report (an inform event) */
#define OTA_LOOKUP_I_DEVICE     0
#define OTA_LOOKUP_I_PRODUCT    1
#define OTA_LOOKUP_I_MODULE     2
#define OTA_LOOKUP_I_VERSION    3
#define OTA_LOOKUP_I_TS         4       /* the event's ts, ms */
#define OTA_LOOKUP_INFORM_N     5

/* a question: the task of (device, module) in batch, or with one of these
 * two for batch the device's open task of the module */
#define OTA_LOOKUP_Q_DEVICE     0
#define OTA_LOOKUP_Q_MODULE     1
#define OTA_LOOKUP_Q_BATCH      2
#define OTA_LOOKUP_ASK_N        3

#define OTA_LOOKUP_Q_OPEN       ""      /* the open task */
#define OTA_LOOKUP_Q_OPEN_OR_LAST "*"   /* ... else the last one closed (a
                                           download after the task became
                                           final still raises covered:
                                           OTA_KEY_DEVICE_LAST) */

/* the reply: {joined, batches, task...}, one task per question */
#define OTA_LOOKUP_R_JOINED     0       /* devices that joined dynamic
                                           batches (a number) */
#define OTA_LOOKUP_R_BATCHES    1       /* the batches the tasks are of */
#define OTA_LOOKUP_R_TASKS      2       /* the first question's answer */

/* batches: OTA_LOOKUP_B_N values per batch, what its tasks share */
#define OTA_LOOKUP_B_ID         0
#define OTA_LOOKUP_B_SIZE       1       /* the package's bytes */
#define OTA_LOOKUP_B_VERSION    2       /* target version */
#define OTA_LOOKUP_B_PACKAGE    3
#define OTA_LOOKUP_B_MODULE     4
#define OTA_LOOKUP_B_DIFFS      5       /* the package's diffs (its index
                                           OTA_KEY_PACKAGE_DIFFS): "<id>
                                           <size>" each, joined by
                                           OTA_LOOKUP_DSEP; "" for none */
#define OTA_LOOKUP_B_N          6

#define OTA_LOOKUP_DSEP         " "

/* a task: the number 0 when there is none, else one string of
 * OTA_LOOKUP_T_N fields joined by OTA_LOOKUP_SEP (one reply element per
 * task: an element costs Redis more than the concatenation); an empty
 * field is the column's default */
#define OTA_LOOKUP_SEP          "\t"
#define OTA_LOOKUP_T_BATCH      0       /* its batch in batches, from 1 */
#define OTA_LOOKUP_T_STATE      1
#define OTA_LOOKUP_T_COVERED    2
#define OTA_LOOKUP_T_STEP       3
#define OTA_LOOKUP_T_FROM       4       /* source version */
#define OTA_LOOKUP_T_PKG        5       /* the diff covered counts, "" for
                                           the batch's package */
#define OTA_LOOKUP_T_PKGSIZE    6       /* that diff's bytes */
#define OTA_LOOKUP_T_N          7

/* ---- apply.lua ----------------------------------------------------------
 * ARGV: now, timeout, nack, then nack acknowledgement arguments, then
 * OTA_APPLY_TASK_N values per task.
 */
#define OTA_APPLY_NOW           1       /* ARGV: now, ms */
#define OTA_APPLY_TIMEOUT       2       /* ARGV: task timeout, ms (0: none) */
#define OTA_APPLY_NACK          3       /* ARGV: acknowledgement arguments */
#define OTA_APPLY_HEAD          3       /* ARGV before them */

/* the acknowledgement: the ids of entries read from the pending list
 * (XACK), or OTA_ACK_CURSOR_N values for entries read after the group's
 * cursor by the reader */
#define OTA_ACK_CURSOR          "cursor"    /* the first value */
#define OTA_ACK_READER          1       /* the reader lease's holder */
#define OTA_ACK_FROM            2       /* the cursor the read started at */
#define OTA_ACK_TO              3       /* the read's last entry */
#define OTA_ACK_COUNT           4       /* entries in the read */
#define OTA_ACK_CURSOR_N        5

/* a task: OTA_APPLY_TASK_N values.  What most tasks never carry (a
 * failure reason, a package change, a diff's bytes) is one value,
 * OTA_APPLY_MORE: "" for none (made for speed: an argument costs Redis
 * about as much as a small command's own work, and these four were ""
 * in nearly every task) */
#define OTA_APPLY_DEVICE        0
#define OTA_APPLY_BATCH         1
#define OTA_APPLY_EXPECTED      2       /* the state it was decided on */
#define OTA_APPLY_NEW           3       /* the state decided */
#define OTA_APPLY_COVERED       4       /* new covered bytes or "" */
#define OTA_APPLY_STEP          5       /* new step or "" */
#define OTA_APPLY_DESC          6       /* "d" + desc, or "" for none */
#define OTA_APPLY_KIND          7       /* OTA_APPLY_K_* */
#define OTA_APPLY_MORE          8       /* "" or the OTA_APPLY_M_N values
                                           below joined by
                                           OTA_APPLY_MORE_SEP */
#define OTA_APPLY_TASK_N        9

/* OTA_APPLY_MORE's values, in this order (the reason last: it alone may
 * hold any byte) */
#define OTA_APPLY_M_PKG         0       /* "" unchanged, a diff id: covered
                                           counts it now, OTA_APPLY_PKG_FULL:
                                           the batch's package again */
#define OTA_APPLY_M_SAVED       1       /* bytes the diff saved a task that
                                           succeeded on it, or "" */
#define OTA_APPLY_M_PSIZE       2       /* with a diff id in OTA_APPLY_M_PKG:
                                           its bytes */
#define OTA_APPLY_M_REASON      3       /* failure reason or "" */
#define OTA_APPLY_M_N           4
#define OTA_APPLY_MORE_SEP      "\t"

#define OTA_APPLY_PKG_FULL      "-"

#define OTA_APPLY_DESC_MARK     "d"     /* so an empty desc is not none */

/* how the worker came to its decision */
#define OTA_APPLY_K_LOOKED      ""      /* on the task a lookup read */
#define OTA_APPLY_K_TIMEOUT     "t"     /* a due deadline */
#define OTA_APPLY_K_CACHED      "c"     /* on its cache of the task */
#define OTA_APPLY_K_SPEC        "s"     /* on the batch alone: the task
                                           is assumed pending, the script
                                           checks it is of the batch */

/* the reply: {acked, {n, result, ...}} */
#define OTA_APPLY_R_ACKED       0       /* 1: the entries are acknowledged,
                                           0: not (a task moved),
                                           OTA_APPLY_LOST: nothing done */
#define OTA_APPLY_R_RESULTS     1       /* (n-th task of the call, from 1,
                                           result) for every task whose
                                           result is not "ok" */
#define OTA_APPLY_LOST          (-1)    /* the reader lease is not ours or
                                           the cursor is not at from */

/* results other than ok; any other result is the task's state now, not
 * the one it was decided on: it moved under the worker */
#define OTA_APPLY_R_FRESH       "fresh"     /* timeout: it moved since; a
                                               later deadline is set */
#define OTA_APPLY_R_PAUSED      "paused"    /* timeout of a paused batch:
                                               a later deadline is set */
#define OTA_APPLY_R_GONE        "gone"      /* no such batch or task */
#define OTA_APPLY_R_MISSING     "missing"   /* decided on the cache or on
                                               the batch, but the task is
                                               not there: decide again */

#endif /* WORKER_WIRE_H */
