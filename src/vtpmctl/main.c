/*
 * vtpmctl: the operator's CLI for vtpmmgr, over its control socket. Sends
 * one request line, prints the manager's JSON reply as it is (--json) or as
 * text and a table. The reply is the manager's and parsed defensively.
 * Exit status: 0 done, 1 the manager refused, 2 bad usage, 3 no manager.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"

#define DEFAULT_SOCKET	"/run/vtpmmgr/control.sock"
#define REPLY_MAX	(1 << 20)

static void usage(void)
{
	printf("Usage: vtpmctl [--socket PATH] [--json] COMMAND [ARGS]\n"
	       "  create [--uuid U] [--tpm 2|1.2] [--group G] [--dev DEVICE]\n"
	       "         DEVICE: server=unix:/path|tcp:PORT,ctrl=unix:/path|tcp:PORT,\n"
	       "                 tpmif=/path,mssim=PORT,flags=startup-clear\n"
	       "  start UUID | stop UUID | show UUID | list | status\n"
	       "  destroy UUID [--yes]   wipes the vTPM's key: its state is gone for good\n"
	       "  reseal [PCR=HEX ...]   approve the next PCR values (others: as now)\n");
}

/*
 * Walks the "key":value pairs of the flat JSON object at p (our replies:
 * strings without escapes, numbers, booleans), calling fn for each; stops
 * at the object's closing brace. Returns a pointer past it, or NULL.
 */
static const char *json_walk(const char *p, void (*fn)(const char *k, size_t kl, const char *v,
							 size_t vl, void *arg), void *arg)
{
	p = strchr(p, '{');
	if (!p)
		return NULL;
	p++;
	while (*p && *p != '}') {
		const char *k, *v, *e;

		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '"' || !(e = strchr(p + 1, '"')) || e[1] != ':')
			return NULL;
		k = p + 1;
		v = e + 2;
		if (*v == '"') {
			e = strchr(v + 1, '"');
			if (!e)
				return NULL;
			fn(k, (size_t)(strchr(k, '"') - k), v + 1, (size_t)(e - v - 1), arg);
			p = e + 1;
		} else if (*v == '[' || *v == '{') {
			return v;	/* nested: the caller handles lists itself */
		} else {
			e = v + strcspn(v, ",}");
			fn(k, (size_t)(strchr(k, '"') - k), v, (size_t)(e - v), arg);
			p = e;
		}
	}
	return *p == '}' ? p + 1 : NULL;
}

struct field {
	const char *key;
	char *out;
	size_t n;
};

static void get_field(const char *k, size_t kl, const char *v, size_t vl, void *arg)
{
	struct field *f = arg;

	if (strlen(f->key) == kl && !strncmp(k, f->key, kl))
		snprintf(f->out, f->n, "%.*s", (int)vl, v);
}

static bool json_get(const char *obj, const char *key, char *out, size_t n)
{
	struct field f = { key, out, n };

	*out = '\0';
	json_walk(obj, get_field, &f);
	return *out != '\0';
}

static void print_field(const char *k, size_t kl, const char *v, size_t vl, void *arg)
{
	(void)arg;
	if (kl == 2 && !strncmp(k, "ok", 2))
		return;
	printf("%-14.*s %.*s\n", (int)kl, k, (int)vl, v);
}

