/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_hwtpm: the manager's hardware TPM module against a real swtpm, started
 * here in a temporary directory on a free loopback port as the stand-in
 * hardware TPM and killed by pid at the end (and by the kernel if this
 * process dies first). Covers PCR selections, the software policy digest
 * against the TPM's trial session, seal/unseal to current and future PCR
 * values, the mismatch report, tampered and truncated blobs, the NV counter
 * across handles, and that no transient object or session is left behind.
 * swtpm serves one connection at a time, so the test's own ESAPI context
 * (for extends, trial sessions, handle counts) runs while the module's
 * handle is closed. Test code: trusts the swtpm it started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "buf.h"
#include "crypto.h"
#include "hwtpm.h"
#include "log.h"

#define SW_PATH_MAX		256
#define SW_PORT_LOW		10000
#define SW_PORT_SPAN		22000	/* ports below 32768, away from 2321 */
#define SW_START_TRIES		20
#define SW_READY_POLLS		500	/* x 10 ms */
#define SW_STOP_POLLS		200

#define NV_COUNTER		0x01500016u
#define NV_COUNTER2		0x01500017u
#define NV_ORDINARY		0x01500018u
#define TIMING_ROUNDS		20
/* tss2's TPM2_TRANSIENT_FIRST shifts a signed int into its sign bit (UBSan says so) */
#define HANDLES_TRANSIENT	0x80000000u
#define HANDLES_LOADED_SESSION	0x02000000u
#define HANDLES_SAVED_SESSION	0x03000000u

/* Blob layout (see hwtpm.c): offsets for the length-field tests. */
#define BLOB_HDR		11
#define BLOB_COUNT_OFF		10

static struct {
	char dir[SW_PATH_MAX];
	char tcti[64];
	int port;
	pid_t pid;
} sw = { .pid = -1 };

static struct hwtpm *h;

/* ---- the swtpm process ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static bool port_free(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static bool port_listening(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void sw_stop(void)
{
	if (sw.pid > 0) {
		int status;

		kill(sw.pid, SIGTERM);
		for (int i = 0; i < SW_STOP_POLLS && waitpid(sw.pid, &status, WNOHANG) == 0; i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			if (i == SW_STOP_POLLS - 1) {
				kill(sw.pid, SIGKILL);
				waitpid(sw.pid, &status, 0);
			}
		}
		sw.pid = -1;
	}
	if (sw.dir[0]) {
		(void)nftw(sw.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		sw.dir[0] = '\0';
	}
}

/* Forks swtpm on port; 0 when it listens, -1 when it exited (port taken meanwhile). */
static int sw_try(int port)
{
	char state[SW_PATH_MAX + 16], server[64], ctrl[64], logp[SW_PATH_MAX + 16];
	pid_t parent = getpid();
	pid_t pid;

	snprintf(state, sizeof(state), "dir=%s", sw.dir);
	snprintf(server, sizeof(server), "type=tcp,port=%d", port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d", port + 1);
	snprintf(logp, sizeof(logp), "%s/swtpm.log", sw.dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* dies with the test even when the test cannot clean up */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state,
		       "--server", server, "--ctrl", ctrl,
		       "--flags", "not-need-init,startup-clear", (char *)NULL);
		_exit(127);
	}
	sw.pid = pid;
	for (int i = 0; i < SW_READY_POLLS; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			sw.pid = -1;
			return -1;
		}
		if (port_listening(port + 1) && port_listening(port))
			return 0;
		nanosleep(&ts, NULL);
	}
	fail_msg("swtpm did not listen on %d", port);
	return -1;
}

