/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config: "key = value" lines, '#' comments. Keys: data_dir, run_dir, tcti,
 * pcrs, counter_index, vtpm_binary, vtpm_uid_base, vtpm_uid_count, log_file,
 * vtpm_state_max, control_max_connections, vtpm_max_connections.
 */
#include "config.h"

#include "acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

static int set(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A number (decimal, or 0x hex) in [min, max]; the message names the setting. */
static int parse_u32(const char *where, const char *key, const char *val, unsigned long min,
		     unsigned long max, const char *what, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 0);
	if (errno || *end || !*val || v < min || v > max) {
		fprintf(stderr, "vtpmmgr: %s: %s must be %s\n", where, key, what);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int apply(struct mgr_config *c, const char *key, const char *val, const char *where)
{
	if (!strcmp(key, "data_dir"))
		return set(&c->data_dir, val);
	if (!strcmp(key, "run_dir"))
		return set(&c->run_dir, val);
	if (!strcmp(key, "tcti"))
		return set(&c->tcti, val);
	if (!strcmp(key, "vtpm_binary"))
		return set(&c->vtpm_binary, val);
	if (!strcmp(key, "log_file"))
		return set(&c->log_file, val);
	if (!strcmp(key, "pcrs")) {
		if (hwtpm_pcrsel_parse(val, &c->pcrs) < 0) {
			fprintf(stderr, "vtpmmgr: %s: bad PCR selection '%s' (e.g. sha256:0,2,4,7)\n",
				where, val);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "vtpm_uid_base"))
		return parse_u32(where, key, val, 1, 0x7fffffff, "a number from 1 to 2^31-1", &c->uid_base);
	if (!strcmp(key, "vtpm_uid_count"))
		return parse_u32(where, key, val, 1, 0x7fffffff, "a number from 1 to 2^31-1", &c->uid_count);
	if (!strcmp(key, "vtpm_state_max")) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(val, &end, 0);
		if (errno || *end || !*val || v < MGR_STATE_MAX_MIN || v > MGR_STATE_MAX_MAX) {
			fprintf(stderr, "vtpmmgr: %s: %s must be a byte count from %u to %llu\n", where,
				key, MGR_STATE_MAX_MIN, (unsigned long long)MGR_STATE_MAX_MAX);
			return -1;
		}
		c->state_max = v;
		return 0;
	}
	if (!strcmp(key, "control_max_connections") || !strcmp(key, "vtpm_max_connections"))
		return parse_u32(where, key, val, 0, ACCEPTOR_MAX_LIMIT, "a number from 0 (no cap) to 65536",
				 key[0] == 'c' ? &c->control_max_connections : &c->vtpm_max_connections);
	if (!strcmp(key, "counter_index"))
		return parse_u32(where, key, val, 0x01000000, 0x01ffffff, "an NV index 0x01xxxxxx",
				 &c->counter_index);
	fprintf(stderr, "vtpmmgr: %s: unknown setting '%s'\n", where, key);
	return -1;
}

static int load_file(struct mgr_config *c, const char *path, bool must_exist)
{
	/*
	 * The operator's file: a symlink is followed, a FIFO or device refused
	 * (a FIFO would block the start for good); -c /dev/null says "no file".
	 */
	int fd = strcmp(path, "/dev/null") == 0 ? -2 : file_open_regular(AT_FDCWD, path, true);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char line[1024], where[PATH_MAX + 16];
	int n = 0, rc = 0;

	if (fd == -2)
		return 0;
	if (!f) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		if (e == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "vtpmmgr: cannot read %s: %s\n", path, file_strerror(e));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;

		n++;
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, n);
		eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "vtpmmgr: %s: expected key = value\n", where);
			rc = -1;
			break;
		}
		*eq = '\0';
		rc = apply(c, trim(s), trim(eq + 1), where);
	}
	fclose(f);
	return rc;
}

/* --adopt-counter N: the counter's value as the refusal named it, never 0. */
static int parse_adopt(const char *val, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(val, &end, 0);
	if (errno || end == val || *end || *out == 0) {
		fprintf(stderr, "vtpmmgr: --adopt-counter wants the counter's value, as the "
			"refusal named it\n");
		return -1;
	}
	return 0;
}

/* The vtpm binary beside our own, as installed and as built. */
static int default_vtpm_binary(struct mgr_config *c)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 8);

	if (n <= 0 || (size_t)n >= sizeof(self) - 8)	/* none, or truncated: no room for "vtpm" */
		return 0;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return 0;
	strcpy(slash + 1, "vtpm");
	return set(&c->vtpm_binary, self);
}

