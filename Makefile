# SPDX-License-Identifier: BSD-3-Clause
# vtpm: one non-recursive Makefile. `make` builds everything into $(BUILD);
# `make check` installs Debian dependencies, builds, and runs the whole suite
# twice: the normal build (gcc) and an ASan+UBSan build (clang).
#
#   make [BUILD=build] [CC=gcc] [SAN=1]   SAN=1 adds ASan+UBSan
#   make check | make demo | make bench | make clean
#   make install | make uninstall          see the block at the end

BUILD ?= build
CC ?= gcc
FUZZCC ?= clang
VERSION := 0.1.0

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Werror
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(CFLAGS) \
	-Ilib -Iinclude -DVTPM_VERSION=\"$(VERSION)\"
ALL_CFLAGS := $(BASE_CFLAGS) -fPIE
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,now $(LDFLAGS)
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -U_FORTIFY_SOURCE
BASE_CFLAGS += $(SAN_FLAGS)
ALL_CFLAGS += $(SAN_FLAGS)
LDFLAGS_ALL += -fsanitize=address,undefined
endif

# lib/tpmfront.c, the tpmif frontend connection, is libtpmfront's code: the
# vtpm links it in (its keeper talks to the manager as a frontend), and the
# test tools and clients get it from libtpmfront.so, never from libvtpmcore.a.
LIB_SRC := $(filter-out lib/tpmfront.c,$(wildcard lib/*.c))
VTPM_SRC := $(filter-out src/vtpm/main.c,$(wildcard src/vtpm/*.c)) lib/tpmfront.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
VTPM_OBJ := $(VTPM_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
VTPM_LIBS := -ltpms -lseccomp -lcrypto
MGR_SRC := $(filter-out src/vtpmmgr/main.c,$(wildcard src/vtpmmgr/*.c))
MGR_OBJ := $(MGR_SRC:%.c=$(BUILD)/%.o)
MGR_LIBS := -lsqlite3 -ltss2-esys -ltss2-tctildr -ltss2-mu -ltss2-rc -lseccomp -lcrypto

# libtpmfront and its TCTI are shared objects: their code is built -fPIC.
FRONT_LIB_SRC := lib/tpmif.c lib/xsmsg.c lib/sock.c lib/buf.c lib/tpm.c lib/tpmfront.c
FRONT_LIB_OBJ := $(FRONT_LIB_SRC:%.c=$(BUILD)/pic/%.o)
FRONT := $(BUILD)/libtpmfront.so.0 $(BUILD)/libtpmfront.so $(BUILD)/libtss2-tcti-tpmfront.so.0

.PHONY: all deps check check-one demo bench fuzz clean
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(if $(BENCH_SRC),$(BUILD)/bench_tpm $(BUILD)/bench_tpmif)

# Test tools: each tests/tools/NAME.c is one program, $(BUILD)/NAME.
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/%)
# Tools vtpmmgr runs in a vtpm's place (binary=): its Landlock rules let them
# load only system libraries, so libtpmfront's code is linked in.
SANDBOXED_TOOL_BIN := $(BUILD)/hostile_vtpm

all: $(BUILD)/vtpm $(BUILD)/vtpmmgr $(BUILD)/vtpmctl $(TOOL_BIN) $(UNIT_BIN) $(BENCH_BIN) $(FRONT)

deps:
	@bash scripts/install-deps.sh

# A source finds its own folder's headers by the quoted #include; only tests
# and tools reach into src/ folders, so no src/X file can include a src/Y one.
$(BUILD)/tests/%.o: SRC_INC := -Isrc/vtpm -Isrc/vtpmmgr
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SRC_INC) -MMD -MP -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/libtpmfront.so.0: $(FRONT_LIB_OBJ) src/tpmfront/libtpmfront.map
	$(CC) $(BASE_CFLAGS) -shared -Wl,-soname,libtpmfront.so.0 -Wl,-z,relro,-z,now \
		-Wl,--version-script=src/tpmfront/libtpmfront.map $(FRONT_LIB_OBJ) $(LDFLAGS) -o $@

$(BUILD)/libtpmfront.so: $(BUILD)/libtpmfront.so.0
	ln -sf libtpmfront.so.0 $@

# The TCTI checks packets with lib/tpm's tpm_packet_check, linked in (its
# version script keeps it local; libtpmfront exports only tpmfront_*).
TCTI_OBJ := $(BUILD)/pic/src/tpmfront/tcti_tpmfront.o $(BUILD)/pic/lib/tpm.o $(BUILD)/pic/lib/buf.o
# tcti_link RUNPATH: links the TCTI $@ from TCTI_OBJ (no RUNPATH if empty).
, := ,
tcti_link = $(CC) $(BASE_CFLAGS) -shared -Wl,-soname,libtss2-tcti-tpmfront.so.0 -Wl,-z,relro,-z,now \
	-Wl,--version-script=src/tpmfront/tcti.map $(if $(1),-Wl$(,)-rpath$(,)'$(1)') \
	$(TCTI_OBJ) -L$(BUILD) -ltpmfront $(LDFLAGS) -o $@
$(BUILD)/libtss2-tcti-tpmfront.so.0: $(TCTI_OBJ) $(BUILD)/libtpmfront.so src/tpmfront/tcti.map
	$(call tcti_link,$$ORIGIN)

$(BUILD)/libvtpmcore.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libvtpmd.a: $(VTPM_OBJ)
	ar rcs $@ $^

$(BUILD)/vtpm: $(BUILD)/src/vtpm/main.o $(BUILD)/libvtpmd.a $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ $(VTPM_LIBS) -o $@

$(BUILD)/libvtpmmgr.a: $(MGR_OBJ)
	ar rcs $@ $^

$(BUILD)/vtpmmgr: $(BUILD)/src/vtpmmgr/main.o $(BUILD)/libvtpmmgr.a $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ $(MGR_LIBS) -o $@

$(BUILD)/vtpmctl: $(BUILD)/src/vtpmctl/main.o $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ -o $@

# vtpm-xenback, the tpmif backend on real Xen: built when libxen-dev is present.
XEN_LIBS := $(shell pkg-config --libs xengnttab xenevtchn xenstore 2>/dev/null)
ifneq ($(XEN_LIBS),)
all: $(BUILD)/vtpm-xenback
$(BUILD)/src/xenback/main.o: ALL_CFLAGS += -Ilib/xen
$(BUILD)/vtpm-xenback: $(BUILD)/src/xenback/main.o $(BUILD)/lib/xen/xenback.o $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ $(XEN_LIBS) -o $@
endif

# Tools link libtpmfront by file (the library under test) and find it beside them.
$(filter-out $(SANDBOXED_TOOL_BIN),$(TOOL_BIN)): $(BUILD)/%: $(BUILD)/tests/tools/%.o $(BUILD)/libvtpmcore.a $(BUILD)/libtpmfront.so
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $(filter %.o %.a,$^) -L$(BUILD) -ltpmfront \
		-Wl,-rpath,'$$ORIGIN' -pthread -o $@

$(SANDBOXED_TOOL_BIN): $(BUILD)/%: $(BUILD)/tests/tools/%.o $(BUILD)/libvtpmd.a $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ -o $@

# the tpmif round trip links libtpmfront, as a client would
$(BUILD)/bench_tpmif: $(BUILD)/bench/tpmif/bench_tpmif.o $(BUILD)/libvtpmcore.a $(BUILD)/libtpmfront.so
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $(filter %.o %.a,$^) -L$(BUILD) -ltpmfront -Wl,-rpath,'$$ORIGIN' -o $@

$(BUILD)/bench_tpm: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ $(VTPM_LIBS) -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libvtpmd.a $(BUILD)/libvtpmmgr.a $(BUILD)/libvtpmcore.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) $^ -lcmocka $(VTPM_LIBS) $(MGR_LIBS) -o $@

# libFuzzer targets: clang only, with ASan+UBSan; built by `make fuzz`.
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ilib -Iinclude -Isrc/vtpm -fsanitize=fuzzer,address,undefined
# Targets of manager code link the manager's sources and libraries instead.
FUZZ_MGR_BIN := $(BUILD)/fuzz/fuzz_hwtpm $(BUILD)/fuzz/fuzz_store $(BUILD)/fuzz/fuzz_devline
$(filter-out $(FUZZ_MGR_BIN),$(FUZZ_BIN)): $(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRC) $(VTPM_SRC)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_FLAGS) $^ $(VTPM_LIBS) -o $@
$(filter $(FUZZ_MGR_BIN),$(FUZZ_BIN)): $(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRC) $(MGR_SRC)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_FLAGS) -Isrc/vtpmmgr $^ $(MGR_LIBS) -o $@
fuzz: $(FUZZ_BIN)

# One suite run on one build: used twice by `check`.
check-one: all fuzz
	@bash tests/run.sh $(BUILD)

check: deps
	@bash tests/check.sh

demo: deps all
	@bash scripts/demo.sh $(BUILD)

bench: deps all
	@bash bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- make install / make uninstall (GNU directory variables; DESTDIR stages) ----
#   make install [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=] [SYSCONFDIR=] ...
# The TCTI goes where tpm2-tss' tctildr looks for "tpmfront": its own
# library directory when PREFIX is the system one (/usr), else LIBDIR.
PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
SBINDIR ?= $(EXEC_PREFIX)/sbin
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# /usr's settings live in /etc (as GNU's sysconfdir for a distribution build)
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
TSS2_LIBDIR := $(shell pkg-config --variable=libdir tss2-tctildr 2>/dev/null)
TCTIDIR ?= $(if $(filter /usr,$(PREFIX)),$(or $(TSS2_LIBDIR),$(LIBDIR)),$(LIBDIR))
# How the installed TCTI finds libtpmfront.so.0: the loader's own search when
# LIBDIR is a system directory (tss2's, /usr/lib, /lib), its own directory
# when the two share one, else LIBDIR spelt out.
TCTI_RPATH ?= $(if $(filter $(TSS2_LIBDIR) /usr/lib /lib,$(LIBDIR)),,$(if $(filter $(TCTIDIR),$(LIBDIR)),$$ORIGIN,$(LIBDIR)))
INSTALL ?= install

# Files that depend on the install layout are made at install time, in $(BUILD)/inst.
$(BUILD)/inst/libtss2-tcti-tpmfront.so.0: $(TCTI_OBJ) $(BUILD)/libtpmfront.so FORCE
	@mkdir -p $(dir $@)
	$(call tcti_link,$(TCTI_RPATH))

$(BUILD)/inst/libtpmfront.pc: src/tpmfront/libtpmfront.pc.in FORCE
	@mkdir -p $(dir $@)
	sed 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/inst/vtpmmgr.service: contrib/systemd/vtpmmgr.service FORCE
	@mkdir -p $(dir $@)
	sed 's|/usr/sbin/vtpmmgr|$(SBINDIR)/vtpmmgr|; s|/etc/vtpm/|$(SYSCONFDIR)/vtpm/|' $< > $@

# vtpm-xenback is not installed yet (the package would need libxen-dev), nor its page
MAN_PAGES := $(filter-out man/vtpm-xenback.8,$(wildcard man/*.[1-8]))
# Every installed file, relative to DESTDIR: uninstall removes exactly these.
INSTALLED := $(SBINDIR)/vtpm $(SBINDIR)/vtpmmgr $(BINDIR)/vtpmctl \
	$(LIBDIR)/libtpmfront.so.0 $(LIBDIR)/libtpmfront.so $(INCLUDEDIR)/tpmfront.h \
	$(PKGCONFIGDIR)/libtpmfront.pc $(TCTIDIR)/libtss2-tcti-tpmfront.so.0 \
	$(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	$(UNITDIR)/vtpmmgr.service $(SYSCONFDIR)/vtpm/vtpmmgr.conf.example

.PHONY: progs install uninstall FORCE
FORCE:

# What install ships, without the tests, tools and benchmarks of `all`
# (the Debian build makes only this: it needs no cmocka).
progs: $(BUILD)/vtpm $(BUILD)/vtpmmgr $(BUILD)/vtpmctl $(FRONT)

install: progs $(BUILD)/inst/libtss2-tcti-tpmfront.so.0 $(BUILD)/inst/libtpmfront.pc $(BUILD)/inst/vtpmmgr.service
	$(INSTALL) -d '$(DESTDIR)$(SBINDIR)' '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBDIR)' \
		'$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(TCTIDIR)' \
		'$(DESTDIR)$(UNITDIR)' '$(DESTDIR)$(SYSCONFDIR)/vtpm'
	$(INSTALL) -m 0755 $(BUILD)/vtpm $(BUILD)/vtpmmgr '$(DESTDIR)$(SBINDIR)/'
	$(INSTALL) -m 0755 $(BUILD)/vtpmctl '$(DESTDIR)$(BINDIR)/'
	$(INSTALL) -m 0644 $(BUILD)/libtpmfront.so.0 '$(DESTDIR)$(LIBDIR)/'
	ln -sf libtpmfront.so.0 '$(DESTDIR)$(LIBDIR)/libtpmfront.so'
	$(INSTALL) -m 0644 include/tpmfront.h '$(DESTDIR)$(INCLUDEDIR)/'
	$(INSTALL) -m 0644 $(BUILD)/inst/libtpmfront.pc '$(DESTDIR)$(PKGCONFIGDIR)/'
	$(INSTALL) -m 0644 $(BUILD)/inst/libtss2-tcti-tpmfront.so.0 '$(DESTDIR)$(TCTIDIR)/'
	$(foreach m,$(MAN_PAGES),$(INSTALL) -D -m 0644 $(m) \
		'$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))' &&) true
	$(INSTALL) -m 0644 $(BUILD)/inst/vtpmmgr.service '$(DESTDIR)$(UNITDIR)/'
	$(INSTALL) -m 0644 contrib/vtpmmgr.conf.example '$(DESTDIR)$(SYSCONFDIR)/vtpm/'

# Removes the files install put; of the directories, only our own
# $(SYSCONFDIR)/vtpm, and only when empty (an operator's vtpmmgr.conf stays).
uninstall:
	rm -f $(foreach f,$(INSTALLED),'$(DESTDIR)$(f)')
	rmdir --ignore-fail-on-non-empty '$(DESTDIR)$(SYSCONFDIR)/vtpm' 2>/dev/null || true
