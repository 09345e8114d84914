/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_xsmsg: libFuzzer target for the tpmif handshake codec (lib/xsmsg),
 * whose input is the peer's side of the rendezvous socket. Byte 0 picks
 * the mode. Stream mode: the rest is a socket's byte stream, walked frame
 * by frame as tpmback does; every frame must lie inside the input, a
 * payload that parses must re-encode to exactly its frame (the format is
 * canonical) and lose its parse when cut short or given a trailing byte,
 * and a failed parse leaves an empty message. Builder mode: the rest is
 * NUL-separated key/value pairs fed to xsmsg_set, which must take exactly
 * what the parser would (a key of [a-z0-9-]{1,31}, a printable value of at
 * most 63 bytes, no duplicate, at most 8 keys) and refuse the rest with
 * EINVAL, leaving the message as it was; whatever it built must encode and
 * parse back to the same message.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xsmsg.h"

#define ENC_MAX		(2 + XSMSG_MAX)

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_xsmsg: invariant broken: %s\n", what);
		abort();
	}
}

static bool key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > XSMSG_KEY_MAX)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-'))
			return false;
	return true;
}

static bool val_ok(const char *v)
{
	if (strlen(v) > XSMSG_VAL_MAX)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f)
			return false;
	return true;
}

static bool same(const struct xsmsg *a, const struct xsmsg *b)
{
	if (a->nkeys != b->nkeys)
		return false;
	for (int i = 0; i < a->nkeys; i++)
		if (strcmp(a->kv[i].key, b->kv[i].key) || strcmp(a->kv[i].val, b->kv[i].val))
			return false;
	return true;
}

/* Checks a parsed message's shape and its lookups. */
static void check_message(const struct xsmsg *m)
{
	check(m->nkeys >= 0 && m->nkeys <= XSMSG_MAX_KEYS, "key count");
	for (int i = 0; i < m->nkeys; i++) {
		check(key_ok(m->kv[i].key) && val_ok(m->kv[i].val), "alphabet and lengths");
		check(xsmsg_get(m, m->kv[i].key) == m->kv[i].val, "unique keys, found by get");
		long u = xsmsg_get_uint(m, m->kv[i].key, 999999999ul);
		check(u >= -1 && u <= 999999999l, "get_uint range");
		if (u >= 0) {
			/* leading zeros are allowed, so compare values, not text */
			check(strlen(m->kv[i].val) <= 9, "get_uint digits");
			check(strtol(m->kv[i].val, NULL, 10) == u, "get_uint value");
		}
	}
}

static void stream_mode(const uint8_t *p, size_t n)
{
	static uint8_t enc[ENC_MAX], tmp[XSMSG_MAX + 1];
	size_t off = 0, total = 0;
	struct xsmsg m, again;
	int r;

	while ((r = xsmsg_frame(p + off, n - off, &total)) == 1) {
		size_t len = total - 2;
		long e;

		check(total >= 2 && total <= n - off && len <= XSMSG_MAX, "frame inside input");
		check(be16_load(p + off) == len, "frame length is the prefix");
		if (xsmsg_parse(p + off + 2, len, &m) == 0) {
			check_message(&m);
			e = xsmsg_encode(&m, enc, sizeof(enc));
			check(e == (long)total && memcmp(enc, p + off, total) == 0,
			      "encode(parse(frame)) == frame");
			check(xsmsg_parse(enc + 2, (size_t)e - 2, &again) == 0 && same(&m, &again),
			      "parse(encode(m)) == m");
			if (len > 0)
				check(xsmsg_parse(p + off + 2, len - 1, &again) < 0 && again.nkeys == 0,
				      "cut short: refused");
			if (len < XSMSG_MAX) {
				memcpy(tmp, p + off + 2, len);
				tmp[len] = 'a';
				check(xsmsg_parse(tmp, len + 1, &again) < 0, "trailing byte: refused");
			}
		} else {
			check(errno == EBADMSG && m.nkeys == 0, "failed parse leaves nothing");
		}
		off += total;
	}
	if (r < 0) {
		check(n - off >= 2 && be16_load(p + off) > XSMSG_MAX, "oversize only when it is");
	} else {
		check(n - off < 2 || (size_t)be16_load(p + off) + 2 > n - off, "need-more is true");
	}
}

static void builder_mode(const uint8_t *p, size_t n)
{
	static uint8_t enc[ENC_MAX];
	char str[2][XSMSG_MAX + 1];
	struct xsmsg m, back, before;
	size_t i = 0;
	long e;

	xsmsg_init(&m);
	while (i < n) {
		bool want;
		int r;

		for (int k = 0; k < 2; k++) {
			size_t l = 0;

			while (i < n && p[i] != 0 && l < XSMSG_MAX)
				str[k][l++] = (char)p[i++];
			str[k][l] = '\0';
			i++;	/* the NUL, or past the end */
		}
		want = key_ok(str[0]) && val_ok(str[1]) && m.nkeys < XSMSG_MAX_KEYS &&
		       !xsmsg_get(&m, str[0]);
		before = m;
		errno = 0;
		r = xsmsg_set(&m, str[0], str[1]);
		check((r == 0) == want, "xsmsg_set takes exactly what the parser takes");
		if (r < 0)
			check(errno == EINVAL && same(&m, &before), "a refused set changes nothing");
		else
			check(!strcmp(xsmsg_get(&m, str[0]), str[1]), "a set key is found");
	}
	e = xsmsg_encode(&m, enc, sizeof(enc));
	if (e < 0) {
		/* only a message too large for one frame is refused */
		check(errno == EMSGSIZE, "encode fails only with EMSGSIZE");
		return;
	}
	check(e >= 2 && be16_load(enc) == (size_t)e - 2, "encoded length prefix");
	check(xsmsg_parse(enc + 2, (size_t)e - 2, &back) == 0 && same(&m, &back),
	      "parse(encode(m)) == m for every m xsmsg_set built");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		builder_mode(data + 1, size - 1);
	else
		stream_mode(data + 1, size - 1);
	return 0;
}
