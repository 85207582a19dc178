#!/usr/bin/env python3
"""No memory for bodies a client may not send (issue 11, item 3; ctest label "abuse").

Against the real server with its default limits, peak RSS read from /proc (VmHWM):

  1. Pre-auth body flood: 1,000 connections from 20 loopback addresses (127.0.1.1-20, 50
     each: under the per-address limit) send POST /api/v1/capture with
     "Content-Length: 1048576" and no credential, or a made-up key, and stall -- half
     right after the header, half after 1,048,575 bytes of body. Every one must get its
     401 at once (the credential is checked from the header, before the body is read; the
     header-only ones prove it), and the server's peak RSS must stay under 256 MiB.
  2. Valid-key body flood: 300 connections from 127.0.2.1-6 with a valid key send the
     same and stall. The bodies buffered at once are bounded (--max-buffered-body-bytes,
     default 64 MiB): the first 64 wait for their last byte, every other one gets 503
     with Retry-After without its body being read, the peak RSS stays under 256 MiB, a
     small capture (64 KiB or less needs no room; http.client sends it in a write of its
     own) is still served, a 200 KB one is refused with 503, and once the stalled clients
     let go a large capture is served again.

Usage: preauth_memory_test.py --server PATH [--sanitized]
Prints the figures: peak RSS, the answers of each flood.
"""

import argparse
import json
import os
import random
import selectors
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rawhttp  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "preauth"
BODY = 1_048_576                    # the capture body limit: the largest body allowed
BUDGET = 64 * 1024 * 1024           # --max-buffered-body-bytes default
RSS_LIMIT_KIB = 256 * 1024
CAPTURE = {"conversationId": "preauth", "messages": [{"role": "user", "content": "hi"}]}


class Flood:
    """Many connections that each send a request head and part of a body, then stall;
    collects what the server answers. Non-blocking, one thread."""

    def __init__(self, port, sources, per_source, header_for, body_bytes_for):
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.body = memoryview(b"x" * BODY)
        for a in sources:
            for i in range(per_source):
                n = len(self.conns)
                s = rawhttp.connect(port, a, timeout=10)
                s.setblocking(False)
                c = {"sock": s, "out": header_for(n), "body_left": body_bytes_for(n),
                     "in": b"", "closed": False, "sent_body": 0}
                self.conns.append(c)
                self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def _send(self, c):
        s = c["sock"]
        try:
            while c["out"]:
                n = s.send(c["out"])
                c["out"] = c["out"][n:]
            while c["body_left"] > 0:
                n = s.send(self.body[:min(c["body_left"], 65536)])
                c["body_left"] -= n
                c["sent_body"] += n
        except BlockingIOError:
            return
        except OSError:
            c["body_left"] = 0
            c["out"] = b""
        if not c["out"] and c["body_left"] == 0 and not c["closed"]:
            self.sel.modify(s, selectors.EVENT_READ, c)

    def _recv(self, c):
        try:
            data = c["sock"].recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            c["in"] += data
        else:
            c["closed"] = True
            self.sel.unregister(c["sock"])

    def run(self, until, deadline, sample):
        while time.monotonic() < deadline and not until(self):
            for key, events in self.sel.select(timeout=0.05):
                c = key.data
                if events & selectors.EVENT_WRITE and not c["closed"]:
                    self._send(c)
                if events & selectors.EVENT_READ and not c["closed"]:
                    self._recv(c)
            sample()

    def status(self, c):
        if not c["in"].startswith(b"HTTP/1.1 "):
            return None
        return int(c["in"][9:12])

    def answered(self):
        return sum(1 for c in self.conns if self.status(c) is not None)

    def statuses(self):
        out = {}
        for c in self.conns:
            st = self.status(c)
            out[st] = out.get(st, 0) + 1
        return out

    def close(self):
        for c in self.conns:
            if not c["closed"]:
                self.sel.unregister(c["sock"])
            c["sock"].close()
        self.sel.close()


def head(key=None):
    h = (b"POST /api/v1/capture HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Type: application/json\r\nContent-Length: %d\r\n" % BODY)
    if key:
        h += b"Authorization: Bearer " + key.encode() + b"\r\n"
    return h + b"\r\n"


