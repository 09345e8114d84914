/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif_peer: test tool that plays the misbehaving side of the tpmif ring,
 * run only by tests/integration/test_tpmif_hostile_*.sh. As a frontend
 * ("front") it connects to a real vtpm's rendezvous socket and breaks the
 * protocol one way per case: bad grants, lengths beyond the mapping,
 * backend-only states, bytes flipped while the backend works, vanishing
 * mid-request, and (the evtchn-* cases) abuse of the event channel, one end
 * of a Unix socketpair the frontend creates and passes: the wrong kind of
 * descriptor (eventfd, pipe, datagram, listening, unconnected, TCP, the
 * rendezvous connection itself), megabytes of notifications, an end never
 * read until the socket buffer is full, O_NONBLOCK cleared on the backend's
 * end (we keep a copy of what we passed: one open file description), its
 * bytes stolen by a blocking reader, the channel closed or shut down. As a
 * backend ("back") it forks a fake vtpm that speaks the handshake and then
 * answers libtpmfront wrongly (oversize, invalid states, never) or abuses
 * the event channel from that side (floods it, never reads it, closes or
 * shuts it down, passes descriptors over it, vanishes).
 * It trusts nothing the other side does: every wait has a deadline, every
 * length read from the page is checked against the mapping before use, and
 * a call of libtpmfront that should return but blocks is caught by an alarm.
 * The backend's CPU time and open fds are read from /proc for its pid, which
 * the rendezvous socket names (SO_PEERCRED).
 *
 * Usage: tpmif_peer front CASE SOCKET [MS]   (MS: duration of long cases)
 *        tpmif_peer back CASE DIR            (fake backend at DIR/fake.sock)
 *        tpmif_peer good SOCKET              (one GetRandom via libtpmfront)
 *        tpmif_peer list front|back
 * Exit: 0 the side under test behaved as required (as far as this process
 * can see; the scripts check the daemon's health and fds), 1 it did not,
 * 2 usage, 3 this tool could not set the case up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "sock.h"
#include "tpm.h"
#include "tpmfront.h"
#include "tpmif.h"
#include "xsmsg.h"

#define PEER_WAIT_MS		10000	/* longest wait for a backend's reaction */
#define PEER_CLOSE_MS		3000	/* a refused handshake is closed within this */
#define PEER_PROBE_MS		500	/* a live backend greets a new connection within this */
#define PEER_CMD_MAX		512	/* largest command this tool builds */
#define PEER_MAP_MAX		(TPMIF_PAGE_SIZE * (1 + TPMIF_MAX_EXTRA_PAGES))
#define PEER_RECV_MS		500	/* libtpmfront timeout in the back cases */
#define PEER_FLOOD_CHUNK	65536	/* bytes per send of a flood */
#define PEER_IDLE_MS		1500	/* how long an idle backend's CPU is watched */
#define PEER_IDLE_PCT		20	/* most CPU an idle backend may use, in % of a core */
#define PEER_FULL_STILL		50	/* exchanges without a new notification: channel full */
#define PEER_FULL_MAX		5000	/* most exchanges spent filling a channel */

#define EXIT_PASS	0
#define EXIT_BROKEN	1
#define EXIT_USAGE	2
#define EXIT_SETUP	3

#define TPM20_CC_GET_RANDOM	0x0000017b
#define TPM20_CC_CREATE_PRIMARY	0x00000131
#define TPM20_CC_FLUSH_CONTEXT	0x00000165
#define TPM20_RH_OWNER		0x40000001
#define TPM20_RS_PW		0x40000009
#define TPM20_TRANSIENT_FIRST	0x80000000
#define PEER_TRANSIENT_SLOTS	3	/* libtpms MAX_LOADED_OBJECTS */

static const char *peer_case = "?";
static bool peer_quiet;	/* a flipping thread garbles responses on purpose */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tpmif_peer %s: ", peer_case);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- the backend process, seen from outside ----------------------------- */

/* The pid at the other end of a connected Unix socket, or -1. */
static pid_t peer_pid(int sock)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0 || uc.pid <= 0)
		return -1;
	return uc.pid;
}

/* CPU time (user + system) pid has used, in ms, or -1. */
static long proc_cpu_ms(pid_t pid)
{
	char p[64], st[1024], *c;
	unsigned long ut = 0, stime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = '\0';
	/* after the command name: state is field 3, utime 14, stime 15 */
	c = strrchr(st, ')');
	if (!c || hz <= 0 ||
	    sscanf(c + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
		return -1;
	return (long)((ut + stime) * 1000 / (unsigned long)hz);
}

/* How many fds pid holds open, or -1. */
static int proc_fds(pid_t pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	d = opendir(p);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Watches pid's CPU for PEER_IDLE_MS while a case holds the backend in some
 * state; true when it stayed under PEER_IDLE_PCT of a core (a busy loop
 * takes all of one).
 */
static bool backend_stays_idle(pid_t pid, const char *while_what)
{
	long c0 = proc_cpu_ms(pid), c1;

	sleep_ms(PEER_IDLE_MS);
	c1 = proc_cpu_ms(pid);
	if (c0 < 0 || c1 < 0) {
		say("cannot read the backend's CPU time (pid %d)", (int)pid);
		return false;
	}
	if ((c1 - c0) * 100 > (long)PEER_IDLE_MS * PEER_IDLE_PCT) {
		say("the backend burnt %ld ms of CPU in %d ms %s", c1 - c0, PEER_IDLE_MS, while_what);
		return false;
	}
	say("the backend used %ld ms of CPU in %d ms %s", c1 - c0, PEER_IDLE_MS, while_what);
	return true;
}

/*
 * Bytes queued on a socket for reading (SIOCINQ), and send buffer held by
 * what its peer has not read yet (SIOCOUTQ: on a Unix socket, the kernel's
 * size of those buffers, not their bytes of data).
 */
static int sock_inq(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCINQ, &n) < 0 ? -1 : n;
}

static int sock_outq(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCOUTQ, &n) < 0 ? -1 : n;
}

/* Sends up to max bytes, never blocking; the number sent (0 when full), -1 on error. */
static long send_burst(int fd, long max)
{
	static const char chunk[PEER_FLOOD_CHUNK];
	long sent = 0;

	while (sent < max) {
		size_t want = max - sent < (long)sizeof(chunk) ? (size_t)(max - sent) : sizeof(chunk);
		ssize_t w = send(fd, chunk, want, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			sent += w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return sent ? sent : -1;
	}
	return sent;
}

/* Fills the peer-bound queue of fd until the kernel takes no more; bytes sent, -1 on error. */
static long fill_until_full(int fd)
{
	long total = 0, r;

	/* big sends first, then single bytes into the last of the room */
	while ((r = send_burst(fd, PEER_FLOOD_CHUNK)) > 0)
		total += r;
	if (r < 0)
		return -1;
	while ((r = send_burst(fd, 1)) > 0)
		total += r;
	return r < 0 ? -1 : total;
}

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* --- TPM commands ----------------------------------------------------- */

static size_t cmd_get_random(uint8_t *out, uint16_t n)
{
	struct buf b;

	buf_init_write(&b, out, PEER_CMD_MAX);
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, 12);
	buf_put_u32(&b, TPM20_CC_GET_RANDOM);
	buf_put_u16(&b, n);
	return b.off;
}

/* TPM2_CreatePrimary of an RSA-2048 storage key under the owner: slow on purpose. */
static size_t cmd_create_primary(uint8_t *out)
{
	struct buf b;
	size_t pub_at;

	buf_init_write(&b, out, PEER_CMD_MAX);
	buf_put_u16(&b, TPM20_ST_SESSIONS);
	buf_put_u32(&b, 0);	/* patched below */
	buf_put_u32(&b, TPM20_CC_CREATE_PRIMARY);
	buf_put_u32(&b, TPM20_RH_OWNER);
	buf_put_u32(&b, 9);	/* authorization area: one password session */
	buf_put_u32(&b, TPM20_RS_PW);
	buf_put_u16(&b, 0);	/* nonce */
	buf_put_u8(&b, 0);	/* attributes */
	buf_put_u16(&b, 0);	/* empty password */
	buf_put_u16(&b, 4);	/* inSensitive: empty userAuth and data */
	buf_put_u16(&b, 0);
	buf_put_u16(&b, 0);
	pub_at = b.off;
	buf_put_u16(&b, 0);	/* inPublic size, patched below */
	buf_put_u16(&b, 0x0001);	/* TPM_ALG_RSA */
	buf_put_u16(&b, 0x000b);	/* nameAlg SHA-256 */
	buf_put_u32(&b, 0x00030072);	/* fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt */
	buf_put_u16(&b, 0);	/* authPolicy */
	buf_put_u16(&b, 0x0006);	/* AES */
	buf_put_u16(&b, 128);
	buf_put_u16(&b, 0x0043);	/* CFB */
	buf_put_u16(&b, 0x0010);	/* scheme NULL */
	buf_put_u16(&b, 2048);
	buf_put_u32(&b, 0);	/* default exponent */
	buf_put_u16(&b, 0);	/* unique */
	be16_store(out + pub_at, (uint16_t)(b.off - pub_at - 2));
	buf_put_u16(&b, 0);	/* outsideInfo */
	buf_put_u32(&b, 0);	/* creationPCR: no selection */
	buf_patch_u32(&b, 2, (uint32_t)b.off);
	return b.off;
}

static size_t cmd_flush(uint8_t *out, uint32_t handle)
{
	struct buf b;

	buf_init_write(&b, out, PEER_CMD_MAX);
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, 14);
	buf_put_u32(&b, TPM20_CC_FLUSH_CONTEXT);
	buf_put_u32(&b, handle);
	return b.off;
}

/* --- handshake, frontend side ------------------------------------------ */

struct front {
	int sock;
	struct tpmif_ring ring;	/* evtchn: our end of the event channel */
	int kept;		/* our copy of the end we passed (cases that keep one), or -1 */
	bool deaf;		/* never read our end: only the page tells us of answers */
};

