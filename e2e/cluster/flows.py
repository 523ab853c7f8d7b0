#!/usr/bin/env python3
"""Long-lived TCP flows to an echo service: N connections, each sending a line every 100 ms and
expecting it back within 2 s, for SECONDS. The connections open STAGGER seconds apart (the echo
backend, busybox nc, accepts with a short backlog: 40 connects at once overflowed it and a flow
could break before anything else happened). Prints `established E` once every flow has had its
first echo (or is broken), then `flows N broken B` at the end (a flow is broken when a send, a
receive or the echo fails; it is not reopened), and on stderr each broken flow with when it
broke (seconds since the start) and at which line. Run from the lab's client namespace."""
import socket
import sys
import threading
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
STAGGER = 0.05
broken = []
settled = 0  # flows that had their first echo or broke
established = 0
lock = threading.Lock()
start = time.time()


def settle(ok):
    global settled, established
    with lock:
        settled += 1
        established += ok
        if settled == n:
            print(f"established {established}", flush=True)


def flow(i):
    k = -1
    time.sleep(i * STAGGER)
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.settimeout(2)
        end = time.time() + seconds
        k = 0
        while time.time() < end:
            line = f"flow {i} line {k}\n".encode()
            s.sendall(line)
            got = b""
            while len(got) < len(line):
                chunk = s.recv(len(line) - len(got))
                if not chunk:
                    raise OSError("closed")
                got += chunk
            if got != line:
                raise OSError("wrong echo")
            if k == 0:
                settle(1)
            k += 1
            time.sleep(0.1)
        s.close()
    except OSError as e:
        with lock:
            broken.append((i, f"{e} at {time.time() - start:.2f} s, line {k}"))
        if k <= 0:
            settle(0)


threads = [threading.Thread(target=flow, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"flows {n} broken {len(broken)}", flush=True)
for i, e in broken:
    print(f"  flow {i}: {e}", file=sys.stderr)