def start(binary, scratch, name):
    db = scratch.file(f"{name}.db")
    email, password = f"{name}@example.com", f"preauth-pw-{random.randrange(10**12)}"
    harness.add_user(binary, db, email, "Preauth Org", password)
    server = harness.Server(binary, db, f"{TEST}-{name}").start()
    return server, email, password


class Rss:
    """The server's peak RSS from now on: VmHWM, reset first (the start-up's dummy
    Argon2id hash alone takes it to about 75 MiB) where the kernel lets us, and the
    largest VmRSS sampled."""

    def __init__(self, pid):
        self.pid, self.max_sample = pid, 0
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass  # then VmHWM counts from the start: still a bound

    def sample(self):
        try:
            self.max_sample = max(self.max_sample, rawhttp.proc_status_kib(self.pid, "VmRSS"))
        except (OSError, RuntimeError):
            pass

    def peak(self):
        return max(self.max_sample, rawhttp.proc_status_kib(self.pid, "VmHWM"))


def phase_unauthenticated(binary, scratch, figures, problems, sanitized):
    server, _, _ = start(binary, scratch, "noauth")
    rss = Rss(server.pid())
    idle = rawhttp.proc_status_kib(server.pid(), "VmRSS")
    rng = random.Random(11)
    fake = ["ob_live_" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
            for _ in range(1000)]
    sources = [f"127.0.1.{i}" for i in range(1, 21)]
    flood = Flood(server.port, sources, 50,
                  header_for=lambda n: head(fake[n] if n % 4 == 1 else None),
                  # even: header only; odd: all of the body but its last byte
                  body_bytes_for=lambda n: 0 if n % 2 == 0 else BODY - 1)
    t0 = time.monotonic()
    flood.run(until=lambda f: f.answered() == len(f.conns), deadline=t0 + 20,
              sample=rss.sample)
    elapsed = time.monotonic() - t0
    # Let a server that reads the bodies (the flaw) take what the clients sent.
    end = time.monotonic() + 2
    while time.monotonic() < end:
        rss.sample()
        time.sleep(0.05)
    statuses = flood.statuses()
    header_only = [c for i, c in enumerate(flood.conns) if i % 2 == 0]
    header_only_answered = sum(1 for c in header_only if flood.status(c) is not None)
    sent = sum(c["sent_body"] for c in flood.conns)
    flood.close()
    peak = rss.peak()
    figures["pre-auth flood: answers"] = statuses
    figures["pre-auth flood: header-only connections answered"] = (
        f"{header_only_answered} of {len(header_only)}")
    figures["pre-auth flood: body bytes the clients got to send"] = f"{sent / 2**20:.0f} MiB"
    figures["pre-auth flood: server RSS idle / peak"] = (
        f"{idle // 1024} MiB / {peak // 1024} MiB (in {elapsed:.1f} s)")
    if set(statuses) - {401, 429}:
        problems.append(f"pre-auth flood: answers {statuses} (want 401 for every one)")
    if header_only_answered != len(header_only):
        problems.append(f"pre-auth flood: only {header_only_answered} of {len(header_only)} "
                        "header-only requests were answered: the body was waited for")
    if not sanitized and peak > RSS_LIMIT_KIB:
        problems.append(f"pre-auth flood: peak RSS {peak // 1024} MiB (limit 256)")
    r = rawhttp.get(server.port, source="127.0.0.200")
    if not r or r.status != 200:
        problems.append(f"pre-auth flood: /healthz afterwards answered {r.status if r else None}")
    check(server.alive(), "the server died")
    if server.stop() != 0:
        problems.append("pre-auth flood: non-zero exit on SIGTERM")