static void print_table(const char *reply)
{
	const char *p = strstr(reply, "\"vtpms\":[");
	int count = 0;

	printf("%-36s  %-4s  %-12s  %-8s  %-7s  %s\n", "UUID", "TPM", "GROUP", "STATE", "PID", "DEVICE");
	for (p = p ? strchr(p, '{') : NULL; p; p = strchr(p + 1, '{')) {
		char uuid[40] = "", tpm[8] = "", group[40] = "", running[8] = "", pid[16] = "", dev[1100] = "";
		json_get(p, "uuid", uuid, sizeof(uuid));
		json_get(p, "tpm", tpm, sizeof(tpm));
		json_get(p, "group", group, sizeof(group));
		json_get(p, "running", running, sizeof(running));
		json_get(p, "pid", pid, sizeof(pid));
		json_get(p, "device", dev, sizeof(dev));
		printf("%-36s  %-4s  %-12s  %-8s  %-7s  %s\n", uuid, tpm, group,
		       strcmp(running, "true") ? "stopped" : "running",
		       strcmp(running, "true") ? "-" : pid, dev);
		count++;
	}
	printf("%d vTPM%s\n", count, count == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "uuid", required_argument, NULL, 'u' }, { "tpm", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' }, { "dev", required_argument, NULL, 'd' },
		{ "yes", no_argument, NULL, 'y' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("VTPMMGR_SOCKET") ? getenv("VTPMMGR_SOCKET") : DEFAULT_SOCKET;
	const char *uuid = "auto", *tpm = "2", *group = "default", *dev = "";
	bool json = false, yes = false;
	char req[4096], *reply = NULL, err[256];
	size_t off = 0;
	int opt, fd, n;

	/* GNU getopt permutes: options may come before or after the command and its arguments */
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'u': uuid = optarg; break;
		case 't': tpm = optarg; break;
		case 'g': group = optarg; break;
		case 'd': dev = optarg; break;
		case 'y': yes = true; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	const char *cmd = optind < argc ? argv[optind++] : NULL;
	if (!cmd) {
		usage();
		return 2;
	}
	if (!strcmp(cmd, "create")) {
		n = snprintf(req, sizeof(req), "create uuid=%s tpm=%s group=%s%s%s\n", uuid, tpm, group,
			     *dev ? " dev=" : "", dev);
	} else if (!strcmp(cmd, "destroy")) {
		char answer[64] = "";
		if (optind >= argc) {
			usage();
			return 2;
		}
		if (!yes) {
			printf("destroy wipes the key of vTPM %s: its state cannot be read again.\n"
			       "Type the UUID to confirm: ", argv[optind]);
			fflush(stdout);
			if (!fgets(answer, sizeof(answer), stdin) ||
			    strncmp(answer, argv[optind], strlen(argv[optind])) != 0) {
				fprintf(stderr, "vtpmctl: not confirmed; nothing done\n");
				return 1;
			}
		}
		n = snprintf(req, sizeof(req), "destroy %s confirm\n", argv[optind]);
	} else {
		n = snprintf(req, sizeof(req), "%s", cmd);
		for (int i = optind; i < argc && n > 0 && (size_t)n < sizeof(req); i++)
			n += snprintf(req + n, sizeof(req) - (size_t)n, " %s", argv[i]);
		if (n > 0 && (size_t)n < sizeof(req) - 1)
			req[n++] = '\n', req[n] = '\0';
	}
	if (n <= 0 || (size_t)n >= sizeof(req) - 1 || strchr(req, '\n') != req + n - 1) {
		fprintf(stderr, "vtpmctl: request too long or contains a newline\n");
		return 2;
	}
	fd = sock_connect_unix(sock);
	if (fd < 0) {
		fprintf(stderr, "vtpmctl: cannot reach vtpmmgr at %s: %s\n", sock, strerror(errno));
		return 3;
	}
	reply = malloc(REPLY_MAX);
	if (!reply) {
		close(fd);
		return 3;
	}
	/* a refusal (permission) may come before the request is read: read the reply anyway */
	(void)sock_write_all(fd, req, (size_t)n);
	for (;;) {
		ssize_t r = read(fd, reply + off, REPLY_MAX - 1 - off);
		if (r <= 0)
			break;
		off += (size_t)r;
		if (off >= REPLY_MAX - 1)
			break;
	}
	close(fd);
	reply[off] = '\0';
	if (off == 0 || reply[off - 1] != '\n') {
		fprintf(stderr, "vtpmctl: no complete reply from vtpmmgr\n");
		free(reply);
		return 3;
	}
	if (json) {
		int rc = strstr(reply, "\"ok\":true") == reply + 1 ? 0 : 1;
		fputs(reply, stdout);
		free(reply);
		return rc;
	}
	if (strstr(reply, "\"ok\":true") != reply + 1) {
		if (!json_get(reply, "error", err, sizeof(err)))
			snprintf(err, sizeof(err), "unexpected reply");
		fprintf(stderr, "vtpmctl: %s\n", err);
		free(reply);
		return 1;
	}
	if (!strcmp(cmd, "list")) {
		print_table(reply);
	} else if (!strcmp(cmd, "create")) {
		json_get(reply, "uuid", err, sizeof(err));
		printf("%s\n", err);
	} else if (!strcmp(cmd, "show")) {
		const char *obj = strstr(reply, "\"vtpm\":");
		json_walk(obj ? obj : reply, print_field, NULL);
	} else if (!strcmp(cmd, "status")) {
		json_walk(reply, print_field, NULL);
	} else {
		char warn[200];
		if (json_get(reply, "warning", warn, sizeof(warn)))
			printf("ok (%s)\n", warn);
		else
			printf("ok\n");
	}
	free(reply);
	return 0;
}
