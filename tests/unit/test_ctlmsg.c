/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ctlmsg: the control protocol's codec. Requests round-trip through
 * encode and parse, are refused with a clear message when empty, too long,
 * unprintable or with too many words; replies escape every string (quote,
 * backslash, control characters as \u00XX) so that the reader gives back
 * exactly what was written, and the reader refuses malformed JSON. The
 * device value with a quote and a backslash goes the whole way a create's
 * dev= does: vtpmctl's request, the manager's parse, a list reply, vtpmctl's
 * reading of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctlmsg.h"

static void test_request_round_trip(void **state)
{
	const char *args[] = { "uuid=auto", "tpm=2", "dev=server=unix:/a,flags=x", "bare" };
	struct ctlmsg_req *r = malloc(sizeof(*r));
	char line[VTPMMGR_CTL_LINE_MAX];
	const char *err = NULL;
	int n;

	(void)state;
	assert_non_null(r);
	n = ctlmsg_req_encode(line, sizeof(line), "create", args, 4);
	assert_int_equal(n, (int)strlen("create uuid=auto tpm=2 dev=server=unix:/a,flags=x bare\n"));
	assert_string_equal(line, "create uuid=auto tpm=2 dev=server=unix:/a,flags=x bare\n");
	assert_int_equal(ctlmsg_req_parse(r, line, (size_t)n - 1, &err), 0);
	assert_string_equal(r->verb, "create");
	assert_int_equal(r->argc, 4);
	assert_string_equal(r->key[2], "dev");
	assert_string_equal(r->val[2], "server=unix:/a,flags=x");	/* split at the first '=' */
	assert_string_equal(r->word[2], "dev=server=unix:/a,flags=x");
	assert_null(r->key[3]);
	assert_string_equal(r->val[3], "bare");
	/* runs of spaces separate as one */
	assert_int_equal(ctlmsg_req_parse(r, "  stop   U  ", 12, &err), 0);
	assert_string_equal(r->verb, "stop");
	assert_int_equal(r->argc, 1);
	assert_string_equal(r->word[0], "U");
	free(r);
}

static void expect_refused(const char *line, size_t len, int e, const char *msg)
{
	struct ctlmsg_req *r = malloc(sizeof(*r));
	const char *err = NULL;

	assert_non_null(r);
	errno = 0;
	assert_int_equal(ctlmsg_req_parse(r, line, len, &err), -1);
	assert_int_equal(errno, e);
	assert_non_null(err);
	assert_non_null(strstr(err, msg));
	free(r);
}

static void test_request_refused(void **state)
{
	char big[VTPMMGR_CTL_LINE_MAX + 8], many[VTPMMGR_CTL_LINE_MAX];
	size_t off;

	(void)state;
	expect_refused("", 0, EINVAL, "empty");
	expect_refused("   ", 3, EINVAL, "empty");
	expect_refused("list\tx", 6, EINVAL, "printable");
	expect_refused("list\0x", 6, EINVAL, "printable");
	expect_refused("list \x80", 6, EINVAL, "printable");
	expect_refused("averyveryverylongverb", 21, EINVAL, "unknown command");
	memset(big, 'a', sizeof(big));
	expect_refused(big, VTPMMGR_CTL_LINE_MAX, E2BIG, "too long");
	off = (size_t)snprintf(many, sizeof(many), "reseal");
	for (int i = 0; i <= VTPMMGR_CTL_ARGS_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, " %d=x", i);
	expect_refused(many, off, E2BIG, "too many");
}

static void test_request_encode_truncation(void **state)
{
	char line[VTPMMGR_CTL_LINE_MAX], big[VTPMMGR_CTL_LINE_MAX];
	const char *args[VTPMMGR_CTL_ARGS_MAX + 1];
	const char *bad[] = { "a b" }, *empty[] = { "" }, *nl[] = { "a\n" }, *one[] = { big };

	(void)state;
	assert_int_equal(ctlmsg_req_encode(line, 8, "list", NULL, 0), 5);
	/* "status\n" and its NUL need 8 bytes: 7 is too few */
	errno = 0;
	assert_int_equal(ctlmsg_req_encode(line, 7, "status", NULL, 0), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(ctlmsg_req_encode(line, 8, "status", NULL, 0), 7);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errno = 0;
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "create", one, 1), -1);
	assert_int_equal(errno, E2BIG);
	for (int i = 0; i <= VTPMMGR_CTL_ARGS_MAX; i++)
		args[i] = "k=v";
	errno = 0;
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "reseal", args, VTPMMGR_CTL_ARGS_MAX + 1), -1);
	assert_int_equal(errno, E2BIG);
	assert_true(ctlmsg_req_encode(line, sizeof(line), "reseal", args, VTPMMGR_CTL_ARGS_MAX) > 0);
	errno = 0;
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "create", bad, 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "create", empty, 1), -1);
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "create", nl, 1), -1);
	assert_int_equal(ctlmsg_req_encode(line, sizeof(line), "", NULL, 0), -1);
}

struct got {
	const char *key;
	char str[256];
	enum ctlmsg_kind kind;
	const char *raw;
	size_t raw_len;
	int seen;
};

static int find_cb(const char *key, const struct ctlmsg_val *v, void *arg)
{
	struct got *g = arg;

	if (key && strcmp(key, g->key) != 0)
		return 0;
	g->seen++;
	g->kind = v->kind;
	g->raw = v->raw;
	g->raw_len = v->raw_len;
	snprintf(g->str, sizeof(g->str), "%s", v->str ? v->str : "");
	return 0;
}

