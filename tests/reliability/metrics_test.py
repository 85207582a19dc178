#!/usr/bin/env python3
"""Prometheus metrics of the real server (issue 15, item 1; API.md section 16; ctest label
"ops").

Starts chatbotmgr-server with --metrics-listen on a second loopback port, scrapes, drives a
mixed load (logins right and wrong, creates, reads, patches, rotations, captures with good
and bad keys until the auth rate limit answers 429, an unknown route, a chatbot id in the
path), scrapes again while one request is held half-sent on an open connection, and checks:

  * `promtool check metrics` (Debian package prometheus) accepts the scrape;
  * every metric of section 16 is there, and each one that the load drives has moved;
  * labels are bounded: route is a name of the route table (or "unmatched"), never a path
    or an id; no key, token, password or chatbot id appears anywhere in the scrape;
  * the API port does not serve /metrics, and the metrics port serves nothing else.

With --prometheus (when the prometheus binary runs), a real Prometheus scrapes the server
every second on loopback and its HTTP API must answer
rate(chatbotmgr_http_requests_total[1m]) with a non-empty vector (bounded: 90 s).

Usage: metrics_test.py --server PATH [--promtool PATH] [--prometheus PATH]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "metrics"

# API.md section 16, and the route names of adapters/beast/src/routes.cpp.
REQUIRED = [
    "chatbotmgr_http_requests_total",
    "chatbotmgr_http_request_duration_seconds_bucket",
    "chatbotmgr_http_request_duration_seconds_count",
    "chatbotmgr_http_requests_in_flight",
    "chatbotmgr_http_connections_open",
    "chatbotmgr_key_verifications_total",
    "chatbotmgr_logins_total",
    "chatbotmgr_storage_commit_duration_seconds_count",
    "chatbotmgr_storage_commit_batch_size_count",
    "chatbotmgr_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
]
ROUTES_CPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "adapters",
                          "beast", "src", "routes.cpp")


def route_names():
    """The names of the route table (kRoutes rows: {"name", "/pattern", ...}) and
    "unmatched"."""
    with open(ROUTES_CPP) as f:
        names = set(re.findall(r'^\s*\{"(\w+)",\s+"/', f.read(), re.M))
    check(len(names) >= 10, f"found only {len(names)} routes in {ROUTES_CPP}")
    return names | {"unmatched"}


ROUTES = route_names()
KEY_RESULTS = {"valid", "previous_key", "invalid", "expired", "rate_limited"}
# OpenTelemetry's http.server.request.duration buckets.
OTEL_BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1",
                "2.5", "5", "7.5", "10", "+Inf"]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m, f"unparsable sample line: {line[:100]}")
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def total(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, w) in labels for k, w in want.items()))


def series(samples, name):
    return [dict(labels) for (n, labels) in samples if n == name]


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        check(r.status == 200, f"scrape answered {r.status}")
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("text/plain; version=0.0.4"), f"Content-Type {ctype!r}")
        return r.read().decode()


def promtool_check(promtool, text, problems, figures):
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode().strip()
    figures["promtool check metrics"] = "ok" if r.returncode == 0 and not out else out[:300]
    if r.returncode != 0 or out:
        problems.append(f"promtool check metrics: exit {r.returncode}: {out[:500]}")


def mixed_load(port, email, password):
    """Returns the secrets and ids it saw, and what it did."""
    c = harness.Client(port, test=TEST)
    seen, did = [], {}

    def count(what):
        did[what] = did.get(what, 0) + 1

    status, _, _ = c.json("POST", "/api/v1/auth/login", {"email": email, "password": "wrong-pw"})
    check(status == 401, f"wrong login answered {status}")
    count("login failure")
    token = harness.login(port, email, password, test=TEST)
    count("login success")
    seen.append(token)
    bots = []
    for i in range(3):
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": f"metrics-{i}"},
                                bearer(token))
        check(status == 200, f"create answered {status}")
        harness.remember_secret(doc["apiKey"])
        bots.append((doc["chatbot"]["id"], doc["apiKey"]))
        seen += [doc["chatbot"]["id"], doc["apiKey"]]
        count("create")
    for bot_id, key in bots:
        check(c.json("GET", f"/api/v1/chatbots/{bot_id}", None, bearer(token))[0] == 200, "get")
        check(c.json("PATCH", f"/api/v1/chatbots/{bot_id}", {"settings": {"t": 1}},
                     bearer(token))[0] == 200, "patch")
        for n in range(5):
            body = {"conversationId": f"c{n}",
                    "messages": [{"role": "user", "content": "hi", "id": f"m{n}"}]}
            status, _, _ = c.json("POST", "/api/v1/capture", body, bearer(key))
            check(status == 200, f"capture answered {status}")
            count("capture with a valid key")
    status, _, doc = c.json("POST", f"/api/v1/chatbots/{bots[0][0]}/rotate-key", None,
                            bearer(token))
    check(status == 200, f"rotate answered {status}")
    harness.remember_secret(doc["apiKey"])
    seen.append(doc["apiKey"])
    # A rotation with a grace period (the old key counts as previous_key), and one whose
    # grace of 1 s is waited out (the old key then counts as expired).
    status, _, doc = c.json("POST", f"/api/v1/chatbots/{bots[1][0]}/rotate-key",
                            {"grace_seconds": 3600}, bearer(token))
    check(status == 200, f"rotate with grace answered {status}")
    harness.remember_secret(doc["apiKey"])
    seen.append(doc["apiKey"])
    body = {"conversationId": "grace", "messages": [{"role": "user", "content": "x", "id": "g"}]}
    status, _, _ = c.json("POST", "/api/v1/capture", body, bearer(bots[1][1]))
    check(status == 200, f"capture with the previous key in grace answered {status}")
    count("capture with the previous key")
    status, _, doc = c.json("POST", f"/api/v1/chatbots/{bots[2][0]}/rotate-key",
                            {"grace_seconds": 1}, bearer(token))
    check(status == 200, f"rotate with 1 s of grace answered {status}")
    harness.remember_secret(doc["apiKey"])
    seen.append(doc["apiKey"])
    time.sleep(2.1)  # past the grace (whole seconds), not a timing assertion
    status, _, _ = c.json("POST", "/api/v1/capture", body, bearer(bots[2][1]))
    check(status == 401, f"capture with a key past its grace answered {status}")
    count("capture with an expired key")
    check(c.json("GET", "/api/v1/chatbots", None, bearer(token))[0] == 200, "list")
    check(c.request("GET", "/no/such/route")[0] == 404, "unknown route")
    check(c.request("GET", "/readyz")[0] == 200, "readyz")
    # The old key of the rotated chatbot, then made-up keys until the limiter answers 429.
    status, _, _ = c.json("POST", "/api/v1/capture", {}, bearer(bots[0][1]))
    check(status == 401, f"capture with a rotated key answered {status}")
    count("capture with a bad key")
    for n in range(150):
        status, _, _ = c.json("POST", "/api/v1/capture", {}, bearer("ob_live_" + "%064x" % n))
        if status == 429:
            count("capture rate limited")
            break
        check(status == 401, f"capture with a made-up key answered {status}")
        count("capture with a bad key")
    check("capture rate limited" in did, "150 bad keys were never answered 429")
    c.close()
    return seen, did


def held_request(port):
    """A connection with a login request whose body is still coming: one request in
    flight, one connection open, for as long as the socket is held."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"em")
    return s


