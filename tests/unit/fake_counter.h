/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fake_counter: the in-memory stand-in for the manager's hardware NV counter
 * that the store's unit tests and its fuzz target share: a uint64_t that is
 * only ever raised, named by the store_counter's arg. Test code only; it
 * trusts its callers (the store under test).
 */
#ifndef VTPM_TEST_FAKE_COUNTER_H
#define VTPM_TEST_FAKE_COUNTER_H

#include <stdint.h>

#include "store.h"

static inline int fake_counter_read(void *arg, uint64_t *value)
{
	*value = *(const uint64_t *)arg;
	return 0;
}

static inline int fake_counter_increment(void *arg, uint64_t *value)
{
	uint64_t *c = arg;

	(*c)++;
	if (value)
		*value = *c;
	return 0;
}

/* A store_counter over the uint64_t variable var (static storage). */
#define FAKE_COUNTER(var) { fake_counter_read, fake_counter_increment, &(var), NULL }

#endif
