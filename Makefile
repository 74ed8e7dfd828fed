# OTA distribution: nginx module, worker, otactl.
#
#   make          build build/ngx_ota_module.so, build/ota-worker, build/otactl,
#                 build/ota_mqtt_auth.so (the broker plugin), build/ota-mqtt
#                 (the bridge), build/ota-fleet and build/ota-mqtt-load (the
#                 device fleets of bench/)
#   make run      install what is missing, build, start the demo stack
#   make stop     stop the demo stack
#   make test     install what is missing, build, run the whole suite
#                 (with its passes, e.g. nginx's debug log: make test-debug,
#                 in one prove run: make test-all)
#   make test-api the otactl tests again with otactl through the admin API
#   make deps     install the Debian packages (nothing when present)
#   make bench    benchmarks (bench/README.md)
#   make fuzz     libFuzzer targets of t/fuzz, FUZZ_LONG seconds each
#   make asan     build under AddressSanitizer and run the suite against it
#   make valgrind ota-worker and ota-mqtt under valgrind memcheck (a subset)
#   make deb      Debian packages into build/deb (debian/, docs/deploy.md)
#   make install  DESTDIR= PREFIX= (/usr/local): the module, ota-worker, otactl,
#                 ota-mqtt and its broker plugin, the console files
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
LIBS      := -lhiredis -ljansson -lssl -lcrypto -lzstd

