#!/bin/bash
# bench/worker.sh: ota-worker throughput on loopback.
#
#   1. events processed per second by one worker: N devices in a batch, each
#      sending notified, download 50 %, download 100 %, progress 50 and
#      inform <target> (5 events), queued phase by phase (so no read batch
#      holds two events of one task: the worst case, nothing coalesces);
#      timed from the worker's start until the stream is drained.
#   2. time to create a batch of 100k and of 1M devices, measured as the wall
#      time of `otactl batch create` (job, worker, reply).
#
# Targets (issue 5): >= 100k events/s; 1M devices <= 10 s.  Prints each
# figure and its ratio to the target; exits 1 when a target is missed.
# Only loopback, one temporary redis-server (AOF everysec like
# conf/redis.conf), bounded sizes: BENCH_EVENTS_DEVICES (default 100000),
# BENCH_BIG (default 1000000).  Also prints Redis's CPU time per event and
# per task (steadier than wall time on a shared machine); BENCH_STATS=1
# adds INFO commandstats per phase; BENCH_WORKER_ARGS is passed to the
# worker (e.g. "--count 4000"); BENCH_BATCH_ARGS to every batch create
# (e.g. "--waves 1%,10%,50%,100%": a rollout, docs/rollouts.md; its
# events then keep the per-wave counters and check the rules).  Calibration: `redis-benchmark -P 32 -t
# set` against a throwaway redis-server in the same run, and each figure's
# ratio to it (machines differ; the ratio compares runs on different
# machines or moments).  OTA_BUILD=DIR measures the binaries of another
# build (an older commit built in a worktree) with this same script.

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${OTA_BUILD:-$ROOT/build}
NDEV=${BENCH_EVENTS_DEVICES:-100000}
NBIG=${BENCH_BIG:-1000000}

for b in "$BUILD/ota-worker" "$BUILD/otactl"; do
    [ -x "$b" ] || { echo "build first: make worker otactl" >&2; exit 2; }
done

DIR=$(mktemp -d /tmp/ota-bench-XXXXXX)
PORT=$(( 20000 + RANDOM % 20000 ))
export OTA_REDIS=127.0.0.1:$PORT OTA_STORE=$DIR/store
mkdir -p "$DIR/store"
WPID=

