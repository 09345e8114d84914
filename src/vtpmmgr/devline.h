/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devline: the grammar of a vTPM's device line (server=, ctrl=, tpmif=,
 * mssim=, flags=, binary=, migrate-from=, mode=, uid=, gid=, insecure-tcp), which the
 * operator gives to `vtpmctl create` and the store keeps, and the listeners
 * the manager opens from it. Runs in vtpmmgr; the line comes from root's
 * vtpmctl or from the store, and is checked as untrusted text all the same.
 * The paths it names are in directories the operator chose: a socket file
 * the manager finds there is replaced, any other file is left alone.
 */
#ifndef VTPMMGR_DEVLINE_H
#define VTPMMGR_DEVLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DEVLINE_LISTEN_MAX	5	/* server, ctrl, tpmif, mssim command + platform */
#define DEVLINE_PATH_MAX	100	/* a path fits sockaddr_un's 108 bytes */
#define DEVLINE_NAME_MAX	32	/* a user or group name (useradd's limit) */
#define DEVLINE_ID_MAX		4294967294UL	/* highest uid/gid: (uid_t)-1 means "no change" */
#define DEVLINE_MODE_MAX	0777	/* permission bits only: no setuid, setgid, sticky */
#define DEVLINE_MODE_DEFAULT	0600	/* the manager's user (root) alone */

/* One listener of a device line; the manager opens it, the vtpm inherits it. */
struct devline_listen {
	const char *opt;	/* vtpm option taking it: --server, --ctrl, --tpmif, --mssim */
	char path[DEVLINE_PATH_MAX + 1];	/* unix socket path, or "" for TCP */
	int port;
};

struct devline {
	struct devline_listen l[DEVLINE_LISTEN_MAX];
	int n;
	char flags[32];			/* "startup-clear" ..., or "" */
	char binary[DEVLINE_PATH_MAX + 1];	/* another vtpm executable (canary, tests), or "" */
	/* the Unix sockets' mode and owner; uid/gid a name or a number, "" keeps the manager's */
	int mode;
	char uid[DEVLINE_NAME_MAX + 1];
	char gid[DEVLINE_NAME_MAX + 1];
	bool insecure_tcp;		/* the operator accepts TCP endpoints open to all local users */
	/* migrate-from=UUID: state blobs of that vTPM (of this manager) may come in */
	bool has_migrate_from;
	uint8_t migrate_from[16];
};

/* What devline_listen made on the filesystem: the socket files it may remove later. */
struct devline_sockfile {
	dev_t dev;
	ino_t ino;
	bool made;
};

/*
 * Parses a device line into d; on error, a message for the operator in err.
 * Refused: ctrl=tcp (the control channel is Unix-only), a TCP data or mssim
 * endpoint without insecure-tcp, relative paths and . or .. components.
 */
int devline_parse(const char *line, struct devline *d, char *err, size_t errlen);
/* Writes d back as a device line that parses to d again; -1 (ENOSPC) if it does not fit. */
int devline_format(const struct devline *d, char *out, size_t n);
/* True when d has a TCP listener (which insecure-tcp allowed). */
bool devline_has_tcp(const struct devline *d);
/*
 * Checks what parsing cannot, at create: the owner names resolve and no
 * path holds a file other than a socket.
 */
int devline_check(const struct devline *d, char *err, size_t errlen);
/*
 * Opens the listeners of d as lfds[] (the caller closes them). A Unix socket
 * gets its mode and owner before listen(), so no one else can ever connect;
 * a socket file already at its path is replaced, anything else is refused.
 * files[] records the sockets made, for devline_unlink.
 */
int devline_listen(const struct devline *d, int *lfds, struct devline_sockfile *files, char *err,
		   size_t errlen);
/* Removes the socket files devline_listen made, where they are still the same files. */
void devline_unlink(const struct devline *d, const struct devline_sockfile *files);
/* True when a and b name a common Unix socket path. */
bool devline_share_path(const struct devline *a, const struct devline *b);
/*
 * Appends the vtpm options naming the inherited listeners (descriptors
 * first, first + 1, ...) to argv; their text is kept in buf.
 */
int devline_args(const struct devline *d, int first, const char **argv, int *argc, int argv_max,
		 char *buf, size_t buflen);

#endif
