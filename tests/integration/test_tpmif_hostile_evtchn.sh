#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The event channel, attacked from both ends. It is one end of a connected
# Unix stream socketpair that the frontend creates and passes to the
# backend (SCM_RIGHTS), used in both directions: a notification is a byte.
# Against the vtpm (tpmif_peer front evtchn-*):
#   what is passed: an eventfd, a pipe, a memfd, /dev/null, a UDP socket, a
#     Unix datagram or seqpacket pair, a TCP connection, a listening or an
#     unconnected Unix stream socket, a pair whose other end is closed, the
#     rendezvous connection itself, or two connections' ends crosswise:
#     refused (connection closed, the reason logged), nothing held after;
#   evtchn-flood     megabytes of notifications while a good client is
#                    served (each answer within 2 s, the vtpm at most one
#                    core), then the flooder idles connected: so must the vtpm;
#   evtchn-full      the frontend never reads its end, then fills it to the
#                    brim, so the vtpm's notify meets an unread byte or a full
#                    buffer (EAGAIN): requests are still answered;
#   evtchn-blocking  O_NONBLOCK cleared on both ends (we keep a copy of the
#                    passed end: one open file description) and the vtpm's
#                    direction filled: its notify must not block;
#   evtchn-steal     a blocking thread of ours reads the vtpm's end: its
#                    drain must not block when we took the byte first;
#   evtchn-close, evtchn-shutdown-wr, evtchn-shutdown-both: the channel dies
#                    under a connected ring: the vtpm must not busy-loop on an
#                    end that polls readable for ever, and serves others.
# Against libtpmfront (tpmif_peer back evtchn-*, a fake backend): a flood,
# a backend that never reads (our notify meets EAGAIN), descriptors passed
# over the channel, the channel closed or shut down, the backend gone:
# tpmfront_recv returns on time (ETIMEDOUT) or with EPIPE, never blocks
# past its timeout (or, with none, spins for ever), leaks no fd.
# Each vtpm case that fails is followed by a fresh vtpm (a wedged one is
# killed); all cases run, and the script fails naming every one that failed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"
. "$(dirname "$0")/tpmif_hostile.sh"

tf_need_tools
failed=()
need_fresh=1
wedged=0

# fresh: a new vtpm on the same state; the old one stopped, or killed if
# the last case left it wedged (it would never read its SIGTERM).
fresh() {
  if [ -n "${TF_PID:-}" ] && tf_alive; then
    if [ "$wedged" -eq 1 ]; then
      { kill -KILL "$TF_PID"; wait "$TF_PID"; } 2>/dev/null
    else
      t_stop "$TF_PID"
    fi
  fi
  wedged=0
  need_fresh=0
  tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
  th_baseline
}

# verdict CASE T0 MSG...: records a failure (MSG non-empty) or a pass.
verdict() {
  local c=$1 t0=$2; shift 2
  if [ -n "$*" ]; then
    failed+=("$c")
    need_fresh=1
    t_log "$c: FAILED ($((SECONDS - t0)) s): $*"
  else
    t_log "$c: ok ($((SECONDS - t0)) s)${TH_SAID:+: $(echo "$TH_SAID" | tail -n 1)}"
  fi
}

# check_vtpm: th_after's checks; sets msg (empty: fine) and wedged.
check_vtpm() {
  if ! tf_alive; then
    msg="the vtpm exited"
  elif ! th_good; then
    wedged=1
    msg="a good client was not served afterwards (vtpm blocked in $(tr -d '\0' <"/proc/$TF_PID/wchan" 2>/dev/null))"
  elif ! t_wait_for tf_is_baseline "$TH_FDS"; then
    msg="the vtpm holds $(tf_fds) fds (before: $TH_FDS) and $(tf_rings) rings"
  fi
}

