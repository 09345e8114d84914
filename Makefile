# SPDX-License-Identifier: BSD-3-Clause
# vtpm: one non-recursive Makefile. `make` builds everything into $(BUILD);
# `make check` installs Debian dependencies, builds, and runs the whole suite
# twice: the normal build (gcc) and an ASan+UBSan build (clang).
#
#   make [BUILD=build] [CC=gcc] [SAN=1]   SAN=1 adds ASan+UBSan
#   make check | make demo | make bench | make clean

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

LIB_SRC := $(wildcard lib/*.c)
VTPM_SRC := $(filter-out src/vtpm/main.c,$(wildcard src/vtpm/*.c)) src/tpmfront/tpmfront.c
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
FRONT_LIB_SRC := lib/tpmif.c lib/xsmsg.c lib/sock.c lib/buf.c lib/tpm.c src/tpmfront/tpmfront.c
FRONT_LIB_OBJ := $(FRONT_LIB_SRC:%.c=$(BUILD)/pic/%.o)
FRONT := $(BUILD)/libtpmfront.so.0 $(BUILD)/libtpmfront.so $(BUILD)/libtss2-tcti-tpmfront.so.0 \
	$(BUILD)/libtpmfront.pc

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

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc/vtpm -Isrc/vtpmmgr -MMD -MP -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/libtpmfront.so.0: $(FRONT_LIB_OBJ) src/tpmfront/libtpmfront.map
	$(CC) $(BASE_CFLAGS) -shared -Wl,-soname,libtpmfront.so.0 -Wl,-z,relro,-z,now \
		-Wl,--version-script=src/tpmfront/libtpmfront.map $(FRONT_LIB_OBJ) $(LDFLAGS) -o $@

$(BUILD)/libtpmfront.so: $(BUILD)/libtpmfront.so.0
	ln -sf libtpmfront.so.0 $@

$(BUILD)/libtss2-tcti-tpmfront.so.0: $(BUILD)/pic/src/tpmfront/tcti_tpmfront.o $(BUILD)/libtpmfront.so src/tpmfront/tcti.map
	$(CC) $(BASE_CFLAGS) -shared -Wl,-soname,libtss2-tcti-tpmfront.so.0 -Wl,-z,relro,-z,now \
		-Wl,--version-script=src/tpmfront/tcti.map -Wl,-rpath,'$$ORIGIN' \
		$< -L$(BUILD) -ltpmfront $(LDFLAGS) -o $@

$(BUILD)/libtpmfront.pc: src/tpmfront/libtpmfront.pc.in
	sed 's|@PREFIX@|/usr/local|; s|@VERSION@|$(VERSION)|' $< > $@

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
