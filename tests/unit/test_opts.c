/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_opts: swtpm-style command lines as libvirt, QEMU scripts and the
 * integration tests write them: defaults per subcommand, endpoint variants,
 * flags, and each way a line is rejected (typo'd key, missing state dir,
 * out-of-range values, nothing to serve).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opts.h"

#define ARGS_MAX	32

/*
 * Parses a space-separated command line (no quoting; tests need none). The
 * strings are kept apart from argv because getopt permutes argv.
 */
static int parse(struct opts *o, const char *line)
{
	char *copy = strdup(line), *argv[ARGS_MAX + 1], *save = NULL;
	int argc = 0, rc;

	assert_non_null(copy);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		assert_true(argc < ARGS_MAX);
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	rc = opts_parse(o, argc, argv);
	free(copy);	/* opts holds copies of every string it keeps */
	return rc;
}

static void expect_ok(struct opts *o, const char *line)
{
	if (parse(o, line) != 0)
		fail_msg("rejected: %s", line);
}

static void expect_error(const char *line)
{
	struct opts o;

	if (parse(&o, line) != -1)
		fail_msg("accepted: %s", line);
	opts_free(&o);
}

static int clean_env(void **state)
{
	(void)state;
	unsetenv("TPM_PATH");
	unsetenv("TPM_PORT");
	return 0;
}

static void test_socket_defaults(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm socket --tpmstate dir=/tmp/st --ctrl type=unixio,path=/tmp/c.sock");
	assert_false(o.tpm2);			/* swtpm's default */
	assert_string_equal(o.state_dir, "/tmp/st");
	assert_int_equal(o.ctrl.type, EP_UNIX);
	assert_string_equal(o.ctrl.path, "/tmp/c.sock");
	assert_int_equal(o.ctrl.fd, -1);
	assert_int_equal(o.ctrl.clientfd, -1);
	assert_int_equal(o.ctrl.mode, -1);
	assert_int_equal(o.server.type, EP_NONE);
	assert_int_equal(o.mssim_port, 0);
	assert_false(o.not_need_init);
	assert_int_equal(o.startup, ENGINE_STARTUP_NONE);
	assert_int_equal(o.pid_fd, -1);
	assert_int_equal(o.log_fd, -1);
	assert_int_equal(o.log_level, -1);
	assert_false(o.terminate);
	assert_false(o.daemonize);
	opts_free(&o);
}

static void test_versions(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm serve --tpmstate dir=/s --server type=tcp,port=2321");
	assert_true(o.tpm2);
	opts_free(&o);
	expect_ok(&o, "vtpm socket --tpm2 --tpmstate dir=/s --server type=tcp,port=2321");
	assert_true(o.tpm2);
	opts_free(&o);
	expect_ok(&o, "vtpm serve --tpm1.2 --tpmstate dir=/s --server type=tcp,port=2321");
	assert_false(o.tpm2);
	opts_free(&o);
}

static void test_server_variants(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=tcp,port=2321,bindaddr=0.0.0.0,disconnect");
	assert_int_equal(o.server.type, EP_TCP);
	assert_int_equal(o.server.port, 2321);
	assert_string_equal(o.server.bindaddr, "0.0.0.0");
	assert_true(o.server.disconnect);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=tcp");
	assert_int_equal(o.server.port, 6545);	/* swtpm's default data port */
	assert_null(o.server.bindaddr);
	opts_free(&o);

	setenv("TPM_PORT", "7001", 1);
	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=tcp");
	assert_int_equal(o.server.port, 7001);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s -p 2400");
	assert_int_equal(o.server.type, EP_TCP);
	assert_int_equal(o.server.port, 2400);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --port 2401");
	assert_int_equal(o.server.port, 2401);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=unixio,path=/run/d.sock,mode=0660");
	assert_int_equal(o.server.type, EP_UNIX);
	assert_string_equal(o.server.path, "/run/d.sock");
	assert_int_equal(o.server.mode, 0660);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=unixio,fd=5");
	assert_int_equal(o.server.fd, 5);
	assert_null(o.server.path);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --server type=tcp,fd=6");
	assert_int_equal(o.server.fd, 6);
	assert_int_equal(o.server.port, 0);	/* a handed-in socket needs no port */
	opts_free(&o);
}

