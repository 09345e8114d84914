/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_sock: what sock_listen_unix does with whatever is already at its
 * path. A socket left by an earlier run is replaced; a regular file, a FIFO
 * or a directory is refused with EEXIST and left exactly as it was (an
 * operator's typo in a socket path must not delete their file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "sock.h"

static char dir[TH_PATH_MAX], path[TH_PATH_MAX + 16];

static int setup(void **state)
{
	(void)state;
	th_mkdtemp(dir);
	snprintf(path, sizeof(path), "%s/s", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_rmtree(dir);
	return 0;
}

static void test_stale_socket_replaced(void **state)
{
	int a, b;
	struct stat st;

	(void)state;
	a = sock_listen_unix(path, 0600);
	assert_true(a >= 0);
	close(a);	/* the file stays behind, as after a kill -9 */
	b = sock_listen_unix(path, 0600);
	assert_true(b >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	close(b);
}

static void test_regular_file_kept(void **state)
{
	static const char text[] = "an operator's file";
	char back[sizeof(text)] = { 0 };
	int fd;

	(void)state;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text)), (int)sizeof(text));
	close(fd);
	errno = 0;
	assert_int_equal(sock_listen_unix(path, 0600), -1);
	assert_int_equal(errno, EEXIST);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), (int)sizeof(text));
	close(fd);
	assert_memory_equal(back, text, sizeof(text));
}

static void test_fifo_and_directory_kept(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(sock_listen_unix(path, 0600), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(sock_listen_unix(path, 0600), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regular_file_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_directory_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
