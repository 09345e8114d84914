#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Hostile frontends against one vtpm's tpmif backend (tpmif_peer front):
# lengths past the mapping or the packet limit, nr_extra_pages pushing
# offset + length past 2^32 (TPM error answers with FINISH); backend-only
# states written by the frontend (disconnected); localities 5 and 255
# (TPM_RC_LOCALITY); an answer never read; header bytes flipped from a
# second thread while CreatePrimary runs; grants of the wrong kind, size or
# seals and malformed handshakes (connection closed, the reason logged);
# frontends vanishing mid-request; reconnects; a flood of notifications
# (megabytes down the event channel); a partial handshake message carrying
# the frontend's own end of the rendezvous connection. After each case the
# vtpm runs, a good client is served and the vtpm holds the fds it held
# before, with no ring mapped. The event channel's own cases (its kind, and
# what is done with it) are test_tpmif_hostile_evtchn.sh's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"
. "$(dirname "$0")/tpmif_hostile.sh"

tf_need_tools
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
th_baseline

# --- the page
th_case len-beyond
th_case extra-overflow
th_case backend-state 1000 'frontend wrote a backend-only state'
th_case locality
th_case reconnect
th_case three-fds

# --- the handshake: refused, connection closed, the reason logged
size='the grant has a bad size'
seals='the grant is resizable'
notmem='the grant is not a memfd'
for c in grant-small grant-empty grant-unaligned grant-big; do th_case "$c" 1000 "$size"; done
for c in grant-unsealed grant-nosealing grant-shrink-only grant-grow-only; do
  th_case "$c" 1000 "$seals"
done
# a file on tmpfs reports seals (F_SEAL_SEAL) like an unsealed memfd
th_case grant-file 1000 "$notmem|$seals"
th_case grant-devzero 1000 "$notmem"
th_case grant-eventfd 1000 "$notmem"
th_case grant-readonly 1000 'cannot map the grant'
th_case grant-write-sealed 1000 'cannot map the grant'
for c in hs-same-index hs-ref-range hs-ref-negative hs-ref-huge hs-no-ref hs-one-fd hs-no-fds; do
  th_case "$c" 1000 'no usable ring-ref/event-channel'
done
th_case hs-no-v2 1000 'lacks feature-protocol-v2=1'
th_case hs-v2-zero 1000 'lacks feature-protocol-v2=1'
th_case hs-bad-state 1000 'handshake message without a valid state'
th_case hs-garbage 1000 'frontend connection closed'
th_case hs-oversize 1000 'frontend connection closed'
th_case hs-partial

# --- an answer nobody reads: others are served meanwhile
"$TH_PEER" front noread "$TF_SOCK" 2000 >"$T_DIR/noread.out" 2>&1 &
peer=$!
sleep 0.3
th_good || tf_fail "[noread] a good client was not served while an answer lay unread"
wait "$peer" || tf_fail "[noread] $(cat "$T_DIR/noread.out")"
th_after noread
t_log "noread: ok"

# --- vanishing with a CreatePrimary in flight; the keys it made are flushed after
for how in exit closed unmap reopen; do
  th_case "disconnect-$how"
  timeout 10 tpm2_flushcontext -T "$TF_TCTI" -t >>"$TH_OUT" 2>&1 ||
    tf_fail "[disconnect-$how] tpm2_flushcontext failed"
done

# --- bytes flipped while the backend copies and while it computes
th_case flip-len 3000
th_case flip-state 3000

# --- a flood of notifications: others are served, the CPU goes back to idle
cpu0=$(th_cpu_ms)
t0=$(date +%s%N)
"$TH_PEER" front flood "$TF_SOCK" 3000 >"$T_DIR/flood.out" 2>&1 &
peer=$!
sleep 0.5
th_good || tf_fail "[flood] tpm2_getrandom was not served during the flood"
wait "$peer" || tf_fail "[flood] $(cat "$T_DIR/flood.out")"
cpu1=$(th_cpu_ms)
wall=$((($(date +%s%N) - t0) / 1000000))
t_log "flood: $(cat "$T_DIR/flood.out"); vtpm CPU ${cpu1}-${cpu0} = $((cpu1 - cpu0)) ms in $wall ms"
[ $((cpu1 - cpu0)) -le $((wall + 100)) ] || tf_fail "[flood] the vtpm used more than one core"
sleep 0.2
cpu2=$(th_cpu_ms)
sleep 1
cpu3=$(th_cpu_ms)
[ $((cpu3 - cpu2)) -le 50 ] ||
  tf_fail "[flood] the vtpm still used $((cpu3 - cpu2)) ms of CPU in the second after the flood"
th_after flood

# --- last, as it may leave the vtpm holding a connection for good: the fds
# of a message that never completes include our own end of the rendezvous
# connection, so the vtpm would hold the peer of its own socket and never
# read EOF once we are gone
th_case hs-partial-self

t_log "all hostile frontend cases passed; the vtpm holds $(tf_fds) fds"
