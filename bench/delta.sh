#!/bin/bash
# Delta sizes on real pairs of binaries (issue 21): `otactl package diff`
# (zstd patch-from, long-distance matching, level 19) against the full
# file and against Debian's bsdiff and xdelta3 (-9), side by side, with the
# seconds to make and to apply each.  Calibration, same run: the new file
# compressed by zstd -19 alone (what compression without the old file
# gives), and its time.
#
# Pairs:
#   ota-worker   this repository's worker built at BENCH_DELTA_REV (default
#                the commit 20 before HEAD) and at HEAD, both stripped (what
#                a device image holds)
#   libcrypto    usr/lib/x86_64-linux-gnu/libcrypto.so.3 of two Debian
#                libssl3 versions (BENCH_DELTA_DEBS="V1 V2", default the two
#                newest apt offers), fetched with apt-get download
#
# Every delta is applied and compared with the new file; a mismatch fails
# the script.  Results also in bench/results/delta.txt.

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${OTA_BUILD:-$ROOT/build}
REV=${BENCH_DELTA_REV:-HEAD~20}
W=$(mktemp -d /tmp/ota-delta-XXXXXX)
REDIS_PID=
trap '[ -n "$REDIS_PID" ] && kill $REDIS_PID 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/delta.txt

for b in otactl; do
    [ -x "$BUILD/$b" ] || { echo "build first: make otactl" >&2; exit 2; }
done
for c in bsdiff bspatch xdelta3 zstd strip dpkg-deb redis-server; do
    command -v $c >/dev/null || { echo "missing $c (make deps)" >&2; exit 2; }
done

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# ---- the pairs --------------------------------------------------------------

mkdir -p "$W/pairs/worker" "$W/pairs/libcrypto"
echo "building ota-worker at $REV ..."
mkdir -p "$W/src-old"
git -C "$ROOT" archive "$REV" | tar -x -C "$W/src-old"
make -s -C "$W/src-old" worker >"$W/build-old.log" 2>&1 \
    || { tail -20 "$W/build-old.log"; echo "cannot build $REV" >&2; exit 1; }
strip -o "$W/pairs/worker/old" "$W/src-old/build/ota-worker"
strip -o "$W/pairs/worker/new" "$BUILD/ota-worker"

if [ -n "${BENCH_DELTA_DEBS:-}" ]; then
    read -r V1 V2 <<<"$BENCH_DELTA_DEBS"
else
    mapfile -t VS < <(apt-cache madison libssl3 | awk '{print $3}' | sort -uV | tail -2)
    V1=${VS[0]:-}; V2=${VS[1]:-}
fi
HAVE_LIB=0
if [ -n "$V1" ] && [ -n "$V2" ] && [ "$V1" != "$V2" ]; then
    (cd "$W" && apt-get download -q "libssl3=$V1" "libssl3=$V2" >/dev/null 2>&1)
    i=0
    for v in "$V1" "$V2"; do
        deb=$(ls "$W"/libssl3_"${v//:/%3a}"_*.deb 2>/dev/null | head -1)
        [ -n "$deb" ] || break
        mkdir -p "$W/x$i" && dpkg-deb -x "$deb" "$W/x$i"
        i=$((i + 1))
    done
    if [ $i = 2 ]; then
        cp "$W/x0/usr/lib/x86_64-linux-gnu/libcrypto.so.3" "$W/pairs/libcrypto/old"
        cp "$W/x1/usr/lib/x86_64-linux-gnu/libcrypto.so.3" "$W/pairs/libcrypto/new"
        HAVE_LIB=1
    fi
fi
[ $HAVE_LIB = 1 ] || { echo "libssl3 pair not available: skipped"; rmdir "$W/pairs/libcrypto"; }

# ---- otactl against a throwaway Redis and store -----------------------------

redis-server --port 0 --unixsocket "$W/redis.sock" --save '' --appendonly no \
    --daemonize no >"$W/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 50); do [ -S "$W/redis.sock" ] && break; sleep 0.1; done
