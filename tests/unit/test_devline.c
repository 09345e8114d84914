/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for devline, the manager's device-line grammar: the listener
 * cap counts listeners only, so flags= and binary= may follow four of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devline.h"

static int parse(const char *line)
{
	struct devline d;
	char err[256];

	return devline_parse(line, &d, err, sizeof(err));
}

static void test_four_listeners_then_settings(void **state)
{
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/run/a.sock,ctrl=unix:/run/a.ctrl,tpmif=/run/a.tpmif,"
				       "mssim=12000,flags=startup-clear,binary=/usr/sbin/vtpm",
				       &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.flags, "startup-clear");
	assert_string_equal(d.binary, "/usr/sbin/vtpm");
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,binary=/usr/sbin/vtpm"), 0);
}

static void test_fifth_listener_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,mssim=12000,tpmif=/d"), -1);
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,server=unix:/e"), -1);
}

static void test_bad_values(void **state)
{
	(void)state;
	assert_int_equal(parse("server=unix:relative.sock"), -1);
	assert_int_equal(parse("server=tcp:70000"), -1);
	assert_int_equal(parse("flags=startup-everything"), -1);
	assert_int_equal(parse("server"), -1);
	assert_int_equal(parse("bogus=1"), -1);
}

/* migrate-from= names a vTPM by UUID, nothing else; it counts as no listener. */
static void test_migrate_from(void **state)
{
	static const uint8_t want[16] = { 0x0b, 0x4c, 0x9a, 0x1e, 0x2f, 0x3d, 0x4c, 0x5b,
					  0x8a, 0x6e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4 };
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,"
				       "migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4",
				       &d, err, sizeof(err)), 0);
	assert_true(d.has_migrate_from);
	assert_memory_equal(d.migrate_from, want, sizeof(want));
	assert_int_equal(devline_parse("server=unix:/a", &d, err, sizeof(err)), 0);
	assert_false(d.has_migrate_from);
	assert_int_equal(parse("migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c"), -1);
	assert_int_equal(parse("migrate-from=../../etc"), -1);
	assert_int_equal(parse("migrate-from="), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_listeners_then_settings),
		cmocka_unit_test(test_fifth_listener_refused),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_migrate_from),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