static void sw_start(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(sw.dir, sizeof(sw.dir), "%s/vtpm-hwtpm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(sw.dir));
	for (int t = 0; t < SW_START_TRIES; t++) {
		uint32_t r;
		int port;

		assert_int_equal(crypto_random(&r, sizeof(r)), 0);
		port = SW_PORT_LOW + (int)(r % SW_PORT_SPAN);
		if (!port_free(port) || !port_free(port + 1))
			continue;
		if (sw_try(port) == 0) {
			sw.port = port;
			snprintf(sw.tcti, sizeof(sw.tcti), "swtpm:host=127.0.0.1,port=%d", port);
			return;
		}
	}
	fail_msg("could not start swtpm (is it installed?)");
}

/* ---- the module's handle, and the test's own ESAPI context ---- */

static void hw_open(void)
{
	h = hwtpm_open(sw.tcti);
	assert_non_null(h);
}

static void hw_close(void)
{
	hwtpm_close(h);
	h = NULL;
}

struct raw {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static void raw_open(struct raw *r)
{
	assert_int_equal(Tss2_TctiLdr_Initialize(sw.tcti, &r->tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&r->esys, r->tcti, NULL), TSS2_RC_SUCCESS);
}

static void raw_close(struct raw *r)
{
	Esys_Finalize(&r->esys);
	Tss2_TctiLdr_Finalize(&r->tcti);
}

/* PCR_Extend(pcr, sha256 digest), with the module's handle closed meanwhile. */
static void extend(unsigned pcr, const uint8_t digest[HWTPM_DIGEST_SIZE])
{
	TPML_DIGEST_VALUES v = { .count = 1 };
	struct raw r;

	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, digest, HWTPM_DIGEST_SIZE);
	hw_close();
	raw_open(&r);
	assert_int_equal(Esys_PCR_Extend(r.esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
					 ESYS_TR_NONE, ESYS_TR_NONE, &v), TSS2_RC_SUCCESS);
	raw_close(&r);
	hw_open();
}

static uint32_t raw_handle_count(struct raw *r, uint32_t first)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t n;

	assert_int_equal(Esys_GetCapability(r->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					    TPM2_CAP_HANDLES, first, 64, &more, &cap),
			 TSS2_RC_SUCCESS);
	n = cap->data.handles.count;
	Esys_Free(cap);
	return n;
}

/* swtpm has no resource manager: whatever the module leaves loaded stays. */
static void assert_nothing_loaded(void)
{
	struct raw r;

	hw_close();
	raw_open(&r);
	assert_int_equal(raw_handle_count(&r, HANDLES_TRANSIENT), 0);
	assert_int_equal(raw_handle_count(&r, HANDLES_LOADED_SESSION), 0);
	assert_int_equal(raw_handle_count(&r, HANDLES_SAVED_SESSION), 0);
	raw_close(&r);
	hw_open();
}

/* The TPM's own PolicyPCR digest from a trial session (pcr_digest NULL: current values). */
static void trial_digest(uint32_t mask, const uint8_t *pcr_digest, uint8_t out[HWTPM_DIGEST_SIZE])
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel = { .count = 1 };
	TPM2B_DIGEST want = { 0 };
	TPM2B_DIGEST *got = NULL;
	ESYS_TR sess;
	struct raw r;

	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	for (int i = 0; i < 3; i++)
		sel.pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
	if (pcr_digest) {
		want.size = HWTPM_DIGEST_SIZE;
		memcpy(want.buffer, pcr_digest, HWTPM_DIGEST_SIZE);
	}
	hw_close();
	raw_open(&r);
	assert_int_equal(Esys_StartAuthSession(r.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_TRIAL,
					       &sym, TPM2_ALG_SHA256, &sess), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_PolicyPCR(r.esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					&want, &sel), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_PolicyGetDigest(r.esys, sess, ESYS_TR_NONE, ESYS_TR_NONE,
					      ESYS_TR_NONE, &got), TSS2_RC_SUCCESS);
	assert_int_equal(got->size, HWTPM_DIGEST_SIZE);
	memcpy(out, got->buffer, HWTPM_DIGEST_SIZE);
	Esys_Free(got);
	assert_int_equal(Esys_FlushContext(r.esys, sess), TSS2_RC_SUCCESS);
	raw_close(&r);
	hw_open();
}

