/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devline: the device-line grammar; see devline.h. Every value is checked
 * against a short safe alphabet before it becomes a path, port or option.
 */
#include "devline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"
#include "store.h"

/* A path or port value from a device line: absolute path of safe characters, or a number. */
static bool safe_path(const char *p)
{
	if (*p != '/' || strlen(p) > 100)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '/' || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static int safe_port(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	return *p && !*end && v > 0 && v < 65535 ? (int)v : 0;
}

int devline_parse(const char *config, struct devline *d, char *err, size_t errlen)
{
	char copy[STORE_CONFIG_MAX + 1], *save = NULL;

	memset(d, 0, sizeof(*d));
	snprintf(copy, sizeof(copy), "%s", config);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		struct devline_listen *l = &d->l[d->n];

		if (!val) {
			snprintf(err, errlen, "device setting '%s' is not key=value", tok);
			return -1;
		}
		*val++ = '\0';
		/* at most four listeners (mssim takes two slots); flags= and binary= count none */
		if (d->n >= 4 && (!strcmp(tok, "server") || !strcmp(tok, "ctrl") ||
				  !strcmp(tok, "tpmif") || !strcmp(tok, "mssim")))
			goto bad;
		if (!strcmp(tok, "server") || !strcmp(tok, "ctrl")) {
			l->opt = !strcmp(tok, "server") ? "--server" : "--ctrl";
			if (!strncmp(val, "unix:", 5) && safe_path(val + 5))
				snprintf(l->path, sizeof(l->path), "%s", val + 5);
			else if (!strncmp(val, "tcp:", 4) && safe_port(val + 4))
				l->port = safe_port(val + 4);
			else
				goto bad;
			d->n++;
		} else if (!strcmp(tok, "tpmif") && safe_path(val)) {
			l->opt = "--tpmif";
			snprintf(l->path, sizeof(l->path), "%s", val);
			d->n++;
		} else if (!strcmp(tok, "mssim") && safe_port(val)) {
			l->opt = "--mssim";
			l->port = safe_port(val);
			l[1] = *l;
			l[1].port++;
			d->n += 2;
		} else if (!strcmp(tok, "migrate-from") && store_uuid_parse(val, d->migrate_from) == 0) {
			d->has_migrate_from = true;
		} else if (!strcmp(tok, "binary") && safe_path(val)) {
			snprintf(d->binary, sizeof(d->binary), "%s", val);
		} else if (!strcmp(tok, "flags") &&
			   (!strcmp(val, "startup-clear") || !strcmp(val, "startup-state") ||
			    !strcmp(val, "startup-none"))) {
			snprintf(d->flags, sizeof(d->flags), "%s", val);
		} else {
			goto bad;
		}
		continue;
bad:
		snprintf(err, errlen, "bad device setting %s=%s (server|ctrl=unix:/path|tcp:port, "
			 "tpmif=/path, mssim=port, flags=startup-clear|startup-state|startup-none, "
			 "binary=/path, migrate-from=UUID; "
			 "at most four listeners)", tok, val);
		return -1;
	}
	return 0;
}

int devline_listen(const struct devline *d, int *lfds)
{
	for (int k = 0; k < d->n; k++) {
		lfds[k] = d->l[k].path[0] ? sock_listen_unix(d->l[k].path, 0660)
					  : sock_listen_tcp(NULL, d->l[k].port);
		if (lfds[k] < 0) {
			log_err("cannot listen on %s%s (port %d): %s", d->l[k].path,
				d->l[k].path[0] ? "" : "127.0.0.1", d->l[k].port, strerror(errno));
			while (k-- > 0)
				close(lfds[k]);
			return -1;
		}
	}
	return 0;
}

int devline_args(const struct devline *d, int first, const char **argv, int *argc, int argv_max,
		 char *buf, size_t buflen)
{
	size_t used = 0;

	for (int k = 0; k < d->n; k++) {
		char arg[64];
		const char *type = d->l[k].path[0] ? "unixio" : "tcp";

		if (!strcmp(d->l[k].opt, "--tpmif"))
			snprintf(arg, sizeof(arg), "fd=%d", first + k);
		else if (!strcmp(d->l[k].opt, "--mssim"))
			snprintf(arg, sizeof(arg), "cmdfd=%d,platfd=%d", first + k, first + k + 1);
		else
			snprintf(arg, sizeof(arg), "type=%s,fd=%d", type, first + k);
		if (*argc + 2 >= argv_max || used + strlen(arg) + 1 > buflen)
			return -1;
		argv[(*argc)++] = d->l[k].opt;
		argv[(*argc)++] = strcpy(buf + used, arg);
		used += strlen(arg) + 1;
		if (!strcmp(d->l[k].opt, "--mssim"))
			k++;	/* the platform port went with it */
	}
	return 0;
}
