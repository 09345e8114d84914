/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xenback: one backend domain's vtpm devices over real Xen. Handshake per
 * device, as Mini-OS tpmback walks it, with what libxl expects:
 *
 *   toolstack -> backend/vtpm/<domid>/<devid>: frontend, frontend-id,
 *                online=1, state=1, handle, uuid
 *   backend   -> feature-protocol-v2=1, state=2 (InitWait; libxl gives up
 *                after 10 s without it)
 *   frontend  -> ring-ref, event-channel, feature-protocol-v2=1, state=3;
 *                Linux submits its first command at once, before Connected
 *   backend   -> maps, binds, state=4 (Connected), serves what is pending
 *   frontend  -> state=5/6 (module unload, reboot): unmapped, back to
 *                InitWait, so a reloaded or kexec'd frontend is served again
 *   toolstack -> online=0, state=5 (xl destroy, vtpm-detach): unmapped,
 *                state=6 (libxl waits for it), then the directory goes
 *
 * Every event on a watched node triggers one pass over all devices that
 * compares what xenstore says with what we hold: simple, idempotent, and
 * cheap at XENBACK_MAX_DEVICES.
 */
#include "xenback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "log.h"
#include "tpm.h"

/* Requests served per wake-up before other devices get a turn. */
#define XENBACK_BURST		64
/* How long to keep watching the page after an answer (ns). */
#define XENBACK_SPIN_NS		30000u
/* Xen's first reserved domid (DOMID_FIRST_RESERVED): no guest has it. */
#define XENBACK_DOMID_LIMIT	0x7ff0u
#define WATCH_TOKEN		"vtpm-xenback"

struct xb_dev {
	struct xenback *xb;
	struct xb_dev *next;
	unsigned domid, devid;
	char be[96];			/* our backend directory */
	char fe[XENBACK_MAX_VALUE];	/* the frontend's directory (toolstack's node) */
	void *owner;			/* ops->open's handle; NULL: refused or closed */
	bool seen;			/* found by the current pass */
	bool watching;			/* a watch on the frontend's state */
	int be_state;			/* what we wrote last */
	xenevtchn_handle *xce;
	evtchn_port_t lport;
	long ref, port;			/* the frontend's ring-ref and event-channel we hold */
	unsigned npages;		/* mapped pages; 0: not connected */
	struct tpmif_ring ring;
	/* private copy of the request: nothing is parsed in shared memory */
	uint8_t req[TPM_PACKET_MAX];
};

struct xenback {
	struct ev_loop *loop;
	const struct xenback_ops *ops;
	void *arg;
	struct xs_handle *xs;
	xengnttab_handle *xgt;
	char root[64];			/* /local/domain/<be>/backend/vtpm */
	struct xb_dev *devs;
	unsigned ndevs;
};

/* Reads a node as a string (NULL if absent or longer than XENBACK_MAX_VALUE). */
static char *xs_get(struct xenback *xb, const char *dir, const char *node, char *out)
{
	char path[XENBACK_MAX_VALUE * 2];
	unsigned len = 0;
	char *v;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, node) >= sizeof(path))
		return NULL;
	v = xs_read(xb->xs, XBT_NULL, path, &len);
	if (!v)
		return NULL;
	if (len >= XENBACK_MAX_VALUE || strlen(v) != len) {
		free(v);
		return NULL;
	}
	memcpy(out, v, len + 1);
	free(v);
	return out;
}

/* A decimal number below limit, or -1 (absent, malformed, too large). */
static long parse_uint(const char *s, unsigned long limit)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= limit)
		return -1;
	return (long)v;
}

static long xs_get_uint(struct xenback *xb, const char *dir, const char *node, unsigned long limit)
{
	char v[XENBACK_MAX_VALUE];

	return parse_uint(xs_get(xb, dir, node, v), limit);
}

static void xs_put(struct xenback *xb, const char *dir, const char *node, const char *val)
{
	char path[XENBACK_MAX_VALUE * 2];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, node) < sizeof(path) &&
	    !xs_write(xb->xs, XBT_NULL, path, val, (unsigned)strlen(val)))
		log_warn("xenback: cannot write %s: %s", path, strerror(errno));
}

static void set_state(struct xb_dev *d, int state)
{
	char v[4];

	if (d->be_state == state)
		return;
	snprintf(v, sizeof(v), "%d", state);
	xs_put(d->xb, d->be, "state", v);
	d->be_state = state;
}

static int notify(void *arg)
{
	struct xb_dev *d = arg;

	return xenevtchn_notify(d->xce, d->lport);
}

