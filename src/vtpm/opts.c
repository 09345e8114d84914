/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * opts: command-line parsing. swtpm's option values are comma-separated
 * key=value lists ("type=unixio,path=/run/x.sock,mode=0600"); one parser
 * serves them all, and each option lists the keys it accepts so a typo is
 * an error, not a silently ignored setting.
 */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_int(const char *opt, const char *key, const char *v, int base, long min, long max,
		     int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v ? v : "", &end, base);
	if (!v || !*v || *end || errno || n < min || n > max) {
		fprintf(stderr, "vtpm: --%s: bad value for %s: '%s'\n", opt, key, v ? v : "");
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v ? v : "");
	return *dst ? 0 : -1;
}

/* Calls fn for each key[=value] of a comma-separated list. */
static int each_kv(const char *opt, const char *arg, void *ctx,
		   int (*fn)(const char *opt, char *key, char *val, void *ctx))
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		rc = fn(opt, tok, eq, ctx);
	}
	free(copy);
	return rc;
}

static int unknown_key(const char *opt, const char *key)
{
	fprintf(stderr, "vtpm: --%s: unknown or unsupported parameter '%s'\n", opt, key);
	return -1;
}

static int endpoint_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct endpoint *ep = ctx;

	if (!strcmp(key, "type")) {
		if (val && !strcmp(val, "tcp"))
			ep->type = EP_TCP;
		else if (val && !strcmp(val, "unixio"))
			ep->type = EP_UNIX;
		else {
			fprintf(stderr, "vtpm: --%s: type must be tcp or unixio\n", opt);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "path"))
		return set_str(&ep->path, val);
	if (!strcmp(key, "bindaddr"))
		return set_str(&ep->bindaddr, val);
	if (!strcmp(key, "port"))
		return parse_int(opt, key, val, 10, 1, 65535, &ep->port);
	if (!strcmp(key, "fd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &ep->fd);
	if (!strcmp(key, "clientfd") && !strcmp(opt, "ctrl"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &ep->clientfd);
	if (!strcmp(key, "mode"))
		return parse_int(opt, key, val, 8, 0, 07777, &ep->mode);
	if (!strcmp(key, "disconnect") && !strcmp(opt, "server")) {
		ep->disconnect = true;
		return 0;
	}
	if (!strcmp(key, "terminate") && !strcmp(opt, "ctrl")) {
		ep->terminate = true;
		return 0;
	}
	return unknown_key(opt, key);
}

static int tpmstate_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "dir"))
		return set_str(&o->state_dir, val);
	if (!strcmp(key, "dirfd")) {
		if (parse_int(opt, key, val, 10, 0, 1 << 20, &o->state_fd) < 0)
			return -1;
		return set_str(&o->state_dir, "(handed in)");
	}
	if (!strcmp(key, "backend-uri")) {
		if (!val || strncmp(val, "dir://", 6) != 0) {
			fprintf(stderr, "vtpm: --tpmstate: only dir:// backends are supported\n");
			return -1;
		}
		return set_str(&o->state_dir, val + 6);
	}
	if (!strcmp(key, "mode"))
		return parse_int(opt, key, val, 8, 0, 0777, &o->state_mode);
	if (!strcmp(key, "max-size")) {
		char *end;

		errno = 0;
		o->state_max = strtoull(val ? val : "", &end, 10);
		if (!val || !*val || *end || errno || *val == '-') {
			fprintf(stderr, "vtpm: --tpmstate: bad value for max-size: '%s'\n", val ? val : "");
			return -1;
		}
		return 0;
	}
	/* vtpm always locks the directory and fsyncs every write */
	if (!strcmp(key, "lock") || !strcmp(key, "fsync"))
		return 0;
	return unknown_key(opt, key);
}

static int flags_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;
	static const struct { const char *name; enum engine_startup su; } su[] = {
		{ "startup-clear", ENGINE_STARTUP_CLEAR },
		{ "startup-state", ENGINE_STARTUP_STATE },
		{ "startup-deactivated", ENGINE_STARTUP_DEACTIVATED },
		{ "startup-none", ENGINE_STARTUP_NONE },
	};

	(void)val;
	if (!strcmp(key, "not-need-init")) {
		o->not_need_init = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(su) / sizeof(su[0]); i++) {
		if (!strcmp(key, su[i].name)) {
			o->startup = su[i].su;
			o->not_need_init = true;	/* startup-* implies it, as in swtpm */
			return 0;
		}
	}
	return unknown_key(opt, key);
}

