#!/usr/bin/env python3
"""One client cannot hold every connection slot (issue 11, item 2; ctest label "abuse").

Against the real server, with its default limits unless a case says otherwise:

  * one address (127.0.0.1) opens 1,100 keep-alive connections, each with one request
    answered: it holds at most --max-connections-per-address (default 64) of them, every
    extra one gets a 503 or is closed, and a second address (127.0.0.2 -- loopback has the
    whole 127.0.0.0/8) is served with a 200 all along. Once the first address lets go, it
    can connect again.
  * 10,001 requests pipelined on one connection: the 10,000th answer (the default
    --max-requests-per-connection) says "Connection: close" and the connection ends there;
  * --max-requests-per-connection 5: the fifth answer closes the connection;
  * --max-connection-lifetime 2s: a connection that sends a request every 0.5 s gets
    "Connection: close" on the first answer past 2 s, and is closed after it.

Usage: connection_limits_test.py --server PATH
Prints the figures (connections held by one address, what the second address got).
"""

import argparse
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rawhttp  # noqa: E402
from harness import Fail, check  # noqa: E402

TEST = "connlimits"
PER_ADDRESS_DEFAULT = 64
REQUESTS_DEFAULT = 10_000
FLOOD = 1_100  # more than the server's max_connections (1,024)
KEEP_ALIVE_GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def start(binary, scratch, name, extra=()):
    db = scratch.file(f"{name}.db")
    harness.add_user(binary, db, f"{name}@example.com", "Limits Org",
                     f"limits-pw-{random.randrange(10**12)}")
    return harness.Server(binary, db, f"{TEST}-{name}", extra_args=list(extra)).start()


def hold_connections(port, source, n):
    """n connections from source, each with one keep-alive request. Returns the sockets
    that got a 200 and stayed open, and how many were refused (503, or closed)."""
    held, refused, other = [], 0, []
    for _ in range(n):
        try:
            s = rawhttp.connect(port, source, timeout=10)
        except OSError:
            refused += 1  # the kernel backlog may refuse too
            continue
        try:
            s.sendall(KEEP_ALIVE_GET)
            r = rawhttp.Reader(s).response()
        except (EOFError, OSError):
            refused += 1
            s.close()
            continue
        if r.status == 200 and not r.closes:
            held.append(s)
        else:
            if r.status == 503:
                refused += 1
            else:
                other.append(r.status)
            s.close()
    return held, refused, other


def case_per_address(binary, scratch, figures, problems):
    server = start(binary, scratch, "peraddr")
    port = server.port
    held, refused, other = hold_connections(port, "127.0.0.1", FLOOD)
    figures["connections held by one address"] = len(held)
    figures["its extra connections refused"] = refused
    if other:
        problems.append(f"per-address: unexpected answers {sorted(set(other))}")
    # While the first address holds everything it may, others are served.
    second = [rawhttp.get(port, source=f"127.0.0.{i}") for i in (2, 3, 4)]
    figures["second address while the first holds its maximum"] = (
        "200" if all(r and r.status == 200 for r in second)
        else ", ".join(str(r.status if r else "closed") for r in second))
    if not all(r and r.status == 200 for r in second):
        problems.append("per-address: another address was not served while one address "
                        f"held {len(held)} connections: {[r.status if r else None for r in second]}")
    if len(held) > PER_ADDRESS_DEFAULT:
        problems.append(f"per-address: one address holds {len(held)} connections "
                        f"(limit {PER_ADDRESS_DEFAULT})")
    if len(held) < PER_ADDRESS_DEFAULT:
        problems.append(f"per-address: only {len(held)} of {PER_ADDRESS_DEFAULT} allowed "
                        f"connections were served")
    # A held connection still works (keep-alive).
    if held:
        try:
            held[0].sendall(KEEP_ALIVE_GET)
            r = rawhttp.Reader(held[0]).response()
            if r.status != 200:
                problems.append(f"per-address: a held connection answered {r.status}")
        except (EOFError, OSError) as e:
            problems.append(f"per-address: a held connection failed: {e}")
    for s in held:
        s.close()
    # Once the address has let go, it is served again.
    deadline = time.monotonic() + 10
    again = None
    while time.monotonic() < deadline:
        again = rawhttp.get(port, source="127.0.0.1")
        if again and again.status == 200:
            break
        time.sleep(0.1)
    if not again or again.status != 200:
        problems.append("per-address: the address was not served again after letting go")
    check(server.alive(), "the server died")
    code = server.stop()
    if code != 0:
        problems.append(f"per-address: exit code {code} on SIGTERM")


