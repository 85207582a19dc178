#!/usr/bin/env python3
"""Abuse and resource limits against the real server (ctest label "abuse").

While a canary client keeps asking for /healthz and the chatbot list on its own keep-alive
connection (every answer must be a 200), the test throws at the server:

  * hostile request bodies and heads (deep nesting, huge numbers, invalid UTF-8 in names,
    duplicate keys, secret-named fields, oversized and endless bodies, oversized headers);
  * 1,000 pipelined requests on one connection (all answered, in order);
  * slowloris: connections that trickle their header (closed by the header timeout);
  * more connections than the cap (the surplus gets 503 + Retry-After and is closed; the
    server goes on serving, and takes new connections once the flood is gone);
  * credential stuffing on login and on capture (429 with Retry-After; a valid API key is
    never refused);
  * a bounded soak of mixed requests, with the server's RSS measured before and after.

Usage: abuse_test.py --server PATH [--soak N]
Prints the figures (hostile inputs tried, RSS before/after the soak) at the end.
"""

import argparse
import json
import os
import random
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "abuse"
MAX_CONNECTIONS = 1024     # ServerOptions default (the server has no flag for it)
HEADER_TIMEOUT_S = 10      # ServerOptions default header_timeout


class Canary(threading.Thread):
    """A well-behaved client: one request every 100 ms on its own connection."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        c = harness.Client(self.port, timeout=30, test=TEST)
        while not self.stop.is_set():
            for path, headers in (("/healthz", {}), ("/api/v1/chatbots", bearer(self.token))):
                try:
                    status, _, _ = c.request("GET", path, headers=headers)
                    if status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{path} answered {status}")
                except Exception as e:  # noqa: BLE001 -- any failure is a finding
                    self.failures.append(f"{path}: {type(e).__name__}: {e}")
                    c.close()
            self.stop.wait(0.1)
        c.close()


def raw_connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class RawReader:
    """Reads HTTP/1.1 responses (Content-Length framed) off a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode(errors="replace")
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        if status >= 400:
            harness.record_error_body(TEST, status, body)
        return status, headers, body


