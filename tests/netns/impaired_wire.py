#!/usr/bin/env python3
"""A userspace Ethernet wire between two TAP devices that delays and drops frames.

Stands in for `tc qdisc ... netem` on kernels built without sch_netem (the CI VM's is one).
Each direction independently: every frame is dropped with probability --loss, the rest are
delivered --delay-ms later, in order. Prints "ready" once both TAPs exist, then
"forwarded=N dropped=M" twice a second; exits when killed.

    impaired_wire.py --a wan_a --b wan_b --delay-ms 50 --loss 0.05
"""
import argparse
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--delay-ms", type=float, default=50.0)
    p.add_argument("--loss", type=float, default=0.05)
    args = p.parse_args()
    a, b = open_tap(args.a), open_tap(args.b)
    peer = {a: b, b: a}
    delay = args.delay_ms / 1000.0
    rng = random.Random()
    queue = []  # (due, seq, out_fd, frame)
    seq = 0
    stats = {"forwarded": 0, "dropped": 0}
    print("ready", flush=True)
    last_report = time.monotonic()
    while True:
        now = time.monotonic()
        if now - last_report >= 0.5:
            # Tests read these to check the impairment really was in the path.
            print("forwarded=%(forwarded)d dropped=%(dropped)d" % stats, flush=True)
            last_report = now
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                os.write(out, frame)
                stats["forwarded"] += 1
            except OSError:
                pass  # the other side is down (interface not up yet): a lost frame
        timeout = max(0.0, queue[0][0] - now) if queue else 0.5
        readable, _, _ = select.select([a, b], [], [], timeout)
        for fd in readable:
            try:
                frame = os.read(fd, 65536)
            except OSError:
                continue
            if rng.random() < args.loss:
                stats["dropped"] += 1
                continue
            seq += 1
            heapq.heappush(queue, (time.monotonic() + delay, seq, peer[fd], frame))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
