/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_log: the repeat limit and the line budget. A peer that makes one
 * failure happen in a loop must cost a counter, not a line per turn; lines
 * that differ all go out; the count of what was held back is written.
 * The log goes to a pipe the test reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"

static int rd = -1;

/* Everything logged since the last call, as one string. */
static char *drain(void)
{
	static char buf[65536];
	ssize_t n = read(rd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static int setup(void **state)
{
	int p[2];

	(void)state;
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	rd = p[0];
	log_init("test", "id", p[1], LOG_INFO);
	return 0;
}

static void test_repeats_held_back(void **state)
{
	char *out;

	(void)state;
	for (int i = 0; i < 1000; i++)
		log_warn("accept: %s", "Too many open files");
	out = drain();
	assert_int_equal(count(out, "accept: Too many open files\n"), LOG_REPEAT_BURST);
	assert_int_equal(count(out, "suppressed"), 0);	/* not until the window ends */
	assert_non_null(strstr(out, "test[id] warning: accept: Too many open files\n"));
}

static void test_different_lines_all_written(void **state)
{
	char *out;

	(void)state;
	for (int i = 0; i < 200; i++)
		log_info("vtpm %d started", i);
	out = drain();
	assert_int_equal(count(out, " started\n"), 200);
	/* info lines are events, each one logged: only failures are held back */
	for (int i = 0; i < 20; i++)
		log_info("frontend connected");
	assert_int_equal(count(drain(), "frontend connected\n"), 20);
	/* the level is part of a line: the same text as an error is not a repeat */
	log_err("accept: %s", "Too many open files");
	assert_int_equal(count(drain(), "accept: Too many open files\n"), 1);
	log_debug("above the level: %d", 1);
	assert_string_equal(drain(), "");
}

static void test_budget(void **state)
{
	struct log_budget b = { 0 };
	uint64_t dropped = 99;
	int taken = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		taken += log_budget_take(&b, 10, 0, &dropped);
	assert_int_equal(taken, 10);
	assert_int_equal(dropped, 0);
	assert_int_equal(b.dropped, 90);
	/* refilled: the next line carries the count of the dropped ones */
	b.at -= 1000;
	assert_true(log_budget_take(&b, 10, 5, &dropped));
	assert_int_equal(dropped, 90);
	assert_int_equal(b.dropped, 0);
	assert_int_equal(b.tokens, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeats_held_back),
		cmocka_unit_test(test_different_lines_all_written),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