/* swtpm's TPM_PORT fallback is operator input like --port, and checked as strictly. */
static void test_env_port_checked(void **state)
{
	static const char *const bad[] = { "0", "65536", "70000", "abc", "12x", "" };

	struct opts o;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("TPM_PORT", bad[i], 1);
		rc = parse(&o, "vtpm socket --tpmstate dir=/s --server type=tcp");
		opts_free(&o);
		if (rc != -1)
			fail_msg("TPM_PORT='%s' accepted as port %d", bad[i], o.server.port);
	}
}

static void test_server_errors(void **state)
{
	(void)state;
	expect_error("vtpm socket --tpmstate dir=/s --server type=udp,port=1");
	expect_error("vtpm socket --tpmstate dir=/s --server type,port=1");
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio");
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,port=0");
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,port=65536");
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,port=12x");
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,port=");
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,port");
	expect_error("vtpm socket --tpmstate dir=/s -p 0");
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio,path=/x,mode=0980");
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio,path=/x,mode=010000");
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio,fd=-1");
	/* keys that belong to the control channel */
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio,path=/x,terminate");
	expect_error("vtpm socket --tpmstate dir=/s --server type=unixio,clientfd=3");
	/* a typo is an error, not an ignored setting */
	expect_error("vtpm socket --tpmstate dir=/s --server type=tcp,prot=2321");
}

static void test_ctrl_variants(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm socket --tpmstate dir=/s --ctrl type=unixio,path=/c.sock,mode=0600,terminate");
	assert_int_equal(o.ctrl.type, EP_UNIX);
	assert_string_equal(o.ctrl.path, "/c.sock");
	assert_int_equal(o.ctrl.mode, 0600);
	assert_true(o.ctrl.terminate);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --ctrl type=tcp,port=2322,bindaddr=127.0.0.2");
	assert_int_equal(o.ctrl.type, EP_TCP);
	assert_int_equal(o.ctrl.port, 2322);
	assert_string_equal(o.ctrl.bindaddr, "127.0.0.2");
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --ctrl type=unixio,clientfd=7");
	assert_int_equal(o.ctrl.clientfd, 7);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s --ctrl type=tcp,fd=8");
	assert_int_equal(o.ctrl.fd, 8);
	opts_free(&o);

	/* QEMU's usual pair */
	expect_ok(&o, "vtpm socket --tpm2 --tpmstate dir=/s --ctrl type=unixio,path=/c --server type=unixio,path=/d");
	assert_int_equal(o.ctrl.type, EP_UNIX);
	assert_int_equal(o.server.type, EP_UNIX);
	assert_string_equal(o.server.path, "/d");
	opts_free(&o);
}

static void test_ctrl_errors(void **state)
{
	(void)state;
	expect_error("vtpm socket --tpmstate dir=/s --ctrl type=tcp");
	expect_error("vtpm socket --tpmstate dir=/s --ctrl type=unixio");
	expect_error("vtpm socket --tpmstate dir=/s --ctrl type=unixio,path=/c,disconnect");
	expect_error("vtpm socket --tpmstate dir=/s --ctrl type=unixio,path=/c,bogus=1");
}

static void test_flags(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm socket --tpmstate dir=/s -p 1 --flags not-need-init");
	assert_true(o.not_need_init);
	assert_int_equal(o.startup, ENGINE_STARTUP_NONE);
	opts_free(&o);

	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --flags startup-clear");
	assert_true(o.not_need_init);		/* implied, as in swtpm */
	assert_int_equal(o.startup, ENGINE_STARTUP_CLEAR);
	opts_free(&o);

	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --flags not-need-init,startup-state");
	assert_int_equal(o.startup, ENGINE_STARTUP_STATE);
	opts_free(&o);

	expect_ok(&o, "vtpm socket --tpmstate dir=/s -p 1 --flags startup-deactivated");
	assert_int_equal(o.startup, ENGINE_STARTUP_DEACTIVATED);
	opts_free(&o);

	expect_error("vtpm serve --tpmstate dir=/s -p 1 --flags startup-deactivated");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --flags startup-sometimes");

	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --locality reject-locality-4,allow-set-locality -t -d");
	assert_true(o.reject_locality_4);
	assert_true(o.allow_set_locality);
	assert_true(o.terminate);
	assert_true(o.daemonize);
	opts_free(&o);
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --locality reject-locality-5");
}

static void test_tpmstate(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm serve --tpmstate backend-uri=dir:///var/lib/t,mode=0640,lock,fsync -p 1");
	assert_string_equal(o.state_dir, "/var/lib/t");
	assert_int_equal(o.state_mode, 0640);
	opts_free(&o);
	expect_error("vtpm serve --tpmstate backend-uri=file:///var/lib/t -p 1");
	expect_error("vtpm serve --tpmstate dir=/s,mode=01777 -p 1");
	expect_error("vtpm serve --tpmstate dir=/s,encrypt=1 -p 1");
}

