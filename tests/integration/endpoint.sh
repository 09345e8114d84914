# SPDX-License-Identifier: BSD-3-Clause
# Shared steps of the managed-endpoint scenarios (test_mgr_endpoint_access,
# test_mgr_socket_path): vTPMs created with a device line of the test's
# own, creates that must be refused, and socket files left behind as a
# killed manager would. Sourced after lib.sh and mgr.sh.

e_uuid() { cat /proc/sys/kernel/random/uuid; }

# e_create U DEV: vtpmctl create --uuid U --dev DEV, must succeed.
e_create() {
  local out
  out=$(m_ctl create --uuid "$1" --dev "$2" 2>&1) || m_fail "create --dev $2 failed: $out"
  M_UUIDS+=("$1")
}

# e_count: how many vTPMs the manager has.
e_count() { m_ctl --json list | grep -o '"uuid":' | wc -l; }

# e_refused WHAT MSG DEV: create must fail, its error saying MSG (a grep
# pattern), and nothing recorded.
e_refused() {
  local n
  n=$(e_count)
  m_ctl create --dev "$3" >"$T_DIR/out" 2>&1 && { m_late "$1: create --dev $3 succeeded"; return; }
  grep -qi -- "$2" "$T_DIR/out" || m_late "$1: error does not say '$2': $(cat "$T_DIR/out")"
  [ "$(e_count)" = "$n" ] || m_late "$1: a vTPM was recorded anyway"
}

# e_stale_socket PATH: a socket file nobody listens on, as a killed manager leaves.
e_stale_socket() {
  python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1" ||
    m_fail "cannot leave a socket file at $1"
}