export OTA_REDIS="unix:$W/redis.sock" OTA_STORE="$W/store"
mkdir -p "$OTA_STORE"
"$BUILD/otactl" device add bench-dev --product bench >/dev/null

{
printf '%-10s %-9s %11s %7s %8s %8s\n' pair method bytes ratio make_s apply_s
for p in "$W"/pairs/*; do
    name=$(basename "$p")
    old=$p/old new=$p/new
    full=$(stat -c %s "$new")
    printf '%-10s %-9s %11d %7s %8s %8s\n' "$name" full "$full" 1.000 - -

    # calibration: compression alone
    t0=$(now); zstd -q -19 -f "$new" -o "$p/new.zst"; t1=$(now)
    t2=$(now); zstd -q -d -f "$p/new.zst" -o "$p/new.unz"; t3=$(now)
    cmp -s "$p/new.unz" "$new" || { echo "zstd round trip differs" >&2; exit 1; }
    sz=$(stat -c %s "$p/new.zst")
    printf '%-10s %-9s %11d %7s %8s %8s\n' "$name" zstd-19 "$sz" "$(ratio $sz $full)" \
        "$(secs $t0 $t1)" "$(secs $t2 $t3)"

    # ours: otactl package diff
    "$BUILD/otactl" module add "$name" --product bench >/dev/null
    cp "$old" "$W/$name-old.bin"; cp "$new" "$W/$name-new.bin"
    a=$("$BUILD/otactl" package add "$W/$name-old.bin" --product bench --module "$name" \
        --name old --version 1.0.0)
    b=$("$BUILD/otactl" package add "$W/$name-new.bin" --product bench --module "$name" \
        --name new --version 1.1.0)
    t0=$(now)
    d=$("$BUILD/otactl" package diff --from "$a" --to "$b" --max-ratio 1 2>/dev/null) \
        || { echo "otactl package diff failed for $name" >&2; exit 1; }
    t1=$(now)
    f=$OTA_STORE/$d/$name-new.bin.zst
    t2=$(now); zstd -q -d -f --patch-from="$old" "$f" -o "$p/ours.out"; t3=$(now)
    cmp -s "$p/ours.out" "$new" || { echo "otactl delta does not apply" >&2; exit 1; }
    sz=$(stat -c %s "$f")
    printf '%-10s %-9s %11d %7s %8s %8s\n' "$name" otactl "$sz" "$(ratio $sz $full)" \
        "$(secs $t0 $t1)" "$(secs $t2 $t3)"

    t0=$(now); bsdiff "$old" "$new" "$p/bs.patch"; t1=$(now)
    t2=$(now); bspatch "$old" "$p/bs.out" "$p/bs.patch"; t3=$(now)
    cmp -s "$p/bs.out" "$new" || { echo "bsdiff patch does not apply" >&2; exit 1; }
    sz=$(stat -c %s "$p/bs.patch")
    printf '%-10s %-9s %11d %7s %8s %8s\n' "$name" bsdiff "$sz" "$(ratio $sz $full)" \
        "$(secs $t0 $t1)" "$(secs $t2 $t3)"

    t0=$(now); xdelta3 -f -e -9 -s "$old" "$new" "$p/xd.patch"; t1=$(now)
    t2=$(now); xdelta3 -f -d -s "$old" "$p/xd.patch" "$p/xd.out"; t3=$(now)
    cmp -s "$p/xd.out" "$new" || { echo "xdelta3 patch does not apply" >&2; exit 1; }
    sz=$(stat -c %s "$p/xd.patch")
    printf '%-10s %-9s %11d %7s %8s %8s\n' "$name" xdelta3 "$sz" "$(ratio $sz $full)" \
        "$(secs $t0 $t1)" "$(secs $t2 $t3)"
done
echo "(ratio: bytes / the new file's; worker pair $REV..HEAD; libcrypto ${V1:-?} -> ${V2:-?})"
} | tee "$OUT"
