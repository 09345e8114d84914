#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Who may reach the endpoints of a managed vTPM (issue 14, High: access
# control). As root the test drives vtpmctl; as other uids (setpriv) it
# tries the endpoints with real clients:
#  - Unix sockets default to 0600 root: another uid is refused by the
#    kernel on the data and the control socket (and tpm2_getrandom fails);
#  - with uid=/gid=/mode= on the device line, that user (by name) and that
#    group (by number) get in, with tpm2_getrandom and swtpm_ioctl, and a
#    third uid still does not;
#  - ctrl=tcp is refused at create, so are server=tcp and mssim= without
#    insecure-tcp, and bad mode=, uid=, gid= values;
#  - with insecure-tcp the vTPM serves on TCP (to any uid, as accepted),
#    and list (--json and the table) and the manager's log say so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
. "$(dirname "$0")/endpoint.sh"

as_uid() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
as_uid 65534 65534 true 2>/dev/null || t_skip "cannot run as another uid (setpriv missing or not permitted)"
getent passwd nobody >/dev/null || t_skip "no user nobody to hand a socket to"
# other uids must reach the sockets' directory: the sockets' modes decide
chmod 0711 "$T_DIR" || m_fail "chmod $T_DIR"

# probe UID GID PATH: connects to the Unix socket PATH as UID:GID; prints
# ok, denied (EACCES) or the error. The system's python: root's may live
# where other uids cannot reach.
probe() {
  as_uid "$1" "$2" /usr/bin/python3 -c '
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("ok")
except OSError as e:
    print("denied" if e.errno == errno.EACCES else "error: " + e.strerror)
' "$3"
}

# expect_probe WANT UID GID PATH WHAT
expect_probe() {
  local got
  got=$(probe "$2" "$3" "$4")
  [ "$got" = "$1" ] || m_late "$5: uid $2 gid $3 connecting to $4: $got, want $1"
}

# modeof PATH: uid:gid:mode of a file, numeric
modeof() { stat -c '%u:%g:%a' "$1" 2>/dev/null; }

m_hw_start
m_mgr_start

t_log "default: 0600 root on the data and control sockets, nobody refused"
ua=$(e_uuid)
e_create "$ua" "server=unix:$(m_sock "$ua"),ctrl=unix:$(m_sock "$ua").ctrl,flags=startup-clear"
m_vtpm_start "$ua"
for s in "$(m_sock "$ua")" "$(m_sock "$ua").ctrl"; do
  [ "$(modeof "$s")" = 0:0:600 ] || m_late "$s is $(modeof "$s"), want 0:0:600"
  expect_probe denied 65534 65534 "$s" "default socket"
done
as_uid 65534 65534 tpm2_getrandom -T "$(m_tcti "$ua")" 8 >/dev/null 2>&1 &&
  m_late "nobody got random bytes from a default (root-only) vTPM"
tpm2_getrandom -T "$(m_tcti "$ua")" 8 >/dev/null || m_late "root cannot use its own vTPM"

t_log "uid=nobody (a name), gid by number, mode=: that user, that group get in; a third uid does not"
ub=$(e_uuid)
e_create "$ub" "server=unix:$(m_sock "$ub"),ctrl=unix:$(m_sock "$ub").ctrl,flags=startup-clear,uid=nobody,gid=4242,mode=0660"
m_vtpm_start "$ub"
nobody_uid=$(id -u nobody)
for s in "$(m_sock "$ub")" "$(m_sock "$ub").ctrl"; do
  [ "$(modeof "$s")" = "$nobody_uid:4242:660" ] || m_late "$s is $(modeof "$s"), want $nobody_uid:4242:660"
  expect_probe ok "$nobody_uid" 65534 "$s" "the socket's user"
  expect_probe ok 12345 4242 "$s" "the socket's group"
  expect_probe denied 12345 12345 "$s" "another uid"
done
out=$(as_uid "$nobody_uid" 65534 tpm2_getrandom -T "$(m_tcti "$ub")" 8 --hex 2>&1) ||
  m_late "nobody cannot use the vTPM handed to it: $out"
