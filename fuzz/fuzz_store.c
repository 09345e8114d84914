/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_store: libFuzzer target for the manager's store decoding
 * (src/vtpmmgr/store.c: the vtpm and record rows, the sealed records and
 * the sealed meta row, reached through store_open), whose input is a
 * database file on disk the manager does not trust. Once per process, the
 * real encoder (store_add, store_put_record) writes a store of two vTPMs
 * with records in a private temporary directory; each input patches that
 * file: bytes 0-1 are a big-endian offset, the rest is written there (the
 * file grows if the patch runs past its end). The patched file is opened
 * with the same root key and a stand-in monotonic counter at the value the
 * store left it. An open that succeeds must hold at most the two vTPMs, each
 * with a group and device line within their caps; an unpatched file must
 * open to exactly what was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/unit/fake_counter.h"
#include "../tests/unit/helpers.h"
#include "store.h"

#define VTPMS	2

static char dir[TH_PATH_MAX], path[TH_PATH_MAX + 16];
static uint8_t *orig;
static size_t orig_len;
static uint64_t counter, counter_at_rest;
static const uint8_t root[32] = { 0x11, 0x22, 0x33 };

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_store: invariant broken: %s\n", what);
		abort();
	}
}

static const struct store_counter ctr = FAKE_COUNTER(counter);

static void remove_dir(void)
{
	th_rmtree(dir);
}

/* The real encoder writes the store every input patches. */
static void setup(void)
{
	struct mgr_record rec = { .present = true, .seq = 3 };
	struct store *st;

	log_init("fuzz_store", NULL, open("/dev/null", O_WRONLY | O_CLOEXEC), LOG_ERR);
	th_mkdtemp(dir);
	atexit(remove_dir);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	st = store_open(path, root, &ctr, 0);
	check(st != NULL, "create the store");
	for (int i = 0; i < VTPMS; i++) {
		struct store_vtpm v = { .tpm2 = true, .uid = 1000u + (uint32_t)i };

		memset(v.uuid, 0x40 + i, sizeof(v.uuid));
		snprintf(v.group, sizeof(v.group), "group%d", i);
		snprintf(v.config, sizeof(v.config), "server=127.0.0.1:%d", 10000 + i);
		check(store_add(st, &v) == 0, "store_add");
		memset(rec.digest, 0xab, sizeof(rec.digest));
		memset(rec.key, 0xcd + i, sizeof(rec.key));
		check(store_put_record(st, v.uuid, 1 + i, &rec) == 0, "store_put_record");
	}
	store_close(st);
	orig = th_read_file(path, &orig_len);
	check(orig != NULL, "read the store back");
	counter_at_rest = counter;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char side[TH_PATH_MAX + 32];
	static bool ready;
	struct store *st;
	size_t off, n;
	uint8_t *file;

	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 2)
		return 0;
	off = (size_t)data[0] << 8 | data[1];
	n = off + size - 2 > orig_len ? off + size - 2 : orig_len;
	file = calloc(1, n);
	check(file != NULL, "calloc");
	memcpy(file, orig, orig_len);
	memcpy(file + off, data + 2, size - 2);
	check(th_write_file(path, file, n) == 0, "write the store");
	free(file);
	for (int i = 0; i < 2; i++) {
		snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal");
		unlink(side);
	}
	counter = counter_at_rest;
	st = store_open(path, root, &ctr, 0);
	if (!st) {
		check(size > 2, "the unpatched store opens");
		return 0;
	}
	check(store_count(st) <= VTPMS, "no more vTPMs than were written");
	for (size_t i = 0; i < store_count(st); i++) {
		const struct store_vtpm *v = store_at(st, i);

		check(strlen(v->group) <= STORE_GROUP_MAX && strlen(v->config) <= STORE_CONFIG_MAX,
		      "strings within their caps");
	}
	if (size == 2)
		check(store_count(st) == VTPMS && store_at(st, 1)->uid == 1001 &&
		      store_at(st, 1)->rec[1].present && store_at(st, 1)->rec[1].key[0] == 0xce,
		      "the unpatched store opens to what was written");
	store_close(st);
	return 0;
}
