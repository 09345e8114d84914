#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/run_mgr.sh: the manager's side of the benchmark, run at the end of
# bench/run.sh (or alone).  A stand-in hardware TPM (swtpm on loopback TCP)
# under vtpmmgr, vTPMs started through vtpmctl, and next to them `swtpm
# socket` and a standalone `vtpm socket`:
#   1. hardware TPM commands per vTPM start and per recorded state write
#   2. start-to-ready time (fresh and existing state)
#   3. durable NV_Write latency
#   4. private memory per idle vTPM
#   5. density: BENCH_DENSITY vTPMs (default 1000) under one manager
# A report, not a test: no thresholds.  Everything runs in a temporary
# directory; it kills only what it started, by pid: its daemons and
# managers, and at the end any vtpm left running our binary with one of
# the UUIDs it created (the manager stops its vtpms itself first).
#
# Usage: bench/run_mgr.sh BUILD_DIR
# Environment: SWTPM_BIN (default: swtpm on PATH); BENCH_ARGS (-q: a quick
#   run); BENCH_CPU (sections 1-4 run pinned to this CPU, as run.sh does;
#   "none" to not pin; the density run is never pinned); BENCH_STARTS
#   (starts per variant in section 2, default 11, 5 with -q); BENCH_DENSITY
#   (vTPMs in section 5, default 1000, 100 with -q; 0 skips it);
#   BENCH_DENSITY_TIMEOUT (seconds each density phase may take, default 300).
#
# Needs root: the manager's control socket is root's only and every vtpm
# runs under a uid of its own.

set -u
export LC_ALL=C # EPOCHREALTIME and printf use a '.' decimal point
build=${1:?usage: bench/run_mgr.sh BUILD_DIR}
BUILD=$(cd "$build" && pwd) || exit 1
t_start=$SECONDS

bench=$BUILD/bench_tpm
mgr_bin=$BUILD/vtpmmgr
ctl_bin=$BUILD/vtpmctl
vtpm_bin=$BUILD/vtpm
for f in "$bench" "$mgr_bin" "$ctl_bin" "$vtpm_bin"; do
  [ -x "$f" ] || { echo "bench-mgr: $f not built" >&2; exit 1; }
done
swtpm_bin=${SWTPM_BIN:-$(command -v swtpm || true)}
[ -n "$swtpm_bin" ] && [ -x "$swtpm_bin" ] ||
  { echo "bench-mgr: swtpm not found (apt-get install swtpm)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  echo "bench-mgr: skipped: vtpmmgr needs root (control socket, a uid per vtpm)" >&2
  exit 0
fi
vtpm_exe=$(readlink -f "$vtpm_bin")

quick=0
[[ " ${BENCH_ARGS:-} " == *" -q "* ]] && quick=1
starts=${BENCH_STARTS:-$((quick ? 5 : 11))}
density=${BENCH_DENSITY:-$((quick ? 100 : 1000))}
density_timeout=${BENCH_DENSITY_TIMEOUT:-300}
ready_ms=10000 # one vTPM's start-to-ready bound

cpu=${BENCH_CPU:-$(taskset -cp $$ 2>/dev/null | sed 's/.*: //; s/.*[,-]//')}
pin=()
if [ "$cpu" != none ] && [ -n "$cpu" ] && taskset -c "$cpu" true 2>/dev/null; then
  pin=(taskset -c "$cpu")
else
  cpu=none
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-bench-mgr.XXXXXX") || exit 1

pids=()     # daemons started here, until reaped
mgr_pids=() # managers started here, until reaped: they get longer to stop
uuids=$dir/uuids # every vTPM created here, one UUID a line
: >"$uuids"

is_vtpm() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$vtpm_exe" ]; }

# forget PID: a reaped pid leaves the lists, so that cleanup never signals
# a number the kernel may have handed to someone else since.
forget() {
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
  keep=()
  for p in "${mgr_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  mgr_pids=("${keep[@]}")
}

# our_vtpms: pids of running vtpms of our binary named (--name) after a
# vTPM created here; the managers pass the UUID.
our_vtpms() {
  local p name
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    is_vtpm "$p" || continue
    name=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | sed -n '/^--name$/{n;p;q}')
    [ -n "$name" ] && grep -qxF "$name" "$uuids" && echo "$p"
  done
}