static void sel_of(const char *s, struct hwtpm_pcrsel *sel)
{
	assert_int_equal(hwtpm_pcrsel_parse(s, sel), 0);
}

static void new_secret(uint8_t s[HWTPM_SECRET_SIZE])
{
	assert_int_equal(crypto_random(s, HWTPM_SECRET_SIZE), 0);
}

/* sha256(old || digest): the value a sha256 PCR takes on extend. */
static void pcr_after(const uint8_t old[HWTPM_DIGEST_SIZE], const uint8_t d[HWTPM_DIGEST_SIZE],
		      uint8_t out[HWTPM_DIGEST_SIZE])
{
	uint8_t cat[2 * HWTPM_DIGEST_SIZE];

	memcpy(cat, old, HWTPM_DIGEST_SIZE);
	memcpy(cat + HWTPM_DIGEST_SIZE, d, HWTPM_DIGEST_SIZE);
	assert_int_equal(crypto_sha256(cat, sizeof(cat), out), 0);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	(void)state;
	sw_start();
	hw_open();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hw_close();
	sw_stop();
	return 0;
}

/* ---- tests ---- */

static void test_pcrsel(void **state)
{
	static const char *const bad[] = {
		"", "sha256", "sha256:", "sha1:0", "SHA256:0", "sha256:24", "sha256:1,",
		"sha256:,1", "sha256:1,1", "sha256:001", "sha256:-1", "sha256:1 ",
		"sha256: 1", "sha256:99999999999999999999", "sha256:1;2", "sha256:a",
	};
	struct hwtpm_pcrsel sel;
	char out[80], small[10];

	(void)state;
	sel_of("sha256:0,2,4,7", &sel);
	assert_int_equal(sel.mask, 0x95);
	sel_of("sha256:23,16,0", &sel);
	assert_int_equal(sel.mask, 0x810001);
	hwtpm_pcrsel_format(&sel, out, sizeof(out));
	assert_string_equal(out, "sha256:0,16,23");
	sel.mask = 0xffffff;
	hwtpm_pcrsel_format(&sel, out, sizeof(out));
	assert_string_equal(out, "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
	sel_of(out, &sel);
	assert_int_equal(sel.mask, 0xffffff);
	hwtpm_pcrsel_format(&sel, small, sizeof(small));
	assert_string_equal(small, "sha256:0,");
	sel.mask = 0;
	hwtpm_pcrsel_format(&sel, out, sizeof(out));
	assert_string_equal(out, "sha256:");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sel.mask = 0x5a5a;
		errno = 0;
		assert_int_equal(hwtpm_pcrsel_parse(bad[i], &sel), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(sel.mask, 0x5a5a);
	}
}

/* The software PolicyPCR digest is the TPM's, for current and for made-up values. */
static void test_policy_matches_trial(void **state)
{
	static const char *const sels[] = {
		"sha256:7", "sha256:0,7", "sha256:0,2,4,7,16", "sha256:23",
		"sha256:0,1,2,3,4,5,6,7,8,9,10,16,23",	/* more than one PCR_Read answer */
	};
	uint8_t sw_digest[HWTPM_DIGEST_SIZE], tpm_digest[HWTPM_DIGEST_SIZE];
	uint8_t cat[HWTPM_MAX_PCRS * HWTPM_DIGEST_SIZE], pd[HWTPM_DIGEST_SIZE];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel;

	(void)state;
	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		size_t n = 0;

		sel_of(sels[i], &sel);
		assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
		assert_int_equal(hwtpm_policy_digest(&vals, sw_digest), 0);
		trial_digest(sel.mask, NULL, tpm_digest);
		assert_memory_equal(sw_digest, tpm_digest, HWTPM_DIGEST_SIZE);

		/* values no PCR holds: the TPM takes our pcrDigest as given */
		for (unsigned p = 0; p < HWTPM_MAX_PCRS; p++) {
			if (!(sel.mask & (1u << p)))
				continue;
			new_secret(vals.value[p]);
			memcpy(cat + n, vals.value[p], HWTPM_DIGEST_SIZE);
			n += HWTPM_DIGEST_SIZE;
		}
		assert_int_equal(crypto_sha256(cat, n, pd), 0);
		assert_int_equal(hwtpm_policy_digest(&vals, sw_digest), 0);
		trial_digest(sel.mask, pd, tpm_digest);
		assert_memory_equal(sw_digest, tpm_digest, HWTPM_DIGEST_SIZE);
	}
	vals.sel.mask = 0;
	assert_int_equal(hwtpm_policy_digest(&vals, sw_digest), -1);
	assert_int_equal(errno, EINVAL);
	vals.sel.mask = 1u << 24;
	assert_int_equal(hwtpm_policy_digest(&vals, sw_digest), -1);
}

