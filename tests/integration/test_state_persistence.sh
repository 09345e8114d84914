#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# State on disk. An NV write that was answered survives kill -9 of the
# daemon (the state is durable before the response), also when the kill
# lands in the middle of a stream of writes. A state file with a flipped
# byte, a flipped digest byte, cut in half, emptied or with a byte appended
# stops the daemon from starting: non-zero exit, an error naming the file,
# and the file byte-identical afterwards, with no file added; under QEMU's
# flow (no --flags) CMD_INIT fails instead and works once the good copy is
# back. The good copy starts and holds the data. A second daemon on the
# same state directory (same sockets, same pid file) is refused while the
# first runs, and leaves the first one running, serving and named by its
# pid file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

FLAGS=(--flags not-need-init,startup-clear)
PERMALL=tpm2-permall

h_start unix "${FLAGS[@]}"
h_nv_setup
h_healthy

h_case "answered NV write survives kill -9"
h_nv_write 0f1e2d3c4b5a69788796a5b4c3d2e1f0
h_kill9 "$H_PID"
h_start unix "${FLAGS[@]}"
h_healthy

h_case "kill -9 during a stream of NV writes keeps every answered write"
mapfile -t writes < <(for i in $(seq 300); do
  echo "nvwrite $H_NV_INDEX $(printf '%032x' "$i")"
done | h_py cmds)
[ ${#writes[@]} -eq 300 ] || h_fail "cannot build the NV writes"
# acked: the number of the last write answered with success (renamed into
# place, so a reader never sees it empty)
(
  for i in "${!writes[@]}"; do
    r=$("$TPMSEND" "${H_SEND[@]}" "${writes[$i]}" 2>/dev/null) || exit 0
    if [ "${r:12:8}" != 00000000 ]; then
      echo "write $((i + 1)) answered $r" >"$T_DIR/writer.err"
      exit 1
    fi
    echo $((i + 1)) >"$T_DIR/acked.tmp" && mv "$T_DIR/acked.tmp" "$T_DIR/acked"
  done
) &
writer=$!
T_PIDS+=("$writer")
acked_at_least() { [ "$(cat "$T_DIR/acked" 2>/dev/null || echo 0)" -ge "$1" ]; }
# let a few dozen writes through, then kill mid-stream
t_wait_for acked_at_least 40 || h_fail "fewer than 40 NV writes answered in 10 s"
h_kill9 "$H_PID"
wait "$writer" || h_fail "$(cat "$T_DIR/writer.err")"
acked=$(cat "$T_DIR/acked")
[ "$acked" -lt 300 ] || h_fail "all 300 writes done before the kill; the kill tested nothing"
h_start unix "${FLAGS[@]}"
h_nv_read
# the last answered write, or the one in flight when the daemon died
[ "$NV" = "$(printf '%032x' "$acked")" ] || [ "$NV" = "$(printf '%032x' $((acked + 1)))" ] ||
  h_fail "after kill -9 with write $acked answered, the index holds $NV"
t_log "write $acked answered before the kill; the index holds write $((16#${NV:24}))"
H_NV_WANT=$NV
h_healthy

t_stop "$H_PID" || h_fail "daemon ignored SIGTERM"
wait "$H_PID" 2>/dev/null
mkdir -p "$T_DIR/good"
cp -p "$H_STATE/$PERMALL" "$T_DIR/good/" || h_fail "no $PERMALL in $H_STATE: $(ls -A "$H_STATE")"
size=$(stat -c %s "$T_DIR/good/$PERMALL")

# flip FILE OFFSET: inverts one byte in place.
flip() {
  local b
  b=$(xxd -s "$2" -l 1 -p "$1")
  printf "\\x$(printf %02x $((0x$b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# refused NAME: the daemon, started on the damaged state, exits non-zero
# naming the file, and changes nothing in the state directory.
refused() {
  h_case "$1"
  local before listing pid rc lines
  before=$(sha256sum <"$H_STATE/$PERMALL")
  listing=$(ls -A "$H_STATE")
  lines=$(wc -l <"$H_LOG")
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$H_STATE" \
    --server type=unixio,path="$T_DIR/tpm.sock" --ctrl type=unixio,path="$T_DIR/tpm.sock.ctrl" \
    --pid file="$H_PIDFILE" --log file="$H_LOG" "${FLAGS[@]}"
  pid=$T_LAST_PID
  t_wait_for h_gone "$pid" || h_fail "daemon started on the damaged $PERMALL"
  wait "$pid"
  rc=$?
  [ $rc -ne 0 ] || h_fail "daemon exited 0 on the damaged $PERMALL"
  tail -n +$((lines + 1)) "$H_LOG" | grep -q "$PERMALL" ||
    h_fail "log does not name $PERMALL: $(tail -n +$((lines + 1)) "$H_LOG")"
  [ "$(sha256sum <"$H_STATE/$PERMALL")" = "$before" ] || h_fail "$PERMALL was changed"
  [ "$(ls -A "$H_STATE")" = "$listing" ] ||
    h_fail "state directory was $listing, is now $(ls -A "$H_STATE")"
  t_log "ok $H_CASE: exit $rc, $PERMALL untouched"
  cp -p "$T_DIR/good/$PERMALL" "$H_STATE/$PERMALL"
}

h_gone() { ! kill -0 "$1" 2>/dev/null; }

flip "$H_STATE/$PERMALL" $((size / 2))
refused "byte flipped in the middle of $PERMALL"
flip "$H_STATE/$PERMALL" $((size - 1))
refused "last digest byte of $PERMALL flipped"
flip "$H_STATE/$PERMALL" 0
refused "magic of $PERMALL flipped"
truncate -s $((size / 2)) "$H_STATE/$PERMALL"
refused "$PERMALL truncated to half"
truncate -s $((size - 1)) "$H_STATE/$PERMALL"
refused "$PERMALL one byte short"
: >"$H_STATE/$PERMALL"
refused "$PERMALL empty"
printf '\0' >>"$H_STATE/$PERMALL"
refused "$PERMALL with a byte appended"

h_case "QEMU flow: CMD_INIT refused on a damaged $PERMALL, works once it is restored"
flip "$H_STATE/$PERMALL" $((size / 3))
before=$(sha256sum <"$H_STATE/$PERMALL")
h_start unix
! swtpm_ioctl "${H_IOCTL[@]}" -i >/dev/null 2>&1 ||
  h_fail "CMD_INIT succeeded on a damaged $PERMALL"
h_cmd getrandom 16
h_tpm "$C"
[ "${R:12:8}" != 00000000 ] || h_fail "TPM answered after a failed CMD_INIT: $R"
[ "$(sha256sum <"$H_STATE/$PERMALL")" = "$before" ] || h_fail "$PERMALL was changed"
kill -0 "$H_PID" || h_fail "daemon died on a failed CMD_INIT"
cp -p "$T_DIR/good/$PERMALL" "$H_STATE/$PERMALL"
swtpm_ioctl "${H_IOCTL[@]}" -i >/dev/null || h_fail "CMD_INIT failed on the restored $PERMALL"
h_cmd startup clear
h_tpm "$C"
h_expect_rc 00000000
h_healthy
t_stop "$H_PID" || h_fail "daemon ignored SIGTERM"

h_case "good copy restored: starts, data there"
h_start unix "${FLAGS[@]}"
h_healthy

h_case "second daemon on the same state directory is refused"
second_log="$T_DIR/second.log"
t_bg "$VTPM" socket --tpm2 --tpmstate dir="$H_STATE" \
  --server type=unixio,path="$T_DIR/tpm.sock" --ctrl type=unixio,path="$T_DIR/tpm.sock.ctrl" \
  --pid file="$H_PIDFILE" --log file="$second_log" "${FLAGS[@]}"
second=$T_LAST_PID
t_wait_for h_gone "$second" || h_fail "second daemon (pid $second) still running"
wait "$second"
rc=$?
[ $rc -ne 0 ] || h_fail "second daemon exited 0"
grep -qF "$H_STATE" "$second_log" ||
  h_fail "second daemon's log does not name $H_STATE: $(cat "$second_log")"
t_log "second daemon: exit $rc, $(tail -n 1 "$second_log")"
kill -0 "$H_PID" || h_fail "first daemon died"
h_healthy
h_pidfile_is "$H_PID" ||
  h_fail "pid file $H_PIDFILE holds '$(cat "$H_PIDFILE" 2>/dev/null)'," \
    "want the first daemon's $H_PID: the refused one removed it"