# stop_pid PID [TENTHS]: SIGTERM, a bounded wait (default 5 s), then SIGKILL.
stop_pid() {
  local n=${2:-50}
  kill -TERM "$1" 2>/dev/null || return 0
  for ((k = 0; k < n * 2; k++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null
}

cleanup() {
  local pid
  for pid in "${mgr_pids[@]}"; do stop_pid "$pid" 600; done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  for pid in $(our_vtpms); do kill -KILL "$pid"; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- helpers ---------------------------------------------------------------

# now_us: wall clock in microseconds, without a fork.
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# ms_since T0_US [T1_US]: milliseconds, 1 decimal.
ms_since() { awk -v a="$1" -v b="${2:-$(now_us)}" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# median: of the numbers on stdin ("-" when none).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf (m == int(m) ? "%d\n" : "%.1f\n"), m }'
}

# mem_kb PID: "RSS PRIVATE" in kB from smaps_rollup.
mem_kb() {
  awk '/^Rss:/ { r = $2 } /^Private_(Clean|Dirty):/ { p += $2 }
       END { if (r == "") print "? ?"; else printf "%d %d\n", r, p }' \
    "/proc/$1/smaps_rollup" 2>/dev/null || echo "? ?"
}

# dir_bytes DIR: the sizes of the regular files in DIR, summed.
dir_bytes() { find "$1" -maxdepth 1 -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

port_free() { ! ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .; }

# free_ports: the first of two free consecutive loopback ports below 32768.
free_ports() {
  local p
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % 22000))
    port_free "$p" && port_free $((p + 1)) && { echo "$p"; return 0; }
  done
  return 1
}

# wait_ready US_VAR SOCKET...: bench_tpm -w; sets the named variable to the
# time (us) the last socket answered a GetRandom.  Returns bench_tpm's status.
wait_ready() {
  local var=$1 out rc
  shift
  out=$("$bench" -w "$ready_ms" "$@")
  rc=$?
  printf -v "$var" '%s' "$(awk -F'\t' '$1 == "ready" && $3 > m { m = $3 } END { printf "%.0f\n", m }' <<<"$out")"
  [ $rc -eq 0 ] || awk -F'\t' '$1 == "notready" { print "bench-mgr: " $2 ": " $3 }' <<<"$out" >&2
  return $rc
}

# hw_start NAME: swtpm as the stand-in hardware TPM on free loopback ports;
# sets hw_pid and hw_tcti.
hw_start() {
  local port
  port=$(free_ports) || { echo "bench-mgr: no two free ports" >&2; exit 1; }
  mkdir -p "$dir/$1.hw"
  "$swtpm_bin" socket --tpm2 --tpmstate dir="$dir/$1.hw" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear >>"$dir/$1.hw.log" 2>&1 &
  hw_pid=$!
  pids+=("$hw_pid")
  hw_tcti="swtpm:host=127.0.0.1,port=$port"
  for _ in $(seq 200); do
    ! port_free "$port" && return 0
    kill -0 "$hw_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench-mgr: the stand-in hardware TPM did not start:" >&2
  tail -n 5 "$dir/$1.hw.log" >&2
  exit 1
}

# mgr_start NAME [PREFIX...]: the manager on the hardware TPM of hw_start,
# data and run directories under $dir/NAME; sets mgr_pid, mgr_log,
# VTPMMGR_SOCKET.  Returns once the pid file names it.
mgr_start() {
  local name=$1
  shift
  mgr_log=$dir/$name.mgr.log
  "$@" "$mgr_bin" -c /dev/null --data-dir "$dir/$name.data" --run-dir "$dir/$name.run" \
    --tcti "$hw_tcti" --vtpm "$vtpm_bin" --log "$mgr_log" --pid "$dir/$name.pid" \
    >>"$mgr_log" 2>&1 &
  mgr_pid=$!
  mgr_pids+=("$mgr_pid")
  export VTPMMGR_SOCKET=$dir/$name.run/control.sock
  for _ in $(seq 400); do
    [ "$(cat "$dir/$name.pid" 2>/dev/null)" = "$mgr_pid" ] && [ -S "$VTPMMGR_SOCKET" ] && return 0
    kill -0 "$mgr_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench-mgr: vtpmmgr did not start; its log:" >&2
  tail -n 10 "$mgr_log" >&2
  exit 1
}

# mgr_stop: SIGTERM (the manager stops its vtpms first), bounded wait.
mgr_stop() {
  stop_pid "$mgr_pid" 600
  wait "$mgr_pid" 2>/dev/null
  forget "$mgr_pid"
}

ctl() { timeout 60 "$ctl_bin" "$@"; }

# status_field KEY: a number from vtpmctl --json status.
status_field() { ctl --json status 2>/dev/null | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }

# counts: "HW_COMMANDS STORE_VERSION" from one vtpmctl status (one reply:
# a vtpm's commit cannot land between the two).
counts() {
  local j
  j=$(ctl --json status 2>/dev/null) || return 1
  echo "$(grep -o '"hw_commands":[0-9]*' <<<"$j" | cut -d: -f2)" \
    "$(grep -o '"store_version":[0-9]*' <<<"$j" | cut -d: -f2)"
}

# vtpm_pid UUID: the running vtpm's pid according to the manager, else 0.
vtpm_pid() { ctl --json show "$1" | grep -o '"pid":[0-9]*' | cut -d: -f2; }

# create NAME: a TPM 2.0 vTPM on unix sockets $dir/sock/NAME.{sock,ctrl};
# prints its UUID.
create() {
  local id
  mkdir -p "$dir/sock"
  id=$(ctl create --dev "server=unix:$dir/sock/$1.sock,ctrl=unix:$dir/sock/$1.ctrl,flags=startup-clear") ||
    return 1
  echo "$id" >>"$uuids"
  echo "$id"
}

# mgr_fail WHAT: a vTPM under the manager misbehaved: say so, show the log.
mgr_fail() {
  echo "bench-mgr: $1; the manager's log ends:" >&2
  tail -n 8 "$mgr_log" >&2
  if grep -q 'crashed: signal 31' "$mgr_log"; then
    echo "bench-mgr: signal 31 is SIGSYS: the vtpm's seccomp filter (src/vtpmmgr/sandbox.c) killed it;" \
      "dmesg names the system call (audit type=1326)" >&2
  fi
  exit 1
}

# serving_count UUID: how often the vtpm of UUID logged that it serves.
serving_count() { grep -c "vtpm\[$1\] info: serving" "$mgr_log"; }

# ---- the machine -----------------------------------------------------------

echo
echo "==== vtpmmgr: vTPMs under the manager ===="
echo "vtpm: $vtpm_bin, swtpm: $swtpm_bin $("$swtpm_bin" --version 2>/dev/null | sed -n 's/.*version \([^,]*\),.*/\1/p'), libtpms $(dpkg-query -W -f '${Version}' libtpms0 2>/dev/null || echo '?')"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo);" \
  "sections 1-4 pinned to CPU $cpu; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. hardware TPM commands ---------------------------------------------

hw_start m
mgr_start m "${pin[@]}"
read -r hc0 sc0 <<<"$(counts)"
u=$(create hw) || mgr_fail "vtpmctl create failed"
read -r hc1 sc1 <<<"$(counts)"
sock=$dir/sock/hw.sock

# the state exists: started, answered, stopped once
ctl start "$u" >/dev/null || mgr_fail "vtpmctl start failed"
wait_ready ignored "$sock" || mgr_fail "the first vTPM under the manager never answered"
ctl stop "$u" >/dev/null || mgr_fail "vtpmctl stop failed"

# cycle: hw commands and store commits at each phase of a start of an
# existing vTPM; rows of "phase hw commits" per cycle into $dir/hw.tsv
hw_cycles=3
for ((c = 1; c <= hw_cycles; c++)); do
  n0=$(serving_count "$u")
  read -r h0 s0 <<<"$(counts)"
  ctl start "$u" >/dev/null || mgr_fail "vtpmctl start failed"
  read -r h1 s1 <<<"$(counts)"
  for _ in $(seq 200); do [ "$(serving_count "$u")" -gt "$n0" ] && break; sleep 0.05; done
  [ "$(serving_count "$u")" -gt "$n0" ] || mgr_fail "the vtpm did not log that it serves"
  read -r h2 s2 <<<"$(counts)"
  wait_ready ignored "$sock" || mgr_fail "the vTPM did not answer GetRandom"
  read -r h3 s3 <<<"$(counts)"
  ctl stop "$u" >/dev/null || mgr_fail "vtpmctl stop failed"
  read -r h4 s4 <<<"$(counts)"
  printf 'start\t%d\t%d\n' $((h1 - h0)) $((s1 - s0))
  printf 'serving\t%d\t%d\n' $((h2 - h1)) $((s2 - s1))
  printf 'getrandom\t%d\t%d\n' $((h3 - h2)) $((s3 - s2))
  printf 'total\t%d\t%d\n' $((h3 - h0)) $((s3 - s0))
  printf 'stop\t%d\t%d\n' $((h4 - h3)) $((s4 - s3))
done >"$dir/hw.tsv"

# per recorded state write: NV_Writes on a running vTPM, one per bench_tpm
# -c run (its NV_DefineSpace, refused after the first, writes nothing)
ctl start "$u" >/dev/null || mgr_fail "vtpmctl start failed"
wait_ready ignored "$sock" || mgr_fail "the vTPM did not answer GetRandom"
"$bench" -c -o nv_write "mgr=unix:$sock" >/dev/null || mgr_fail "NV_Write on the vTPM failed"
nv_writes=10
read -r h0 s0 <<<"$(counts)"
for ((k = 0; k < nv_writes; k++)); do
  "$bench" -c -o nv_write "mgr=unix:$sock" >/dev/null || mgr_fail "NV_Write on the vTPM failed"
done
read -r h1 s1 <<<"$(counts)"
nv_hw=$((h1 - h0)) nv_commits=$((s1 - s0))

echo
echo "1. Hardware TPM commands (vtpmctl status hw_commands) per vTPM start, existing state"
printf '   %-44s| %-14s| %s\n' "phase (deltas; one column per cycle)" "hw commands" "store commits"
awk -F'\t' -v n="$hw_cycles" '
BEGIN {
  label["start"] = "vtpmctl start returned"
  label["serving"] = "then: the vtpm serves (its log line)"
  label["getrandom"] = "then: first GetRandom answered"
  label["total"] = "per start, until the first answer"
  label["stop"] = "vtpmctl stop (for reference)"
}
{ if (!($1 in h)) order[++k] = $1; h[$1] = h[$1] sprintf("%3d", $2); s[$1] = s[$1] sprintf("%3d", $3) }
END { for (i = 1; i <= k; i++) printf "   %-44s| %-14s| %s\n", label[order[i]], h[order[i]], s[order[i]] }
' "$dir/hw.tsv"
printf '   %-44s| %-14s| %s\n' "vtpmctl create (for reference)" "$(printf '%3d' $((hc1 - hc0)))" \
  "$(printf '%3d' $((sc1 - sc0)))"
printf '   %-44s| %-14s| %s\n' "per NV_Write (recorded state write)" \
  "$(awk -v a=$nv_hw -v b=$nv_writes 'BEGIN { printf "%.2f", a / b }')" \
  "$(awk -v a=$nv_commits -v b=$nv_writes 'BEGIN { printf "%.2f", a / b }')   ($nv_writes writes: $nv_hw hw commands, $nv_commits commits)"
cat <<EOF
   target: 0 hw commands of its own per start, 1 per recorded state write
   (the NV counter increment, vtpmmgr(8) ROLLBACK WINDOW).  The man page:
   "Starting a vTPM issues no hardware TPM command of its own; each
   recorded state write costs one".  A TPM writes state at its TPM2_Startup,
   so a start with flags=startup-clear (as here) costs one, and its stop one
   more (the final TPM2_Shutdown).  A store commit is the manager's
   SQLite transaction; each is followed by its NV counter step.  A start
   commits the autostart mark (vtpmctl start) and the state libtpms writes
   at TPM2_Startup; the stop clears the mark and records the Shutdown state.
   The vtpm records its Startup state on its own, racing the status query
   after vtpmctl start: read the per-start row.
EOF

# ---- 3. durable NV_Write latency -------------------------------------------

# standalone daemons beside the managed vTPM $u (still running)
mkdir -p "$dir/nv.vtpm" "$dir/nv.swtpm"
"${pin[@]}" "$vtpm_bin" socket --tpm2 --tpmstate dir="$dir/nv.vtpm" \
  --server type=unixio,path="$dir/nv.vtpm.sock" --ctrl type=unixio,path="$dir/nv.vtpm.ctrl" \
  --flags not-need-init,startup-clear >>"$dir/nv.vtpm.log" 2>&1 &
pids+=($!)
"${pin[@]}" "$swtpm_bin" socket --tpm2 --tpmstate dir="$dir/nv.swtpm" \
  --server type=unixio,path="$dir/nv.swtpm.sock" --ctrl type=unixio,path="$dir/nv.swtpm.ctrl" \
  --flags not-need-init,startup-clear >>"$dir/nv.swtpm.log" 2>&1 &
pids+=($!)
wait_ready ignored "$dir/nv.vtpm.sock" "$dir/nv.swtpm.sock" ||
  { echo "bench-mgr: a standalone daemon did not start" >&2; tail -n 3 "$dir"/nv.*.log >&2; exit 1; }
nv_args=()
[ $quick -eq 1 ] && nv_args=(-q)
"${pin[@]}" "$bench" "${nv_args[@]}" -o nv_write "mgr=unix:$sock" "vtpm=unix:$dir/nv.vtpm.sock" \
  "swtpm=unix:$dir/nv.swtpm.sock" >"$dir/nv.tsv" 2>"$dir/nv.err" &
bench_pid=$!
pids+=("$bench_pid")
wait "$bench_pid" || { echo "bench-mgr: bench_tpm nv_write failed:" >&2; cat "$dir/nv.err" >&2; mgr_fail "NV_Write benchmark failed"; }
forget "$bench_pid"
nv_rounds=$(awk -F'\t' '$1 == "config" { print $3 "x" $4 }' "$dir/nv.tsv")
ctl stop "$u" >/dev/null

# ---- 2 and 4: start-to-ready, idle memory ----------------------------------

# Each sample appends "ready_ms rss_kb private_kb state_bytes stop_ms" to
# $dir/start.VARIANT.  Fresh: a TPM never started (manufactured at this
# start); existing: started, answered and stopped before.

# sample_mgr VARIANT UUID NAME: vtpmctl start until the socket answers.
sample_mgr() {
  local v=$1 id=$2 t0 t1 t2 pid mem size
  t0=$(now_us)
  ctl start "$id" >/dev/null || mgr_fail "vtpmctl start failed"
  wait_ready t1 "$dir/sock/$3.sock" || mgr_fail "a vTPM under the manager did not answer"
  pid=$(vtpm_pid "$id")
  mem=$(mem_kb "$pid")
  size=$(dir_bytes "$dir/m.data/vtpm/$id")
  t2=$(now_us)
  ctl stop "$id" >/dev/null || mgr_fail "vtpmctl stop failed"
  echo "$(ms_since "$t0" "$t1") $mem $size $(ms_since "$t2")" >>"$dir/start.$v"
}

# sample_daemon VARIANT BIN STATEDIR: BIN socket until it answers; SIGTERM.
sample_daemon() {
  local v=$1 bin=$2 state=$3 t0 t1 t2 pid mem size
  mkdir -p "$state"
  rm -f "$state.sock" "$state.ctrl"
  t0=$(now_us)
  "${pin[@]}" "$bin" socket --tpm2 --tpmstate dir="$state" \
    --server type=unixio,path="$state.sock" --ctrl type=unixio,path="$state.ctrl" \
    --flags not-need-init,startup-clear >>"$dir/start.$v.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_ready t1 "$state.sock" ||
    { echo "bench-mgr: $bin did not answer:" >&2; tail -n 3 "$dir/start.$v.log" >&2; exit 1; }
  mem=$(mem_kb "$pid")
  size=$(dir_bytes "$state")
  t2=$(now_us)
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null
  forget "$pid"
  echo "$(ms_since "$t0" "$t1") $mem $size $(ms_since "$t2")" >>"$dir/start.$v"
}

variants=(mgr_fresh mgr_existing vtpm_fresh vtpm_existing swtpm_fresh swtpm_existing)
# the existing-state ones: one start beforehand, not counted
u_ex=$(create existing) || mgr_fail "vtpmctl create failed"
sample_mgr warmup "$u_ex" existing
sample_daemon warmup "$vtpm_bin" "$dir/st.vtpm_existing"
sample_daemon warmup "$swtpm_bin" "$dir/st.swtpm_existing"
for ((r = 0; r < starts; r++)); do
  for ((k = 0; k < ${#variants[@]}; k++)); do
    v=${variants[(r + k) % ${#variants[@]}]} # rotate who goes first
    case $v in
    mgr_fresh)
      id=$(create "fresh$r") || mgr_fail "vtpmctl create failed"
      sample_mgr "$v" "$id" "fresh$r" ;;
    mgr_existing) sample_mgr "$v" "$u_ex" existing ;;
    vtpm_fresh) sample_daemon "$v" "$vtpm_bin" "$dir/st.$v.$r" ;;
    swtpm_fresh) sample_daemon "$v" "$swtpm_bin" "$dir/st.$v.$r" ;;
    vtpm_existing) sample_daemon "$v" "$vtpm_bin" "$dir/st.$v" ;;
    swtpm_existing) sample_daemon "$v" "$swtpm_bin" "$dir/st.$v" ;;
    esac
  done
done
# the client's own share: bench_tpm -w on a daemon that is already up
mkdir -p "$dir/floor.state"
"${pin[@]}" "$vtpm_bin" socket --tpm2 --tpmstate dir="$dir/floor.state" \
  --server type=unixio,path="$dir/floor.sock" --flags not-need-init,startup-clear \
  >>"$dir/floor.log" 2>&1 &
pids+=($!)
wait_ready ignored "$dir/floor.sock" || exit 1
for ((r = 0; r < starts; r++)); do
  t0=$(now_us)
  wait_ready t1 "$dir/floor.sock" && echo "$(ms_since "$t0" "$t1")"
done >"$dir/client.ms"
read -r mgr_rss mgr_priv <<<"$(mem_kb "$mgr_pid")"

echo
echo "2. Start to ready (ms, median of $starts, interleaved) and 4. idle memory (kB, median)"
printf '   %-34s| %9s %8s %8s | %9s %9s | %11s\n' "" "start to" "" "" "idle" "" "state on"
printf '   %-34s| %9s %8s %8s | %9s %9s | %11s\n' "variant" "ready" "min" "max" "Rss" "Private" "disk (B)"
for v in "${variants[@]}"; do
  case $v in
  mgr_fresh) l="vtpm under vtpmmgr, fresh" ;;
  mgr_existing) l="vtpm under vtpmmgr, existing" ;;
  vtpm_fresh) l="vtpm socket (standalone), fresh" ;;
  vtpm_existing) l="vtpm socket (standalone), existing" ;;
  swtpm_fresh) l="swtpm socket, fresh" ;;
  swtpm_existing) l="swtpm socket, existing" ;;
  esac
  f=$dir/start.$v
  printf '   %-34s| %9s %8s %8s | %9s %9s | %11s\n' "$l" \
    "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f1 "$f" | sort -g | head -n 1)" \
    "$(cut -d' ' -f1 "$f" | sort -g | tail -n 1)" "$(cut -d' ' -f2 "$f" | median)" \
    "$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | median)"
