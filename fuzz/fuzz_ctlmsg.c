/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_ctlmsg: libFuzzer target for the control protocol's codec
 * (lib/ctlmsg), whose input is a control socket peer's request line (in
 * the manager) or the manager's reply (in vtpmctl). Byte 0 picks the mode.
 * Request mode: the rest is a request line; one that parses must re-encode
 * to a line that parses to the same verb and words, and a refused one has
 * a message. Reply mode: the rest is a reply, walked with every nested
 * object and array walked again; every value must lie inside the input.
 * Writer mode: the rest (to its first NUL) is a string written as a JSON
 * member; the result must read back to the same string when it is ASCII.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlmsg.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ctlmsg: invariant broken: %s\n", what);
		abort();
	}
}

static void fuzz_request(const char *line, size_t n)
{
	static struct ctlmsg_req r, again;
	static char enc[VTPMMGR_CTL_LINE_MAX];
	const char *err = NULL;
	int len;

	if (ctlmsg_req_parse(&r, line, n, &err) < 0) {
		check(err && *err, "a refusal without a message");
		return;
	}
	len = ctlmsg_req_encode(enc, sizeof(enc), r.verb, r.word, r.argc);
	check(len > 0 && (size_t)len <= n + 1 && enc[len - 1] == '\n', "a parsed request does not encode");
	check(ctlmsg_req_parse(&again, enc, (size_t)len - 1, &err) == 0, "an encoded request does not parse");
	check(!strcmp(r.verb, again.verb) && r.argc == again.argc, "verb or word count changed");
	for (size_t i = 0; i < r.argc; i++) {
		check(!strcmp(r.word[i], again.word[i]) && !strcmp(r.val[i], again.val[i]), "a word changed");
		check((r.key[i] == NULL) == (again.key[i] == NULL), "a key appeared or vanished");
	}
}

struct span {
	const char *p;
	size_t n;
	int depth;
};

static int walk_cb(const char *key, const struct ctlmsg_val *v, void *arg)
{
	const struct span *s = arg;
	struct span inner = { v->raw, v->raw_len, s->depth + 1 };

	(void)key;
	check(v->raw >= s->p && v->raw + v->raw_len <= s->p + s->n && v->raw_len > 0, "value outside its input");
	check((v->kind == CTLMSG_STRING) == (v->str != NULL), "string without its text");
	if (v->kind == CTLMSG_OBJECT || v->kind == CTLMSG_ARRAY)
		check(ctlmsg_json_walk(v->raw, v->raw_len, walk_cb, &inner) == 0, "a nested value does not walk");
	return 0;
}

/* 1 when member "k" reads back as the string *arg */
static int same_cb(const char *key, const struct ctlmsg_val *v, void *arg)
{
	const char *const *want = arg;

	return key && !strcmp(key, "k") && v->str && !strcmp(v->str, *want) ? 1 : 0;
}

static void fuzz_writer(const char *s, size_t n)
{
	static char text[4096];
	struct ctlmsg_jw w;
	struct span top;
	const char *out;
	size_t len;
	bool ascii = true;

	n = strnlen(s, n < sizeof(text) - 1 ? n : sizeof(text) - 1);
	memcpy(text, s, n);
	text[n] = '\0';
	for (size_t i = 0; i < n; i++)
		ascii = ascii && (unsigned char)text[i] < 0x80;
	ctlmsg_jw_init(&w, 8 * sizeof(text));
	ctlmsg_jw_open(&w, NULL, '{');
	ctlmsg_jw_str(&w, "k", text);
	ctlmsg_jw_close(&w, '{');
	out = ctlmsg_jw_finish(&w, &len);
	check(out != NULL, "the writer ran out of room");
	top = (struct span){ out, len, 0 };
	check(ctlmsg_json_walk(out, len, walk_cb, &top) == 0, "written JSON does not read");
	if (ascii) {
		const char *want = text;

		check(ctlmsg_json_walk(out, len, same_cb, &want) == 1, "a string does not read back as written");
	}
	ctlmsg_jw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_request((const char *)data + 1, size - 1);
		break;
	case 1:
		s = (struct span){ (const char *)data + 1, size - 1, 0 };
		(void)ctlmsg_json_walk(s.p, s.n, walk_cb, &s);
		break;
	default:
		fuzz_writer((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