cleanup() {
    [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --daemonize yes \
    --save '' --appendonly yes --appendfsync everysec \
    --logfile "$DIR/redis.log" >/dev/null || exit 2
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

R() { redis-cli -p "$PORT" "$@"; }
now() { date +%s.%N; }
# Redis CPU seconds (user + sys): steadier than wall time on a shared machine
rcpu() { R info cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.3f", s }'; }
# BENCH_STATS=1: where Redis spent its time (INFO commandstats)
stats() {
    [ "${BENCH_STATS:-0}" = 1 ] || return 0
    R info commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_/ {
        printf "  %-24s calls %9d  usec %10d  per call %7.2f\n", $1, $3, $5, $7 }' | sort -k5 -n -r | head -15
}
# a process's CPU seconds (utime + stime) from /proc
pcpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

worker() {
    "$BUILD/ota-worker" --redis "$OTA_REDIS" --store "$OTA_STORE" \
        --consumer bench --log-level warn ${BENCH_WORKER_ARGS:-} "$@" >>"$DIR/worker.log" 2>&1 &
    WPID=$!
}

stop_worker() { kill "$WPID"; wait "$WPID" 2>/dev/null; WPID=; }

# one redis-cli per check (not six): the client must not take CPU from
# Redis on a 2-CPU machine
drained() {
    [ "$(R eval "
        for _, s in ipairs({'ota:events', 'ota:jobs'}) do
          local last = redis.call('XINFO', 'STREAM', s)
          local lid
          for i = 1, #last, 2 do
            if last[i] == 'last-generated-id' then lid = last[i + 1] end
          end
          local gs = redis.call('XINFO', 'GROUPS', s)
          if #gs == 0 then return 0 end
          for _, g in ipairs(gs) do
            local h = {}
            for i = 1, #g, 2 do h[g[i]] = g[i + 1] end
            if h.pending ~= 0 or h['last-delivered-id'] ~= lid then
              return 0 end
          end
        end
        return 1" 0 2>/dev/null)" = 1 ]
}

# devices of a product, straight into Redis (otactl would spawn 1M times),
# each at version 1.0.0 of module default as if it had reported it (so the
# batch records every task's source version, as in a real fleet)
devices() {
    local product=$1 n=$2
    awk -v p="$product" -v n="$n" 'BEGIN {
        printf "SADD ota:products %s\r\n", p
        printf "HSET ota:prod:{%s}:modules default {}\r\n", p
        for (i = 1; i <= n; i++) {
            printf "SADD ota:prod:{%s}:devices %s-%d\r\n", p, p, i
            printf "HSET ota:dev:{%s-%d} product %s secret 00 created 1\r\n", p, i, p
            printf "HSET ota:dev:{%s-%d}:ver default 1.0.0\r\n", p, i
            printf "SADD ota:verset:{%s}:default:1.0.0 %s-%d\r\n", p, p, i
        }
        printf "HSET ota:verdist:{%s}:default 1.0.0 %d\r\n", p, n
    }' | R --pipe >/dev/null
}

package() {
    head -c 1000000 /dev/urandom >"$DIR/$1.bin"
    "$BUILD/otactl" package add "$DIR/$1.bin" --product "$1" --module default \
        --name bench --version 2.0.0
}

fail=0
echo "ota-worker benchmark (redis $(redis-server --version | awk '{print $3}'), $(nproc) CPUs, build $BUILD)"

# ---- calibration: plain Redis SETs, pipelined, on a throwaway server ---------
CPORT=$(( PORT + 1 ))
redis-server --port "$CPORT" --bind 127.0.0.1 --dir "$DIR" --daemonize yes \
    --save '' --appendonly no --logfile "$DIR/redis-cal.log" >/dev/null || exit 2
for _ in $(seq 50); do redis-cli -p "$CPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
CAL=$(redis-benchmark -p "$CPORT" -P 32 -t set -n 2000000 --csv 2>/dev/null \
      | awk -F'"' '$2 == "SET" { printf "%d", $4 }')
redis-cli -p "$CPORT" shutdown nosave >/dev/null 2>&1
echo "calibration: redis-benchmark -P 32 -t set: ${CAL:-?} requests/s"

# ---- 1. events per second --------------------------------------------------
worker
devices pe "$NDEV"
PKG=$(package pe)
BID=$("$BUILD/otactl" batch create --package "$PKG" --type upgrade --name ev \
      --wait 120 ${BENCH_BATCH_ARGS:-} 2>/dev/null)
stop_worker
awk -v n="$NDEV" -v b="$BID" -v k="$PKG" 'BEGIN {
    for (ph = 0; ph < 5; ph++) for (i = 1; i <= n; i++) {
        d = "pe-" i
        if (ph == 0) printf "XADD ota:events * type notified ts 1 device %s module default batch %s package %s\r\n", d, b, k
        if (ph == 1) printf "XADD ota:events * type download ts 2 device %s module default package %s covered 500000 size 1000000\r\n", d, k
        if (ph == 2) printf "XADD ota:events * type download ts 3 device %s module default package %s covered 1000000 size 1000000\r\n", d, k
        if (ph == 3) printf "XADD ota:events * type progress ts 4 device %s product pe module default step 50 desc ok\r\n", d
        if (ph == 4) printf "XADD ota:events * type inform ts 5 device %s product pe module default version 2.0.0\r\n", d
    }
}' | R --pipe >/dev/null
NEV=$(R xlen ota:events)
R config resetstat >/dev/null
C0=$(rcpu)
t0=$(now)
worker
until drained; do sleep 0.1; done
t1=$(now)
C1=$(rcpu)
WCPU=$(pcpu "$WPID")
stop_worker
stats
EPS=$(awk -v n="$NEV" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", n / (b - a) }')
OK=$(R hget "ota:batch:{$BID}:counts" succeeded)
echo "events: Redis CPU $(awk -v a="$C0" -v b="$C1" -v n="$NEV" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }') us/event, worker CPU $(awk -v c="$WCPU" -v n="$NEV" 'BEGIN { printf "%.1f", c * 1e6 / n }') us/event"
echo "events: $NEV in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s = $EPS events/s" \
     "(target 100000/s: ratio $(ratio "$EPS" 100000)); succeeded $OK of $NDEV;" \
     "per calibration: $(awk -v e="$EPS" -v c="${CAL:-0}" 'BEGIN { if (c > 0) printf "%.4f", e / c; else print "?" }') events per SET"
[ "$OK" = "$NDEV" ] || { echo "events: wrong result" >&2; fail=1; }
[ "$EPS" -ge 100000 ] || fail=1

# ---- 2. batch creation -----------------------------------------------------
worker
for n in 100000 "$NBIG"; do
    p=pb$n
    devices "$p" "$n"
    PKG=$(package "$p")
    R config resetstat >/dev/null
    C0=$(rcpu)
    t0=$(now)
    BID=$("$BUILD/otactl" batch create --package "$PKG" --type upgrade \
          --name big --wait 300 ${BENCH_BATCH_ARGS:-} 2>/dev/null)
    t1=$(now)
    C1=$(rcpu)
    stats
    TOT=$(R hget "ota:batch:{$BID}" total)
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    TARGET=$(awk -v n="$n" 'BEGIN { printf "%.2f", 10 * n / 1000000 }')
    echo "batch of $n devices: $TOT tasks in $SECS s" \
         "(target ${TARGET} s: ratio $(ratio "$SECS" "$TARGET"));" \
         "Redis CPU $(awk -v a="$C0" -v b="$C1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }') us/task;" \
         "times calibration: $(awk -v s="$SECS" -v c="${CAL:-0}" 'BEGIN { if (c > 0) printf "%.0f", s * c; else print "?" }') SETs"
    [ "$TOT" = "$n" ] || { echo "batch: wrong total" >&2; fail=1; }
    awk -v s="$SECS" -v t="$TARGET" 'BEGIN { exit !(s <= t) }' || fail=1
done
stop_worker
echo "redis memory: $(R info memory | awk -F: '/^used_memory_human/ { print $2 }' | tr -d '\r')"
exit $fail