done
printf '   %-34s| %9s %8s %8s | %9s %9s |\n' "client only (daemon already up)" \
  "$(median <"$dir/client.ms")" "$(sort -g "$dir/client.ms" | head -n 1)" \
  "$(sort -g "$dir/client.ms" | tail -n 1)" "" ""
printf '   %-34s| %9s %8s %8s | %9s %9s |\n' "vtpmmgr itself (pid $mgr_pid)" "" "" "" "$mgr_rss" "$mgr_priv"
printf '   stop (ms, median): vtpmctl stop %s (fresh) %s (existing); SIGTERM to exit: vtpm %s %s, swtpm %s %s\n' \
  "$(cut -d' ' -f5 "$dir/start.mgr_fresh" | median)" "$(cut -d' ' -f5 "$dir/start.mgr_existing" | median)" \
  "$(cut -d' ' -f5 "$dir/start.vtpm_fresh" | median)" "$(cut -d' ' -f5 "$dir/start.vtpm_existing" | median)" \
  "$(cut -d' ' -f5 "$dir/start.swtpm_fresh" | median)" "$(cut -d' ' -f5 "$dir/start.swtpm_existing" | median)"

echo
echo "3. Durable TPM2_NV_Write, 64 bytes to an ordinary NV index (us; rounds x ops: $nv_rounds)"
awk -F'\t' '
function f(x) { return x == "" ? "-" : (x >= 100 ? sprintf("%.0f", x) : sprintf("%.1f", x)) }
BEGIN {
  label["mgr"] = "vtpm under vtpmmgr (sealed)"
  label["vtpm"] = "vtpm socket (standalone, plain)"
  label["swtpm"] = "swtpm socket (Debian 0.7.1)"
  printf "   %-34s| %9s %9s %9s\n", "target", "ops/s", "p50", "p99"
}
$1 == "result" { printf "   %-34s| %9s %9s %9s\n", label[$3], f($4), f($5), f($6) }
' "$dir/nv.tsv"

