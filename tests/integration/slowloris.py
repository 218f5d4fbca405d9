#!/usr/bin/env python3
"""Slow clients for test_emulator_slowloris.sh: hold COUNT connections to 127.0.0.1:PORT
from the loopback addresses 127.0.0.FIRST, FIRST+1, ... (PER_IP each), each sending the
start of a request and then one more header line every INTERVAL seconds, never ending
the headers. Bounded: at most 5,000 connections, at most 60 seconds.

When every connection is made, READY_FILE is written. At the end (HOLD seconds after
that) a JSON report goes to stdout: how many connections were made, how many the server
closed, and when (seconds after they were made)."""
import argparse
import json
import os
import resource
import select
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--per-ip", type=int, required=True)
    ap.add_argument("--first", type=int, default=10)
    ap.add_argument("--hold", type=float, required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--ready-file", required=True)
    a = ap.parse_args()
    if not (0 < a.count <= 5000 and 0 < a.hold <= 60 and a.per_ip > 0):
        sys.exit("slowloris.py: --count 1-5000, --hold up to 60 s")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    start = time.monotonic()
    conns = {}  # fd -> [socket, made at, closed at or None]
    refused = 0
    for i in range(a.count):
        src = "127.0.0.%d" % (a.first + i // a.per_ip)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", a.port))
            s.sendall(b"GET /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        conns[s.fileno()] = [s, time.monotonic(), None]
    made = time.monotonic()
    with open(a.ready_file + ".tmp", "w") as f:
        f.write("%d\n" % len(conns))
    os.rename(a.ready_file + ".tmp", a.ready_file)

    poller = select.poll()
    for fd in conns:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    deadline = made + a.hold
    next_trickle = time.monotonic() + a.interval
    n = 0
    while time.monotonic() < deadline and any(c[2] is None for c in conns.values()):
        for fd, _ in poller.poll(100):
            c = conns[fd]
            if c[2] is not None:
                continue
            try:
                data = c[0].recv(4096)
            except OSError:
                data = b""
            if not data:
                c[2] = time.monotonic()
                poller.unregister(fd)
        if time.monotonic() >= next_trickle:
            n += 1
            for c in conns.values():
                if c[2] is None:
                    try:
                        c[0].send(b"X-Slow-%d: still here\r\n" % n)
                    except OSError:
                        pass
            next_trickle += a.interval
    closed = [c[2] - c[1] for c in conns.values() if c[2] is not None]
    report = {
        "made": len(conns),
        "refused": refused,
        "closed": len(closed),
        "open": len(conns) - len(closed),
        "closed_first_s": round(min(closed), 3) if closed else None,
        "closed_last_s": round(max(closed), 3) if closed else None,
        "connect_s": round(made - start, 3),
    }
    for c in conns.values():
        c[0].close()
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
