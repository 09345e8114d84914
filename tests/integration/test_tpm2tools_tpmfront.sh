#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tpm2-tools through the tpmfront TCTI over the tpmif shared-page ring:
# `$VTPM serve --tpmif path=SOCK` is the backend, tctildr loads
# libtss2-tcti-tpmfront.so.0 by its file name into each tool, and every
# command crosses the ring through libtpmfront. Runs the shared scenario in
# tpm2_scenario.sh, restarting the daemon twice; each tool is a new
# frontend connection, so the backend also sees some hundred frontends come
# and go.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"
. "$(dirname "$0")/tpmfront.sh"

TS_DAEMON_LOG=$TF_LOG
tf_need_tools
tf_start || ts_fail "$VTPM did not listen on $TF_SOCK"
ts_scenario "$TF_TCTI" tf_restart
tf_alive || ts_fail "vtpm (pid $TF_PID) exited"
