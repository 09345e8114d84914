/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * secmem: memory for key material (the manager's root secret and store
 * keys, a vtpm's state-file key) that must reach neither swap nor a core
 * dump: its own pages, excluded from core dumps (MADV_DONTDUMP, VmFlag
 * "dd" in /proc/PID/smaps) and locked in RAM where RLIMIT_MEMLOCK allows
 * ("lo"; a process over its limit keeps the memory unlocked rather than
 * fail). Wiped before it is unmapped. Used by vtpmmgr and vtpm; trusts its
 * callers' sizes.
 */
#ifndef VTPM_SECMEM_H
#define VTPM_SECMEM_H

#include <stddef.h>

/* n zeroed bytes (16-byte aligned), or NULL with errno. */
void *secmem_alloc(size_t n);
/*
 * A block of at least n bytes holding p's bytes: p itself if it is large
 * enough, else a new one (p wiped and freed; NULL with errno, p intact,
 * if none can be had). New bytes are zero.
 */
void *secmem_realloc(void *p, size_t n);
/* Wipes and frees p (NULL is fine). */
void secmem_free(void *p);

#endif