static void test_seal_unseal_current(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE];
	struct hwtpm_pcrvals vals, recorded;
	struct hwtpm_pcrsel sel, mismatch;
	uint8_t *blob = NULL;
	size_t len = 0;
	uint64_t c0, c1, c2;

	(void)state;
	new_secret(secret);
	sel_of("sha256:0,2,4,7", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	c0 = hwtpm_commands(h);
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);
	c1 = hwtpm_commands(h);
	mismatch.mask = 0xdead;
	assert_int_equal(hwtpm_unseal(h, blob, len, back, &mismatch), 0);
	c2 = hwtpm_commands(h);
	assert_memory_equal(secret, back, HWTPM_SECRET_SIZE);
	assert_int_equal(mismatch.mask, 0);
	print_message("hwtpm: blob %zu bytes; commands: seal %llu, unseal %llu\n", len,
		      (unsigned long long)(c1 - c0), (unsigned long long)(c2 - c1));
	/* CreatePrimary, StartAuthSession, Create, 2 x Flush */
	assert_int_equal(c1 - c0, 5);
	/* CreatePrimary, Load, StartAuthSession, PolicyPCR, Unseal, 3 x Flush */
	assert_int_equal(c2 - c1, 8);

	assert_int_equal(hwtpm_blob_pcrvals(blob, len, &recorded), 0);
	assert_int_equal(recorded.sel.mask, sel.mask);
	for (unsigned p = 0; p < HWTPM_MAX_PCRS; p++)
		if (sel.mask & (1u << p))
			assert_memory_equal(recorded.value[p], vals.value[p], HWTPM_DIGEST_SIZE);

	/* a second handle (a restarted manager) unseals the same blob */
	hw_close();
	hw_open();
	memset(back, 0, sizeof(back));
	assert_int_equal(hwtpm_unseal(h, blob, len, back, NULL), 0);
	assert_memory_equal(secret, back, HWTPM_SECRET_SIZE);

	vals.sel.mask = 0;
	free(blob);
	blob = NULL;
	errno = 0;
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(blob);
	assert_nothing_loaded();
}

/* Sealing to the next configuration: refused before the extend, accepted after. */
static void test_seal_future_pcr16(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE], d[HWTPM_DIGEST_SIZE];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel, mismatch;
	uint8_t *blob = NULL;
	size_t len = 0;

	(void)state;
	new_secret(secret);
	new_secret(d);
	sel_of("sha256:0,7,16", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	pcr_after(vals.value[16], d, vals.value[16]);
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);

	errno = 0;
	assert_int_equal(hwtpm_unseal(h, blob, len, back, &mismatch), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(mismatch.mask, 1u << 16);
	assert_nothing_loaded();

	extend(16, d);
	assert_int_equal(hwtpm_unseal(h, blob, len, back, &mismatch), 0);
	assert_memory_equal(secret, back, HWTPM_SECRET_SIZE);
	assert_int_equal(mismatch.mask, 0);
	free(blob);
	assert_nothing_loaded();
}