def check_labels(samples, problems):
    for labels in series(samples, "chatbotmgr_http_requests_total"):
        if set(labels) != {"method", "route", "code"}:
            problems.append(f"requests_total labels {sorted(labels)}")
        if labels.get("route") not in ROUTES:
            problems.append(f"route label {labels.get('route')!r} is not a route name")
    for labels in series(samples, "chatbotmgr_http_request_duration_seconds_count"):
        if labels.get("route") not in ROUTES:
            problems.append(f"duration route label {labels.get('route')!r}")
    results = {labels.get("result") for labels in
               series(samples, "chatbotmgr_key_verifications_total")}
    if results != KEY_RESULTS:
        problems.append(f"key verification results {sorted(results)}")
    buckets = [labels["le"] for labels in
               series(samples, "chatbotmgr_http_request_duration_seconds_bucket")
               if labels.get("route") == "capture" and labels.get("method") == "POST"]
    if buckets != OTEL_BUCKETS:
        problems.append(f"duration buckets {buckets}")


def check_moves(before, after, did, problems, figures):
    def moved(name, what, at_least=1, **labels):
        delta = total(after, name, **labels) - total(before, name, **labels)
        figures[what] = delta
        if delta < at_least:
            problems.append(f"{what}: moved by {delta}, expected at least {at_least}")

    moved("chatbotmgr_http_requests_total", "requests counted", 20)
    moved("chatbotmgr_http_requests_total", "creates counted", did["create"],
          method="POST", route="chatbots", code="200")
    moved("chatbotmgr_http_requests_total", "unknown routes counted", 1,
          route="unmatched", code="404")
    moved("chatbotmgr_http_request_duration_seconds_count", "request durations observed", 20)
    moved("chatbotmgr_key_verifications_total", "valid key verifications",
          did["capture with a valid key"], result="valid")
    moved("chatbotmgr_key_verifications_total", "invalid key verifications",
          did["capture with a bad key"], result="invalid")
    moved("chatbotmgr_key_verifications_total", "rate-limited key verifications", 1,
          result="rate_limited")
    moved("chatbotmgr_key_verifications_total", "previous-key verifications",
          did["capture with the previous key"], result="previous_key")
    moved("chatbotmgr_key_verifications_total", "expired-key verifications",
          did["capture with an expired key"], result="expired")
    moved("chatbotmgr_logins_total", "successful logins", 1, result="success")
    moved("chatbotmgr_logins_total", "failed logins", 1, result="failure")
    moved("chatbotmgr_storage_commit_duration_seconds_count", "storage commits observed",
          did["create"] + did["capture with a valid key"])
    moved("chatbotmgr_storage_commit_batch_size_sum", "writes in observed commits",
          did["create"] + did["capture with a valid key"])
    moved("process_cpu_seconds_total", "process CPU seconds", 0.01)


