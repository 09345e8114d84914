/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpmctl: the operator's CLI for vtpmmgr, over its control socket. Sends
 * one request line, prints the manager's JSON reply as it is (--json) or as
 * text and a table. The reply is the manager's and read defensively, through
 * lib/ctlmsg. Exit status: 0 done, 1 the manager refused, 2 bad usage, 3 no
 * manager (or no reply within --timeout).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "ev.h"
#include "sock.h"
#include "vtpmmgr_ctl.h"

/* How long vtpmctl waits for a reply by default (a start waits for the vtpm), and at most. */
#define DEFAULT_TIMEOUT_S	30
#define TIMEOUT_MAX_S		86400

struct create_opts {
	const char *uuid, *tpm, *group, *dev;
};

static void usage(void)
{
	printf("Usage: vtpmctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
	       "  create [--uuid U] [--tpm 2|1.2] [--group G] [--dev DEVICE]\n"
	       "         DEVICE: server=unix:/path,ctrl=unix:/path,tpmif=/path,\n"
	       "                 mode=0600,uid=USER,gid=GROUP,flags=startup-clear\n"
	       "                 (server=tcp:PORT, mssim=PORT only with insecure-tcp)\n"
	       "  start UUID | stop UUID | show UUID | list | status\n"
	       "  destroy UUID [--yes]   wipes the vTPM's key: its state is gone for good\n"
	       "  reseal [PCR=HEX ...]   approve the next PCR values (others: as now)\n");
}

/* One member's value read back from a reply: a string unescaped, or a literal's text. */
struct field {
	const char *key;
	char *out;
	size_t n;
	enum ctlmsg_kind kind;	/* of the member found */
	const char *raw;	/* nested: its text in the reply */
	size_t raw_len;
	bool found;
};

static int get_field(const char *k, const struct ctlmsg_val *v, void *arg)
{
	struct field *f = arg;

	if (!k || strcmp(k, f->key) != 0)
		return 0;
	f->found = true;
	f->kind = v->kind;
	f->raw = v->raw;
	f->raw_len = v->raw_len;
	if (f->out)
		snprintf(f->out, f->n, "%.*s", v->str ? (int)strlen(v->str) : (int)v->raw_len,
			 v->str ? v->str : v->raw);
	return 0;
}

/* Finds key in the object obj[0..len); false when absent or obj is not JSON. */
static bool json_find(const char *obj, size_t len, const char *key, struct field *f)
{
	f->key = key;
	f->found = false;
	if (f->out && f->n)
		*f->out = '\0';
	return ctlmsg_json_walk(obj, len, get_field, f) == 0 && f->found;
}

static bool json_get(const char *obj, size_t len, const char *key, char *out, size_t n)
{
	struct field f = { .out = out, .n = n };

	return json_find(obj, len, key, &f);
}

static int print_field(const char *k, const struct ctlmsg_val *v, void *arg)
{
	(void)arg;
	if (!strcmp(k, "ok") || v->kind == CTLMSG_OBJECT || v->kind == CTLMSG_ARRAY)
		return 0;
	printf("%-14s %.*s\n", k, v->str ? (int)strlen(v->str) : (int)v->raw_len, v->str ? v->str : v->raw);
	return 0;
}

static int print_row(const char *k, const struct ctlmsg_val *v, void *arg)
{
	char uuid[40], tpm[8], group[40], running[8], pid[16], dev[1100], insecure[8];
	int *count = arg;

	(void)k;
	if (v->kind != CTLMSG_OBJECT)
		return 0;
	json_get(v->raw, v->raw_len, "uuid", uuid, sizeof(uuid));
	json_get(v->raw, v->raw_len, "tpm", tpm, sizeof(tpm));
	json_get(v->raw, v->raw_len, "group", group, sizeof(group));
	json_get(v->raw, v->raw_len, "running", running, sizeof(running));
	json_get(v->raw, v->raw_len, "pid", pid, sizeof(pid));
	json_get(v->raw, v->raw_len, "device", dev, sizeof(dev));
	json_get(v->raw, v->raw_len, "insecure_tcp", insecure, sizeof(insecure));
	printf("%-36s  %-4s  %-12s  %-8s  %-7s  %s%s\n", uuid, tpm, group,
	       strcmp(running, "true") ? "stopped" : "running", strcmp(running, "true") ? "-" : pid, dev,
	       strcmp(insecure, "true") ? "" : "  (INSECURE: its TCP endpoints are open to every local user)");
	(*count)++;
	return 0;
}

