# loaxa - build, test, bench, fuzz.
#
#   make            release build into build/ (loaxa, loaxa-encode, loaxa-controller, loaxa-node)
#   make test       ASan+UBSan build into build/asan/, then every test; ends "N passed, N failed"
#   make demo       a real broadcast on the embedded defaults (see README.md)
#   make bench      prints figures (medians), never fails on a slow machine
#   make bench-scale  300 node processes: emergency latency, delivery, controller CPU
#   make bench-province  3,000 simulated nodes behind bridged district brokers
#   make fuzz       libFuzzer harnesses (clang), bounded time each
#   make valgrind   the demo under valgrind, both daemons

CC      ?= cc
O       ?= build
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
           -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
# _FILE_OFFSET_BITS=64: 64-bit off_t, ino_t and getdents64 on 32-bit
# targets (armhf) too; a no-op on amd64 and arm64. Without it readdir() and
# stat() fail with EOVERFLOW where the file system hands out 64-bit values
# (ext4's directory cookies under qemu-arm: the cache and the journal could
# not list their files, tests/unit/test_journal.c under make test-cross).
# The Debian packages live under /usr (debian/rules builds with PREFIX=/usr too).
ifneq ($(filter install-deb install-node-deb,$(MAKECMDGOALS)),)
PREFIX  := /usr
endif
PREFIX  ?= /usr/local
# Where the binaries look for their message catalogs (docs/i18n.md);
# $LOAXA_LOCALEDIR overrides it at run time (tests: build/locale).
LOCALEDIR ?= $(PREFIX)/share/locale
CFLAGS  += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) \
           -DLOAXA_VERSION='"$(VERSION)"' -DLOAXA_LOCALEDIR='"$(LOCALEDIR)"' -Icommon -MMD -MP
