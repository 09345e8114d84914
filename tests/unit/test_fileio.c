/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_fileio: lib/fileio's refusals of what is not a regular file, in a
 * directory of its own: a FIFO (which would block a plain open forever), a
 * symlink, a directory; each read path returns at once with its errno. The
 * durable write goes through a FIFO or a hard link left at its temp name
 * without blocking and without writing through the link. Test code; trusts
 * itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fileio.h"
#include "helpers.h"

static char dir[TH_PATH_MAX];
static int dfd = -1;

static int setup(void **state)
{
	(void)state;
	th_mkdtemp(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(dfd);
	th_rmtree(dir);
	return 0;
}

static void test_regular_file_reads(void **state)
{
	static const uint8_t data[] = "state";
	uint8_t *p = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(file_write_durable(dfd, "f", data, sizeof(data), 0600), 0);
	assert_int_equal(file_check_regular(dfd, "f"), 0);
	assert_int_equal(file_read(dfd, "f", 64, &p, &n), 0);
	assert_int_equal(n, sizeof(data));
	assert_memory_equal(p, data, n);
	free(p);
	assert_int_equal(file_check_regular(dfd, "absent"), 1);
	assert_int_equal(file_read(dfd, "absent", 64, &p, &n), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(file_read(dfd, "f", sizeof(data) - 1, &p, &n), -1);
	assert_int_equal(errno, EBADMSG);
}

/* Each special file is refused, at once (a FIFO without a writer would block a plain open). */
static void test_special_files_refused(void **state)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int fd;

	(void)state;
	assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
	assert_int_equal(mkdirat(dfd, "sub", 0700), 0);
	assert_int_equal(file_write_durable(dfd, "target", (const uint8_t *)"x", 1, 0600), 0);
	assert_int_equal(symlinkat("target", dfd, "link"), 0);
	assert_int_equal(file_read(dfd, "fifo", 64, &p, &n), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(file_check_regular(dfd, "fifo"), -1);
	assert_int_equal(file_read(dfd, "sub", 64, &p, &n), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(file_read(dfd, "link", 64, &p, &n), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(file_open_regular(dfd, "fifo", true), -1);
	fd = file_open_regular(dfd, "link", true);	/* the operator's file may be a link */
	assert_true(fd >= 0);
	close(fd);
	assert_string_equal(file_strerror(EBADMSG), "not a regular file, or too large");
}

/* A FIFO or a hard link at the temp name: the write neither blocks nor writes through. */
static void test_write_over_left_temp(void **state)
{
	char path[TH_PATH_MAX + 32];
	uint8_t *p = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(mkfifoat(dfd, ".s.tmp", 0600), 0);
	assert_int_equal(file_write_durable(dfd, "s", (const uint8_t *)"one", 3, 0600), 0);
	assert_int_equal(file_write_durable(dfd, "victim", (const uint8_t *)"keep", 4, 0600), 0);
	assert_int_equal(linkat(dfd, "victim", dfd, ".s.tmp", 0), 0);
	assert_int_equal(file_write_durable(dfd, "s", (const uint8_t *)"two", 3, 0600), 0);
	assert_int_equal(file_read(dfd, "s", 64, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "two", 3);
	free(p);
	snprintf(path, sizeof(path), "%s/victim", dir);
	p = th_read_file(path, &n);
	assert_non_null(p);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "keep", 4);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regular_file_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_over_left_temp, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
