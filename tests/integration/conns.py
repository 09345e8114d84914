#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# conns.py: the client side of the connection-limit scenarios
# (test_fd_exhaustion.sh, test_mgr_fd_exhaustion.sh). ADDR is a Unix socket
# path or HOST:PORT. Every byte from the daemon is only compared, never trusted.
#   hold ADDR N READY [LINE...]  opens up to N connections (each may wait
#                       in the listener's queue), sends the k-th LINE (if
#                       given) and a newline on the k-th, writes how many
#                       were opened to READY, then keeps them until killed
#   refused ADDR [K]    exit 0 if the daemon closes K (default 1) new
#                       connections, one after the other, each without a byte
#                       within 5 s; 1 if it sends something; 2 if it keeps
#                       one open
#   tpm ADDR [mssim]    sends TPM2_GetRandom(8) (mssim: in MSSIM framing);
#                       exit 0 on a TPM 2.0 response
#   hello ADDR          exit 0 if the daemon speaks first within 5 s (the
#                       tpmif backend's first handshake message)
import signal, socket, struct, sys, time

GETRANDOM = bytes.fromhex("80010000000c0000017b0008")


def connect(addr, timeout=5):
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = addr
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    s.settimeout(timeout)
    s.connect(target)
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            break
        out += b
    return out


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "hold":
        conns = []
        lines = sys.argv[5:]
        for k in range(int(sys.argv[3])):
            try:
                conns.append(connect(addr, 2))
                if k < len(lines):
                    conns[-1].sendall(lines[k].encode() + b"\n")
            except OSError:
                break
        with open(sys.argv[4], "w") as f:
            f.write("%d\n" % len(conns))
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        while True:
            time.sleep(60)
    if cmd == "refused":
        for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
            try:
                if connect(addr).recv(1):
                    return 1
            except socket.timeout:
                return 2
            except ConnectionResetError:
                pass
        return 0
    s = connect(addr)
    if cmd == "hello":
        try:
            return 0 if s.recv(1) else 1
        except socket.timeout:
            return 1
    if cmd == "tpm":
        mssim = len(sys.argv) > 3 and sys.argv[3] == "mssim"
        if mssim:
            s.sendall(struct.pack(">IBI", 8, 0, len(GETRANDOM)) + GETRANDOM)
            n = struct.unpack(">I", recv_exact(s, 4) or b"\0\0\0\0")[0]
            rsp = recv_exact(s, min(n, 4096))
        else:
            s.sendall(GETRANDOM)
            rsp = recv_exact(s, 10)
        return 0 if rsp[:2] == b"\x80\x01" and rsp[6:10] == b"\0\0\0\0" else 1
    return 3


sys.exit(main())