static void test_pcr7_extended_after_seal(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE], d[HWTPM_DIGEST_SIZE];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel, mismatch;
	char name[64];
	uint8_t *blob = NULL;
	size_t len = 0;

	(void)state;
	new_secret(secret);
	new_secret(d);
	sel_of("sha256:0,2,4,7", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);
	extend(7, d);
	memset(back, 0, sizeof(back));
	errno = 0;
	assert_int_equal(hwtpm_unseal(h, blob, len, back, &mismatch), -1);
	assert_int_equal(errno, EACCES);
	hwtpm_pcrsel_format(&mismatch, name, sizeof(name));
	assert_string_equal(name, "sha256:7");
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
	free(blob);
	assert_nothing_loaded();
}

/* Reads a whole file (test files only). */
static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/*
 * The secret crosses the bus only encrypted, both ways: the pcap TCTI in
 * front of swtpm records every command and response of a seal and an
 * unseal, and the secret's bytes appear nowhere in the recording.
 */
static void test_secret_not_on_the_wire(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE];
	char cap[SW_PATH_MAX + 16], tcti[96];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel;
	uint8_t *blob = NULL, *rec;
	size_t len = 0, rec_len;

	(void)state;
	snprintf(cap, sizeof(cap), "%s/wire.pcap", sw.dir);
	snprintf(tcti, sizeof(tcti), "pcap:%s", sw.tcti);
	assert_int_equal(setenv("TCTI_PCAP_FILE", cap, 1), 0);
	hw_close();
	h = hwtpm_open(tcti);
	assert_non_null(h);
	new_secret(secret);
	sel_of("sha256:0,7", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);
	assert_int_equal(hwtpm_unseal(h, blob, len, back, NULL), 0);
	assert_memory_equal(secret, back, HWTPM_SECRET_SIZE);
	hw_close();
	hw_open();

	rec = read_all(cap, &rec_len);
	/* the recording works: the sealed private part went to the TPM in Load */
	assert_non_null(memmem(rec, rec_len, blob + len - 64, 64));
	assert_null(memmem(rec, rec_len, secret, HWTPM_SECRET_SIZE));
	assert_null(memmem(rec, rec_len, secret, 8));
	assert_null(memmem(rec, rec_len, secret + 24, 8));
	free(rec);
	free(blob);
}

static void expect_bad(const uint8_t *blob, size_t len)
{
	uint8_t back[HWTPM_SECRET_SIZE];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel mismatch;

	errno = 0;
	assert_int_equal(hwtpm_blob_pcrvals(blob, len, &vals), -1);
	assert_int_equal(errno, EBADMSG);
	errno = 0;
	assert_int_equal(hwtpm_unseal(h, blob, len, back, &mismatch), -1);
	assert_int_equal(errno, EBADMSG);
}

/* Rewrites a u16 length field (big-endian) in a copy and expects it refused. */
static void expect_bad_u16(const uint8_t *blob, size_t len, size_t at, uint16_t v)
{
	uint8_t *c = malloc(len);

	assert_non_null(c);
	memcpy(c, blob, len);
	be16_store(c + at, v);
	expect_bad(c, len);
	free(c);
}