LDFLAGS ?=

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
# Release hardening, Debian's (dpkg-buildflags with hardening=+all): stack
# protector, fortified libc calls, full RELRO with immediate binding, PIE.
# Not in the sanitizer build: ASan replaces the checked libc calls itself and
# _FORTIFY_SOURCE's inline checks hide errors from it. _FORTIFY_SOURCE needs
# optimisation (glibc warns without it, and -Werror stops the build), so it
# is set only when CFLAGS optimise. tests/integration/hardening.sh checks the
# binaries.
HARDEN_CFLAGS  := -fstack-protector-strong -fstack-clash-protection -fPIE \
                  -Wformat -Wformat-security \
                  $(if $(filter -O1 -O2 -O3 -Os -Og -Ofast,$(CFLAGS)),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDEN_LDFLAGS := -pie -Wl,-z,relro -Wl,-z,now
CFLAGS  += $(HARDEN_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
endif

# Objects depend on the flags they were built with: a change of flags (the
# hardening above, SAN, a CFLAGS on the command line) rebuilds them, instead
# of linking old objects built without it.
FLAGS_STAMP := $(O)/.build-flags
BUILD_FLAGS := $(CC) $(CFLAGS) $(LDFLAGS)
ifneq ($(file <$(FLAGS_STAMP)),$(BUILD_FLAGS))
$(shell mkdir -p $(O))
$(file >$(FLAGS_STAMP),$(BUILD_FLAGS))
endif

# PKG_CONFIG: the cross build (make cross) uses <triplet>-pkg-config, which
# answers with the flags of the target's multiarch -dev packages.
PKG_CONFIG ?= pkg-config
pc = $(shell $(PKG_CONFIG) --cflags $(1)) 
pl = $(shell $(PKG_CONFIG) --libs $(1))

COMMON_PKGS := libsodium jansson libconfig
NODE_PKGS   := $(COMMON_PKGS) libmosquitto alsa opusfile opus ogg libsystemd
IMPORT_PKGS := libavformat libavcodec libswresample libavutil libebur128 opus ogg
# loaxa-controller links no FFmpeg (nor the rest of the import libraries):
# every decode of untrusted media runs in loaxa-encode's decode worker, an
# executed program under seccomp (encode/worker.h). opus: live encoding.
# pangocairo (cairo, Pango, HarfBuzz) and fontconfig: the printable report (reportpdf.h).
CTRL_PKGS   := $(COMMON_PKGS) libmosquitto sqlite3 libmicrohttpd opus libsystemd alsa libcrypto \
               pangocairo fontconfig libxml-2.0
# loaxa stays free of the import libraries: loading FFmpeg & co. (~100 shared
# libraries) cost every command, `loaxa emergency start` too, 30 ms and more.
# `loaxa encode` execs loaxa-encode, which has them.
CLI_PKGS    := $(COMMON_PKGS) libcurl
ENCODE_PKGS := $(COMMON_PKGS) $(IMPORT_PKGS) libseccomp

COMMON_SRC := $(wildcard common/*.c)
NODE_SRC   := $(wildcard node/*.c)
IMPORT_SRC := $(wildcard import/*.c)
CTRL_SRC   := $(wildcard controller/*.c)
CLI_SRC    := $(wildcard cli/*.c)
ENCODE_SRC := $(wildcard encode/*.c)

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC))
NODE_OBJ   := $(call obj,$(NODE_SRC))
IMPORT_OBJ := $(call obj,$(IMPORT_SRC))
CTRL_OBJ   := $(call obj,$(CTRL_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
ENCODE_OBJ := $(call obj,$(ENCODE_SRC))

BINS := $(O)/loaxa $(O)/loaxa-encode $(O)/loaxa-controller $(O)/loaxa-node \
        $(O)/loaxa-node-update

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(O)/tools/%,$(TOOL_SRC))
# The paced ALSA ioplug plugin the timing tests load (libasound_module_pcm_loaxapaced.so).
PLUGIN    := $(O)/alsa/libasound_module_pcm_loaxapaced.so
# A test card's mixer (volume + mute) for softvol and the node's alsa.mixer.
CTL_PLUGIN := $(O)/alsa/libasound_module_ctl_loaxamixer.so

.PHONY: all test unit cross cross-tree test-cross install-node-deb demo bench bench-scale bench-province bench-scale3000 fuzz valgrind soak clean check-config install install-deb install-tree pot potfile

DESTDIR ?=

# Message catalogs (docs/i18n.md): po/<lang>.po, one file per language, is
# compiled into $(O)/locale/<lang>/LC_MESSAGES/loaxa.mo (CLI, controller)
# and loaxa-node.mo (the node's package ships its own copy). --check: a
# translation whose printf conversions differ from its msgid fails the build
# instead of crashing a printf. The web console's strings (web/strings.txt)
# come out of the same catalogs as $(O)/web/i18n/<lang>.json.
PO_LANGS := $(basename $(notdir $(wildcard po/*.po)))
MO_FILES := $(foreach l,$(PO_LANGS),$(O)/locale/$(l)/LC_MESSAGES/loaxa.mo \
	$(O)/locale/$(l)/LC_MESSAGES/loaxa-node.mo)
WEBSTRINGS := $(O)/loaxa-webstrings
WEB_JSON := $(if $(wildcard web/strings.txt),$(foreach l,en $(PO_LANGS),$(O)/web/i18n/$(l).json))
# $(O)/web is the console as served: web/'s pages (not strings.txt, the
# catalog's input) plus the generated i18n/<lang>.json - the tree the tests
# and the demo give the controller as web.root, laid out like the installed
# $(PREFIX)/share/loaxa/web.
WEB_PAGES := $(filter-out web/strings.txt,$(shell find web -type f 2>/dev/null))
WEB_TREE := $(patsubst web/%,$(O)/web/%,$(WEB_PAGES)) $(WEB_JSON)

all: $(BINS) $(MO_FILES) $(WEB_TREE)

$(O)/locale/%/LC_MESSAGES/loaxa.mo: po/%.po
	@mkdir -p $(dir $@)
	msgfmt --check -o $@ $<
$(O)/locale/%/LC_MESSAGES/loaxa-node.mo: $(O)/locale/%/LC_MESSAGES/loaxa.mo
	cp $< $@

# Runs at build time on the build machine: the host compiler, no libraries
# (a cross build for ARM builds and runs it too).
HOSTCC ?= cc
$(WEBSTRINGS): po/webstrings.c common/i18n.c common/i18n.h
	$(HOSTCC) -std=c11 -O2 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) -Icommon \
		po/webstrings.c common/i18n.c -o $@
$(O)/web/%: web/%
	install -D -m 0644 $< $@
$(O)/web/i18n/en.json: web/strings.txt $(WEBSTRINGS)
	@mkdir -p $(dir $@)
	LOAXA_LOCALEDIR=$(O)/locale $(WEBSTRINGS) C web/strings.txt >$@.tmp && mv $@.tmp $@
$(O)/web/i18n/%.json: web/strings.txt $(WEBSTRINGS) $(O)/locale/%/LC_MESSAGES/loaxa.mo
	@mkdir -p $(dir $@)
	LOAXA_LOCALEDIR=$(O)/locale $(WEBSTRINGS) $* web/strings.txt >$@.tmp && mv $@.tmp $@

# make pot: po/loaxa.pot from the sources (every _(), N_() and P_()) and
# the console's web/strings.txt; then msgmerge it into each po/<lang>.po
# (docs/i18n.md). tests/integration/i18n.sh fails when a string lacks a
# translation.
POT_SRC = $(sort $(wildcard cli/*.c common/*.c controller/*.c node/*.c encode/*.c import/*.c))
pot: potfile
	sed 's|$(O)/po/web-strings.c:|web/strings.txt:|g' $(O)/po/loaxa.pot >po/loaxa.pot
	for l in $(PO_LANGS); do msgmerge --quiet --update --backup=none --no-fuzzy-matching po/$$l.po po/loaxa.pot || exit 1; done
# potfile: only $(O)/po/loaxa.pot, the catalog template as the sources are
# now (tests/integration/i18n.sh compares it with po/).
potfile:
	@mkdir -p $(O)/po
	sed 's/^#.*//; s/\\/\\\\/g; s/"/\\"/g; s/..*/N_("&")/' web/strings.txt >$(O)/po/web-strings.c
	xgettext --from-code=UTF-8 --language=C --keyword=_ --keyword=N_ --keyword=P_:1,2 \
		--add-comments=TRANSLATORS: --package-name=loaxa --package-version=$(VERSION) \
		--msgid-bugs-address="loaxa issues" --sort-by-file -o $(O)/po/loaxa.pot $(POT_SRC) $(O)/po/web-strings.c

$(O)/obj/common/%.o: common/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call pc,$(COMMON_PKGS)) -c $< -o $@
$(O)/obj/node/%.o: node/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Inode $(call pc,$(NODE_PKGS)) -c $< -o $@
$(O)/obj/import/%.o: import/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iimport $(call pc,$(IMPORT_PKGS) $(COMMON_PKGS)) -c $< -o $@
$(O)/obj/controller/%.o: controller/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icontroller -Iimport -I$(O)/gen $(call pc,$(CTRL_PKGS)) -c $< -o $@
# The CAP 1.2 schema (etc/cap/CAP-v1.2.xsd) compiled into the controller as a
# C string (controller/capxml.c): the schema cannot go missing or be swapped.
$(O)/gen/cap_xsd.inc: etc/cap/CAP-v1.2.xsd scripts/cap-xsd.sh
	scripts/cap-xsd.sh $< $@
$(O)/obj/controller/capxml.o: $(O)/gen/cap_xsd.inc
$(O)/obj/cli/%.o: cli/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icli $(call pc,$(CLI_PKGS)) -c $< -o $@
$(O)/obj/encode/%.o: encode/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iimport $(call pc,$(ENCODE_PKGS)) -c $< -o $@

$(O)/libloaxa.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(O)/loaxa-node: $(NODE_OBJ) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(call pl,$(NODE_PKGS)) -lm
# The node simulator (tests and benchmarks, docs/testing.md): the node's
# modules, many nodes in one process; not installed.
$(O)/loaxa-nodesim: $(O)/obj/node/sim/nodesim.o $(filter-out $(O)/obj/node/main.o,$(NODE_OBJ)) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(call pl,$(NODE_PKGS)) -lm
# The node's installer of remote updates (nodeupdate/main.c): its own small
# program, so the daemon never installs anything; it reads node.cfg and the
# journal files through the node's own modules.
NODEUPD_OBJ := $(O)/obj/nodeupdate/main.o $(O)/obj/node/nodecfg.o $(O)/obj/node/updjournal.o
$(O)/obj/nodeupdate/%.o: nodeupdate/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Inode $(call pc,$(COMMON_PKGS)) -c $< -o $@
$(O)/loaxa-node-update: $(NODEUPD_OBJ) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(call pl,$(COMMON_PKGS)) -lm
$(O)/loaxa-controller: $(CTRL_OBJ) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(call pl,$(CTRL_PKGS)) -lm
$(O)/loaxa: $(CLI_OBJ) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(call pl,$(CLI_PKGS)) -lm
$(O)/loaxa-encode: $(ENCODE_OBJ) $(IMPORT_OBJ) $(O)/libloaxa.a
	$(CC) $(LDFLAGS) -o $@ $^ $(call pl,$(ENCODE_PKGS)) -lm

# Unit tests link the common library and, when they need them, the import
# objects and the daemons' modules (every module but its main.c).
NODE_LIB_OBJ := $(filter-out $(O)/obj/node/main.o,$(NODE_OBJ))
CTRL_LIB_OBJ := $(filter-out $(O)/obj/controller/main.o,$(CTRL_OBJ))
# libopusenc: only tests/unit/test_opusdec.c makes its files with it (the
# import writes its Ogg stream itself, import/oggopus.h)
ALL_PKGS := $(sort $(NODE_PKGS) $(CTRL_PKGS) $(CLI_PKGS) $(ENCODE_PKGS) libopusenc)

# Every unit test links testclock.o, which defines now_ms()/now_us(): the
# linker then leaves common/wallclock.o in the archive, and the code under
# test reads a clock the test sets (tests/unit/testclock.h).
TESTCLOCK_OBJ := $(O)/obj/tests/unit/testclock.o
$(TESTCLOCK_OBJ): tests/unit/testclock.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -c $< -o $@

# The cross build (CROSS=1, from make cross) has only the node's libraries
# for the target (no FFmpeg, SQLite, ... for arm64): its unit tests, those of
# node/ and common/ (CROSS_UNIT), link only the node's objects.
ifeq ($(CROSS),1)
UNIT_OBJ  := $(TESTCLOCK_OBJ) $(NODE_LIB_OBJ) $(O)/libloaxa.a
UNIT_PKGS := $(NODE_PKGS)
else
UNIT_OBJ  := $(TESTCLOCK_OBJ) $(NODE_LIB_OBJ) $(CTRL_LIB_OBJ) $(IMPORT_OBJ) $(O)/libloaxa.a
UNIT_PKGS := $(ALL_PKGS)
endif
$(O)/tests/%: tests/unit/%.c $(UNIT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Inode -Icontroller -Iimport -Itests/unit $(call pc,$(UNIT_PKGS)) \
		$< $(filter %.o %.a,$^) $(LDFLAGS) $(call pl,$(UNIT_PKGS)) -lm -o $@
$(O)/tools/%: tests/tools/%.c $(O)/libloaxa.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call pc,$(UNIT_PKGS)) $< $(O)/libloaxa.a $(LDFLAGS) \
		$(call pl,$(UNIT_PKGS)) -lm -o $@
$(PLUGIN): tests/alsa/pcm_loaxapaced.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize% -fno-sanitize% -fPIE,$(CFLAGS)) -DPIC -fPIC -shared $(call pc,alsa) $< -o $@ $(call pl,alsa) -Wl,-z,relro -Wl,-z,now -lm

$(CTL_PLUGIN): tests/alsa/ctl_loaxamixer.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize% -fno-sanitize% -fPIE,$(CFLAGS)) -DPIC -fPIC -shared $(call pc,alsa) $< -o $@ $(call pl,alsa) -Wl,-z,relro -Wl,-z,now