void config_usage(void)
{
	printf("Usage: vtpmmgr [options]\n"
	       "  -c, --config FILE     settings file (default " MGR_DEFAULT_CONFIG ")\n"
	       "  --data-dir DIR        store, sealed root secret, vTPM state (" MGR_DEFAULT_DATA ")\n"
	       "  --run-dir DIR         control socket (" MGR_DEFAULT_RUN ")\n"
	       "  --tcti TCTI           hardware TPM (default " MGR_DEFAULT_TCTI ")\n"
	       "  --pcrs SEL            PCRs the root secret is sealed to (" MGR_DEFAULT_PCRS ")\n"
	       "  --counter-index IDX   NV counter against store rollback (0x%08x)\n"
	       "  --vtpm PATH           the vtpm executable\n"
	       "  --vtpm-state-max N    bytes each vTPM may keep in its state directory (%u)\n"
	       "  --dev                 NOT SECURE: a software TPM stands in for the hardware\n"
	       "  --log FILE            log here instead of standard error\n"
	       "  --pid FILE            write the pid once the control socket is ready\n"
	       "  --new-store           begin an empty store where one was deleted\n"
	       "  --adopt-counter N     accept a store behind the NV counter at N (recovery)\n"
	       "  -h, --help\n", MGR_DEFAULT_COUNTER, MGR_DEFAULT_STATE_MAX);
}

/* Every setting at its default, before the file and the command line. */
static int config_defaults(struct mgr_config *c)
{
	memset(c, 0, sizeof(*c));
	c->counter_index = MGR_DEFAULT_COUNTER;
	c->uid_base = MGR_DEFAULT_UID_BASE;
	c->uid_count = MGR_DEFAULT_UID_COUNT;
	c->state_max = MGR_DEFAULT_STATE_MAX;
	c->control_max_connections = MGR_DEFAULT_CONTROL_MAX;
	c->vtpm_max_connections = MGR_DEFAULT_VTPM_MAX;
	(void)hwtpm_pcrsel_parse(MGR_DEFAULT_PCRS, &c->pcrs);
	if (set(&c->data_dir, MGR_DEFAULT_DATA) < 0 || set(&c->run_dir, MGR_DEFAULT_RUN) < 0)
		return -1;
	return default_vtpm_binary(c);
}

int config_load(struct mgr_config *c, int argc, char **argv)
{
	enum { O_DATA = 256, O_RUN, O_TCTI, O_PCRS, O_COUNTER, O_VTPM, O_DEV, O_LOG, O_PID,
	       O_STATE_MAX, O_NEW_STORE, O_ADOPT };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, O_DATA },
		{ "run-dir", required_argument, NULL, O_RUN },
		{ "tcti", required_argument, NULL, O_TCTI },
		{ "pcrs", required_argument, NULL, O_PCRS },
		{ "counter-index", required_argument, NULL, O_COUNTER },
		{ "vtpm", required_argument, NULL, O_VTPM },
		{ "dev", no_argument, NULL, O_DEV },
		{ "log", required_argument, NULL, O_LOG },
		{ "pid", required_argument, NULL, O_PID },
		{ "vtpm-state-max", required_argument, NULL, O_STATE_MAX },
		{ "new-store", no_argument, NULL, O_NEW_STORE },
		{ "adopt-counter", required_argument, NULL, O_ADOPT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { [O_DATA - O_DATA] = "data_dir", [O_RUN - O_DATA] = "run_dir",
		[O_TCTI - O_DATA] = "tcti", [O_PCRS - O_DATA] = "pcrs",
		[O_COUNTER - O_DATA] = "counter_index", [O_VTPM - O_DATA] = "vtpm_binary",
		[O_DEV - O_DATA] = NULL, [O_LOG - O_DATA] = "log_file", [O_PID - O_DATA] = NULL,
		[O_STATE_MAX - O_DATA] = "vtpm_state_max" };
	int opt;

	if (config_defaults(c) < 0)
		return -1;
	/* first pass: only the config file name */
	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
			free(c->config_file);	/* given twice: the last one counts */
			c->config_file = strdup(argv[i + 1]);
		}
	if (load_file(c, c->config_file ? c->config_file : MGR_DEFAULT_CONFIG, c->config_file != NULL) < 0)
		return -1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			break;
		case 'h':
			c->help = true;
			break;
		case O_DEV:
			c->dev = true;
			break;
		case O_NEW_STORE:
			c->new_store = true;
			break;
		case O_ADOPT:
			if (parse_adopt(optarg, &c->adopt_counter) < 0)
				return -1;
			break;
		case O_PID:
			if (set(&c->pid_file, optarg) < 0)
				return -1;
			break;
		case O_DATA: case O_RUN: case O_TCTI: case O_PCRS: case O_COUNTER: case O_VTPM: case O_LOG: case O_STATE_MAX:
			if (apply(c, keys[opt - O_DATA], optarg, "command line") < 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vtpmmgr: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

void config_free(struct mgr_config *c)
{
	free(c->config_file);
	free(c->data_dir);
	free(c->run_dir);
	free(c->tcti);
	free(c->vtpm_binary);
	free(c->log_file);
	free(c->pid_file);
}
