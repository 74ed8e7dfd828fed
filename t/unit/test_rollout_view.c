/* unit tests: a batch's rollout as the admin reads it
 * (include/ota_rollout_view), from record fields and wave counters */

#include <stdlib.h>

#include "tap.h"
#include "ota_fields.h"
#include "ota_rollout_view.h"

static void
rec(ota_rollout_view_t *v, const char *k, const char *val)
{
    ota_rollout_field(v, k, strlen(k), val, strlen(val));
}

static void
wav(ota_rollout_view_t *v, const char *k, const char *val)
{
    ota_rollout_wave_field(v, k, strlen(k), val, strlen(val));
}

int
main(void)
{
    ota_rollout_view_t   v;
    ota_batch_counts_t   c;
    json_t              *o, *w;
    char                *s;

    /* a batch without a rollout */
    ota_rollout_view_init(&v);
    memset(&c, 0, sizeof(c));
    ok(ota_rollout_field(&v, "name", 4, "x", 1) == 0, "a batch's own field "
       "is not the rollout's");
    ok(ota_rollout_field(&v, OTA_R_WAVE_UPTO, strlen(OTA_R_WAVE_UPTO), "5", 1)
       == 1, "an internal field is hidden");
    o = json_object();
    ok(ota_rollout_json(&v, &c, o) == 0, "json without a rollout");
    s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"abort\":null,\"error_threshold\":null,\"pause_kind\":null,"
           "\"pause_reason\":null,\"rate\":null,\"start_at\":null,"
           "\"started\":null,\"success_threshold\":null,\"timeout\":null,"
           "\"wave\":null,\"waves\":[]}", "  every field null, waves []");
    free(s);
    json_decref(o);

    /* 200 devices in waves of 10, 40 and 150, wave 2 open and paused */
    ota_rollout_view_init(&v);
    rec(&v, OTA_F_WAVES, "5%,25%,100%");
    rec(&v, OTA_R_WAVE_BOUNDS, "10,50");
    rec(&v, OTA_R_WAVE_BOUNDS, "10,50");        /* read twice: no more */
    rec(&v, OTA_R_WAVE, "2");
    rec(&v, OTA_F_SUCCESS_THRESHOLD, "60");
    rec(&v, OTA_F_ERROR_THRESHOLD, "12.5");
    rec(&v, OTA_R_PAUSE_REASON, "error threshold: wave 2");
    rec(&v, OTA_F_MAX_PER_MINUTE, "100");
    rec(&v, OTA_F_RAMP, "10,1.5");
    rec(&v, OTA_R_RATE, "15");
    rec(&v, OTA_F_ABORT_RATE, "40");
    rec(&v, OTA_F_ABORT_MIN, "10");
    rec(&v, OTA_F_TIMEOUT, "30");
    wav(&v, "1:succeeded", "10");
    wav(&v, "1:opened", "1000");
    wav(&v, "2:succeeded", "20");
    wav(&v, "2:failed", "6");
    wav(&v, "2:downloading", "4");
    wav(&v, "2:r:flash_failed", "6");
    wav(&v, "2:opened", "2000");
    wav(&v, "99:failed", "1");                  /* out of range: ignored */
    c.total = 200;
    is_int(ota_rollout_nwaves(&v), 3, "3 waves");
    is_int(ota_rollout_wave_size(&v, 3, 200), 150, "  the last is the rest");
    o = json_object();
    ok(ota_rollout_json(&v, &c, o) == 0, "json of a rollout");
    w = json_object_get(o, "waves");
    is_int(json_array_size(w), 3, "  3 waves");
    is_str(json_string_value(json_object_get(json_array_get(w, 0), "state")),
           "done", "  wave 1 done (10 of 10 final)");
    is_str(json_string_value(json_object_get(json_array_get(w, 1), "state")),
           "open", "  wave 2 open");
    is_str(json_string_value(json_object_get(json_array_get(w, 2), "state")),
           "waiting", "  wave 3 waiting");
    is_int(json_integer_value(json_object_get(json_object_get(
           json_array_get(w, 1), "counts"), "pending")), 10,
           "  wave 2's pending is its size less the others (40 - 30)");
    is_int(json_integer_value(json_object_get(json_array_get(w, 1),
           "opened")), 2000, "  opened");
    ok(json_is_null(json_object_get(json_array_get(w, 2), "opened")),
       "  a waiting wave has opened null");
    ok(json_real_value(json_object_get(o, "error_threshold")) == 12.5,
       "error threshold 12.5");
    is_int(json_integer_value(json_object_get(o, "success_threshold")), 60,
           "success threshold 60");
    s = json_dumps(json_object_get(o, "rate"), JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"max_per_minute\":100,\"now\":15,\"ramp\":{\"base\":10,"
           "\"factor\":1.5}}", "rate with its ramp");
    free(s);
    s = json_dumps(json_object_get(o, "abort"), JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"at\":null,\"failure_rate\":40,\"min\":10,\"reason\":null}",
           "abort rule, not aborted");
    free(s);
    is_int(json_integer_value(json_object_get(o, "timeout")), 30, "timeout");
    is_str(json_string_value(json_object_get(o, "pause_reason")),
           "error threshold: wave 2", "pause reason");
    json_decref(o);

    /* one wave (every bound reached the total): the batch's counts */
    ota_rollout_view_init(&v);
    rec(&v, OTA_F_WAVES, "100%");
    rec(&v, OTA_R_WAVE, "1");
    c.total = 3;
    c.n[OTA_TS_SUCCEEDED] = 1;
    c.n[OTA_TS_PENDING] = 2;
    o = json_object();
    ota_rollout_json(&v, &c, o);
    w = json_array_get(json_object_get(o, "waves"), 0);
    ok(json_integer_value(json_object_get(w, "devices")) == 3
       && json_integer_value(json_object_get(json_object_get(w, "counts"),
                                             "succeeded")) == 1,
       "a single wave takes the batch's counts");
    is_int(json_integer_value(json_object_get(o, "success_threshold")), 100,
           "  the default success threshold");
    json_decref(o);

    return done_testing();
}
