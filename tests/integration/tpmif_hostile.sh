# SPDX-License-Identifier: BSD-3-Clause
# Shared by the hostile tpmif scenarios (test_tpmif_hostile_*.sh): the
# misbehaving peer (tests/tools/tpmif_peer), and the checks after each case
# against a vtpm started by tpmfront.sh: the process runs, a good client
# (tpm2_getrandom over the tpmfront TCTI) is served, and the vtpm is back to
# the fds it held before the hostile cases, with no ring still mapped.
# Sourced after lib.sh and tpmfront.sh.

TH_PEER=${TPMIF_PEER:-${BUILD:-}/tpmif_peer}
TH_OUT="$T_DIR/peer.log"
[ -x "$TH_PEER" ] || t_fail "tpmif_peer not found at '$TH_PEER' (build it, or set TPMIF_PEER)"
TH_HZ=$(getconf CLK_TCK)
# every case looks for its own refusal in the log: no repeat held back
TF_LOG_LEVEL=5

# th_good: a good client gets 8 random bytes within 10 s.
th_good() {
  local n
  n=$(timeout 10 tpm2_getrandom -T "$TF_TCTI" 8 2>>"$TH_OUT" | wc -c)
  [ "$n" -eq 8 ]
}

# th_cpu_ms: CPU time (user + system) the vtpm has used, in ms.
th_cpu_ms() { awk -v hz="$TH_HZ" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$TF_PID/stat"; }

# th_settled: no ring mapped, and the fd count the same over 100 ms (the
# vtpm may not have seen the last client go when tpm2_getrandom returns).
th_settled() {
  local n
  [ "$(tf_rings)" -eq 0 ] || return 1
  n=$(tf_fds)
  sleep 0.1
  [ "$(tf_rings)" -eq 0 ] && [ "$(tf_fds)" -eq "$n" ]
}

# th_baseline: records the fds a served vtpm holds with no frontend (TH_FDS).
th_baseline() {
  th_good || tf_fail "the vtpm does not serve a good client before any hostile case"
  t_wait_for th_settled || tf_fail "a ring stays mapped after a good client"
  TH_FDS=$(tf_fds)
  t_log "vtpm pid $TF_PID holds $TH_FDS fds with no frontend"
}

# th_after CASE: the checks that follow every case.
th_after() {
  tf_alive || tf_fail "[$1] the vtpm exited"
  th_good || tf_fail "[$1] a good client was not served afterwards"
  t_wait_for tf_is_baseline "$TH_FDS" ||
    tf_fail "[$1] the vtpm holds $(tf_fds) fds (before: $TH_FDS) and $(tf_rings) rings"
}

# th_peer ARGS...: runs tpmif_peer (bounded), its report appended to TH_OUT;
# sets TH_RC and TH_SAID (what it printed).
th_peer() {
  local out="$T_DIR/peer.last"
  timeout --kill-after=5 60 "$TH_PEER" "$@" >"$out" 2>&1
  TH_RC=$?
  TH_SAID=$(cat "$out")
  cat "$out" >>"$TH_OUT"
}

# th_case CASE [MS] [LOG_ERE]: one hostile frontend case that must end with
# the peer's exit 0, the checks of th_after and, if given, a new line of
# the vtpm's log matching LOG_ERE (the reason it refused).
th_case() {
  local c=$1 ms=${2:-1000} ere=${3:-} n0=0 t0=$SECONDS
  [ -n "$ere" ] && n0=$(grep -cE "$ere" "$TF_LOG")
  th_peer front "$c" "$TF_SOCK" "$ms"
  [ "$TH_RC" -eq 0 ] || tf_fail "[$c] tpmif_peer exited $TH_RC: $TH_SAID"
  th_after "$c"
  [ -z "$ere" ] || [ "$(grep -cE "$ere" "$TF_LOG")" -gt "$n0" ] ||
    tf_fail "[$c] the vtpm did not log /$ere/"
  t_log "$c: ok ($((SECONDS - t0)) s)${TH_SAID:+: $(echo "$TH_SAID" | tail -n 1)}"
}
