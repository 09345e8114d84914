#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Who may reach the endpoints of a managed vTPM (issue 14, High, access
# control; Medium 7). As root the test drives vtpmctl; as other uids
# (setpriv) it tries the endpoints with real clients:
#  - Unix sockets default to 0600 root: another uid is refused by the
#    kernel on the data and the control socket; with uid=/gid=/mode= on the
#    device line, that user (by name) or that group (by number) gets in,
#    with tpm2_getrandom, and a third uid still does not;
#  - ctrl=tcp is refused at create, so are server=tcp and mssim= without
#    insecure-tcp; with it the vTPM serves on TCP (any uid gets in, as
#    accepted) and list (--json and the table) and the log say so;
#  - relative paths and . or .. components are refused at create, and bad
#    mode=, uid=, gid= values;
#  - a regular file at a socket path is never deleted: create refuses it,
#    and a start that meets one fails with the reason in the log; a socket
#    file left behind is replaced;
#  - the socket files go when the vTPM stops, when the manager stops, and
#    at destroy (a stale one), never a regular file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

as_uid() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
as_uid 65534 65534 true 2>/dev/null || t_skip "cannot run as another uid (setpriv missing or not permitted)"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
  t_skip "no user nobody or group nogroup to hand a socket to"
# other uids must reach the sockets' directory: the sockets' modes decide
chmod 0711 "$T_DIR" || m_fail "chmod $T_DIR"

# probe UID GID PATH: connects to the Unix socket PATH as UID:GID; prints
# ok, denied (EACCES) or the error.
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

# create U DEV: vtpmctl create --uuid U --dev DEV, must succeed.
create() {
  local out
  out=$(m_ctl create --uuid "$1" --dev "$2" 2>&1) || m_fail "create --dev $2 failed: $out"
  M_UUIDS+=("$1")
}

# count: how many vTPMs the manager has
count() { m_ctl --json list | grep -o '"uuid":' | wc -l; }

# refused WHAT MSG DEV: create must fail, the error saying MSG, nothing recorded.
refused() {
  local n
  n=$(count)
  m_ctl create --dev "$3" >"$T_DIR/out" 2>&1 && { m_late "$1: create --dev $3 succeeded"; return; }
  grep -qi -- "$2" "$T_DIR/out" || m_late "$1: error does not say '$2': $(cat "$T_DIR/out")"
  [ "$(count)" = "$n" ] || m_late "$1: a vTPM was recorded anyway"
}

# modeof PATH: owner:group:mode of a file, numeric
modeof() { stat -c '%u:%g:%a' "$1" 2>/dev/null; }

newuuid() { cat /proc/sys/kernel/random/uuid; }

m_hw_start
m_mgr_start

t_log "default: 0600 root on the data and control sockets, nobody refused"
ua=$(newuuid)
create "$ua" "server=unix:$(m_sock "$ua"),ctrl=unix:$(m_sock "$ua").ctrl,flags=startup-clear"
m_vtpm_start "$ua"
for s in "$(m_sock "$ua")" "$(m_sock "$ua").ctrl"; do
  [ "$(modeof "$s")" = 0:0:600 ] || m_late "$s is $(modeof "$s"), want 0:0:600"
  expect_probe denied 65534 65534 "$s" "default socket"
done
as_uid 65534 65534 tpm2_getrandom -T "$(m_tcti "$ua")" 8 >/dev/null 2>&1 &&
  m_late "nobody got random bytes from a default (root-only) vTPM"
tpm2_getrandom -T "$(m_tcti "$ua")" 8 >/dev/null || m_late "root cannot use its own vTPM"

t_log "uid=nobody (a name), gid by number, mode=: that user, that group get in; a third uid does not"
ub=$(newuuid)
create "$ub" "server=unix:$(m_sock "$ub"),ctrl=unix:$(m_sock "$ub").ctrl,flags=startup-clear,uid=nobody,gid=4242,mode=0660"
m_vtpm_start "$ub"
for s in "$(m_sock "$ub")" "$(m_sock "$ub").ctrl"; do
  [ "$(modeof "$s")" = 65534:4242:660 ] || m_late "$s is $(modeof "$s"), want 65534:4242:660"
  expect_probe ok 65534 65534 "$s" "the socket's user"
  expect_probe ok 12345 4242 "$s" "the socket's group"
  expect_probe denied 12345 12345 "$s" "another uid"
done
out=$(as_uid 65534 65534 tpm2_getrandom -T "$(m_tcti "$ub")" 8 --hex 2>&1) ||
  m_late "nobody cannot use the vTPM handed to it: $out"
as_uid 65534 65534 swtpm_ioctl --unix "$(m_sock "$ub").ctrl" -c >"$T_DIR/out" 2>&1 ||
  m_late "nobody cannot use the control channel handed to it: $(cat "$T_DIR/out")"

t_log "the control channel is Unix-only; TCP data and mssim only with insecure-tcp"
port=$(t_free_ports 3) || m_fail "no free ports"
refused "ctrl=tcp" "Unix-only" "server=unix:$T_DIR/x.sock,ctrl=tcp:$port"
refused "ctrl=tcp with insecure-tcp" "Unix-only" "ctrl=tcp:$port,insecure-tcp"
refused "server=tcp without insecure-tcp" "insecure-tcp" "server=tcp:$port,ctrl=unix:$T_DIR/x.ctrl"
refused "mssim without insecure-tcp" "insecure-tcp" "mssim=$port"

