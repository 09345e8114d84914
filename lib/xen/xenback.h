/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xenback: the tpmif backend over real Xen, beside lib/tpmback's Linux
 * stand-in and sharing lib/tpmif's ring code. Runs in the backend domain
 * (dom0) inside vtpm-xenback. It watches /local/domain/<be>/backend/vtpm,
 * walks each device's xenbus handshake with libxenstore, maps the
 * frontend's granted page(s) with libxengnttab and binds its event channel
 * with libxenevtchn. Trust: the backend nodes are written by the toolstack
 * (only dom0 may write there) and are checked for form only; everything a
 * frontend writes (its xenstore nodes, the shared page) is hostile: fields
 * are read once, the packet is copied once and validated privately, a
 * protocol violation closes the device.
 */
#ifndef VTPM_XENBACK_H
#define VTPM_XENBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "tpmif.h"

/* Devices served at once; more are refused (a device is one xl vtpm= entry). */
#define XENBACK_MAX_DEVICES	256
/* Longest xenstore value read (paths, uuid, numbers). */
#define XENBACK_MAX_VALUE	256

struct xenback;

struct xenback_ops {
	/*
	 * A new device: returns the owner's handle for it, or NULL with *why
	 * set to refuse it (written to the backend's error node and logged).
	 * uuid is the toolstack's node text, or NULL when there is none.
	 */
	void *(*open)(void *arg, unsigned domid, unsigned devid, const char *uuid,
		      const char **why);
	/* The frontend (re)connected a ring: a new boot of its TPM. */
	void (*connected)(void *dev);
	tpmif_handler *handle;	/* called with dev as arg */
	/* The device is gone (destroyed or detached). */
	void (*close)(void *dev);
};

/* Starts watching; bedomid is the domain this backend runs in (0: dom0). */
struct xenback *xenback_new(struct ev_loop *loop, unsigned bedomid, const struct xenback_ops *ops,
			    void *arg);
/* Closes every device (ops->close) and frees. */
void xenback_free(struct xenback *xb);

#endif
