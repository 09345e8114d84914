/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctlmsg: the control protocol's codec; see ctlmsg.h. Runs in vtpmmgr (on
 * requests from the control socket's root peer, parsed as untrusted
 * anyway) and in vtpmctl (on the manager's replies, read defensively).
 */
#include "ctlmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* --- requests ------------------------------------------------------------ */

static bool printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int req_fail(const char **err, const char *msg, int e)
{
	*err = msg;
	errno = e;
	return -1;
}

int ctlmsg_req_parse(struct ctlmsg_req *r, const char *line, size_t len, const char **err)
{
	char *save = NULL, *tok;

	memset(r, 0, sizeof(*r));
	if (len >= sizeof(r->words))
		return req_fail(err, "request too long", E2BIG);
	for (size_t i = 0; i < len; i++)
		if (!printable((unsigned char)line[i]))
			return req_fail(err, "request must be printable ASCII", EINVAL);
	memcpy(r->words, line, len);
	memcpy(r->pairs, line, len);
	tok = strtok_r(r->words, " ", &save);
	if (!tok)
		return req_fail(err, "empty request", EINVAL);
	if (strlen(tok) > VTPMMGR_CTL_VERB_MAX)
		return req_fail(err, "unknown command", EINVAL);
	memcpy(r->verb, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, " ", &save))) {
		/* the same word in pairs[], where its '=' may become a NUL */
		char *pair = r->pairs + (tok - r->words), *eq = strchr(pair, '=');

		if (r->argc == VTPMMGR_CTL_ARGS_MAX)
			return req_fail(err, "too many arguments", E2BIG);
		pair[strlen(tok)] = '\0';
		r->word[r->argc] = tok;
		r->key[r->argc] = eq ? pair : NULL;
		r->val[r->argc] = eq ? eq + 1 : tok;
		if (eq)
			*eq = '\0';
		r->argc++;
	}
	return 0;
}

static bool word_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s == ' ' || !printable((unsigned char)*s))
			return false;
	return true;
}

int ctlmsg_req_encode(char *out, size_t n, const char *verb, const char *const *args, size_t argc)
{
	size_t off;

	if (!word_ok(verb) || strlen(verb) > VTPMMGR_CTL_VERB_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (argc > VTPMMGR_CTL_ARGS_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (n > VTPMMGR_CTL_LINE_MAX)
		n = VTPMMGR_CTL_LINE_MAX;
	off = (size_t)snprintf(out, n, "%s", verb);
	for (size_t i = 0; i < argc && off < n; i++) {
		if (!word_ok(args[i])) {
			errno = EINVAL;
			return -1;
		}
		off += (size_t)snprintf(out + off, n - off, " %s", args[i]);
	}
	/* room for the newline and the NUL */
	if (off + 2 > n) {
		errno = E2BIG;
		return -1;
	}
	out[off++] = '\n';
	out[off] = '\0';
	return (int)off;
}

/* --- replies: writer ----------------------------------------------------- */

void ctlmsg_jw_init(struct ctlmsg_jw *w, size_t max)
{
	dbuf_init(&w->d, max);
	w->err = false;
}

void ctlmsg_jw_free(struct ctlmsg_jw *w)
{
	dbuf_free(&w->d);
}

static void put(struct ctlmsg_jw *w, const void *p, size_t n)
{
	if (!w->err && dbuf_append(&w->d, p, n) < 0)
		w->err = true;
}

static void put_quoted(struct ctlmsg_jw *w, const char *s)
{
	put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			/* bytes above ASCII too: the reply stays valid UTF-8 whatever was stored */
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		} else {
			put(w, &c, 1);
		}
	}
	put(w, "\"", 1);
}

/* The separator a new member or element needs, and its key. */
static void member(struct ctlmsg_jw *w, const char *key)
{
	if (w->d.len && w->d.p[w->d.len - 1] != '{' && w->d.p[w->d.len - 1] != '[')
		put(w, ",", 1);
	if (key) {
		put_quoted(w, key);
		put(w, ":", 1);
	}
}

void ctlmsg_jw_open(struct ctlmsg_jw *w, const char *key, char bracket)
{
	member(w, key);
	put(w, &bracket, 1);
}

void ctlmsg_jw_close(struct ctlmsg_jw *w, char bracket)
{
	char c = bracket == '[' ? ']' : '}';

	put(w, &c, 1);
}

void ctlmsg_jw_str(struct ctlmsg_jw *w, const char *key, const char *s)
{
	member(w, key);
	put_quoted(w, s);
}

static void put_literal(struct ctlmsg_jw *w, const char *key, const char *text)
{
	member(w, key);
	put(w, text, strlen(text));
}

void ctlmsg_jw_u64(struct ctlmsg_jw *w, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	put_literal(w, key, num);
}

void ctlmsg_jw_i64(struct ctlmsg_jw *w, const char *key, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	put_literal(w, key, num);
}

void ctlmsg_jw_bool(struct ctlmsg_jw *w, const char *key, bool v)
{
	put_literal(w, key, v ? "true" : "false");
}

const char *ctlmsg_jw_finish(struct ctlmsg_jw *w, size_t *len)
{
	put(w, "\n", 2);	/* and the NUL, not counted */
	if (w->err) {
		errno = ENOBUFS;
		return NULL;
	}
	*len = w->d.len - 1;
	return (const char *)w->d.p;
}

/* --- replies: reader ----------------------------------------------------- */

