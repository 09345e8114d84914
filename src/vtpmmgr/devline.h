/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devline: the grammar of a vTPM's device line (server=, ctrl=, tpmif=,
 * mssim=, flags=, binary=, migrate-from=), which the operator gives to `vtpmctl create`
 * and the store keeps. Runs in vtpmmgr; the line comes from root's vtpmctl
 * or from the store, and is checked as untrusted text all the same.
 */
#ifndef VTPMMGR_DEVLINE_H
#define VTPMMGR_DEVLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVLINE_LISTEN_MAX	5	/* server, ctrl, tpmif, mssim command + platform */

/* One listener of a device line; the manager opens it, the vtpm inherits it. */
struct devline_listen {
	const char *opt;	/* vtpm option taking it: --server, --ctrl, --tpmif, --mssim */
	char path[128];		/* unix socket path, or "" for TCP */
	int port;
};

struct devline {
	struct devline_listen l[DEVLINE_LISTEN_MAX];
	int n;
	char flags[32];			/* "startup-clear" ..., or "" */
	char binary[128];		/* another vtpm executable (canary, tests), or "" */
	/* migrate-from=UUID: state blobs of that vTPM (of this manager) may come in */
	bool has_migrate_from;
	uint8_t migrate_from[16];
};

/* Parses a device line into d; on error, a message for the operator in err. */
int devline_parse(const char *line, struct devline *d, char *err, size_t errlen);
/* Opens the listeners of d as lfds[] (the caller closes them). */
int devline_listen(const struct devline *d, int *lfds);
/*
 * Appends the vtpm options naming the inherited listeners (descriptors
 * first, first + 1, ...) to argv; their text is kept in buf.
 */
int devline_args(const struct devline *d, int first, const char **argv, int *argc, int argv_max,
		 char *buf, size_t buflen);

#endif
