#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# vtpmctl against a real manager: --json list is JSON and matches the
# manager's state (uuid, group, tpm, running, and pid is that vTPM's vtpm
# process, the manager's child); a bad device line, UUID, group or TPM
# version is refused with a clear error and exit 1, changing nothing, and
# one echoing a quote and a backslash stays valid JSON under --json;
# destroy needs --yes or the UUID typed on stdin (refused otherwise, exit
# 1), refuses a running vTPM, and removes a stopped one from the list
# together with its state directory; no manager at the socket is exit 3;
# bad usage exit 2; a non-root peer cannot use the control socket, neither
# through the file permissions nor, with those opened, past the manager's
# own peer-credential check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

skipped=0

m_setup
u1=$M_UUID
m_create --tpm 1.2 --group g1
u2=$M_UUID

# ctl_expect RC WHAT ARGS...: vtpmctl ARGS (stdin from /dev/null) exits RC;
# its stderr lands in $T_DIR/err.
ctl_expect() {
  local want=$1 what=$2 rc
  shift 2
  m_ctl "$@" </dev/null >"$T_DIR/out" 2>"$T_DIR/err"
  rc=$?
  [ $rc -eq "$want" ] || m_fail "$what: vtpmctl $* exited $rc, want $want: $(cat "$T_DIR/out" "$T_DIR/err")"
}
# list_check EXPECT...: --json list parses and matches; EXPECT is uuid:group:tpm:running|stopped.
list_check() {
  m_ctl --json list >"$T_DIR/list.json" || m_fail "vtpmctl --json list failed"
  python3 -m json.tool "$T_DIR/list.json" >/dev/null ||
    m_fail "vtpmctl --json list is not JSON: $(cat "$T_DIR/list.json")"
  python3 - "$T_DIR/list.json" "$M_MGR_PID" "$m_vtpm_exe" "$@" <<'EOF' || m_fail "list does not match"
import json, os, sys
d = json.load(open(sys.argv[1]))
mgr, exe = int(sys.argv[2]), sys.argv[3]
want = {a.split(':')[0]: a.split(':')[1:] for a in sys.argv[4:]}
got = {v['uuid']: v for v in d.get('vtpms', [])}
errs = []
if d.get('ok') is not True:
    errs.append('"ok" is not true')
if sorted(got) != sorted(want):
    errs.append('listed %s, want %s' % (sorted(got), sorted(want)))
for u, (group, tpm, state) in want.items():
    v = got.get(u)
    if v is None:
        continue
    for k, w in (('group', group), ('tpm', tpm), ('running', state == 'running')):
        if v.get(k) != w:
            errs.append('%s: %s is %r, want %r' % (u, k, v.get(k), w))
    pid = v.get('pid')
    if state != 'running':
        if pid != 0:
            errs.append('%s: stopped, yet pid %r' % (u, pid))
        continue
    try:
        real = os.readlink('/proc/%d/exe' % pid)
        status = dict(l.split(':', 1) for l in open('/proc/%d/status' % pid) if ':' in l)
        argv = open('/proc/%d/cmdline' % pid, 'rb').read().split(b'\0')
    except (OSError, TypeError) as e:
        errs.append('%s: pid %r is no process (%s)' % (u, pid, e))
        continue
    if real != exe:
        errs.append('%s: pid %d runs %s, not %s' % (u, pid, real, exe))
    if int(status['PPid']) != mgr:
        errs.append('%s: pid %d is not the manager\'s (%d) child' % (u, pid, mgr))
    if u.encode() not in argv:
        errs.append('%s: pid %d does not serve this vTPM: %r' % (u, pid, argv))
    if 'uid' in v and int(status['Uid'].split()[0]) != v['uid']:
        errs.append('%s: pid %d runs as uid %s, the list says %r' % (u, pid, status['Uid'].split()[0], v['uid']))
for e in errs:
    print('  ' + e, file=sys.stderr)
sys.exit(1 if errs else 0)
EOF
}

t_log "--json list matches the manager's state"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:stopped"
m_vtpm_start "$u2"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:running"
m_ctl list >"$T_DIR/table" || m_fail "vtpmctl list failed"
grep -q "^$u2 .* g1 .* running" "$T_DIR/table" || m_fail "table does not show $u2 running in g1: $(cat "$T_DIR/table")"
grep -q "^2 vTPMs$" "$T_DIR/table" || m_fail "table does not count 2 vTPMs: $(cat "$T_DIR/table")"
m_ctl --json show "$u2" | python3 -m json.tool >/dev/null || m_fail "vtpmctl --json show is not JSON"
m_ctl --json status | python3 -m json.tool >/dev/null || m_fail "vtpmctl --json status is not JSON"
[ "$(m_status vtpms)/$(m_status running)" = 2/2 ] || m_fail "status: $(m_ctl --json status)"
m_vtpm_stop "$u2"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:stopped"

t_log "bad create arguments: exit 1, a clear error, nothing created"
bad_create() {
  local what=$1 msg=$2
  shift 2
  ctl_expect 1 "$what" create "$@"
  grep -qi -- "$msg" "$T_DIR/err" || m_fail "$what: error does not say '$msg': $(cat "$T_DIR/err")"
}
bad_create "relative socket path" "bad device setting" --dev "server=unix:relative.sock"
bad_create "unknown device key" "bad device setting" --dev "bogus=1"
bad_create "TCP port out of range" "bad device setting" --dev "server=tcp:70000"
bad_create "device setting without =" "not key=value" --dev "server"
bad_create "unknown flag" "bad device setting" --dev "flags=startup-everything"
bad_create "malformed UUID" "uuid" --uuid not-a-uuid
bad_create "upper-case group" "group" --group BAD
bad_create "TPM version 3" "tpm" --tpm 3
bad_create "UUID in use" "exists" --uuid "$u1"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:stopped"