static void test_blob_tamper(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE];
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel;
	uint8_t *blob = NULL, *c;
	size_t len = 0, pub_at, priv_at;
	unsigned tpm_refused = 0;

	(void)state;
	new_secret(secret);
	sel_of("sha256:0,7", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);
	c = malloc(len + 1);
	assert_non_null(c);

	/* truncation at every offset, and one trailing byte */
	for (size_t n = 0; n < len; n++)
		expect_bad(blob, n);
	memcpy(c, blob, len);
	c[len] = 0;
	expect_bad(c, len + 1);

	/* a bit flipped in every byte: refused, never unsealed, never a crash */
	for (size_t i = 0; i < len; i++) {
		struct hwtpm_pcrsel mismatch;
		uint64_t sent = hwtpm_commands(h);

		memcpy(c, blob, len);
		c[i] ^= (uint8_t)(1u << (i % 8));
		errno = 0;
		memset(back, 0, sizeof(back));
		if (hwtpm_unseal(h, c, len, back, &mismatch) == 0)
			fail_msg("blob with bit %zu of byte %zu flipped unsealed", i % 8, i);
		assert_int_not_equal(errno, 0);
		if (hwtpm_commands(h) != sent)
			tpm_refused++;
		assert_memory_not_equal(back, secret, HWTPM_SECRET_SIZE);
	}
	print_message("hwtpm: %zu bit flips, %u refused by the TPM rather than the parser\n",
		      len, tpm_refused);

	/* each length field at 0, max and max + 1 */
	memcpy(c, blob, len);
	c[BLOB_COUNT_OFF] = 0;
	expect_bad(c, len);
	c[BLOB_COUNT_OFF] = HWTPM_MAX_PCRS;
	expect_bad(c, len);
	c[BLOB_COUNT_OFF] = HWTPM_MAX_PCRS + 1;
	expect_bad(c, len);
	c[BLOB_COUNT_OFF] = 0xff;
	expect_bad(c, len);
	pub_at = BLOB_HDR + 2 * HWTPM_DIGEST_SIZE;
	priv_at = pub_at + 2 + be16_load(blob + pub_at);
	assert_true(priv_at + 2 + be16_load(blob + priv_at) == len);
	expect_bad_u16(blob, len, pub_at, 0);
	expect_bad_u16(blob, len, pub_at, (uint16_t)sizeof(TPM2B_PUBLIC));
	expect_bad_u16(blob, len, pub_at, (uint16_t)sizeof(TPM2B_PUBLIC) + 1);
	expect_bad_u16(blob, len, pub_at, 0xffff);
	expect_bad_u16(blob, len, priv_at, 0);
	expect_bad_u16(blob, len, priv_at, (uint16_t)sizeof(TPM2B_PRIVATE));
	expect_bad_u16(blob, len, priv_at, (uint16_t)sizeof(TPM2B_PRIVATE) + 1);
	expect_bad_u16(blob, len, priv_at, 0xffff);
	/* the inner TPM2B sizes, one off either way */
	expect_bad_u16(blob, len, pub_at + 2, (uint16_t)(be16_load(blob + pub_at + 2) - 1));
	expect_bad_u16(blob, len, pub_at + 2, (uint16_t)(be16_load(blob + pub_at + 2) + 1));
	expect_bad_u16(blob, len, priv_at + 2, (uint16_t)(be16_load(blob + priv_at + 2) - 1));
	expect_bad_u16(blob, len, priv_at + 2, (uint16_t)(be16_load(blob + priv_at + 2) + 1));
	expect_bad(NULL, 0);

	/* the original still unseals, and nothing was left loaded on any path */
	assert_int_equal(hwtpm_unseal(h, blob, len, back, NULL), 0);
	assert_memory_equal(back, secret, HWTPM_SECRET_SIZE);
	free(c);
	free(blob);
	assert_nothing_loaded();
}

/* An 8-byte owner-writable index: ordinary data, or a counter as older managers made them. */
static void raw_define(uint32_t index, TPMA_NV type)
{
	const TPM2B_AUTH auth = { 0 };
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {
			.nvIndex = index,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA | type,
			.dataSize = 8,
		},
	};
	ESYS_TR tr;
	struct raw r;

	hw_close();
	raw_open(&r);
	assert_int_equal(Esys_NV_DefineSpace(r.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
					     ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub, &tr),
			 TSS2_RC_SUCCESS);
	raw_close(&r);
	hw_open();
}

static void raw_undefine(uint32_t index)
{
	ESYS_TR tr;
	struct raw r;

	hw_close();
	raw_open(&r);
	assert_int_equal(Esys_TR_FromTPMPublic(r.esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &tr), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_NV_UndefineSpace(r.esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE), TSS2_RC_SUCCESS);
	raw_close(&r);
	hw_open();
}