static void test_writer_escapes(void **state)
{
	static const char nasty[] = "q\"b\\s/c\x01n\nt\tz\x1f\x7f";
	struct ctlmsg_jw w;
	struct got g = { .key = "s" };
	const char *out;
	size_t len;

	(void)state;
	ctlmsg_jw_init(&w, 4096);
	ctlmsg_jw_open(&w, NULL, '{');
	ctlmsg_jw_bool(&w, "ok", true);
	ctlmsg_jw_str(&w, "s", nasty);
	ctlmsg_jw_i64(&w, "neg", -5);
	ctlmsg_jw_open(&w, "a", '[');
	ctlmsg_jw_u64(&w, NULL, 1);
	ctlmsg_jw_str(&w, NULL, "x");
	ctlmsg_jw_close(&w, '[');
	ctlmsg_jw_close(&w, '{');
	out = ctlmsg_jw_finish(&w, &len);
	assert_non_null(out);
	assert_string_equal(out, "{\"ok\":true,\"s\":\"q\\\"b\\\\s/c\\u0001n\\u000at\\u0009z\\u001f\\u007f\","
				 "\"neg\":-5,\"a\":[1,\"x\"]}\n");
	assert_int_equal(len, strlen(out));
	assert_int_equal(ctlmsg_json_walk(out, len, find_cb, &g), 0);
	assert_int_equal(g.seen, 1);
	assert_int_equal(g.kind, CTLMSG_STRING);
	assert_string_equal(g.str, nasty);
	g.key = "a";
	g.seen = 0;
	assert_int_equal(ctlmsg_json_walk(out, len, find_cb, &g), 0);
	assert_int_equal(g.kind, CTLMSG_ARRAY);
	ctlmsg_jw_free(&w);
}

static void test_writer_cap(void **state)
{
	struct ctlmsg_jw w;
	size_t len;

	(void)state;
	ctlmsg_jw_init(&w, 16);
	ctlmsg_jw_open(&w, NULL, '{');
	ctlmsg_jw_str(&w, "error", "a message longer than sixteen bytes");
	ctlmsg_jw_close(&w, '{');
	errno = 0;
	assert_null(ctlmsg_jw_finish(&w, &len));
	assert_int_equal(errno, ENOBUFS);
	ctlmsg_jw_free(&w);
}

static void test_reader_refuses(void **state)
{
	static const char *const bad[] = {
		"", "x", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "{\"a\":1}x", "{\"a\":\"x}",
		"{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\n\"}", "{a:1}", "{\"a\" 1}",
		"[[[[[[[[[[1]]]]]]]]]]",
		"{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}",
	};
	static const char spaced[] = " {\"a\" : \"\\u00e9\\/\" }\n";
	struct got g = { .key = "a" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		if (ctlmsg_json_walk(bad[i], strlen(bad[i]), find_cb, &g) != -1 || errno != EINVAL)
			fail_msg("accepted or wrong errno: %s", bad[i]);
	}
	assert_int_equal(ctlmsg_json_walk(spaced, strlen(spaced), find_cb, &g), 0);
	assert_string_equal(g.str, "\xc3\xa9/");
	assert_int_equal(ctlmsg_json_walk("[]", 2, find_cb, &g), 0);
	assert_int_equal(ctlmsg_json_walk("{}", 2, find_cb, &g), 0);
}

/* create dev=VALUE as vtpmctl sends it, as the manager reads it, listed, read back. */
static void test_device_quote_backslash(void **state)
{
	static const char dev[] = "server=unix:/a\"b\\c";
	char word[64], line[VTPMMGR_CTL_LINE_MAX];
	const char *args[] = { word }, *err = NULL, *out;
	struct ctlmsg_req *r = malloc(sizeof(*r));
	struct got list = { .key = "vtpms" }, entry = { .key = "device" };
	struct ctlmsg_jw w;
	size_t len;
	int n;

	(void)state;
	assert_non_null(r);
	snprintf(word, sizeof(word), "dev=%s", dev);
	n = ctlmsg_req_encode(line, sizeof(line), "create", args, 1);
	assert_true(n > 0);
	assert_int_equal(ctlmsg_req_parse(r, line, (size_t)n - 1, &err), 0);
	assert_string_equal(r->key[0], "dev");
	assert_string_equal(r->val[0], dev);
	ctlmsg_jw_init(&w, VTPMMGR_CTL_REPLY_MAX);
	ctlmsg_jw_open(&w, NULL, '{');
	ctlmsg_jw_bool(&w, "ok", true);
	ctlmsg_jw_open(&w, "vtpms", '[');
	ctlmsg_jw_open(&w, NULL, '{');
	ctlmsg_jw_str(&w, "device", r->val[0]);
	ctlmsg_jw_close(&w, '{');
	ctlmsg_jw_close(&w, '[');
	ctlmsg_jw_close(&w, '{');
	out = ctlmsg_jw_finish(&w, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"device\":\"server=unix:/a\\\"b\\\\c\""));
	assert_int_equal(ctlmsg_json_walk(out, len, find_cb, &list), 0);
	assert_int_equal(list.kind, CTLMSG_ARRAY);
	assert_int_equal(ctlmsg_json_walk(list.raw, list.raw_len, find_cb, &entry), 0);
	assert_int_equal(entry.kind, CTLMSG_OBJECT);	/* the element, key NULL */
	entry.seen = 0;
	assert_int_equal(ctlmsg_json_walk(entry.raw, entry.raw_len, find_cb, &entry), 0);
	assert_int_equal(entry.seen, 1);
	assert_string_equal(entry.str, dev);
	ctlmsg_jw_free(&w);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_request_encode_truncation),
		cmocka_unit_test(test_writer_escapes),
		cmocka_unit_test(test_writer_cap),
		cmocka_unit_test(test_reader_refuses),
		cmocka_unit_test(test_device_quote_backslash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
