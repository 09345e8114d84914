/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for devline, the manager's device-line grammar: the listener
 * cap counts listeners only, so flags= and binary= may follow four of them;
 * the endpoint rules (ctrl Unix-only, TCP only with insecure-tcp, no
 * relative or dot paths); mode=, uid=, gid= at their caps and one past;
 * and the round trip through devline_format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "devline.h"
#include "store.h"

static int parse(const char *line)
{
	struct devline d;
	char err[256];

	return devline_parse(line, &d, err, sizeof(err));
}

/* line parses, formats, and the formatted line parses to the same value */
static void round_trip(const char *line)
{
	struct devline a, b;
	char err[256], out[STORE_CONFIG_MAX + 1];

	assert_int_equal(devline_parse(line, &a, err, sizeof(err)), 0);
	assert_int_equal(devline_format(&a, out, sizeof(out)), 0);
	assert_int_equal(devline_parse(out, &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_four_listeners_then_settings(void **state)
{
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/run/a.sock,ctrl=unix:/run/a.ctrl,tpmif=/run/a.tpmif,"
				       "mssim=12000,flags=startup-clear,binary=/usr/sbin/vtpm,insecure-tcp",
				       &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.flags, "startup-clear");
	assert_string_equal(d.binary, "/usr/sbin/vtpm");
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,binary=/usr/sbin/vtpm"), 0);
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,mode=0660,uid=0,gid=0"), 0);
}

static void test_fifth_listener_refused(void **state)
{
	(void)state;
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,mssim=12000,tpmif=/d,insecure-tcp"), -1);
	assert_int_equal(parse("server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,server=unix:/e"), -1);
}

static void test_bad_values(void **state)
{
	(void)state;
	assert_int_equal(parse("server=unix:relative.sock"), -1);
	assert_int_equal(parse("server=tcp:70000,insecure-tcp"), -1);
	assert_int_equal(parse("flags=startup-everything"), -1);
	assert_int_equal(parse("server"), -1);
	assert_int_equal(parse("bogus=1"), -1);
	assert_int_equal(parse("insecure-tcp=yes"), -1);
	/* a setting given twice is refused, not overwritten */
	assert_int_equal(parse("flags=startup-clear,flags=startup-none"), -1);
	assert_int_equal(parse("binary=/usr/sbin/vtpm,binary=/usr/sbin/v"), -1);
}

/* The control channel is Unix-only; TCP data and mssim need insecure-tcp. */
static void test_tcp_rules(void **state)
{
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("ctrl=tcp:2322,insecure-tcp", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Unix-only"));
	assert_int_equal(devline_parse("server=tcp:2321", &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "insecure-tcp"));
	assert_int_equal(parse("mssim=2321"), -1);
	/* insecure-tcp may come anywhere in the line */
	assert_int_equal(devline_parse("insecure-tcp,server=tcp:2321,ctrl=unix:/run/c", &d, err, sizeof(err)), 0);
	assert_true(d.insecure_tcp);
	assert_true(devline_has_tcp(&d));
	assert_int_equal(devline_parse("mssim=2321,insecure-tcp", &d, err, sizeof(err)), 0);
	assert_true(devline_has_tcp(&d));
	/* insecure-tcp alone opens nothing */
	assert_int_equal(devline_parse("server=unix:/a,insecure-tcp", &d, err, sizeof(err)), 0);
	assert_false(devline_has_tcp(&d));
}

/* Paths are absolute and mean what they say: no . or .. component. */
static void test_paths(void **state)
{
	char path[160], line[200];

	(void)state;
	assert_int_equal(parse("server=unix:/run/vtpm/a.sock"), 0);
	assert_int_equal(parse("server=unix:/run/..a/a..sock"), 0);	/* dots inside names are fine */
	assert_int_equal(parse("server=unix:/run/.hidden"), 0);
	assert_int_equal(parse("server=unix:/run/../etc/a.sock"), -1);
	assert_int_equal(parse("server=unix:/run/vtpm/.."), -1);
	assert_int_equal(parse("server=unix:/.."), -1);
	assert_int_equal(parse("ctrl=unix:/run/./a.ctrl"), -1);
	assert_int_equal(parse("tpmif=/run/vtpm/."), -1);
	assert_int_equal(parse("binary=/usr/../bin/false"), -1);
	assert_int_equal(parse("tpmif=run/a.tpmif"), -1);
	assert_int_equal(parse("server=unix:"), -1);
	/* the path cap, DEVLINE_PATH_MAX, and one past it */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[DEVLINE_PATH_MAX] = '\0';
	snprintf(line, sizeof(line), "server=unix:%s", path);
	assert_int_equal(parse(line), 0);
	path[DEVLINE_PATH_MAX] = 'a';
	path[DEVLINE_PATH_MAX + 1] = '\0';
	snprintf(line, sizeof(line), "server=unix:%s", path);
	assert_int_equal(parse(line), -1);
}

static void test_mode(void **state)
{
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/a", &d, err, sizeof(err)), 0);
	assert_int_equal(d.mode, DEVLINE_MODE_DEFAULT);
	assert_int_equal(devline_parse("server=unix:/a,mode=0660", &d, err, sizeof(err)), 0);
	assert_int_equal(d.mode, 0660);
	assert_int_equal(devline_parse("mode=777", &d, err, sizeof(err)), 0);
	assert_int_equal(d.mode, DEVLINE_MODE_MAX);
	assert_int_equal(devline_parse("mode=0", &d, err, sizeof(err)), 0);
	assert_int_equal(d.mode, 0);
	assert_int_equal(parse("mode=1000"), -1);	/* DEVLINE_MODE_MAX + 1 */
	assert_int_equal(parse("mode=01000"), -1);
	assert_int_equal(parse("mode=04755"), -1);
	assert_int_equal(parse("mode=0680"), -1);
	assert_int_equal(parse("mode="), -1);
	assert_int_equal(parse("mode=-1"), -1);
	assert_int_equal(parse("mode=0x1ff"), -1);
	assert_int_equal(parse("mode=0600,mode=0600"), -1);
}

static void test_owner(void **state)
{
	struct devline d;
	char err[256], name[DEVLINE_NAME_MAX + 8];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/a,uid=qemu,gid=kvm", &d, err, sizeof(err)), 0);
	assert_string_equal(d.uid, "qemu");
	assert_string_equal(d.gid, "kvm");
	assert_int_equal(parse("uid=0,gid=0"), 0);
	assert_int_equal(parse("uid=4294967294"), 0);	/* DEVLINE_ID_MAX */
	assert_int_equal(parse("uid=4294967295"), -1);	/* DEVLINE_ID_MAX + 1: (uid_t)-1 */
	assert_int_equal(parse("gid=4294967295"), -1);
	assert_int_equal(parse("uid=99999999999"), -1);
	assert_int_equal(parse("uid=_apt"), 0);
	assert_int_equal(parse("uid=libvirt-qemu"), 0);
	assert_int_equal(parse("uid=-rf"), -1);
	assert_int_equal(parse("uid=1abc"), -1);
	assert_int_equal(parse("uid=a b"), -1);
	assert_int_equal(parse("uid=a:b"), -1);
	assert_int_equal(parse("uid="), -1);
	assert_int_equal(parse("gid=root,gid=root"), -1);
	/* the name cap, DEVLINE_NAME_MAX, and one past it */
	memset(name, 'q', sizeof(name));
	memcpy(name, "uid=", 4);
	name[4 + DEVLINE_NAME_MAX] = '\0';
	assert_int_equal(parse(name), 0);
	name[4 + DEVLINE_NAME_MAX] = 'q';
	name[4 + DEVLINE_NAME_MAX + 1] = '\0';
	assert_int_equal(parse(name), -1);
}

static void test_round_trip(void **state)
{
	(void)state;
	round_trip("");
	round_trip("server=unix:/run/a.sock,ctrl=unix:/run/a.ctrl,flags=startup-clear");
	round_trip("server=unix:/a,ctrl=unix:/b,tpmif=/c,mssim=12000,flags=startup-none,binary=/x,"
		   "mode=0660,uid=qemu,gid=4242,insecure-tcp");
	round_trip("server=tcp:2321,ctrl=unix:/c,insecure-tcp,mode=0");
	round_trip("uid=007,gid=kvm");
	round_trip("ctrl=unix:/c,migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4");
}

/* migrate-from= names a vTPM by UUID, once. */
static void test_migrate_from(void **state)
{
	static const uint8_t want[16] = { 0x0b, 0x4c, 0x9a, 0x1e, 0x2f, 0x3d, 0x4c, 0x5b,
					  0x8a, 0x6e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4 };
	struct devline d;
	char err[256];

	(void)state;
	assert_int_equal(devline_parse("server=unix:/a,migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4",
				       &d, err, sizeof(err)), 0);
	assert_true(d.has_migrate_from);
	assert_memory_equal(d.migrate_from, want, sizeof(want));
	assert_int_equal(devline_parse("server=unix:/a", &d, err, sizeof(err)), 0);
	assert_false(d.has_migrate_from);
	assert_int_equal(parse("migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c"), -1);
	assert_int_equal(parse("migrate-from=../../etc"), -1);
	assert_int_equal(parse("migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4,"
			       "migrate-from=0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4"), -1);
}

/* A line longer than the store keeps is refused, not cut. */
static void test_line_cap(void **state)
{
	char line[STORE_CONFIG_MAX + 2];
	size_t n;

	(void)state;
	n = (size_t)snprintf(line, sizeof(line), "server=unix:/a");
	for (; n + 1 <= STORE_CONFIG_MAX; n++)
		line[n] = ',';
	line[n] = '\0';
	assert_int_equal(parse(line), 0);	/* STORE_CONFIG_MAX bytes */
	line[n++] = ',';
	line[n] = '\0';
	assert_int_equal(parse(line), -1);	/* one more */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_listeners_then_settings),
		cmocka_unit_test(test_fifth_listener_refused),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_tcp_rules),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_migrate_from),
		cmocka_unit_test(test_line_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
