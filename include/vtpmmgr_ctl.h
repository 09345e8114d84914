/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vtpmmgr control protocol, shared by the manager (src/vtpmmgr/control.c)
 * and vtpmctl: one request line per connection, "VERB ARG ...\n", each ARG
 * a word of printable ASCII without spaces (a bare word, or key=value), and
 * one JSON object in reply, "{"ok":true,...}\n" or
 * "{"ok":false,"error":"..."}\n". Requests and replies are built and read
 * through lib/ctlmsg; both sides treat what they read as untrusted.
 */
#ifndef VTPMMGR_CTL_H
#define VTPMMGR_CTL_H

/* The socket's name in the manager's run directory, and vtpmctl's default. */
#define VTPMMGR_CTL_SOCKET		"control.sock"
#define VTPMMGR_CTL_DEFAULT_RUN		"/run/vtpmmgr"
#define VTPMMGR_CTL_DEFAULT_PATH	VTPMMGR_CTL_DEFAULT_RUN "/" VTPMMGR_CTL_SOCKET
/* A request line, newline included, is at most this long. */
#define VTPMMGR_CTL_LINE_MAX		4096
/* At most this many arguments after the verb, and a verb this long. */
#define VTPMMGR_CTL_ARGS_MAX		32
#define VTPMMGR_CTL_VERB_MAX		15
/* A reply is at most this long (a list of every vTPM). */
#define VTPMMGR_CTL_REPLY_MAX		(1 << 20)
/* The manager drops a connection whose request is not complete by then. */
#define VTPMMGR_CTL_REQUEST_MS		5000

#endif
