#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""hostile: misbehaving clients of a vTPM data or control channel, for the
integration scenarios (tests/integration/test_hostile_*.sh and friends).
Standard library only. Every wait is bounded, so a wedged daemon fails the
test instead of hanging it; nothing the daemon sends is trusted.

ADDR is unix:PATH or tcp:HOST:PORT. HEX arguments may contain spaces.

  talk ADDR HEX [--timeout S] [--bytes N] [--pad N] [--trickle MS]
      send HEX and --pad bytes of 0x5a in one write (--trickle: one byte
      per write, MS ms apart, until the peer answers or hangs up; the peer
      may hang up part way), then read until end of stream, a reset, N
      bytes or S seconds (default 5); prints "reply=HEX
      end=eof|reset|bytes|timeout elapsed=SECONDS".
  vanish ADDR HEX [--rst]
      send HEX and close at once without reading (--rst: abortive close, TCP
      only: SO_LINGER 0, so the peer sees a reset).
  frames ADDR HEX... [--repeat N] [--trickle MS|--straddle MS] [--prefix LOC]
      send the commands (each HEX one command, the list repeated N times)
      back to back while reading, and print each response as hex, one line
      each, in arrival order. --trickle: one byte per write, MS ms apart.
      --straddle: write the stream in pieces cut in the middle of each
      command, MS ms apart, so a partial command is always pending.
      --prefix LOC: wrap each command in swtpm's MSSIM-style prefix (u32 8,
      u8 locality, u32 size) and unwrap the prefixed responses. Exit 1 when
      the stream ends or 30 s pass before every response arrived, or a
      response is malformed.
  blast ADDR --bytes N [--seed S] [--timeout S] --mode raw|framed|ctrl
      raw: N random bytes as fast as possible (the peer may hang up), then
      read until it does or the timeout (default 30 s) passes;
      framed: random TPM commands with in-range size fields adding up to N
      bytes, every one of which must be answered by a well-formed response;
      ctrl: random unknown control-channel command codes adding up to N
      bytes, each answered by exactly TPM_BAD_ORDINAL. Prints a summary.
  flood ADDR [--hold S]
      write GetRandom commands without ever reading until the writes block
      for a second; print "stalled sent=N" and keep the connection open for
      S seconds (default 60).
  cmd NAME [ARGS]
      print a TPM 2.0 command as hex: getrandom N | getcap-manufacturer |
      nvwrite INDEX HEX | nvread INDEX SIZE | createprimary-rsa |
      pcr-extend PCR | pcr-reset PCR | setlocality L | startup clear|state |
      shutdown clear|state
  cmds
      the same for each "NAME ARGS" line on stdin, one command per line.
