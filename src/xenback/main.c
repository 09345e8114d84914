/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpm-xenback: the tpmif backend daemon of a Xen backend domain (dom0). It
 * serves every vtpm device whose backend is this domain (lib/xen/xenback)
 * and routes each to the vTPM named by the device's uuid node, which libxl
 * writes from vtpm=["backend=0,uuid=..."]: the vtpm whose data and control
 * sockets are DIR/<uuid>/data and DIR/<uuid>/ctrl. A device with no uuid, a
 * malformed one, or one with no vTPM running is refused; it never gets a
 * fresh TPM silently. Each new ring is a new boot of the guest's TPM: the
 * vTPM gets CMD_INIT (PCRs reset, NV kept) before the ring is served, and
 * the guest's kernel sends TPM_Startup. The vtpm processes are trusted
 * (they run the same code and sit in the operator's directory); guests are
 * not, and reach this process only through lib/xen/xenback.
 *
 * This process, not the vtpm, holds the Xen devices: the vtpm keeps its
 * sandbox (no device nodes, no ioctls), see docs/decisions.md.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libtpms/tpm_error.h>

#include "buf.h"
#include "ev.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"
#include "xenback.h"

#define UUID_LEN		36
/* How long a vTPM may take over one command (TPM 1.2 key generation under TCG). */
#define VTPM_REPLY_TIMEOUT_S	300
/* swtpm's control channel: CMD_INIT, no flags, and its u32 result. */
#define CTRL_CMD_INIT		2u

struct route {
	unsigned domid, devid;
	char data[4096 + 64], ctrl[4096 + 64];
	int fd;			/* data connection, opened on first use */
	bool tpm2;		/* the family the guest speaks, from its last request */
	uint8_t rsp[TPM_PACKET_MAX];
};

static const char *vtpm_dir;

static bool uuid_ok(const char *u)
{
	if (!u || strlen(u) != UUID_LEN)
		return false;
	for (int i = 0; i < UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : !((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f') ||
					    (u[i] >= 'A' && u[i] <= 'F')))
			return false;
	}
	return true;
}

static void *open_dev(void *arg, unsigned domid, unsigned devid, const char *uuid, const char **why)
{
	struct route *r;
	struct stat st;

	(void)arg;
	if (!uuid_ok(uuid)) {
		*why = uuid ? "the uuid node is not a UUID" : "no uuid node: set vtpm=[\"uuid=...\"]";
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		*why = "out of memory";
		return NULL;
	}
	r->domid = domid;
	r->devid = devid;
	r->fd = -1;
	snprintf(r->data, sizeof(r->data), "%s/%s/data", vtpm_dir, uuid);
	snprintf(r->ctrl, sizeof(r->ctrl), "%s/%s/ctrl", vtpm_dir, uuid);
	if (stat(r->data, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		free(r);
		*why = "no vTPM with this uuid is running";
		return NULL;
	}
	log_info("dom%u vtpm %u -> vTPM %s", domid, devid, uuid);
	return r;
}

static int connect_timed(const char *path)
{
	struct timeval tv = { .tv_sec = VTPM_REPLY_TIMEOUT_S };
	int fd = sock_connect_unix(path);

	if (fd >= 0 && (sock_set_blocking(fd) < 0 ||
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A new ring is a new boot: reset the TPM (CMD_INIT) as a machine reset would. */
static void connected(void *dev)
{
	struct route *r = dev;
	uint8_t msg[8], res[4];
	int fd = connect_timed(r->ctrl);

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	be32_store(msg, CTRL_CMD_INIT);
	be32_store(msg + 4, 0);
	if (fd < 0 || sock_write_all(fd, msg, sizeof(msg)) < 0 || sock_read_all(fd, res, 4) < 0 ||
	    be32_load(res) != 0)
		log_warn("dom%u vtpm %u: CMD_INIT on %s failed", r->domid, r->devid, r->ctrl);
	if (fd >= 0)
		close(fd);
}

/* Sends one command to the vTPM and reads its answer; the length capped first. */
static long forward(struct route *r, const uint8_t *req, size_t len)
{
	struct tpm_hdr h;

	if (r->fd < 0)
		r->fd = connect_timed(r->data);
	if (r->fd < 0 || sock_write_all(r->fd, req, len) < 0 ||
	    sock_read_all(r->fd, r->rsp, TPM_HDR_SIZE) < 0 ||
	    tpm_hdr_parse(r->rsp, TPM_HDR_SIZE, sizeof(r->rsp), &h) != 1 ||
	    sock_read_all(r->fd, r->rsp + TPM_HDR_SIZE, h.size - TPM_HDR_SIZE) < 0) {
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		return -1;
	}
	return (long)h.size;
}

static void handle(void *arg, const uint8_t *req, size_t len, uint8_t loc, bool bad,
		   const uint8_t **rsp, uint32_t *rsp_len)
{
	struct route *r = arg;
	uint32_t rc = r->tpm2 ? TPM20_RC_COMMAND_SIZE : TPM_BAD_PARAM_SIZE;
	long n;

	*rsp = r->rsp;
	if (!bad) {
		r->tpm2 = tpm_tag_is_tpm2(be16_load(req));
		/* the data channel carries locality 0 only; Linux' frontend never sets another */
		rc = r->tpm2 ? TPM20_RC_LOCALITY : TPM_BAD_LOCALITY;
		if (loc == 0) {
			n = forward(r, req, len);
			if (n > 0) {
				*rsp_len = (uint32_t)n;
				return;
			}
			log_warn("dom%u vtpm %u: the vTPM did not answer", r->domid, r->devid);
			rc = r->tpm2 ? TPM20_RC_FAILURE : TPM_FAIL;
		}
	}
	*rsp_len = (uint32_t)tpm_error_response(r->rsp, r->tpm2, rc);
}

static void close_dev(void *dev)
{
	struct route *r = dev;

	log_info("dom%u vtpm %u closed", r->domid, r->devid);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

static const struct xenback_ops ops = {
	.open = open_dev, .connected = connected, .handle = handle, .close = close_dev,
};

static struct ev_loop *loop;

static void on_signal(int sig)
{
	(void)sig;
	ev_stop(loop);
}

static void usage(void)
{
	printf("Usage: vtpm-xenback --dir DIR [--backend-domid N] [--pid FILE]\n"
	       "  serves the vtpm devices of Xen guests whose backend is this domain;\n"
	       "  the device with uuid U is routed to the vTPM listening on DIR/U/data\n"
	       "  (its control channel: DIR/U/ctrl)\n");
}

static int write_pid(const char *file)
{
	FILE *f = fopen(file, "w");

	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "backend-domid", required_argument, NULL, 'b' },
		{ "pid", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pidfile = NULL;
	unsigned long bedomid = 0;
	struct xenback *xb;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': vtpm_dir = optarg; break;
		case 'b': bedomid = strtoul(optarg, NULL, 10); break;
		case 'p': pidfile = optarg; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!vtpm_dir || optind != argc || bedomid >= 0x7ff0) {
		usage();
		return 2;
	}
	log_init("vtpm-xenback", NULL, -1, LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	loop = ev_new();
	xb = loop ? xenback_new(loop, (unsigned)bedomid, &ops, NULL) : NULL;
	if (!xb)
		return 1;
	if (pidfile && write_pid(pidfile) < 0)
		log_warn("cannot write %s: %s", pidfile, strerror(errno));
	log_info("serving vtpm devices of backend domain %lu", bedomid);
	rc = ev_run(loop);
	xenback_free(xb);
	ev_free(loop);
	return rc < 0 ? 1 : 0;
}
