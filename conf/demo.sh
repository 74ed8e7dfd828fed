#!/usr/bin/env bash
# The demo stack behind `make run` / `make stop`: redis-server, nginx with
# ngx_ota_module, ota-worker, mosquitto with ota_mqtt_auth.so and the
# ota-mqtt bridge in a local run directory, a demo product, device, package
# and upgrade batch (active push), and the exact commands to try, over HTTP
# and over MQTT.
#
# Overridable: OTA_RUN_DIR (./run), OTA_HTTP_PORT (8080), OTA_REDIS_PORT
# (6390), OTA_MQTT_PORT (1883)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${OTA_RUN_DIR:-$ROOT/run}
HTTP_PORT=${OTA_HTTP_PORT:-8080}
REDIS_PORT=${OTA_REDIS_PORT:-6390}
MQTT_PORT=${OTA_MQTT_PORT:-1883}
BUILD=${OTA_BUILD:-$ROOT/build}
NGINX=${OTA_NGINX:-/usr/sbin/nginx}

SECRET=demo-server-key-change-me-0123456789
ADMIN=demo-admin-token-change-me
BRIDGE_PASSWORD=demo-bridge-password-change-me
PRODUCT=demo-product
DEVICE=demo-device-1

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
STORE=$RUN/nginx/store
REDIS=127.0.0.1:$REDIS_PORT

otactl() { OTA_REDIS=$REDIS OTA_STORE=$STORE "$BUILD/otactl" "$@"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
    for p in bridge worker mosquitto; do
        if [ -f "$RUN/$p.pid" ]; then
            kill "$(cat "$RUN/$p.pid")" 2>/dev/null || true
            rm -f "$RUN/$p.pid"
        fi
    done
    if [ -f "$RUN/nginx/logs/nginx.pid" ]; then
        kill -QUIT "$(cat "$RUN/nginx/logs/nginx.pid")" 2>/dev/null || true
    fi
    if [ -f "$RUN/redis/redis.pid" ]; then
        kill "$(cat "$RUN/redis/redis.pid")" 2>/dev/null || true
    fi
    for _ in $(seq 50); do
        [ -e "$RUN/nginx/logs/nginx.pid" ] || [ -e "$RUN/redis/redis.pid" ] || break
        sleep 0.1
    done
    echo "demo stack stopped ($RUN)"
}

