/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server: the vtpm process's connections. Listeners for the data channel,
 * the control channel and the two mssim ports feed one event loop; each
 * connection buffers its input until a whole request is framed, runs it on
 * the engine, and queues the reply. Clients are untrusted: partial requests
 * have deadlines, buffers have caps, a bad frame gets an error and a close.
 */
#ifndef VTPM_SERVER_H
#define VTPM_SERVER_H

#include "opts.h"

/* Partial data/mssim requests must complete within this time. */
#define SERVER_PARTIAL_TIMEOUT_MS	10000

struct server;

/* Opens every configured endpoint. NULL on error (logged). */
struct server *server_new(const struct opts *o);
/*
 * Watches fd (the manager's socket): when its peer goes away, the loop
 * stops with SERVER_LIFELINE_LOST and no further state is written.
 */
#define SERVER_LIFELINE_LOST	3
int server_add_lifeline(struct server *s, int fd);
/* Runs until SHUTDOWN, mssim STOP, SIGTERM/SIGINT or --terminate. */
int server_run(struct server *s);
void server_free(struct server *s);

#endif
