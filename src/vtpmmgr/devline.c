/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devline: the device-line grammar and the listeners it names; see
 * devline.h. Every value is checked against a short safe alphabet and a
 * named cap before it becomes a path, port, mode, owner or option.
 */
#include "devline.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock.h"
#include "store.h"

#define DIGITS		"0123456789"
#define ALNUM		DIGITS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define PATH_RULE	"an absolute path of letters, digits and ./_-, at most 100 bytes, " \
			"without . or .. components"

/* A path from a device line: absolute, of safe characters, and it means what it says (no . or ..). */
static bool safe_path(const char *p)
{
	size_t n = strlen(p);

	if (*p != '/' || n > DEVLINE_PATH_MAX || strspn(p, ALNUM "/._-") != n)
		return false;
	for (const char *c = p; (c = strchr(c, '/')) != NULL;) {
		size_t len = strcspn(++c, "/");

		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
	}
	return true;
}

static int safe_port(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	return *p && !*end && v > 0 && v < 65535 ? (int)v : 0;
}

/* mode=: one to four octal digits, permission bits only (at most DEVLINE_MODE_MAX). */
static int safe_mode(const char *v)
{
	size_t n = strlen(v);
	unsigned long m;

	if (n == 0 || n > 4 || strspn(v, "01234567") != n)
		return -1;
	m = strtoul(v, NULL, 8);
	return m <= DEVLINE_MODE_MAX ? (int)m : -1;
}

static bool all_digits(const char *v)
{
	return *v && strspn(v, DIGITS) == strlen(v);
}

/* uid=, gid=: a number up to DEVLINE_ID_MAX, or a name of letters, digits and ._- not led by a digit. */
static bool safe_id(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > DEVLINE_NAME_MAX)
		return false;
	if (all_digits(v))
		return n <= 10 && strtoull(v, NULL, 10) <= DEVLINE_ID_MAX;
	return strspn(v, ALNUM "._-") == n && strchr(ALNUM "_", v[0]) && !strchr(DIGITS, v[0]);
}

/* server= and ctrl=: the control channel reads and writes the TPM's state, so it is Unix-only. */
static const char *parse_channel(struct devline_listen *l, const char *key, const char *val)
{
	l->opt = !strcmp(key, "server") ? "--server" : "--ctrl";
	if (!strncmp(val, "unix:", 5)) {
		if (!safe_path(val + 5))
			return PATH_RULE;
		snprintf(l->path, sizeof(l->path), "%s", val + 5);
	} else if (!strncmp(val, "tcp:", 4) && safe_port(val + 4)) {
		if (!strcmp(key, "ctrl"))
			return "the control channel can read and write the TPM's state: under the "
			       "manager it is Unix-only (ctrl=unix:/path)";
		l->port = safe_port(val + 4);
	} else {
		return "expected unix:/path or tcp:PORT (1-65534)";
	}
	return NULL;
}

/* Copies a setting that may be given once. */
static const char *set_once(char *dst, size_t n, const char *val)
{
	if (*dst)
		return "given twice";
	snprintf(dst, n, "%s", val);
	return NULL;
}

/* The settings that are not listeners. */
static const char *parse_option(struct devline *d, const char *key, const char *val, bool *mode_set)
{
	if (!strcmp(key, "binary")) {
		return safe_path(val) ? set_once(d->binary, sizeof(d->binary), val) : PATH_RULE;
	} else if (!strcmp(key, "flags")) {
		if (strcmp(val, "startup-clear") && strcmp(val, "startup-state") && strcmp(val, "startup-none"))
			return "expected startup-clear, startup-state or startup-none";
		return set_once(d->flags, sizeof(d->flags), val);
	} else if (!strcmp(key, "mode")) {
		if (*mode_set)
			return "given twice";
		d->mode = safe_mode(val);
		if (d->mode < 0)
			return "expected octal permission bits, at most 0777";
		*mode_set = true;
	} else if (!strcmp(key, "migrate-from")) {
		if (d->has_migrate_from)
			return "given twice";
		if (store_uuid_parse(val, d->migrate_from) < 0)
			return "expected a vTPM's UUID";
		d->has_migrate_from = true;
	} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
		if (!safe_id(val))
			return "expected a number up to 4294967294 or a name (letters, digits, ._-; at most 32)";
		return !strcmp(key, "uid") ? set_once(d->uid, sizeof(d->uid), val)
					   : set_once(d->gid, sizeof(d->gid), val);
	} else {
		return "unknown setting (server|ctrl=unix:/path, server=tcp:PORT, tpmif=/path, mssim=PORT, "
		       "flags=startup-clear|startup-state|startup-none, binary=/path, mode=0600, "
		       "migrate-from=UUID, uid=USER, gid=GROUP, insecure-tcp)";
	}
	return NULL;
}