static int locality_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	(void)val;
	if (!strcmp(key, "reject-locality-4"))
		o->reject_locality_4 = true;
	else if (!strcmp(key, "allow-set-locality"))
		o->allow_set_locality = true;
	else
		return unknown_key(opt, key);
	return 0;
}

static int pid_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "file"))
		return set_str(&o->pid_file, val);
	if (!strcmp(key, "fd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->pid_fd);
	return unknown_key(opt, key);
}

static int log_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "file"))
		return set_str(&o->log_file, val);
	if (!strcmp(key, "fd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->log_fd);
	if (!strcmp(key, "level"))
		return parse_int(opt, key, val, 10, 0, 20, &o->log_level);
	if (!strcmp(key, "truncate")) {
		o->log_truncate = true;
		return 0;
	}
	if (!strcmp(key, "prefix"))
		return 0;	/* lines carry vtpm's own role prefix */
	return unknown_key(opt, key);
}

static int mssim_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "port"))
		return parse_int(opt, key, val, 10, 1, 65534, &o->mssim_port);
	if (!strcmp(key, "bindaddr"))
		return set_str(&o->mssim_bindaddr, val);
	if (!strcmp(key, "cmdfd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->mssim_fds[0]);
	if (!strcmp(key, "platfd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->mssim_fds[1]);
	return unknown_key(opt, key);
}

static int tpmif_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "path"))
		return set_str(&o->tpmif_path, val);
	if (!strcmp(key, "mode"))
		return parse_int(opt, key, val, 8, 0, 07777, &o->tpmif_mode);
	if (!strcmp(key, "fd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->tpmif_fd);
	return unknown_key(opt, key);
}

static int manager_kv(const char *opt, char *key, char *val, void *ctx)
{
	struct opts *o = ctx;

	if (!strcmp(key, "fd"))
		return parse_int(opt, key, val, 10, 0, 1 << 20, &o->manager_fd);
	return unknown_key(opt, key);
}

static int seccomp_kv(const char *opt, char *key, char *val, void *ctx)
{
	static const char *const actions[] = { [OPTS_SECCOMP_KILL] = "kill", [OPTS_SECCOMP_LOG] = "log",
					       [OPTS_SECCOMP_NONE] = "none" };
	struct opts *o = ctx;

	if (strcmp(key, "action"))
		return unknown_key(opt, key);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (val && !strcmp(val, actions[i])) {
			o->seccomp = (enum opts_seccomp)i;
			return 0;
		}
	fprintf(stderr, "vtpm: --seccomp: action must be none, log or kill\n");
	return -1;
}

static void endpoint_init(struct endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->fd = ep->clientfd = ep->mode = -1;
}

void opts_usage(const char *prog)
{
	printf("Usage: %s socket|serve [options]\n"
	       "\n"
	       "  socket   swtpm-compatible command line (TPM 1.2 unless --tpm2)\n"
	       "  serve    the same options, TPM 2.0 unless --tpm1.2\n"
	       "\n"
	       "  --tpm2 | --tpm1.2              TPM version\n"
	       "  --tpmstate dir=DIR[,mode=0600] state directory (locked; every write fsync'd);\n"
	       "                                 dirfd=N: a directory descriptor handed in;\n"
	       "                                 max-size=BYTES: refuse writes past this size\n"
	       "  --server type=tcp[,port=P][,bindaddr=A][,fd=N][,disconnect]\n"
	       "  --server type=unixio[,path=P][,fd=N][,mode=0770]\n"
	       "                                 data channel (TPM commands, optional MSSIM prefix)\n"
	       "  -p, --port P                   same as --server type=tcp,port=P\n"
	       "  --ctrl type=tcp|unixio[,port=P|,path=P][,bindaddr=A][,fd=N|,clientfd=N]\n"
	       "         [,mode=0770][,terminate] control channel (swtpm tpm_ioctl protocol)\n"
	       "  --mssim port=P[,bindaddr=A]|cmdfd=N,platfd=M  mssim protocol: command port P,\n"
	       "                                 platform port P+1 (loopback by default)\n"
	       "  --tpmif path=P[,mode=0770]|fd=N  tpmif backend: frontends rendezvous on socket P\n"
	       "                                 and share pages with vtpm (libtpmfront)\n"
	       "  --manager fd=N                 state sealed by vtpmmgr, reached over the tpmif\n"
	       "                                 rendezvous socket N (set up by vtpmmgr)\n"
	       "  --name ID                      tag log lines with ID\n"
	       "  --flags not-need-init[,startup-clear|startup-state|startup-deactivated|startup-none]\n"
	       "  --locality reject-locality-4[,allow-set-locality]\n"
	       "  --pid file=F|fd=N              write the pid once every socket is ready\n"
	       "  --log file=F|fd=N[,level=N][,truncate]\n"
	       "  -t, --terminate                exit when the data client disconnects\n"
	       "  -d, --daemon                   run in the background\n"
	       "  --seccomp action=kill|log|none a call outside the allow-list kills (default),\n"
	       "                                 is logged, or no filter is installed\n"
	       "  --print-capabilities           print supported features as JSON\n"
	       "  -h, --help | -v, --version\n",
	       prog);
}

/* Nothing given yet: every descriptor absent, swtpm's default log level. */
static void opts_defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	endpoint_init(&o->server);
	endpoint_init(&o->ctrl);
	o->pid_fd = o->log_fd = o->tpmif_mode = o->manager_fd = o->tpmif_fd = o->state_fd = -1;
	o->mssim_fds[0] = o->mssim_fds[1] = -1;
	o->log_level = -1;
}

/* What the options must say together, with the environment's defaults (TPM_PATH, TPM_PORT). */
static int opts_check(struct opts *o)
{
	if (!o->state_dir && getenv("TPM_PATH") && set_str(&o->state_dir, getenv("TPM_PATH")) < 0)
		return -1;
	if (!o->state_dir) {
		fprintf(stderr, "vtpm: --tpmstate dir=DIR is required\n");
		return -1;
	}
	if (o->server.type == EP_TCP && !o->server.port && o->server.fd < 0) {
		const char *env = getenv("TPM_PORT");

		o->server.port = 6545;
		if (env && parse_int("server", "TPM_PORT", env, 10, 1, 65535, &o->server.port) < 0)
			return -1;
	}
	if ((o->server.type == EP_UNIX && !o->server.path && o->server.fd < 0) ||
	    (o->ctrl.type == EP_UNIX && !o->ctrl.path && o->ctrl.fd < 0 && o->ctrl.clientfd < 0) ||
	    (o->ctrl.type == EP_TCP && !o->ctrl.port && o->ctrl.fd < 0 && o->ctrl.clientfd < 0)) {
		fprintf(stderr, "vtpm: a unixio endpoint needs path= or fd=, a tcp control channel port=\n");
		return -1;
	}
	if (o->startup == ENGINE_STARTUP_DEACTIVATED && o->tpm2) {
		fprintf(stderr, "vtpm: startup-deactivated exists only for TPM 1.2\n");
		return -1;
	}
	if ((o->mssim_fds[0] >= 0) != (o->mssim_fds[1] >= 0)) {
		fprintf(stderr, "vtpm: --mssim: cmdfd and platfd come together\n");
		return -1;
	}
	if (o->server.type == EP_NONE && o->ctrl.type == EP_NONE && !o->mssim_port &&
	    o->mssim_fds[0] < 0 && !o->tpmif_path && o->tpmif_fd < 0) {
		fprintf(stderr, "vtpm: nothing to serve: give --server, --ctrl, --mssim or --tpmif\n");
		return -1;
	}
	return 0;
}

int opts_parse(struct opts *o, int argc, char **argv)
{
	enum { O_TPM2 = 256, O_TPM12, O_TPMSTATE, O_SERVER, O_CTRL, O_FLAGS, O_LOCALITY, O_PID,
	       O_LOG, O_MSSIM, O_TPMIF, O_MANAGER, O_NAME, O_PRINTCAPS, O_SECCOMP };
	static const struct option longopts[] = {
		{ "tpm2", no_argument, NULL, O_TPM2 },
		{ "tpm1.2", no_argument, NULL, O_TPM12 },
		{ "tpmstate", required_argument, NULL, O_TPMSTATE },
		{ "server", required_argument, NULL, O_SERVER },
		{ "ctrl", required_argument, NULL, O_CTRL },
		{ "port", required_argument, NULL, 'p' },
		{ "flags", required_argument, NULL, O_FLAGS },
		{ "locality", required_argument, NULL, O_LOCALITY },
		{ "pid", required_argument, NULL, O_PID },
		{ "log", required_argument, NULL, O_LOG },
		{ "mssim", required_argument, NULL, O_MSSIM },
		{ "tpmif", required_argument, NULL, O_TPMIF },
		{ "manager", required_argument, NULL, O_MANAGER },
		{ "name", required_argument, NULL, O_NAME },
		{ "seccomp", required_argument, NULL, O_SECCOMP },
		{ "terminate", no_argument, NULL, 't' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "print-capabilities", no_argument, NULL, O_PRINTCAPS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	opts_defaults(o);
	if (argc < 2 || (strcmp(argv[1], "socket") && strcmp(argv[1], "serve"))) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			o->help = true;
			return 0;
		}
		if (argc >= 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
			o->version = true;
			return 0;
		}
		fprintf(stderr, "vtpm: expected 'socket' or 'serve' (see vtpm --help)\n");
		return -1;
	}
	o->tpm2 = !strcmp(argv[1], "serve");
	optind = 2;
	while (rc == 0 && (c = getopt_long(argc, argv, "p:tdhv", longopts, NULL)) != -1) {
		switch (c) {
		case O_TPM2: o->tpm2 = true; break;
		case O_TPM12: o->tpm2 = false; break;
		case O_TPMSTATE: rc = each_kv("tpmstate", optarg, o, tpmstate_kv); break;
		case O_SERVER: rc = each_kv("server", optarg, &o->server, endpoint_kv); break;
		case O_CTRL: rc = each_kv("ctrl", optarg, &o->ctrl, endpoint_kv); break;
		case 'p':
			o->server.type = EP_TCP;
			rc = parse_int("port", "port", optarg, 10, 1, 65535, &o->server.port);
			break;
		case O_FLAGS: rc = each_kv("flags", optarg, o, flags_kv); break;
		case O_LOCALITY: rc = each_kv("locality", optarg, o, locality_kv); break;
		case O_PID: rc = each_kv("pid", optarg, o, pid_kv); break;
		case O_LOG: rc = each_kv("log", optarg, o, log_kv); break;
		case O_MSSIM: rc = each_kv("mssim", optarg, o, mssim_kv); break;
		case O_TPMIF: rc = each_kv("tpmif", optarg, o, tpmif_kv); break;
		case O_MANAGER: rc = each_kv("manager", optarg, o, manager_kv); break;
		case O_NAME: rc = set_str(&o->name, optarg); break;
		case O_SECCOMP: rc = each_kv("seccomp", optarg, o, seccomp_kv); break;
		case 't': o->terminate = true; break;
		case 'd': o->daemonize = true; break;
		case O_PRINTCAPS: o->print_capabilities = true; break;
		case 'h': o->help = true; break;
		case 'v': o->version = true; break;
		default: rc = -1; break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "vtpm: unexpected argument '%s'\n", argv[optind]);
		rc = -1;
	}
	if (rc < 0 || o->help || o->version || o->print_capabilities)
		return rc;
	return opts_check(o);
}

void opts_free(struct opts *o)
{
	free(o->state_dir);
	free(o->server.path);
	free(o->server.bindaddr);
	free(o->ctrl.path);
	free(o->ctrl.bindaddr);
	free(o->mssim_bindaddr);
	free(o->tpmif_path);
	free(o->name);
	free(o->pid_file);
	free(o->log_file);
}
