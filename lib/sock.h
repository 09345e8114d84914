/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sock: listening and connected sockets for every process (Unix and loopback
 * TCP), non-blocking accept, and fd passing with SCM_RIGHTS. Small API in the
 * spirit of Redis anet: 0 / -1 with errno, fds are close-on-exec.
 */
#ifndef VTPM_SOCK_H
#define VTPM_SOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Binds and listens on a Unix socket path. An old socket file there is
 * replaced; any other file is left alone and refused (EEXIST).
 */
int sock_listen_unix(const char *path, int mode);
/* Binds and listens on addr:port; addr NULL means 127.0.0.1. */
int sock_listen_tcp(const char *addr, int port);
/* Accepts one client as a non-blocking, close-on-exec fd, or -1. */
int sock_accept(int lfd);
/*
 * 0 if fd is a connected stream socket (not a listener, not a pipe or file),
 * else -1 with errno EBADF: a descriptor a peer hands us must be one.
 */
int sock_is_connected_stream(int fd);
int sock_set_nonblock(int fd);
int sock_set_blocking(int fd);
/*
 * Asks TCP to acknowledge the next segment at once (TCP_QUICKACK), so a
 * client that writes one request in two pieces under Nagle does not wait for
 * our delayed ACK. Returns -1 on non-TCP sockets.
 */
int sock_quickack(int fd);
/*
 * Receives up to n bytes. Fds the peer passed with SCM_RIGHTS are appended
 * to fds[] while *nfds < max; any beyond that are closed at once.
 */
ssize_t sock_recv_fds(int fd, void *p, size_t n, int *fds, int *nfds, int max);
/* Sends all n bytes with nfds fds attached (nfds <= 4) on a blocking socket. */
int sock_send_fds(int fd, const void *p, size_t n, const int *fds, int nfds);
int sock_connect_unix(const char *path);
int sock_connect_tcp(const char *addr, int port);
/* Writes/reads exactly n bytes on a blocking fd; 0 or -1 (EPIPE at EOF). */
int sock_write_all(int fd, const void *p, size_t n);
int sock_read_all(int fd, void *p, size_t n);

#endif
