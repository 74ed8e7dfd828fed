# OTA distribution: nginx module, worker, otactl.
#
#   make          build build/ngx_ota_module.so, build/ota-worker, build/otactl
#   make run      install what is missing, build, start the demo stack
#   make stop     stop the demo stack
#   make test     install what is missing, build, run the whole suite
#   make deps     install the Debian packages (nothing when present)
#   make bench    benchmarks (bench/README.md)
#   make fuzz     libFuzzer targets of t/fuzz, FUZZ_LONG seconds each
#   make asan     build under AddressSanitizer and run the suite against it
#   make valgrind ota-worker and ota-mqtt under valgrind memcheck (a subset)
#
# NGINX_SRC may point at a full nginx source tree instead of Debian's
# nginx-dev copy (/usr/share/nginx/src); the module must then be loaded by an
# nginx built from that tree.

NGINX_SRC ?= /usr/share/nginx/src
BUILD     ?= build
NGX_BUILD := $(BUILD)/nginx

CC        ?= gcc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra -Werror
CPPFLAGS  += -Iinclude -D_GNU_SOURCE
LIBS      := -lhiredis -ljansson -lssl -lcrypto

SHARED_SRCS := $(sort $(wildcard include/*.c))
SHARED_HDRS := $(sort $(wildcard include/*.h))
MOD_SRCS    := $(sort $(wildcard ngx_ota_module/*.c))
MOD_HDRS    := $(sort $(wildcard ngx_ota_module/*.h))

# worker/worker_*.c -> ota-worker, worker/otactl_*.c -> otactl,
# worker/common_*.c -> both
COMMON_SRCS := $(sort $(wildcard worker/common_*.c))
WORKER_SRCS := $(sort $(wildcard worker/worker_*.c)) $(COMMON_SRCS)
OTACTL_SRCS := $(sort $(wildcard worker/otactl_*.c)) $(COMMON_SRCS)
WORKER_HDRS := $(sort $(wildcard worker/*.h))

FUZZ_SRCS   := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_CC     ?= clang
# seconds each libFuzzer target runs: short in `make test`, long in `make fuzz`
FUZZ_SHORT  ?= 5
FUZZ_LONG   ?= 300

# the MQTT channel: the broker plugin and the bridge (mqtt/), built on the
# worker's Redis connection code and the shared plain C
MQTT_COMMON := worker/common_redis.c worker/common_util.c
PLUGIN_SRCS := $(sort $(wildcard mqtt/plugin_*.c))
BRIDGE_SRCS := $(sort $(wildcard mqtt/bridge_*.c))
MQTT_HDRS   := $(sort $(wildcard mqtt/*.h)) worker/ota_common.h worker/ota_lua.h
MQTT_LUA    := $(sort $(wildcard mqtt/*.lua))
MQTT_CPPFLAGS := $(CPPFLAGS) -Imqtt -Iworker -I$(BUILD)/mqtt

UNIT_SRCS   := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

# Debian packages needed to build, run and test
DEB_PKGS := gcc make perl nginx nginx-dev libhiredis-dev libssl-dev \
            libjansson-dev redis-server redis-sentinel curl wget aria2 wrk \
            haproxy libclang-rt-14-dev clang valgrind \
            mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients

# re-run nginx's configure when the module's file list changes
SRC_LIST := $(MOD_SRCS) $(SHARED_SRCS) $(MOD_HDRS) $(SHARED_HDRS)
$(shell mkdir -p $(BUILD); echo '$(SRC_LIST)' | cmp -s - $(BUILD)/srcs.list \
        || echo '$(SRC_LIST)' > $(BUILD)/srcs.list)

.PHONY: all module worker otactl mqtt unit deps test test-unit test-t test-ahead run stop \
        bench clean fuzz fuzz-bins test-fuzz asan valgrind

all: module worker otactl mqtt

mqtt: $(BUILD)/ota_mqtt_auth.so $(BUILD)/ota-mqtt $(BUILD)/ota-mqtt-load

module: $(BUILD)/ngx_ota_module.so
worker: $(BUILD)/ota-worker
otactl: $(BUILD)/otactl

$(NGX_BUILD)/objs/Makefile: config $(BUILD)/srcs.list
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && bash -c 'set -e; \
	    flags=(--with-compat); \
	    if [ -f ./conf_flags ]; then . ./conf_flags; flags=("$${NGX_CONF_FLAGS[@]}"); fi; \
	    ./configure "$${flags[@]}" --add-dynamic-module=$(CURDIR) \
	        --with-cc-opt="-Wextra -Wno-unused-parameter -Wno-sign-compare \
	                       -Wno-missing-field-initializers $(NGX_CC_OPT)" \
	        --with-ld-opt="$(NGX_LD_OPT)" \
	        > ../configure.log 2>&1 || { cat ../configure.log; exit 1; }'

$(BUILD)/ngx_ota_module.so: $(NGX_BUILD)/objs/Makefile $(MOD_SRCS) $(MOD_HDRS) \
                            $(SHARED_SRCS) $(SHARED_HDRS)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new inode: running nginx processes keep their mapping of the old one
	cp $(NGX_BUILD)/objs/ngx_ota_module.so $@.tmp && mv -f $@.tmp $@

$(BUILD)/ota-worker: $(WORKER_SRCS) $(SHARED_SRCS) $(WORKER_HDRS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -o $@ $(WORKER_SRCS) $(SHARED_SRCS) $(LIBS)

$(BUILD)/otactl: $(OTACTL_SRCS) $(SHARED_SRCS) $(WORKER_HDRS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -o $@ $(OTACTL_SRCS) $(SHARED_SRCS) $(LIBS)

# mqtt/*.lua as C strings: OTA_MQTT_LUA_<NAME> (bridge.lua -> _BRIDGE)
$(BUILD)/mqtt/ota_mqtt_lua.h: $(MQTT_LUA)
	@mkdir -p $(BUILD)/mqtt
	@for f in $(MQTT_LUA); do \
	    n=$$(basename $$f .lua | tr a-z A-Z); \
	    echo "#define OTA_MQTT_LUA_$$n \\"; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n" \\/' $$f; \
	    echo '""'; \
	done > $@.tmp && mv $@.tmp $@

# the broker loads it: position-independent, only its three entry points
# exported (nothing of ours can clash with the broker's symbols)
$(BUILD)/ota_mqtt_auth.so: $(PLUGIN_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) \
                           $(MQTT_HDRS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(MQTT_CPPFLAGS) -fPIC -shared -fvisibility=hidden \
	    -o $@ $(PLUGIN_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) $(LIBS)

$(BUILD)/ota-mqtt: $(BRIDGE_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) $(MQTT_HDRS) \
                   $(SHARED_HDRS) $(BUILD)/mqtt/ota_mqtt_lua.h
	$(CC) $(OPT) $(WARN) $(MQTT_CPPFLAGS) -o $@ $(BRIDGE_SRCS) $(MQTT_COMMON) \
	    $(SHARED_SRCS) $(LIBS) -lmosquitto

# the fleet of bench/mqtt.sh and of the MQTT tests
$(BUILD)/ota-mqtt-load: bench/mqtt_load.c $(SHARED_SRCS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -o $@ bench/mqtt_load.c $(SHARED_SRCS) \
	    $(LIBS) -lmosquitto

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(SHARED_SRCS) $(SHARED_HDRS)
	@mkdir -p $(BUILD)/unit
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -It/unit -o $@ $< $(SHARED_SRCS) $(LIBS)

unit: $(UNIT_BINS)

# libFuzzer targets: t/fuzz/fuzz_<name>.c with the shared plain C, under
# ASan and UBSan; corpora grow in build/fuzz/corpus-<name>
$(BUILD)/fuzz/%: t/fuzz/%.c $(SHARED_SRCS) $(SHARED_HDRS)
	@mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CPPFLAGS) -o $@ $< $(SHARED_SRCS) $(LIBS)

fuzz-bins: $(FUZZ_BINS)

test-fuzz: fuzz-bins
	@for f in $(FUZZ_BINS); do \
	    mkdir -p $$f.corpus; \
	    echo "fuzz: $$(basename $$f) for $(FUZZ_SECS)s"; \
	    $$f -max_total_time=$(FUZZ_SECS) -print_final_stats=0 \
	        -artifact_prefix=$$f- $$f.corpus t/fuzz/seeds 2>$$f.log \
	        || { tail -40 $$f.log; exit 1; }; \
	done

FUZZ_SECS ?= $(FUZZ_SHORT)

# the worker and the MQTT bridge under valgrind memcheck (slow: a subset)
VALGRIND_TESTS ?= t/32-*.t t/31-*.t t/80-*.t t/84-*.t
valgrind: deps
	$(MAKE) all
	OTA_VALGRIND=1 prove -I t/lib $(VALGRIND_TESTS)

# AddressSanitizer build in build-asan/ and a test run against it: nginx gets
# libasan preloaded (t/lib/OtaTest.pm), any report fails the test.
ASAN_FLAGS := -fsanitize=address -fno-omit-frame-pointer
ASAN_TESTS ?= t/*.t
asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g $(ASAN_FLAGS) -fsanitize=undefined" \
	    NGX_CC_OPT="$(ASAN_FLAGS)" NGX_LD_OPT="$(ASAN_FLAGS)" all
	OTA_BUILD=$(CURDIR)/build-asan OTA_ASAN=1 prove -I t/lib $(ASAN_TESTS)
	OTA_BUILD=$(CURDIR)/build-asan OTA_ASAN=1 OTA_WORKER_ARGS="--count 3" \
	    prove -I t/lib $(AHEAD_TESTS)
fuzz: deps
	$(MAKE) test-fuzz FUZZ_SECS=$(FUZZ_LONG)

# Installs missing Debian packages; does nothing when all are present.
# policy-rc.d keeps apt from starting the system nginx/redis services.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing"; \
	    sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	    prc=/usr/sbin/policy-rc.d; added=""; \
	    if [ ! -e $$prc ]; then printf '#!/bin/sh\nexit 101\n' | $$sudo tee $$prc >/dev/null; \
	        $$sudo chmod +x $$prc; added=1; fi; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; rc=$$?; \
	    [ -z "$$added" ] || $$sudo rm -f $$prc; \
	    exit $$rc; \
	fi

test: deps
	$(MAKE) all unit fuzz-bins
	$(MAKE) test-unit test-fuzz test-t test-ahead

test-unit: unit
	prove --exec '' $(UNIT_BINS)

# TEST= narrows the run: make test-t TEST=t/10-download.t
TEST ?= t/*.t
test-t: all
	prove -I t/lib $(TEST)

# the event tests again with reads of 3 entries: every read is full, so
# the worker sends each apply behind the next read (docs/worker.md)
AHEAD_TESTS ?= t/24-session.t t/32-events.t t/33-faults.t
test-ahead: all
	OTA_WORKER_ARGS="--count 3" prove -I t/lib $(AHEAD_TESTS)

run: deps
	$(MAKE) all
	bash conf/demo.sh start

stop:
	bash conf/demo.sh stop

bench: deps
	$(MAKE) all
	bash bench/run.sh

clean:
	rm -rf $(BUILD) build-asan
