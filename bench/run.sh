#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/run.sh: side-by-side benchmark of vtpm against swtpm and against the
# floor (libtpms in-process), run by `make bench`.  Starts `vtpm socket` and
# `swtpm socket` with the same arguments, each in its own temporary
# directory, drives all three with BUILD_DIR/bench_tpm (interleaved rounds,
# medians), then prints a table and the daemons' memory.  swtpm's fresh
# permanent state is copied to vtpm and the floor first so that all three
# share seeds and generate the same keys; if vtpm refuses that state it runs
# on its own seeds and the table says so.  A report, not a test: no
# thresholds.  It kills only the daemons it started, by pid.
#
# Usage: bench/run.sh BUILD_DIR
# At the end it runs bench/run_mgr.sh BUILD_DIR (see there).
# Environment: VTPM_BIN (default BUILD_DIR/vtpm, else swtpm stands in),
#   SWTPM_BIN (default: swtpm on PATH), BENCH_ARGS (e.g. -q for a quick run),
#   BENCH_CPU (the CPU that every process is pinned to; default the last one
#   allowed; "none" to not pin).
#
# Why pin: on this small VM a wakeup across CPUs costs ~40 us more than one
# on the same CPU and the scheduler's placement sticks for seconds, so an
# unpinned run reports whichever placement each daemon happened to get.
# With the client and both daemons on one CPU every exchange is a same-CPU
# wakeup, and only one target runs at a time anyway.

set -u
build=${1:?usage: bench/run.sh BUILD_DIR}
BUILD=$(cd "$build" && pwd) || exit 1
bench=$BUILD/bench_tpm
t_start=$SECONDS

[ -x "$bench" ] || { echo "bench: $bench not built" >&2; exit 1; }
swtpm_bin=${SWTPM_BIN:-$(command -v swtpm || true)}
if [ -z "$swtpm_bin" ] || [ ! -x "$swtpm_bin" ]; then
  echo "bench: swtpm not found (apt-get install swtpm)" >&2
  exit 1
fi
vtpm_bin=${VTPM_BIN:-$BUILD/vtpm}
vtpm_note=""
if [ ! -x "$vtpm_bin" ]; then
  vtpm_note="no $vtpm_bin yet: swtpm stands in for vtpm"
  vtpm_bin=$swtpm_bin
fi

cpu=${BENCH_CPU:-$(taskset -cp $$ 2>/dev/null | sed 's/.*: //; s/.*[,-]//')}
pin=()
if [ "$cpu" != none ] && [ -n "$cpu" ] && taskset -c "$cpu" true 2>/dev/null; then
  pin=(taskset -c "$cpu")
else
  cpu=none
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-bench.XXXXXX") || exit 1
pids=()

# stop_pid PID: SIGTERM, a bounded wait, then SIGKILL.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# start_daemon NAME BIN: runs BIN socket with swtpm's arguments, state and
# sockets under $dir; sets daemon_pid.
start_daemon() {
  local name=$1 bin=$2
  mkdir -p "$dir/$name.state"
  "${pin[@]}" "$bin" socket --tpm2 --tpmstate dir="$dir/$name.state" \
    --server type=unixio,path="$dir/$name.data" \
    --ctrl type=unixio,path="$dir/$name.ctrl" \
    --flags not-need-init,startup-clear >>"$dir/$name.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
}

# ready NAME PID: waits up to 10 s for the data socket, then checks that the
# TPM answers one operation of each benchmarked command.
ready() {
  local name=$1 pid=$2
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ -S "$dir/$name.data" ] && break
    sleep 0.05
  done
  [ -S "$dir/$name.data" ] &&
    timeout 60 "$bench" -c "$name=unix:$dir/$name.data" >/dev/null
}

fail_daemon() {
  echo "bench: $1 did not start or does not answer; its log:" >&2
  tail -n 20 "$dir/$1.log" >&2
  exit 1
}

