/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * engine: the libtpms glue of the vtpm process. libtpms keeps one TPM in
 * process globals, so this module is a singleton by nature: one process, one
 * vTPM. It owns the NV callbacks (all persistence goes to nv), the locality
 * and physical-presence callbacks, power cycles, and the automatic
 * TPM2_Shutdown that keeps abrupt resets from counting as DA failures.
 * Commands come from clients and are untrusted; libtpms parses them.
 */
#ifndef VTPM_ENGINE_H
#define VTPM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "nv.h"

/* Startup the process sends by itself after power-on (--flags startup-*). */
enum engine_startup {
	ENGINE_STARTUP_NONE = 0,
	ENGINE_STARTUP_CLEAR,
	ENGINE_STARTUP_STATE,
	ENGINE_STARTUP_DEACTIVATED,	/* TPM 1.2 only */
};

/* Chooses the version and registers callbacks; call once, before start. */
int engine_init(bool tpm2, struct nv *nv);
bool engine_is_tpm2(void);
bool engine_running(void);
/*
 * Powers the TPM on (TPMLIB_MainInit) from the state in nv. Refuses, with a
 * non-zero TPM_RESULT (libtpms' own, or TPM_FAIL) and nothing written, when
 * a state file fails to verify.
 */
uint32_t engine_start(bool delete_volatile, enum engine_startup su);
/* Auto-shutdown (TPM2) then power off; no-op when stopped. */
void engine_stop(void);
/* Power off as is, without the automatic Shutdown (its state write). */
void engine_power_off(void);
/* How many times the permanent state was written by libtpms so far. */
uint64_t engine_state_writes(void);
/*
 * Runs one complete command. *rsp points to an engine buffer valid until the
 * next call. When the TPM is off, answers with a fatal error response, as
 * swtpm does before CMD_INIT.
 */
void engine_process(const uint8_t *cmd, uint32_t len, const uint8_t **rsp, uint32_t *rsp_len);
/* Sets the current locality as is; transports go through the checks below. */
void engine_set_locality(uint8_t loc);
uint8_t engine_locality(void);
/*
 * The --locality policy, the one place it lives: reject_4 refuses locality 4
 * wherever a client names one (ctrl SET_LOCALITY, the MSSIM prefix, mssim
 * SEND_COMMAND, the tpmif ring); allow_set enables swtpm's in-band
 * TPM2_CC_SetLocality vendor command on every command path.
 */
void engine_set_locality_policy(bool reject_4, bool allow_set);
/* True if a client may name locality loc under the policy (0-4, 4 unless rejected). */
bool engine_locality_ok(uint32_t loc);
/*
 * engine_process at the locality a transport carried with the command (loc
 * < 0: none, the current one), restored afterwards. A refused locality is
 * answered TPM_RC_LOCALITY (TPM_BAD_LOCALITY for 1.2) without running; an
 * allowed in-band SetLocality changes the current locality as swtpm does.
 */
void engine_process_at(int loc, const uint8_t *cmd, uint32_t len, const uint8_t **rsp,
		       uint32_t *rsp_len);
void engine_set_physical_presence(bool on);
/* Serialises the volatile state and stores it as "volatilestate". */
uint32_t engine_store_volatile(void);
/* Removes the stored volatile state so it cannot be resumed again. */
void engine_delete_volatile(void);
/* Buffer size: wanted 0 queries; returns the size in force. */
uint32_t engine_set_buffersize(uint32_t wanted, uint32_t *min, uint32_t *max);
/* State blobs by TPMLIB_StateType (1 permanent, 2 volatile, 4 savestate). */
uint32_t engine_get_state(int type, uint8_t **blob, uint32_t *len);
uint32_t engine_set_state(int type, const uint8_t *blob, uint32_t len);
/* True while a long command may poll the cancel flag (mssim CANCEL_ON). */
void engine_cancel(void);

#endif
