#!/usr/bin/env python3
"""Long-lived TCP flows to an echo service: N connections, each sending a line every 100 ms and
expecting it back within 2 s, for SECONDS. Prints `flows N broken B` (a flow is broken when a
send, a receive or the echo fails; it is not reopened), and on stderr each broken flow with when
it broke (seconds since the start) and at which line. Run from the lab's client namespace."""
import socket
import sys
import threading
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
broken = []
lock = threading.Lock()
start = time.time()


def flow(i):
    k = -1
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
            k += 1
            time.sleep(0.1)
        s.close()
    except OSError as e:
        with lock:
            broken.append((i, f"{e} at {time.time() - start:.2f} s, line {k}"))


threads = [threading.Thread(target=flow, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"flows {n} broken {len(broken)}", flush=True)
for i, e in broken:
    print(f"  flow {i}: {e}", file=sys.stderr)