PLUGIN_IF := $(if $(wildcard tests/alsa/pcm_loaxapaced.c),$(PLUGIN)) \
	$(if $(wildcard tests/alsa/ctl_loaxamixer.c),$(CTL_PLUGIN))

unit: $(BINS) $(MO_FILES) $(WEB_TREE) $(UNIT_BINS) $(TOOL_BINS) $(PLUGIN_IF) $(O)/loaxa-nodesim

# make cross ARCH=arm64|armhf: the node and the CLI for an ARM board, built
# with Debian's cross compiler and the target's multiarch -dev packages
# (scripts/setup.sh installs both), into build/cross-ARCH/: loaxa-node,
# loaxa, the unit tests of node/ and common/ (CROSS_UNIT) and the paced test
# card's ALSA plugins (an arm64 node loads arm64 plugins). The controller
# and loaxa-encode stay on the station's PC (amd64). make test-cross runs
# them under qemu-user (docs/cross.md).
ARCH ?= arm64
CROSS_TRIPLET_arm64 := aarch64-linux-gnu
CROSS_TRIPLET_armhf := arm-linux-gnueabihf
CROSS_QEMU_arm64    := qemu-aarch64
CROSS_QEMU_armhf    := qemu-arm
CROSS_TRIPLET := $(CROSS_TRIPLET_$(ARCH))
CROSS_UNIT    := test_allclear test_emergency test_envelope test_journal test_loop \
                 test_mqlink test_node test_sched test_util