def capture_in_two_parts(port, key, size, source):
    """A capture whose body is sent 200 ms after its head (so it is not in the head's
    packet): the path that needs room in the body budget."""
    body = json.dumps(dict(CAPTURE, custom={"pad": "p" * size})).encode()
    s = rawhttp.connect(port, source, timeout=10)
    try:
        s.sendall(b"POST /api/v1/capture HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                  + key.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        time.sleep(0.2)
        try:
            s.sendall(body)
        except OSError:
            pass
        try:
            r = rawhttp.Reader(s).response()
        except (EOFError, OSError):
            return None
        if r.status >= 400:
            harness.record_error_body(TEST, r.status, r.body)
        return r
    finally:
        s.close()


def phase_valid_key(binary, scratch, figures, problems, sanitized):
    server, email, password = start(binary, scratch, "validkey")
    token = harness.login(server.port, email, password, test=TEST)
    c = harness.Client(server.port, test=TEST)
    status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "flooded"}, bearer(token))
    check(status == 200, f"create answered {status}")
    key = doc["apiKey"]
    harness.remember_secret(key)
    c.close()
    rss = Rss(server.pid())
    sources = [f"127.0.2.{i}" for i in range(1, 7)]
    flood = Flood(server.port, sources, 50, header_for=lambda n: head(key),
                  body_bytes_for=lambda n: BODY - 1)
    total = len(flood.conns)
    expect_waiting = BUDGET // BODY
    t0 = time.monotonic()
    flood.run(until=lambda f: f.answered() >= total - expect_waiting and
              all(c["body_left"] == 0 or c["closed"] for c in f.conns),
              deadline=t0 + 20, sample=rss.sample)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        rss.sample()
        time.sleep(0.05)
    statuses = flood.statuses()
    retry_after = all(b"Retry-After:" in c["in"] for c in flood.conns
                      if flood.status(c) == 503)
    # While the budget is spent: a small capture is served, a large one whose body comes
    # after its head is refused with 503.
    small = harness.Client(server.port, test=TEST)
    small_status, _, _ = small.request("POST", "/api/v1/capture", body=CAPTURE,
                                       headers=bearer(key))
    small.close()
    large_during = capture_in_two_parts(server.port, key, 200_000, "127.0.0.9")
    peak = rss.peak()
    flood.close()
    # The stalled clients let go: the budget is free again.
    large_after = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        large_after = capture_in_two_parts(server.port, key, 200_000, "127.0.0.9")
        if large_after and large_after.status == 200:
            break
        time.sleep(0.2)
    figures["valid-key flood: answers (None: waiting for its last byte)"] = statuses
    figures["valid-key flood: server peak RSS"] = f"{peak // 1024} MiB"
    figures["valid-key flood: small capture meanwhile"] = small_status
    figures["valid-key flood: 200 KB capture meanwhile / afterwards"] = (
        f"{large_during.status if large_during else None} / "
        f"{large_after.status if large_after else None}")
    if statuses.get(None, 0) != expect_waiting or statuses.get(503, 0) != total - expect_waiting:
        problems.append(f"valid-key flood: answers {statuses} (want {expect_waiting} waiting, "
                        f"{total - expect_waiting} x 503)")
    if not retry_after:
        problems.append("valid-key flood: a 503 without Retry-After")
    if small_status != 200:
        problems.append(f"valid-key flood: a small capture meanwhile answered {small_status}")
    if not large_during or large_during.status != 503:
        problems.append("valid-key flood: a large capture meanwhile answered "
                        f"{large_during.status if large_during else None} (want 503)")
    if not large_after or large_after.status != 200:
        problems.append("valid-key flood: a large capture afterwards answered "
                        f"{large_after.status if large_after else None} (want 200)")
    if not sanitized and peak > RSS_LIMIT_KIB:
        problems.append(f"valid-key flood: peak RSS {peak // 1024} MiB (limit 256)")
    check(server.alive(), "the server died")
    if server.stop() != 0:
        problems.append("valid-key flood: non-zero exit on SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    ap.add_argument("--sanitized", action="store_true",
                    help="a sanitizer build: report RSS, do not limit it")
    args = ap.parse_args()
    binary = rawhttp.server_binary_from(args.server)
    check(binary, "give --server or CHATBOTMGR_SERVER")
    harness.reset_logs(TEST)
    check(rawhttp.raise_fd_limit(1400), "RLIMIT_NOFILE too low for the flood")
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-preauth-") as scratch:
        phase_unauthenticated(binary, scratch, figures, problems, args.sanitized)
        phase_valid_key(binary, scratch, figures, problems, args.sanitized)
    for k, v in figures.items():
        print(f"preauth: {k}: {v}")
    for p in problems:
        print(f"preauth: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"preauth: FAILED: {e}")
        sys.exit(1)
