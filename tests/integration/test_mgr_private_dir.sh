#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The manager runs its vtpms wherever the binary lives: here a copy of the
# vtpm binary under a 0700 directory (as a build tree in root's home is),
# which the vtpm's own uid cannot traverse. The manager opens the binary as
# root and execs it by descriptor, so the vTPM starts and serves; before,
# the sandboxed child could not reach the file and exited 126.
. "$(dirname "$0")/lib.sh"

private="$T_DIR/private"
mkdir -p "$private/bin"
chmod 0700 "$private"
cp "$VTPM" "$private/bin/vtpm"
chmod 0755 "$private/bin/vtpm"
VTPM="$private/bin/vtpm"
. "$(dirname "$0")/mgr.sh"

[ "$(stat -c %a "$private")" = 700 ] || m_fail "$private is not 0700"
m_setup
t_log "the vTPM from the private directory serves"
ts_tpm tpm2_getrandom 8 --hex >/dev/null || m_fail "tpm2_getrandom against the vTPM failed"
ts_nv_define_write "$TS_NV_INDEX" 16
ts_nv_expect "$TS_NV_INDEX"
pid=$(m_vtpm_pid "$M_UUID")
[ "$(readlink "/proc/$pid/exe")" = "$VTPM" ] || m_fail "vtpm pid $pid does not run $VTPM"
[ "$(stat -c %u "/proc/$pid")" != 0 ] || m_fail "the vtpm runs as root"
m_vtpm_stop "$M_UUID"
m_vtpm_start "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
! grep -q "cannot execute" "$M_LOG" || m_fail "the manager logged an exec failure"
m_done