CROSS_BIN     := build/cross-$(ARCH)

cross:
	@[ -n "$(CROSS_TRIPLET)" ] || { echo "make cross: ARCH must be arm64 or armhf (got '$(ARCH)')" >&2; exit 2; }
	@command -v $(CROSS_TRIPLET)-gcc >/dev/null || { echo "make cross: $(CROSS_TRIPLET)-gcc is missing: run scripts/setup.sh as root (it installs crossbuild-essential-$(ARCH))" >&2; exit 2; }
	$(MAKE) O=$(CROSS_BIN) CROSS=1 CC=$(CROSS_TRIPLET)-gcc AR=$(CROSS_TRIPLET)-ar \
		PKG_CONFIG=$(CROSS_TRIPLET)-pkg-config cross-tree

# pcmcompare: the reference decoded by the target's opusfile, the library the
# node plays with (libopus's float decoder differs by a few LSB between
# amd64 and arm64: NEON, fused multiply-add).
cross-tree: $(O)/loaxa-node $(O)/loaxa-node-update $(O)/loaxa $(addprefix $(O)/tests/,$(CROSS_UNIT)) $(PLUGIN) $(CTL_PLUGIN) \
	$(O)/tools/pcmcompare

# make test-cross [ARCH=arm64]: the cross-built node's unit tests and a
# broadcast through a real broker to the node under qemu-user, the native
# controller and CLI beside it (tests/cross.sh). Its own target, not part of
# make test: see docs/cross.md for its time.
test-cross:
	$(MAKE) cross ARCH=$(ARCH)
	$(MAKE) unit
	CROSS_ARCH=$(ARCH) CROSS_QEMU=$(CROSS_QEMU_$(ARCH)) LOAXA_CROSS_BIN=$(CURDIR)/$(CROSS_BIN) \
		CROSS_UNIT="$(CROSS_UNIT)" LOAXA_BIN=$(CURDIR)/build tests/cross.sh