/* Receives one handshake message; its state, 0 when the peer closed, -1 on timeout or error. */
static long hs_recv(int sock, int timeout_ms, int *fd_out)
{
	struct xsmsg m;
	int fds[XSMSG_MAX_FDS], nfds = 0;
	long st;

	if (fd_out)
		*fd_out = -1;
	if (xsmsg_recv(sock, &m, fds, &nfds, timeout_ms) < 0)
		return errno == ECONNRESET || errno == EPIPE ? 0 : -1;
	st = xsmsg_get_uint(&m, "state", 255);
	for (int i = 0; i < nfds; i++) {
		if (fd_out && *fd_out < 0)
			*fd_out = fds[i];
		else
			close(fds[i]);
	}
	return st < 0 ? 255 : st;
}

/* Connects and reads InitWait; the socket, or -1 (no greeting within timeout_ms). */
static int hs_connect(const char *path, int timeout_ms)
{
	int sock = sock_connect_unix(path);

	if (sock < 0) {
		say("connect %s: %s", path, strerror(errno));
		return -1;
	}
	if (hs_recv(sock, timeout_ms, NULL) != XENBUS_STATE_INIT_WAIT) {
		close(sock);
		return -1;
	}
	return sock;
}

/* Sends one state message, with the given keys set unless NULL, and fds. */
static int hs_send(int sock, unsigned state, const char *ring_ref, const char *evtchn,
		   const char *v2, const int *fds, int nfds)
{
	struct xsmsg m;

	xsmsg_init(&m);
	if (xsmsg_set_uint(&m, "state", state) < 0 ||
	    (ring_ref && xsmsg_set(&m, "ring-ref", ring_ref) < 0) ||
	    (evtchn && xsmsg_set(&m, "event-channel", evtchn) < 0) ||
	    (v2 && xsmsg_set(&m, "feature-protocol-v2", v2) < 0))
		return -1;
	return xsmsg_send(sock, &m, fds, nfds);
}

/*
 * Waits for the backend's answer to an offer: 1 Connected, 0 it closed the
 * connection, -1 neither within PEER_CLOSE_MS (or a Connected that carried
 * a descriptor: the event channel is ours, the backend passes none).
 */
static int hs_answer(int sock)
{
	int fd;
	long st = hs_recv(sock, PEER_CLOSE_MS, &fd);

	if (fd >= 0) {
		close(fd);
		say("backend passed a descriptor with state %ld (none is due)", st);
		return -1;
	}
	if (st == XENBUS_STATE_CONNECTED)
		return 1;
	if (st == 0)
		return 0;
	if (st > 0)
		say("backend answered state %ld to the offer", st);
	else
		say("backend neither connected nor closed within %d ms", PEER_CLOSE_MS);
	return -1;
}

