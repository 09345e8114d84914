/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control: the manager's control socket, spoken by vtpmctl. One request
 * line per connection ("create uuid=... tpm=2 group=... dev=...", "start U",
 * "stop U", "destroy U confirm", "list", "show U", "status",
 * "reseal [PCR=HEX ...]"), one JSON object in reply. The socket is 0600 in
 * the run directory and the peer must be root (SO_PEERCRED); requests are
 * still parsed as untrusted. The wire format and its constants are
 * include/vtpmmgr_ctl.h, the codec lib/ctlmsg.
 */
#ifndef VTPMMGR_CONTROL_H
#define VTPMMGR_CONTROL_H

#include "mgr.h"
#include "vtpmmgr_ctl.h"

int control_open(struct mgr *m);
void control_close(struct mgr *m);

#endif
