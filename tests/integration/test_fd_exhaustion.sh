#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A vtpm out of descriptors does not spin, and its connection cap holds.
# For each kind of listener (data on a Unix socket, tpmif rendezvous, mssim
# command port on TCP) a vtpm serving only that listener gets
# RLIMIT_NOFILE 24 (prlimit on the running process) and a client opens 64
# connections: the vtpm takes what its descriptors allow, and the rest wait
# in the listener's queue, which stays readable. Over the next 2 s the
# vtpm's CPU time (utime+stime, /proc/PID/stat) must grow by less than
# 0.1 s and its log by less than 16 KiB: a busy-loop detector with a wide
# margin (the old accept loop burned the whole 2 s and wrote megabytes of
# "Too many open files"), not a performance threshold. Once the client
# closes them, a new connection is served. Then the cap: a vtpm with
# --max-connections 3 and 3 connections open closes a 4th, 5th and 6th at
# once (their clients read EOF) and logs that once; when one of the 3
# closes, a new client is served.
. "$(dirname "$0")/lib.sh"

CONNS="$(dirname "$0")/conns.py"
command -v prlimit >/dev/null || t_skip "prlimit (util-linux) is not installed"
hz=$(getconf CLK_TCK)
NOFILE=24

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
exhausted() { [ "$(fd_count "$1")" -ge "$NOFILE" ]; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# start_vtpm NAME ARGS...: a vtpm serving ARGS; sets PID and LOG.
start_vtpm() {
  local name=$1; shift
  mkdir -p "$T_DIR/$name"
  LOG="$T_DIR/$name.log"
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/$name" --flags not-need-init,startup-clear \
    --pid file="$T_DIR/$name.pid" --log file="$LOG" "$@"
  PID=$T_LAST_PID
  t_wait_for test -s "$T_DIR/$name.pid" || t_fail "$name: the vtpm did not start: $(tail -n 3 "$LOG")"
}

# hold ADDR N: a client holding up to N connections; sets HOLDER.
hold() {
  rm -f "$T_DIR/held"
  python3 "$CONNS" hold "$1" "$2" "$T_DIR/held" &
  HOLDER=$!
  T_PIDS+=("$HOLDER")
  t_wait_for test -s "$T_DIR/held" || t_fail "the client could not connect to $1"
}

unhold() { kill "$HOLDER"; wait "$HOLDER" 2>/dev/null; }

# exhaust NAME ADDR PROBE...: the exhaustion scenario against one listener.
exhaust() {
  local name=$1 addr=$2 before after used grew; shift 2
  prlimit --pid "$PID" --nofile=$NOFILE:$NOFILE || t_fail "prlimit on pid $PID failed"
  hold "$addr" 64
  t_wait_for exhausted "$PID" || t_fail "$name: the vtpm holds $(fd_count "$PID") fds, never $NOFILE"
  sleep 0.2
  before=$(cpu_ticks "$PID"); grew=$(size "$LOG")
  sleep 2
  after=$(cpu_ticks "$PID"); grew=$(($(size "$LOG") - grew))
  kill -0 "$PID" || t_fail "$name: the vtpm died out of descriptors"
  used=$((after - before))
  t_log "$name: out of descriptors for 2 s: $used CPU ticks (of $((2 * hz))), log +$grew bytes"
  [ "$used" -lt $((hz / 10)) ] ||
    t_fail "$name: the vtpm used $used of $hz ticks/s over 2 s out of descriptors: it spins"
  [ "$grew" -lt 16384 ] || t_fail "$name: the vtpm's log grew by $grew bytes in 2 s out of descriptors"
  unhold
  t_wait_for python3 "$CONNS" "$@" || t_fail "$name: not served again once the connections closed"
  t_stop "$PID" || t_fail "$name: the vtpm ignored SIGTERM"
}

start_vtpm data --server type=unixio,path="$T_DIR/data.sock"
exhaust data "$T_DIR/data.sock" tpm "$T_DIR/data.sock"

start_vtpm tpmif --tpmif path="$T_DIR/tpmif.sock"
exhaust tpmif "$T_DIR/tpmif.sock" hello "$T_DIR/tpmif.sock"

port=$(t_free_ports 2) || t_fail "no two free ports"
start_vtpm mssim --mssim port="$port"
t_wait_for t_listening "$port" || t_fail "mssim: not listening on $port"
exhaust mssim "127.0.0.1:$port" tpm "127.0.0.1:$port" mssim

t_log "--max-connections 3: more are closed at once, logged once"
start_vtpm cap --server type=unixio,path="$T_DIR/cap.sock" --max-connections 3
hold "$T_DIR/cap.sock" 3
[ "$(cat "$T_DIR/held")" = 3 ] || t_fail "the client opened $(cat "$T_DIR/held") of 3 connections"
python3 "$CONNS" refused "$T_DIR/cap.sock" 3
rc=$?
[ $rc -eq 0 ] || t_fail "connections 4 to 6 beyond the cap of 3 were not closed at once (conns.py: $rc)"
lines=$(grep -c 'the most allowed' "$LOG")
[ "$lines" = 1 ] || t_fail "the cap was logged $lines times, want once: $(grep 'the most allowed' "$LOG")"
unhold
t_wait_for python3 "$CONNS" tpm "$T_DIR/cap.sock" || t_fail "not served again below the cap"
"$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/x" --server type=unixio,path="$T_DIR/x.sock" \
  --max-connections x 2>/dev/null && t_fail "--max-connections x was accepted"
t_log "ok"
