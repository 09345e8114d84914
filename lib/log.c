/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log: formats into a local buffer and writes each line with one write(2),
 * so lines from several processes sharing a file do not interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
	char prefix[80];
	int fd;
	enum log_level max;
} log_cfg = { "vtpm", 2, LOG_INFO };

void log_init(const char *role, const char *id, int fd, enum log_level max)
{
	if (id)
		snprintf(log_cfg.prefix, sizeof(log_cfg.prefix), "%s[%s]", role, id);
	else
		snprintf(log_cfg.prefix, sizeof(log_cfg.prefix), "%s", role);
	log_cfg.fd = fd >= 0 ? fd : 2;
	log_cfg.max = max;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (lvl > log_cfg.max)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", stamp, ts.tv_nsec / 1000000,
		     log_cfg.prefix, names[lvl]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(log_cfg.fd, line, (size_t)n);
}
