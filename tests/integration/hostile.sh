# SPDX-License-Identifier: BSD-3-Clause
# Shared by the scenarios that misuse a daemon (test_hostile_*.sh,
# test_state_persistence.sh, test_locality_and_flags.sh): starting one
# daemon, raw TPM commands through tests/tools/tpmsend, misbehaving clients
# from hostile.py, and the check that follows every hostile case: the
# process is alive, a good client is served, and the NV index written at the
# start still holds its bytes. Sourced after lib.sh. Works with any daemon
# taking swtpm's command line, so VTPM=/usr/bin/swtpm runs the same checks.

HOSTILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/hostile.py"
TPMSEND=${TPMSEND:-${BUILD:-}/tpmsend}
[ -x "$TPMSEND" ] || t_fail "tpmsend not found at '$TPMSEND' (build it, or set TPMSEND)"
command -v python3 >/dev/null || t_skip "python3 is not installed"
# The interpreter itself, not a version manager's shim (which can cost
# 0.3 s a start); -I -S: hostile.py needs only the standard library.
H_PYTHON=$(python3 -c 'import sys; print(sys.executable)') || t_fail "python3 does not run"
command -v tpm2_nvread >/dev/null || t_skip "tpm2-tools are not installed"

# The owner-hierarchy NV index every scenario writes first and checks after
# each case (H_NV_WANT: the bytes it must hold, as hex).
H_NV_INDEX=0x01500020
H_NV_SIZE=16
H_NV_WANT=
H_CASE=setup

# h_case NAME: starts a named case; failures and progress lines carry it.
h_case() {
  H_CASE=$1
  t_log "case $H_CASE"
}

# h_fail MSG: t_fail naming the case, after the end of the daemon's log.
h_fail() {
  local f
  for f in "$T_DIR/bg.log" "${H_LOG:-}"; do
    [ -s "$f" ] && tail -n 15 "$f" | sed "s|^|  $(basename "$f"): |" >&2
  done
  t_fail "[$H_CASE] $*"
}

# h_py SUBCOMMAND ARGS...: runs hostile.py.
h_py() { "$H_PYTHON" -I -S "$HOSTILE" "$@"; }

# h_cmd NAME ARGS...: sets C to a TPM 2.0 command as hex (see hostile.py cmd).
h_cmd() { C=$(h_py cmd "$@") || h_fail "cannot build command $*"; }

# h_start unix|tcp [DAEMON ARGS...]: starts $VTPM on $H_DIR (default T_DIR)
# with a data and a control channel, the given extra arguments, a pid file
# and a log; returns once both channels listen and the pid file names the
# process. Sets H_PID, H_ADDR / H_CTRL_ADDR (hostile.py), H_SEND (tpmsend),
# H_TCTI (tpm2-tools), H_IOCTL (swtpm_ioctl), H_LOG, H_PIDFILE, H_STATE.
h_start() {
  local kind=$1 port
  shift
  local d=${H_DIR:-$T_DIR}
  H_STATE="$d/state" H_LOG="$d/vtpm.log" H_PIDFILE="$d/vtpm.pid"
  mkdir -p "$H_STATE"
  rm -f "$H_PIDFILE"
  if [ "$kind" = unix ]; then
    local sock="$d/tpm.sock"
    t_bg "$VTPM" socket --tpm2 --tpmstate dir="$H_STATE" \
      --server type=unixio,path="$sock" --ctrl type=unixio,path="$sock.ctrl" \
      --pid file="$H_PIDFILE" --log file="$H_LOG" "$@"
    H_ADDR="unix:$sock" H_CTRL_ADDR="unix:$sock.ctrl" H_TCTI="swtpm:path=$sock"
    H_SEND=(-u "$sock") H_IOCTL=(--unix "$sock.ctrl")
    H_PID=$T_LAST_PID
    t_wait_for t_unix_listening "$sock" && t_wait_for t_unix_listening "$sock.ctrl" ||
      h_fail "$VTPM did not listen on $sock and $sock.ctrl"
  else
    port=$(t_free_ports 2) || h_fail "no two free TCP ports"
    t_bg "$VTPM" socket --tpm2 --tpmstate dir="$H_STATE" \
      --server type=tcp,port="$port" --ctrl type=tcp,port=$((port + 1)) \
      --pid file="$H_PIDFILE" --log file="$H_LOG" "$@"
    H_ADDR="tcp:127.0.0.1:$port" H_CTRL_ADDR="tcp:127.0.0.1:$((port + 1))"
    H_TCTI="swtpm:host=127.0.0.1,port=$port"
    H_SEND=(-t "127.0.0.1:$port") H_IOCTL=(--tcp "127.0.0.1:$((port + 1))")
    H_PID=$T_LAST_PID
    t_wait_for t_listening "$port" && t_wait_for t_listening $((port + 1)) ||
      h_fail "$VTPM did not listen on ports $port and $((port + 1))"
  fi
  t_wait_for h_pidfile_is "$H_PID" || h_fail "pid file $H_PIDFILE does not hold $H_PID"
}