# mem_kb PID: "RSS PRIVATE" in kB from smaps_rollup.
mem_kb() {
  if [ -r "/proc/$1/smaps_rollup" ]; then
    awk '/^Rss:/ { r = $2 } /^Private_(Clean|Dirty):/ { p += $2 }
         END { printf "%d %d", r, p }' "/proc/$1/smaps_rollup"
  else
    echo "? ?"
  fi
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
start_daemon swtpm "$swtpm_bin"
swtpm_pid=$daemon_pid
ready swtpm "$swtpm_pid" || fail_daemon swtpm
permall=$dir/swtpm.state/tpm2-00.permall
[ -f "$permall" ] || { echo "bench: swtpm wrote no $permall" >&2; exit 1; }
cp "$permall" "$dir/floor.permall"

mkdir -p "$dir/vtpm.state"
cp "$permall" "$dir/vtpm.state/"
start_daemon vtpm "$vtpm_bin"
vtpm_pid=$daemon_pid
if ! ready vtpm "$vtpm_pid"; then
  echo "bench: vtpm did not take swtpm's state; retrying on its own seeds" >&2
  tail -n 5 "$dir/vtpm.log" >&2
  stop_pid "$vtpm_pid"
  rm -rf "$dir/vtpm.state" "$dir/vtpm.data" "$dir/vtpm.ctrl"
  start_daemon vtpm "$vtpm_bin"
  vtpm_pid=$daemon_pid
  ready vtpm "$vtpm_pid" || fail_daemon vtpm
fi
# Both daemons have now answered a few commands (the checks): idle memory.
read -r vtpm_rss0 vtpm_priv0 <<<"$(mem_kb "$vtpm_pid")"
read -r swtpm_rss0 swtpm_priv0 <<<"$(mem_kb "$swtpm_pid")"

echo "bench: vtpm = $vtpm_bin${vtpm_note:+ ($vtpm_note)}, swtpm = $swtpm_bin, libtpms $(dpkg-query -W -f '${Version}' libtpms0 2>/dev/null || echo '?')" >&2
# In the background so that a signal reaches the traps at once; its workers
# exit when it does.
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
"${pin[@]}" "$bench" ${BENCH_ARGS:-} "floor=floor:$dir/floor.permall" \
  "vtpm=unix:$dir/vtpm.data" "swtpm=unix:$dir/swtpm.data" >"$dir/results.tsv" &
pids+=($!)
wait $! || { echo "bench: bench_tpm failed" >&2; exit 1; }
read -r vtpm_rss1 vtpm_priv1 <<<"$(mem_kb "$vtpm_pid")"
read -r swtpm_rss1 swtpm_priv1 <<<"$(mem_kb "$swtpm_pid")"

echo
echo "vtpm: $vtpm_bin${vtpm_note:+   ** $vtpm_note **}"
echo "swtpm: $swtpm_bin"
echo "pinned to CPU: $cpu (of $(nproc)); load average before: $load0"
awk -F'\t' '
function f(x) {
  if (x == "") return "-"
  if (x >= 1000) return sprintf("%.0f", x)
  if (x >= 100) return sprintf("%.1f", x)
  return sprintf("%.2f", x)
}
BEGIN {
  label["getrandom"] = "GetRandom(32)"
  label["pcr_extend"] = "PCR_Extend sha256 PCR16"
  label["create_ecc"] = "CreatePrimary ECC P-256"
  label["create_rsa"] = "CreatePrimary RSA-2048"
  label["sign_ecdsa"] = "Sign ECDSA P-256"
}
$1 == "config" { order[++n] = $2; conf[$2] = $3 "x" $4 }
$1 == "seed" { seed[$2] = $3 }
$1 == "result" { ops[$2, $3] = $4; p50[$2, $3] = $5; p99[$2, $3] = $6 }
END {
  printf "%-33s|%-30s|%-30s|%-30s|%11s | %s\n", "", \
    " floor (libtpms in-process)", " vtpm", " swtpm", "vtpm/swtpm", \
    "p50 overhead (us)"
  printf "%-24s %-8s|%10s %9s %8s |%10s %9s %8s |%10s %9s %8s |%11s |%11s %12s\n", \
    "command", "rounds", "ops/s", "p50", "p99", "ops/s", "p50", "p99", \
    "ops/s", "p50", "p99", "ops/s", "vtpm-floor", "swtpm-floor"
  for (i = 1; i <= n; i++) {
    c = order[i]
    r = (ops[c, "swtpm"] > 0) ? sprintf("%.2f", ops[c, "vtpm"] / ops[c, "swtpm"]) : "-"
    printf "%-24s %-8s|%10s %9s %8s |%10s %9s %8s |%10s %9s %8s |%11s |%11s %12s\n", \
      label[c], conf[c], \
      f(ops[c, "floor"]), f(p50[c, "floor"]), f(p99[c, "floor"]), \
      f(ops[c, "vtpm"]), f(p50[c, "vtpm"]), f(p99[c, "vtpm"]), \
      f(ops[c, "swtpm"]), f(p50[c, "swtpm"]), f(p99[c, "swtpm"]), r, \
      sprintf("%+.1f", p50[c, "vtpm"] - p50[c, "floor"]), \
      sprintf("%+.1f", p50[c, "swtpm"] - p50[c, "floor"])
  }
  if (seed["floor"] == seed["swtpm"] && seed["vtpm"] == seed["swtpm"])
    s = "shared by all three (swtpm state copied), so all generate the same keys"
  else
    s = sprintf("differ (floor %s vtpm %s swtpm %s): CreatePrimary rows compare different keys", \
      seed["floor"], seed["vtpm"], seed["swtpm"])
  print ""
  print "seeds: " s
}' "$dir/results.tsv"

echo
printf "%-20s| %22s | %22s\n" "memory (kB)" "idle, after a few cmds" "after the benchmark"
printf "%-20s| %10s %11s | %10s %11s\n" "" "Rss" "Private" "Rss" "Private"
printf "%-20s| %10s %11s | %10s %11s\n" "vtpm (pid $vtpm_pid)" \
  "$vtpm_rss0" "$vtpm_priv0" "$vtpm_rss1" "$vtpm_priv1"
printf "%-20s| %10s %11s | %10s %11s\n" "swtpm (pid $swtpm_pid)" \
  "$swtpm_rss0" "$swtpm_priv0" "$swtpm_rss1" "$swtpm_priv1"

cat <<'EOF'

Legend
  rounds    R x N: R interleaved rounds of N operations per target, the
            first target rotating each round; all figures are medians
            across rounds, after one untimed warm-up per target.
  ops/s     N / time spent in the measured command (one client, one
            command in flight); p50, p99: per-round latency percentiles
            in microseconds (nearest rank; with N < 100, p99 is the max).
  floor     libtpms 0.9 called in-process in its own process, no
            transport, NV state in memory: what no daemon can beat.
  vtpm/swtpm  ratio of ops/s: above 1.00 means vtpm is faster.
  overhead  p50 minus the floor's p50: the cost of the process boundary
            (socket, syscalls, state handling).
  CreatePrimary uses the TCG storage (SRK) template; operation i of a
            round puts i in the unique field (a different key each
            operation, the same sequence on every target); its
            FlushContext is sent untimed.  Sign: ECDSA-SHA256 over a
            32-byte digest with one P-256 signing primary per target.
            PCR_Extend and CreatePrimary carry a password session.
  memory    /proc/PID/smaps_rollup: Rss, and Private_Clean+Private_Dirty.
  noise     VTPM_BIN=$(command -v swtpm) puts swtpm in both columns: the
            gap between them is this machine's run-to-run spread (a few
            percent; most for Sign and RSA, whose p50 is hundreds of us
            or tens of ms).
