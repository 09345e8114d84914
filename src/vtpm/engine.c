/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * engine: libtpms in this process. All calls are serialised on the main
 * thread (libtpms is not re-entrant). Persistence goes through the nvram
 * callbacks into nv, never through libtpms' own NVChip file fallback.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_memory.h>
#include <libtpms/tpm_nvfilename.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "tpm.h"

static struct {
	struct nv *nv;
	bool tpm2;
	bool running;
	bool nv_failed;		/* a load callback saw a bad file this power-on */
	bool pp;
	uint8_t locality;
	bool reject_locality_4;	/* --locality reject-locality-4 */
	bool allow_set_locality;	/* --locality allow-set-locality */
	uint64_t perm_writes;	/* permanent-state writes so far (engine_state_writes) */
	int guest_su;		/* type of the last successful TPM2_Shutdown since Startup, or -1 */
	uint8_t *rsp;		/* libtpms-managed response buffer, reused */
	uint32_t rsp_cap;
	uint8_t err[TPM_HDR_SIZE];
} eng;

static TPM_RESULT cb_nvram_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_loaddata(unsigned char **data, uint32_t *length, uint32_t tpm_number,
			      const char *name)
{
	uint8_t *p = NULL;
	uint32_t n = 0;
	int r;

	(void)tpm_number;
	r = nv_load(eng.nv, name, &p, &n);
	if (r == 1)
		return TPM_RETRY;	/* nothing stored yet */
	if (r < 0) {
		eng.nv_failed = true;
		return TPM_FAIL;
	}
	/* libtpms frees *data with its own allocator */
	if (TPM_Malloc(data, n ? n : 1) != TPM_SUCCESS) {
		explicit_bzero(p, n);
		free(p);
		return TPM_FAIL;
	}
	memcpy(*data, p, n);
	*length = n;
	explicit_bzero(p, n);
	free(p);
	return TPM_SUCCESS;
}

