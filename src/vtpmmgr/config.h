/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config: vtpmmgr's settings, from vtpmmgr.conf(5) and the command line
 * (which wins). Trusted input (the operator's), checked anyway so a typo is
 * an error that names the line.
 */
#ifndef VTPMMGR_CONFIG_H
#define VTPMMGR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "hwtpm.h"
#include "vtpmmgr_ctl.h"

#define MGR_DEFAULT_CONFIG	"/etc/vtpm/vtpmmgr.conf"
#define MGR_DEFAULT_DATA	"/var/lib/vtpmmgr"
#define MGR_DEFAULT_RUN		VTPMMGR_CTL_DEFAULT_RUN
/* the one default hardware TPM: its device node, and the TCTI that opens it */
#define MGR_DEFAULT_TPM_DEVICE	"/dev/tpmrm0"
#define MGR_DEFAULT_TCTI	"device:" MGR_DEFAULT_TPM_DEVICE
#define MGR_DEFAULT_PCRS	"sha256:0,2,4,7"
#define MGR_DEFAULT_COUNTER	0x01500110u
#define MGR_DEFAULT_UID_BASE	400000u
#define MGR_DEFAULT_UID_COUNT	65536u
/* Per-vTPM state budget: three blob types in two slots plus a temp file at NV_BLOB_MAX fit in 4 MiB. */
#define MGR_DEFAULT_STATE_MAX	(4u << 20)
#define MGR_STATE_MAX_MIN	65536u
#define MGR_STATE_MAX_MAX	(1ull << 40)

struct mgr_config {
	char *config_file;
	char *data_dir;		/* store, sealed root secret, vTPM state directories */
	char *run_dir;		/* control socket */
	char *tcti;		/* NULL: not configured */
	struct hwtpm_pcrsel pcrs;
	uint32_t counter_index;
	uint32_t uid_base;	/* vtpms run as uid_base .. uid_base + uid_count - 1 */
	uint32_t uid_count;
	uint64_t state_max;	/* bytes a vtpm may keep in its state directory (RLIMIT_FSIZE too) */
	char *vtpm_binary;
	char *log_file;
	char *pid_file;
	bool dev;		/* software stand-in for the hardware TPM */
	bool new_store;		/* --new-store: an empty store where one was deleted */
	uint64_t adopt_counter;	/* --adopt-counter: confirmed counter value, or 0 */
	bool help;
};

/* Defaults, then the file (if present or named), then argv. 0 or -1. */
int config_load(struct mgr_config *c, int argc, char **argv);
void config_free(struct mgr_config *c);
void config_usage(void);

#endif
