/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * secmem: page-backed secret buffers (see secmem.h). Each block is its own
 * anonymous mapping: a 16-byte header holding the mapping's length, then
 * the caller's bytes. Run by vtpmmgr and vtpm alike; mlock, madvise and
 * munmap are in the vtpm's seccomp allow-list.
 */
#include "secmem.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SECMEM_HDR	16

static size_t mapped_len(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + SECMEM_HDR + page - 1) / page * page;
}

void *secmem_alloc(size_t n)
{
	size_t len;
	uint8_t *p;

	if (n > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	len = mapped_len(n);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_DONTDUMP) < 0) {
		int e = errno;
		munmap(p, len);
		errno = e;
		return NULL;
	}
	/*
	 * Best effort: over RLIMIT_MEMLOCK it stays swappable. By system call:
	 * the sanitizer runtimes turn mlock() into a no-op.
	 */
	(void)syscall(SYS_mlock, p, len);
	memcpy(p, &len, sizeof(len));
	return p + SECMEM_HDR;
}

static size_t block_len(const void *p)
{
	size_t len;

	memcpy(&len, (const uint8_t *)p - SECMEM_HDR, sizeof(len));
	return len;
}

/* Grows by doubling, so a table grown one row at a time is copied O(log n) times. */
void *secmem_realloc(void *p, size_t n)
{
	size_t cap;
	uint8_t *q;

	if (!p)
		return secmem_alloc(n);
	cap = block_len(p) - SECMEM_HDR;
	if (n <= cap)
		return p;
	q = secmem_alloc(n > cap * 2 ? n : cap * 2);
	if (!q)
		return NULL;
	memcpy(q, p, cap);
	secmem_free(p);
	return q;
}

void secmem_free(void *p)
{
	uint8_t *base;
	size_t len;

	if (!p)
		return;
	base = (uint8_t *)p - SECMEM_HDR;
	len = block_len(p);
	explicit_bzero(base, len);
	(void)syscall(SYS_munlock, base, len);
	munmap(base, len);
}