# --- vtpm: what the frontend passes as its event channel
refused='the event channel is not'
for c in evtchn-eventfd evtchn-pipe evtchn-memfd evtchn-devnull evtchn-udp evtchn-dgram \
         evtchn-seqpacket evtchn-tcp evtchn-listen evtchn-unconnected evtchn-peer-closed \
         evtchn-rendezvous evtchn-cross; do
  [ "$need_fresh" -eq 1 ] && fresh
  t0=$SECONDS
  n0=$(grep -cE "$refused" "$TF_LOG")
  th_peer front "$c" "$TF_SOCK"
  msg=
  [ "$TH_RC" -eq 0 ] || msg="tpmif_peer exited $TH_RC: $TH_SAID"
  [ -z "$msg" ] && [ "$(grep -cE "$refused" "$TF_LOG")" -le "$n0" ] &&
    msg="the vtpm did not log /$refused/"
  [ -z "$msg" ] && check_vtpm
  verdict "vtpm $c" "$t0" "$msg"
done

# --- vtpm: a flood, then the flooder idle but connected
[ "$need_fresh" -eq 1 ] && fresh
t0=$SECONDS
cpu0=$(th_cpu_ms)
w0=$(date +%s%N)
th_peer front evtchn-flood "$TF_SOCK" 3000
cpu1=$(th_cpu_ms)
wall=$((($(date +%s%N) - w0) / 1000000))
msg=
[ "$TH_RC" -eq 0 ] || msg="tpmif_peer exited $TH_RC: $TH_SAID"
[ -z "$msg" ] && [ $((cpu1 - cpu0)) -gt $((wall + 100)) ] &&
  msg="the vtpm used $((cpu1 - cpu0)) ms of CPU in $wall ms: more than one core"
[ -z "$msg" ] && check_vtpm
verdict "vtpm evtchn-flood" "$t0" "$msg"

# --- vtpm: an end never read, blocking ends, a stolen notification
for c in evtchn-full evtchn-blocking evtchn-steal; do
  [ "$need_fresh" -eq 1 ] && fresh
  t0=$SECONDS
  th_peer front "$c" "$TF_SOCK" 3000
  msg=
  [ "$TH_RC" -eq 0 ] || { msg="tpmif_peer exited $TH_RC: $TH_SAID"; wedged=1; }
  [ -z "$msg" ] && check_vtpm
  verdict "vtpm $c" "$t0" "$msg"
done

# --- vtpm: the channel dies under a connected ring; a good client meanwhile
for c in evtchn-close evtchn-shutdown-wr evtchn-shutdown-both; do
  [ "$need_fresh" -eq 1 ] && fresh
  t0=$SECONDS
  "$TH_PEER" front "$c" "$TF_SOCK" >"$T_DIR/dead.out" 2>&1 &
  peer=$!
  sleep 0.8
  good=1
  th_good || good=0
  wait "$peer"
  TH_RC=$?
  TH_SAID=$(cat "$T_DIR/dead.out")
  cat "$T_DIR/dead.out" >>"$TH_OUT"
  msg=
  [ "$TH_RC" -eq 0 ] || msg="tpmif_peer exited $TH_RC: $TH_SAID"
  [ -z "$msg" ] && [ "$good" -eq 0 ] && msg="a good client was not served while the channel was dead"
  [ -z "$msg" ] && check_vtpm
  verdict "vtpm $c" "$t0" "$msg"
done

# --- libtpmfront against a fake backend
for c in $("$TH_PEER" list back | grep '^evtchn-'); do
  t0=$SECONDS
  th_peer back "$c" "$T_DIR"
  msg=
  [ "$TH_RC" -eq 0 ] || msg="tpmif_peer exited $TH_RC: $TH_SAID"
  verdict "libtpmfront $c" "$t0" "$msg"
done

# a wedged vtpm would hold up the cleanup's SIGTERM for 5 s
[ "$wedged" -eq 1 ] && { kill -KILL "$TF_PID"; wait "$TF_PID"; } 2>/dev/null
[ ${#failed[@]} -eq 0 ] || t_fail "failed: ${failed[*]}"