start() {
    for f in ngx_ota_module.so ota-worker otactl ota-mqtt ota_mqtt_auth.so; do
        [ -x "$BUILD/$f" ] || [ -f "$BUILD/$f" ] \
            || { echo "missing $BUILD/$f: run make first" >&2; exit 1; }
    done
    if [ -f "$RUN/nginx/logs/nginx.pid" ] \
       && kill -0 "$(cat "$RUN/nginx/logs/nginx.pid")" 2>/dev/null; then
        echo "the demo stack already runs in $RUN: make stop first" >&2
        exit 1
    fi
    for p in "$HTTP_PORT" "$REDIS_PORT" "$MQTT_PORT"; do
        if port_busy "$p"; then
            echo "port $p is in use: set OTA_HTTP_PORT / OTA_REDIS_PORT / OTA_MQTT_PORT" >&2
            exit 1
        fi
    done

    mkdir -p "$RUN/redis" "$RUN/nginx/logs" "$RUN/nginx/tmp" \
             "$RUN/nginx/modules" "$RUN/mosquitto" "$STORE"
    chmod 755 "$RUN" "$RUN/nginx" "$STORE"
    # uploads (POST packages) are written by nginx's workers, which run as
    # nobody when the demo is started as root: the store is theirs to
    # write too (sticky: none removes another's package)
    if [ "$(id -u)" = 0 ]; then chmod 1777 "$STORE"; fi
    ln -sf "$BUILD/ngx_ota_module.so" "$RUN/nginx/modules/ngx_ota_module.so"

    redis-server "$ROOT/conf/redis.conf" --port "$REDIS_PORT" \
        --dir "$RUN/redis" --pidfile "$RUN/redis/redis.pid" \
        --logfile "$RUN/redis/redis.log"
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.05
    done

    sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$HTTP_PORT/" \
        -e "s/127\.0\.0\.1:6390/127.0.0.1:$REDIS_PORT/" \
        "$ROOT/conf/nginx.conf" > "$RUN/nginx/nginx.conf"
    # the console: a copy nginx's workers (nobody) can read wherever the
    # checkout lives; conf/console.conf is included beside nginx.conf
    rm -rf "$RUN/nginx/console"
    cp -R "$ROOT/console" "$RUN/nginx/console"
    chmod -R a+rX "$RUN/nginx/console"
    cp "$ROOT/conf/console.conf" "$RUN/nginx/console.conf"
    [ -f /usr/share/javascript/chart.js/chart.min.js ] \
        || echo "note: Chart.js is missing (apt-get install libjs-chart.js): the console shows tables without charts" >&2
    "$NGINX" -p "$RUN/nginx/" -c "$RUN/nginx/nginx.conf"

    nohup "$BUILD/ota-worker" --redis "$REDIS" --store "$STORE" \
        --consumer demo-worker >> "$RUN/worker.log" 2>&1 &
    echo $! > "$RUN/worker.pid"

    # the MQTT channel: conf/mosquitto.conf with the demo's places
    sed -e "s|^listener 1883 |listener $MQTT_PORT |" \
        -e "s|/var/lib/mosquitto/|$RUN/mosquitto/|" \
        -e "s|/var/log/mosquitto/mosquitto.log|$RUN/mosquitto/mosquitto.log|" \
        -e "s|/usr/lib/ota/|$BUILD/|" \
        -e "s|127\.0\.0\.1:6379|$REDIS|" \
        -e "s|^plugin_opt_bridge_password .*|plugin_opt_bridge_password $BRIDGE_PASSWORD|" \
        "$ROOT/conf/mosquitto.conf" > "$RUN/mosquitto/mosquitto.conf"
    # as root mosquitto would drop to user mosquitto, who cannot write here
    if [ "$(id -u)" = 0 ]; then echo "user root" >> "$RUN/mosquitto/mosquitto.conf"; fi
    nohup mosquitto -c "$RUN/mosquitto/mosquitto.conf" \
        >> "$RUN/mosquitto/mosquitto.out" 2>&1 &
    echo $! > "$RUN/mosquitto.pid"
    for _ in $(seq 100); do port_busy "$MQTT_PORT" && break; sleep 0.05; done

    nohup "$BUILD/ota-mqtt" --redis "$REDIS" --mqtt "127.0.0.1:$MQTT_PORT" \
        --mqtt-user ota-bridge --mqtt-password "$BRIDGE_PASSWORD" \
        --token-secret "$SECRET" --public-url "http://127.0.0.1:$HTTP_PORT" \
        --consumer demo-bridge >> "$RUN/bridge.log" 2>&1 &
    echo $! > "$RUN/bridge.pid"
    # the bridge makes the notices stream the worker appends push notices to
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$REDIS_PORT" exists ota:notices)" = 1 ] && break
        sleep 0.05
    done

    # demo data (idempotent: reuses what an earlier run registered)
    local dsecret pkg batch fw
    if otactl device show "$DEVICE" >/dev/null 2>&1; then
        # otactl prints a secret only when it makes one; the demo owns this
        # Redis, so a rerun reads it back from the device record
        dsecret=$(redis-cli -p "$REDIS_PORT" HGET "ota:dev:{$DEVICE}" secret)
    else
        dsecret=$(otactl device add "$DEVICE" --product "$PRODUCT" | tail -1 \
                  | awk '{print $NF}')
    fi
    fw=$RUN/demo-firmware-1.0.1.bin
    [ -f "$fw" ] || head -c 4194304 /dev/urandom > "$fw"
    pkg=$(otactl package list --product "$PRODUCT" --json 2>/dev/null \
          | sed -n 's/.*"id": *"\([^"]*1_0_1[^"]*\)".*/\1/p' | head -1)
    if [ -z "$pkg" ]; then
        pkg=$(otactl package add "$fw" --product "$PRODUCT" --module default \
              --name demo-firmware --version 1.0.1 --sign sha256 | tail -1)
    fi
    batch=$(otactl batch list --json 2>/dev/null \
            | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
    if [ -z "$batch" ]; then
        batch=$(otactl batch create --package "$pkg" --type upgrade \
                --name demo-rollout --push | tail -1)
    fi

    local expires sig link base
    base=http://127.0.0.1:$HTTP_PORT
    expires=$(( $(date +%s) + 86400 ))
    sig=$(printf 'ota-link\n%s\n%s\n%s' "$pkg" "$DEVICE" "$expires" \
          | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')
    link="$base/ota/v1/packages/$pkg?device=$DEVICE&expires=$expires&signature=$sig"

    cat > "$RUN/device-session.sh" <<EOF
#!/usr/bin/env bash
# One device session against the demo stack, as device code would run it.
set -eu
TS=\$(date +%s%3N)
SIGN=\$(printf 'device%sproduct%stimestamp%s' $DEVICE $PRODUCT "\$TS" \\
       | openssl dgst -sha256 -hmac $dsecret | awk '{print \$NF}')
echo "== auth";     A=\$(curl -s -XPOST $base/ota/v1/auth \\
    -d "{\"product\":\"$PRODUCT\",\"device\":\"$DEVICE\",\"timestamp\":\$TS,\"sign\":\"\$SIGN\"}")
echo "\$A"
TOKEN=\$(echo "\$A" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
echo "== inform";   curl -s -XPOST $base/ota/v1/inform -H "Authorization: Bearer \$TOKEN" \\
    -d '{"module":"default","version":"1.0.0"}'; echo
echo "== upgrade";  U=\$(curl -s "$base/ota/v1/upgrade?module=default" -H "Authorization: Bearer \$TOKEN")
echo "\$U"
URL=\$(echo "\$U" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p' | head -1)
echo "== download"; curl -s -o $RUN/device-download.bin -C - "\$URL" && sha256sum $RUN/device-download.bin
echo "== progress"; curl -s -XPOST $base/ota/v1/progress -H "Authorization: Bearer \$TOKEN" \\
    -d '{"module":"default","step":100,"desc":"installed"}'; echo
echo "== inform new version"; curl -s -XPOST $base/ota/v1/inform -H "Authorization: Bearer \$TOKEN" \\
    -d '{"module":"default","version":"1.0.1"}'; echo
EOF
    chmod +x "$RUN/device-session.sh"

    # the same session over MQTT, as SagooIOT / Alibaba device code runs it
    cat > "$RUN/device-mqtt-session.sh" <<EOF
#!/usr/bin/env bash
# One device session over MQTT against the demo stack (docs/mqtt.md).
set -eu
login() {   # a fresh timestamp: a fresh client id and password
    TS=\$(date +%s%3N)
    PW=\$(printf 'clientId%sdeviceName%sproductKey%stimestamp%s' $DEVICE $DEVICE $PRODUCT "\$TS" \\
         | openssl dgst -sha256 -hmac $dsecret | awk '{print \$NF}')
    A=(-h 127.0.0.1 -p $MQTT_PORT -i "$DEVICE|securemode=2,signmethod=hmacsha256,timestamp=\$TS|" -u "$DEVICE&$PRODUCT" -P "\$PW")
}
login
echo "== subscribe (upgrade notice, firmware/get_reply)"
mosquitto_sub "\${A[@]}" -q 1 -v -t /ota/device/upgrade/$PRODUCT/$DEVICE \\
    -t /sys/$PRODUCT/$DEVICE/thing/ota/firmware/get_reply > $RUN/device-mqtt.out &
SUB=\$!; trap 'kill \$SUB' EXIT; sleep 0.5
login
echo "== inform 1.0.0 (an open task of a push batch: the notice comes)"
mosquitto_pub "\${A[@]}" -q 1 -t /ota/device/inform/$PRODUCT/$DEVICE \\
    -m '{"id":"1","params":{"version":"1.0.0","module":"default"}}'
login
echo "== firmware/get"
mosquitto_pub "\${A[@]}" -q 1 -t /sys/$PRODUCT/$DEVICE/thing/ota/firmware/get \\
    -m '{"id":"2","version":"1.0","params":{"module":"default"},"method":"thing.ota.firmware.get"}'
sleep 1; cat $RUN/device-mqtt.out
URL=\$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' $RUN/device-mqtt.out | head -1)
echo "== download over HTTP"
curl -s -o $RUN/device-mqtt-download.bin "\$URL" && sha256sum $RUN/device-mqtt-download.bin
login
echo "== progress 100"
mosquitto_pub "\${A[@]}" -q 1 -t /ota/device/progress/$PRODUCT/$DEVICE \\
    -m '{"id":"3","params":{"step":"100","desc":"installed","module":"default"}}'
login
echo "== inform the new version 1.0.1"
mosquitto_pub "\${A[@]}" -q 1 -t /ota/device/inform/$PRODUCT/$DEVICE \\
    -m '{"id":"4","params":{"version":"1.0.1","module":"default"}}'
EOF
    chmod +x "$RUN/device-mqtt-session.sh"

    # a login for the printed commands (valid for the auth window, 5 min);
    # the publisher gets another client id than the subscriber
    local ts pw pw2
    ts=$(date +%s%3N)
    pw=$(printf 'clientId%sdeviceName%sproductKey%stimestamp%s' "$DEVICE" "$DEVICE" \
         "$PRODUCT" "$ts" | openssl dgst -sha256 -hmac "$dsecret" | awk '{print $NF}')
    pw2=$(printf 'clientId%sdeviceName%sproductKey%stimestamp%s' "$DEVICE" "$DEVICE" \
          "$PRODUCT" "$((ts + 1))" | openssl dgst -sha256 -hmac "$dsecret" | awk '{print $NF}')

    cat <<EOF

OTA demo stack is running (run dir: $RUN)
  nginx    $base   (logs: $RUN/nginx/logs/)
  console  $base/ota/console/   (admin token $ADMIN)
  redis    $REDIS
  worker   pid $(cat "$RUN/worker.pid")   (log: $RUN/worker.log)
  mosquitto 127.0.0.1:$MQTT_PORT with ota_mqtt_auth.so (log: $RUN/mosquitto/mosquitto.log)
  bridge   ota-mqtt pid $(cat "$RUN/bridge.pid")   (log: $RUN/bridge.log)
  product $PRODUCT, device $DEVICE (secret $dsecret)
  package $pkg (4 MiB, sha256 $(sha256sum "$fw" | cut -c1-16)...), batch $batch

Try a download with a signed link (interrupt it and run it again: it resumes):
  curl -o /tmp/demo-fw.bin -C - '$link'
  sha256sum /tmp/demo-fw.bin $fw

Read the download progress and the batch statistics:
  OTA_REDIS=$REDIS $BUILD/otactl batch show $batch --devices
  curl -s -H 'Authorization: Bearer $ADMIN' $base/ota/admin/batches/$batch

Write through the admin API (docs/admin-api.md; the token
demo-viewer-token-change-me only reads), and read the audit trail:
  curl -s -H 'Authorization: Bearer $ADMIN' -d '{"device":"car-2","product":"$PRODUCT"}' $base/ota/admin/devices
  curl -s -H 'Authorization: Bearer $ADMIN' $base/ota/admin/audit?limit=5
Upload a package as a browser form does, then run otactl through the API
(no Redis access, no store mounted; docs/otactl.md "API mode"):
  curl -s -H 'Authorization: Bearer $ADMIN' -F product=$PRODUCT -F module=default -F name=fw \\
       -F version=1.0.2 -F file=@$fw $base/ota/admin/packages
  $BUILD/otactl --api $base/ota/admin --token $ADMIN package list
Make a delta of the two on the server (the worker makes it; docs/delta.md):
  $BUILD/otactl --api $base/ota/admin --token $ADMIN package diff --from $pkg --to <the upload's id> --wait 30

The web console (sign in with the admin token $ADMIN):
  $base/ota/console/

A whole device session (auth, inform, upgrade, download, progress, new version):
  $RUN/device-session.sh

Over MQTT (docs/mqtt.md), as SagooIOT / Alibaba device code logs in; these
passwords are valid for 5 minutes ($RUN/device-mqtt-session.sh signs afresh).
Subscribe as the device, then inform: the batch pushes, so the upgrade
notice arrives, with a signed link to download over HTTP:
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -q 1 -v \\
      -i '$DEVICE|securemode=2,signmethod=hmacsha256,timestamp=$ts|' -u '$DEVICE&$PRODUCT' -P $pw \\
      -t /ota/device/upgrade/$PRODUCT/$DEVICE -t /sys/$PRODUCT/$DEVICE/thing/ota/firmware/get_reply &
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -q 1 \\
      -i '$DEVICE|securemode=2,signmethod=hmacsha256,timestamp=$((ts + 1))|' -u '$DEVICE&$PRODUCT' -P $pw2 \\
      -t /ota/device/inform/$PRODUCT/$DEVICE -m '{"id":"1","params":{"version":"1.0.0","module":"default"}}'
With the same mosquitto_pub login: ask for the upgrade, report progress:
      -t /sys/$PRODUCT/$DEVICE/thing/ota/firmware/get -m '{"id":"2","params":{"module":"default"}}'
      -t /ota/device/progress/$PRODUCT/$DEVICE -m '{"id":"3","params":{"step":"50","module":"default"}}'
Watch every OTA topic as the bridge's user:
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -u ota-bridge -P $BRIDGE_PASSWORD -v \\
      -t '/ota/device/#' -t '/sys/+/+/thing/ota/#'
A whole device session over MQTT (subscribe, inform, notice, download, progress, new version):
  $RUN/device-mqtt-session.sh
Bad MQTT messages are dropped and counted:
  curl -s -H 'Authorization: Bearer $ADMIN' $base/ota/admin/metrics | grep mqtt

Stop everything: make stop
EOF
}

case "${1:-}" in
    start) start ;;
    stop)  stop ;;
    *)     echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