def raw_exchange(port, data, timeout=15.0):
    """Sends data on a fresh connection; returns the first response, or None when the
    server closed the connection without one."""
    s = raw_connect(port, timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close early (e.g. after answering 413/431)
        try:
            return RawReader(s).response()
        except (EOFError, ConnectionResetError):
            return None
    finally:
        s.close()


def hostile_bodies(token, key):
    key_like = "ob_live_" + "0123456789abcdef" * 2
    sess = bearer(token)
    k = bearer(key)
    deep = "[" * 30000 + "]" * 30000  # under the 64 KiB body limit: the parser must refuse it
    name_101 = "\U0001F600" * 101
    return [
        # (description, method, path, headers, body bytes, expected statuses)
        ("30k nested arrays", "POST", "/api/v1/chatbots", sess, deep.encode(), {400}),
        ("10k nested objects in settings", "PATCH", None, sess,
         ('{"settings":' + '{"a":' * 10000 + "1" + "}" * 10000 + "}").encode(), {400}),
        ("100k nested arrays (over the body limit)", "POST", "/api/v1/chatbots", sess,
         ("[" * 100000 + "]" * 100000).encode(), {413}),
        ("settings 33 deep", "POST", "/api/v1/chatbots", sess,
         ('{"name":"n","settings":' + '{"a":' * 32 + "{}" + "}" * 32 + "}").encode(), {400}),
        ("capture user 40 deep", "POST", "/api/v1/capture", k,
         ('{"conversationId":"c","messages":[{"role":"user","content":"x"}],"user":'
          + '{"a":' * 39 + "{}" + "}" * 39 + "}").encode(), {400}),
        ("1e400", "POST", "/api/v1/chatbots", sess, b'{"name":"n","settings":{"x":1e400}}', {400}),
        ("-1e999999", "PATCH", None, sess, b'{"settings":{"x":-1e999999}}', {400}),
        ("100k-digit number", "POST", "/api/v1/chatbots", sess,
         b'{"name":"n","settings":{"x":' + b"7" * 100000 + b"}}", {400, 413}),
        ("2^64 accepted exactly", "PATCH", None, sess,
         b'{"settings":{"u":18446744073709551616}}', {200}),
        ("name 0xFF", "POST", "/api/v1/chatbots", sess, b'{"name":"\xff"}', {400}),
        ("name overlong", "POST", "/api/v1/chatbots", sess, b'{"name":"\xc0\xaf"}', {400}),
        ("name surrogate bytes", "PATCH", None, sess, b'{"name":"\xed\xa0\x80"}', {400}),
        ("name past U+10FFFF", "POST", "/api/v1/chatbots", sess,
         b'{"name":"\xf4\x90\x80\x80"}', {400}),
        ("name lone surrogate escape", "POST", "/api/v1/chatbots", sess,
         b'{"name":"\\ud800"}', {400}),
        ("name NUL escape", "PATCH", None, sess, b'{"name":"a\\u0000b"}', {400}),
        ("name 101 emoji", "POST", "/api/v1/chatbots", sess,
         json.dumps({"name": name_101}, ensure_ascii=False).encode(), {400}),
        ("capture content invalid UTF-8", "POST", "/api/v1/capture", k,
         b'{"conversationId":"c","messages":[{"role":"user","content":"\xfe"}]}', {400}),
        ("duplicate name", "POST", "/api/v1/chatbots", sess, b'{"name":"a","name":"b"}', {400}),
        ("duplicate nested", "PATCH", None, sess, b'{"settings":{"a":1,"a":2}}', {400}),
        ("duplicate escaped", "POST", "/api/v1/chatbots", sess,
         b'{"name":"a","n\\u0061me":"b"}', {400}),
        ("duplicate in capture", "POST", "/api/v1/capture", k,
         b'{"conversationId":"c","conversationId":"d","messages":[{"role":"user","content":"x"}]}',
         {400}),
        ("key-named field", "POST", "/api/v1/chatbots", sess,
         ('{"name":"n","' + key_like + '":1}').encode(), {400}),
        ("key inside field name", "PATCH", None, sess, ('{" ' + key_like + '":1}').encode(), {400}),
        ("trailing garbage", "POST", "/api/v1/chatbots", sess, b'{"name":"a"}x', {400}),
        ("comment", "PATCH", None, sess, b'{/*c*/"name":"a"}', {400}),
        ("NaN", "PATCH", None, sess, b'{"settings":{"x":NaN}}', {400}),
        ("empty body create", "POST", "/api/v1/chatbots", sess, b"", {400}),
        ("body is a string", "POST", "/api/v1/capture", k, b'"hello"', {400}),
        ("101 messages", "POST", "/api/v1/capture", k,
         json.dumps({"conversationId": "c", "messages": [{"role": "user", "content": "x"}] * 101})
         .encode(), {400}),
        ("settings near 64 KiB", "PATCH", None, sess,
         json.dumps({"settings": {"pad": "y" * 40000}}).encode(), {200}),
        ("settings over 64 KiB after the merge", "PATCH", None, sess,
         json.dumps({"settings": {"big": "x" * 30000}}).encode(), {400}),
        ("settings back under", "PATCH", None, sess, b'{"settings":{"pad":null}}', {200}),
        ("chatbot body over 64 KiB", "POST", "/api/v1/chatbots", sess,
         json.dumps({"name": "n", "settings": {"big": "x" * 70000}}).encode(), {413}),
        ("capture body over 1 MiB", "POST", "/api/v1/capture", k,
         json.dumps({"conversationId": "c", "messages": [{"role": "user",
                                                          "content": "x" * 1100000}]}).encode(),
         {413}),
        ("session token as API key", "POST", "/api/v1/capture", sess,
         b'{"conversationId":"c","messages":[{"role":"user","content":"x"}]}', {401, 429}),
        ("API key as session", "GET", "/api/v1/chatbots", k, None, {401, 429}),
        ("text/plain body", "POST", "/api/v1/chatbots",
         dict(sess, **{"Content-Type": "text/plain"}), b'{"name":"a"}', {415}),
        ("path traversal id", "GET", "/api/v1/chatbots/../../etc/passwd", sess, None, {404}),
        ("uppercase uuid", "GET", "/api/v1/chatbots/5B0A3F9E-2C1D-4E8F-9A7B-1C2D3E4F5A6B",
         sess, None, {404}),
        ("key in URL", "GET", f"/api/v1/chatbots/{key_like}?token={key_like}", sess, None, {404}),
    ]


def run_hostile(port, token, key, bot_id):
    tried = 0
    problems = []
    c = harness.Client(port, timeout=30, test=TEST)
    for what, method, path, headers, body, expected in hostile_bodies(token, key):
        tried += 1
        path = path or f"/api/v1/chatbots/{bot_id}"
        h = {"Content-Type": "application/json"}
        h.update(headers)
        try:
            status, hdrs, payload = c.request(method, path, headers=h, raw=body)
        except Exception as e:  # noqa: BLE001
            # The server may close after a 413 decided from Content-Length; that is fine
            # only if that is what was expected.
            c.close()
            if 413 not in expected:
                problems.append(f"{what}: {type(e).__name__}")
            continue
        if status not in expected:
            problems.append(f"{what}: {status} not in {sorted(expected)}")
        if status != 200:
            try:
                doc = json.loads(payload)
                if doc.get("ok") is not False or "code" not in doc.get("error", {}):
                    problems.append(f"{what}: error body has the wrong shape")
            except ValueError:
                problems.append(f"{what}: error body is not JSON")
        if harness.SECRET_RE.search(payload):
            problems.append(f"{what}: answer carries a secret")

    # Heads that Beast itself must refuse.
    raw_cases = [
        ("Content-Length of 10 GB", b"POST /api/v1/capture HTTP/1.1\r\nHost: x\r\n"
         b"Authorization: Bearer " + key.encode() + b"\r\nContent-Type: application/json\r\n"
         b"Content-Length: 10737418240\r\n\r\n{", {413}),
        ("header block over 16 KiB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
         + b"a" * 17000 + b"\r\n\r\n", {431, None}),
        ("10k headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 10000 + b"\r\n",
         {431, None}),
        ("bad request line", b"GARBAGE\r\n\r\n", {400, None}),
        ("both Content-Length and chunked", b"POST /api/v1/chatbots HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400, 401, None}),
        ("negative Content-Length", b"POST /api/v1/chatbots HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: -1\r\n\r\n", {400, None}),
    ]
    for what, data, expected in raw_cases:
        tried += 1
        r = raw_exchange(port, data)
        status = r[0] if r else None
        if status not in expected:
            problems.append(f"{what}: {status} not in {expected}")

    # An endless chunked body: the server must stop reading at the capture limit.
    tried += 1
    s = raw_connect(port, timeout=15)
    s.sendall(b"POST /api/v1/capture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + key.encode() + b"\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    sent, status = 0, None
    try:
        while sent < 64 * 1024 * 1024:  # bounded: 64 MiB at most
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # closed by the server: what we want
    try:
        r = RawReader(s).response()
        status = r[0]
    except (EOFError, OSError):
        pass
    s.close()
    if sent >= 64 * 1024 * 1024:
        problems.append("endless chunked body: the server read 64 MiB without stopping")
    if status not in (413, None):
        problems.append(f"endless chunked body answered {status}")
    c.close()
    return tried, problems


def run_pipelined(port, token, bot_id, n=1000):
    """n requests written at once on one connection; all answered, in order."""
    s = raw_connect(port, timeout=30)
    reqs = []
    for i in range(n):
        if i % 2 == 0:
            reqs.append(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        else:
            reqs.append(f"GET /api/v1/chatbots/{bot_id} HTTP/1.1\r\nHost: x\r\n"
                        f"Authorization: Bearer {token}\r\n\r\n".encode())
    sender = threading.Thread(target=lambda: s.sendall(b"".join(reqs)), daemon=True)
    sender.start()
    reader = RawReader(s)
    answered, wrong = 0, 0
    try:
        for i in range(n):
            status, _, body = reader.response()
            answered += 1
            if status != 200:
                wrong += 1
            elif i % 2 == 1 and json.loads(body).get("id") != bot_id:
                wrong += 1
    except (EOFError, OSError):
        pass
    sender.join(timeout=30)
    s.close()
    return answered, wrong


def run_slowloris(port, count=64):
    """Connections that send one header byte per second; the header timeout must close
    them. Returns how many were closed by the server within a bounded wait."""
    socks = []
    for _ in range(count):
        s = raw_connect(port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    closed = set()
    deadline = time.monotonic() + HEADER_TIMEOUT_S * 3 + 10  # a bound, not an assertion
    while len(closed) < count and time.monotonic() < deadline:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(b"X")
                data = s.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 4"):
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(1.0)
    for s in socks:
        s.close()
    return len(closed)


def run_connection_flood(port, extra=100):
    """MAX_CONNECTIONS + extra connections at once."""
    total = MAX_CONNECTIONS + extra
    socks, refused = [], 0
    for _ in range(total):
        try:
            socks.append(raw_connect(port, timeout=10))
        except OSError:
            refused += 1  # the kernel backlog may refuse too: still bounded
    busy = 0
    time.sleep(1.0)
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data.startswith(b"HTTP/1.1 503") and b"Retry-After" in data:
                busy += 1
        except BlockingIOError:
            pass
        except OSError:
            pass
    held = len(socks) - busy
    for s in socks:
        s.close()
    return total, busy, held, refused


def server_flags(binary):
    import subprocess
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                         timeout=30)
    return {w.rstrip(",") for w in (out.stdout + out.stderr).split() if w.startswith("--")}


def run_stuffing(port, email, key):
    problems, tried = [], 0
    c = harness.Client(port, timeout=60, test=TEST)
    statuses = []
    for i in range(12):
        tried += 1
        status, hdrs, _ = c.request("POST", "/api/v1/auth/login",
                                    body={"email": email, "password": f"guess-{i}"})
        statuses.append(status)
        if status == 429 and not hdrs.get("retry-after"):
            problems.append("login 429 without Retry-After")
    if statuses[:10] != [401] * 10 or statuses[10:] != [429, 429]:
        problems.append(f"login stuffing statuses {statuses}")
    # Capture with made-up keys: 401 up to the limit, then 429.
    key_statuses = []
    rng = random.Random(7)
    for _ in range(110):
        tried += 1
        guess = "ob_live_" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
        status, hdrs, _ = c.request("POST", "/api/v1/capture", raw=b"{}", headers=bearer(guess))
        key_statuses.append(status)
        if status == 429 and not hdrs.get("retry-after"):
            problems.append("capture 429 without Retry-After")
    if key_statuses[:100] != [401] * 100 or set(key_statuses[100:]) != {429}:
        problems.append(f"capture stuffing: {key_statuses.count(401)} x 401, "
                        f"{key_statuses.count(429)} x 429")
    # A valid key is never refused, even now.
    status, _, _ = c.request("POST", "/api/v1/capture", headers=bearer(key),
                             body={"conversationId": "after-stuffing",
                                   "messages": [{"role": "user", "content": "still here"}]})
    if status != 200:
        problems.append(f"valid key refused after stuffing: {status}")
    c.close()
    return tried, problems


def soak(port, token, key, bot_id, n):
    """n mixed requests on 4 connections, hostile ones included."""
    errors = []

    def worker(w):
        rng = random.Random(w)
        c = harness.Client(port, timeout=30, test=TEST)
        for i in range(n // 4):
            r = rng.random()
            try:
                if r < 0.25:
                    status, _, doc = c.json("POST", "/api/v1/chatbots",
                                            {"name": f"soak {w} {i}",
                                             "settings": {"i": i, "pad": "p" * rng.randrange(2000)}},
                                            bearer(token))
                    if status == 200:
                        harness.remember_secret(doc["apiKey"])
                        c.request("DELETE", f"/api/v1/chatbots/{doc['chatbot']['id']}",
                                  headers=bearer(token))
                elif r < 0.5:
                    status, _, _ = c.request("POST", "/api/v1/capture", headers=bearer(key),
                                             body={"conversationId": f"soak-{w}-{i % 10}",
                                                   "messages": [{"role": "user",
                                                                 "content": "s" * 500}]})
                elif r < 0.7:
                    status, _, _ = c.request("PATCH", f"/api/v1/chatbots/{bot_id}",
                                             headers=bearer(token),
                                             body={"settings": {f"w{w}": i}})
                elif r < 0.85:
                    status, _, _ = c.request("GET", "/api/v1/chatbots", headers=bearer(token))
                else:
                    status, _, _ = c.request("POST", "/api/v1/chatbots", headers=bearer(token),
                                             raw=b'{"name":' + b"[" * 5000)
                    status = 200 if status == 400 else status
                if status != 200:
                    errors.append(status)
            except Exception as e:  # noqa: BLE001
                errors.append(type(e).__name__)
                c.close()
        c.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--soak", type=int, default=4000)
    ap.add_argument("--sanitized", action="store_true",
                    help="the server is a sanitizer build: report RSS, do not limit it")
    args = ap.parse_args()
    harness.reset_logs(TEST)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = MAX_CONNECTIONS + 400
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))
    problems = []
    figures = {}
    with harness.ScratchDir("chatbotmgr-abuse-") as scratch:
        db = scratch.file("abuse.db")
        email, password = "abuse@example.com", f"abuse-pw-{random.randrange(10**12)}"
        harness.add_user(args.server, db, email, "Abuse Org", password)
        # The flood below is about the global cap: one address may use all of it here
        # (the per-address limit has its own test, connection_limits_test.py).
        extra = (["--max-connections-per-address", "0"]
                 if "--max-connections-per-address" in server_flags(args.server) else [])
        server = harness.Server(args.server, db, TEST, extra_args=extra).start()
        token = harness.login(server.port, email, password, test=TEST)
        c = harness.Client(server.port, test=TEST)
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "target"}, bearer(token))
        check(status == 200, f"create answered {status}")
        key, bot_id = doc["apiKey"], doc["chatbot"]["id"]
        harness.remember_secret(key)
        c.close()
        canary = Canary(server.port, token)
        canary.start()

        # Warm up, then the RSS baseline.
        check(not soak(server.port, token, key, bot_id, 400), "warm-up requests failed")
        rss_before = server.rss_kib()

        # Stuffing first: its failures open the limiter's window, so the counts are exact.
        tried, p = run_stuffing(server.port, email, key)
        problems += p
        figures["stuffing attempts"] = tried

        tried, p = run_hostile(server.port, token, key, bot_id)
        problems += p
        figures["hostile bodies and heads"] = tried

        answered, wrong = run_pipelined(server.port, token, bot_id)
        figures["pipelined requests"] = 1000
        if answered != 1000 or wrong:
            problems.append(f"pipelining: {answered}/1000 answered, {wrong} wrong")

        closed = run_slowloris(server.port)
        figures["slowloris connections"] = 64
        if closed != 64:
            problems.append(f"slowloris: only {closed}/64 connections closed by the server")

        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need:
            total, busy, held, refused = run_connection_flood(server.port)
            figures["flood connections"] = total
            if busy == 0 or held > MAX_CONNECTIONS:
                problems.append(f"connection flood: {busy} got 503, {held} held, "
                                f"{refused} refused")
        else:
            # Cannot open more connections than the cap here: say so, loudly.
            total, busy, held, refused = 0, 0, 0, 0
            print(f"abuse: SKIPPED the connection flood: RLIMIT_NOFILE hard limit "
                  f"{resource.getrlimit(resource.RLIMIT_NOFILE)[1]} < {need}")
        # The flood is gone: new connections are served again.
        c = harness.Client(server.port, test=TEST)
        status, _, _ = c.request("GET", "/healthz")
        c.close()
        if status != 200:
            problems.append(f"after the flood a new connection got {status}")

        # Two rounds of the soak: the first may still grow allocator caches and buffers;
        # the second must not grow much more (a leak grows with every round).
        errors = soak(server.port, token, key, bot_id, args.soak)
        rss_after = server.rss_kib()
        errors += soak(server.port, token, key, bot_id, args.soak)
        rss_after2 = server.rss_kib()
        figures["soak requests"] = 2 * args.soak
        if errors:
            problems.append(f"soak: {len(errors)} failures, e.g. {errors[:5]}")

        canary.stop.set()
        canary.join(timeout=60)
        if canary.failures:
            problems.append(f"canary: {len(canary.failures)} failures, e.g. {canary.failures[:3]}")
        if canary.ok < 10:
            problems.append(f"canary: only {canary.ok} answers")
        check(server.alive(), "the server died")
        code = server.stop()
        if code != 0:
            problems.append(f"exit code {code} on SIGTERM")
        err = server.stderr_text()
        for marker in ("Sanitizer", "terminate called", "Segmentation", "Aborted"):
            if marker in err:
                problems.append(f"server stderr mentions {marker!r}")

    hostile_total = sum(figures.values()) - figures["soak requests"]
    print("abuse: " + ", ".join(f"{k}: {v}" for k, v in figures.items()))
    print(f"abuse: hostile inputs tried: {hostile_total}")
    print(f"abuse: canary answers: {canary.ok}, failures: {len(canary.failures)}")
    print(f"abuse: connection flood: {busy} answered 503 + Retry-After, {held} held, "
          f"{refused} refused by the kernel")
    print(f"abuse: server RSS before the abuse and soak {rss_before} KiB, after the first "
          f"{args.soak}-request soak {rss_after} KiB, after the second {rss_after2} KiB")
    # Bounded memory: overall growth stays small, and the second soak adds next to nothing
    # (SQLite's page caches, 2 MiB per connection, may still fill; a leak of 2 KiB per
    # request would add 8 MiB per round).
    if args.sanitized:
        pass  # ASan's quarantine keeps freed memory on purpose
    elif rss_after2 - rss_before > 64 * 1024:
        problems.append(f"RSS grew by {(rss_after2 - rss_before) // 1024} MiB (limit 64)")
    if not args.sanitized and rss_after2 - rss_after > 8 * 1024:
        problems.append(f"RSS grew by {rss_after2 - rss_after} KiB in the second soak "
                        f"(limit 8 MiB)")
    for p in problems:
        print(f"abuse: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"abuse: FAILED: {e}")
        sys.exit(1)
