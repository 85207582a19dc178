#!/usr/bin/env python3
"""No secret leaks (ctest label "secrets").

First drives a server through everything that involves a secret -- login (wrong and right
password), create, rotate, capture with current and rotated keys, secrets in paths, query
strings, field names, broken JSON and the wrong kind of credential, CSRF refusals, logout,
a duplicate "user add" and a crash (SIGABRT) -- and then scans what this and the other
reliability tests produced (server stdout/stderr including access logs, every non-2xx body,
start-up failure output; optionally more files given with --also-scan) for:

  * every secret the tests were handed (issued API keys, session tokens, passwords);
  * anything shaped like an API key or a session token, in logs and error bodies.

Usage: secret_scan_test.py --server PATH [--also-scan FILE ...]
"""

import argparse
import os
import resource
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "secrets"


def no_core_dump():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def exercise(binary, scratch):
    db = scratch.file("secrets.db")
    email, password = "leak@example.com", f"Leak-Pw-{os.getpid()}-s3cr3t"
    harness.add_user(binary, db, email, "Leak Org", password)
    server = harness.Server(binary, db, TEST, preexec_fn=no_core_dump).start()
    port = server.port
    origin = f"http://127.0.0.1:{port}"
    c = harness.Client(port, test=TEST)
    requests = 0

    def req(*a, **k):
        nonlocal requests
        requests += 1
        return c.request(*a, **k)

    # Login: wrong password (and a password-shaped mistake), broken JSON around the password.
    status, _, _ = req("POST", "/api/v1/auth/login", body={"email": email,
                                                          "password": password + "x"})
    check(status == 401, f"wrong password answered {status}")
    status, _, _ = req("POST", "/api/v1/auth/login",
                       raw=('{"email":"' + email + '","password":"' + password + '"').encode())
    check(status == 400, f"broken login JSON answered {status}")
    status, _, _ = req("POST", "/api/v1/auth/login",
                       body={"email": email, "password": password, "remember": "ob_sess_" + "0" * 64})
    check(status in (400, 401), f"login with an unknown field answered {status}")
    status, _, _ = req("POST", "/api/v1/auth/login", body={"email": password, "password": 1})
    check(status in (400, 401), f"login with the password as email answered {status}")
    token = harness.login(port, email, password, test=TEST)
    sess = bearer(token)

    status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "leaky"}, sess)
    check(status == 200, f"create answered {status}")
    key1, bot_id = doc["apiKey"], doc["chatbot"]["id"]
    harness.remember_secret(key1)
    status, _, doc = c.json("POST", f"/api/v1/chatbots/{bot_id}/rotate-key", headers=sess)
    check(status == 200, f"rotate answered {status}")
    key2 = doc["apiKey"]
    harness.remember_secret(key2)

    capture = {"conversationId": "c", "messages": [{"role": "user", "content": "hi"}]}
    for method, path, headers, kwargs, expected in [
        ("POST", "/api/v1/capture", bearer(key2), {"body": capture}, 200),
        ("POST", "/api/v1/capture", bearer(key1), {"body": capture}, 401),        # rotated
        ("POST", "/api/v1/capture", bearer(token), {"body": capture}, 401),       # wrong kind
        ("GET", "/api/v1/chatbots", bearer(key2), {}, 401),                        # wrong kind
        ("GET", f"/api/v1/chatbots/{key2}", sess, {}, 404),                        # key in path
        ("GET", f"/api/v1/chatbots?token={token}&key={key2}", sess, {}, 200),      # in query
        ("GET", f"/api/v1/{token}/{key2}", sess, {}, 404),
        ("POST", "/api/v1/chatbots", sess, {"body": {"name": "x", key2: 1}}, 400),
        ("POST", "/api/v1/chatbots", sess, {"body": {"name": "x", token: 1}}, 400),
        ("PATCH", f"/api/v1/chatbots/{bot_id}", sess,
         {"body": {"settings": {"a": 1}, " " + key2: True}}, 400),
        ("POST", "/api/v1/capture", bearer(key2),
         {"body": dict(capture, custom={key2: {"nested": 1}})}, 400),
        ("POST", "/api/v1/capture", bearer(key2),
         {"body": {"conversationId": key2, "messages": [{"role": token, "content": "x"}]}}, 400),
        ("POST", "/api/v1/capture", bearer(key2),
         {"raw": ('{"conversationId":"' + key2 + '", "messages": [').encode()}, 400),
        ("POST", "/api/v1/chatbots", {"Cookie": f"ob_session={token}"},
         {"body": {"name": "csrf"}}, 403),                                         # no Origin
        ("POST", "/api/v1/chatbots", {"Cookie": f"ob_session={token}", "Origin": "http://evil"},
         {"body": {"name": "csrf"}}, 403),
        ("DELETE", f"/api/v1/chatbots/{bot_id}", {"Authorization": f"Basic {token}"}, {}, 401),
        ("GET", "/api/v1/chatbots", {"Authorization": f"Bearer {token}x"}, {}, 401),
        ("GET", "/api/v1/chatbots", {"Cookie": f"ob_session={key2}", "Origin": origin}, {}, 401),
    ]:
        status, _, _ = req(method, path, headers=headers, **kwargs)
        check(status == expected, f"{method} {path[:40]}...: {status}, expected {expected}")

    status, _, _ = req("POST", "/api/v1/auth/logout", headers=sess)
    check(status == 200, f"logout answered {status}")
    status, _, _ = req("GET", "/api/v1/chatbots", headers=sess)
    check(status == 401, f"revoked session answered {status}")
    c.close()

    # A second "user add" with the same email: refused, without echoing the password.
    r = subprocess.run([binary, "user", "add", "--db", db, "--email", email, "--org", "X"],
                       input=(password + "\n").encode(), capture_output=True, timeout=60)
    with open(os.path.join(harness.log_dir(), f"{TEST}.user-add.log"), "wb") as f:
        f.write(r.stdout + r.stderr)
    check(r.returncode == 1, f"duplicate user add exited {r.returncode}")

    # Crash output: whatever the process prints when it dies abnormally.
    os.kill(server.pid(), signal.SIGABRT)
    server.proc.wait(timeout=30)
    check(server.proc.returncode != 0, "SIGABRT did not end the server")
    return requests


