#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small network tools for the end-to-end tests, standard library only.

  nettool.py ping ADDR [COUNT]          ICMP echo (root); exit 0 when every echo is answered
  nettool.py serve ADDR PORT FILE       accept one TCP connection, write what arrives to FILE
  nettool.py send ADDR PORT FILE        connect and send FILE, then close
  nettool.py summary FILE               the counters of a netback/netfront JSON summary that
                                        explain a stall (backlogs, held frames, drops, TAP I/O)
"""
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(addr: str, count: int) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(1.0)
    ident = os.getpid() & 0xFFFF
    answered = 0
    for seq in range(1, count + 1):
        payload = struct.pack("!d", time.monotonic()) + bytes(range(48))
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
        sent = time.monotonic()
        sock.sendto(pkt, (addr, 0))
        deadline = sent + 1.0
        while time.monotonic() < deadline:
            try:
                data, src = sock.recvfrom(2048)
            except socket.timeout:
                break
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and rseq == seq and src[0] == addr and data[ihl + 8:] == payload:
                answered += 1
                print("reply from %s seq=%d time=%.3f ms" % (addr, seq, (time.monotonic() - sent) * 1e3))
                break
        time.sleep(0.1)
    print("%d/%d echoes answered" % (answered, count))
    return 0 if answered == count else 1


def serve(addr: str, port: int, path: str) -> int:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(30)
    conn, _ = srv.accept()
    conn.settimeout(30)
    with open(path, "wb") as f:
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            f.write(chunk)
    conn.close()
    srv.close()
    return 0


def send(addr: str, port: int, path: str) -> int:
    for _ in range(50):  # the server may still be starting
        try:
            conn = socket.create_connection((addr, port), timeout=30)
            break
        except (ConnectionRefusedError, OSError):
            time.sleep(0.1)
    else:
        print("cannot connect to %s:%d" % (addr, port), file=sys.stderr)
        return 1
    with open(path, "rb") as f:
        conn.sendfile(f)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
    return 0


def summary(path: str) -> int:
    import json
    with open(path) as f:
        j = json.load(f)
    keep = ("tx_packets", "rx_packets", "kicks", "tx_blocked", "backlog_bytes", "drops", "spurious_kicks",
            "backoff_engaged", "notifications_sent", "notifications_suppressed", "tx_errors", "rx_drops",
            "end_retries", "read_frames", "read_dropped", "written_frames", "write_errors", "failed", "reason",
            "busy_of_accounted_pct", "sleeps", "close_reason")

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in keep and not isinstance(v, (dict, list)) or k == "drops":
                    print("%s.%s = %s" % (path, k, json.dumps(v)))
                elif isinstance(v, (dict, list)):
                    walk(v, "%s.%s" % (path, k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, "%s[%d]" % (path, i))

    walk(j, "")
    return 0


def main() -> int:
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "ping":
        return ping(a[1], int(a[2]) if len(a) > 2 else 3)
    if len(a) == 4 and a[0] == "serve":
        return serve(a[1], int(a[2]), a[3])
    if len(a) == 4 and a[0] == "send":
        return send(a[1], int(a[2]), a[3])
    if len(a) == 2 and a[0] == "summary":
        return summary(a[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