# make test: sanitizer build in its own tree so it never mixes with release objects.
# The builds run on every core (CI starts from a clean clone: built one file
# at a time they took minutes of the suite's budget).
test:
	$(MAKE) -j$$(nproc) O=build/asan SAN=1 unit
	$(MAKE) -j$$(nproc) unit
	JOBS=$${JOBS:-$$(nproc)} LOAXA_BIN=$(CURDIR)/build/asan LOAXA_RELEASE_BIN=$(CURDIR)/build tests/run.sh

# make soak: the kill -9 journal test with many more kills than make test
# (KILLS=N), then broker outages of up to 5 minutes, repeated, idle and in the
# middle of deliveries and live sessions (SOAK_OUTAGES="SECONDS:WHAT ..."),
# then a simulated week of schedules, lives and emergencies (DAYS=N, at most
# 7) on the release build, which prints every daemon's RSS and open
# descriptors after the first day and at the end (docs/testing.md).
SOAK_OUTAGES ?= 1:idle 5:delivery 30:live 300:delivery 1:live 5:delivery 300:live 30:idle 300:idle
soak:
	$(MAKE) -j$$(nproc) O=build/asan SAN=1 unit
	$(MAKE) -j$$(nproc) unit
	KILLS=$${KILLS:-300} LOAXA_BIN=$(CURDIR)/build/asan tests/integration/health_kill9.sh
	KILLS=$${CONTROLLER_KILLS:-200} LOAXA_BIN=$(CURDIR)/build/asan tests/integration/kill9_controller.sh
	ROUNDS=5 LOAXA_BIN=$(CURDIR)/build/asan tests/integration/power_cut.sh
	OUTAGES="$(SOAK_OUTAGES)" LOAXA_BIN=$(CURDIR)/build/asan tests/integration/broker_outage.sh
	NODES_N=$${NODES_N:-50} LOAXA_BIN=$(CURDIR)/build/asan tests/integration/broker_spread.sh
	DAYS=$${DAYS:-7} LOAXA_BIN=$(CURDIR)/build tests/integration/soak_week.sh

