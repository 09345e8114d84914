/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmsend: test tool that sends one raw TPM command to a swtpm-style data
 * channel and prints the response as hex. Run by the integration scripts,
 * never by a daemon. It trusts nothing the daemon returns: the response's
 * size field (u32 big-endian at offset 2) is checked against the header
 * length and TPMSEND_MAX before it sizes the read, and a silent peer times
 * out instead of hanging the suite.
 *
 * Usage: tpmsend -u SOCKET_PATH HEX...
 *        tpmsend -t IPV4:PORT HEX...
 * The HEX arguments are concatenated (spaces allowed) into one command.
 * Exit: 0 a whole response was printed (whatever its TPM return code),
 * 1 transport or framing error, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define TPMSEND_MAX 4096	/* largest command or response (TPM 1.2 and 2.0) */
#define TPM_HEADER_LEN 10	/* tag u16, size u32, code u32 */
#define TPMSEND_TIMEOUT_S 10

static int usage(void)
{
	fprintf(stderr, "usage: tpmsend -u SOCKET_PATH HEX...\n"
		"       tpmsend -t IPV4:PORT HEX...\n");
	return 2;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the hex arguments into cmd; returns the length or -1. */
static long parse_hex(char **args, int n, uint8_t *cmd, size_t cap)
{
	size_t len = 0;
	int hi = -1;

	for (int i = 0; i < n; i++) {
		for (const char *p = args[i]; *p; p++) {
			int v;

			if (*p == ' ')
				continue;
			v = hexval(*p);
			if (v < 0) {
				fprintf(stderr, "tpmsend: bad hex digit '%c'\n", *p);
				return -1;
			}
			if (hi < 0) {
				hi = v;
				continue;
			}
			if (len == cap) {
				fprintf(stderr, "tpmsend: command over %zu bytes\n", cap);
				return -1;
			}
			cmd[len++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		fprintf(stderr, "tpmsend: odd number of hex digits\n");
		return -1;
	}
	return (long)len;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tpmsend: socket path too long\n");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "tpmsend: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(const char *hostport)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(hostport, ':');
	char *end;
	unsigned long port;
	size_t hlen;
	int fd;

	if (!colon || (hlen = (size_t)(colon - hostport)) >= sizeof(host)) {
		fprintf(stderr, "tpmsend: want IPV4:PORT, got '%s'\n", hostport);
		return -1;
	}
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "tpmsend: want IPV4:PORT, got '%s'\n", hostport);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "tpmsend: %s: %s\n", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Writes all of buf; the daemon sees one write unless the kernel splits it. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes; -1 on error, timeout or early end of stream. */
static int read_all(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t cmd[TPMSEND_MAX], rsp[TPMSEND_MAX];
	struct timeval tv = { .tv_sec = TPMSEND_TIMEOUT_S };
	uint32_t size;
	long cmdlen;
	int fd, ret = 1;

	if (argc < 4 || (strcmp(argv[1], "-u") && strcmp(argv[1], "-t")))
		return usage();
	cmdlen = parse_hex(argv + 3, argc - 3, cmd, sizeof(cmd));
	if (cmdlen < 0)
		return usage();

	fd = argv[1][1] == 'u' ? connect_unix(argv[2]) : connect_tcp(argv[2]);
	if (fd < 0)
		return 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		perror("tpmsend: setsockopt");
		goto out;
	}
	if (write_all(fd, cmd, (size_t)cmdlen) < 0) {
		perror("tpmsend: write");
		goto out;
	}
	if (read_all(fd, rsp, TPM_HEADER_LEN) < 0) {
		fprintf(stderr, "tpmsend: no response header\n");
		goto out;
	}
	size = (uint32_t)rsp[2] << 24 | (uint32_t)rsp[3] << 16 |
	       (uint32_t)rsp[4] << 8 | rsp[5];
	if (size < TPM_HEADER_LEN || size > TPMSEND_MAX) {
		fprintf(stderr, "tpmsend: response size %u out of range\n", size);
		goto out;
	}
	if (read_all(fd, rsp + TPM_HEADER_LEN, size - TPM_HEADER_LEN) < 0) {
		fprintf(stderr, "tpmsend: response shorter than its size %u\n", size);
		goto out;
	}
	for (uint32_t i = 0; i < size; i++)
		printf("%02x", rsp[i]);
	printf("\n");
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	close(fd);
	return ret;
}
