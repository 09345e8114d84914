/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log: formats into a local buffer and writes each line with one write(2),
 * so lines from several processes sharing a file do not interleave. Every
 * process logs through it (vtpm, vtpmmgr, tools); the text of a line may
 * hold a peer's words, which the callers bound. Repeats are held back in a
 * small table of recent lines, keyed by a hash of the text: a loop that
 * logs one failure costs a counter, not a line per turn.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX		1024
#define LOG_REPEAT_SLOTS	16	/* distinct repeating lines tracked at once */
#define LOG_REPEAT_TEXT		120	/* of a suppressed line, quoted in its count */

struct repeat {
	uint64_t hash;
	int64_t start;		/* ms the window opened; 0: slot free */
	uint32_t count;		/* lines in this window */
	uint64_t suppressed;
	enum log_level lvl;
	char text[LOG_REPEAT_TEXT];
};

static struct {
	char prefix[80];
	int fd;
	enum log_level max;
	struct repeat rep[LOG_REPEAT_SLOTS];
} log_cfg = { "vtpm", 2, LOG_INFO, { { 0 } } };

/* The table is shared by the threads of a test tool; daemons are single-threaded. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *role, const char *id, int fd, enum log_level max)
{
	if (id)
		snprintf(log_cfg.prefix, sizeof(log_cfg.prefix), "%s[%s]", role, id);
	else
		snprintf(log_cfg.prefix, sizeof(log_cfg.prefix), "%s", role);
	log_cfg.fd = fd >= 0 ? fd : 2;
	log_cfg.max = max;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes "STAMP PREFIX LEVEL: TEXT\n" at once. */
static void emit(enum log_level lvl, const char *text)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[LOG_LINE_MAX + 128];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line) - 1, "%s.%03ldZ %s %s: %s", stamp, ts.tv_nsec / 1000000,
		     log_cfg.prefix, names[lvl], text);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(log_cfg.fd, line, (size_t)n);
}

static void report_suppressed(struct repeat *r)
{
	char text[LOG_REPEAT_TEXT + 64];

	if (r->suppressed == 0)
		return;
	snprintf(text, sizeof(text), "%llu more suppressed: %s", (unsigned long long)r->suppressed,
		 r->text);
	emit(r->lvl, text);
	r->suppressed = 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

/*
 * True if text is a repeat to hold back. Closes the windows that have
 * passed (writing their counts first), then finds or makes text's slot.
 */
static bool repeat_hold(enum log_level lvl, const char *text)
{
	int64_t now = now_ms();
	uint64_t h = fnv1a(text) ^ (uint64_t)lvl;
	struct repeat *slot = NULL, *oldest = &log_cfg.rep[0];

	for (int i = 0; i < LOG_REPEAT_SLOTS; i++) {
		struct repeat *r = &log_cfg.rep[i];

		if (r->start && now - r->start >= LOG_REPEAT_WINDOW_MS) {
			report_suppressed(r);
			r->start = 0;
		}
		if (r->start && r->hash == h && !strncmp(r->text, text, sizeof(r->text) - 1))
			slot = r;
		if (!r->start || (oldest->start && r->start < oldest->start))
			oldest = r;
	}
	if (slot) {
		if (++slot->count <= LOG_REPEAT_BURST)
			return false;
		slot->suppressed++;
		return true;
	}
	report_suppressed(oldest);
	*oldest = (struct repeat){ .hash = h, .start = now ? now : 1, .count = 1, .lvl = lvl };
	snprintf(oldest->text, sizeof(oldest->text), "%s", text);
	return false;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char text[LOG_LINE_MAX];
	va_list ap;

	if (lvl > log_cfg.max)
		return;
	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	/*
	 * failures are what a peer can make repeat in a loop; info lines count
	 * events; at debug level the operator asked for every line
	 */
	if (lvl > LOG_WARN || log_cfg.max >= LOG_DEBUG || !repeat_hold(lvl, text))
		emit(lvl, text);
	pthread_mutex_unlock(&log_lock);
}

bool log_budget_take(struct log_budget *b, uint32_t burst, uint32_t per_s, uint64_t *dropped)
{
	int64_t now = now_ms();

	if (b->at == 0) {
		b->at = now;
		b->tokens = burst;
	} else if (now > b->at && per_s > 0) {
		uint64_t add = (uint64_t)(now - b->at) * per_s / 1000;

		if (add > 0) {
			b->tokens = add >= burst - b->tokens ? burst : b->tokens + (uint32_t)add;
			b->at = now;
		}
	}
	if (b->tokens == 0) {
		b->dropped++;
		return false;
	}
	b->tokens--;
	*dropped = b->dropped;
	b->dropped = 0;
	return true;
}