/* the state budget (vtpmmgr passes vtpm_state_max) and swtpm's --seccomp */
static void test_budget_seccomp(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm serve --tpmstate dirfd=6,max-size=4194304 -p 1");
	assert_int_equal(o.state_fd, 6);
	assert_true(o.state_max == 4194304u);
	assert_int_equal(o.seccomp, OPTS_SECCOMP_KILL);	/* swtpm's default */
	opts_free(&o);
	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --seccomp action=log");
	assert_true(o.state_max == 0);
	assert_int_equal(o.seccomp, OPTS_SECCOMP_LOG);
	opts_free(&o);
	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --seccomp action=none");
	assert_int_equal(o.seccomp, OPTS_SECCOMP_NONE);
	opts_free(&o);
	expect_error("vtpm serve --tpmstate dir=/s,max-size=-1 -p 1");
	expect_error("vtpm serve --tpmstate dir=/s,max-size=1k -p 1");
	expect_error("vtpm serve --tpmstate dir=/s,max-size= -p 1");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --seccomp action=trap");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --seccomp action");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --seccomp profile=x");
}

static void test_missing_tpmstate(void **state)
{
	struct opts o;

	(void)state;
	expect_error("vtpm serve --server type=tcp,port=2321");
	/* swtpm's environment fallback */
	setenv("TPM_PATH", "/from/env", 1);
	expect_ok(&o, "vtpm serve --server type=tcp,port=2321");
	assert_string_equal(o.state_dir, "/from/env");
	opts_free(&o);
}

static void test_log_pid_mssim(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm serve --tpmstate dir=/s --mssim port=2321,bindaddr=0.0.0.0 "
		      "--log file=/l,level=5,truncate,prefix=x --pid file=/p");
	assert_int_equal(o.mssim_port, 2321);
	assert_string_equal(o.mssim_bindaddr, "0.0.0.0");
	assert_int_equal(o.server.type, EP_NONE);	/* mssim alone is something to serve */
	assert_string_equal(o.log_file, "/l");
	assert_int_equal(o.log_level, 5);
	assert_true(o.log_truncate);
	assert_string_equal(o.pid_file, "/p");
	opts_free(&o);

	expect_ok(&o, "vtpm serve --tpmstate dir=/s -p 1 --log fd=2 --pid fd=9");
	assert_int_equal(o.log_fd, 2);
	assert_int_equal(o.pid_fd, 9);
	opts_free(&o);

	expect_error("vtpm serve --tpmstate dir=/s --mssim port=65535");	/* platform port +1 */
	expect_error("vtpm serve --tpmstate dir=/s --mssim port=2321,path=/x");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --log level=21");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --log colour");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --pid path=/p");
}

static void test_command_line_errors(void **state)
{
	(void)state;
	expect_error("vtpm");
	expect_error("vtpm chardev --tpmstate dir=/s -p 1");
	expect_error("vtpm serve --tpmstate dir=/s");			/* nothing to serve */
	expect_error("vtpm serve --tpmstate dir=/s -p 1 extra");
	expect_error("vtpm serve --tpmstate dir=/s -p 1 --no-such-option");
	expect_error("vtpm serve --tpmstate");				/* missing value */
}

static void test_help_version_caps(void **state)
{
	struct opts o;

	(void)state;
	expect_ok(&o, "vtpm --help");
	assert_true(o.help);
	opts_free(&o);
	expect_ok(&o, "vtpm -v");
	assert_true(o.version);
	opts_free(&o);
	/* no state directory needed just to print */
	expect_ok(&o, "vtpm socket --tpm2 --print-capabilities");
	assert_true(o.print_capabilities);
	assert_true(o.tpm2);
	opts_free(&o);
	expect_ok(&o, "vtpm serve -h");
	assert_true(o.help);
	opts_free(&o);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, clean_env)
	const struct CMUnitTest tests[] = {
		T(test_socket_defaults),
		T(test_versions),
		T(test_server_variants),
		T(test_env_port_checked),
		T(test_server_errors),
		T(test_ctrl_variants),
		T(test_ctrl_errors),
		T(test_flags),
		T(test_tpmstate),
		T(test_budget_seccomp),
		T(test_missing_tpmstate),
		T(test_log_pid_mssim),
		T(test_command_line_errors),
		T(test_help_version_caps),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
