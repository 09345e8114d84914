#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# An event-driven frontend, as tpm2-tss's asynchronous API drives the TCTI
# through getPollHandles: tpmfront_probe sends fifty quick GetRandoms, then
# a key generation, and waits for that with poll() on tpmfront_fd and
# tpmfront_recv(timeout 0). The fd must not keep reporting an answer that
# is not there: notifications of quick answers that libtpmfront caught by
# spinning on the page, left unread, would make that loop spin on the CPU
# until the key is made (thousands of wake-ups instead of two). The probe
# runs on another CPU than the vtpm where there is one, which is where the
# spin catches answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

tf_need_probe
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
pin=()
if [ "$(nproc)" -ge 2 ] && taskset -p -c 0 "$TF_PID" >/dev/null 2>&1; then
  pin=(taskset -c 1)
  t_log "vtpm on CPU 0, probe on CPU 1"
else
  t_log "one CPU: the probe's spin rarely catches an answer, so this proves less"
fi
for i in 1 2 3; do
  out=$("${pin[@]}" "$TF_PROBE" poll "$TF_SOCK") || tf_fail "run $i: ${out:-no output}"
  t_log "run $i: $out"
done
tf_alive || tf_fail "vtpm exited"