/* A memfd of size bytes; seals < 0: created without MFD_ALLOW_SEALING. */
static int make_memfd(size_t size, int seals)
{
	int fd = memfd_create("tpmif-ring", MFD_CLOEXEC | (seals >= 0 ? MFD_ALLOW_SEALING : 0));

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    (seals > 0 && fcntl(fd, F_ADD_SEALS, seals) < 0)) {
		say("memfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

#define SEALS_OK	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * Grants a fresh ring of `pages` pages and one end of a new socketpair (the
 * event channel) on an open socket, as libtpmfront does; with keep, a copy
 * of the passed end stays with us in f->kept. 0 connected, 1 refused
 * (closed), -1 error.
 */
static int front_offer(struct front *f, unsigned pages, bool keep)
{
	size_t size = (size_t)pages * TPMIF_PAGE_SIZE;
	int memfd = make_memfd(size, SEALS_OK), sv[2], r;
	void *p;

	f->ring = (struct tpmif_ring){ .evtchn = -1 };
	f->kept = -1;
	if (memfd < 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		say("mmap/socketpair: %s", strerror(errno));
		if (p != MAP_FAILED)
			munmap(p, size);
		close(memfd);
		return -1;
	}
	f->ring.page = p;
	f->ring.map_size = size;
	f->ring.evtchn = sv[0];
	tpmif_front_init(&f->ring, pages - 1);
	int give[2] = { memfd, sv[1] };
	r = hs_send(f->sock, XENBUS_STATE_INITIALISED, "0", "1", "1", give, 2);
	close(memfd);
	if (keep)
		f->kept = sv[1];
	else
		close(sv[1]);
	if (r < 0)
		return -1;
	r = hs_answer(f->sock);
	if (r <= 0)
		return r < 0 ? -1 : 1;
	return hs_send(f->sock, XENBUS_STATE_CONNECTED, NULL, NULL, NULL, NULL, 0) < 0 ? -1 : 0;
}

static void front_unmap(struct front *f)
{
	if (f->ring.page && f->ring.page != MAP_FAILED)
		munmap(f->ring.page, f->ring.map_size);
	if (f->ring.evtchn >= 0)
		close(f->ring.evtchn);
	if (f->kept >= 0)
		close(f->kept);
	f->ring = (struct tpmif_ring){ .evtchn = -1 };
	f->kept = -1;
}

static void front_close(struct front *f)
{
	front_unmap(f);
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
}

/* Connects and completes the handshake (keep: see front_offer); 0, 1 refused, -1 error. */
static int front_open(struct front *f, const char *path, unsigned pages, bool keep)
{
	int r;

	*f = (struct front){ .ring = { .evtchn = -1 }, .kept = -1 };
	f->sock = hs_connect(path, PEER_WAIT_MS);
	if (f->sock < 0) {
		say("no InitWait from the backend");
		return -1;
	}
	r = front_offer(f, pages, keep);
	if (r != 0)
		front_close(f);
	return r;
}

/* --- ring, frontend side -------------------------------------------------- */

static uint32_t data_off(const struct front *f)
{
	return TPMIF_HDR_SIZE + 4u * f->ring.page[7];
}

/*
 * Submits without the library's checks: the packet goes at the offset
 * nr_extra implies (when it fits), then the header says `length`, `loc`,
 * SUBMIT, and the backend is notified.
 */
static void ring_put(struct front *f, const uint8_t *cmd, size_t len, uint32_t length,
		     uint8_t loc, uint8_t nr_extra)
{
	uint8_t *p = f->ring.page;
	uint32_t off = TPMIF_HDR_SIZE + 4u * nr_extra;

	p[7] = nr_extra;
	if (off <= f->ring.map_size && len <= f->ring.map_size - off)
		memcpy(p + off, cmd, len);
	memcpy(p, &length, sizeof(length));
	p[5] = loc;
	__atomic_store_n(&p[4], TPMIF_STATE_SUBMIT, __ATOMIC_RELEASE);
	(void)tpmif_notify(&f->ring);
}

/* Writes a raw state byte and notifies. */
static void ring_state(struct front *f, uint8_t state)
{
	__atomic_store_n(&f->ring.page[4], state, __ATOMIC_RELEASE);
	(void)tpmif_notify(&f->ring);
}

enum wait_result { W_FINISH, W_IDLE, W_TIMEOUT, W_CLOSED };

static const char *wait_name(enum wait_result w)
{
	static const char *n[] = { "FINISH", "IDLE", "timeout", "connection closed" };
	return n[w];
}

static bool sock_closed(int sock)
{
	char c;
	ssize_t r = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * Waits for FINISH or IDLE on the page, or for the backend to hang up. A
 * deaf frontend, or one whose event channel is dead, looks at the page
 * every millisecond instead of reading notifications.
 */
static enum wait_result ring_wait(struct front *f, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	bool listen = !f->deaf && f->ring.evtchn >= 0;

	for (;;) {
		uint8_t s = tpmif_state(&f->ring);
		struct pollfd pfd[2] = { { .fd = listen ? f->ring.evtchn : -1,
					   .events = POLLIN | POLLRDHUP },
					 { .fd = f->sock, .events = POLLIN } };
		int64_t left = end - now_ms();

		if (s == TPMIF_STATE_FINISH)
			return W_FINISH;
		if (s == TPMIF_STATE_IDLE)
			return W_IDLE;
		if (sock_closed(f->sock))
			return W_CLOSED;
		if (left <= 0)
			return W_TIMEOUT;
		(void)poll(pfd, 2, !listen ? 1 : left > 50 ? 50 : (int)left);
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
			listen = false;	/* no more notifications: the page alone */
		else if (pfd[0].revents)
			tpmif_drain(&f->ring);
	}
}

/* Waits for the backend to hang up (it must not answer on the page). */
static bool ring_expect_closed(struct front *f)
{
	int64_t end = now_ms() + PEER_CLOSE_MS;

	while (now_ms() < end) {
		struct pollfd pfd = { .fd = f->sock, .events = POLLIN };

		if (sock_closed(f->sock))
			return true;
		(void)poll(&pfd, 1, 50);
	}
	return false;
}

/* The response on the page after FINISH: its length (checked) or -1. */
static long ring_rsp(struct front *f, uint8_t *out, size_t cap)
{
	uint32_t off = data_off(f), len;

	memcpy(&len, f->ring.page, sizeof(len));
	if (off > f->ring.map_size || len > f->ring.map_size - off || len > cap) {
		if (!peer_quiet)
			say("backend wrote response length %u at offset %u (mapping %zu)", len, off,
		    f->ring.map_size);
		return -1;
	}
	memcpy(out, f->ring.page + off, len);
	return (long)len;
}

/*
 * One exchange with a lying header; the answer must be FINISH with response
 * code want_rc (a 10-byte error unless want_rc is 0). Returns true if so.
 */
static bool exchange(struct front *f, const uint8_t *cmd, size_t len, uint32_t length,
		     uint8_t loc, uint8_t nr_extra, uint32_t want_rc, const char *what)
{
	uint8_t rsp[PEER_MAP_MAX];
	enum wait_result w;
	long n;

	ring_put(f, cmd, len, length, loc, nr_extra);
	w = ring_wait(f, PEER_WAIT_MS);
	if (w != W_FINISH) {
		say("%s: wanted FINISH, got %s", what, wait_name(w));
		return false;
	}
	n = ring_rsp(f, rsp, sizeof(rsp));
	if (n < 0)
		return false;
	if (n < TPM_HDR_SIZE || be32_load(rsp + 2) != (uint32_t)n) {
		say("%s: response of %ld bytes with size field %u", what, n,
		    n >= 6 ? be32_load(rsp + 2) : 0);
		return false;
	}
	if (tpm_response_rc(rsp, (size_t)n) != want_rc || (want_rc && n != TPM_HDR_SIZE)) {
		say("%s: response code 0x%x (%ld bytes), wanted 0x%x", what,
		    tpm_response_rc(rsp, (size_t)n), n, want_rc);
		return false;
	}
	return true;
}

static bool good_exchange(struct front *f, uint8_t nr_extra, const char *what)
{
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_get_random(cmd, 8);

	return exchange(f, cmd, n, (uint32_t)n, 0, nr_extra, TPM20_RC_SUCCESS, what);
}

/* Flushes the transient slots CreatePrimary may have filled (errors ignored). */
static void flush_transients(struct front *f)
{
	uint8_t cmd[PEER_CMD_MAX];

	for (uint32_t h = 0; h < PEER_TRANSIENT_SLOTS; h++) {
		size_t n = cmd_flush(cmd, TPM20_TRANSIENT_FIRST + h);

		ring_put(f, cmd, n, (uint32_t)n, 0, f->ring.page[7]);
		(void)ring_wait(f, PEER_WAIT_MS);
	}
}

/* True when a new connection to path is greeted within PEER_PROBE_MS. */
static bool backend_alive(const char *path)
{
	int sock = hs_connect(path, PEER_PROBE_MS);

	if (sock < 0)
		return false;
	close(sock);
	return true;
}

/* --- front cases ------------------------------------------------------------ */

/* Lengths beyond the mapping, beyond the packet limit and below a header: each a TPM error. */
static int front_len_beyond(const char *path, int ms)
{
	struct front f;
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_get_random(cmd, 8);
	uint32_t room;
	bool ok = true;

	(void)ms;
	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	room = (uint32_t)(f.ring.map_size - data_off(&f));
	const struct { uint32_t length; const char *what; } bad[] = {
		{ room + 1, "length one past the mapping" },
		{ (uint32_t)f.ring.map_size, "length = mapping size" },
		{ 0xffffffffu, "length 0xffffffff" },
		{ 0x80000000u, "length 2^31" },
		{ TPM_PACKET_MAX + 1, "length inside the mapping, above the packet limit" },
		{ 0, "length 0" },
		{ TPM_HDR_SIZE - 1, "length below a TPM header" },
		{ (uint32_t)n + 1, "length one more than the command's size field" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok &= exchange(&f, cmd, n, bad[i].length, 0, 1, TPM20_RC_COMMAND_SIZE, bad[i].what);
	ok &= good_exchange(&f, 1, "good command after the bad ones");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* nr_extra_pages = 255 (data offset 1028) on a one-page ring: offset + length overflows u32. */
static int front_extra_overflow(const char *path, int ms)
{
	struct front f;
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_get_random(cmd, 8);
	const uint32_t off = TPMIF_HDR_SIZE + 4u * 255;
	bool ok = true;

	(void)ms;
	if (front_open(&f, path, 1, false) != 0)
		return EXIT_SETUP;
	ok &= exchange(&f, cmd, n, 0u - off, 0, 255, TPM20_RC_COMMAND_SIZE,
		       "offset + length wraps to 0");
	ok &= exchange(&f, cmd, n, 0xffffffffu - off + 1 + 12, 0, 255, TPM20_RC_COMMAND_SIZE,
		       "offset + length wraps to 12");
	ok &= exchange(&f, cmd, n, TPMIF_PAGE_SIZE - off + 1, 0, 255, TPM20_RC_COMMAND_SIZE,
		       "offset + length one past the page");
	ok &= exchange(&f, cmd, n, (uint32_t)n, 0, 3, TPM20_RC_SUCCESS,
		       "three extra pages claimed on a one-page ring");
	ok &= exchange(&f, cmd, n, (uint32_t)n, 0, 255, TPM20_RC_SUCCESS,
		       "good command at offset 1028");
	ok &= good_exchange(&f, 0, "good command at offset 8");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* The frontend writes IDLE, FINISH or an unknown state: the backend hangs up. */
static int front_backend_state(const char *path, int ms)
{
	const struct { bool answered_first; uint8_t state; const char *what; } c[] = {
		{ false, TPMIF_STATE_FINISH, "FINISH written by the frontend" },
		{ true, TPMIF_STATE_IDLE, "IDLE written by the frontend after an answer" },
		{ false, 7, "state 7" },
		{ true, 0xff, "state 255 after an answer" },
	};
	bool ok = true;

	(void)ms;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct front f;

		if (front_open(&f, path, 2, false) != 0)
			return EXIT_SETUP;
		if (c[i].answered_first)
			ok &= good_exchange(&f, 1, "good command first");
		ring_state(&f, c[i].state);
		if (!ring_expect_closed(&f)) {
			say("%s: the backend did not hang up", c[i].what);
			ok = false;
		}
		front_close(&f);
	}
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* Localities 5 and 255: TPM_RC_LOCALITY with FINISH; then locality 0 works. */
static int front_locality(const char *path, int ms)
{
	struct front f;
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_get_random(cmd, 8);
	bool ok = true;

	(void)ms;
	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	ok &= exchange(&f, cmd, n, (uint32_t)n, 5, 1, TPM20_RC_LOCALITY, "locality 5");
	ok &= exchange(&f, cmd, n, (uint32_t)n, 255, 1, TPM20_RC_LOCALITY, "locality 255");
	ok &= exchange(&f, cmd, n, (uint32_t)n, 0, 1, TPM20_RC_SUCCESS, "locality 0");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* Submits and never reads the answer, holding the connection for ms. */
static int front_noread(const char *path, int ms)
{
	struct front f;
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_get_random(cmd, 8);

	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	ring_put(&f, cmd, n, (uint32_t)n, 0, 1);
	sleep_ms(ms);
	/* the backend answered into the page whether or not anyone looks */
	if (tpmif_state(&f.ring) != TPMIF_STATE_FINISH) {
		say("no FINISH on the page after %d ms", ms);
		front_close(&f);
		return EXIT_BROKEN;
	}
	front_close(&f);
	return EXIT_PASS;
}

/* Submits a slow CreatePrimary, then vanishes: exit, Closed, or unmap. */
static int front_disconnect(const char *path, const char *how)
{
	struct front f;
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_create_primary(cmd);

	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	ring_put(&f, cmd, n, (uint32_t)n, 0, 1);
	if (!strcmp(how, "closed")) {
		(void)hs_send(f.sock, XENBUS_STATE_CLOSED, NULL, NULL, NULL, NULL, 0);
	} else if (!strcmp(how, "unmap")) {
		front_unmap(&f);
		sleep_ms(300);
	} else if (!strcmp(how, "reopen")) {
		/* Closed, then Initialised again at once, while the CreatePrimary may still run */
		(void)hs_send(f.sock, XENBUS_STATE_CLOSED, NULL, NULL, NULL, NULL, 0);
		if (hs_recv(f.sock, PEER_WAIT_MS, NULL) != XENBUS_STATE_INIT_WAIT) {
			say("no InitWait after Closed");
			return EXIT_BROKEN;
		}
		front_unmap(&f);
		if (front_offer(&f, 2, false) != 0) {
			say("reconnect refused");
			return EXIT_BROKEN;
		}
		/* the old request's answer must not land on the new ring */
		if (!good_exchange(&f, 1, "good command on the new ring")) {
			front_close(&f);
			return EXIT_BROKEN;
		}
		flush_transients(&f);
		front_close(&f);
		return EXIT_PASS;
	}
	_exit(EXIT_PASS);	/* no goodbye: the kernel closes everything */
}

/*
 * Flips header bytes (and the packet's size field) from a second thread
 * while CreatePrimary runs. Without state flips every request must still
 * end in FINISH; with them the backend may hang up (a frontend wrote a
 * backend-only state), and the tool reconnects and goes on.
 */
struct flipper {
	pthread_mutex_t mu;	/* held for each flip: pausing waits out the one in progress */
	uint8_t *page;
	int evtchn;
	bool with_state;
	int run;		/* 0 pause, 1 flip, 2 quit */
	unsigned seed;
	long flips;
};

static void *flip_main(void *arg)
{
	struct flipper *fl = arg;
	static const uint8_t pos_len[] = { 0, 1, 2, 3, 5, 6, 7, 12 + 2, 12 + 3, 12 + 4, 12 + 5 };

	for (;;) {
		unsigned x = (unsigned)rand_r(&fl->seed);
		uint8_t pos, v = (uint8_t)(x >> 8);
		int run;

		pthread_mutex_lock(&fl->mu);
		run = fl->run;
		if (run == 1 && fl->with_state && x % 8 == 0) {
			__atomic_store_n(&fl->page[4], (uint8_t)((x >> 16) % 5 == 4 ? v : v % 4),
					 __ATOMIC_RELEASE);
			(void)send(fl->evtchn, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			fl->flips++;
		} else if (run == 1) {
			pos = pos_len[x % sizeof(pos_len)];
			/* the length mostly near the real size, sometimes anything */
			if (pos < 4 && x % 3)
				v = (uint8_t)(pos == 0 ? v : 0);
			__atomic_store_n(&fl->page[pos], v, __ATOMIC_RELAXED);
			fl->flips++;
		}
		pthread_mutex_unlock(&fl->mu);
		if (run == 2)
			return NULL;
		if (run == 0)
			sched_yield();
	}
}

static void flip_set(struct flipper *fl, int run)
{
	pthread_mutex_lock(&fl->mu);
	fl->run = run;
	pthread_mutex_unlock(&fl->mu);
}

static int front_flip(const char *path, int ms, bool with_state)
{
	struct front f;
	struct flipper fl = { .mu = PTHREAD_MUTEX_INITIALIZER, .with_state = with_state,
			      .seed = (unsigned)getpid() };
	uint8_t cmd[PEER_CMD_MAX];
	size_t n = cmd_create_primary(cmd);
	long finish = 0, idle = 0, timeout = 0, closed = 0, created = 0, rlen;
	uint8_t rsp[PEER_MAP_MAX];
	int64_t end = now_ms() + ms;
	pthread_t t;
	bool ok = true;

	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	peer_quiet = true;
	fl.page = f.ring.page;
	fl.evtchn = f.ring.evtchn;
	if (pthread_create(&t, NULL, flip_main, &fl) != 0)
		return EXIT_SETUP;
	for (unsigned i = 0; now_ms() < end; i++) {
		enum wait_result w;

		ring_put(&f, cmd, n, (uint32_t)n, 0, 1);
		if (i % 2) {
			/* the backend has its private copy by now: flip while it works */
			struct timespec ts = { .tv_nsec = 200000 + (long)(i * 7919 % 3000) * 1000 };
			nanosleep(&ts, NULL);
		}
		flip_set(&fl, 1);
		w = ring_wait(&f, with_state ? 2000 : PEER_WAIT_MS);
		flip_set(&fl, 0);
		switch (w) {
		case W_FINISH: finish++; break;
		case W_IDLE: idle++; break;
		case W_TIMEOUT: timeout++; break;
		case W_CLOSED: closed++; break;
		}
		if (w == W_FINISH && (rlen = ring_rsp(&f, rsp, sizeof(rsp))) >= TPM_HDR_SIZE &&
		    tpm_response_rc(rsp, (size_t)rlen) == TPM20_RC_SUCCESS)
			created++;
		if (!with_state && w != W_FINISH) {
			say("request %ld: wanted FINISH, got %s", finish + idle + timeout + closed,
			    wait_name(w));
			ok = false;
			break;
		}
		if (w == W_CLOSED) {
			/* the backend refused us for a flipped state: come back */
			flip_set(&fl, 2);
			pthread_join(t, NULL);
			front_close(&f);
			if (front_open(&f, path, 2, false) != 0)
				return EXIT_BROKEN;
			fl.page = f.ring.page;
			fl.evtchn = f.ring.evtchn;
			fl.run = 0;
			if (pthread_create(&t, NULL, flip_main, &fl) != 0)
				return EXIT_SETUP;
		}
		/* each CreatePrimary that ran left a key: free the slots so the next one runs too */
		f.ring.page[7] = 1;
		flush_transients(&f);
	}
	flip_set(&fl, 2);
	pthread_join(t, NULL);
	peer_quiet = false;
	say("%ld flips; %ld FINISH (%ld keys created), %ld IDLE, %ld timeouts, %ld disconnects",
	    fl.flips, finish, created, idle, timeout, closed);
	/* leave the TPM as we found it: flush the keys, then one clean exchange */
	if (sock_closed(f.sock)) {
		front_close(&f);
		if (front_open(&f, path, 2, false) != 0)
			return EXIT_BROKEN;
	}
	f.ring.page[7] = 1;
	flush_transients(&f);
	ok &= good_exchange(&f, 1, "good command after the flipping");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* A good client on libtpmfront, run in a thread while the tool floods. */
struct good_client {
	const char *path;
	int stop;	/* atomic */
	long served, failed;
	int64_t worst_ms;
};

static void *good_main(void *arg)
{
	struct good_client *g = arg;
	struct tpmfront *tf = tpmfront_open(g->path);
	uint8_t cmd[PEER_CMD_MAX], rsp[TPM_PACKET_MAX];
	size_t n = cmd_get_random(cmd, 8), rlen;

	if (!tf) {
		g->failed++;
		return NULL;
	}
	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		int64_t t0 = now_ms(), dt;

		if (tpmfront_send(tf, cmd, n) < 0 ||
		    tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, PEER_WAIT_MS) < 0 ||
		    tpm_response_rc(rsp, rlen) != 0) {
			g->failed++;
			break;
		}
		dt = now_ms() - t0;
		if (dt > g->worst_ms)
			g->worst_ms = dt;
		g->served++;
		sleep_ms(10);
	}
	tpmfront_close(tf);
	return NULL;
}

/*
 * Megabytes of notifications on our end of the event channel for ms: large
 * sends and runs of one-byte sends (a buffer each), as fast as the backend
 * takes them. A good client must be served meanwhile, each answer within
 * 2 s. With hold, we then stop, stay connected with whatever is still
 * queued, and the backend must go back to idle.
 */
static int front_flood(const char *path, int ms, bool hold)
{
	struct front f;
	struct good_client g = { .path = path };
	long bytes = 0, r = 0;
	int64_t t0, end;
	pid_t pid;
	pthread_t t;
	bool ok = true;

	if (front_open(&f, path, 2, false) != 0)
		return EXIT_SETUP;
	pid = peer_pid(f.sock);
	if (pthread_create(&t, NULL, good_main, &g) != 0)
		return EXIT_SETUP;
	t0 = now_ms();
	end = t0 + ms;
	for (unsigned i = 0; now_ms() < end; i++) {
		struct pollfd pfd = { .fd = f.ring.evtchn, .events = POLLOUT };

		if (i % 4 == 3) {
			for (int k = 0; k < 256 && (r = send_burst(f.ring.evtchn, 1)) > 0; k++)
				bytes += r;
		} else {
			r = send_burst(f.ring.evtchn, 4 * PEER_FLOOD_CHUNK);
			bytes += r > 0 ? r : 0;
		}
		if (r < 0) {
			say("flood: send: %s", strerror(errno));
			break;
		}
		if (r == 0)
			(void)poll(&pfd, 1, 10);	/* full: the backend reads at its pace */
	}
	__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	say("%.1f MB of notifications in %lld ms; good client: %ld served, %ld failed, worst %lld ms",
	    bytes / 1e6, (long long)(now_ms() - t0), g.served, g.failed, (long long)g.worst_ms);
	if (g.failed || g.served == 0 || g.worst_ms > 2000)
		ok = false;
	if (hold) {
		sleep_ms(200);
		say("%d bytes of send buffer still queued for the backend", sock_outq(f.ring.evtchn));
		ok &= pid > 0 && backend_stays_idle(pid, "after the flood, the flooder still connected");
		ok &= good_exchange(&f, 1, "the flooder's own request after the flood");
	}
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/*
 * Exchanges on a frontend that never reads its end of the event channel
 * (f->deaf) until the unread notifications stop growing (the backend leaves
 * at most one unread, or its sends meet a full buffer), then `more`
 * exchanges beyond that: each must still be answered. Returns false at the
 * first that is not.
 */
static bool exchange_until_full(struct front *f, int more)
{
	int q = sock_inq(f->ring.evtchn), still = 0, n;
	long ex;

	f->deaf = true;
	for (ex = 0; ex < PEER_FULL_MAX && still < PEER_FULL_STILL; ex++) {
		if (!good_exchange(f, 1, "exchange while our end fills"))
			return false;
		n = sock_inq(f->ring.evtchn);
		still = n == q ? still + 1 : 0;
		q = n;
	}
	say("%ld exchanges; our end holds %d unread bytes%s", ex, q,
	    still < PEER_FULL_STILL ? " and was still filling" : ", no longer growing");
	for (int i = 0; i < more; i++)
		if (!good_exchange(f, 1, "exchange with the backend's notifications refused"))
			return false;
	return true;
}

/*
 * A frontend that never reads its end of the event channel: the backend's
 * notifications stay unread; then the socket buffer is filled to the brim
 * (through our copy of the passed end, the backend's sends are charged to
 * it), so every notify meets a full buffer (EAGAIN) or an unread one. The
 * backend must go on answering (the page says FINISH) and serving others;
 * a notify that blocked would wedge it.
 */
static int front_evtchn_full(const char *path, int ms)
{
	struct front f;
	long filled;
	bool ok;

	(void)ms;
	if (front_open(&f, path, 2, true) != 0)
		return EXIT_SETUP;
	ok = exchange_until_full(&f, 0);
	filled = ok ? fill_until_full(f.kept) : 0;
	if (ok && filled <= 0) {
		say("could not fill the backend's end: %s", strerror(errno));
		return EXIT_SETUP;
	}
	if (ok)
		say("%ld more bytes queued through the backend's end: full", filled);
	ok = ok && exchange_until_full(&f, 20);
	if (ok && !backend_alive(path)) {
		say("the backend no longer greets new frontends");
		ok = false;
	}
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/*
 * The end we passed is one open file description, shared with the backend
 * (SCM_RIGHTS): we keep a copy, clear O_NONBLOCK on it and on our own end,
 * fill the backend-to-us direction from our copy until the kernel refuses
 * more (the backend's sends are charged to that end), and submit. The
 * backend's notify meets a full, blocking socket: it must not block. Then
 * more requests, never reading our end.
 */
static int front_evtchn_blocking(const char *path, int ms)
{
	struct front f;
	long filled;
	bool ok;

	(void)ms;
	if (front_open(&f, path, 2, true) != 0)
		return EXIT_SETUP;
	if (set_blocking(f.kept) < 0 || set_blocking(f.ring.evtchn) < 0)
		return EXIT_SETUP;
	filled = fill_until_full(f.kept);
	if (filled <= 0) {
		say("could not fill the backend's end: %s", strerror(errno));
		return EXIT_SETUP;
	}
	say("%ld bytes queued through the backend's end, O_NONBLOCK off on both ends", filled);
	f.deaf = true;
	ok = good_exchange(&f, 1, "request with the backend's end blocking and full");
	ok = ok && exchange_until_full(&f, 20);
	if (ok && !backend_alive(path)) {
		say("the backend no longer greets new frontends: wedged in its notify");
		ok = false;
	}
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* Blocking reads on the backend's end, stealing the notifications we send it. */
struct stealer {
	int fd;
	int stop;	/* atomic */
	long stolen;
};

static void *steal_main(void *arg)
{
	struct stealer *st = arg;
	char b[256];

	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = recv(st->fd, b, sizeof(b), 0);	/* SO_RCVTIMEO bounds it */

		if (n > 0)
			st->stolen += n;
		else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}
	return NULL;
}

/*
 * Our copy of the backend's end made blocking (with a receive timeout: a
 * socket option, so the backend's socket has it too), and a thread of ours
 * reading it: when the backend's poll saw a notification that our thread
 * took first, a drain without MSG_DONTWAIT would block until the next one,
 * and we stop sending. Rounds of notifications, then a probe, for ms. A
 * request whose notification we stole is never seen (as with Xen), so the
 * thread stops before a last request, which must then be served.
 */
static int front_evtchn_steal(const char *path, int ms)
{
	struct front f;
	struct stealer st = { .fd = -1 };
	struct timeval tv = { .tv_usec = 50000 };
	int64_t end = now_ms() + ms;
	pthread_t t;
	int rounds = 0;
	bool alive = true, ok;

	if (front_open(&f, path, 2, true) != 0)
		return EXIT_SETUP;
	st.fd = f.kept;
	if (set_blocking(f.kept) < 0 ||
	    setsockopt(f.kept, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    pthread_create(&t, NULL, steal_main, &st) != 0)
		return EXIT_SETUP;
	while (alive && now_ms() < end) {
		for (int i = 0; i < 20 + rounds % 17; i++) {
			(void)send(f.ring.evtchn, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			struct timespec ts = { .tv_nsec = 20000 + (rounds * 7919 + i * 104729) % 200000 };
			nanosleep(&ts, NULL);
		}
		rounds++;
		sleep_ms(5);
		alive = backend_alive(path);
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	say("%d rounds, %ld notifications stolen; backend %s", rounds, st.stolen,
	    alive ? "alive" : "wedged");
	ok = alive && good_exchange(&f, 1, "request after the theft");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/*
 * The event channel dies under a connected ring: we close our end
 * ("close"), shut down our sending side ("shutdown-wr": the backend's end
 * reads EOF for ever), or shut down the backend's end itself through our
 * copy ("shutdown-both"). Its end then polls readable (or HUP) for ever;
 * the backend must not busy-loop on it. It may hang up on us; either way
 * it must serve a good client meanwhile (the script checks) and release
 * everything once we go.
 */
static int front_evtchn_dead(const char *path, const char *how)
{
	struct front f;
	bool keep = !strcmp(how, "shutdown-both"), ok;
	pid_t pid;

	if (front_open(&f, path, 2, keep) != 0)
		return EXIT_SETUP;
	pid = peer_pid(f.sock);
	if (pid < 0)
		return EXIT_SETUP;
	if (!good_exchange(&f, 1, "request before the channel dies")) {
		front_close(&f);
		return EXIT_BROKEN;
	}
	if (!strcmp(how, "close")) {
		close(f.ring.evtchn);
		f.ring.evtchn = -1;
	} else if (!strcmp(how, "shutdown-wr")) {
		(void)shutdown(f.ring.evtchn, SHUT_WR);
	} else {
		(void)shutdown(f.kept, SHUT_RDWR);
	}
	sleep_ms(100);
	ok = backend_stays_idle(pid, "with the event channel dead");
	say("the backend %s", sock_closed(f.sock) ? "hung up on us" : "kept the connection");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/* Closed, InitWait, a new grant on the same socket, several times: served each time. */
static int front_reconnect(const char *path, int ms)
{
	struct front f;
	const unsigned pages[] = { 1, 2, 4, 3 };
	bool ok = true;

	(void)ms;
	if (front_open(&f, path, pages[0], false) != 0)
		return EXIT_SETUP;
	ok &= good_exchange(&f, (uint8_t)(pages[0] - 1), "first ring");
	for (size_t i = 1; i < sizeof(pages) / sizeof(pages[0]) && ok; i++) {
		/* Closed (a reboot) and Initialising (a kexec'd kernel) both start over */
		unsigned st = i % 2 ? XENBUS_STATE_CLOSED : XENBUS_STATE_INITIALISING;

		if (hs_send(f.sock, st, NULL, NULL, NULL, NULL, 0) < 0 ||
		    hs_recv(f.sock, PEER_WAIT_MS, NULL) != XENBUS_STATE_INIT_WAIT) {
			say("no InitWait after state %u", st);
			ok = false;
			break;
		}
		front_unmap(&f);
		if (front_offer(&f, pages[i], false) != 0) {
			say("grant of %u pages refused on reconnect", pages[i]);
			ok = false;
			break;
		}
		ok &= good_exchange(&f, (uint8_t)(pages[i] - 1), "ring after reconnect");
	}
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

/*
 * Handshake offers the backend must refuse by closing the connection. Each
 * builds the fds it passes (closed here after sending) and the keys.
 */
struct offer {
	int fds[2];
	int nfds;
	int hold[2];		/* open until the answer: the other end of a pair, a listener */
	bool self;		/* fds[1] is the rendezvous connection itself */
	const char *ring_ref, *evtchn, *v2;
	unsigned state;
	const uint8_t *raw;	/* sent instead of a message when set */
	size_t raw_len;
};

static int tmp_file(const char *path, size_t size)
{
	char dir[256];
	const char *slash = strrchr(path, '/');
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		say("O_TMPFILE in %s: %s", dir, strerror(errno));
		return -1;
	}
	return fd;
}

static int reopen_rdonly(int fd)
{
	char p[64];
	int r;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	r = open(p, O_RDONLY | O_CLOEXEC);
	close(fd);
	return r;
}

/* A connected loopback TCP socket; its listener and accepted peer go to hold[]. */
static int tcp_pair(int *hold)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &l) < 0 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
		say("loopback TCP: %s", strerror(errno));
		return -1;
	}
	hold[0] = lfd;
	hold[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return c;
}

/* A listening Unix stream socket on an abstract address of the kernel's choosing. */
static int unix_listener(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* an address of just the family: autobind */
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(sa_family_t)) < 0 || listen(fd, 4) < 0) {
		say("listening Unix socket: %s", strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * The event channel a case passes: a descriptor of the kind its name says,
 * or (any other case) a good one, an end of a fresh Unix stream socketpair
 * whose other end waits in hold[0]. -1 on failure; -3 for "the rendezvous
 * connection", which only exists once connected.
 */
static int make_evtchn(const char *name, int *hold)
{
	int sv[2], pp[2];

	hold[0] = hold[1] = -1;
	if (!strcmp(name, "evtchn-eventfd"))
		return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!strcmp(name, "evtchn-pipe")) {
		if (pipe2(pp, O_CLOEXEC | O_NONBLOCK) < 0)
			return -1;
		hold[0] = pp[1];	/* a live pipe: the write end stays open */
		return pp[0];
	}
	if (!strcmp(name, "evtchn-memfd"))
		return make_memfd(TPMIF_PAGE_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	if (!strcmp(name, "evtchn-devnull"))
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!strcmp(name, "evtchn-udp"))
		return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!strcmp(name, "evtchn-tcp"))
		return tcp_pair(hold);
	if (!strcmp(name, "evtchn-listen"))
		return unix_listener();
	if (!strcmp(name, "evtchn-unconnected"))
		return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!strcmp(name, "evtchn-rendezvous"))
		return -3;
	if (socketpair(AF_UNIX,
		       (!strcmp(name, "evtchn-dgram") ? SOCK_DGRAM
			: !strcmp(name, "evtchn-seqpacket") ? SOCK_SEQPACKET : SOCK_STREAM) |
			       SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	if (!strcmp(name, "evtchn-peer-closed"))
		close(sv[1]);	/* a stream socket, but nobody at the other end */
	else
		hold[0] = sv[1];
	return sv[0];
}

/* Fills o for case name; 0, or -1 when name is not a handshake case. */
static int offer_build(const char *name, const char *path, struct offer *o)
{
	static const uint8_t garbage[] = { 0, 5, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t oversize[] = { 0xff, 0xff, 's', 't', 'a', 't', 'e' };
	static const uint8_t partial[] = { 0, 40, 's', 't', 'a', 't', 'e', '=', '3', '\n' };
	const size_t pg = TPMIF_PAGE_SIZE;
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW;
	int memfd = -2, evtchn;

	*o = (struct offer){ .ring_ref = "0", .evtchn = "1", .v2 = "1",
			     .state = XENBUS_STATE_INITIALISED, .hold = { -1, -1 } };
	if (!strcmp(name, "grant-small"))
		memfd = make_memfd(pg / 2, seals);
	else if (!strcmp(name, "grant-empty"))
		memfd = make_memfd(0, seals);
	else if (!strcmp(name, "grant-unaligned"))
		memfd = make_memfd(pg + 100, seals);
	else if (!strcmp(name, "grant-big"))
		memfd = make_memfd(pg * (TPMIF_MAX_EXTRA_PAGES + 2), seals);
	else if (!strcmp(name, "grant-unsealed"))
		memfd = make_memfd(pg, 0);
	else if (!strcmp(name, "grant-nosealing"))
		memfd = make_memfd(pg, -1);
	else if (!strcmp(name, "grant-shrink-only"))
		memfd = make_memfd(pg, F_SEAL_SHRINK);
	else if (!strcmp(name, "grant-grow-only"))
		memfd = make_memfd(pg, F_SEAL_GROW);
	else if (!strcmp(name, "grant-file"))
		memfd = tmp_file(path, pg);
	else if (!strcmp(name, "grant-devzero"))
		memfd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	else if (!strcmp(name, "grant-readonly"))
		memfd = reopen_rdonly(make_memfd(pg, seals));
	else if (!strcmp(name, "grant-write-sealed"))
		memfd = make_memfd(pg, seals | F_SEAL_WRITE);
	else if (!strcmp(name, "grant-eventfd"))
		memfd = eventfd(0, EFD_CLOEXEC);
	else if (!strncmp(name, "evtchn-", 7) || !strncmp(name, "hs-", 3))
		memfd = make_memfd(pg, seals);
	else
		return -1;
	/* the partial message carries the rendezvous connection, as a rendezvous case does */
	evtchn = make_evtchn(strcmp(name, "hs-partial-self") ? name : "evtchn-rendezvous", o->hold);
	if (memfd < 0 || evtchn == -1) {
		say("%s: cannot make the descriptors: %s", name, strerror(errno));
		return -1;
	}
	o->self = evtchn == -3;
	o->fds[0] = memfd;
	o->fds[1] = evtchn;
	o->nfds = 2;
	if (!strcmp(name, "hs-same-index")) {
		o->evtchn = "0";
	} else if (!strcmp(name, "hs-ref-range")) {
		o->ring_ref = "2";
	} else if (!strcmp(name, "hs-ref-negative")) {
		o->ring_ref = "-1";
	} else if (!strcmp(name, "hs-ref-huge")) {
		o->ring_ref = "4294967296";
	} else if (!strcmp(name, "hs-no-ref")) {
		o->ring_ref = NULL;
	} else if (!strcmp(name, "hs-one-fd")) {
		o->nfds = 1;
	} else if (!strcmp(name, "hs-no-fds")) {
		o->nfds = 0;
	} else if (!strcmp(name, "hs-no-v2")) {
		o->v2 = NULL;
	} else if (!strcmp(name, "hs-v2-zero")) {
		o->v2 = "0";
	} else if (!strcmp(name, "hs-bad-state")) {
		o->state = 9;
	} else if (!strcmp(name, "hs-garbage")) {
		o->raw = garbage;
		o->raw_len = sizeof(garbage);
	} else if (!strcmp(name, "hs-oversize")) {
		o->raw = oversize;
		o->raw_len = sizeof(oversize);
	} else if (!strcmp(name, "hs-partial") || !strcmp(name, "hs-partial-self")) {
		/* fds on a message that never completes; the backend holds them till we go */
		o->raw = partial;
		o->raw_len = sizeof(partial);
	} else if (!strncmp(name, "hs-", 3)) {
		return -1;
	}
	return 0;
}

/*
 * Waits up to 2 s for pid to hold no more than fds0 fds once we are gone;
 * false (said why) if it still holds more.
 */
static bool backend_released(pid_t pid, int fds0, const char *what)
{
	int64_t end = now_ms() + 2000;
	int n;

	while ((n = proc_fds(pid)) > fds0 && now_ms() < end)
		sleep_ms(20);
	if (n > fds0) {
		say("%s: the backend still holds %d fds more than before we connected, 2 s after we "
		    "closed everything: it holds our end of the connection, so it never sees us go",
		    what, n - fds0);
		return false;
	}
	return true;
}

static int front_handshake(const char *path, const char *name)
{
	struct offer o;
	struct sockaddr_un la;
	socklen_t lal = sizeof(la);
	int sock, r, fds0, pending = -1;
	bool listener = !strcmp(name, "evtchn-listen");
	pid_t pid;

	if (offer_build(name, path, &o) < 0)
		return EXIT_SETUP;
	sock = hs_connect(path, PEER_WAIT_MS);
	if (sock < 0)
		return EXIT_SETUP;
	pid = peer_pid(sock);
	/* what the backend held before this connection (the greeting is in) */
	fds0 = pid > 0 ? proc_fds(pid) - 1 : -1;
	if (pid < 0 || fds0 < 0 ||
	    (listener && getsockname(o.fds[1], (struct sockaddr *)&la, &lal) < 0))
		return EXIT_SETUP;
	if (o.self)
		o.fds[1] = sock;
	if (o.raw)
		r = sock_send_fds(sock, o.raw, o.raw_len, o.fds, o.nfds);
	else
		r = hs_send(sock, o.state, o.ring_ref, o.evtchn, o.v2, o.fds, o.nfds);
	close(o.fds[0]);
	if (!o.self)
		close(o.fds[1]);
	if (r < 0) {
		say("send: %s", strerror(errno));
		close(sock);
		return EXIT_SETUP;
	}
	if (!strncmp(name, "hs-partial", 10)) {
		sleep_ms(200);
		close(sock);
		for (int i = 0; i < 2; i++)
			if (o.hold[i] >= 0)
				close(o.hold[i]);
		return backend_released(pid, fds0, name) ? EXIT_PASS : EXIT_BROKEN;
	}
	r = hs_answer(sock);
	if (r == 0) {
		close(sock);
		return EXIT_PASS;
	}
	/* not refused: what taking it costs the backend */
	if (r == 1)
		say("the backend accepted the offer");
	if (listener) {
		/* a connection it never accepts keeps the listener readable */
		pending = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (pending >= 0 && connect(pending, (struct sockaddr *)&la, lal) < 0)
			say("connect to the listener: %s", strerror(errno));
	}
	(void)backend_stays_idle(pid, listener ? "with a connection pending on its event channel"
					      : "holding that event channel");
	if (pending >= 0)
		close(pending);
	close(sock);
	for (int i = 0; i < 2; i++)
		if (o.hold[i] >= 0)
			close(o.hold[i]);
	(void)backend_released(pid, fds0, name);
	return EXIT_BROKEN;
}

/*
 * Two connections, each offering the other's end of the rendezvous as its
 * event channel: a backend that took both would hold both our ends, and
 * neither connection would ever read EOF.
 */
static int front_evtchn_cross(const char *path)
{
	int s[2], m[2], r[2], fds0;
	pid_t pid;

	s[0] = hs_connect(path, PEER_WAIT_MS);
	s[1] = hs_connect(path, PEER_WAIT_MS);
	if (s[0] < 0 || s[1] < 0 || (pid = peer_pid(s[0])) < 0)
		return EXIT_SETUP;
	fds0 = proc_fds(pid) - 2;
	for (int i = 0; i < 2; i++) {
		m[i] = make_memfd(TPMIF_PAGE_SIZE, SEALS_OK);
		int give[2] = { m[i], s[1 - i] };
		if (m[i] < 0 || hs_send(s[i], XENBUS_STATE_INITIALISED, "0", "1", "1", give, 2) < 0)
			return EXIT_SETUP;
		close(m[i]);
	}
	for (int i = 0; i < 2; i++)
		r[i] = hs_answer(s[i]);
	close(s[0]);
	close(s[1]);
	if (r[0] == 0 && r[1] == 0)
		return EXIT_PASS;
	say("not refused (answers %d, %d)", r[0], r[1]);
	(void)backend_released(pid, fds0, "evtchn-cross");
	return EXIT_BROKEN;
}

/* Three fds where two are expected: the extra one is dropped, the ring works. */
static int front_three_fds(const char *path, int ms)
{
	struct front f = { .ring = { .evtchn = -1 }, .kept = -1 };
	int memfd = make_memfd(2 * TPMIF_PAGE_SIZE, SEALS_OK), extra = eventfd(0, EFD_CLOEXEC), sv[2];
	bool ok;

	(void)ms;
	f.sock = hs_connect(path, PEER_WAIT_MS);
	if (f.sock < 0 || memfd < 0 || extra < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return EXIT_SETUP;
	f.ring.page = mmap(NULL, 2 * TPMIF_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	f.ring.map_size = 2 * TPMIF_PAGE_SIZE;
	f.ring.evtchn = sv[0];
	if (f.ring.page == MAP_FAILED)
		return EXIT_SETUP;
	tpmif_front_init(&f.ring, 1);
	int give[3] = { memfd, sv[1], extra };
	if (hs_send(f.sock, XENBUS_STATE_INITIALISED, "0", "1", "1", give, 3) < 0)
		return EXIT_SETUP;
	close(memfd);
	close(sv[1]);
	close(extra);
	if (hs_answer(f.sock) != 1) {
		say("refused");
		front_close(&f);
		return EXIT_BROKEN;
	}
	(void)hs_send(f.sock, XENBUS_STATE_CONNECTED, NULL, NULL, NULL, NULL, 0);
	ok = good_exchange(&f, 1, "ring granted with a third fd");
	front_close(&f);
	return ok ? EXIT_PASS : EXIT_BROKEN;
}

static const char *const front_cases[] = {
	"len-beyond", "extra-overflow", "backend-state", "locality", "noread",
	"disconnect-exit", "disconnect-closed", "disconnect-unmap", "disconnect-reopen",
	"flip-len", "flip-state", "flood", "reconnect", "three-fds",
	"grant-small", "grant-empty", "grant-unaligned", "grant-big", "grant-unsealed",
	"grant-nosealing", "grant-shrink-only", "grant-grow-only", "grant-file",
	"grant-devzero", "grant-readonly", "grant-write-sealed", "grant-eventfd",
	"hs-same-index", "hs-ref-range", "hs-ref-negative", "hs-ref-huge", "hs-no-ref",
	"hs-one-fd", "hs-no-fds", "hs-no-v2", "hs-v2-zero", "hs-bad-state", "hs-garbage",
	"hs-oversize", "hs-partial", "hs-partial-self",
	/* the event channel: what it is (refused at the handshake) */
	"evtchn-eventfd", "evtchn-pipe", "evtchn-memfd", "evtchn-devnull", "evtchn-udp",
	"evtchn-dgram", "evtchn-seqpacket", "evtchn-tcp", "evtchn-listen", "evtchn-unconnected",
	"evtchn-peer-closed", "evtchn-rendezvous", "evtchn-cross",
	/* the event channel: what is done with it once connected */
	"evtchn-flood", "evtchn-full", "evtchn-blocking", "evtchn-steal", "evtchn-close",
	"evtchn-shutdown-wr", "evtchn-shutdown-both",
	NULL,
};

static int run_front(const char *name, const char *path, int ms)
{
	if (!strcmp(name, "len-beyond"))
		return front_len_beyond(path, ms);
	if (!strcmp(name, "extra-overflow"))
		return front_extra_overflow(path, ms);
	if (!strcmp(name, "backend-state"))
		return front_backend_state(path, ms);
	if (!strcmp(name, "locality"))
		return front_locality(path, ms);
	if (!strcmp(name, "noread"))
		return front_noread(path, ms);
	if (!strncmp(name, "disconnect-", 11))
		return front_disconnect(path, name + 11);
	if (!strcmp(name, "flip-len"))
		return front_flip(path, ms, false);
	if (!strcmp(name, "flip-state"))
		return front_flip(path, ms, true);
	if (!strcmp(name, "flood"))
		return front_flood(path, ms, false);
	if (!strcmp(name, "evtchn-flood"))
		return front_flood(path, ms, true);
	if (!strcmp(name, "evtchn-full"))
		return front_evtchn_full(path, ms);
	if (!strcmp(name, "evtchn-blocking"))
		return front_evtchn_blocking(path, ms);
	if (!strcmp(name, "evtchn-steal"))
		return front_evtchn_steal(path, ms);
	if (!strcmp(name, "evtchn-close") || !strcmp(name, "evtchn-shutdown-wr") ||
	    !strcmp(name, "evtchn-shutdown-both"))
		return front_evtchn_dead(path, name + 7);
	if (!strcmp(name, "evtchn-cross"))
		return front_evtchn_cross(path);
	if (!strcmp(name, "reconnect"))
		return front_reconnect(path, ms);
	if (!strcmp(name, "three-fds"))
		return front_three_fds(path, ms);
	for (int i = 0; front_cases[i]; i++)
		if (!strcmp(front_cases[i], name))
			return front_handshake(path, name);
	return -1;
}

/* --- fake backend (child process) ---------------------------------------------- */

struct fake {
	int sock;
	uint8_t *page;
	size_t map_size;
	int evt;	/* the frontend's event channel, passed to us: both directions */
};

static void fake_notify(struct fake *b)
{
	(void)send(b->evt, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * Waits until the frontend's state is `want`; false after PEER_WAIT_MS. A
 * deaf fake never reads the event channel: it looks at the page every ms.
 */
static bool fake_wait_state(struct fake *b, uint8_t want, bool deaf)
{
	int64_t end = now_ms() + PEER_WAIT_MS;
	char junk[256];

	while (__atomic_load_n(&b->page[4], __ATOMIC_ACQUIRE) != want) {
		struct pollfd pfd = { .fd = deaf ? -1 : b->evt, .events = POLLIN | POLLRDHUP };

		if (now_ms() >= end)
			return false;
		if (poll(&pfd, 1, deaf ? 1 : 20) <= 0)
			continue;
		if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP))
			deaf = true;
		else
			(void)recv(b->evt, junk, sizeof(junk), MSG_DONTWAIT);
	}
	return true;
}

/* Writes a response (rsp may be NULL) with a claimed length and nr_extra, then a state. */
static void fake_answer(struct fake *b, const uint8_t *rsp, size_t len, uint32_t length,
			int nr_extra, uint8_t state)
{
	uint32_t off;

	if (nr_extra >= 0)
		b->page[7] = (uint8_t)nr_extra;
	off = TPMIF_HDR_SIZE + 4u * b->page[7];
	if (rsp && off <= b->map_size && len <= b->map_size - off)
		memcpy(b->page + off, rsp, len);
	memcpy(b->page, &length, sizeof(length));
	__atomic_store_n(&b->page[4], state, __ATOMIC_RELEASE);
	fake_notify(b);
}

static void fake_hold(struct fake *b)
{
	struct pollfd pfd = { .fd = b->sock, .events = POLLIN };
	char c;

	/* until the frontend hangs up or the parent kills us */
	for (;;) {
		if (poll(&pfd, 1, -1) > 0 && recv(b->sock, &c, 1, 0) <= 0)
			_exit(0);
	}
}

/* Floods the event channel until the frontend hangs up or the parent kills us. */
static void fake_flood(struct fake *b)
{
	for (;;) {
		struct pollfd pfd[2] = { { .fd = b->evt, .events = POLLOUT },
					 { .fd = b->sock, .events = POLLIN } };
		char c;

		if (send_burst(b->evt, 4 * PEER_FLOOD_CHUNK) < 0)
			fake_hold(b);
		(void)poll(pfd, 2, 10);
		if ((pfd[1].revents & POLLIN) && recv(b->sock, &c, 1, MSG_DONTWAIT) == 0)
			_exit(0);
	}
}

/* Sends single bytes over the event channel, each carrying descriptors. */
static void fake_send_fds(struct fake *b, int messages)
{
	int fds[4];

	for (int i = 0; i < 4; i++)
		fds[i] = i % 2 ? eventfd(0, EFD_CLOEXEC) : open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < messages; i++)
		if (sock_send_fds(b->evt, "x", 1, fds, 4) < 0)
			break;
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Answers every request with a short success, never reading the event channel. */
static void fake_answer_deaf(struct fake *b)
{
	uint8_t rsp[TPM_HDR_SIZE];

	tpm_error_response(rsp, 1, 0);
	while (fake_wait_state(b, TPMIF_STATE_SUBMIT, true))
		fake_answer(b, rsp, sizeof(rsp), sizeof(rsp), -1, TPMIF_STATE_FINISH);
	fake_hold(b);
}

static void fake_main(int lfd, const char *name)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct fake b = { .evt = -1 };
	struct xsmsg m;
	int fds[XSMSG_MAX_FDS], nfds = 0, give[2] = { -1, -1 }, ngive = 0;
	struct stat st;
	uint8_t rsp[PEER_MAP_MAX];

	peer_case = name;
	if (poll(&pfd, 1, PEER_WAIT_MS) <= 0 || (b.sock = sock_accept(lfd)) < 0)
		_exit(EXIT_SETUP);
	if (!strcmp(name, "hs-close"))
		_exit(0);
	if (!strcmp(name, "hs-silent"))
		fake_hold(&b);
	xsmsg_init(&m);
	if (!strcmp(name, "hs-wrong-state"))
		(void)xsmsg_set_uint(&m, "state", XENBUS_STATE_CONNECTED);
	else
		(void)xsmsg_set_uint(&m, "state", XENBUS_STATE_INIT_WAIT);
	if (strcmp(name, "hs-no-v2"))
		(void)xsmsg_set(&m, "feature-protocol-v2", "1");
	if (xsmsg_send(b.sock, &m, NULL, 0) < 0)
		_exit(EXIT_SETUP);
	if (xsmsg_recv(b.sock, &m, fds, &nfds, PEER_WAIT_MS) < 0 || nfds != 2 ||
	    fstat(fds[0], &st) < 0 || st.st_size < (off_t)TPMIF_PAGE_SIZE)
		fake_hold(&b);	/* the frontend gave up: nothing to map */
	b.map_size = (size_t)st.st_size;
	b.page = mmap(NULL, b.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	b.evt = fds[1];
	close(fds[0]);
	if (b.page == MAP_FAILED)
		_exit(EXIT_SETUP);
	if (tpmif_take_evtchn(b.evt) < 0) {
		say("libtpmfront passed an event channel that is not a Unix stream socket");
		fake_hold(&b);
	}
	if (!strcmp(name, "hs-extra-fd")) {
		/* Connected carries no descriptor; these must be closed, not kept */
		int pp[2];

		if (pipe2(pp, O_CLOEXEC) < 0)
			_exit(EXIT_SETUP);
		give[0] = pp[0];
		give[1] = eventfd(0, EFD_CLOEXEC);
		ngive = 2;
	}
	xsmsg_init(&m);
	(void)xsmsg_set_uint(&m, "state", XENBUS_STATE_CONNECTED);
	(void)xsmsg_set(&m, "ready", "1");
	if (xsmsg_send(b.sock, &m, give, ngive) < 0)
		_exit(EXIT_SETUP);
	/* the frontend's Connected ends the handshake */
	if (xsmsg_recv(b.sock, &m, fds, &nfds, PEER_WAIT_MS) < 0)
		fake_hold(&b);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (!strcmp(name, "evtchn-noread"))
		fake_answer_deaf(&b);
	/* the request; the cancel case waits for the CANCEL that may already have replaced it */
	if (!fake_wait_state(&b, strcmp(name, "state-submit-after-cancel") ? TPMIF_STATE_SUBMIT
									 : TPMIF_STATE_CANCEL, false))
		fake_hold(&b);

	uint32_t room = (uint32_t)(b.map_size - (TPMIF_HDR_SIZE + 4u * b.page[7]));
	size_t n = tpm_error_response(rsp, 1, 0);

	if (!strcmp(name, "oversize-past")) {
		fake_answer(&b, rsp, n, room + 1, -1, TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "oversize-huge")) {
		fake_answer(&b, rsp, n, 0xffffffffu, -1, TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "oversize-cap")) {
		/* a well-formed 5000-byte answer inside the ring, over the caller's 4096 */
		memset(rsp, 0, 5000);
		tpm_error_response(rsp, 1, 0);
		be32_store(rsp + 2, 5000);
		fake_answer(&b, rsp, 5000, 5000, -1, TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "extra-255")) {
		fake_answer(&b, rsp, n, (uint32_t)b.map_size - (TPMIF_HDR_SIZE + 4u * 255) + 1, 255,
			    TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "short")) {
		fake_answer(&b, rsp, n, 4, -1, TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "mismatch")) {
		be32_store(rsp + 2, 30);
		fake_answer(&b, rsp, 20, 20, -1, TPMIF_STATE_FINISH);
	} else if (!strcmp(name, "state-cancel")) {
		fake_answer(&b, NULL, 0, 0, -1, TPMIF_STATE_CANCEL);
	} else if (!strcmp(name, "state-invalid")) {
		fake_answer(&b, NULL, 0, 0, -1, 7);
	} else if (!strcmp(name, "state-submit")) {
		fake_answer(&b, NULL, 0, 0, -1, TPMIF_STATE_SUBMIT);
	} else if (!strcmp(name, "state-submit-after-cancel")) {
		fake_answer(&b, NULL, 0, 0, -1, TPMIF_STATE_SUBMIT);
	} else if (!strcmp(name, "idle")) {
		fake_answer(&b, NULL, 0, 0, -1, TPMIF_STATE_IDLE);
	} else if (!strcmp(name, "evtchn-flood")) {
		fake_flood(&b);	/* never answers */
	} else if (!strcmp(name, "evtchn-fds")) {
		fake_send_fds(&b, 64);	/* never answers */
	} else if (!strncmp(name, "evtchn-close", 12)) {
		close(b.evt);	/* the rendezvous and the page stay */
	} else if (!strcmp(name, "evtchn-shutdown")) {
		(void)shutdown(b.evt, SHUT_WR);	/* the frontend's end reads EOF for ever */
	} else if (!strcmp(name, "evtchn-vanish")) {
		_exit(0);	/* everything closed with a request in flight */
	}
	/* "silent" and everything above: stay connected and say nothing more */
	fake_hold(&b);
}

/* --- back cases: libtpmfront against the fake backend ------------------------------ */

static void watchdog(int sig)
{
	static const char msg[] = "tpmif_peer: a libtpmfront call did not return by its deadline\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(EXIT_BROKEN);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Open fds of this process: libtpmfront must release all of its own. */
static int count_fds(void)
{
	char p[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

struct back_case {
	const char *name;
	int open_errno;		/* nonzero: tpmfront_open must fail with it */
	int recv_errno;		/* errno tpmfront_recv must fail with */
	int recv_errno2;	/* another it may fail with, or 0 */
	int recv_ms;		/* its timeout: 0 PEER_RECV_MS, -1 for ever (3 s to return) */
	bool cancel;		/* call tpmfront_cancel after send */
	bool busy_ok;		/* the backend floods us: reading it may take a core */
};

static const struct back_case back_cases[] = {
	{ .name = "oversize-past", .recv_errno = EMSGSIZE },
	{ .name = "oversize-huge", .recv_errno = EMSGSIZE },
	{ .name = "oversize-cap", .recv_errno = EMSGSIZE },
	{ .name = "extra-255", .recv_errno = EMSGSIZE },
	{ .name = "short", .recv_errno = EPROTO },
	{ .name = "mismatch", .recv_errno = EPROTO },
	{ .name = "state-cancel", .recv_errno = EPROTO },
	{ .name = "state-invalid", .recv_errno = EPROTO },
	{ .name = "state-submit-after-cancel", .recv_errno = EPROTO, .cancel = true },
	/* SUBMIT over our SUBMIT looks like no answer yet: the protocol cannot tell */
	{ .name = "state-submit", .recv_errno = ETIMEDOUT },
	{ .name = "silent", .recv_errno = ETIMEDOUT },
	{ .name = "idle", .recv_errno = ECANCELED },
	{ .name = "hs-extra-fd", .recv_errno = ETIMEDOUT },
	{ .name = "hs-no-v2", .open_errno = EPROTONOSUPPORT },
	{ .name = "hs-wrong-state", .open_errno = EPROTO },
	{ .name = "hs-close", .open_errno = ECONNRESET },
	{ .name = "hs-silent", .open_errno = ETIMEDOUT },
	/* the event channel from the backend's side */
	{ .name = "evtchn-flood", .recv_errno = ETIMEDOUT, .busy_ok = true },
	{ .name = "evtchn-noread" },
	{ .name = "evtchn-fds", .recv_errno = ETIMEDOUT },
	/* a dead channel: EPIPE at once, or ETIMEDOUT on time without spinning */
	{ .name = "evtchn-close", .recv_errno = EPIPE, .recv_errno2 = ETIMEDOUT },
	/* ... and with no timeout only an error returns: the backend is gone */
	{ .name = "evtchn-close-forever", .recv_errno = EPIPE, .recv_errno2 = ECONNRESET,
	  .recv_ms = -1 },
	{ .name = "evtchn-shutdown", .recv_errno = EPIPE, .recv_errno2 = ECONNRESET, .recv_ms = -1 },
	{ .name = "evtchn-vanish", .recv_errno = EPIPE, .recv_errno2 = ECONNRESET, .recv_ms = -1 },
	{ .name = NULL },
};

/*
 * Commands against a fake that answers on the page but never reads its end
 * of the event channel: our notifications stay unread there (at most one,
 * or until our sends meet a full buffer), then 2 * PEER_FULL_STILL more
 * with nothing more queued. Each send must return at once and each answer
 * arrive.
 */
static int back_noread(struct tpmfront *tf, const uint8_t *cmd, size_t n)
{
	uint8_t rsp[TPM_PACKET_MAX];
	size_t rlen;
	int fd = tpmfront_fd(tf), q = sock_outq(fd), still = 0, now;
	long ex;

	for (ex = 0; ex < PEER_FULL_MAX && still < 2 * PEER_FULL_STILL; ex++) {
		alarm(3);
		if (tpmfront_send(tf, cmd, n) < 0) {
			alarm(0);
			say("command %ld: tpmfront_send: %s", ex, strerror(errno));
			return EXIT_BROKEN;
		}
		if (tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, PEER_WAIT_MS) < 0) {
			alarm(0);
			say("command %ld: tpmfront_recv: %s", ex, strerror(errno));
			return EXIT_BROKEN;
		}
		alarm(0);
		now = sock_outq(fd);
		still = now == q ? still + 1 : 0;
		q = now;
	}
	say("%ld commands; our unread notifications hold %d bytes of send buffer%s", ex, q,
	    still < 2 * PEER_FULL_STILL ? ", still growing" : ", no longer growing");
	return still < 2 * PEER_FULL_STILL ? EXIT_SETUP : EXIT_PASS;
}

static int run_back(const char *name, const char *dir)
{
	const struct back_case *c = back_cases;
	struct sigaction sa = { .sa_handler = watchdog };
	char path[256];
	uint8_t cmd[PEER_CMD_MAX], *rsp;
	size_t n = cmd_get_random(cmd, 8), rlen = 0;
	struct tpmfront *tf;
	int lfd, ret = EXIT_BROKEN, r, e, fds0, fds1, recv_ms;
	int64_t t0, dt;
	double c0, used;
	pid_t pid;

	while (c->name && strcmp(c->name, name))
		c++;
	if (!c->name)
		return -1;
	recv_ms = c->recv_ms ? c->recv_ms : PEER_RECV_MS;
	fds0 = count_fds();
	snprintf(path, sizeof(path), "%s/fake.sock", dir);
	lfd = sock_listen_unix(path, 0700);
	if (lfd < 0) {
		say("listen %s: %s", path, strerror(errno));
		return EXIT_SETUP;
	}
	pid = fork();
	if (pid < 0)
		return EXIT_SETUP;
	if (pid == 0)
		fake_main(lfd, name);
	close(lfd);
	sigaction(SIGALRM, &sa, NULL);
	alarm(10);	/* the handshake takes at most 5 s */
	tf = tpmfront_open(path);
	alarm(0);
	if (c->open_errno) {
		e = errno;
		if (tf) {
			say("tpmfront_open succeeded against a broken handshake");
			tpmfront_close(tf);
		} else if (e != c->open_errno) {
			say("tpmfront_open: %s, wanted %s", strerror(e), strerror(c->open_errno));
		} else {
			ret = EXIT_PASS;
		}
		goto out;
	}
	if (!tf) {
		say("tpmfront_open: %s", strerror(errno));
		ret = EXIT_SETUP;
		goto out;
	}
	if (!strcmp(name, "evtchn-noread")) {
		ret = back_noread(tf, cmd, n);
		goto close;
	}
	alarm(3);
	r = tpmfront_send(tf, cmd, n);
	alarm(0);
	if (r < 0) {
		say("tpmfront_send: %s", strerror(errno));
		goto close;
	}
	if (c->cancel && tpmfront_cancel(tf) < 0)
		goto close;
	/* an exact-size buffer on the heap: ASan sees any overread into it */
	rsp = malloc(TPM_PACKET_MAX);
	if (!rsp)
		goto close;
	t0 = now_ms();
	c0 = cpu_s();
	alarm(recv_ms < 0 ? 3 : recv_ms / 1000 + 3);
	r = tpmfront_recv(tf, rsp, TPM_PACKET_MAX, &rlen, recv_ms);
	e = errno;
	alarm(0);
	dt = now_ms() - t0;
	used = cpu_s() - c0;
	free(rsp);
	if (r == 0) {
		say("tpmfront_recv accepted a %zu-byte answer", rlen);
	} else if (e != c->recv_errno && (!c->recv_errno2 || e != c->recv_errno2)) {
		say("tpmfront_recv: %s, wanted %s", strerror(e), strerror(c->recv_errno));
	} else if (e == ETIMEDOUT && (dt < recv_ms || dt > recv_ms + 500)) {
		say("ETIMEDOUT after %lld ms for a %d ms timeout", (long long)dt, recv_ms);
	} else if (!c->busy_ok && used > 0.05 + 0.3 * (double)dt / 1000.0) {
		say("tpmfront_recv burnt %.0f ms of CPU in %lld ms (%s)", used * 1000, (long long)dt,
		    strerror(e));
	} else {
		ret = EXIT_PASS;
	}
	if (ret == EXIT_PASS)
		say("tpmfront_recv: %s after %lld ms, %.0f ms of CPU", strerror(e), (long long)dt,
		    used * 1000);
	if (ret == EXIT_PASS && e == ETIMEDOUT) {
		/* the command stays in flight: no second send */
		if (tpmfront_send(tf, cmd, n) == 0 || errno != EBUSY) {
			say("tpmfront_send after a timeout did not fail with EBUSY");
			ret = EXIT_BROKEN;
		}
	}
close:
	alarm(3);
	tpmfront_close(tf);
	alarm(0);
out:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(path);
	fds1 = count_fds();
	if (fds1 != fds0) {
		say("libtpmfront left %d fds open (%d before, %d after)", fds1 - fds0, fds0, fds1);
		ret = EXIT_BROKEN;
	}
	return ret;
}

/* --- good client ------------------------------------------------------------------------ */

static int run_good(const char *path)
{
	struct tpmfront *tf = tpmfront_open(path);
	uint8_t cmd[PEER_CMD_MAX], rsp[TPM_PACKET_MAX];
	size_t n = cmd_get_random(cmd, 8), rlen;
	int ret = EXIT_BROKEN;

	if (!tf) {
		say("tpmfront_open: %s", strerror(errno));
		return EXIT_BROKEN;
	}
	if (tpmfront_send(tf, cmd, n) < 0 ||
	    tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, PEER_WAIT_MS) < 0)
		say("GetRandom: %s", strerror(errno));
	else if (tpm_response_rc(rsp, rlen) != 0 || rlen != TPM_HDR_SIZE + 2 + 8)
		say("GetRandom: rc 0x%x, %zu bytes", tpm_response_rc(rsp, rlen), rlen);
	else
		ret = EXIT_PASS;
	tpmfront_close(tf);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: tpmif_peer front CASE SOCKET [MS]\n"
		"       tpmif_peer back CASE DIR\n"
		"       tpmif_peer good SOCKET\n"
		"       tpmif_peer list front|back\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int r, ms = 2000;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "list")) {
		if (!strcmp(argv[2], "front"))
			for (int i = 0; front_cases[i]; i++)
				puts(front_cases[i]);
		else if (!strcmp(argv[2], "back"))
			for (int i = 0; back_cases[i].name; i++)
				puts(back_cases[i].name);
		else
			return usage();
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "good"))
		return run_good(argv[2]);
	if (argc < 4)
		return usage();
	peer_case = argv[2];
	if (!strcmp(argv[1], "front")) {
		if (argc == 5)
			ms = atoi(argv[4]);
		if (argc > 5 || ms <= 0 || ms > 600000)
			return usage();
		r = run_front(argv[2], argv[3], ms);
	} else if (!strcmp(argv[1], "back") && argc == 4) {
		r = run_back(argv[2], argv[3]);
	} else {
		return usage();
	}
	if (r < 0) {
		fprintf(stderr, "tpmif_peer: unknown case '%s'\n", argv[2]);
		return usage();
	}
	return r;
}
