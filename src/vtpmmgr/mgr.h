/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mgr: the state of the vtpmmgr process, shared by its modules: settings,
 * event loop, hardware TPM, store, root secret and the running vtpms.
 */
#ifndef VTPMMGR_MGR_H
#define VTPMMGR_MGR_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "config.h"
#include "crypto.h"
#include "ev.h"
#include "hwtpm.h"
#include "mgrmsg.h"
#include "store.h"
#include "tpmback.h"

struct inst;

struct mgr {
	struct mgr_config cfg;
	struct ev_loop *loop;
	struct hwtpm *hw;
	struct store *st;
	uint8_t *root;				/* HWTPM_SECRET_SIZE bytes of secmem */
	int datafd;				/* the data directory: every path in it is relative to this */
	int ctl_fd;				/* control socket, -1 while closed */
	char *ctl_path;				/* its name, removed at close */
	LIST_HEAD(, inst) insts;		/* the running vtpms (vtpms.c) */
	uint8_t vtpm_hash[CRYPTO_DIGEST_SIZE];	/* GET_BOOT_HASH: the executable we launch */
	pid_t dev_pid;				/* --dev: the software stand-in, or 0 */
	int exit_code;
};

#endif