static TPM_RESULT cb_storedata(const unsigned char *data, uint32_t length, uint32_t tpm_number,
			       const char *name)
{
	(void)tpm_number;
	if (eng.nv_failed) {
		/* a file failed to verify this power-on: never write over it */
		return TPM_FAIL;
	}
	if (nv_store(eng.nv, name, data, length) < 0) {
		log_err("storing %s failed; the TPM enters failure mode", name);
		return TPM_FAIL;
	}
	if (strcmp(name, TPM_PERMANENT_ALL_NAME) == 0)
		eng.perm_writes++;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_deletename(uint32_t tpm_number, const char *name, TPM_BOOL must_exist)
{
	(void)tpm_number;
	return nv_delete(eng.nv, name, must_exist) < 0 ? TPM_FAIL : TPM_SUCCESS;
}

static TPM_RESULT cb_io_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT cb_getlocality(TPM_MODIFIER_INDICATOR *loc, uint32_t tpm_number)
{
	(void)tpm_number;
	*loc = eng.locality;
	return TPM_SUCCESS;
}

static TPM_RESULT cb_getpp(TPM_BOOL *pp, uint32_t tpm_number)
{
	(void)tpm_number;
	*pp = eng.pp;
	return TPM_SUCCESS;
}

int engine_init(bool tpm2, struct nv *nv)
{
	struct libtpms_callbacks cbs = {
		.sizeOfStruct = sizeof(cbs),
		.tpm_nvram_init = cb_nvram_init,
		.tpm_nvram_loaddata = cb_loaddata,
		.tpm_nvram_storedata = cb_storedata,
		.tpm_nvram_deletename = cb_deletename,
		.tpm_io_init = cb_io_init,
		.tpm_io_getlocality = cb_getlocality,
		.tpm_io_getphysicalpresence = cb_getpp,
	};

	eng.nv = nv;
	eng.tpm2 = tpm2;
	/*
	 * libtpms prints a failure-mode entry with the whole command in hex to
	 * its debug fd (stderr by default): a command can carry secrets, and
	 * stderr is the manager's log. Our own log line says what happened.
	 */
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull >= 0)
		TPMLIB_SetDebugFD(devnull);
	if (TPMLIB_RegisterCallbacks(&cbs) != TPM_SUCCESS ||
	    TPMLIB_ChooseTPMVersion(tpm2 ? TPMLIB_TPM_VERSION_2 : TPMLIB_TPM_VERSION_1_2) !=
		    TPM_SUCCESS) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

bool engine_is_tpm2(void)
{
	return eng.tpm2;
}

bool engine_running(void)
{
	return eng.running;
}

/* Runs a command the process builds itself; returns its response code. */
static uint32_t run_internal(const uint8_t *cmd, uint32_t len)
{
	const uint8_t *rsp;
	uint32_t rlen;

	engine_process(cmd, len, &rsp, &rlen);
	return tpm_response_rc(rsp, rlen);
}

static uint32_t send_startup(enum engine_startup su)
{
	uint8_t cmd[12];
	size_t n;

	switch (su) {
	case ENGINE_STARTUP_NONE:
		return TPM_SUCCESS;
	case ENGINE_STARTUP_CLEAR:
		n = eng.tpm2 ? tpm2_build_su(cmd, TPM20_CC_STARTUP, TPM20_SU_CLEAR)
			     : tpm12_build_startup(cmd, TPM_ST_CLEAR);
		break;
	case ENGINE_STARTUP_STATE:
		n = eng.tpm2 ? tpm2_build_su(cmd, TPM20_CC_STARTUP, TPM20_SU_STATE)
			     : tpm12_build_startup(cmd, TPM_ST_STATE);
		break;
	case ENGINE_STARTUP_DEACTIVATED:
		if (eng.tpm2)
			return TPM_BAD_PARAMETER;
		n = tpm12_build_startup(cmd, TPM_ST_DEACTIVATED);
		break;
	default:
		return TPM_BAD_PARAMETER;
	}
	return run_internal(cmd, (uint32_t)n);
}

uint32_t engine_start(bool delete_volatile, enum engine_startup su)
{
	TPM_RESULT rc;
	uint32_t src;

	if (eng.running)
		engine_stop();
	eng.nv_failed = false;
	eng.guest_su = -1;
	rc = TPMLIB_MainInit();
	if (rc == TPM_SUCCESS && eng.nv_failed) {
		/* libtpms would limp on in failure mode; refuse instead */
		TPMLIB_Terminate();
		rc = TPM_FAIL;
	}
	if (rc != TPM_SUCCESS) {
		log_err("TPM power-on failed (0x%x); state left as it was", rc);
		return rc;
	}
	eng.running = true;
	if (delete_volatile)
		engine_delete_volatile();
	src = send_startup(su);
	if (src != TPM_SUCCESS)
		log_warn("automatic startup answered 0x%x", src);
	return TPM_SUCCESS;
}

void engine_stop(void)
{
	uint8_t cmd[12];

	if (!eng.running)
		return;
	/*
	 * An orderly shutdown keeps an abrupt reset from counting as a DA
	 * failure. It repeats the guest's own Shutdown type if there was one
	 * (a Shutdown(STATE) before S3 must survive a later GetRandom).
	 */
	if (eng.tpm2) {
		uint16_t su = eng.guest_su >= 0 ? (uint16_t)eng.guest_su : TPM20_SU_CLEAR;
		uint32_t rc = run_internal(cmd, (uint32_t)tpm2_build_su(cmd, TPM20_CC_SHUTDOWN, su));
		log_debug("automatic TPM2_Shutdown(%u): 0x%x", su, rc);
	}
	engine_power_off();
}

void engine_power_off(void)
{
	if (!eng.running)
		return;
	TPMLIB_Terminate();
	eng.running = false;
}

uint64_t engine_state_writes(void)
{
	return eng.perm_writes;
}

void engine_process(const uint8_t *cmd, uint32_t len, const uint8_t **rsp, uint32_t *rsp_len)
{
	uint32_t rlen = 0;
	TPM_RESULT rc;

	if (!eng.running) {
		*rsp_len = (uint32_t)tpm_error_response(eng.err, eng.tpm2,
							eng.tpm2 ? TPM20_RC_FAILURE : TPM_FAIL);
		*rsp = eng.err;
		return;
	}
	/* libtpms reads the command in place but wants a mutable pointer */
	rc = TPMLIB_Process(&eng.rsp, &rlen, &eng.rsp_cap, (unsigned char *)cmd, len);
	if (rc != TPM_SUCCESS || rlen < TPM_HDR_SIZE || !eng.rsp) {
		*rsp_len = (uint32_t)tpm_error_response(eng.err, eng.tpm2,
							eng.tpm2 ? TPM20_RC_FAILURE : TPM_FAIL);
		*rsp = eng.err;
		return;
	}
	if (eng.tpm2 && len >= TPM_HDR_SIZE + 2 && tpm_response_rc(eng.rsp, rlen) == TPM20_RC_SUCCESS) {
		/* len >= TPM_HDR_SIZE + 2 covers the ordinal and the u16 after the header */
		uint32_t cc = be32_load(cmd + 6);
		if (cc == TPM20_CC_STARTUP)
			eng.guest_su = -1;
		else if (cc == TPM20_CC_SHUTDOWN)
			eng.guest_su = be16_load(cmd + TPM_HDR_SIZE);
	}
	*rsp = eng.rsp;
	*rsp_len = rlen;
}

void engine_set_locality(uint8_t loc)
{
	eng.locality = loc;
}

uint8_t engine_locality(void)
{
	return eng.locality;
}

void engine_set_locality_policy(bool reject_4, bool allow_set)
{
	eng.reject_locality_4 = reject_4;
	eng.allow_set_locality = allow_set;
}

bool engine_locality_ok(uint32_t loc)
{
	return loc < 4 || (loc == 4 && !eng.reject_locality_4);
}

static void answer_err(uint32_t rc2, uint32_t rc12, const uint8_t **rsp, uint32_t *rsp_len)
{
	*rsp_len = (uint32_t)tpm_error_response(eng.err, eng.tpm2, eng.tpm2 ? rc2 : rc12);
	*rsp = eng.err;
}

/* swtpm's TPM2_CC_SetLocality: u8 locality after the header. */
static bool is_set_locality(const uint8_t *cmd, uint32_t len)
{
	struct tpm_hdr h;

	return eng.tpm2 && tpm_hdr_parse(cmd, len, TPM_PACKET_MAX, &h) == 1 &&
	       h.code == TPM20_CC_SET_LOCALITY;
}

void engine_process_at(int loc, const uint8_t *cmd, uint32_t len, const uint8_t **rsp,
		       uint32_t *rsp_len)
{
	uint8_t saved = eng.locality;

	if (loc >= 0 && !engine_locality_ok((uint32_t)loc)) {
		answer_err(TPM20_RC_LOCALITY, TPM_BAD_LOCALITY, rsp, rsp_len);
		return;
	}
	if (eng.allow_set_locality && is_set_locality(cmd, len)) {
		if (len != TPM_HDR_SIZE + 1)
			answer_err(TPM20_RC_COMMAND_SIZE, TPM_BAD_PARAM_SIZE, rsp, rsp_len);
		else if (!engine_locality_ok(cmd[TPM_HDR_SIZE]))
			answer_err(TPM20_RC_LOCALITY, TPM_BAD_LOCALITY, rsp, rsp_len);
		else {
			eng.locality = cmd[TPM_HDR_SIZE];
			answer_err(TPM20_RC_SUCCESS, TPM_SUCCESS, rsp, rsp_len);
		}
		return;
	}
	if (loc >= 0)
		eng.locality = (uint8_t)loc;
	engine_process(cmd, len, rsp, rsp_len);
	if (loc >= 0)
		eng.locality = saved;
}

void engine_set_physical_presence(bool on)
{
	eng.pp = on;
}

uint32_t engine_store_volatile(void)
{
	unsigned char *blob = NULL;
	uint32_t len = 0;
	TPM_RESULT rc;

	if (!eng.running)
		return TPM_BAD_ORDINAL;
	rc = TPMLIB_VolatileAll_Store(&blob, &len);
	if (rc == TPM_SUCCESS && nv_store(eng.nv, TPM_VOLATILESTATE_NAME, blob, len) < 0)
		rc = TPM_FAIL;
	if (blob) {
		explicit_bzero(blob, len);
		TPM_Free(blob);
	}
	return rc;
}

void engine_delete_volatile(void)
{
	if (nv_delete(eng.nv, TPM_VOLATILESTATE_NAME, false) < 0)
		log_warn("cannot delete the volatile state file");
}

uint32_t engine_set_buffersize(uint32_t wanted, uint32_t *min, uint32_t *max)
{
	return TPMLIB_SetBufferSize(wanted, min, max);
}

uint32_t engine_get_state(int type, uint8_t **blob, uint32_t *len)
{
	unsigned char *p = NULL;
	uint32_t n = 0;
	TPM_RESULT rc;

	if (type == TPMLIB_STATE_SAVE_STATE && eng.tpm2) {
		/* TPM 2.0 keeps Shutdown(STATE) data in NV: the blob is empty */
		*blob = NULL;
		*len = 0;
		return TPM_SUCCESS;
	}
	eng.nv_failed = false;
	rc = TPMLIB_GetState((enum TPMLIB_StateType)type, &p, &n);
	if (rc == TPM_RETRY || (rc == TPM_SUCCESS && !p)) {
		*blob = NULL;
		*len = 0;
		return eng.nv_failed ? TPM_FAIL : TPM_SUCCESS;
	}
	if (rc != TPM_SUCCESS)
		return rc;
	*blob = malloc(n ? n : 1);
	if (!*blob) {
		TPM_Free(p);
		return TPM_SIZE;
	}
	memcpy(*blob, p, n);
	*len = n;
	explicit_bzero(p, n);
	TPM_Free(p);
	return TPM_SUCCESS;
}

static const char *state_name(int type)
{
	switch (type) {
	case TPMLIB_STATE_PERMANENT: return TPM_PERMANENT_ALL_NAME;
	case TPMLIB_STATE_VOLATILE: return TPM_VOLATILESTATE_NAME;
	case TPMLIB_STATE_SAVE_STATE: return TPM_SAVESTATE_NAME;
	default: return NULL;
	}
}

/* True if a stopped TPM has a permanent state to start from (cached or stored). */
static bool permanent_present(void)
{
	uint8_t *blob = NULL;
	uint32_t len = 0;
	bool present = engine_get_state(TPMLIB_STATE_PERMANENT, &blob, &len) == TPM_SUCCESS && len > 0;

	if (blob) {
		explicit_bzero(blob, len);
		free(blob);
	}
	return present;
}

uint32_t engine_set_state(int type, const uint8_t *blob, uint32_t len)
{
	const char *name = state_name(type);
	TPM_RESULT rc;

	if (!name || len > NV_BLOB_MAX)
		return TPM_BAD_PARAMETER;
	if (eng.running)
		return TPM_INVALID_POSTINIT;
	if (type == TPMLIB_STATE_SAVE_STATE && eng.tpm2)
		return len == 0 ? TPM_SUCCESS : TPM_BAD_PARAMETER;
	if (type == TPMLIB_STATE_PERMANENT && len == 0) {
		/* an empty permanent state would be a wiped TPM: never by a control client */
		log_err("empty permanent state blob refused; stored state untouched");
		return TPM_BAD_PARAMETER;
	}
	if (type == TPMLIB_STATE_VOLATILE && len > 0 && !permanent_present()) {
		/* libtpms validates volatile state against the permanent one and
		 * dereferences NULL when there is none (found by fuzz_ctrl) */
		log_err("volatile state offered without a permanent state; refused");
		return TPM_BAD_PARAMETER;
	}
	/* libtpms test-unmarshals first: a blob it cannot read never reaches disk */
	rc = TPMLIB_SetState((enum TPMLIB_StateType)type, len ? blob : NULL, len);
	if (rc != TPM_SUCCESS) {
		log_err("incoming %s blob rejected (0x%x); stored state untouched", name, rc);
		return rc;
	}
	if (len == 0)
		return nv_delete(eng.nv, name, false) < 0 ? TPM_FAIL : TPM_SUCCESS;
	return nv_store(eng.nv, name, blob, len) < 0 ? TPM_FAIL : TPM_SUCCESS;
}

void engine_cancel(void)
{
	(void)TPMLIB_CancelCommand();
}