static int peek(const struct buf *b)
{
	return buf_left(b) ? b->data[b->off] : -1;
}

static void skip_ws(struct buf *b)
{
	while (peek(b) == ' ' || peek(b) == '\t' || peek(b) == '\n' || peek(b) == '\r')
		b->off++;
}

static int hex4(struct buf *b)
{
	const uint8_t *p = buf_get_ptr(b, 4);
	unsigned v = 0;

	if (!p)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				  c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (unsigned)d;
	}
	return (int)v;
}

/* Appends code point u as UTF-8 (never more than the 6 bytes "\uXXXX" took). */
static size_t utf8_put(char *out, unsigned u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | u >> 12);
	out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
	out[2] = (char)(0x80 | (u & 0x3f));
	return 3;
}

/* One escape after its backslash; returns the bytes written to out. */
static int unescape(struct buf *b, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	int c = buf_get_u8(b), u;
	const char *e;

	if (c == 'u') {
		u = hex4(b);
		return u < 0 ? -1 : (int)utf8_put(out, (unsigned)u);
	}
	e = c ? strchr(from, c) : NULL;
	if (!e)
		return -1;
	*out = to[e - from];
	return 1;
}

/*
 * A string at b (at its opening quote). With out (room for as many bytes
 * as the string's text, plus a NUL), writes it unescaped; or only skips it.
 */
static int string(struct buf *b, char *out, size_t max)
{
	size_t n = 0;
	char tmp[4];

	if (buf_get_u8(b) != '"')
		return -1;
	for (;;) {
		int c = peek(b), k;

		if (c < 0x20)
			return -1;	/* the end, or a raw control character */
		b->off++;
		if (c == '"')
			break;
		if (c != '\\') {
			tmp[0] = (char)c;
			k = 1;
		} else if ((k = unescape(b, tmp)) < 0) {
			return -1;
		}
		if (out && n + (size_t)k >= max)
			return -1;
		if (out)
			memcpy(out + n, tmp, (size_t)k);
		n += (size_t)k;
	}
	if (out)
		out[n] = '\0';
	return 0;
}

static int value(struct buf *b, int depth);

/* An object's or array's members after its opening bracket, to its close. */
static int members(struct buf *b, int depth, bool object, ctlmsg_json_cb cb, void *arg);

static int literal(struct buf *b)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t start = b->off;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (buf_left(b) >= strlen(words[i]) && !memcmp(b->data + b->off, words[i], strlen(words[i]))) {
			b->off += strlen(words[i]);
			return 0;
		}
	while (peek(b) >= 0 && strchr("-+.0123456789eE", peek(b)))
		b->off++;
	return b->off > start ? 0 : -1;
}

static int value(struct buf *b, int depth)
{
	int c = peek(b);

	if (depth > CTLMSG_DEPTH_MAX)
		return -1;
	if (c == '"')
		return string(b, NULL, 0);
	if (c == '{' || c == '[') {
		b->off++;
		return members(b, depth + 1, c == '{', NULL, NULL);
	}
	return literal(b);
}

static int report(struct buf *b, size_t start, const char *key, ctlmsg_json_cb cb, void *arg)
{
	struct ctlmsg_val v = { .raw = (const char *)b->data + start, .raw_len = b->off - start };
	char *str = NULL;
	int c = b->data[start], rc;

	v.kind = c == '"' ? CTLMSG_STRING : c == '{' ? CTLMSG_OBJECT : c == '[' ? CTLMSG_ARRAY :
							     CTLMSG_LITERAL;
	if (v.kind == CTLMSG_STRING) {
		struct buf s;

		str = malloc(v.raw_len + 1);
		if (!str) {
			errno = ENOMEM;
			return -1;
		}
		buf_init_read(&s, b->data + start, v.raw_len);
		(void)string(&s, str, v.raw_len + 1);	/* it parsed once already */
		v.str = str;
	}
	rc = cb(key, &v, arg);
	free(str);
	return rc;
}

static int members(struct buf *b, int depth, bool object, ctlmsg_json_cb cb, void *arg)
{
	char key[CTLMSG_KEY_MAX + 1];
	int close = object ? '}' : ']', rc, c;

	skip_ws(b);
	if (peek(b) == close) {
		b->off++;
		return 0;
	}
	for (;;) {
		size_t start;

		skip_ws(b);
		if (object) {
			if (string(b, key, sizeof(key)) < 0)
				return -1;
			skip_ws(b);
			if (buf_get_u8(b) != ':')
				return -1;
			skip_ws(b);
		}
		start = b->off;
		if (value(b, depth) < 0)
			return -1;
		if (cb && (rc = report(b, start, object ? key : NULL, cb, arg)) != 0)
			return rc;
		skip_ws(b);
		c = buf_get_u8(b);
		if (c != ',')
			return c == close && buf_ok(b) ? 0 : -1;
	}
}

int ctlmsg_json_walk(const char *text, size_t len, ctlmsg_json_cb cb, void *arg)
{
	struct buf b;
	int c, rc;

	buf_init_read(&b, (const uint8_t *)text, len);
	skip_ws(&b);
	c = buf_get_u8(&b);
	if (c != '{' && c != '[') {
		errno = EINVAL;
		return -1;
	}
	rc = members(&b, 1, c == '{', cb, arg);
	if (rc == 0) {
		skip_ws(&b);
		rc = buf_done(&b) ? 0 : -1;
	}
	if (rc < 0 && errno != ENOMEM)
		errno = EINVAL;
	return rc;
}
