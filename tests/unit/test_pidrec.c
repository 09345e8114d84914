/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pidrec: the manager's records of running vtpms and the sweep at its
 * start. A child of this test stands in for a vtpm an earlier manager
 * left: a record that matches it gets it killed; a record that names its
 * pid with another start time (a recycled pid), another uid or another
 * boot does not; every record is removed either way; a record of a
 * process already gone is just removed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "helpers.h"
#include "pidrec.h"

struct fixture {
	char dir[TH_PATH_MAX];
	int datafd;
	pid_t child;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	th_mkdtemp(f->dir);
	f->datafd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->datafd >= 0);
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		for (;;)
			pause();
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kill(f->child, SIGKILL);
	(void)waitpid(f->child, NULL, 0);
	close(f->datafd);
	th_rmtree(f->dir);
	free(f);
	return 0;
}

/* The record file of name, rewritten with one field (1-based) replaced. */
static void rewrite_field(struct fixture *f, const char *name, int field, const char *value)
{
	char path[TH_PATH_MAX + 64], line[256], out[256], *save = NULL;
	size_t n;
	uint8_t *p;
	int i = 1, len = 0;

	snprintf(path, sizeof(path), "%s/pids/%s", f->dir, name);
	p = th_read_file(path, &n);
	assert_non_null(p);
	assert_true(n < sizeof(line));
	memcpy(line, p, n);
	line[n] = '\0';
	free(p);
	for (char *t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save), i++)
		len += snprintf(out + len, sizeof(out) - (size_t)len, "%s%s", i > 1 ? " " : "",
				i == field ? value : t);
	len += snprintf(out + len, sizeof(out) - (size_t)len, "\n");
	assert_int_equal(th_write_file(path, out, (size_t)len), 0);
}

static bool child_alive(struct fixture *f)
{
	int status;

	return waitpid(f->child, &status, WNOHANG) == 0;
}

static bool no_records(struct fixture *f)
{
	char path[TH_PATH_MAX + 8];
	struct stat st;

	snprintf(path, sizeof(path), "%s/pids", f->dir);
	return stat(path, &st) == 0 && st.st_nlink == 2 && rmdir(path) == 0;
}

static void test_matching_record_is_stopped(void **state)
{
	struct fixture *f = *state;
	int status;

	assert_int_equal(pidrec_add(f->datafd, "a", f->child, getuid()), 0);
	assert_int_equal(pidrec_sweep(f->datafd), 1);
	assert_int_equal(waitpid(f->child, &status, 0), f->child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(no_records(f));
}

static void test_mismatches_are_left_alone(void **state)
{
	struct fixture *f = *state;
	char uid[32];

	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid() + 1);
	assert_int_equal(pidrec_add(f->datafd, "recycled", f->child, getuid()), 0);
	rewrite_field(f, "recycled", 2, "1");	/* started at another time */
	assert_int_equal(pidrec_add(f->datafd, "other-uid", f->child, getuid()), 0);
	rewrite_field(f, "other-uid", 3, uid);
	assert_int_equal(pidrec_add(f->datafd, "other-boot", f->child, getuid()), 0);
	rewrite_field(f, "other-boot", 4, "00000000-0000-0000-0000-000000000000");
	assert_int_equal(pidrec_add(f->datafd, "garbage", f->child, getuid()), 0);
	rewrite_field(f, "garbage", 1, "x");
	assert_int_equal(pidrec_sweep(f->datafd), 0);
	assert_true(child_alive(f));
	assert_true(no_records(f));
}

static void test_gone_and_dropped(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pidrec_sweep(f->datafd), 0);	/* no records at all */
	assert_int_equal(pidrec_add(f->datafd, "dropped", f->child, getuid()), 0);
	pidrec_drop(f->datafd, "dropped");
	assert_int_equal(pidrec_add(f->datafd, "gone", f->child, getuid()), 0);
	kill(f->child, SIGKILL);
	assert_int_equal(waitpid(f->child, NULL, 0), f->child);
	assert_int_equal(pidrec_sweep(f->datafd), 0);
	assert_true(no_records(f));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_matching_record_is_stopped),
		T(test_mismatches_are_left_alone),
		T(test_gone_and_dropped),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
