/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpms: the vtpm processes the manager runs. Each is started with its
 * channel to the manager already connected (a socketpair end as fd 3, the
 * rendezvous of a tpmif ring on which the vtpm is the frontend), so the
 * manager knows which vTPM speaks on a connection because it made it;
 * nothing a vtpm says about itself is identity. A vtpm that crashes is
 * reported and never takes the manager down.
 */
#ifndef VTPMMGR_VTPMS_H
#define VTPMMGR_VTPMS_H

#include <stdbool.h>

#include "mgr.h"

/* fd number the vtpm finds its manager channel on */
#define VTPMS_CHANNEL_FD	3
/* the launched child's exit codes before the vtpm runs (as a shell's) */
#define VTPMS_EXIT_SANDBOX	126
#define VTPMS_EXIT_NOEXEC	127

typedef void (*vtpms_exit_cb)(void *arg, int status);
/* ready: the vtpm has loaded its state and serves (true), or exited first (false) */
typedef void (*vtpms_ready_cb)(void *arg, bool ready);

/*
 * Starts a vtpm; cb (may be NULL) learns whether it comes up: a vtpm asks
 * for its boot hash once its TPM runs, which is taken as ready.
 */
int vtpms_start(struct mgr *m, const struct store_vtpm *v, vtpms_ready_cb cb, void *arg);
/*
 * Asks a vtpm to stop (SIGTERM: it sends its automatic TPM2_Shutdown and
 * records the state through us). cb runs when it has exited.
 */
int vtpms_stop(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], vtpms_exit_cb cb, void *arg);
/* Kills vtpms that did not stop in time; true while any is stopping. */
bool vtpms_tick(struct mgr *m);
bool vtpms_any(const struct mgr *m);
bool vtpms_running(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], pid_t *pid);
/* Reaps exited children (SIGCHLD) and reports them. */
void vtpms_reap(struct mgr *m);
void vtpms_stop_all(struct mgr *m);
/* The data directory's folder of vTPM state directories, and its mode. */
#define VTPMS_STATE_PARENT	"vtpm"
#define VTPMS_STATE_NAME_SIZE	(sizeof(VTPMS_STATE_PARENT "/") + 36)
/* The state directory of a vTPM, relative to the data directory's descriptor. */
void vtpms_state_name(const uint8_t uuid[VTPM_UUID_SIZE], char out[VTPMS_STATE_NAME_SIZE]);
/*
 * Removes the socket files at a stopped vTPM's paths (left by a manager
 * that was killed), unless a running vTPM uses them.
 */
void vtpms_remove_sockets(struct mgr *m, const struct store_vtpm *v);

#endif