static void test_counter(void **state)
{
	uint64_t v0 = 0, v, w;

	(void)state;
	errno = 0;
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, &v), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(hwtpm_counter_ensure(h, 0x81000001u, &v), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(hwtpm_counter_ensure(h, NV_COUNTER, &v0), 0);
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0);
	assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 1);
	assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, NULL), 0);
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 2);

	/* across handles: ensure finds it written and does not move it */
	hw_close();
	hw_open();
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 2);
	assert_int_equal(hwtpm_counter_ensure(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 2);
	assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 3);

	/* a second index in the same handle, then back to the first */
	assert_int_equal(hwtpm_counter_ensure(h, NV_COUNTER2, &w), 0);
	assert_true(w >= 1);
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), 0);
	assert_int_equal(v, v0 + 3);

	/* undefined and defined again (an owner can): the TPM never starts it lower */
	raw_undefine(NV_COUNTER);
	errno = 0;
	assert_int_equal(hwtpm_counter_read(h, NV_COUNTER, &v), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(hwtpm_counter_ensure(h, NV_COUNTER, &v), 0);
	print_message("hwtpm: counter first %llu, other index first %llu, redefined first %llu\n",
		      (unsigned long long)v0, (unsigned long long)w, (unsigned long long)v);
	assert_true(v > v0 + 3);

	/* an index that is not a counter is not taken over */
	raw_define(NV_ORDINARY, TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT);
	errno = 0;
	assert_int_equal(hwtpm_counter_ensure(h, NV_ORDINARY, &v), -1);
	assert_int_equal(errno, EEXIST);
	errno = 0;
	assert_int_equal(hwtpm_counter_increment(h, NV_ORDINARY, &v), -1);
	assert_int_equal(errno, EEXIST);
	assert_nothing_loaded();
}

/* NV_Increment with owner authorization, as any owner-level process could try. */
static TSS2_RC raw_owner_increment(uint32_t index)
{
	struct raw r;
	ESYS_TR tr;
	TSS2_RC rc;

	hw_close();
	raw_open(&r);
	assert_int_equal(Esys_TR_FromTPMPublic(r.esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &tr), TSS2_RC_SUCCESS);
	rc = Esys_NV_Increment(r.esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE);
	raw_close(&r);
	hw_open();
	return rc;
}

/*
 * The counter advances only with its own authValue: the owner's is refused.
 * An owner-writable counter (an older manager's) is seen as such, and
 * re-created protected, never lower.
 */
static void test_counter_owner_refused(void **state)
{
	const uint32_t index = NV_COUNTER2 + 0x10;
	uint8_t auth[HWTPM_SECRET_SIZE], other[HWTPM_SECRET_SIZE];
	uint64_t v, w;

	(void)state;
	memset(auth, 0x5a, sizeof(auth));
	memset(other, 0xa5, sizeof(other));
	hwtpm_counter_auth(h, auth);
	assert_int_equal(hwtpm_counter_ensure(h, index, &v), 0);
	assert_int_equal(hwtpm_counter_legacy(h, index), 0);
	assert_int_not_equal(raw_owner_increment(index), TSS2_RC_SUCCESS);
	hwtpm_counter_auth(h, auth);
	assert_int_equal(hwtpm_counter_read(h, index, &w), 0);
	assert_true(w == v);
	assert_int_equal(hwtpm_counter_increment(h, index, &w), 0);
	assert_true(w == v + 1);
	/* another authValue (another root secret) cannot advance it either */
	hwtpm_counter_auth(h, other);
	assert_int_equal(hwtpm_counter_increment(h, index, NULL), -1);
	hwtpm_counter_auth(h, auth);
	assert_int_equal(hwtpm_counter_increment(h, index, &w), 0);
	assert_true(w == v + 2);
	raw_undefine(index);
	hwtpm_counter_auth(h, auth);

	/* an older manager's counter: owner-writable, detected, re-created protected */
	raw_define(index, TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT);
	assert_int_equal(raw_owner_increment(index), TSS2_RC_SUCCESS);
	hwtpm_counter_auth(h, auth);
	assert_int_equal(hwtpm_counter_legacy(h, index), 1);
	assert_int_equal(hwtpm_counter_increment(h, index, &v), 0);	/* still usable */
	assert_int_equal(hwtpm_counter_recreate(h, index, &w), 0);
	assert_true(w > v);
	assert_int_equal(hwtpm_counter_legacy(h, index), 0);
	assert_int_not_equal(raw_owner_increment(index), TSS2_RC_SUCCESS);
	hwtpm_counter_auth(h, auth);
	assert_int_equal(hwtpm_counter_increment(h, index, &v), 0);
	assert_true(v == w + 1);
	raw_undefine(index);
	assert_nothing_loaded();
}

