#!/bin/bash
# bench/mqtt.sh: the MQTT channel on loopback (docs/mqtt.md).
#
#   1. messages/s from 1000 connected devices (each logged in through
#      ota_mqtt_auth.so, each publishing inform reports with QoS 1, at most
#      8 unacknowledged) through mosquitto and ota-mqtt into ota:events:
#      from the first publish until the stream holds every message.
#      Calibration, in the same run: the same fleet, anonymous, to a raw
#      mosquitto (no plugin) with one raw QoS 1 subscriber built like the
#      bridge (ota-mqtt-load --mode sub), until it has every message.
#   2. logins/s through the plugin: distinct devices (each a Redis lookup),
#      50 at a time, each waiting for its CONNACK; then the same devices
#      again (the cache of verified devices); calibration: anonymous logins
#      to the raw mosquitto.
#
# Targets (issue 16): >= 20k messages/s, >= 2k logins/s.  Prints each
# figure, its ratio to the target and to the calibration, and the CPU per
# message of the broker, the bridge and Redis (user + sys, from /proc and
# INFO cpu: steadier than wall time on a shared machine).  Exits 1 when a
# target is missed.  Sizes: BENCH_MQTT_DEVICES (1000), BENCH_MQTT_MESSAGES
# (per device, 100), BENCH_MQTT_LOGINS (10000).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${OTA_BUILD:-$ROOT/build}
NDEV=${BENCH_MQTT_DEVICES:-1000}
NMSG=${BENCH_MQTT_MESSAGES:-100}
NLOG=${BENCH_MQTT_LOGINS:-10000}
TOTAL=$(( NDEV * NMSG ))
SECRET=bench-device-secret-0123456789
BPASS=bench-bridge-password-0123456789

for b in ota-mqtt ota_mqtt_auth.so ota-mqtt-load; do
    [ -e "$BUILD/$b" ] || { echo "build first: make mqtt" >&2; exit 2; }
done

DIR=$(mktemp -d /tmp/ota-bench-mqtt-XXXXXX)
RPORT=$(( 20000 + RANDOM % 10000 ))
MPORT=$(( 30000 + RANDOM % 10000 ))
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT

R() { redis-cli -p "$RPORT" "$@"; }
ms() { date +%s%3N; }
rcpu() { R info cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'; }
pcpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
per_msg_us() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2" | tail -1; }
wait_for_line() {       # file pattern seconds
    for _ in $(seq $(( $3 * 20 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}

redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR" --daemonize yes \
    --save '' --appendonly yes --appendfsync everysec \
    --logfile "$DIR/redis.log" >/dev/null || exit 2
for _ in $(seq 50); do R ping >/dev/null 2>&1 && break; sleep 0.1; done

# the fleet (and the login devices), in one pipeline
{
    n=$(( NDEV > NLOG ? NDEV : NLOG ))
    for i in $(seq 0 $(( n - 1 ))); do
        printf 'HSET ota:dev:{bench-dev-%d} product bench-product secret %s\n' "$i" "$SECRET"
    done
    echo "HSET ota:prod:{bench-product}:modules default {}"
} | R --pipe >/dev/null

broker() {      # conf-extra: starts mosquitto on MPORT, sets BPID
    {
        echo "per_listener_settings false"
        echo "listener $MPORT 127.0.0.1"
        [ "$(id -u)" = 0 ] && echo "user root"
        echo "max_queued_messages 1000000"
        echo "log_dest file $DIR/mosquitto.log"
        echo "log_type error"
        echo "log_type warning"
        printf '%b\n' "$1"
    } > "$DIR/mosquitto.conf"
    mosquitto -c "$DIR/mosquitto.conf" >>"$DIR/mosquitto.out" 2>&1 &
    BPID=$!
    PIDS+=("$BPID")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && break; sleep 0.05; done
}
stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

PLUGIN="plugin $BUILD/ota_mqtt_auth.so\nplugin_opt_redis 127.0.0.1:$RPORT\nplugin_opt_bridge_user ota-bridge\nplugin_opt_bridge_password $BPASS"

# a fleet run: (extra load args) -> prints t_start; waits until done
fleet() {
    rm -f "$DIR/go"
    "$BUILD/ota-mqtt-load" --port "$MPORT" --devices "$NDEV" --messages "$NMSG" \
        --window 8 --product bench-product --secret "$SECRET" --go-file "$DIR/go" \
        "$@" > "$DIR/load.out" 2>&1 &
    LPID=$!
    PIDS+=("$LPID")
    wait_for_line "$DIR/load.out" connected= 60 || { cat "$DIR/load.out"; exit 2; }
}

echo "MQTT: $NDEV devices x $NMSG QoS 1 messages ($TOTAL), $NLOG logins; $(nproc) CPUs"

# ---- 1a. calibration: raw mosquitto, raw subscriber ------------------------------

broker "allow_anonymous true"
"$BUILD/ota-mqtt-load" --mode sub --port "$MPORT" --expect "$TOTAL" > "$DIR/sub.out" 2>&1 &
SPID=$!
PIDS+=("$SPID")
wait_for_line "$DIR/sub.out" subscribed=1 10 || { cat "$DIR/sub.out"; exit 2; }
fleet --anon
b0=$(pcpu "$BPID"); s0=$(pcpu "$SPID")
touch "$DIR/go"
wait "$SPID"; wait "$LPID"
b1=$(pcpu "$BPID")
start=$(field t_start "$DIR/load.out"); last=$(field t_last "$DIR/sub.out")
got=$(field received "$DIR/sub.out")
raw_rate=$(awk -v n="$got" -v a="$start" -v b="$last" 'BEGIN { printf "%.0f", n * 1000 / (b - a) }')
raw_broker=$(per_msg_us "$b0" "$b1" "$TOTAL")
echo "raw mosquitto:   $raw_rate messages/s to one subscriber ($got of $TOTAL received), broker $raw_broker us/message"

# ---- 2a. calibration: anonymous logins ----------------------------------------------

"$BUILD/ota-mqtt-load" --mode login --anon --port "$MPORT" --logins "$NLOG" \
    --devices "$NLOG" --concurrency 50 > "$DIR/login0.out" 2>&1
raw_logins=$(field rate "$DIR/login0.out")
echo "raw mosquitto:   $raw_logins logins/s (anonymous)"
stop_pid "$BPID"

# ---- 1b. broker + plugin + bridge into the stream -----------------------------------

broker "$PLUGIN"
"$BUILD/ota-mqtt" --redis "127.0.0.1:$RPORT" --mqtt "127.0.0.1:$MPORT" \
    --mqtt-user ota-bridge --mqtt-password "$BPASS" \
    --token-secret bench-server-key-0123456789 --public-url http://127.0.0.1:8080 \
    --consumer bench > "$DIR/bridge.log" 2>&1 &
GPID=$!
PIDS+=("$GPID")
wait_for_line "$DIR/bridge.log" "subscribed to" 10 || { cat "$DIR/bridge.log"; exit 2; }

fleet
b0=$(pcpu "$BPID"); g0=$(pcpu "$GPID"); r0=$(rcpu)
added0=$(R xinfo stream ota:events 2>/dev/null | awk '/^entries-added$/ { getline; print }'); added0=${added0:-0}
touch "$DIR/go"
want=$(( added0 + TOTAL ))
# one redis-cli per 50 ms: the check must not take the CPU it measures
for _ in $(seq 2400); do
    added=$(R xinfo stream ota:events | awk '/^entries-added$/ { getline; print }')
    [ "${added:-0}" -ge "$want" ] && break
    sleep 0.05
done
done_ms=$(ms)
wait "$LPID"
b1=$(pcpu "$BPID"); g1=$(pcpu "$GPID"); r1=$(rcpu)
start=$(field t_start "$DIR/load.out")
stored=$(( ${added:-0} - added0 ))
rate=$(awk -v n="$stored" -v a="$start" -v b="$done_ms" 'BEGIN { printf "%.0f", n * 1000 / (b - a) }')
broker_us=$(per_msg_us "$b0" "$b1" "$TOTAL")
bridge_us=$(per_msg_us "$g0" "$g1" "$TOTAL")
redis_us=$(per_msg_us "$r0" "$r1" "$TOTAL")
dropped=$(R hgetall ota:mqtt:dropped | paste -sd' ')
echo "through bridge:  $rate messages/s into ota:events ($stored of $TOTAL stored${dropped:+, dropped: $dropped})"
echo "                 CPU per message: broker $broker_us us (raw $raw_broker), bridge $bridge_us us, Redis $redis_us us"
echo "                 ratio to raw mosquitto: $(ratio "$rate" "$raw_rate"); to the 20k/s target: $(ratio "$rate" 20000)"

# ---- 2b. logins through the plugin ----------------------------------------------------

"$BUILD/ota-mqtt-load" --mode login --port "$MPORT" --logins "$NLOG" --devices "$NLOG" \
    --concurrency 50 --product bench-product --secret "$SECRET" --prefix bench-dev- \
    > "$DIR/login1.out" 2>&1
b0=$(pcpu "$BPID")
logins=$(field rate "$DIR/login1.out")
ok=$(field accepted "$DIR/login1.out")
"$BUILD/ota-mqtt-load" --mode login --port "$MPORT" --logins "$NLOG" --devices "$NLOG" \
    --concurrency 50 --product bench-product --secret "$SECRET" --prefix bench-dev- \
    > "$DIR/login2.out" 2>&1
cached=$(field rate "$DIR/login2.out")
echo "plugin logins:   $logins logins/s ($ok of $NLOG accepted, each a Redis lookup); $cached/s from the cache"
echo "                 ratio to raw mosquitto: $(ratio "$logins" "$raw_logins"); to the 2k/s target: $(ratio "$logins" 2000)"

rc=0
[ "$stored" -eq "$TOTAL" ] || { echo "MISSED: $stored of $TOTAL messages reached the stream"; rc=1; }
awk -v r="$rate" 'BEGIN { exit !(r >= 20000) }' || { echo "MISSED: messages/s below 20k"; rc=1; }
awk -v r="$logins" 'BEGIN { exit !(r >= 2000) }' || { echo "MISSED: logins/s below 2k"; rc=1; }
[ "$ok" = "$NLOG" ] || { echo "MISSED: $ok of $NLOG logins accepted"; rc=1; }
exit $rc