def scan(extra_files):
    d = harness.log_dir()
    secrets_file = os.path.join(d, harness.ISSUED_SECRETS)
    secrets = set()
    if os.path.exists(secrets_file):
        secrets = {s.strip().encode() for s in open(secrets_file) if len(s.strip()) >= 8}
    check(secrets, "no issued secrets recorded")
    files = [os.path.join(d, n) for n in sorted(os.listdir(d)) if n != harness.ISSUED_SECRETS]
    files += [f for f in extra_files if os.path.exists(f)]
    leaks, scanned_bytes = [], 0
    for path in files:
        data = open(path, "rb").read()
        scanned_bytes += len(data)
        for s in secrets:
            if s in data:
                kind = ("API key" if s.startswith(b"ob_live_") else
                        "session token" if s.startswith(b"ob_sess_") else "password")
                leaks.append(f"{os.path.basename(path)}: an issued {kind}")
        if path.startswith(d) and harness.SECRET_RE.search(data):
            leaks.append(f"{os.path.basename(path)}: a key- or token-shaped string")
    return files, scanned_bytes, secrets, sorted(set(leaks))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--also-scan", nargs="*", default=[])
    args = ap.parse_args()
    harness.reset_logs(TEST)
    with harness.ScratchDir("chatbotmgr-secrets-") as scratch:
        requests = exercise(args.server, scratch)
    files, scanned, secrets, leaks = scan(args.also_scan)
    print(f"secrets: {requests} secret-bearing requests sent; scanned {len(files)} files, "
          f"{scanned} bytes, for {len(secrets)} issued secrets")
    for leak in leaks:
        print(f"secrets: LEAK: {leak}")
    return 1 if leaks else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"secrets: FAILED: {e}")
        sys.exit(1)