t_log "a quote and a backslash in a refused device value: the error echoes them as valid JSON"
# the device-line grammar refuses quotes, so they reach a reply only in the
# error that echoes the bad setting; --json must stay JSON and carry them
nasty='server"x\y'
m_ctl --json create --dev "$nasty" >"$T_DIR/err.json" 2>&1 && m_fail "create with a quote in the device line succeeded"
python3 - "$T_DIR/err.json" "$nasty" <<'EOF2' || m_fail "--json error is not JSON or lost the value: $(cat "$T_DIR/err.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d.get('ok') is False and sys.argv[2] in d.get('error', '') else 1)
EOF2
ctl_expect 1 "quote and backslash in a device setting" create --dev "$nasty"
grep -qF "'$nasty' is not key=value" "$T_DIR/err" || m_fail "the error lost the quote or backslash: $(cat "$T_DIR/err")"
ctl_expect 2 "a space in an argument" create --dev "server=unix:/a b"
grep -q "space" "$T_DIR/err" || m_fail "a space in an argument: $(cat "$T_DIR/err")"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:stopped"

t_log "destroy: confirmation, running vTPM, stopped vTPM"
ctl_expect 1 "destroy without --yes, nothing on stdin" destroy "$u2"
grep -q "not confirmed" "$T_DIR/err" || m_fail "destroy without confirmation: $(cat "$T_DIR/err")"
echo "$u1" | m_ctl destroy "$u2" >/dev/null 2>&1 && m_fail "destroy confirmed with another UUID"
ctl_expect 1 "destroy --yes of a running vTPM" destroy --yes "$u1"
grep -q "stop it first" "$T_DIR/err" || m_fail "destroy of a running vTPM: $(cat "$T_DIR/err")"
list_check "$u1:default:2.0:running" "$u2:g1:1.2:stopped"
dir1=$(m_state_dir "$u1")
[ -d "$dir1" ] || m_fail "no state directory $dir1"
m_vtpm_stop "$u1"
# the form vtpmctl's usage and vtpmctl(1) document: destroy UUID [--yes]
if ! m_ctl destroy "$u1" --yes </dev/null >"$T_DIR/out" 2>&1; then
  m_late "'vtpmctl destroy UUID --yes' (the documented form) ignored --yes: $(cat "$T_DIR/out")"
  ctl_expect 0 "destroy --yes of a stopped vTPM" destroy --yes "$u1"
fi
[ ! -e "$dir1" ] || m_fail "state directory $dir1 left after destroy: $(ls -A "$dir1")"
list_check "$u2:g1:1.2:stopped"
ctl_expect 1 "show of a destroyed vTPM" show "$u1"
echo "$u2" | m_ctl destroy "$u2" >/dev/null 2>&1 || m_fail "destroy confirmed by the UUID on stdin failed"
[ ! -e "$(m_state_dir "$u2")" ] || m_fail "state directory of $u2 left after destroy"
list_check

t_log "no manager at the socket: exit 3; bad usage: exit 2"
"$CTL" --socket "$T_DIR/no-such.sock" list >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || m_fail "vtpmctl against a missing socket exited $rc, want 3"
VTPMMGR_SOCKET="$T_DIR/no-such.sock" "$CTL" status >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || m_fail "vtpmctl with VTPMMGR_SOCKET naming a missing socket exited $rc, want 3"
VTPMMGR_SOCKET=$M_SOCKET "$CTL" --json status >/dev/null || m_fail "vtpmctl through VTPMMGR_SOCKET failed"
"$CTL" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || m_fail "vtpmctl without a command exited $rc, want 2"
ctl_expect 2 "destroy without a UUID" destroy

t_log "a non-root peer"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if ! command -v setpriv >/dev/null || ! nobody true 2>/dev/null; then
  t_log "SKIPPED CASE (1): cannot run as another uid (setpriv missing or not permitted)"
  skipped=$((skipped + 1))
else
  nobody "$CTL" --socket "$M_SOCKET" --json create </dev/null >"$T_DIR/out" 2>&1
  rc=$?
  [ $rc -eq 3 ] || m_fail "uid 65534 through the normal permissions: exit $rc, want 3: $(cat "$T_DIR/out")"
  # open the way to the socket, as a careless chmod would: the manager's
  # own peer-credential check must still refuse, and nothing may change;
  # vtpmctl must say so (exit 1, "permission denied"), every time: 20 tries,
  # since the refusal races with vtpmctl sending its request
  chmod 0711 "$T_DIR" "$M_RUN" && chmod 0666 "$M_SOCKET" || m_fail "chmod failed"
  codes=
  for _ in $(seq 20); do
    nobody "$CTL" --socket "$M_SOCKET" --json create </dev/null >"$T_DIR/out" 2>&1
    rc=$?
    codes+="$rc "
    [ $rc -eq 1 ] && grep -q "permission denied" "$T_DIR/out" || bad_out=$(cat "$T_DIR/out")
  done
  chmod 0700 "$T_DIR" && chmod 0600 "$M_SOCKET" && chmod 0700 "$M_RUN"
  list_check
  [ -z "${bad_out:-}" ] || m_late "uid 65534 with the socket opened was refused (nothing created)," \
    "but vtpmctl exited [${codes% }], want 1 with 'permission denied' each time; e.g.: $bad_out"
fi

m_mgr_stop
"$CTL" --socket "$M_SOCKET" list >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || m_fail "vtpmctl after the manager stopped exited $rc, want 3"
m_done "$skipped case(s) skipped"