static void print_table(const char *reply, size_t len)
{
	struct field f = { 0 };
	int count = 0;

	printf("%-36s  %-4s  %-12s  %-8s  %-7s  %s\n", "UUID", "TPM", "GROUP", "STATE", "PID", "DEVICE");
	if (json_find(reply, len, "vtpms", &f) && f.kind == CTLMSG_ARRAY)
		(void)ctlmsg_json_walk(f.raw, f.raw_len, print_row, &count);
	printf("%d vTPM%s\n", count, count == 1 ? "" : "s");
}

/* Builds the request line for cmd and its arguments; returns its length, or -1 (usage printed). */
static int build_request(char *req, size_t n, const char *cmd, char **argv, int argc,
			 const struct create_opts *o)
{
	static char kv[4][VTPMMGR_CTL_LINE_MAX];
	const char *words[VTPMMGR_CTL_ARGS_MAX + 1];
	size_t nw = 0;
	int len;

	if (!strcmp(cmd, "create")) {
		snprintf(kv[0], sizeof(kv[0]), "uuid=%s", o->uuid);
		snprintf(kv[1], sizeof(kv[1]), "tpm=%s", o->tpm);
		snprintf(kv[2], sizeof(kv[2]), "group=%s", o->group);
		snprintf(kv[3], sizeof(kv[3]), "dev=%s", o->dev);
		for (nw = 0; nw < (*o->dev ? 4u : 3u); nw++)
			words[nw] = kv[nw];
	} else if (!strcmp(cmd, "destroy")) {
		words[nw++] = argv[0];
		words[nw++] = "confirm";
	} else {
		for (int i = 0; i < argc && nw < sizeof(words) / sizeof(words[0]); i++)
			words[nw++] = argv[i];
		if (argc > (int)nw) {
			errno = E2BIG;
			return -1;
		}
	}
	len = ctlmsg_req_encode(req, n, cmd, words, nw);
	return len;
}

/* Asks destroy's confirmation unless --yes; false: not confirmed. */
static bool confirm_destroy(const char *uuid, bool yes)
{
	char answer[64] = "";

	if (yes)
		return true;
	printf("destroy wipes the key of vTPM %s: its state cannot be read again.\n"
	       "Type the UUID to confirm: ", uuid);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin) || strncmp(answer, uuid, strlen(uuid)) != 0) {
		fprintf(stderr, "vtpmctl: not confirmed; nothing done\n");
		return false;
	}
	return true;
}

/*
 * Sends req and reads the whole reply (to EOF) into reply (REPLY_MAX), for
 * at most timeout_s seconds (0: no limit). Returns its length, or -1 with
 * the message printed.
 */