"""
import argparse
import random
import select
import socket
import struct
import sys
import time

TPM_HDR = 10
TPM_MAX = 4096
RS_PW = 0x40000009
RH_OWNER = 0x40000001
ST_NO_SESSIONS = 0x8001
ST_SESSIONS = 0x8002
PW_AUTH = struct.pack(">IHBH", RS_PW, 0, 0, 0)   # empty password session


def die(msg):
    sys.stdout.flush()      # what was printed so far comes first
    print("hostile: " + msg, file=sys.stderr)
    sys.exit(1)


def unhex(s):
    return bytes.fromhex(s.replace(" ", ""))


def connect(addr, timeout=5.0):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(rest)
    elif kind == "tcp":
        host, _, port = rest.rpartition(":")
        s = socket.create_connection((host, int(port)), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        die("address must be unix:PATH or tcp:HOST:PORT, not " + addr)
    return s


# ---- TPM 2.0 command builders ----------------------------------------------

def cmd(tag, cc, body):
    return struct.pack(">HII", tag, TPM_HDR + len(body), cc) + body


def with_pw(handles, params):
    """Handles, one empty-password session, then the parameters."""
    return handles + struct.pack(">I", len(PW_AUTH)) + PW_AUTH + params


def build(name, args):
    if name == "getrandom":
        return cmd(ST_NO_SESSIONS, 0x17B, struct.pack(">H", int(args[0])))
    if name == "getcap-manufacturer":
        # TPM_CAP_TPM_PROPERTIES, TPM_PT_MANUFACTURER, one property
        return cmd(ST_NO_SESSIONS, 0x17A, struct.pack(">III", 6, 0x105, 1))
    if name == "nvwrite":
        data = unhex(args[1])
        return cmd(ST_SESSIONS, 0x137, with_pw(
            struct.pack(">II", RH_OWNER, int(args[0], 0)),
            struct.pack(">H", len(data)) + data + struct.pack(">H", 0)))
    if name == "nvread":
        return cmd(ST_SESSIONS, 0x14E, with_pw(
            struct.pack(">II", RH_OWNER, int(args[0], 0)),
            struct.pack(">HH", int(args[1]), 0)))
    if name == "createprimary-rsa":
        # storage parent: fixedTPM|fixedParent|sensitiveDataOrigin|
        # userWithAuth|restricted|decrypt, AES-128-CFB, RSA-2048, e=65537
        public = struct.pack(">HHIH", 0x0001, 0x000B, 0x00030072, 0)
        public += struct.pack(">HHHHHIH", 0x0006, 128, 0x0043, 0x0010, 2048, 0, 0)
        body = struct.pack(">HHH", 4, 0, 0)                 # inSensitive
        body += struct.pack(">H", len(public)) + public     # inPublic
        body += struct.pack(">HI", 0, 0)                    # outsideInfo, creationPCR
        return cmd(ST_SESSIONS, 0x131, with_pw(struct.pack(">I", RH_OWNER), body))
    if name == "pcr-extend":
        # TPML_DIGEST_VALUES: one SHA-256 digest of 32 bytes 0x5a
        return cmd(ST_SESSIONS, 0x182, with_pw(
            struct.pack(">I", int(args[0])),
            struct.pack(">IH", 1, 0x000B) + b"\x5a" * 32))
    if name == "pcr-reset":
        return cmd(ST_SESSIONS, 0x13D, with_pw(struct.pack(">I", int(args[0])), b""))
    if name == "setlocality":
        return cmd(ST_NO_SESSIONS, 0x20001000, bytes([int(args[0])]))
    if name in ("startup", "shutdown"):
        su = {"clear": 0, "state": 1}[args[0]]
        return cmd(ST_NO_SESSIONS, 0x144 if name == "startup" else 0x145,
                   struct.pack(">H", su))
    die("unknown command " + name)


# ---- response framing --------------------------------------------------------

def take_frame(buf, prefixed):
    """Splits one response off buf: (response, rest), (None, buf) if
    incomplete. Raises ValueError on a response no TPM would send."""
    if prefixed:
        if len(buf) < 4:
            return None, buf
        (n,) = struct.unpack(">I", buf[:4])
        if n < TPM_HDR or n > TPM_MAX:
            raise ValueError("prefixed response length %d" % n)
        if len(buf) < 4 + n + 4:
            return None, buf
        rsp, trailer = buf[4:4 + n], buf[4 + n:8 + n]
        if trailer != b"\0\0\0\0":
            raise ValueError("prefixed response trailer %s" % trailer.hex())
        check_rsp(rsp)
        return rsp, buf[8 + n:]
    if len(buf) < TPM_HDR:
        return None, buf
    (size,) = struct.unpack(">I", buf[2:6])
    if size < TPM_HDR or size > TPM_MAX:
        raise ValueError("response size field %d: %s" % (size, buf[:16].hex()))
    if len(buf) < size:
        return None, buf
    check_rsp(buf[:size])
    return buf[:size], buf[size:]


def check_rsp(rsp):
    tag, size = struct.unpack(">HI", rsp[:6])
    if tag not in (ST_NO_SESSIONS, ST_SESSIONS, 0x00C4) or size != len(rsp):
        raise ValueError("malformed response %s" % rsp[:16].hex())


def pump(s, chunks, delay, want, prefixed, limit):
    """Writes chunks (delay seconds apart) while reading responses, until want
    responses arrived, the stream ended or limit seconds passed. Returns
    (responses, end reason)."""
    s.setblocking(False)
    deadline = time.monotonic() + limit
    rsps, inbuf, out = [], b"", b""
    chunks = list(chunks)
    next_write = time.monotonic()
    while len(rsps) < want:
        now = time.monotonic()
        if now >= deadline:
            return rsps, "timeout"
        if not out and chunks and now >= next_write:
            out = chunks.pop(0)
            next_write = now + delay
        wl = [s] if out else []
        wait = deadline - now
        if chunks and not out:
            wait = min(wait, max(0.0, next_write - now))
        r, w, _ = select.select([s], wl, [], wait)
        if w:
            try:
                n = s.send(out)
                out = out[n:]
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                return rsps, "reset"
        if r:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return rsps, "reset"
            if not data:
                return rsps, "eof"
            inbuf += data
            while True:
                rsp, inbuf = take_frame(inbuf, prefixed)
                if rsp is None:
                    break
                rsps.append(rsp)
    return rsps, "complete"


# ---- subcommands ---------------------------------------------------------

def do_talk(a):
    s = connect(a.addr)
    t0 = time.monotonic()
    data = unhex(a.hex) + b"\x5a" * a.pad
    got, end = b"", "timeout"
    deadline = t0 + a.timeout
    try:
        if a.trickle is None:
            s.sendall(data)
        else:
            # one byte per write; stop early if the peer hangs up meanwhile
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                r, _, _ = select.select([s], [], [], a.trickle / 1000.0)
                if r or time.monotonic() >= deadline:
                    break
    except (BrokenPipeError, ConnectionResetError):
        pass    # hung up on us mid-write: what it said before still counts
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            end = "reset"
            break
        if not data:
            end = "eof"
            break
        got += data
        if a.bytes and len(got) >= a.bytes:
            end = "bytes"
            break
    print("reply=%s end=%s elapsed=%.3f" % (got.hex() or "-", end, time.monotonic() - t0))
    s.close()


def do_vanish(a):
    s = connect(a.addr)
    data = unhex(a.hex)
    s.sendall(data)
    if a.rst:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("sent=%d" % len(data))


def do_frames(a):
    cmds = [unhex(h) for h in a.hex] * a.repeat
    if a.prefix is not None:
        cmds = [struct.pack(">IBI", 8, a.prefix, len(c)) + c for c in cmds]
    stream = b"".join(cmds)
    if a.trickle is not None:
        chunks, delay = [stream[i:i + 1] for i in range(len(stream))], a.trickle / 1000.0
    elif a.straddle is not None:
        cuts, off = [0], 0
        for c in cmds:
            cuts.append(off + len(c) // 2)
            off += len(c)
        cuts.append(len(stream))
        chunks = [stream[x:y] for x, y in zip(cuts, cuts[1:])]
        delay = a.straddle / 1000.0
    else:
        chunks, delay = [stream], 0.0
    s = connect(a.addr)
    try:
        rsps, end = pump(s, chunks, delay, len(cmds), a.prefix is not None, a.timeout)
    except ValueError as e:
        die(str(e))
    for r in rsps:
        print(r.hex())
    if len(rsps) != len(cmds):
        die("%d of %d responses, then %s" % (len(rsps), len(cmds), end))


def random_command(rng):
    """A command with a valid size field and random contents: a real or
    made-up tag, a command code near the TPM 2.0 range or anywhere."""
    size = rng.choice([10, 11, 12, 14, 20, 64, 256, 1024, rng.randint(10, TPM_MAX)])
    tag = rng.choice([ST_NO_SESSIONS, ST_SESSIONS, 0x00C1, rng.randint(0x100, 0xFFFF)])
    cc = rng.choice([rng.randint(0x11F, 0x19F), rng.randint(0, 0xFFFFFFFF)])
    if cc in (0x144, 0x145):    # Startup, Shutdown: keep the TPM running
        cc = 0x17B
    return struct.pack(">HII", tag, size, cc) + rng.randbytes(size - TPM_HDR)


def do_blast(a):
    rng = random.Random(a.seed)
    s = connect(a.addr)
    if a.mode == "raw":
        data = rng.randbytes(a.bytes)
        s.setblocking(False)
        sent, got, end = 0, b"", "complete"
        deadline = time.monotonic() + a.timeout
        while sent < len(data) and time.monotonic() < deadline:
            r, w, _ = select.select([s], [s], [], 1.0)
            try:
                if w:
                    sent += s.send(data[sent:sent + 65536])
                if r:
                    d = s.recv(65536)
                    if not d:
                        end = "eof"
                        break
                    got += d
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                end = "reset"
                break
        if end == "reset":
            # what it said before hanging up may still be queued for us
            s.settimeout(0.5)
            try:
                got += s.recv(65536)
            except OSError:
                pass
        # all sent and still open: wait for the verdict on what we sent
        while end == "complete" and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                end = "reset"
                break
            if not d:
                end = "eof"
                break
            got += d
        print("mode=raw sent=%d received=%d end=%s reply=%s" %
              (sent, len(got), end, got[:64].hex() or "-"))
        return
    if a.mode == "framed":
        cmds, total = [], 0
        while total < a.bytes:
            c = random_command(rng)
            cmds.append(c)
            total += len(c)
        stream = b"".join(cmds)
        chunks = [stream[i:i + 65536] for i in range(0, len(stream), 65536)]
        try:
            rsps, end = pump(s, chunks, 0.0, len(cmds), False, 120)
        except ValueError as e:
            die(str(e))
        ok = sum(1 for r in rsps if struct.unpack(">I", r[6:10])[0] == 0)
        print("mode=framed commands=%d bytes=%d responses=%d successes=%d end=%s" %
              (len(cmds), len(stream), len(rsps), ok, end))
        if len(rsps) != len(cmds):
            die("only %d of %d commands answered (%s)" % (len(rsps), len(cmds), end))
        return
    # ctrl: u32 codes outside swtpm's command range 1..0x13 (unknown to it)
    words = []
    while len(words) * 4 < a.bytes:
        v = rng.randint(0, 0xFFFFFFFF)
        if v == 0 or v > 0x13:
            words.append(v)
    stream = b"".join(struct.pack(">I", v) for v in words)
    s.setblocking(False)
    sent, got = 0, b""
    deadline = time.monotonic() + 60
    while len(got) < 4 * len(words) and time.monotonic() < deadline:
        r, w, _ = select.select([s], [s] if sent < len(stream) else [], [], 1.0)
        try:
            if w:
                sent += s.send(stream[sent:sent + 65536])
            if r:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            break
    bad = [got[i:i + 4].hex() for i in range(0, len(got) - 3, 4)
           if got[i:i + 4] != b"\0\0\0\x0a"]
    print("mode=ctrl requests=%d replies=%d wrong=%d" % (len(words), len(got) // 4, len(bad)))
    if len(got) != 4 * len(words) or bad:
        die("control replies: %d bytes for %d requests, wrong ones %s" %
            (len(got), len(words), bad[:4]))


def do_flood(a):
    s = connect(a.addr)
    s.setblocking(False)
    one = build("getrandom", ["32"])
    big = one * 1025
    sent = 0
    give_up = time.monotonic() + 30
    while True:
        if time.monotonic() > give_up:
            die("the daemon kept reading for 30 s from a client that never reads")
        _, w, _ = select.select([], [s], [], 1.0)
        if not w:
            break
        start = sent % len(one)
        try:
            sent += s.send(big[start:start + len(one) * 1024])
        except BlockingIOError:
            pass
    print("stalled sent=%d" % sent, flush=True)
    time.sleep(a.hold)
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="sub", required=True)
    t = sub.add_parser("talk")
    t.add_argument("addr")
    t.add_argument("hex")
    t.add_argument("--timeout", type=float, default=5.0)
    t.add_argument("--bytes", type=int, default=0)
    t.add_argument("--pad", type=int, default=0)
    t.add_argument("--trickle", type=float)
    v = sub.add_parser("vanish")
    v.add_argument("addr")
    v.add_argument("hex")
    v.add_argument("--rst", action="store_true")
    f = sub.add_parser("frames")
    f.add_argument("addr")
    f.add_argument("hex", nargs="+")
    f.add_argument("--repeat", type=int, default=1)
    f.add_argument("--trickle", type=float)
    f.add_argument("--straddle", type=float)
    f.add_argument("--prefix", type=int)
    f.add_argument("--timeout", type=float, default=30.0)
    b = sub.add_parser("blast")
    b.add_argument("addr")
    b.add_argument("--bytes", type=int, required=True)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--mode", choices=["raw", "framed", "ctrl"], required=True)
    b.add_argument("--timeout", type=float, default=30.0)
    fl = sub.add_parser("flood")
    fl.add_argument("addr")
    fl.add_argument("--hold", type=float, default=60.0)
    c = sub.add_parser("cmd")
    c.add_argument("name")
    c.add_argument("args", nargs="*")
    sub.add_parser("cmds")
    a = p.parse_args()
    if a.sub == "cmd":
        print(build(a.name, a.args).hex())
        return
    if a.sub == "cmds":
        for line in sys.stdin:
            if line.split():
                print(build(line.split()[0], line.split()[1:]).hex())
        return
    {"talk": do_talk, "vanish": do_vanish, "frames": do_frames,
     "blast": do_blast, "flood": do_flood}[a.sub](a)


if __name__ == "__main__":
    try:
        main()
    except (OSError, socket.timeout) as e:
        die("%s: %s" % (type(e).__name__, e))