# h_kill9 PID: kill -9 and reap, without the shell's "Killed" notice.
h_kill9() {
  { kill -KILL "$1"; wait "$1"; } 2>/dev/null
}

h_pidfile_is() { [ "$(cat "$H_PIDFILE" 2>/dev/null)" = "$1" ]; }

# h_tpm HEX...: one command through tpmsend; R is the response as hex.
h_tpm() {
  R=$("$TPMSEND" "${H_SEND[@]}" "$@") || h_fail "tpmsend $* got no response"
}

# h_expect_rc RC [SIZE]: R carries return code RC (8 hex digits) and, if
# given, is SIZE bytes long as its size field says.
h_expect_rc() {
  [ "${R:12:8}" = "$1" ] || h_fail "return code 0x${R:12:8}, want 0x$1: $R"
  if [ $# -ge 2 ]; then
    [ $((16#${R:4:8})) -eq "$2" ] && [ ${#R} -eq $(($2 * 2)) ] ||
      h_fail "response of $((${#R} / 2)) bytes, size field $((16#${R:4:8})), want $2: $R"
  fi
}

# h_getrandom: a good client's raw TPM2_GetRandom(16) succeeds.
h_getrandom() {
  h_cmd getrandom 16
  h_tpm "$C"
  h_expect_rc 00000000 28
  [ "${R:20:4}" = 0010 ] || h_fail "GetRandom returned count 0x${R:20:4}, want 16: $R"
}

# h_nv_read: sets NV to the index's bytes as hex, read by tpm2-tools.
h_nv_read() {
  NV=$(tpm2_nvread -T "$H_TCTI" -C o -s "$H_NV_SIZE" "$H_NV_INDEX" 2>"$T_DIR/nvread.err" |
    xxd -p | tr -d '\n')
  [ -n "$NV" ] || h_fail "tpm2_nvread failed: $(tail -n 2 "$T_DIR/nvread.err")"
}

# h_nv_write HEX: raw TPM2_NV_Write of HEX (H_NV_SIZE bytes) at offset 0.
h_nv_write() {
  h_cmd nvwrite "$H_NV_INDEX" "$1"
  h_tpm "$C"
  h_expect_rc 00000000
  H_NV_WANT=$1
}

# h_nv_setup: defines the index with tpm2-tools and writes a first pattern.
h_nv_setup() {
  tpm2_nvdefine -T "$H_TCTI" -C o -s "$H_NV_SIZE" -a "ownerread|ownerwrite" \
    "$H_NV_INDEX" >/dev/null 2>"$T_DIR/nvdefine.err" ||
    h_fail "tpm2_nvdefine failed: $(tail -n 2 "$T_DIR/nvdefine.err")"
  h_nv_write 00112233445566778899aabbccddeeff
}

# h_healthy: after a hostile case: the process lives, a good client gets
# random bytes, and the NV index still holds H_NV_WANT.
h_healthy() {
  kill -0 "$H_PID" 2>/dev/null || h_fail "daemon (pid $H_PID) died"
  h_getrandom
  h_nv_read
  [ "$NV" = "$H_NV_WANT" ] || h_fail "NV index holds $NV, want $H_NV_WANT"
  t_log "ok $H_CASE: daemon alive, a good client served, NV intact"
}

# h_talk ADDR HEX [OPTIONS]: hostile.py talk; sets GOT (the bytes received,
# hex, "-" for none), END and ELAPSED.
h_talk() {
  local out
  out=$(h_py talk "$@") || h_fail "hostile.py talk failed: $out"
  h_talk_parse "$out"
}

h_talk_parse() {
  [[ $1 =~ ^reply=([0-9a-f-]+)\ end=([a-z]+)\ elapsed=([0-9.]+)$ ]] ||
    h_fail "hostile.py talk printed '$1'"
  GOT=${BASH_REMATCH[1]} END=${BASH_REMATCH[2]} ELAPSED=${BASH_REMATCH[3]}
}

# h_bg_py OUT SUBCOMMAND ARGS...: hostile.py in the background, its output
# in OUT; BG_PID is its pid (killed at exit like every t_bg process).
h_bg_py() {
  local out=$1
  shift
  "$H_PYTHON" -I -S "$HOSTILE" "$@" >"$out" 2>&1 &
  BG_PID=$!
  T_PIDS+=("$BG_PID")
}

# h_bg_talk_result PID OUT: waits for a background talk (bounded by its own
# --timeout) and parses its output like h_talk.
h_bg_talk_result() {
  wait "$1" || h_fail "hostile.py talk failed: $(cat "$2")"
  h_talk_parse "$(cat "$2")"
}

# h_secs_between X LO HI: LO <= X <= HI for decimal seconds.
h_secs_between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# Error response a framing violation gets: tag 0x8001, size 10,
# TPM_RC_COMMAND_SIZE.
H_RSP_COMMAND_SIZE=80010000000a00000142
