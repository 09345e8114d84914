/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log: one line per event, prefixed with the process role and vTPM id, to
 * stderr or a log file. Never pass key material or TPM packet bodies.
 *
 * A warning or error repeated word for word is written LOG_REPEAT_BURST times per
 * LOG_REPEAT_WINDOW_MS; the repeats past that are counted, and the count is
 * written ("N more suppressed: TEXT") with the first line after the window.
 * At LOG_DEBUG nothing is held back.
 * So a peer that makes one error happen in a loop fills no disk.
 */
#ifndef VTPM_LOG_H
#define VTPM_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

#define LOG_REPEAT_BURST	5
#define LOG_REPEAT_WINDOW_MS	10000

/* role: "vtpm", "vtpmmgr"...; id may be NULL. fd -1 keeps stderr. */
void log_init(const char *role, const char *id, int fd, enum log_level max);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * A line budget for a source of many different lines (a vtpm's output, say):
 * up to `burst` lines at once, refilled at `per_s` lines a second.
 */
struct log_budget {
	int64_t at;		/* ms of the last refill; 0 before the first line */
	uint32_t tokens;
	uint64_t dropped;	/* lines refused since the last one let through */
};

/*
 * True if one more line may be written now. *dropped is how many were
 * refused before this one (report them with it), and is then reset.
 */
bool log_budget_take(struct log_budget *b, uint32_t burst, uint32_t per_s, uint64_t *dropped);

#endif
