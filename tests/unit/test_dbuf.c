/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_dbuf: the capped connection queues. A peer decides how much is
 * queued, so the cap must hold exactly: max bytes fit, one more is ENOBUFS
 * with the queue unchanged, and the storage never grows beyond max.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "dbuf.h"

static void test_append_consume(void **state)
{
	struct dbuf d;

	(void)state;
	dbuf_init(&d, 64);
	assert_int_equal(d.len, 0);
	assert_int_equal(dbuf_append(&d, "hello", 5), 0);
	assert_int_equal(dbuf_append(&d, " world", 6), 0);
	assert_int_equal(d.len, 11);
	assert_memory_equal(d.p, "hello world", 11);
	dbuf_consume(&d, 6);
	assert_int_equal(d.len, 5);
	assert_memory_equal(d.p, "world", 5);
	dbuf_consume(&d, 0);
	assert_int_equal(d.len, 5);
	dbuf_consume(&d, 100);	/* more than queued: empties it */
	assert_int_equal(d.len, 0);
	assert_int_equal(dbuf_append(&d, "again", 5), 0);
	assert_memory_equal(d.p, "again", 5);
	dbuf_free(&d);
	assert_null(d.p);
	assert_int_equal(d.len, 0);
	assert_int_equal(d.cap, 0);
	/* usable after free */
	assert_int_equal(dbuf_append(&d, "x", 1), 0);
	dbuf_free(&d);
}

static void test_cap(void **state)
{
	static uint8_t src[1001];
	struct dbuf d;

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)i;
	dbuf_init(&d, 1000);
	assert_int_equal(dbuf_append(&d, src, 1000), 0);
	assert_int_equal(d.len, 1000);
	assert_true(d.cap <= d.max);
	errno = 0;
	assert_int_equal(dbuf_append(&d, src, 1), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(d.len, 1000);
	assert_memory_equal(d.p, src, 1000);
	errno = 0;
	assert_null(dbuf_reserve(&d, 1));
	assert_int_equal(errno, ENOBUFS);
	/* room comes back as bytes are consumed */
	dbuf_consume(&d, 10);
	assert_int_equal(dbuf_append(&d, src, 10), 0);
	assert_int_equal(d.len, 1000);
	assert_memory_equal(d.p, src + 10, 990);
	assert_memory_equal(d.p + 990, src, 10);
	assert_int_equal(dbuf_append(&d, src, 1), -1);
	dbuf_free(&d);

	/* one request larger than the cap is refused outright */
	dbuf_init(&d, 1000);
	errno = 0;
	assert_int_equal(dbuf_append(&d, src, 1001), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(d.len, 0);
	assert_null(dbuf_reserve(&d, SIZE_MAX));
	dbuf_free(&d);
}

/* Growth by small appends never allocates beyond the cap. */
static void test_growth_stays_under_cap(void **state)
{
	struct dbuf d;
	uint8_t b = 0;

	(void)state;
	dbuf_init(&d, 700);
	for (size_t i = 0; i < 700; i++, b++) {
		assert_int_equal(dbuf_append(&d, &b, 1), 0);
		assert_true(d.cap <= 700);
		assert_true(d.cap >= d.len);
	}
	assert_int_equal(dbuf_append(&d, &b, 1), -1);
	for (size_t i = 0; i < 700; i++)
		assert_int_equal(d.p[i], (uint8_t)i);
	dbuf_free(&d);
}

/* The server reads straight into reserved room, then commits what arrived. */
static void test_reserve_then_commit(void **state)
{
	struct dbuf d;
	uint8_t *p;

	(void)state;
	dbuf_init(&d, 100);
	assert_int_equal(dbuf_append(&d, "ab", 2), 0);
	p = dbuf_reserve(&d, 98);
	assert_non_null(p);
	assert_ptr_equal(p, d.p + 2);
	assert_int_equal(d.len, 2);	/* reserving queues nothing */
	memcpy(p, "cd", 2);
	d.len += 2;
	assert_memory_equal(d.p, "abcd", 4);
	assert_null(dbuf_reserve(&d, 97));
	dbuf_free(&d);
}

/* Appending nothing succeeds, also to a queue that never held anything. */
static void test_append_empty(void **state)
{
	struct dbuf d;

	(void)state;
	dbuf_init(&d, 16);
	assert_int_equal(dbuf_append(&d, "x", 0), 0);
	assert_int_equal(d.len, 0);
	assert_int_equal(dbuf_append(&d, "x", 1), 0);
	assert_int_equal(dbuf_append(&d, "y", 0), 0);
	assert_int_equal(d.len, 1);
	dbuf_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_consume),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_growth_stays_under_cap),
		cmocka_unit_test(test_reserve_then_commit),
		cmocka_unit_test(test_append_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