EOF
echo

# tpmif: GetRandom(32) over the shared-page ring (libtpmfront) next to the
# Unix data sockets of a vtpm (the same process) and of swtpm, driven by
# bench_tpmif in one process, interleaved rounds. Both ring halves spin on
# the shared page before they sleep, which pays when they run on different
# CPUs and not when they share one, so it runs in both placements: all on
# the pinned CPU, as above, then the client on another CPU than the daemons.
bench_tpmif=$BUILD/bench_tpmif
if [ -x "$bench_tpmif" ] && [ "$vtpm_bin" = "$BUILD/vtpm" ]; then
  mkdir -p "$dir/tpmif.state"
  "${pin[@]}" "$vtpm_bin" serve --tpmstate dir="$dir/tpmif.state" \
    --tpmif path="$dir/tpmif.sock" --server type=unixio,path="$dir/tpmif.data" \
    --flags not-need-init,startup-clear >>"$dir/tpmif.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    ss -Hxl src "$dir/tpmif.sock" | grep -q . && ss -Hxl src "$dir/tpmif.data" | grep -q . && break
    sleep 0.05
  done
  tpmif_args=(-r 10 -n 2000 -w 2000)
  [[ " ${BENCH_ARGS:-} " == *" -q "* ]] && tpmif_args=(-r 3 -n 500 -w 500)
  tpmif_targets=("tpmif=tpmif:$dir/tpmif.sock" "vtpm=unix:$dir/tpmif.data" "swtpm=unix:$dir/swtpm.data")
  other=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }' | grep -vx "$cpu" | head -n 1)
  # run_tpmif PREFIX...: one bench_tpmif run, its table without the TSV lines
  run_tpmif() {
    "$@" "$bench_tpmif" "${tpmif_args[@]}" "${tpmif_targets[@]}" >"$dir/tpmif.out" ||
      { echo "bench: bench_tpmif failed" >&2; return 1; }
    grep -v '^result' "$dir/tpmif.out"
  }
  echo
  if [ "$cpu" = none ]; then
    echo "tpmif, unpinned:"
  else
    echo "tpmif, client and daemons on CPU $cpu:"
  fi
  run_tpmif "${pin[@]}"
  if [ "$cpu" != none ] && [ -n "$other" ]; then
    echo
    echo "tpmif, client on CPU $other, daemons on CPU $cpu:"
    run_tpmif taskset -c "$other"
  fi
fi

echo "total time: $((SECONDS - t_start)) s"

# The manager's benchmark (vTPMs under vtpmmgr, start times, durable NV
# writes, density) on a quiet machine: the daemons above stop first.
cleanup
pids=()
bash "$(dirname "${BASH_SOURCE[0]}")/run_mgr.sh" "$BUILD"