# ---- 5. density -------------------------------------------------------------

echo
if [ "$density" -gt 0 ] 2>/dev/null; then
  mgr_stop
  stop_pid "$hw_pid"
  wait "$hw_pid" 2>/dev/null
  forget "$hw_pid"
  # limits: the manager holds 2 descriptors per running vTPM (its channel and
  # the event channel), and 3-4 more (listeners, state directory, socketpair)
  # while it starts one
  need_fds=$((4 * density + 256))
  nofile=$(ulimit -n)
  if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$need_fds" ]; then
    ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
  fi
  pid_max=$(cat /proc/sys/kernel/pid_max)
  tasks=$(ls /proc | grep -c '^[0-9]')
  echo "5. Density: $density vTPMs under one vtpmmgr (unpinned; flags=startup-clear; unix sockets)"
  echo "   limits: open files $(ulimit -n) (was $nofile; the manager needs ~$need_fds)," \
    "pid_max $pid_max ($tasks processes now), threads-max $(cat /proc/sys/kernel/threads-max)," \
    "a uid per vTPM (vtpm_uid_count 65536), MemAvailable $(awk '/MemAvailable/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  if [ $((tasks + density + 100)) -gt "$pid_max" ]; then
    echo "   note: pid_max leaves room for $((pid_max - tasks - 100)) more processes"
  fi
  hw_start d
  mgr_start d
  read -r dh0 _ <<<"$(counts)"
  ddir=$dir/d
  mkdir -p "$ddir"
  ids=() socks=() fail_reason="" created=0 started=0
  deadline=$((SECONDS + density_timeout))
  t0=$(now_us)
  for ((i = 0; i < density; i++)); do
    if [ $SECONDS -ge $deadline ]; then fail_reason="create: stopped at the ${density_timeout} s bound"; break; fi
    id=$(ctl create --dev "server=unix:$ddir/$i.sock,ctrl=unix:$ddir/$i.ctrl,flags=startup-clear" 2>"$dir/d.err") ||
      { fail_reason="create #$((i + 1)) failed: $(head -c 200 "$dir/d.err")"; break; }
    ids+=("$id")
    echo "$id" >>"$uuids"
    created=$((created + 1))
  done
  t_created=$(now_us)
  fails=0
  for ((i = 0; i < created; i++)); do
    if [ $SECONDS -ge $deadline ]; then fail_reason="start: stopped at the ${density_timeout} s bound"; break; fi
    if ctl start "${ids[i]}" >/dev/null 2>"$dir/d.err"; then
      socks+=("$ddir/$i.sock")
      started=$((started + 1))
      fails=0
    else
      [ -z "$fail_reason" ] && fail_reason="start #$((i + 1)) failed: $(head -c 200 "$dir/d.err")"
      fails=$((fails + 1))
      # the manager or the machine has run out of something: no use going on
      [ $fails -ge 5 ] && { fail_reason="$fail_reason (5 in a row: gave up)"; break; }
    fi
  done
  t_started=$(now_us)
  ready=0 t_ready=$t_started
  if [ ${#socks[@]} -gt 0 ]; then
    ready_ms=60000 # a started vTPM that has not answered by then will not
    "$bench" -w "$ready_ms" "${socks[@]}" >"$dir/d.ready"
    ready=$(grep -c '^ready' "$dir/d.ready")
    t_ready=$(awk -F'\t' '$1 == "ready" && $3 > m { m = $3 } END { printf "%.0f\n", m }' "$dir/d.ready")
    [ "$ready" -gt 0 ] || t_ready=$(now_us)
  fi
  # memory once all answered (idle), after the GetRandom
  mapfile -t dpids < <(ps -o pid= --ppid "$mgr_pid" | tr -d ' ')
  sum_rss=0 sum_priv=0 nproc_v=0
  for p in "${dpids[@]}"; do
    is_vtpm "$p" || continue
    read -r r pv <<<"$(mem_kb "$p")"
    [ "$r" = "?" ] && continue
    sum_rss=$((sum_rss + r)) sum_priv=$((sum_priv + pv)) nproc_v=$((nproc_v + 1))
  done
  read -r dm_rss dm_priv <<<"$(mem_kb "$mgr_pid")"
  mgr_fds=$(ls "/proc/$mgr_pid/fd" 2>/dev/null | wc -l)
  running_now=$(status_field running)
  hw_total=$(status_field hw_commands)
  [ -n "$running_now" ] || running_now="? (vtpmctl status failed)"
  [ -n "$hw_total" ] || hw_total="?"
  # stop them all through vtpmctl, one after the other
  stopped=0 stop_reason="" fails=0
  t_stop0=$(now_us)
  deadline=$((SECONDS + density_timeout))
  for ((i = 0; i < created; i++)); do
    if [ $SECONDS -ge $deadline ]; then stop_reason="stopped at the ${density_timeout} s bound"; break; fi
    if out=$(ctl stop "${ids[i]}" 2>&1); then
      [[ $out == ok* && $out != *"was not running"* ]] && stopped=$((stopped + 1))
      fails=0
    else
      [ -z "$stop_reason" ] && stop_reason="stop #$((i + 1)) failed: $out"
      fails=$((fails + 1))
      [ $fails -ge 5 ] && { stop_reason="$stop_reason (5 in a row: gave up; SIGTERM stops the rest)"; break; }
    fi
  done
  t_stopped=$(now_us)
  left=0
  for p in $(ps -o pid= --ppid "$mgr_pid"); do is_vtpm "$p" && left=$((left + 1)); done
  t_term0=$(now_us)
  mgr_stop
  t_term=$(now_us)
  errs=$(grep -c 'vtpmmgr error' "$mgr_log")

  per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
  secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
  printf '   %-48s| %10s | %s\n' "phase" "seconds" "per vTPM / notes"
  printf '   %-48s| %10s | %s ms\n' "create $created (vtpmctl create, one by one)" \
    "$(secs "$t0" "$t_created")" "$(per "$(( (t_created - t0) / 1000 ))" "$created")"
  printf '   %-48s| %10s | %s ms\n' "start $started (vtpmctl start, one by one)" \
    "$(secs "$t_created" "$t_started")" "$(per "$(( (t_started - t_created) / 1000 ))" "$started")"
  printf '   %-48s| %10s |\n' "create + start" "$(secs "$t0" "$t_started")"
  printf '   %-48s| %10s | %s of %s answered\n' "first start until all answer a GetRandom" \
    "$(secs "$t_created" "$t_ready")" "$ready" "${#socks[@]}"
  printf '   %-48s| %10s | %s ms; %s stopped cleanly, %s vtpms left after\n' \
    "stop all (vtpmctl stop, one by one)" "$(secs "$t_stop0" "$t_stopped")" \
    "$(per "$(( (t_stopped - t_stop0) / 1000 ))" "$stopped")" "$stopped" "$left"
  printf '   %-48s| %10s |\n' "then SIGTERM to the manager until it exited" "$(secs "$t_term0" "$t_term")"
  printf '   %-48s| %10s | %s processes\n' "memory of all vtpms once ready: Rss (MiB)" \
    "$(awk -v a=$sum_rss 'BEGIN { printf "%.1f", a / 1024 }')" "$nproc_v"
  printf '   %-48s| %10s | %s kB per vTPM\n' "  Private (MiB)" \
    "$(awk -v a=$sum_priv 'BEGIN { printf "%.1f", a / 1024 }')" "$(per "$sum_priv" "$nproc_v")"
  printf '   %-48s| %10s | Rss %s kB, Private %s kB, %s fds\n' "vtpmmgr itself with them all running" "" \
    "$dm_rss" "$dm_priv" "$mgr_fds"
  [ "$hw_total" != "?" ] && hw_total="$((hw_total - dh0)) ($(per $((hw_total - dh0)) "$started") per vTPM)"
  echo "   manager: 'running' = $running_now when all had answered; hardware TPM commands for" \
    "the creates and starts: $hw_total; $errs error lines in its log"
  if [ -n "$fail_reason" ] || [ "$ready" -lt "$density" ]; then
    echo "   ** did not reach $density: $started started, $ready answered. ${fail_reason:-}"
    echo "   ** largest N that worked here: $ready. The manager's log, first errors:"
    grep -m 5 'error\|warn' "$mgr_log" | sed 's/^/      /' | grep . ||
      echo "      (none: it logged nothing about the refused requests)"
  fi
  [ -n "$stop_reason" ] && echo "   ** stop: $stop_reason"
else
  echo "5. Density: skipped (BENCH_DENSITY=0)"
fi

cat <<'EOF'

Legend
  hw commands  commands the manager sent to the (stand-in) hardware TPM,
               from vtpmctl status; here a swtpm on loopback TCP.
  fresh        a TPM never started: its state is manufactured at this start
               (a new vTPM through vtpmctl create; a new empty directory).
  existing     started, answered a GetRandom and stopped before.
  start to     from just before `vtpmctl start` (or the fork of the daemon)
    ready      until the data socket answers a TPM2_GetRandom, measured by
               bench_tpm -w, which connects and asks again every 0.2 ms;
               its own exec and connect are in every figure ("client only"
               row: the same measurement on a daemon that is already up).
               Under the manager the listeners exist before the vtpm does,
               so the GetRandom waits in the socket until it is served.
  memory       /proc/PID/smaps_rollup of the idle daemon right after that
               GetRandom: Rss, Private = Private_Clean + Private_Dirty.
  state on     the files of its state directory (under the manager: both
    disk       sealed slot files) after the start.
  NV_Write     interleaved rounds (medians across rounds); a 64-byte write
               that changes the index every time, so each is a state write.
               vtpm under vtpmmgr: encrypted slot file written, fsync,
               rename, directory fsync, then the manager's SQLite commit
               (WAL, synchronous=FULL) and its NV counter step on the
               hardware TPM, all before the answer.  Standalone vtpm: its
               plain state file, fsync, rename, directory fsync.  swtpm
               0.7.1 (Debian) writes its state file without fsync: its
               figure is not durable.
  density      unpinned, every vtpm under its own uid with its sandbox; one
               vtpmctl process per create/start/stop.  The ready time runs
               from the first vtpmctl start until the last vTPM answered
               (bench_tpm -w visits the sockets in order).
EOF
echo
echo "total time (manager benchmark): $((SECONDS - t_start)) s"
