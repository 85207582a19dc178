#!/usr/bin/env python3
"""Resource-exhaustion and lockout attacks of issue 11 against the real server (label "abuse").

Each attack runs against chatbotmgr-server on 127.0.0.1, bounded in time, and asserts the
fixed behaviour; run against a server built before the fixes, each one fails. Clients
that must look like different machines bind their socket to an address of 127.0.0.0/8
(127.0.1.x, ...), which Linux routes to the loopback interface.

  login-flood      50 wrong-password logins from 50 addresses at once, while a reader
                   lists chatbots with a valid session and polls /readyz: the reader's p99
                   stays under 100 ms, /readyz answers 200, surplus logins get 503 with
                   Retry-After (item 1). No single read may take 500 ms either.
  json-expansion   40 concurrent 1 MiB capture bodies whose "user" metadata is
                   [0,0,0,...] with one valid key: peak RSS (VmHWM) under 256 MiB, only
                   400/413/503 answers, RSS back near where it was afterwards, and a large
                   ordinary capture still stored (item 4).
  lockout          bad logins against account A do not lock account B out from the same
                   address; a spray across many accounts from one address is still
                   stopped; without --trusted-proxy a forged X-Forwarded-For changes nothing
                   (item 6).
  trusted-proxy    with --trusted-proxy 127.0.0.1/32, clients behind the proxy (different
                   X-Forwarded-For) are limited separately, the right-most untrusted hop
                   counts, and a peer that is not the proxy cannot use the header (item 6).
  limiter-flush    an address blocked by the API-key failure limit stays blocked after
                   10,100 other addresses have each failed once (item 7).

Usage: hardening_test.py ATTACK --server PATH [--sanitized]
       (PATH defaults to $CHATBOTMGR_SERVER)
Each prints its figures as "hardening: <attack>: ..." lines.
"""

import argparse
import collections
import http.client
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "hardening"


def say(attack, text):
    print(f"hardening: {attack}: {text}", flush=True)