demo: all
	scripts/demo.sh

# The node's figures under qemu-aarch64 too when the arm64 cross compiler is
# installed (scripts/setup.sh): tests/bench/node.sh.
bench: all unit
	if command -v aarch64-linux-gnu-gcc >/dev/null; then $(MAKE) cross ARCH=arm64; fi
	LOAXA_BIN=$(CURDIR)/build tests/bench/run.sh

# 300 real node processes on one controller and one broker (issue 18.6):
# emergency latency idle and while downloading, a 5-minute announcement to
# every node, controller and broker CPU at steady state. About 15 minutes;
# not part of `make bench` (tests/bench/scale.sh).
bench-scale: all unit
	LOAXA_BIN=$(CURDIR)/build ROOT=$(CURDIR) bash tests/bench/scale.sh

# make bench-province (also bench-scale3000): 3,000 simulated nodes
# (loaxa-nodesim) behind 10 district brokers bridged to a provincial one:
# emergency latency through one broker and through the bridges, a provincial
# emergency, a district broker killed and back (tests/bench/province.sh,
# docs/testing.md). About 20 minutes; not part of `make bench`.
bench-province bench-scale3000: all unit
	LOAXA_BIN=$(CURDIR)/build tests/bench/province.sh

fuzz:
	tests/fuzz/run.sh

valgrind: all
	LOAXA_VALGRIND=1 scripts/demo.sh

check-config: all
	$(O)/loaxa-controller --check-config -c etc/controller.cfg
	$(O)/loaxa-node --check-config -c etc/node.cfg