SHARED_SRCS := $(sort $(wildcard include/*.c))
SHARED_HDRS := $(sort $(wildcard include/*.h))
MOD_SRCS    := $(sort $(wildcard ngx_ota_module/*.c))
MOD_HDRS    := $(sort $(wildcard ngx_ota_module/*.h))

# worker/daemon/ -> ota-worker, worker/otactl/ -> otactl, worker/common/ ->
# both (each program sees only its own folder and common/)
COMMON_SRCS := $(sort $(wildcard worker/common/*.c))
COMMON_HDRS := $(sort $(wildcard worker/common/*.h))
WORKER_SRCS := $(sort $(wildcard worker/daemon/*.c)) $(COMMON_SRCS)
WORKER_HDRS := $(sort $(wildcard worker/daemon/*.h)) $(COMMON_HDRS)
OTACTL_SRCS := $(sort $(wildcard worker/otactl/*.c)) $(COMMON_SRCS)
OTACTL_HDRS := $(sort $(wildcard worker/otactl/*.h)) $(COMMON_HDRS)

# Redis Lua scripts (lua/): turned into C in $(GEN) by lua/embed.pl, which
# also checks them with luac (Debian's lua5.1) and stops the build on an
# error; $(BUILD)/lua/ gets each script's whole text as Redis runs it
GEN         := $(BUILD)/gen
LUAC        ?= luac5.1
LUA_EMBED   := perl lua/embed.pl --cc '$(CC)' --luac '$(LUAC)' -Iinclude \
               --include ota_keys.h --include ota_fields.h
LUA_PRELUDE := lua/lib/prelude.lua
LUA_WORKER  := $(sort $(wildcard lua/worker/*.lua))
# lua/admin/: the writes an admin makes, run alike by otactl and the admin API
LUA_ADMIN   := $(sort $(wildcard lua/admin/*.lua))
LUA_OTACTL  := $(LUA_ADMIN) $(sort $(wildcard lua/otactl/*.lua))
LUA_MODULE  := $(sort $(wildcard lua/module/*.lua))
MODULE_GEN  := $(GEN)/ngx_ota_lua.c $(GEN)/ngx_ota_lua.h \
               $(GEN)/ngx_ota_admin_lua.c $(GEN)/ngx_ota_admin_lua.h
WORKER_GEN  := $(GEN)/worker_lua.c $(GEN)/worker_lua.h
OTACTL_GEN  := $(GEN)/otactl_lua.c $(GEN)/otactl_lua.h

FUZZ_SRCS   := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_CC     ?= clang
# seconds each libFuzzer target runs: short in `make test`, long in `make fuzz`
FUZZ_SHORT  ?= 5
FUZZ_LONG   ?= 300

# the MQTT channel: the broker plugin and the bridge (mqtt/), built on the
# worker's Redis connection code (worker/common/) and the shared plain C;
# the bridge's Redis scripts are lua/mqtt/*.lua
MQTT_COMMON := $(COMMON_SRCS)
PLUGIN_SRCS := $(sort $(wildcard mqtt/plugin_*.c))
BRIDGE_SRCS := $(sort $(wildcard mqtt/bridge_*.c))
MQTT_HDRS   := $(sort $(wildcard mqtt/*.h)) $(COMMON_HDRS)
LUA_MQTT    := $(sort $(wildcard lua/mqtt/*.lua))
MQTT_GEN    := $(GEN)/mqtt_lua.c $(GEN)/mqtt_lua.h
MQTT_CPPFLAGS := $(CPPFLAGS) -Imqtt -Iworker/common -I$(GEN)

UNIT_SRCS   := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
# helpers of the prove suite, built with the programs (t/38-merge-lua.t)
T_HELPERS   := $(BUILD)/unit/cov_replay

# Debian packages needed to build, run and test (Chart.js for the console,
# chromium + chromium-driver + python3-selenium for its browser test)
DEB_PKGS := gcc make perl nginx nginx-dev libhiredis-dev libssl-dev \
            libjansson-dev redis-server redis-sentinel curl wget aria2 wrk \
            haproxy libclang-rt-14-dev clang valgrind lua5.1 \
            libjs-chart.js chromium chromium-driver python3-selenium \
            build-essential debhelper dpkg-dev fakeroot lintian adduser \
            mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients \
            libzstd-dev zstd bsdiff xdelta3 libcurl4-openssl-dev

# re-run nginx's configure when the module's file list changes
SRC_LIST := $(MOD_SRCS) $(SHARED_SRCS) $(MOD_HDRS) $(SHARED_HDRS)
$(shell mkdir -p $(BUILD); echo '$(SRC_LIST)' | cmp -s - $(BUILD)/srcs.list \
        || echo '$(SRC_LIST)' > $(BUILD)/srcs.list)

.PHONY: all module worker otactl mqtt fleet unit deps test test-unit test-t \
        test-ahead test-debug test-api test-api-short test-all run stop \
        bench clean fuzz fuzz-bins test-fuzz asan valgrind install deb

all: module worker otactl mqtt fleet $(T_HELPERS)

mqtt: $(BUILD)/ota_mqtt_auth.so $(BUILD)/ota-mqtt $(BUILD)/ota-mqtt-load

module: $(BUILD)/ngx_ota_module.so
worker: $(BUILD)/ota-worker
otactl: $(BUILD)/otactl
fleet: $(BUILD)/ota-fleet

$(NGX_BUILD)/objs/Makefile: config $(BUILD)/srcs.list
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && bash -c 'set -e; \
	    flags=(--with-compat); \
	    if [ -f ./conf_flags ]; then . ./conf_flags; flags=("$${NGX_CONF_FLAGS[@]}"); fi; \
	    OTA_GEN=$(abspath $(GEN)) \
	    ./configure "$${flags[@]}" --add-dynamic-module=$(CURDIR) \
	        --with-cc-opt="-Wextra -Wno-unused-parameter -Wno-sign-compare \
	                       -Wno-missing-field-initializers $(NGX_CC_OPT)" \
	        --with-ld-opt="$(NGX_LD_OPT)" \
	        > ../configure.log 2>&1 || { cat ../configure.log; exit 1; }'

$(BUILD)/ngx_ota_module.so: $(NGX_BUILD)/objs/Makefile $(MOD_SRCS) $(MOD_HDRS) \
                            $(SHARED_SRCS) $(SHARED_HDRS) $(MODULE_GEN)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new inode: running nginx processes keep their mapping of the old one
	cp $(NGX_BUILD)/objs/ngx_ota_module.so $@.tmp && mv -f $@.tmp $@

# the module's scripts (config compiles the .c files): merge.lua alone (the
# download path's, sent by EVALSHA), lua/admin/ with the prelude as otactl
# runs them
$(MODULE_GEN) &: lua/embed.pl $(LUA_MODULE) $(LUA_PRELUDE) $(LUA_ADMIN) \
                 $(SHARED_HDRS)
	$(LUA_EMBED) --out $(GEN)/ngx_ota_lua --lua-out $(BUILD)/lua/module \
	    $(LUA_MODULE)
	$(LUA_EMBED) --out $(GEN)/ngx_ota_admin_lua --enum NGX_OTA_ADMIN_LUA \
	    --lua-out $(BUILD)/lua/admin --pre $(LUA_PRELUDE) $(LUA_ADMIN)

$(WORKER_GEN) &: lua/embed.pl $(LUA_PRELUDE) lua/lib/wake.lua lua/lib/batch.lua \
                 lua/lib/rollout.lua $(LUA_WORKER) $(SHARED_HDRS) \
                 worker/daemon/worker_wire.h
	$(LUA_EMBED) -Iworker/common -Iworker/daemon --include worker_wire.h \
	    --include ota_rollout.h \
	    --header-include ota_common.h --enum OTA_LUA --table ota_lua_scripts --out $(GEN)/worker_lua \
	    --lua-out $(BUILD)/lua/worker --pre $(LUA_PRELUDE) \
	    --pre lua/lib/wake.lua --pre lua/lib/batch.lua \
	    --pre lua/lib/rollout.lua $(LUA_WORKER)

$(OTACTL_GEN) &: lua/embed.pl $(LUA_PRELUDE) $(LUA_OTACTL) $(SHARED_HDRS)
	$(LUA_EMBED) -Iworker/common --header-include ota_common.h \
	    --enum OTACTL_LUA --table otactl_lua_scripts \
	    --out $(GEN)/otactl_lua --lua-out $(BUILD)/lua/otactl \
	    --pre $(LUA_PRELUDE) $(LUA_OTACTL)

$(BUILD)/ota-worker: $(WORKER_SRCS) $(SHARED_SRCS) $(WORKER_HDRS) $(SHARED_HDRS) \
                     $(WORKER_GEN)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -Iworker/common -Iworker/daemon -I$(GEN) \
	    $(LDFLAGS) -o $@ $(WORKER_SRCS) $(GEN)/worker_lua.c $(SHARED_SRCS) \
	    $(LIBS)

$(BUILD)/otactl: $(OTACTL_SRCS) $(SHARED_SRCS) $(OTACTL_HDRS) $(SHARED_HDRS) \
                 $(OTACTL_GEN)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -Iworker/common -Iworker/otactl -I$(GEN) \
	    $(LDFLAGS) -o $@ $(OTACTL_SRCS) $(GEN)/otactl_lua.c $(SHARED_SRCS) \
	    $(LIBS) -lcurl

# a fleet of devices running whole sessions against the device API
# (bench/fleet/ota_fleet.c: t/36-fleet.t and the fleet benchmark)
$(BUILD)/ota-fleet: bench/fleet/ota_fleet.c
	$(CC) $(OPT) $(WARN) -D_GNU_SOURCE -o $@ $< -lssl -lcrypto -ljansson

$(MQTT_GEN) &: lua/embed.pl $(LUA_PRELUDE) $(LUA_MQTT) $(SHARED_HDRS)
	$(LUA_EMBED) -Iworker/common --out $(GEN)/mqtt_lua \
	    --lua-out $(BUILD)/lua/mqtt --pre $(LUA_PRELUDE) $(LUA_MQTT)

# the broker loads it: position-independent, only its three entry points
# exported (nothing of ours can clash with the broker's symbols)
$(BUILD)/ota_mqtt_auth.so: $(PLUGIN_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) \
                           $(MQTT_HDRS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(MQTT_CPPFLAGS) -fPIC -shared -fvisibility=hidden \
	    $(LDFLAGS) -o $@ $(PLUGIN_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) $(LIBS)

$(BUILD)/ota-mqtt: $(BRIDGE_SRCS) $(MQTT_COMMON) $(SHARED_SRCS) $(MQTT_HDRS) \
                   $(SHARED_HDRS) $(MQTT_GEN)
	$(CC) $(OPT) $(WARN) $(MQTT_CPPFLAGS) $(LDFLAGS) -o $@ $(BRIDGE_SRCS) \
	    $(GEN)/mqtt_lua.c $(MQTT_COMMON) $(SHARED_SRCS) $(LIBS) -lmosquitto

# the fleet of bench/mqtt.sh and of the MQTT tests
$(BUILD)/ota-mqtt-load: bench/mqtt_load.c $(SHARED_SRCS) $(SHARED_HDRS)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -o $@ bench/mqtt_load.c $(SHARED_SRCS) \
	    $(LIBS) -lmosquitto

# the shared plain C compiled once for the unit tests (and t/'s helpers):
# each links the archive instead of compiling every file again
SHARED_LIB  := $(BUILD)/shared/libota.a
SHARED_OBJS := $(patsubst include/%.c,$(BUILD)/shared/%.o,$(SHARED_SRCS))
$(BUILD)/shared/%.o: include/%.c $(SHARED_HDRS)
	@mkdir -p $(@D)
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -c -o $@ $<
# rebuilt whole: a file removed from include/ leaves no member behind
$(SHARED_LIB): $(SHARED_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(SHARED_LIB) $(SHARED_HDRS)
	@mkdir -p $(BUILD)/unit
	$(CC) $(OPT) $(WARN) $(CPPFLAGS) -It/unit -o $@ $< $(SHARED_LIB) $(LIBS)

# the reader's wait is the worker's own rule, plain C in a header there
# (private: not for the archive's objects it may build)
$(BUILD)/unit/test_gather: private CPPFLAGS += -Iworker/daemon
$(BUILD)/unit/test_gather: worker/daemon/worker_gather.h

unit: $(UNIT_BINS)

# the jflat/jansson comparison both use
$(BUILD)/unit/test_jflat $(BUILD)/fuzz/fuzz_jflat: t/unit/jflat_diff.h

# libFuzzer targets: t/fuzz/fuzz_<name>.c with the shared plain C, under
# ASan and UBSan; corpora grow in build/fuzz/fuzz_<name>.corpus.  The shared
# C is compiled once into its own archive, with the same instrumentation
# (fuzzer-no-link: libFuzzer's coverage without its main)
FUZZ_FLAGS  := -g -O1 -fno-sanitize-recover=all
FUZZ_SAN    := address,undefined
FUZZ_LIB    := $(BUILD)/shared-fuzz/libota.a
FUZZ_OBJS   := $(patsubst include/%.c,$(BUILD)/shared-fuzz/%.o,$(SHARED_SRCS))
$(BUILD)/shared-fuzz/%.o: include/%.c $(SHARED_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
	    $(CPPFLAGS) -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/fuzz/%: t/fuzz/%.c $(FUZZ_LIB) $(SHARED_HDRS)
	@mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) $(CPPFLAGS) \
	    -o $@ $< $(FUZZ_LIB) $(LIBS)

fuzz-bins: $(FUZZ_BINS)

# FUZZ_JOBS targets at a time, each for FUZZ_SECS seconds
FUZZ_JOBS ?= 2
test-fuzz: fuzz-bins
	@printf '%s\n' $(FUZZ_BINS) | xargs -n1 -P$(FUZZ_JOBS) sh -c '\
	    f=$$1; mkdir -p $$f.corpus; \
	    echo "fuzz: $$(basename $$f) for $(FUZZ_SECS)s"; \
	    $$f -max_total_time=$(FUZZ_SECS) -print_final_stats=0 \
	        -artifact_prefix=$$f- $$f.corpus t/fuzz/seeds 2>$$f.log \
	        || { tail -40 $$f.log; exit 1; }' fuzz

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
	OTA_BUILD=$(CURDIR)/build-asan OTA_ASAN=1 \
	    prove --exec t/lib/pass $(AHEAD_TESTS:%=ahead:%)
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
	        -o DPkg::Lock::Timeout=600 \
	        --no-install-recommends $$missing >/dev/null; rc=$$?; \
	    [ -z "$$added" ] || $$sudo rm -f $$prc; \
	    exit $$rc; \
	fi

# the build on every core; then the passes of the prove suite in one run
# (test-all): the same files with the same environments as test-t,
# test-ahead, test-api-short and test-debug one after the other
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(MAKE) -j$(BUILD_JOBS) all unit fuzz-bins
	$(MAKE) test-unit test-fuzz test-all

test-unit: unit
	prove --exec '' $(UNIT_BINS)

# TEST= narrows the run: make test-t TEST=t/10-download.t
# The longest files start first (t/70 builds the packages: two minutes of
# compiling), so two at a time the run does not end on one of them alone
SLOW_TESTS := t/70-deb.t t/13-download-redis-outage.t
TEST ?= $(SLOW_TESTS) $(filter-out $(SLOW_TESTS),$(sort $(wildcard t/*.t)))
# test files run two at a time: most of a file's time is spent waiting on
# its servers (a run used 0.3 cores on average), and every file has its
# own ports and directory; PROVE_JOBS=1 runs them one by one
PROVE_JOBS ?= 2
PROVE     := prove -j$(PROVE_JOBS) -I t/lib
test-t: all
	$(PROVE) $(TEST)

# the event tests again with reads of 3 entries: every read is full, so
# the worker sends each apply behind the next read (docs/worker.md)
AHEAD_TESTS ?= t/24-session.t t/32-events.t t/33-faults.t t/35-late-coverage.t \
               t/39-rollouts.t
# (the environment of each pass but test-t is in t/lib/pass, which runs
# a file named ahead:t/24-session.t as t/24-session.t in the ahead pass)
PASS_PROVE = $(PROVE) --exec t/lib/pass
test-ahead: all
	$(PASS_PROVE) $(AHEAD_TESTS:%=ahead:%)

# the otactl tests again with every otactl call through the admin API of
# the test's nginx (otactl --api, OTA_OTACTL_API=1 in t/lib/OtaTest.pm):
# the same output and exit codes without Redis or the store; test-api is
# every file that runs otactl (79 s of prove here), make test runs
# the short list (t/30, t/31: about 20 s)
API_TESTS ?= t/23-admin.t t/24-session.t t/26-upgrade-wait.t \
             t/28-admin-writes.t t/30-otactl.t t/31-batches.t t/32-events.t \
             t/33-faults.t t/34-large-read.t t/35-late-coverage.t \
             t/36-fleet.t t/39-rollouts.t t/41-signing.t t/42-delta.t
API_SHORT ?= t/30-otactl.t t/31-batches.t
test-api: all
	$(PASS_PROVE) $(API_TESTS:%=api:%)
test-api-short: all
	$(PASS_PROVE) $(API_SHORT:%=api:%)

# the whole suite again with nginx at `error_log ... debug` (what an
# operator turns on to troubleshoot): nginx's debug lines read what the
# module's events point at, so a crash that only debug logging shows
# cannot come back (t/14-debug-log.t is the focused test).  The files that
# start no nginx of the suite's (Redis, the worker, otactl, Lua, the MQTT
# plugin alone; t/70 runs the installed nginx at its own level) would only
# run twice: they are left out, which keeps make test short.  So is t/40:
# its nginx answers the console's pages and the admin API, whose debug
# lines t/23, t/25, t/28 and t/29 read; the rest of its minute is the browser
NO_NGINX_TESTS := t/30-otactl.t t/31-batches.t t/32-events.t t/33-faults.t \
                  t/34-large-read.t t/37-lua-scripts.t t/38-merge-lua.t \
                  t/70-deb.t t/82-mqtt-login.t t/83-mqtt-acl.t \
                  t/86-mqtt-config.t
DEBUG_TESTS ?= $(filter-out $(NO_NGINX_TESTS) t/40-console.t,$(wildcard $(TEST)))
# three at a time: these files wait on their servers (a pass used a quarter
# of the two cores at -j2)
DEBUG_JOBS ?= 3
test-debug: all
	prove -j$(DEBUG_JOBS) --exec t/lib/pass $(DEBUG_TESTS:%=debug:%)

# test-t, test-ahead, test-api-short and test-debug in one prove run,
# ALL_JOBS files at a time: the passes overlap instead of each ending on
# its slowest file alone; the longest files start first
ALL_JOBS  ?= 4
ALL_TESTS := $(TEST) $(AHEAD_TESTS:%=ahead:%) $(API_SHORT:%=api:%) \
             $(DEBUG_TESTS:%=debug:%)
ALL_FIRST := $(filter $(SLOW_TESTS) $(SLOW_TESTS:%=debug:%),$(ALL_TESTS))
test-all: all
	prove -j$(ALL_JOBS) --timer --exec t/lib/pass $(ALL_FIRST) \
	    $(filter-out $(ALL_FIRST),$(ALL_TESTS))

run: deps
	$(MAKE) all
	bash conf/demo.sh start

stop:
	bash conf/demo.sh stop

bench: deps
	$(MAKE) all
	bash bench/run.sh

# what the packages install (debian/rules: PREFIX=/usr DESTDIR=debian/tmp)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MODULESDIR ?= $(PREFIX)/lib/nginx/modules
install: all
	install -D -m 644 $(BUILD)/ngx_ota_module.so $(DESTDIR)$(MODULESDIR)/ngx_ota_module.so
	install -D -m 755 $(BUILD)/ota-worker $(DESTDIR)$(SBINDIR)/ota-worker
	install -D -m 755 $(BUILD)/otactl $(DESTDIR)$(BINDIR)/otactl
	# the MQTT channel: the bridge, and the broker's plugin in a private
	# directory (mosquitto loads it by path: conf/mosquitto.conf)
	install -D -m 755 $(BUILD)/ota-mqtt $(DESTDIR)$(SBINDIR)/ota-mqtt
	install -D -m 644 $(BUILD)/ota_mqtt_auth.so $(DESTDIR)$(PREFIX)/lib/ota/ota_mqtt_auth.so
	# the console: static files (Chart.js is the system's libjs-chart.js)
	cd console && find . -type f | while read -r f; do \
	    install -D -m 644 "$$f" "$(DESTDIR)$(PREFIX)/share/ota-console/$$f" || exit 1; done

# Debian packages, built by dpkg-buildpackage in a copy of the tree (it
# writes its results into the parent directory: build/deb), then lintian;
# nothing is rebuilt while no file that goes into them is newer than the
# last build (t/ and bench/ do not)
DEB_DIR := $(BUILD)/deb
deb: deps
	@if [ -f $(DEB_DIR)/ok ] && [ -z "$$(find . \( -path ./.git -o -path './build*' \
	        -o -path ./run -o -path ./t -o -path ./bench \) -prune \
	        -o -newer $(DEB_DIR)/ok -print -quit)" ]; then \
	    echo "make deb: $(DEB_DIR) is up to date"; exit 0; fi; \
	set -e; rm -rf $(DEB_DIR); mkdir -p $(DEB_DIR)/src; \
	tar -c --exclude-vcs --exclude='./build*' --exclude=./run . | tar -x -C $(DEB_DIR)/src; \
	(cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc) > $(DEB_DIR)/build.log 2>&1 \
	    || { tail -40 $(DEB_DIR)/build.log; echo "make deb: see $(DEB_DIR)/build.log"; exit 1; }; \
	rm -rf $(DEB_DIR)/src; \
	rc=0; lintian --fail-on error --display-info --tag-display-limit 0 \
	    $(DEB_DIR)/*.changes > $(DEB_DIR)/lintian.log 2>&1 || rc=$$?; \
	sed 's/^/lintian: /' $(DEB_DIR)/lintian.log; \
	[ $$rc = 0 ] || { echo "make deb: lintian found errors"; exit 1; }; \
	touch $(DEB_DIR)/ok; ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD) build-asan