/* One key=value; NULL, or why it is refused. */
static const char *parse_setting(struct devline *d, const char *key, const char *val, bool *mode_set)
{
	struct devline_listen *l = &d->l[d->n];
	bool listener = !strcmp(key, "server") || !strcmp(key, "ctrl") || !strcmp(key, "tpmif") ||
			!strcmp(key, "mssim");
	const char *why = NULL;

	if (!listener)
		return parse_option(d, key, val, mode_set);
	/* at most four listeners (mssim takes two slots); other settings count none */
	if (d->n >= 4)
		return "at most four listeners";
	if (!strcmp(key, "server") || !strcmp(key, "ctrl")) {
		why = parse_channel(l, key, val);
	} else if (!strcmp(key, "tpmif")) {
		l->opt = "--tpmif";
		if (!safe_path(val))
			return PATH_RULE;
		snprintf(l->path, sizeof(l->path), "%s", val);
	} else {
		l->opt = "--mssim";
		l->port = safe_port(val);
		if (!l->port)
			return "expected a port, 1-65534 (the platform port is the next one)";
		l[1] = *l;
		l[1].port++;
		d->n++;
	}
	if (!why)
		d->n++;
	return why;
}

int devline_parse(const char *line, struct devline *d, char *err, size_t errlen)
{
	char copy[STORE_CONFIG_MAX + 1], *save = NULL;
	bool mode_set = false;

	memset(d, 0, sizeof(*d));
	d->mode = DEVLINE_MODE_DEFAULT;
	if (strnlen(line, sizeof(copy)) >= sizeof(copy)) {
		snprintf(err, errlen, "device line longer than %d bytes", STORE_CONFIG_MAX);
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", line);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		const char *why;

		if (!strcmp(tok, "insecure-tcp")) {
			d->insecure_tcp = true;
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "device setting '%s' is not key=value", tok);
			return -1;
		}
		*val++ = '\0';
		why = parse_setting(d, tok, val, &mode_set);
		if (why) {
			snprintf(err, errlen, "bad device setting %s=%s: %s", tok, val, why);
			return -1;
		}
	}
	if (devline_has_tcp(d) && !d->insecure_tcp) {
		snprintf(err, errlen, "a TCP endpoint (server=tcp:, mssim=) is open to every local user: "
			 "use server=unix:/path, or add insecure-tcp to the device line to accept that");
		return -1;
	}
	return 0;
}

/* Appends to out[0..n) at *used; past the end, *used stays >= n (sticky). */
__attribute__((format(printf, 4, 5)))
static void put(char *out, size_t n, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*used >= n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(out + *used, n - *used, fmt, ap);
	va_end(ap);
	*used = w < 0 ? n : *used + (size_t)w;
}

