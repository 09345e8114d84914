/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_store: the manager's store decoding (src/vtpmmgr/store.c) on a
 * database the real encoder wrote, then edited with sqlite3 as an attacker
 * with write access to the file would: the round trip; each sealed record
 * blob cut at every length and given a trailing byte; the group and device
 * line at their caps + 1; the original restored opens again. Test code: a
 * stand-in counter in memory, files in its own temporary directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fake_counter.h"
#include "helpers.h"
#include "store.h"

static uint64_t counter;
static int ctr_refuse;	/* increments the counter refuses from now on */
static int ctr_behind_calls;
static char dir[TH_PATH_MAX], path[TH_PATH_MAX + 16];
static const uint8_t root[32] = { 7, 7, 7 };

/* the shared stand-in, refusing the next ctr_refuse steps as a busy chip would */
static int ctr_inc(void *arg, uint64_t *v)
{
	if (ctr_refuse > 0) {
		ctr_refuse--;
		errno = EIO;
		return -1;
	}
	return fake_counter_increment(arg, v);
}

static void ctr_behind(void *arg)
{
	(void)arg;
	ctr_behind_calls++;
}

static const struct store_counter ctr = { fake_counter_read, ctr_inc, &counter, ctr_behind };

static int setup(void **state)
{
	struct mgr_record rec = { .present = true, .seq = 9 };
	struct store_vtpm v = { .tpm2 = true, .uid = 4242 };
	struct store *st;

	(void)state;
	counter = 0;
	ctr_refuse = 0;
	ctr_behind_calls = 0;
	th_mkdtemp(dir);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	st = store_open(path, root, &ctr, 0);
	assert_non_null(st);
	memset(v.uuid, 0x33, sizeof(v.uuid));
	strcpy(v.group, "tenant-a");
	strcpy(v.config, "server=127.0.0.1:10001");
	assert_int_equal(store_add(st, &v), 0);
	memset(rec.digest, 0xab, sizeof(rec.digest));
	memset(rec.key, 0xcd, sizeof(rec.key));
	assert_int_equal(store_put_record(st, v.uuid, VTPM_BLOB_PERMANENT, &rec), 0);
	store_close(st);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_rmtree(dir);
	return 0;
}

/* Runs one statement with an optional blob bound to ?1. */
static void sql(const char *q, const void *blob, int n)
{
	sqlite3 *db;
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	if (blob)
		assert_int_equal(sqlite3_bind_blob(s, 1, blob, n, SQLITE_TRANSIENT), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static uint8_t *record_blob(int *n)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	uint8_t *p;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT blob FROM record", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	*n = sqlite3_column_bytes(s, 0);
	p = malloc((size_t)*n + 1);
	assert_non_null(p);
	memcpy(p, sqlite3_column_blob(s, 0), (size_t)*n);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return p;
}

static void expect_refused(void)
{
	assert_null(store_open(path, root, &ctr, 0));
}

static void expect_opens(void)
{
	struct store *st = store_open(path, root, &ctr, 0);
	const struct store_vtpm *v;

	assert_non_null(st);
	assert_int_equal(store_count(st), 1);
	v = store_at(st, 0);
	assert_string_equal(v->group, "tenant-a");
	assert_string_equal(v->config, "server=127.0.0.1:10001");
	assert_int_equal(v->uid, 4242);
	assert_true(v->tpm2);
	assert_true(v->rec[0].present);
	assert_true(v->rec[0].seq == 9);
	assert_int_equal(v->rec[0].key[31], 0xcd);
	assert_false(v->rec[1].present);
	store_close(st);
}

static void test_round_trip(void **state)
{
	(void)state;
	expect_opens();
	expect_opens();	/* opening writes nothing that changes the next open */
}

static void test_record_blob_cut_and_extended(void **state)
{
	uint8_t *blob;
	int n;

	(void)state;
	blob = record_blob(&n);
	for (int len = 0; len < n; len++) {
		sql("UPDATE record SET blob = ?1", blob, len);
		expect_refused();
	}
	blob[n] = 0;
	sql("UPDATE record SET blob = ?1", blob, n + 1);
	expect_refused();
	blob[n / 2] ^= 1;
	sql("UPDATE record SET blob = ?1", blob, n);
	expect_refused();
	blob[n / 2] ^= 1;
	sql("UPDATE record SET blob = ?1", blob, n);
	expect_opens();
	free(blob);
}

static void test_row_fields_at_caps(void **state)
{
	char s[STORE_CONFIG_MAX + 2];

	(void)state;
	memset(s, 'g', sizeof(s));
	s[STORE_GROUP_MAX + 1] = '\0';
	sql("UPDATE vtpm SET grp = ?1", s, STORE_GROUP_MAX + 1);
	expect_refused();
	sql("UPDATE vtpm SET grp = 'tenant-a'", NULL, 0);
	expect_opens();
	memset(s, 'c', sizeof(s));
	sql("UPDATE vtpm SET config = CAST(?1 AS TEXT)", s, STORE_CONFIG_MAX + 1);
	expect_refused();
	sql("UPDATE vtpm SET config = 'server=127.0.0.1:10001'", NULL, 0);
	expect_opens();
	sql("UPDATE vtpm SET uuid = ?1", "short", 5);
	expect_refused();
}

/*
 * A counter step the TPM refuses: the change is kept (reported done, as a
 * restart accepts it), the owner is told at once, no further change is
 * committed while the counter is behind, and store_catch_up closes the gap.
 */
static void test_counter_step_refused(void **state)
{
	struct mgr_record rec = { .present = true, .seq = 10 };
	uint8_t uuid[VTPM_UUID_SIZE];
	struct store *st = store_open(path, root, &ctr, 0);
	uint64_t v;

	(void)state;
	assert_non_null(st);
	memset(uuid, 0x33, sizeof(uuid));
	v = store_version(st);
	assert_true(counter == v);
	ctr_refuse = 2;
	assert_int_equal(store_put_record(st, uuid, VTPM_BLOB_PERMANENT, &rec), 0);
	assert_int_equal(ctr_behind_calls, 1);
	assert_true(store_version(st) == v + 1 && counter == v);
	/* still refused: the next change waits (never two ahead) */
	rec.seq = 11;
	assert_int_equal(store_put_record(st, uuid, VTPM_BLOB_PERMANENT, &rec), -1);
	assert_true(store_version(st) == v + 1 && counter == v);
	assert_int_equal(store_catch_up(st), 0);
	assert_true(counter == v + 1);
	assert_int_equal(store_catch_up(st), 0);	/* in step: no further increment */
	assert_true(counter == v + 1);
	assert_int_equal(store_put_record(st, uuid, VTPM_BLOB_PERMANENT, &rec), 0);
	assert_true(store_version(st) == v + 2 && counter == v + 2);
	store_close(st);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_record_blob_cut_and_extended),
		T(test_row_fields_at_caps),
		T(test_counter_step_refused),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
