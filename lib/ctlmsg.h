/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctlmsg: the control protocol's codec (include/vtpmmgr_ctl.h), used by
 * vtpmmgr (requests in, replies out) and vtpmctl (requests out, replies
 * in). Requests: a verb and words, bounded and printable. Replies: a small
 * JSON writer that escapes every string, and a reader that walks one
 * object or array, unescaping strings. Everything read is untrusted.
 */
#ifndef VTPM_CTLMSG_H
#define VTPM_CTLMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"
#include "vtpmmgr_ctl.h"

/* --- requests ------------------------------------------------------------ */

struct ctlmsg_req {
	char verb[VTPMMGR_CTL_VERB_MAX + 1];
	size_t argc;
	const char *word[VTPMMGR_CTL_ARGS_MAX];	/* each argument as sent */
	const char *key[VTPMMGR_CTL_ARGS_MAX];	/* before its first '=', or NULL: a bare word */
	const char *val[VTPMMGR_CTL_ARGS_MAX];	/* after the '=', or the bare word */
	char words[VTPMMGR_CTL_LINE_MAX];
	char pairs[VTPMMGR_CTL_LINE_MAX];
};

/*
 * Parses one request line of len bytes (its newline already removed).
 * Returns 0, or -1 with errno EINVAL (or E2BIG) and *err a message for the
 * peer: empty, too long, not printable ASCII, verb too long, too many
 * arguments.
 */
int ctlmsg_req_parse(struct ctlmsg_req *r, const char *line, size_t len, const char **err);
/*
 * Writes "verb arg ...\n" and a NUL into out (n bytes). Returns the line's
 * length, or -1 with errno EINVAL (an empty verb or word, a space or a
 * non-printable byte in one) or E2BIG (too long, too many words).
 */
int ctlmsg_req_encode(char *out, size_t n, const char *verb, const char *const *args, size_t argc);

/* --- replies: writer ----------------------------------------------------- */

struct ctlmsg_jw {
	struct dbuf d;
	bool err;	/* sticky: out of room; ctlmsg_jw_finish fails */
};

void ctlmsg_jw_init(struct ctlmsg_jw *w, size_t max);
void ctlmsg_jw_free(struct ctlmsg_jw *w);
/* Opens an object ('{') or array ('['), as member key (NULL: a value). */
void ctlmsg_jw_open(struct ctlmsg_jw *w, const char *key, char bracket);
void ctlmsg_jw_close(struct ctlmsg_jw *w, char bracket);
void ctlmsg_jw_str(struct ctlmsg_jw *w, const char *key, const char *s);
void ctlmsg_jw_u64(struct ctlmsg_jw *w, const char *key, uint64_t v);
void ctlmsg_jw_i64(struct ctlmsg_jw *w, const char *key, int64_t v);
void ctlmsg_jw_bool(struct ctlmsg_jw *w, const char *key, bool v);
/* Appends the newline; returns the NUL-terminated text, or NULL (ENOBUFS). */
const char *ctlmsg_jw_finish(struct ctlmsg_jw *w, size_t *len);

/* --- replies: reader ----------------------------------------------------- */

#define CTLMSG_KEY_MAX		63
#define CTLMSG_DEPTH_MAX	8

enum ctlmsg_kind { CTLMSG_STRING, CTLMSG_LITERAL, CTLMSG_OBJECT, CTLMSG_ARRAY };

struct ctlmsg_val {
	enum ctlmsg_kind kind;
	const char *raw;	/* the value's text in the input */
	size_t raw_len;
	const char *str;	/* STRING: unescaped, NUL-terminated; else NULL */
};

/* key is NULL for an array's elements; a nonzero return stops the walk */
typedef int (*ctlmsg_json_cb)(const char *key, const struct ctlmsg_val *v, void *arg);

/*
 * Walks the JSON object or array that is all of text[0..len) (whitespace
 * around it allowed), calling cb for each member or element; nested values
 * come as raw text to walk again. Returns 0, cb's nonzero value, or -1 with
 * errno EINVAL (malformed, nested deeper than CTLMSG_DEPTH_MAX, a key
 * longer than CTLMSG_KEY_MAX) or ENOMEM.
 */
int ctlmsg_json_walk(const char *text, size_t len, ctlmsg_json_cb cb, void *arg);

#endif