static void test_open_fails(void **state)
{
	char tcti[64];

	(void)state;
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", sw.port + 2);
	if (port_free(sw.port + 2))
		assert_null(hwtpm_open(tcti));
	assert_null(hwtpm_open("nosuchtcti:"));
	/* no default of its own: the manager's config.h holds the one default */
	errno = 0;
	assert_null(hwtpm_open(NULL));
	assert_int_equal(errno, EINVAL);
	hwtpm_close(NULL);
}

/* Latencies against swtpm, for the report (not a pass/fail criterion). */
static void test_timing(void **state)
{
	uint8_t secret[HWTPM_SECRET_SIZE], back[HWTPM_SECRET_SIZE];
	double t0, seal = 0, unseal = 0, incr = 0, incr_only = 0, pcr = 0;
	struct hwtpm_pcrvals vals;
	struct hwtpm_pcrsel sel;
	uint64_t v;

	(void)state;
	new_secret(secret);
	sel_of("sha256:0,2,4,7", &sel);
	assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
	assert_int_equal(hwtpm_counter_ensure(h, NV_COUNTER, &v), 0);
	for (int i = 0; i < TIMING_ROUNDS; i++) {
		uint8_t *blob = NULL;
		size_t len;

		t0 = now_ms();
		assert_int_equal(hwtpm_seal(h, &vals, secret, &blob, &len), 0);
		seal += now_ms() - t0;
		t0 = now_ms();
		assert_int_equal(hwtpm_unseal(h, blob, len, back, NULL), 0);
		unseal += now_ms() - t0;
		free(blob);
		t0 = now_ms();
		assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, &v), 0);
		incr += now_ms() - t0;
		t0 = now_ms();
		assert_int_equal(hwtpm_counter_increment(h, NV_COUNTER, NULL), 0);
		incr_only += now_ms() - t0;
		t0 = now_ms();
		assert_int_equal(hwtpm_pcr_read(h, &sel, &vals), 0);
		pcr += now_ms() - t0;
	}
	print_message("hwtpm timing, mean of %d (swtpm): seal %.2f ms, unseal %.2f ms, "
		      "counter increment+read %.2f ms, increment alone %.2f ms, PCR read %.2f ms\n",
		      TIMING_ROUNDS, seal / TIMING_ROUNDS, unseal / TIMING_ROUNDS,
		      incr / TIMING_ROUNDS, incr_only / TIMING_ROUNDS, pcr / TIMING_ROUNDS);
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(back, sizeof(back));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcrsel),
		cmocka_unit_test(test_policy_matches_trial),
		cmocka_unit_test(test_seal_unseal_current),
		cmocka_unit_test(test_seal_future_pcr16),
		cmocka_unit_test(test_pcr7_extended_after_seal),
		cmocka_unit_test(test_secret_not_on_the_wire),
		cmocka_unit_test(test_blob_tamper),
		cmocka_unit_test(test_counter),
		cmocka_unit_test(test_counter_owner_refused),
		cmocka_unit_test(test_open_fails),
		cmocka_unit_test(test_timing),
	};
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int rc;

	/* Failures are the point of several tests: keep both libraries' logs quiet. */
	setenv("TSS2_LOG", "all+NONE", 0);
	log_init("test", NULL, fd, LOG_ERR);
	atexit(sw_stop);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	sw_stop();
	return rc;
}
