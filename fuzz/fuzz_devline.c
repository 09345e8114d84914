/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_devline: libFuzzer target for the manager's device-line parser
 * (devline_parse in src/vtpmmgr/devline.c), whose input is the text an
 * operator gives to `vtpmctl create` and the store keeps. The input is the
 * line (up to its first NUL). A refused line must come with a message; a
 * line that parses must stay inside the rules the manager relies on (at
 * most DEVLINE_LISTEN_MAX listeners; paths absolute, capped, without . or
 * .. components; the control channel Unix-only; TCP only with
 * insecure-tcp; mode within DEVLINE_MODE_MAX), must parse again to the same
 * value once formatted, and must give the vtpm a bounded argument list. No
 * file, socket or user database is touched.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devline.h"
#include "store.h"

#define ARGV_MAX	24

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_devline: invariant broken: %s\n", what);
		abort();
	}
}

static bool ends_with(const char *p, size_t n, const char *tail)
{
	size_t t = strlen(tail);

	return n >= t && !strcmp(p + n - t, tail);
}

/* absolute, capped, and no . or .. component */
static bool path_ok(const char *p)
{
	size_t n = strnlen(p, DEVLINE_PATH_MAX + 1);

	return p[0] == '/' && n <= DEVLINE_PATH_MAX && !strstr(p, "/./") && !strstr(p, "/../") &&
	       !ends_with(p, n, "/.") && !ends_with(p, n, "/..");
}

static void check_accepted(const struct devline *d)
{
	const char *argv[ARGV_MAX];
	char buf[2048], out[STORE_CONFIG_MAX + 256], err[256];
	struct devline again;
	int argc = 0;

	check(d->n >= 0 && d->n <= DEVLINE_LISTEN_MAX, "listener count within the cap");
	for (int k = 0; k < d->n; k++) {
		const struct devline_listen *l = &d->l[k];

		check(l->opt && (!strcmp(l->opt, "--server") || !strcmp(l->opt, "--ctrl") ||
				 !strcmp(l->opt, "--tpmif") || !strcmp(l->opt, "--mssim")), "known listener");
		if (l->path[0]) {
			check(path_ok(l->path) && l->port == 0, "a Unix path is absolute, capped, no . or ..");
		} else {
			check(l->port > 0 && l->port <= 65535, "a TCP port in range");
			check(strcmp(l->opt, "--ctrl") && strcmp(l->opt, "--tpmif"), "ctrl and tpmif are Unix-only");
			check(d->insecure_tcp, "TCP only with insecure-tcp");
		}
	}
	check(!d->binary[0] || path_ok(d->binary), "binary path absolute, capped, no . or ..");
	check(d->mode >= 0 && d->mode <= DEVLINE_MODE_MAX, "mode within the cap");
	check(devline_has_tcp(d) <= d->insecure_tcp, "has_tcp implies insecure-tcp");
	check(devline_format(d, out, sizeof(out)) == 0, "formats");
	check(devline_parse(out, &again, err, sizeof(err)) == 0, "its format parses");
	check(memcmp(d, &again, sizeof(again)) == 0, "round trip");
	check(devline_args(d, 4, argv, &argc, ARGV_MAX, buf, sizeof(buf)) == 0, "argv fits");
	check(argc <= ARGV_MAX - 2, "argv leaves room for the terminator");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[STORE_CONFIG_MAX + 64], err[256];
	struct devline d;

	/* a little past the store's cap, so the refusal of a longer line is reached */
	if (size >= sizeof(line))
		size = sizeof(line) - 1;
	memcpy(line, data, size);
	line[size] = '\0';
	err[0] = '\0';
	if (devline_parse(line, &d, err, sizeof(err)) < 0) {
		check(err[0] != '\0' && strnlen(err, sizeof(err)) < sizeof(err), "a refusal says why");
		return 0;
	}
	check_accepted(&d);
	return 0;
}
