/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * opts: the vtpm command line. `vtpm socket ...` takes swtpm's socket
 * command line for every option the two share, with swtpm's defaults (TPM
 * 1.2 unless --tpm2); `vtpm serve ...` takes the same options but defaults
 * to TPM 2.0. Input is the operator's; errors name the offending option.
 */
#ifndef VTPM_OPTS_H
#define VTPM_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

enum endpoint_type { EP_NONE = 0, EP_TCP, EP_UNIX };

struct endpoint {
	enum endpoint_type type;
	char *path;		/* unixio path */
	char *bindaddr;		/* tcp; NULL = 127.0.0.1 */
	int port;		/* tcp */
	int fd;			/* listening fd handed in, or -1 */
	int clientfd;		/* connected fd handed in (ctrl), or -1 */
	int mode;		/* unix socket file mode, or -1 */
	bool disconnect;	/* server: close the data connection after each reply */
	bool terminate;		/* ctrl: exit when the ctrl client leaves */
};

/* swtpm's --seccomp action=: what a system call outside the allow-list meets */
enum opts_seccomp { OPTS_SECCOMP_KILL, OPTS_SECCOMP_LOG, OPTS_SECCOMP_NONE };

struct opts {
	bool tpm2;
	char *state_dir;
	int state_fd;		/* state directory handed in as a descriptor, or -1 */
	int state_mode;
	uint64_t state_max;	/* bytes the state directory may hold (max-size=), 0: no cap */
	struct endpoint server;
	struct endpoint ctrl;
	char *tpmif_path;	/* tpmif rendezvous socket, or NULL */
	int manager_fd;		/* rendezvous socket to vtpmmgr, or -1: plain state */
	char *name;		/* log prefix id (the vTPM's UUID under vtpmmgr) */
	int tpmif_mode;
	int tpmif_fd;		/* ...or a listening socket handed in, or -1 */
	int mssim_port;		/* 0 = off; platform port is +1 */
	char *mssim_bindaddr;
	int mssim_fds[2];	/* listening command/platform sockets handed in, or -1 */
	bool not_need_init;
	enum engine_startup startup;
	bool reject_locality_4;
	bool allow_set_locality;
	char *pid_file;
	int pid_fd;
	char *log_file;
	int log_fd;
	int log_level;
	bool log_truncate;
	bool terminate;
	bool daemonize;
	enum opts_seccomp seccomp;	/* standalone: the filter's action for a call outside it */
	bool print_capabilities;
	bool help;
	bool version;
};

/* Parses argv (argv[0] is the program, argv[1] the subcommand). 0 or -1. */
int opts_parse(struct opts *o, int argc, char **argv);
void opts_free(struct opts *o);
void opts_usage(const char *prog);

#endif