/* Releases the grant mapping and the event channel, if held. */
static void disconnect(struct xb_dev *d)
{
	if (d->xce) {
		ev_del(d->xb->loop, xenevtchn_fd(d->xce));
		if (d->npages)
			(void)xenevtchn_unbind(d->xce, d->lport);
		xenevtchn_close(d->xce);
		d->xce = NULL;
	}
	if (d->npages) {
		(void)xengnttab_unmap(d->xb->xgt, d->ring.page, d->npages);
		d->npages = 0;
		log_info("xenback: dom%u vtpm %u disconnected", d->domid, d->devid);
	}
}

/* Refuses or closes a device for good: error node, log line, Closed. */
static void fail_dev(struct xb_dev *d, const char *why)
{
	log_warn("xenback: dom%u vtpm %u refused: %s", d->domid, d->devid, why);
	disconnect(d);
	xs_put(d->xb, d->be, "error", why);
	if (d->owner)
		d->xb->ops->close(d->owner);
	d->owner = NULL;
	set_state(d, XENBUS_STATE_CLOSED);
}

static void serve(struct xb_dev *d)
{
	struct xenback *xb = d->xb;

	for (int n = 0; n < XENBACK_BURST; n++) {
		if (!tpmif_back_serve(&d->ring, d->req, sizeof(d->req), xb->ops->handle, d->owner)) {
			fail_dev(d, "frontend wrote a backend-only state on the shared page");
			return;
		}
		/* a hot loop of small commands: catch the next SUBMIT without a wake-up */
		if (!tpmif_spin_while(&d->ring, d->ring.last_written, XENBACK_SPIN_NS))
			return;
	}
	/* fairness: other devices get a turn; a zero deadline brings us back */
	ev_set_deadline(xb->loop, xenevtchn_fd(d->xce), 0);
}

static void ring_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct xb_dev *d = arg;
	xenevtchn_port_or_error_t port;

	(void)loop;
	(void)fd;
	if (!(rev & EV_TIMEOUT)) {
		port = xenevtchn_pending(d->xce);
		if (port >= 0)
			(void)xenevtchn_unmask(d->xce, (evtchn_port_t)port);
	}
	serve(d);
}

/*
 * Maps page 0, reads nr_extra_pages once, and remaps with the extra pages
 * contiguous after it when the frontend offers them. The count and the
 * grant list are copied before use; the ring checks the page's count again
 * against what was mapped on every request.
 */
static int map_ring(struct xb_dev *d, uint32_t ref0)
{
	uint32_t refs[1 + TPMIF_MAX_EXTRA_PAGES];
	volatile struct tpmif_shared_page *h;
	uint8_t extra;
	void *p = xengnttab_map_grant_ref(d->xb->xgt, d->domid, ref0, PROT_READ | PROT_WRITE);

	if (!p)
		return -1;
	h = p;
	extra = h->nr_extra_pages;
	if (extra > TPMIF_MAX_EXTRA_PAGES) {
		(void)xengnttab_unmap(d->xb->xgt, p, 1);
		errno = E2BIG;
		return -1;
	}
	refs[0] = ref0;
	for (unsigned i = 0; i < extra; i++)
		refs[1 + i] = h->extra_pages[i];
	if (extra) {
		(void)xengnttab_unmap(d->xb->xgt, p, 1);
		p = xengnttab_map_domain_grant_refs(d->xb->xgt, 1u + extra, d->domid, refs,
						    PROT_READ | PROT_WRITE);
		if (!p)
			return -1;
	}
	d->npages = 1u + extra;
	d->ring = (struct tpmif_ring){ .page = p, .map_size = d->npages * TPMIF_PAGE_SIZE,
				       .evtchn = -1, .last_written = TPMIF_STATE_IDLE,
				       .notify = notify, .notify_arg = d };
	return 0;
}

