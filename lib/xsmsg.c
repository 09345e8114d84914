/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xsmsg: handshake message codec. Input is the peer's: the parser checks
 * every length against its cap and every byte against a small alphabet, and
 * a receive that does not complete in time fails instead of waiting forever.
 */
#include "xsmsg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "sock.h"

void xsmsg_init(struct xsmsg *m)
{
	memset(m, 0, sizeof(*m));
}

static int key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int val_char(int c)
{
	return c > 0x20 && c < 0x7f;
}

const char *xsmsg_get(const struct xsmsg *m, const char *key)
{
	for (int i = 0; i < m->nkeys; i++)
		if (!strcmp(m->kv[i].key, key))
			return m->kv[i].val;
	return NULL;
}

int xsmsg_set(struct xsmsg *m, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);

	/* what the parser would refuse is refused here too: encode and parse agree */
	for (size_t i = 0; i < kl; i++)
		if (!key_char((unsigned char)key[i]))
			goto bad;
	for (size_t i = 0; i < vl; i++)
		if (!val_char((unsigned char)val[i]))
			goto bad;
	if (m->nkeys >= XSMSG_MAX_KEYS || kl == 0 || kl > XSMSG_KEY_MAX || vl > XSMSG_VAL_MAX ||
	    xsmsg_get(m, key))
		goto bad;
	memcpy(m->kv[m->nkeys].key, key, kl + 1);
	memcpy(m->kv[m->nkeys].val, val, vl + 1);
	m->nkeys++;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int xsmsg_set_uint(struct xsmsg *m, const char *key, unsigned v)
{
	char tmp[16];

	snprintf(tmp, sizeof(tmp), "%u", v);
	return xsmsg_set(m, key, tmp);
}

long xsmsg_get_uint(const struct xsmsg *m, const char *key, unsigned long max)
{
	const char *v = xsmsg_get(m, key);
	unsigned long n = 0;

	if (!v || !*v || strlen(v) > 9)
		return -1;
	for (const char *c = v; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		n = n * 10 + (unsigned long)(*c - '0');
	}
	return n <= max ? (long)n : -1;
}

int xsmsg_parse(const uint8_t *p, size_t n, struct xsmsg *m)
{
	size_t i = 0;

	xsmsg_init(m);
	if (n > XSMSG_MAX)
		goto bad;
	while (i < n) {
		char key[XSMSG_KEY_MAX + 1], val[XSMSG_VAL_MAX + 1];
		size_t kl = 0, vl = 0;

		while (i < n && p[i] != '=') {
			if (!key_char(p[i]) || kl == XSMSG_KEY_MAX)
				goto bad;
			key[kl++] = (char)p[i++];
		}
		if (i == n || kl == 0)
			goto bad;
		i++;	/* '=' */
		while (i < n && p[i] != '\n') {
			if (!val_char(p[i]) || vl == XSMSG_VAL_MAX)
				goto bad;
			val[vl++] = (char)p[i++];
		}
		if (i == n)
			goto bad;	/* every line ends in '\n' */
		i++;
		key[kl] = val[vl] = '\0';
		if (xsmsg_set(m, key, val) < 0)
			goto bad;	/* too many keys or a duplicate */
	}
	return 0;
bad:
	xsmsg_init(m);
	errno = EBADMSG;
	return -1;
}

long xsmsg_encode(const struct xsmsg *m, uint8_t *out, size_t cap)
{
	struct buf b;
	size_t start;

	buf_init_write(&b, out, cap);
	buf_put_u16(&b, 0);
	start = b.off;
	for (int i = 0; i < m->nkeys; i++) {
		buf_put_bytes(&b, m->kv[i].key, strlen(m->kv[i].key));
		buf_put_u8(&b, '=');
		buf_put_bytes(&b, m->kv[i].val, strlen(m->kv[i].val));
		buf_put_u8(&b, '\n');
	}
	if (!buf_ok(&b) || b.off - start > XSMSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	be16_store(out, (uint16_t)(b.off - start));
	return (long)b.off;
}

int xsmsg_frame(const uint8_t *p, size_t n, size_t *total)
{
	uint16_t len;

	if (n < 2)
		return 0;
	len = be16_load(p);	/* n >= 2 above */
	if (len > XSMSG_MAX)
		return -1;
	*total = 2u + len;
	return n >= *total ? 1 : 0;
}

int xsmsg_send(int fd, const struct xsmsg *m, const int *fds, int nfds)
{
	uint8_t out[2 + XSMSG_MAX];
	long n = xsmsg_encode(m, out, sizeof(out));

	if (n < 0)
		return -1;
	return sock_send_fds(fd, out, (size_t)n, fds, nfds);
}

int xsmsg_recv(int fd, struct xsmsg *m, int *fds, int *nfds, int timeout_ms)
{
	uint8_t in[2 + XSMSG_MAX];
	size_t have = 0, total = 0;
	struct timespec t0, t;
	int r;

	*nfds = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long el;
		ssize_t got;
		/* read the length first, then exactly the rest: never past this message */
		size_t want = have < 2 ? 2 - have : total - have;

		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms) {
			errno = ETIMEDOUT;
			goto fail;
		}
		r = poll(&pfd, 1, timeout_ms - (int)el);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		got = sock_recv_fds(fd, in + have, want, fds, nfds, XSMSG_MAX_FDS);
		if (got == 0) {
			errno = ECONNRESET;
			goto fail;
		}
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		have += (size_t)got;
		if (have == 2) {
			r = xsmsg_frame(in, have, &total);
			if (r < 0) {
				errno = EMSGSIZE;
				goto fail;
			}
		}
		if (have >= 2 && have == total)
			break;
	}
	if (xsmsg_parse(in + 2, total - 2, m) == 0)
		return 0;
fail:
	for (int i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	return -1;
}