def pipelined_until_close(port, n):
    """n requests written at once on one connection. Returns (answers read, index of the
    first "Connection: close" answer or None, whether the connection then closed)."""
    s = rawhttp.connect(port, timeout=30)
    data = KEEP_ALIVE_GET * n

    def send():
        try:
            s.sendall(data)
        except OSError:
            pass  # closed by the server after its last answer

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    reader = rawhttp.Reader(s)
    answered, close_at, closed = 0, None, False
    try:
        while answered < n:
            r = reader.response()
            answered += 1
            if r.status != 200:
                break
            if r.closes:
                close_at = answered
                closed = reader.closed(timeout=5)
                break
    except (EOFError, ConnectionResetError):
        closed = True
    except OSError:
        pass
    sender.join(timeout=30)
    s.close()
    return answered, close_at, closed


def case_request_count_default(binary, scratch, figures, problems):
    server = start(binary, scratch, "reqdefault")
    answered, close_at, closed = pipelined_until_close(server.port, REQUESTS_DEFAULT + 1)
    figures["pipelined answers on one connection (default bound)"] = answered
    if close_at != REQUESTS_DEFAULT or not closed:
        problems.append(f"request bound (default): answer {close_at} of {answered} closed the "
                        f"connection (want {REQUESTS_DEFAULT}), closed={closed}")
    server.stop()


def case_request_count_flag(binary, scratch, figures, problems):
    server = start(binary, scratch, "reqflag", ["--max-requests-per-connection", "5"])
    s = rawhttp.connect(server.port)
    reader = rawhttp.Reader(s)
    closes = []
    try:
        for _ in range(5):
            s.sendall(KEEP_ALIVE_GET)
            r = reader.response()
            closes.append(r.closes)
        closed = reader.closed(timeout=5)
    except (EOFError, OSError) as e:
        problems.append(f"--max-requests-per-connection 5: {type(e).__name__} after "
                        f"{len(closes)} answers")
        closed = False
    s.close()
    if closes != [False] * 4 + [True] or not closed:
        problems.append(f"--max-requests-per-connection 5: Connection: close on {closes}, "
                        f"closed={closed}")
    figures["--max-requests-per-connection 5"] = f"answer {closes.index(True) + 1 if True in closes else None} closes"
    server.stop()


def case_lifetime(binary, scratch, figures, problems):
    server = start(binary, scratch, "lifetime", ["--max-connection-lifetime", "2s"])
    # A busy connection: one request every 0.5 s.
    s = rawhttp.connect(server.port)
    reader = rawhttp.Reader(s)
    t0 = time.monotonic()
    closed_after = None
    try:
        while time.monotonic() - t0 < 8:
            s.sendall(KEEP_ALIVE_GET)
            r = reader.response()
            if r.status != 200:
                problems.append(f"lifetime: answered {r.status}")
                break
            if r.closes:
                closed_after = time.monotonic() - t0
                if not reader.closed(timeout=5):
                    problems.append("lifetime: Connection: close but the connection stayed open")
                break
            time.sleep(0.5)
    except (EOFError, OSError) as e:
        problems.append(f"lifetime: the busy connection failed without Connection: close "
                        f"({type(e).__name__})")
    s.close()
    figures["busy connection closed after (lifetime 2 s)"] = (
        f"{closed_after:.1f} s" if closed_after else "never")
    if closed_after is None or not 1.9 <= closed_after <= 4.0:
        problems.append(f"lifetime: busy connection got Connection: close after {closed_after}")
    server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    args = ap.parse_args()
    binary = rawhttp.server_binary_from(args.server)
    check(binary, "give --server or CHATBOTMGR_SERVER")
    harness.reset_logs(TEST)
    check(rawhttp.raise_fd_limit(FLOOD + 200), "RLIMIT_NOFILE too low for the flood")
    flags = rawhttp.server_flags(binary)
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-connlimits-") as scratch:
        case_per_address(binary, scratch, figures, problems)
        case_request_count_default(binary, scratch, figures, problems)
        for flag, case in (("--max-requests-per-connection", case_request_count_flag),
                           ("--max-connection-lifetime", case_lifetime)):
            if flag in flags:
                case(binary, scratch, figures, problems)
            else:
                problems.append(f"the server has no {flag} flag")
    for k, v in figures.items():
        print(f"connlimits: {k}: {v}")
    for p in problems:
        print(f"connlimits: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"connlimits: FAILED: {e}")
        sys.exit(1)