t_log "relative paths, . and .., bad owners and modes are refused"
refused "relative path" "absolute" "server=unix:relative.sock"
refused ".. component" "\.\." "server=unix:$T_DIR/../escape.sock"
refused ". component" "\.\." "tpmif=$T_DIR/./x.tpmif"
refused ".. in binary" "\.\." "binary=/usr/../bin/false"
refused "mode above 0777" "0777" "server=unix:$T_DIR/m.sock,mode=01000"
refused "mode not octal" "octal" "server=unix:$T_DIR/m.sock,mode=0689"
refused "uid above the cap" "4294967294" "server=unix:$T_DIR/m.sock,uid=4294967295"
refused "unknown user" "no such user" "server=unix:$T_DIR/m.sock,uid=no-such-user-here"
refused "unknown group" "no such group" "server=unix:$T_DIR/m.sock,gid=no-such-group-here"
refused "uid twice" "twice" "server=unix:$T_DIR/m.sock,uid=0,uid=nobody"

t_log "insecure-tcp: served on TCP (data and mssim), and list and log say so"
log0=$(m_log_lines)
uc=$(newuuid)
create "$uc" "server=tcp:$port,mssim=$((port + 1)),ctrl=unix:$(m_sock "$uc").ctrl,flags=startup-clear,insecure-tcp"
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
[ "$(m_ctl --json show "$uc" | m_py 'd["vtpm"]["insecure_tcp"]')" = True ] ||
  m_late "show --json does not say insecure_tcp: $(m_ctl --json show "$uc")"
[ "$(m_ctl --json list | m_py '[v["insecure_tcp"] for v in d["vtpms"] if v["uuid"] == "'"$ua"'"][0]')" = False ] ||
  m_late "list --json says insecure_tcp for a Unix-only vTPM: $(m_ctl --json list)"
m_ctl list >"$T_DIR/table" || m_fail "vtpmctl list failed"
grep "^$uc " "$T_DIR/table" | grep -q INSECURE || m_late "the table does not say INSECURE: $(cat "$T_DIR/table")"
grep "^$ua " "$T_DIR/table" | grep -q INSECURE && m_late "the table says INSECURE for a Unix-only vTPM"
m_log_since "$log0" | grep -q "vtpm $uc: insecure-tcp" ||
  m_late "the log does not say insecure-tcp: $(m_log_since "$log0")"
out=$(m_ctl stop "$uc" 2>&1) || m_late "stop of the insecure-tcp vTPM: $out"

t_log "a regular file at a socket path: create refuses, start fails, the file stays"
echo precious >"$T_DIR/file.sock"
refused "regular file at the path" "not a socket" "server=unix:$T_DIR/file.sock"
[ "$(cat "$T_DIR/file.sock")" = precious ] || m_late "create removed or changed a regular file"
ud=$(newuuid)
create "$ud" "server=unix:$(m_sock "$ud"),ctrl=unix:$(m_sock "$ud").ctrl,flags=startup-clear"
echo precious >"$(m_sock "$ud").ctrl"
log0=$(m_log_lines)
m_ctl start "$ud" >"$T_DIR/out" 2>&1 && m_late "start over a regular file at the ctrl path succeeded"
[ "$(cat "$(m_sock "$ud").ctrl" 2>/dev/null)" = precious ] || m_late "start removed a regular file"
m_log_since "$log0" | grep -q "$(m_sock "$ud").ctrl exists and is not a socket" ||
  m_late "the log does not name the file in the way: $(m_log_since "$log0")"
[ -e "$(m_sock "$ud")" ] && m_late "a failed start left its data socket behind"
rm -f "$(m_sock "$ud").ctrl"
# a socket file left behind (a killed manager's) is replaced
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$(m_sock "$ud").ctrl" ||
  m_fail "cannot leave a stale socket file"
m_vtpm_start "$ud"

t_log "the socket files go when the vTPM stops, and when the manager stops"
m_vtpm_stop "$ua"
for s in "$(m_sock "$ua")" "$(m_sock "$ua").ctrl"; do
  [ -e "$s" ] && m_late "$s still there after the vTPM stopped"
done
m_vtpm_start "$ua"
m_mgr_stop
for u in "$ua" "$ub" "$ud"; do
  for s in "$(m_sock "$u")" "$(m_sock "$u").ctrl"; do
    [ -e "$s" ] && m_late "$s still there after the manager stopped"
  done
done

t_log "destroy removes a stale socket at its paths, never a regular file"
m_mgr_start
for u in "$ua" "$ub" "$ud"; do t_wait_for m_vtpm_ready "$u" || m_fail "vTPM $u did not come back"; done
m_ctl stop "$ud" >/dev/null || m_fail "stop $ud"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$(m_sock "$ud")" ||
  m_fail "cannot leave a stale socket file"
echo precious >"$(m_sock "$ud").ctrl"
m_ctl destroy --yes "$ud" >/dev/null || m_fail "destroy $ud failed"
[ -e "$(m_sock "$ud")" ] && m_late "destroy left a stale socket at $(m_sock "$ud")"
[ "$(cat "$(m_sock "$ud").ctrl" 2>/dev/null)" = precious ] || m_late "destroy removed a regular file"
m_done