as_uid "$nobody_uid" 65534 swtpm_ioctl --unix "$(m_sock "$ub").ctrl" -c >"$T_DIR/out" 2>&1 ||
  m_late "nobody cannot use the control channel handed to it: $(cat "$T_DIR/out")"

t_log "the control channel is Unix-only; TCP data and mssim only with insecure-tcp"
port=$(t_free_ports 3) || m_fail "no three free ports"
e_refused "ctrl=tcp" "Unix-only" "server=unix:$T_DIR/x.sock,ctrl=tcp:$port"
e_refused "ctrl=tcp with insecure-tcp" "Unix-only" "ctrl=tcp:$port,insecure-tcp"
e_refused "server=tcp without insecure-tcp" "insecure-tcp" "server=tcp:$port,ctrl=unix:$T_DIR/x.ctrl"
e_refused "mssim without insecure-tcp" "insecure-tcp" "mssim=$port"

t_log "bad owners and modes are refused"
e_refused "mode above 0777" "0777" "server=unix:$T_DIR/m.sock,mode=01000"
e_refused "mode not octal" "octal" "server=unix:$T_DIR/m.sock,mode=0689"
e_refused "uid above the cap" "4294967294" "server=unix:$T_DIR/m.sock,uid=4294967295"
e_refused "unknown user" "no such user" "server=unix:$T_DIR/m.sock,uid=no-such-user-here"
e_refused "unknown group" "no such group" "server=unix:$T_DIR/m.sock,gid=no-such-group-here"
e_refused "uid twice" "twice" "server=unix:$T_DIR/m.sock,uid=0,uid=nobody"

t_log "insecure-tcp: served on TCP (data and mssim), and list and log say so"
log0=$(m_log_lines)
uc=$(e_uuid)
e_create "$uc" "server=tcp:$port,mssim=$((port + 1)),ctrl=unix:$(m_sock "$uc").ctrl,flags=startup-clear,insecure-tcp"
out=$(m_ctl start "$uc" 2>&1) || m_fail "start of the insecure-tcp vTPM failed: $out"
M_VTPM_PIDS+=("$(m_vtpm_pid "$uc")")
# the swtpm TCTI wants its control channel on TCP too: a raw TPM2_GetRandom on the data port
out=$(as_uid 65534 65534 /usr/bin/python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes.fromhex("80010000000c0000017b0008"))
h = s.recv(10)
print("rc=%x" % struct.unpack(">HII", h)[2] if len(h) == 10 else "short")
' "$port" 2>&1)
[ "$out" = rc=0 ] || m_late "the insecure-tcp vTPM does not answer on its data port $port: $out"
as_uid 65534 65534 tpm2_getrandom -T "mssim:host=127.0.0.1,port=$((port + 1))" 8 >"$T_DIR/out" 2>&1 ||
  m_late "the insecure-tcp vTPM does not serve mssim on port $((port + 1)): $(cat "$T_DIR/out")"
[ "$(m_ctl --json show "$uc" | m_field insecure_tcp)" = true ] ||
  m_late "show --json does not say insecure_tcp: $(m_ctl --json show "$uc")"
m_ctl --json list | python3 -c '
import json, sys
d = {v["uuid"]: v["insecure_tcp"] for v in json.load(sys.stdin)["vtpms"]}
sys.exit(0 if d[sys.argv[1]] is True and d[sys.argv[2]] is False and d[sys.argv[3]] is False else 1)
' "$uc" "$ua" "$ub" || m_late "list --json is wrong about insecure_tcp: $(m_ctl --json list)"
m_ctl list >"$T_DIR/table" || m_fail "vtpmctl list failed"
grep "^$uc " "$T_DIR/table" | grep -q INSECURE || m_late "the table does not say INSECURE: $(cat "$T_DIR/table")"
grep "^$ua " "$T_DIR/table" | grep -q INSECURE && m_late "the table says INSECURE for a Unix-only vTPM"
m_log_since "$log0" | grep -q "vtpm $uc: insecure-tcp" ||
  m_late "the log does not say insecure-tcp: $(m_log_since "$log0")"
out=$(m_ctl stop "$uc" 2>&1) || m_late "stop of the insecure-tcp vTPM: $out"
m_done