def proc_status(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail(f"no {field} in /proc/{pid}/status")


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Conn:
    """One HTTP/1.1 connection from a chosen source address (keep-alive)."""

    def __init__(self, port, source="127.0.0.1", timeout=30.0):
        self.port, self.source, self.timeout = port, source, timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, raw=None):
        """(status, headers with lowercase names, body bytes)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout,
                                                   source_address=(self.source, 0))
        h = {"Host": f"127.0.0.1:{self.port}"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            self.conn.request(method, path, body=data, headers=h)
            resp = self.conn.getresponse()
            payload = resp.read()
        except Exception:
            self.close()
            raise
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if resp.status >= 400:
            harness.record_error_body(TEST, resp.status, payload)
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return resp.status, hdrs, payload


def once(port, method, path, source="127.0.0.1", **kw):
    c = Conn(port, source)
    try:
        return c.request(method, path, **kw)
    finally:
        c.close()


def login(port, email, password, source="127.0.0.1", headers=None):
    status, hdrs, payload = once(port, "POST", "/api/v1/auth/login", source,
                                 body={"email": email, "password": password}, headers=headers)
    if status == 200:
        harness.remember_secret(json.loads(payload)["token"])
    return status, hdrs


def setup(args, scratch, users=1, extra_args=()):
    """A server on a fresh database with `users` users; returns (server, [(email, pw)])."""
    db = scratch.file("hardening.db")
    accounts = []
    for i in range(users):
        email, password = f"user{i}@example.com", f"pw-{i}-{random.randrange(10**12)}"
        harness.add_user(args.server, db, email, "Hardening Org", password)
        accounts.append((email, password))
    server = harness.Server(args.server, db, f"{TEST}-{args.attack}",
                            extra_args=list(extra_args)).start()
    return server, accounts


def new_key(port, token):
    status, _, payload = once(port, "POST", "/api/v1/chatbots", body={"name": "target"},
                              headers=bearer(token))
    check(status == 200, f"create answered {status}")
    key = json.loads(payload)["apiKey"]
    harness.remember_secret(key)
    return key


def session(port, email, password):
    token = harness.login(port, email, password, test=TEST)
    return token


def stop_cleanly(server, problems):
    check(server.alive(), "the server died")
    code = server.stop()
    if code != 0:
        problems.append(f"exit code {code} on SIGTERM")
    err = server.stderr_text()
    for marker in ("Sanitizer", "terminate called", "Segmentation", "Aborted"):
        if marker in err:
            problems.append(f"server stderr mentions {marker!r}")


# ---- item 1: login flood -------------------------------------------------------------------

def attack_login_flood(args, scratch):
    attack = "login-flood"
    server, [(email, password)] = setup(args, scratch)
    port = server.port
    token = session(port, email, password)
    problems = []
    rss_before = proc_status(server.pid(), "VmRSS")

    flood_on = threading.Event()
    stop = threading.Event()
    reads, readyz, reader_errors = [], [], []  # (latency ms) during the flood

    def reader():
        c = Conn(port)
        while not stop.is_set():
            for path, hdrs, sink in (("/api/v1/chatbots", bearer(token), reads),
                                     ("/readyz", {}, readyz)):
                t0 = time.monotonic()
                try:
                    status, _, _ = c.request("GET", path, headers=hdrs)
                except Exception as e:  # noqa: BLE001 -- any failure is a finding
                    reader_errors.append(f"{path}: {type(e).__name__}")
                    continue
                ms = (time.monotonic() - t0) * 1000
                if status != 200:
                    reader_errors.append(f"{path} answered {status}")
                if flood_on.is_set():
                    sink.append(ms)
            time.sleep(0.005)
        c.close()

    results = []  # (status, retry-after, ms)
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def attacker(i):
        c = Conn(port, source=f"127.0.1.{i + 1}", timeout=120)
        try:
            barrier.wait(timeout=30)
            t0 = time.monotonic()
            status, hdrs, _ = c.request("POST", "/api/v1/auth/login",
                                        body={"email": email, "password": f"wrong-{i}"})
            r = (status, hdrs.get("retry-after"), (time.monotonic() - t0) * 1000)
        except Exception as e:  # noqa: BLE001
            r = (type(e).__name__, None, 0)
        finally:
            c.close()
        with lock:
            results.append(r)

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    time.sleep(0.3)  # the reader is warm
    flood_on.set()
    t0 = time.monotonic()
    attackers = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(50)]
    for t in attackers:
        t.start()
    for t in attackers:
        t.join(timeout=180)
    flood_s = time.monotonic() - t0
    flood_on.clear()
    time.sleep(0.2)
    stop.set()
    rt.join(timeout=30)
    hwm = proc_status(server.pid(), "VmHWM")

    statuses = [r[0] for r in results]
    unauthorized = statuses.count(401)
    busy = [r for r in results if r[0] == 503]
    p99 = percentile(reads, 99)
    p99_ready = percentile(readyz, 99)
    say(attack, f"50 logins in {flood_s:.2f} s: {unauthorized} x 401, {len(busy)} x 503, "
                f"other {[s for s in statuses if s not in (401, 503)]}")
    say(attack, f"reader during the flood: {len(reads)} lists, p50 {percentile(reads, 50):.1f} ms, "
                f"p99 {p99:.1f} ms, max {max(reads or [0]):.1f} ms; {len(readyz)} /readyz, "
                f"p99 {p99_ready:.1f} ms, max {max(readyz or [0]):.1f} ms")
    say(attack, f"RSS before {rss_before // 1024} MiB, peak (VmHWM) {hwm // 1024} MiB")

    if len(results) != 50 or any(s not in (401, 503) for s in statuses):
        problems.append(f"logins answered {sorted(map(str, statuses))}")
    if unauthorized == 0:
        problems.append("no login was served at all")
    if not busy:
        problems.append("no login got 503: the login queue is not bounded")
    if any(not r[1] for r in busy):
        problems.append("a 503 without Retry-After")
    if reader_errors:
        problems.append(f"reader: {len(reader_errors)} failures, e.g. {reader_errors[:3]}")
    if len(reads) < 5 or len(readyz) < 5:
        problems.append(f"reader got only {len(reads)} lists and {len(readyz)} /readyz "
                        f"answers during the flood")
    limit_ms = 300 if args.sanitized else 100  # sanitizers slow every request down
    if p99 >= limit_ms or p99_ready >= limit_ms:
        problems.append(f"reader p99 {p99:.1f} ms, /readyz p99 {p99_ready:.1f} ms "
                        f"(limit {limit_ms})")
    # The reader is sequential: a stall is one long sample, which a percentile can hide.
    stall = max(reads + readyz or [0])
    if stall >= 5 * limit_ms:
        problems.append(f"the reader stalled for {stall:.0f} ms (limit {5 * limit_ms})")
    # Each login holds a hashing thread and 64 MiB: only login_threads of them at once.
    if not args.sanitized and hwm > 256 * 1024:
        problems.append(f"peak RSS {hwm // 1024} MiB (limit 256)")
    stop_cleanly(server, problems)
    return problems


# ---- item 4: JSON expansion ----------------------------------------------------------------

CAPTURE_LIMIT = 1_048_576


def expansion_body():
    head = b'{"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":{"a":['
    tail = b"]}}"
    n = (CAPTURE_LIMIT - len(head) - len(tail) + 1) // 2
    body = head + b",".join([b"0"] * n) + tail
    check(len(body) <= CAPTURE_LIMIT, f"body is {len(body)} bytes")
    return body


def ordinary_large_body():
    """What a real integration sends: 30 messages of 30 KiB text, plus metadata."""
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "id": f"m{i}",
                 "content": ("lorem ipsum dolor sit amet " * 1200)[:30000]} for i in range(30)]
    body = json.dumps({"conversationId": "big-ordinary", "messages": messages,
                       "user": {"id": "u1", "tags": [f"t{i}" for i in range(500)]},
                       "custom": {f"k{i}": i for i in range(200)}}).encode()
    check(800_000 < len(body) <= CAPTURE_LIMIT, f"ordinary body is {len(body)} bytes")
    return body


def attack_json_expansion(args, scratch):
    attack = "json-expansion"
    server, [(email, password)] = setup(args, scratch)
    port = server.port
    key = new_key(port, session(port, email, password))
    problems = []
    pid = server.pid()

    # Warm up with ordinary requests, then the baseline.
    for i in range(20):
        once(port, "POST", "/api/v1/capture", headers=bearer(key),
             body={"conversationId": f"warm-{i}", "messages": [{"role": "user", "content": "hi"}]})
    rss_before = proc_status(pid, "VmRSS")

    body = expansion_body()
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(40)
    peak_sampled = [rss_before]
    sampling = threading.Event()

    def sampler():
        while not sampling.is_set():
            try:
                peak_sampled[0] = max(peak_sampled[0], proc_status(pid, "VmRSS"))
            except (OSError, Fail):
                return
            time.sleep(0.01)

    def attacker(i):
        c = Conn(port, source=f"127.0.2.{i + 1}", timeout=120)
        try:
            barrier.wait(timeout=30)
            status, hdrs, payload = c.request("POST", "/api/v1/capture", raw=body,
                                              headers=bearer(key))
            r = (status, hdrs.get("retry-after"), payload[:200])
        except Exception as e:  # noqa: BLE001
            r = (type(e).__name__, None, b"")
        finally:
            c.close()
        with lock:
            results.append(r)

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    sampling.set()
    st.join(timeout=10)
    hwm = proc_status(pid, "VmHWM")
    # Memory must come back: give the allocator a moment, then measure.
    time.sleep(2.0)
    rss_after = proc_status(pid, "VmRSS")

    statuses = [r[0] for r in results]
    counts = dict(collections.Counter(map(str, statuses)))
    say(attack, f"40 bodies of {len(body)} bytes in {elapsed:.2f} s: answers {counts}")
    say(attack, f"RSS before {rss_before // 1024} MiB, peak VmHWM {hwm // 1024} MiB "
                f"(sampled VmRSS peak {peak_sampled[0] // 1024} MiB), after "
                f"{rss_after // 1024} MiB")
    if any(s not in (400, 413, 503) for s in statuses) or len(results) != 40:
        problems.append(f"answers {counts}: expected only 400, 413 or 503")
    for status, retry, payload in results:
        if status == 503 and not retry:
            problems.append("a 503 without Retry-After")
            break
    refused_by_cap = [p for s, _, p in results if s == 400 and b"too large once parsed" in p]
    if not refused_by_cap:
        problems.append("no body was refused by the parsed-size limit")
    if args.sanitized:
        pass  # ASan keeps freed memory in quarantine and shadow memory on purpose
    elif hwm > 256 * 1024:
        problems.append(f"peak RSS {hwm // 1024} MiB (limit 256)")
    elif rss_after > rss_before + 32 * 1024:
        problems.append(f"RSS after the flood {rss_after // 1024} MiB, "
                        f"{(rss_after - rss_before) // 1024} MiB over the start (limit 32)")

    # A well-behaved client's large capture is still stored, at once.
    status, _, payload = once(port, "POST", "/api/v1/capture", raw=ordinary_large_body(),
                              headers=bearer(key))
    say(attack, f"an ordinary capture of {len(ordinary_large_body())} bytes answered {status}")
    if status != 200 or json.loads(payload).get("messagesStored") != 30:
        problems.append(f"an ordinary large capture answered {status}: {payload[:200]!r}")
    stop_cleanly(server, problems)
    return problems


# ---- item 6: lockout per (address, account) ---------------------------------------------

def attack_lockout(args, scratch):
    attack = "lockout"
    server, [(a_email, a_pw), (b_email, b_pw)] = setup(args, scratch, users=2)
    port = server.port
    problems = []

    # Ten bad logins against A from one address: A is locked for that address ...
    statuses = [login(port, a_email, f"bad-{i}")[0] for i in range(10)]
    if statuses != [401] * 10:
        problems.append(f"10 bad logins to A answered {statuses}")
    status, hdrs = login(port, a_email, "bad-again")
    if status != 429 or not hdrs.get("retry-after"):
        problems.append(f"the 11th bad login to A answered {status} "
                        f"(Retry-After {hdrs.get('retry-after')})")
    status, _ = login(port, a_email, a_pw)
    if status != 429:
        problems.append(f"the right password for A from the same address answered {status}")
    # ... and B, from the same address, is not.
    status_b, hdrs_b = login(port, b_email, b_pw)
    say(attack, f"after 10 bad logins to A, a correct login to B from the same address: "
                f"{status_b} (Retry-After {hdrs_b.get('retry-after')})")
    if status_b != 200:
        problems.append(f"a correct login to B from the same address answered {status_b}")
    # A from another address is not locked either.
    status, _ = login(port, a_email, a_pw, source="127.0.3.9")
    if status != 200:
        problems.append(f"A from another address answered {status}")

    # A spray across many accounts from one address meets the looser per-address limit
    # (100 failures by default).
    spray = []
    t0 = time.monotonic()
    c = Conn(port, source="127.0.3.1", timeout=60)
    for i in range(101):
        status, hdrs, _ = c.request("POST", "/api/v1/auth/login",
                                    body={"email": f"nobody{i}@example.com", "password": "x"})
        spray.append(status)
    c.close()
    status, hdrs = login(port, b_email, b_pw, source="127.0.3.1")
    say(attack, f"spray of 101 accounts from one address in {time.monotonic() - t0:.1f} s: "
                f"{spray.count(401)} x 401 then {spray[100]}; then B's right password: {status}")
    if spray[:100] != [401] * 100 or spray[100] != 429:
        problems.append(f"spray: {spray.count(401)} x 401, {spray.count(429)} x 429 "
                        f"(expected 100 x 401, then 429)")
    if status != 429 or not hdrs.get("retry-after"):
        problems.append(f"after the spray, a login from that address answered {status}")

    # Without --trusted-proxy, X-Forwarded-For is ignored: a forged one escapes nothing.
    forged = []
    for i in range(11):
        status, _ = login(port, b_email, f"bad-{i}", source="127.0.3.2",
                          headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
        forged.append(status)
    say(attack, f"11 bad logins to B with a new forged X-Forwarded-For each: {forged}")
    if forged != [401] * 10 + [429]:
        problems.append(f"forged X-Forwarded-For: {forged} (expected 10 x 401, then 429)")
    stop_cleanly(server, problems)
    return problems


def attack_trusted_proxy(args, scratch):
    attack = "trusted-proxy"
    server, [(a_email, a_pw)] = setup(args, scratch, users=1,
                                      extra_args=["--trusted-proxy", "127.0.0.1/32",
                                                  "--trusted-proxy", "10.0.0.0/8"])
    port = server.port
    problems = []
    xff = lambda v: {"X-Forwarded-For": v}  # noqa: E731

    # Client 1 behind the proxy locks itself out of A ...
    one = [login(port, a_email, f"bad-{i}", headers=xff("198.51.100.1"))[0] for i in range(11)]
    if one != [401] * 10 + [429]:
        problems.append(f"client 1 behind the proxy: {one} (expected 10 x 401, then 429)")
    # ... client 2 behind the same proxy is limited separately.
    status, _ = login(port, a_email, "bad", headers=xff("198.51.100.2"))
    status_ok, _ = login(port, a_email, a_pw, headers=xff("198.51.100.2"))
    say(attack, f"client 1 (X-Forwarded-For 198.51.100.1): {one}; client 2 "
                f"(198.51.100.2): bad password {status}, right password {status_ok}")
    if status != 401 or status_ok != 200:
        problems.append(f"client 2 behind the proxy: {status}, then {status_ok}")
    # The right-most untrusted hop is the client: what the client wrote in front of it,
    # and trusted hops after it, change nothing.
    for header in ("203.0.113.7, 198.51.100.1", "198.51.100.1, 10.1.2.3",
                   "203.0.113.7, 198.51.100.1, 10.1.2.3"):
        status, _ = login(port, a_email, a_pw, headers=xff(header))
        if status != 429:
            problems.append(f"X-Forwarded-For {header!r}: {status}, expected 429 (client 1)")
    # A peer that is not a trusted proxy cannot use the header, to escape or to frame.
    status, _ = login(port, a_email, a_pw, source="127.0.4.1", headers=xff("198.51.100.1"))
    if status != 200:
        problems.append(f"an untrusted peer naming client 1 answered {status}")
    spoof = [login(port, a_email, f"bad-{i}", source="127.0.4.2",
                   headers=xff(f"203.0.113.{i}"))[0] for i in range(11)]
    if spoof != [401] * 10 + [429]:
        problems.append(f"an untrusted peer forging X-Forwarded-For: {spoof}")
    say(attack, f"an untrusted peer forging a new X-Forwarded-For each time: {spoof}")
    stop_cleanly(server, problems)
    return problems


# ---- item 7: flushing the limiter ----------------------------------------------------------

def attack_limiter_flush(args, scratch, others=10_100):
    attack = "limiter-flush"
    server, [(email, password)] = setup(args, scratch, extra_args=["--access-log", "off"])
    port = server.port
    key = new_key(port, session(port, email, password))
    problems = []
    bogus = "ob_live_" + "0" * 32
    x = "127.0.5.1"
    capture = {"conversationId": "c", "messages": [{"role": "user", "content": "x"}]}

    c = Conn(port, source=x)
    statuses = [c.request("POST", "/api/v1/capture", body=capture, headers=bearer(bogus))[0]
                for _ in range(101)]
    c.close()
    if statuses[:100] != [401] * 100 or statuses[100] != 429:
        problems.append(f"X: {statuses.count(401)} x 401, {statuses.count(429)} x 429")

    # 10,100 other addresses fail once each: 127.6.0.1, 127.6.0.2, ...
    sources = [f"127.6.{i // 250}.{i % 250 + 1}" for i in range(others)]
    failures, errors = [], []
    lock = threading.Lock()

    def worker(chunk):
        local, errs = [], []
        for src in chunk:
            try:
                status, _, _ = once(port, "POST", "/api/v1/capture", source=src, body=capture,
                                    headers=bearer(bogus))
                local.append(status)
            except Exception as e:  # noqa: BLE001
                errs.append(type(e).__name__)
        with lock:
            failures.extend(local)
            errors.extend(errs)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(sources[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    flood_s = time.monotonic() - t0

    status_x, hdrs_x, _ = once(port, "POST", "/api/v1/capture", source=x, body=capture,
                               headers=bearer(bogus))
    # A valid key is never refused, from X or from a fresh address.
    ok_x = once(port, "POST", "/api/v1/capture", source=x, body=capture, headers=bearer(key))[0]
    ok_new = once(port, "POST", "/api/v1/capture", source="127.7.0.1", body=capture,
                  headers=bearer(key))[0]
    say(attack, f"{len(failures)} other addresses failed once each in {flood_s:.1f} s "
                f"({failures.count(401)} x 401, {failures.count(429)} x 429, "
                f"{len(errors)} errors); then X, blocked before, answered {status_x} "
                f"(Retry-After {hdrs_x.get('retry-after')}); a valid key from X {ok_x}, "
                f"from a new address {ok_new}")
    if errors:
        problems.append(f"{len(errors)} connection errors, e.g. {errors[:3]}")
    if status_x != 429 or not hdrs_x.get("retry-after"):
        problems.append(f"X was let go: {status_x} after the flood of other addresses")
    if ok_x != 200 or ok_new != 200:
        problems.append(f"a valid key was refused: {ok_x}, {ok_new}")
    stop_cleanly(server, problems)
    return problems


# ---- item 5: one organization's size -----------------------------------------------------

def attack_org_quota(args, scratch):
    """Creates past --max-chatbots-per-org, many at once: the organization never passes it."""
    limit = 5
    server, accounts = setup(args, scratch, extra_args=["--max-chatbots-per-org", str(limit)])
    problems = []
    try:
        token = session(server.port, *accounts[0])
        results = []
        lock = threading.Lock()

        def create(i):
            status, _, payload = once(server.port, "POST", "/api/v1/chatbots",
                                      body={"name": f"bot {i}"}, headers=bearer(token))
            if status == 200:
                harness.remember_secret(json.loads(payload)["apiKey"])
            with lock:
                results.append((status, payload))

        threads = [threading.Thread(target=create, args=(i,)) for i in range(3 * limit)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(s for s, _ in results)
        say("org-quota", f"{len(results)} concurrent creates, limit {limit}: {statuses}")
        check(statuses.count(200) == limit, f"{statuses.count(200)} creates succeeded")
        refused = [json.loads(p) for s, p in results if s == 409]
        check(len(refused) == 2 * limit, "every create past the limit is 409")
        check(all(r["error"]["code"] == "conflict" and str(limit) in r["error"]["message"]
                  for r in refused), "the 409 names the limit")
        status, _, payload = once(server.port, "GET", "/api/v1/chatbots", headers=bearer(token))
        check(status == 200 and len(json.loads(payload)) == limit, "the list holds the limit")
    finally:
        stop_cleanly(server, problems)
    return problems


ATTACKS = {
    "login-flood": attack_login_flood,
    "json-expansion": attack_json_expansion,
    "lockout": attack_lockout,
    "trusted-proxy": attack_trusted_proxy,
    "limiter-flush": attack_limiter_flush,
    "org-quota": attack_org_quota,
}


def loopback_aliases_work():
    """Linux answers every 127.0.0.0/8 address on lo; elsewhere these tests cannot run."""
    try:
        s = socket.create_connection(("127.0.0.1", harness_port_probe()), timeout=2,
                                     source_address=("127.0.1.1", 0))
        s.close()
        return True
    except OSError:
        return False


def harness_port_probe():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: srv.accept()[0].close(), daemon=True).start()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("attack", choices=sorted(ATTACKS))
    ap.add_argument("--server", default=os.environ.get("CHATBOTMGR_SERVER"))
    ap.add_argument("--sanitized", action="store_true",
                    help="a sanitizer build: report RSS without limiting it, allow slower reads")
    args = ap.parse_args()
    check(args.server, "--server PATH (or CHATBOTMGR_SERVER) is required")
    check(loopback_aliases_work(), "cannot bind a client socket to 127.0.1.1")
    harness.reset_logs(f"{TEST}-{args.attack}")
    with harness.ScratchDir("chatbotmgr-hardening-") as scratch:
        problems = ATTACKS[args.attack](args, scratch)
    for p in problems:
        say(args.attack, f"PROBLEM: {p}")
    say(args.attack, "FAILED" if problems else "passed")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"hardening: FAILED: {e}")
        sys.exit(1)
