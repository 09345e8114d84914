/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log: one line per event, prefixed with the process role and vTPM id, to
 * stderr or a log file. Never pass key material or TPM packet bodies.
 */
#ifndef VTPM_LOG_H
#define VTPM_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* role: "vtpm", "vtpmmgr"...; id may be NULL. fd -1 keeps stderr. */
void log_init(const char *role, const char *id, int fd, enum log_level max);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
