#!/usr/bin/env python3
"""No secret in the access log, however the request line carries it (issue 11, item 9;
ctest label "secrets").

Against the real server, with a real API key and a real session token: requests whose
method is the key or the token, and paths that carry them percent-encoded
("/%6Fb_live_..."), partly encoded, double-encoded, in capitals, in the absolute form, in
an API route. Then the server's stderr (the access log) must contain neither secret --
nor its 32 or 64 hex digits, nor an encoded form -- and every such request must still have
been logged, with the method as "OTHER" and the path segment as "[redacted]".

With --log-format json the same against the JSON access log (one object a line), whose
method and path fields must show the same; and in both formats a request whose
X-Request-Id is a secret gets a fresh id: the secret is neither echoed nor logged.

Usage: log_redaction_test.py --server PATH [--log-format text|json]
"""

import argparse
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rawhttp  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "logredact"


def encoded_forms(secret):
    """Ways a client may put secret into a path segment."""
    prefix, digits = secret[:8], secret[8:]
    every = "".join(f"%{b:02X}" for b in secret.encode())
    return {
        "first letter encoded": "%6F" + secret[1:],
        "underscore encoded": prefix.replace("_", "%5F") + digits,
        "lower-case escapes": "%6f%62" + secret[2:],
        "every byte encoded": every,
        "double-encoded": "%256F" + secret[1:],
        "in capitals": secret.upper(),
        "inside a segment": "x-" + "%6F" + secret[1:] + "-y",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    ap.add_argument("--log-format", choices=("text", "json"), default="text")
    args = ap.parse_args()
    fmt = args.log_format
    test = TEST if fmt == "text" else TEST + "-json"
    binary = rawhttp.server_binary_from(args.server)
    check(binary, "give --server or CHATBOTMGR_SERVER")
    harness.reset_logs(test)
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-logredact-") as scratch:
        db = scratch.file("logredact.db")
        email, password = "logredact@example.com", f"redact-pw-{random.randrange(10**12)}"
        harness.add_user(binary, db, email, "Redact Org", password)
        server = harness.Server(binary, db, test, extra_args=["--log-format", fmt]).start()
        port = server.port
        token = harness.login(port, email, password, test=TEST)
        c = harness.Client(port, test=TEST)
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "redact"}, bearer(token))
        check(status == 200, f"create answered {status}")
        key = doc["apiKey"]
        harness.remember_secret(key)
        c.close()

        requests = []  # (what, request line without the version, how the log shows it)
        for name, secret in (("API key", key), ("session token", token)):
            requests.append((f"{name} as the method", f"{secret} /healthz", "OTHER /healthz"))
            requests.append((f"{name} as the method of an API route",
                             f"{secret} /api/v1/chatbots", "OTHER /api/v1/chatbots"))
            for form, enc in encoded_forms(secret).items():
                requests.append((f"{name} in the path, {form}", f"GET /{enc}",
                                 "GET /[redacted]"))
            requests.append((f"{name} in an API path, encoded", f"GET /api/v1/chatbots/%6F{secret[1:]}",
                             "GET /api/v1/chatbots/[redacted]"))
            requests.append((f"{name} in an absolute-form path",
                             f"GET http://127.0.0.1:{port}/%6F{secret[1:]}/x",
                             "GET /[redacted]/x"))
        for what, line, _ in requests:
            first, _, _ = rawhttp.exchange(port, line.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1"
                                           b"\r\nConnection: close\r\n\r\n")
            if first is None:
                problems.append(f"{what}: no answer")
            elif first.status >= 400:
                harness.record_error_body(test, first.status, first.body)
        # A secret as the X-Request-Id: replaced by a fresh id, never echoed.
        id_requests = 0
        for name, secret in (("API key", key), ("session token", token)):
            for value in (secret, "req-" + secret, secret.upper()):
                first, _, _ = rawhttp.exchange(
                    port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: " +
                    value.encode() + b"\r\nConnection: close\r\n\r\n")
                id_requests += 1
                echoed = first.header("x-request-id") if first else None
                if first is None or not echoed:
                    problems.append(f"{name} as X-Request-Id: no answer or no X-Request-Id")
                elif secret[8:].lower() in echoed.lower():
                    problems.append(f"{name} as X-Request-Id: echoed in the answer")
        figures["requests with a secret as X-Request-Id"] = id_requests
        check(server.alive(), "the server died")
        server.stop()
        log = server.stderr_text()

        leaks = []
        for name, secret in (("API key", key), ("session token", token)):
            digits = secret[8:]
            needles = {secret, digits, digits.upper()} | set(encoded_forms(secret).values())
            # The secret with any of its bytes percent-encoded still shows its digits in
            # runs; any 16 digits of it in a row is a leak.
            runs = {digits[i:i + 16] for i in range(0, len(digits) - 15)}
            for n in needles | runs:
                if n.lower() in log.lower():
                    leaks.append(f"{name}: {n[:12]}... in the log")
                    break
        leaks += [f"secret-shaped text: {m[:12]}..." for m in
                  re.findall(r"ob_(?:live|sess)_[0-9a-fA-F]{16,}", log, re.I)]
        logged = [line for line in log.splitlines() if line.startswith("http: ")]
        if fmt == "json":
            # The same view of each JSON line ("http: METHOD PATH STATUS"), and every line
            # of the access log must be one JSON object.
            logged = []
            for line in log.splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    problems.append(f"not JSON: {line[:80]}")
                    continue
                logged.append(f"http: {entry['method']} {entry['path']} {entry['status']}")
        missing = [what for what, _, shown in requests
                   if not any(line.startswith("http: " + shown + " ") for line in logged)]
        figures["requests with a secret in the method or an encoded path"] = len(requests)
        figures["secrets found in the access log"] = len(leaks)
        figures["logged as OTHER / [redacted]"] = f"{len(requests) - len(missing)} of {len(requests)}"
        problems += leaks
        problems += [f"not logged as expected: {m}" for m in missing]
    for k, v in figures.items():
        print(f"logredact ({fmt}): {k}: {v}")
    for p in problems:
        print(f"logredact ({fmt}): PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"logredact: FAILED: {e}")
        sys.exit(1)
