/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_tpmif.c: round-trip latency of TPM2_GetRandom(32) over the tpmif
 * shared-page ring (libtpmfront) next to TPM daemons over their Unix data
 * sockets (vtpm, swtpm), run by bench/run.sh or by hand. One process, one
 * connection per target, one command in flight. After an untimed warm-up
 * on every target it runs interleaved rounds: in each round every target
 * in turn (the first one rotating) does N timed operations, so that noise
 * on a small machine spreads over all targets alike. Every sample is kept;
 * the report gives pooled percentiles and ops/s, and the median of the
 * rounds' p50 as a check on drift. Trusted input: the command line.
 * Untrusted: every byte from a target, parsed with the buffer API; a
 * response of the wrong size or code ends the run.
 *
 * Usage: bench_tpmif [-n OPS] [-r ROUNDS] [-w WARMUP] NAME=tpmif:PATH | NAME=unix:PATH ...
 * Output (stdout): a table, then tab-separated lines
 * "result getrandom NAME OPS_PER_S P50_US P99_US" as bench_tpm prints them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "tpm.h"
#include "tpmfront.h"

#define MAX_TARGETS	4
#define NAME_MAX_LEN	15
#define OPS_MAX		1000000u	/* per round */
#define ROUNDS_MAX	101u
#define SAMPLES_MAX	4000000u	/* per target, all rounds */
#define RANDOM_BYTES	32u
#define TPM2_CC_GET_RANDOM	0x0000017bu
#define SOCK_TIMEOUT_S	10

enum transport { T_TPMIF, T_UNIX };

struct target {
	char name[NAME_MAX_LEN + 1];
	enum transport kind;
	const char *path;
	struct tpmfront *tf;
	int fd;
	uint32_t *ns;		/* one sample per timed operation */
	size_t n;
	double round_p50[ROUNDS_MAX];
	double ops_s;		/* timed operations per second of time spent in them */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One exchange on a Unix data socket: the response size is checked before the read. */
static int unix_xfer(int fd, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t *rlen)
{
	struct tpm_hdr h;

	if (write_all(fd, cmd, clen) < 0 || read_all(fd, rsp, TPM_HDR_SIZE) < 0)
		return -1;
	if (tpm_hdr_parse(rsp, TPM_HDR_SIZE, TPM_PACKET_MAX, &h) != 1 ||
	    read_all(fd, rsp + TPM_HDR_SIZE, h.size - TPM_HDR_SIZE) < 0)
		return -1;
	*rlen = h.size;
	return 0;
}

static int xfer(struct target *t, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t *rlen)
{
	if (t->kind == T_TPMIF)
		return tpmfront_transmit(t->tf, cmd, clen, rsp, TPM_PACKET_MAX, rlen);
	return unix_xfer(t->fd, cmd, clen, rsp, rlen);
}

/* GetRandom answer: success and exactly RANDOM_BYTES bytes. */
static int check_random(const uint8_t *rsp, size_t len)
{
	struct buf b;
	uint16_t n;

	buf_init_read(&b, rsp, len);
	(void)buf_get_u16(&b);
	(void)buf_get_u32(&b);
	if (buf_get_u32(&b) != TPM20_RC_SUCCESS)
		return -1;
	(void)buf_get_tpm2b(&b, &n, RANDOM_BYTES);
	return buf_done(&b) && n == RANDOM_BYTES ? 0 : -1;
}

static size_t build_get_random(uint8_t *out)
{
	struct buf b;

	buf_init_write(&b, out, TPM_HDR_SIZE + 2);
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, TPM_HDR_SIZE + 2);
	buf_put_u32(&b, TPM2_CC_GET_RANDOM);
	buf_put_u16(&b, RANDOM_BYTES);
	return buf_ok(&b) ? b.off : 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SOCK_TIMEOUT_S };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Parses NAME=tpmif:PATH or NAME=unix:PATH. */
static int parse_target(char *arg, struct target *t)
{
	char *eq = strchr(arg, '='), *spec;

	if (!eq || eq == arg || (size_t)(eq - arg) > NAME_MAX_LEN)
		return -1;
	memcpy(t->name, arg, (size_t)(eq - arg));
	t->name[eq - arg] = '\0';
	spec = eq + 1;
	if (!strncmp(spec, "tpmif:", 6)) {
		t->kind = T_TPMIF;
		t->path = spec + 6;
	} else if (!strncmp(spec, "unix:", 5)) {
		t->kind = T_UNIX;
		t->path = spec + 5;
	} else {
		return -1;
	}
	t->fd = -1;
	return *t->path ? 0 : -1;
}

static int open_target(struct target *t)
{
	if (t->kind == T_TPMIF) {
		t->tf = tpmfront_open(t->path);
		return t->tf ? 0 : -1;
	}
	t->fd = connect_unix(t->path);
	return t->fd >= 0 ? 0 : -1;
}