def run_prometheus(prometheus, metrics_port, scratch, problems, figures):
    """A real Prometheus on loopback scrapes us; its API must answer the rate query."""
    web_port = harness.free_port()
    config = scratch.file("prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: chatbotmgr\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{metrics_port}']\n")
    log = open(os.path.join(harness.log_dir(), f"{TEST}.prometheus.log"), "wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={scratch.file('tsdb')}",
         f"--web.listen-address=127.0.0.1:{web_port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    query = urllib.parse.urlencode({"query": "rate(chatbotmgr_http_requests_total[1m])"})
    url = f"http://127.0.0.1:{web_port}/api/v1/query?{query}"
    deadline, answer, last = time.monotonic() + 90, None, "no answer"
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    doc = json.load(r)
                if doc.get("status") == "success" and doc["data"]["result"]:
                    answer = doc["data"]["result"]
                    break
                last = json.dumps(doc)[:300]
            except (OSError, ValueError) as e:
                last = str(e)
            time.sleep(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    if answer is None:
        problems.append(f"prometheus: rate(chatbotmgr_http_requests_total[1m]) stayed empty: {last}")
        return
    routes = sorted({s["metric"].get("route", "?") for s in answer})
    figures["prometheus rate() series"] = f"{len(answer)} (routes {', '.join(routes)})"
    if not all(s["metric"].get("job") == "chatbotmgr" for s in answer):
        problems.append("prometheus: series without job=chatbotmgr")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--promtool", default=shutil.which("promtool"))
    ap.add_argument("--prometheus", default=None)
    args = ap.parse_args()
    check(args.promtool, "promtool not found (Debian package prometheus)")
    harness.reset_logs(TEST)
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-metrics-") as scratch:
        db = scratch.file("metrics.db")
        email, password = "metrics@example.com", "metrics-pw-%d" % os.getpid()
        harness.add_user(args.server, db, email, "Metrics Org", password)
        metrics_port = harness.free_port()
        server = harness.Server(args.server, db, TEST, extra_args=[
            "--metrics-listen", f"127.0.0.1:{metrics_port}"]).start()
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        first = scrape(url)
        before = parse(first)
        # Series with labels appear with their first request; the rest from the start.
        for name in REQUIRED:
            if not name.startswith("chatbotmgr_http_request") and \
                    not any(n == name for n, _ in before):
                problems.append(f"missing before any load: {name}")

        seen, did = mixed_load(server.port, email, password)
        held = held_request(server.port)
        time.sleep(0.2)  # let the server read the held header (not a timing assertion)
        during = parse(scrape(url))
        figures["requests in flight with one held"] = total(during, "chatbotmgr_http_requests_in_flight")
        figures["connections open with one held"] = total(during, "chatbotmgr_http_connections_open")
        if total(during, "chatbotmgr_http_requests_in_flight") < 1:
            problems.append("in-flight gauge did not count the held request")
        if total(during, "chatbotmgr_http_connections_open") < 1:
            problems.append("connections gauge did not count the held connection")
        held.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = scrape(url)
            after = parse(text)
            if total(after, "chatbotmgr_http_connections_open") == 0 and \
                    total(after, "chatbotmgr_http_requests_in_flight") == 0:
                break
            time.sleep(0.1)
        figures["requests in flight after"] = total(after, "chatbotmgr_http_requests_in_flight")
        figures["connections open after"] = total(after, "chatbotmgr_http_connections_open")
        if total(after, "chatbotmgr_http_requests_in_flight") != 0:
            problems.append("in-flight gauge did not come back to 0")
        if total(after, "chatbotmgr_http_connections_open") != 0:
            problems.append("connections gauge did not come back to 0")

        for name in REQUIRED:
            if not any(n == name for n, _ in after):
                problems.append(f"missing after the load: {name}")
        check_labels(after, problems)
        check_moves(before, after, did, problems, figures)
        if total(after, "chatbotmgr_build_info") != 1:
            problems.append("chatbotmgr_build_info is not 1")
        if total(after, "process_open_fds") < 3 or total(after, "process_resident_memory_bytes") <= 0:
            problems.append("process_* values implausible")
        start = total(after, "process_start_time_seconds")
        if not (time.time() - 86400 < start <= time.time() + 1):
            problems.append(f"process_start_time_seconds {start} is not the start of this process")
        leaked = [s[:12] for s in seen + [password] if s in text]
        figures["secrets or ids in the scrape"] = len(leaked)
        if leaked:
            problems.append(f"secret or id in the scrape: {leaked}")
        promtool_check(args.promtool, text, problems, figures)

        # The API port does not serve metrics; the metrics port serves nothing else.
        c = harness.Client(server.port, test=TEST)
        status, _, _ = c.request("GET", "/metrics")
        c.close()
        if status != 404:
            problems.append(f"GET /metrics on the API port answered {status}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/api/v1/chatbots", timeout=10)
            problems.append("the metrics port answered an API path")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                problems.append(f"the metrics port answered an API path with {e.code}")

        if args.prometheus:
            run_prometheus(args.prometheus, metrics_port, scratch, problems, figures)
        check(server.alive(), "the server died")
        server.stop()
    for k, v in figures.items():
        print(f"metrics: {k}: {v}")
    for p in problems:
        print(f"metrics: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"metrics: FAILED: {e}")
        sys.exit(1)
