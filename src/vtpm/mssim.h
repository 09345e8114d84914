/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mssim: the Microsoft/IBM TPM 2.0 simulator's socket protocol, run by the
 * vtpm process for tpm2-tss' mssim TCTI and IBM's TSS utilities. Two ports:
 * the command port (TPM_SEND_COMMAND with a locality byte, hash signals,
 * handshake, SESSION_END) and the platform port (power, NV, cancel, physical
 * presence, reset). Every request is a u32 big-endian code, some with a body;
 * every reply ends with a u32 0 acknowledgement. The client is untrusted.
 */
#ifndef VTPM_MSSIM_H
#define VTPM_MSSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"
#include "frame.h"

enum mssim_code {
	MSSIM_POWER_ON = 1,
	MSSIM_POWER_OFF = 2,
	MSSIM_PHYS_PRES_ON = 3,
	MSSIM_PHYS_PRES_OFF = 4,
	MSSIM_HASH_START = 5,
	MSSIM_HASH_DATA = 6,
	MSSIM_HASH_END = 7,
	MSSIM_SEND_COMMAND = 8,
	MSSIM_CANCEL_ON = 9,
	MSSIM_CANCEL_OFF = 10,
	MSSIM_NV_ON = 11,
	MSSIM_NV_OFF = 12,
	MSSIM_KEY_CACHE_ON = 13,
	MSSIM_KEY_CACHE_OFF = 14,
	MSSIM_REMOTE_HANDSHAKE = 15,
	MSSIM_SET_ALTERNATIVE_RESULT = 16,
	MSSIM_RESET = 17,
	MSSIM_RESTART = 18,
	MSSIM_SESSION_END = 20,
	MSSIM_STOP = 21,
};

/* Frames one request at the start of p[0..n); lengths capped at TPM_PACKET_MAX. */
enum frame_result mssim_frame(const uint8_t *p, size_t n, size_t *len);

enum mssim_action {
	MSSIM_CONTINUE,
	MSSIM_CLOSE,		/* SESSION_END or an unknown code: close this client */
	MSSIM_EXIT,		/* STOP: the process exits */
};

/*
 * Runs one complete request; appends the reply to out and says what the
 * connection does next. platform selects the platform port's command set.
 */
enum mssim_action mssim_handle(const uint8_t *req, size_t len, bool platform, struct dbuf *out);

#endif