int devline_format(const struct devline *d, char *out, size_t n)
{
	size_t used = 0;

	if (n == 0) {
		errno = ENOSPC;
		return -1;
	}
	out[0] = '\0';
	for (int k = 0; k < d->n; k++) {
		const struct devline_listen *l = &d->l[k];
		const char *sep = used ? "," : "", *key = l->opt + 2;

		if (!strcmp(l->opt, "--tpmif"))
			put(out, n, &used, "%s%s=%s", sep, key, l->path);
		else if (!strcmp(l->opt, "--mssim"))
			put(out, n, &used, "%s%s=%d", sep, key, l->port);
		else if (l->path[0])
			put(out, n, &used, "%s%s=unix:%s", sep, key, l->path);
		else
			put(out, n, &used, "%s%s=tcp:%d", sep, key, l->port);
		if (!strcmp(l->opt, "--mssim"))
			k++;	/* its platform port is implied */
	}
	if (d->flags[0])
		put(out, n, &used, "%sflags=%s", used ? "," : "", d->flags);
	if (d->binary[0])
		put(out, n, &used, "%sbinary=%s", used ? "," : "", d->binary);
	if (d->has_migrate_from) {
		char u[37];

		store_uuid_format(d->migrate_from, u);
		put(out, n, &used, "%smigrate-from=%s", used ? "," : "", u);
	}
	put(out, n, &used, "%smode=0%o", used ? "," : "", (unsigned)d->mode);
	if (d->uid[0])
		put(out, n, &used, ",uid=%s", d->uid);
	if (d->gid[0])
		put(out, n, &used, ",gid=%s", d->gid);
	if (d->insecure_tcp)
		put(out, n, &used, ",insecure-tcp");
	if (used >= n) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

bool devline_has_tcp(const struct devline *d)
{
	for (int k = 0; k < d->n; k++)
		if (!d->l[k].path[0])
			return true;
	return false;
}

/* The uid and gid the Unix sockets get; (uid_t)-1 and (gid_t)-1 keep the manager's. */
static int resolve_owner(const struct devline *d, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (all_digits(d->uid)) {
		*uid = (uid_t)strtoull(d->uid, NULL, 10);
	} else if (d->uid[0]) {
		const struct passwd *pw = getpwnam(d->uid);

		if (!pw) {
			snprintf(err, errlen, "uid=%s: no such user", d->uid);
			return -1;
		}
		*uid = pw->pw_uid;
	}
	if (all_digits(d->gid)) {
		*gid = (gid_t)strtoull(d->gid, NULL, 10);
	} else if (d->gid[0]) {
		const struct group *gr = getgrnam(d->gid);

		if (!gr) {
			snprintf(err, errlen, "gid=%s: no such group", d->gid);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

int devline_check(const struct devline *d, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	struct stat st;

	if (resolve_owner(d, &uid, &gid, err, errlen) < 0)
		return -1;
	for (int k = 0; k < d->n; k++) {
		if (d->l[k].path[0] && lstat(d->l[k].path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket (the manager replaces only "
				 "a socket file)", d->l[k].path);
			return -1;
		}
	}
	return 0;
}

/*
 * Binds path with its final mode and owner, then listens: until listen()
 * a connect() is refused, so no one else ever reaches the socket. A socket
 * file at path is replaced (left by an earlier run); any other file is not.
 */
static int listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid, struct devline_sockfile *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, rc, e;

	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memcpy(sun.sun_path, path, strnlen(path, DEVLINE_PATH_MAX));
	/* the umask gives the new socket file its mode as it is made (one process, one thread) */
	old = umask(~mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || lstat(path, &st) < 0)
		goto fail;
	*f = (struct devline_sockfile){ .dev = st.st_dev, .ino = st.st_ino, .made = true };
	/* a default ACL on the directory overrides the umask; never through a symlink */
	if ((st.st_mode & 07777) != mode && fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0)
		goto fail;
	if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 || lstat(path, &st) < 0)
		goto fail;
	if (!S_ISSOCK(st.st_mode) || st.st_dev != f->dev || st.st_ino != f->ino ||
	    (st.st_mode & 07777) != mode || (uid != (uid_t)-1 && st.st_uid != uid) ||
	    (gid != (gid_t)-1 && st.st_gid != gid)) {
		errno = EPERM;	/* changed under us: its directory is not root's alone */
		goto fail;
	}
	if (listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int devline_listen(const struct devline *d, int *lfds, struct devline_sockfile *files, char *err,
		   size_t errlen)
{
	uid_t uid;
	gid_t gid;

	memset(files, 0, sizeof(*files) * DEVLINE_LISTEN_MAX);
	if (resolve_owner(d, &uid, &gid, err, errlen) < 0)
		return -1;
	for (int k = 0; k < d->n; k++) {
		const struct devline_listen *l = &d->l[k];

		lfds[k] = l->path[0] ? listen_unix(l->path, (mode_t)d->mode, uid, gid, &files[k])
				     : sock_listen_tcp(NULL, l->port);
		if (lfds[k] >= 0)
			continue;
		if (l->path[0] && errno == EEXIST)
			snprintf(err, errlen, "%s exists and is not a socket: left alone", l->path);
		else if (l->path[0])
			snprintf(err, errlen, "cannot listen on %s: %s", l->path, strerror(errno));
		else
			snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", l->port, strerror(errno));
		while (k-- > 0)
			close(lfds[k]);
		devline_unlink(d, files);
		return -1;
	}
	return 0;
}

void devline_unlink(const struct devline *d, const struct devline_sockfile *files)
{
	struct stat st;

	for (int k = 0; k < d->n; k++) {
		const char *path = d->l[k].path;

		if (!path[0] || (files && !files[k].made) || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (!files || (st.st_dev == files[k].dev && st.st_ino == files[k].ino))
			(void)unlink(path);
	}
}

bool devline_share_path(const struct devline *a, const struct devline *b)
{
	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++)
			if (a->l[i].path[0] && !strcmp(a->l[i].path, b->l[j].path))
				return true;
	return false;
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