static void connect_ring(struct xb_dev *d)
{
	struct xenback *xb = d->xb;
	char v[XENBACK_MAX_VALUE];
	long ref = xs_get_uint(xb, d->fe, "ring-ref", UINT32_MAX);
	long port = xs_get_uint(xb, d->fe, "event-channel", UINT32_MAX);
	xenevtchn_port_or_error_t lp;

	if (!xs_get(xb, d->fe, "feature-protocol-v2", v) || strcmp(v, "1") != 0) {
		fail_dev(d, "frontend lacks feature-protocol-v2=1");
		return;
	}
	if (ref < 0 || port < 0) {
		fail_dev(d, "frontend published no usable ring-ref/event-channel");
		return;
	}
	if (map_ring(d, (uint32_t)ref) < 0) {
		fail_dev(d, "cannot map the frontend's grant");
		return;
	}
	d->xce = xenevtchn_open(NULL, 0);
	lp = d->xce ? xenevtchn_bind_interdomain(d->xce, d->domid, (evtchn_port_t)port) : -1;
	if (lp < 0) {
		if (d->xce)
			xenevtchn_close(d->xce);
		d->xce = NULL;
		fail_dev(d, "cannot bind the frontend's event channel");
		return;
	}
	d->lport = (evtchn_port_t)lp;
	d->ref = ref;
	d->port = port;
	if (ev_add(xb->loop, xenevtchn_fd(d->xce), EV_READ, ring_event, d) < 0) {
		fail_dev(d, "out of resources");
		return;
	}
	log_info("xenback: dom%u vtpm %u connected (ring-ref %ld, port %ld, %u page(s))", d->domid,
		 d->devid, ref, port, d->npages);
	xb->ops->connected(d->owner);
	set_state(d, XENBUS_STATE_CONNECTED);
	/* the frontend may have submitted before we were Connected */
	serve(d);
}

/* Opens a device the toolstack just created: route it, then InitWait. */
static void open_dev(struct xb_dev *d)
{
	struct xenback *xb = d->xb;
	char uuid[XENBACK_MAX_VALUE], path[XENBACK_MAX_VALUE * 2];
	const char *why = "refused";
	long fe_id = xs_get_uint(xb, d->be, "frontend-id", XENBACK_DOMID_LIMIT);
	int n;

	d->be_state = -1;
	/* the frontend directory must be the one Xen would name: no aliasing another domain */
	n = snprintf(path, sizeof(path), "/local/domain/%u/device/vtpm/%u", d->domid, d->devid);
	if (fe_id != (long)d->domid || !xs_get(xb, d->be, "frontend", d->fe) ||
	    strcmp(d->fe, path) != 0 || n < 0) {
		fail_dev(d, "frontend or frontend-id node does not match the device");
		return;
	}
	d->owner = xb->ops->open(xb->arg, d->domid, d->devid, xs_get(xb, d->be, "uuid", uuid),
				 &why);
	if (!d->owner) {
		fail_dev(d, why);
		return;
	}
	snprintf(path, sizeof(path), "%s/state", d->fe);
	d->watching = xs_watch(xb->xs, path, WATCH_TOKEN);
	xs_put(xb, d->be, "feature-protocol-v2", "1");
	set_state(d, XENBUS_STATE_INIT_WAIT);
}

/* Brings one device in line with what xenstore says. */
static void update_dev(struct xb_dev *d)
{
	struct xenback *xb = d->xb;
	char v[XENBACK_MAX_VALUE];
	long be_state = xs_get_uint(xb, d->be, "state", 16);
	long fe_state;

	if ((xs_get(xb, d->be, "online", v) && strcmp(v, "0") == 0) ||
	    (be_state == XENBUS_STATE_CLOSING && d->be_state != XENBUS_STATE_CLOSING)) {
		/* the toolstack removes the device: release, then answer Closed */
		disconnect(d);
		set_state(d, XENBUS_STATE_CLOSED);
		return;
	}
	if (!d->owner)
		return;
	fe_state = xs_get_uint(xb, d->fe, "state", 16);
	switch (fe_state) {
	case XENBUS_STATE_INITIALISED:
	case XENBUS_STATE_CONNECTED:
		/*
		 * A frontend that closed and came back before we saw it close
		 * (an unbind and bind in quick succession) offers a new ring: its
		 * old page is still mapped by us, so its new grant is another.
		 */
		if (d->npages && (xs_get_uint(xb, d->fe, "ring-ref", UINT32_MAX) != d->ref ||
				  xs_get_uint(xb, d->fe, "event-channel", UINT32_MAX) != d->port))
			disconnect(d);
		if (!d->npages)
			connect_ring(d);
		break;
	case XENBUS_STATE_INIT_WAIT:
		break;
	default:
		/* Initialising, Closing, Closed, or gone: its ring is no more */
		disconnect(d);
		if (fe_state >= 0)
			set_state(d, XENBUS_STATE_INIT_WAIT);
		break;
	}
}