# install: the CLI and encoder to $(PREFIX)/bin, the daemons to
# $(PREFIX)/sbin, units to /etc/systemd/system (their paths rewritten to
# PREFIX), man pages, the first-install script and example configs to
# $(PREFIX)/share/loaxa; then, as root: $(PREFIX)/share/loaxa/first-install.
# The Debian packages (debian/, `dpkg-buildpackage -b -us -uc`) use
# install-deb: the same files under /usr, units under /lib/systemd/system.
MAN_PAGES := $(wildcard man/*.[1-8])
install: all
	$(MAKE) install-tree ROOTPREFIX=$(PREFIX) UNITDIR=/etc/systemd/system

install-deb: all
	$(MAKE) install-tree ROOTPREFIX=/usr UNITDIR=/lib/systemd/system

# install-node-deb: what debian/loaxa-node.install takes, for the node-only
# package of an ARM board (debian/rules, profile pkg.loaxa.nodeonly).
NODE_MO := $(foreach l,$(PO_LANGS),$(O)/locale/$(l)/LC_MESSAGES/loaxa-node.mo)
install-node-deb: $(O)/loaxa-node $(O)/loaxa-node-update $(NODE_MO)
	install -d $(DESTDIR)/usr/sbin $(DESTDIR)/lib/systemd/system $(DESTDIR)/usr/share/loaxa \
		$(DESTDIR)/usr/share/man/man8 $(DESTDIR)/usr/share/man/man5
	install -m 0755 $(O)/loaxa-node $(O)/loaxa-node-update $(DESTDIR)/usr/sbin/
	install -m 0644 systemd/loaxa-node.service systemd/loaxa-node-update.service \
		systemd/loaxa-node-update.path $(DESTDIR)/lib/systemd/system/
	install -m 0644 etc/node.cfg $(DESTDIR)/usr/share/loaxa/node.cfg.example
	install -m 0644 etc/asoundrc.example $(DESTDIR)/usr/share/loaxa/asoundrc.example
	install -m 0644 man/loaxa-node.8 $(DESTDIR)/usr/share/man/man8/
	install -m 0644 man/loaxa-node.cfg.5 $(DESTDIR)/usr/share/man/man5/
	for l in $(PO_LANGS); do install -d $(DESTDIR)/usr/share/locale/$$l/LC_MESSAGES && \
		install -m 0644 $(O)/locale/$$l/LC_MESSAGES/loaxa-node.mo \
			$(DESTDIR)/usr/share/locale/$$l/LC_MESSAGES/ || exit 1; done

install-tree:
	install -d $(DESTDIR)$(ROOTPREFIX)/bin $(DESTDIR)$(ROOTPREFIX)/sbin \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(ROOTPREFIX)/share/loaxa \
		$(DESTDIR)$(ROOTPREFIX)/share/doc/loaxa-doc
	install -m 0755 $(O)/loaxa $(O)/loaxa-encode $(DESTDIR)$(ROOTPREFIX)/bin/
	install -m 0755 $(O)/loaxa-controller $(O)/loaxa-node $(O)/loaxa-node-update $(DESTDIR)$(ROOTPREFIX)/sbin/
	for u in systemd/*.service systemd/*.path; do \
		sed 's|/usr/sbin/loaxa|$(ROOTPREFIX)/sbin/loaxa|g; s|/usr/bin/loaxa|$(ROOTPREFIX)/bin/loaxa|g; s|/usr/share/loaxa/|$(ROOTPREFIX)/share/loaxa/|g' \
			$$u >$(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; done
	install -m 0644 etc/controller.cfg $(DESTDIR)$(ROOTPREFIX)/share/loaxa/controller.cfg.example
	install -m 0644 etc/node.cfg $(DESTDIR)$(ROOTPREFIX)/share/loaxa/node.cfg.example
	install -m 0644 etc/asoundrc.example $(DESTDIR)$(ROOTPREFIX)/share/loaxa/asoundrc.example
	sed 's|/usr/bin/loaxa|$(ROOTPREFIX)/bin/loaxa|g; s|/usr/sbin/loaxa|$(ROOTPREFIX)/sbin/loaxa|g; s|/usr/share/loaxa/|$(ROOTPREFIX)/share/loaxa/|g' \
		scripts/first-install >$(DESTDIR)$(ROOTPREFIX)/share/loaxa/first-install
	chmod 0755 $(DESTDIR)$(ROOTPREFIX)/share/loaxa/first-install
	install -m 0644 docs/*.md $(DESTDIR)$(ROOTPREFIX)/share/doc/loaxa-doc/
	# the web console's files (web.root): regular files only, world-readable
	cd web && find . -type f ! -name strings.txt | while read -r f; do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(ROOTPREFIX)/share/loaxa/web/$$f" || exit 1; done
	for m in $(MAN_PAGES); do s=$${m##*.}; install -d $(DESTDIR)$(ROOTPREFIX)/share/man/man$$s && \
		install -m 0644 $$m $(DESTDIR)$(ROOTPREFIX)/share/man/man$$s/ || exit 1; done
	for l in $(PO_LANGS); do install -d $(DESTDIR)$(ROOTPREFIX)/share/locale/$$l/LC_MESSAGES && \
		install -m 0644 $(O)/locale/$$l/LC_MESSAGES/loaxa.mo $(O)/locale/$$l/LC_MESSAGES/loaxa-node.mo \
			$(DESTDIR)$(ROOTPREFIX)/share/locale/$$l/LC_MESSAGES/ || exit 1; done
	install -d $(DESTDIR)$(ROOTPREFIX)/share/loaxa/web/i18n
	for j in $(WEB_JSON); do install -m 0644 $$j $(DESTDIR)$(ROOTPREFIX)/share/loaxa/web/i18n/ || exit 1; done

clean:
	rm -rf build

-include $(shell find $(O)/obj $(O)/tests $(O)/tools -name '*.d' 2>/dev/null)
