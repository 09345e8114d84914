/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ident: a new vTPM's identity. UUIDs carry the version-4 and RFC 4122
 * variant bits and differ; uids are the lowest free in the range, gaps are
 * reused, and a full range is refused. A real store in a temporary
 * directory, with the in-memory stand-in counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_counter.h"
#include "helpers.h"
#include "ident.h"

static uint64_t counter;
static const struct store_counter ctr = FAKE_COUNTER(counter);
static const uint8_t root[32] = { 9, 9, 9 };
static char dir[TH_PATH_MAX];
static struct store *st;

static int setup(void **state)
{
	char path[TH_PATH_MAX + 16];

	(void)state;
	counter = 0;
	th_mkdtemp(dir);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	st = store_open(path, root, &ctr, 0);
	return st ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	store_close(st);
	th_rmtree(dir);
	return 0;
}

static void add(uint8_t tag, uint32_t uid)
{
	struct store_vtpm v = { .tpm2 = true, .uid = uid };

	memset(v.uuid, tag, sizeof(v.uuid));
	strcpy(v.group, "default");
	assert_int_equal(store_add(st, &v), 0);
}

static void test_uuid_random(void **state)
{
	uint8_t a[VTPM_UUID_SIZE], b[VTPM_UUID_SIZE];

	(void)state;
	for (int i = 0; i < 64; i++) {
		assert_int_equal(ident_uuid_random(a), 0);
		assert_int_equal(a[6] >> 4, 4);		/* version 4 */
		assert_int_equal(a[8] >> 6, 2);		/* variant 10xx */
	}
	assert_int_equal(ident_uuid_random(b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_uid_lowest_free(void **state)
{
	uint32_t uid = 0;

	(void)state;
	assert_int_equal(ident_uid_free(st, 1000, 3, &uid), 0);
	assert_int_equal(uid, 1000);
	add(1, 1000);
	add(2, 1001);
	assert_int_equal(ident_uid_free(st, 1000, 3, &uid), 0);
	assert_int_equal(uid, 1002);
	/* another range is untouched by these */
	assert_int_equal(ident_uid_free(st, 2000, 1, &uid), 0);
	assert_int_equal(uid, 2000);
}

static void test_uid_gap_reused(void **state)
{
	uint32_t uid = 0;

	(void)state;
	add(1, 1001);
	add(2, 1002);
	assert_int_equal(ident_uid_free(st, 1000, 3, &uid), 0);
	assert_int_equal(uid, 1000);
}

static void test_uid_range_full(void **state)
{
	uint32_t uid = 77;

	(void)state;
	add(1, 1000);
	add(2, 1001);
	errno = 0;
	assert_int_equal(ident_uid_free(st, 1000, 2, &uid), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(uid, 77);
	/* the top of the 31-bit range the configuration allows */
	assert_int_equal(ident_uid_free(st, 0x7fffffffu, 0x7fffffffu, &uid), 0);
	assert_int_equal(uid, 0x7fffffffu);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_random),
		T(test_uid_lowest_free),
		T(test_uid_gap_reused),
		T(test_uid_range_full),
	};

	th_quiet_log();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