static void free_dev(struct xb_dev *d)
{
	char path[XENBACK_MAX_VALUE * 2];

	disconnect(d);
	if (d->watching) {
		snprintf(path, sizeof(path), "%s/state", d->fe);
		(void)xs_unwatch(d->xb->xs, path, WATCH_TOKEN);
	}
	if (d->owner)
		d->xb->ops->close(d->owner);
	d->xb->ndevs--;
	free(d);
}

static struct xb_dev *find_or_add(struct xenback *xb, unsigned domid, unsigned devid)
{
	struct xb_dev *d;

	for (d = xb->devs; d; d = d->next)
		if (d->domid == domid && d->devid == devid)
			return d;
	if (xb->ndevs >= XENBACK_MAX_DEVICES) {
		log_warn("xenback: dom%u vtpm %u ignored: %u devices served already", domid, devid,
			 xb->ndevs);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->xb = xb;
	d->domid = domid;
	d->devid = devid;
	snprintf(d->be, sizeof(d->be), "%s/%u/%u", xb->root, domid, devid);
	d->next = xb->devs;
	xb->devs = d;
	xb->ndevs++;
	open_dev(d);
	return d;
}

/* Marks every device xenstore lists under <root>/<domid> as seen, adding new ones. */
static void scan_domain(struct xenback *xb, const char *dom)
{
	char path[128];
	unsigned n = 0;
	char **ids;
	long domid = parse_uint(dom, XENBACK_DOMID_LIMIT);

	if (domid < 0 || (size_t)snprintf(path, sizeof(path), "%s/%s", xb->root, dom) >= sizeof(path))
		return;
	ids = xs_directory(xb->xs, XBT_NULL, path, &n);
	for (unsigned i = 0; ids && i < n; i++) {
		long devid = parse_uint(ids[i], 1u << 16);
		struct xb_dev *d = devid < 0 ? NULL : find_or_add(xb, (unsigned)domid, (unsigned)devid);

		if (d)
			d->seen = true;
	}
	free(ids);
}

static void reconcile(struct xenback *xb)
{
	unsigned n = 0;
	char **doms = xs_directory(xb->xs, XBT_NULL, xb->root, &n);
	struct xb_dev **pp, *d;

	for (d = xb->devs; d; d = d->next)
		d->seen = false;
	for (unsigned i = 0; doms && i < n; i++)
		scan_domain(xb, doms[i]);
	free(doms);
	for (pp = &xb->devs; (d = *pp);) {
		if (!d->seen) {
			/* the toolstack removed its directory */
			*pp = d->next;
			free_dev(d);
			continue;
		}
		update_dev(d);
		pp = &d->next;
	}
}

static void xs_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct xenback *xb = arg;
	char **w;
	bool any = false;

	(void)loop;
	(void)fd;
	(void)rev;
	/* bounded: a burst of events costs one pass */
	for (int i = 0; i < 256 && (w = xs_check_watch(xb->xs)); i++) {
		free(w);
		any = true;
	}
	if (any)
		reconcile(xb);
}

struct xenback *xenback_new(struct ev_loop *loop, unsigned bedomid, const struct xenback_ops *ops,
			    void *arg)
{
	struct xenback *xb = calloc(1, sizeof(*xb));

	if (!xb)
		return NULL;
	xb->loop = loop;
	xb->ops = ops;
	xb->arg = arg;
	snprintf(xb->root, sizeof(xb->root), "/local/domain/%u/backend/vtpm", bedomid);
	xb->xs = xs_open(0);
	xb->xgt = xb->xs ? xengnttab_open(NULL, 0) : NULL;
	if (!xb->xgt) {
		log_err("xenback: cannot open %s: %s", xb->xs ? "the grant device" : "xenstore",
			strerror(errno));
		goto fail;
	}
	/* the watch fires once at once: the first pass picks up existing devices */
	if (!xs_watch(xb->xs, xb->root, WATCH_TOKEN) ||
	    ev_add(loop, xs_fileno(xb->xs), EV_READ, xs_event, xb) < 0) {
		log_err("xenback: cannot watch %s: %s", xb->root, strerror(errno));
		goto fail;
	}
	return xb;
fail:
	xenback_free(xb);
	return NULL;
}

void xenback_free(struct xenback *xb)
{
	if (!xb)
		return;
	while (xb->devs) {
		struct xb_dev *d = xb->devs;

		xb->devs = d->next;
		free_dev(d);
	}
	if (xb->xs) {
		ev_del(xb->loop, xs_fileno(xb->xs));
		xs_close(xb->xs);
	}
	if (xb->xgt)
		xengnttab_close(xb->xgt);
	free(xb);
}