static void close_target(struct target *t)
{
	if (t->tf)
		tpmfront_close(t->tf);
	if (t->fd >= 0)
		close(t->fd);
	free(t->ns);
}

/* ops operations; with timing, each one's latency goes to t->ns. */
static int run_ops(struct target *t, unsigned ops, int timed)
{
	uint8_t cmd[TPM_HDR_SIZE + 2], rsp[TPM_PACKET_MAX];
	size_t clen = build_get_random(cmd), rlen;

	for (unsigned i = 0; i < ops; i++) {
		uint64_t t0 = now_ns(), dt;

		if (xfer(t, cmd, clen, rsp, &rlen) < 0) {
			fprintf(stderr, "bench_tpmif: %s: transport error: %s\n", t->name, strerror(errno));
			return -1;
		}
		dt = now_ns() - t0;
		if (check_random(rsp, rlen) < 0) {
			fprintf(stderr, "bench_tpmif: %s: bad GetRandom answer\n", t->name);
			return -1;
		}
		if (timed)
			t->ns[t->n++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double pct_us(const uint32_t *s, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return s[k - 1] / 1000.0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_tpmif [-n OPS] [-r ROUNDS] [-w WARMUP] "
		"NAME=tpmif:PATH | NAME=unix:PATH ...\n");
	return 2;
}

static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno || end == s || *end || v < min || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
	struct target tg[MAX_TARGETS] = { 0 };
	long ops = 2000, rounds = 10, warm = 2000;
	int nt = 0, opt, ret = 1;

	while ((opt = getopt(argc, argv, "n:r:w:")) != -1) {
		switch (opt) {
		case 'n': ops = parse_num(optarg, 1, OPS_MAX); break;
		case 'r': rounds = parse_num(optarg, 1, ROUNDS_MAX); break;
		case 'w': warm = parse_num(optarg, 0, OPS_MAX); break;
		default: return usage();
		}
		if (ops < 0 || rounds < 0 || warm < 0)
			return usage();
	}
	if (optind == argc || argc - optind > MAX_TARGETS ||
	    (unsigned long)ops * (unsigned long)rounds > SAMPLES_MAX)
		return usage();
	for (int i = optind; i < argc; i++, nt++) {
		if (parse_target(argv[i], &tg[nt]) < 0)
			return usage();
		tg[nt].ns = calloc((size_t)ops * (size_t)rounds, sizeof(uint32_t));
		if (!tg[nt].ns || open_target(&tg[nt]) < 0) {
			fprintf(stderr, "bench_tpmif: %s: cannot connect to %s: %s\n", tg[nt].name,
				tg[nt].path, strerror(errno));
			nt++;
			goto out;
		}
	}
	for (int k = 0; k < nt; k++)
		if (run_ops(&tg[k], (unsigned)warm, 0) < 0)
			goto out;
	for (long r = 0; r < rounds; r++) {
		for (int j = 0; j < nt; j++) {
			struct target *t = &tg[(j + r) % nt];
			size_t first = t->n;

			if (run_ops(t, (unsigned)ops, 1) < 0)
				goto out;
			qsort(t->ns + first, (size_t)ops, sizeof(uint32_t), cmp_u32);
			t->round_p50[r] = pct_us(t->ns + first, (size_t)ops, 50);
		}
	}

	printf("TPM2_GetRandom(32) round trip: %ld rounds x %ld ops per target, after %ld untimed\n",
	       rounds, ops, warm);
	printf("%-8s %-6s %10s %9s %9s %9s %9s %13s %9s\n", "target", "via", "ops/s", "p50 us",
	       "p90 us", "p99 us", "p99.9 us", "rounds' p50", "max us");
	for (int k = 0; k < nt; k++) {
		struct target *t = &tg[k];
		double sum = 0;

		for (size_t i = 0; i < t->n; i++)
			sum += t->ns[i];
		qsort(t->ns, t->n, sizeof(uint32_t), cmp_u32);
		qsort(t->round_p50, (size_t)rounds, sizeof(double), cmp_double);
		t->ops_s = (double)t->n / (sum / 1e9);
		printf("%-8s %-6s %10.0f %9.2f %9.2f %9.2f %9.2f %13.2f %9.1f\n", t->name,
		       t->kind == T_TPMIF ? "tpmif" : "unix", t->ops_s, pct_us(t->ns, t->n, 50),
		       pct_us(t->ns, t->n, 90), pct_us(t->ns, t->n, 99), pct_us(t->ns, t->n, 99.9),
		       t->round_p50[rounds / 2], t->ns[t->n - 1] / 1000.0);
	}
	for (int k = 0; k < nt; k++)
		printf("result\tgetrandom\t%s\t%.0f\t%.2f\t%.2f\n", tg[k].name, tg[k].ops_s,
		       pct_us(tg[k].ns, tg[k].n, 50), pct_us(tg[k].ns, tg[k].n, 99));
	ret = 0;
out:
	for (int k = 0; k < nt; k++)
		close_target(&tg[k]);
	return ret;
}