static ssize_t exchange(const char *sock, const char *req, size_t n, char *reply, int timeout_s)
{
	int64_t deadline = timeout_s ? ev_now_ms() + (int64_t)timeout_s * 1000 : -1;
	size_t off = 0;
	int fd = sock_connect_unix(sock);

	if (fd < 0) {
		fprintf(stderr, "vtpmctl: cannot reach vtpmmgr at %s: %s\n", sock, strerror(errno));
		return -1;
	}
	/* a refusal (permission) may come before the request is read: read the reply anyway */
	(void)sock_write_all(fd, req, n);
	while (off < VTPMMGR_CTL_REPLY_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline < 0 ? -1 : deadline - ev_now_ms();
		ssize_t r;

		if (deadline >= 0 && (left <= 0 || poll(&p, 1, (int)left) == 0)) {
			fprintf(stderr, "vtpmctl: no reply from vtpmmgr within %d s; the request may still "
				"complete (see vtpmctl list)\n", timeout_s);
			close(fd);
			return -1;
		}
		r = read(fd, reply + off, VTPMMGR_CTL_REPLY_MAX - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off == 0 || off >= VTPMMGR_CTL_REPLY_MAX || reply[off - 1] != '\n') {
		fprintf(stderr, "vtpmctl: no complete reply from vtpmmgr\n");
		return -1;
	}
	reply[off] = '\0';
	return (ssize_t)off;
}

/* Prints a reply the manager accepted, for cmd. */
static void print_reply(const char *cmd, const char *reply, size_t len)
{
	struct field f = { 0 };
	char out[256];

	if (!strcmp(cmd, "list")) {
		print_table(reply, len);
	} else if (!strcmp(cmd, "create")) {
		json_get(reply, len, "uuid", out, sizeof(out));
		printf("%s\n", out);
	} else if (!strcmp(cmd, "show")) {
		if (json_find(reply, len, "vtpm", &f) && f.kind == CTLMSG_OBJECT)
			(void)ctlmsg_json_walk(f.raw, f.raw_len, print_field, NULL);
	} else if (!strcmp(cmd, "status")) {
		(void)ctlmsg_json_walk(reply, len, print_field, NULL);
	} else if (json_get(reply, len, "warning", out, sizeof(out))) {
		printf("ok (%s)\n", out);
	} else {
		printf("ok\n");
	}
}

static int parse_timeout(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v >= 0 && v <= TIMEOUT_MAX_S ? (int)v : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "uuid", required_argument, NULL, 'u' }, { "tpm", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' }, { "dev", required_argument, NULL, 'd' },
		{ "yes", no_argument, NULL, 'y' }, { "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("VTPMMGR_SOCKET") ? getenv("VTPMMGR_SOCKET") : VTPMMGR_CTL_DEFAULT_PATH;
	struct create_opts co = { .uuid = "auto", .tpm = "2", .group = "default", .dev = "" };
	bool json = false, yes = false;
	char req[VTPMMGR_CTL_LINE_MAX], *reply = NULL, err[256];
	int opt, timeout_s = DEFAULT_TIMEOUT_S, rc = 3, n;
	ssize_t len;

	/* GNU getopt permutes: options may come before or after the command and its arguments */
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'u': co.uuid = optarg; break;
		case 't': co.tpm = optarg; break;
		case 'g': co.group = optarg; break;
		case 'd': co.dev = optarg; break;
		case 'y': yes = true; break;
		case 'T':
			if ((timeout_s = parse_timeout(optarg)) >= 0)
				break;
			fprintf(stderr, "vtpmctl: --timeout takes 0 to %d seconds\n", TIMEOUT_MAX_S);
			return 2;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	const char *cmd = optind < argc ? argv[optind++] : NULL;
	if (!cmd || (!strcmp(cmd, "destroy") && optind >= argc)) {
		usage();
		return 2;
	}
	if (!strcmp(cmd, "destroy") && !confirm_destroy(argv[optind], yes))
		return 1;
	n = build_request(req, sizeof(req), cmd, argv + optind, argc - optind, &co);
	if (n < 0) {
		fprintf(stderr, "vtpmctl: %s\n", errno == E2BIG ? "request too long" :
			"an argument is empty or contains a space or a control character");
		return 2;
	}
	reply = malloc(VTPMMGR_CTL_REPLY_MAX + 1);
	if (!reply || (len = exchange(sock, req, (size_t)n, reply, timeout_s)) < 0)
		goto out;
	rc = json_get(reply, (size_t)len, "ok", err, sizeof(err)) && !strcmp(err, "true") ? 0 : 1;
	if (json) {
		fputs(reply, stdout);
	} else if (rc) {
		if (!json_get(reply, (size_t)len, "error", err, sizeof(err)))
			snprintf(err, sizeof(err), "unexpected reply");
		fprintf(stderr, "vtpmctl: %s\n", err);
	} else {
		print_reply(cmd, reply, (size_t)len);
	}
out:
	free(reply);
	return rc;
}
