"""Shared helpers of the process-level reliability tests (crash, abuse, faults, secrets).

Python 3 standard library only. Every server runs on 127.0.0.1 with a port of its own
choosing, in a scratch directory; its stdout and stderr are kept in the log directory
(CHATBOTMGR_REL_LOG_DIR, default a temporary one) so that the secret scan can read them,
and every secret a test is handed (API keys, session tokens, passwords) is appended to
<log dir>/issued-secrets.txt for the same reason.
"""

import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

SECRET_RE = re.compile(rb"ob_live_[0-9a-f]{32}|ob_sess_[0-9a-f]{64}")
ISSUED_SECRETS = "issued-secrets.txt"


def log_dir():
    d = os.environ.get("CHATBOTMGR_REL_LOG_DIR")
    if not d:
        d = os.path.join(tempfile.gettempdir(), "chatbotmgr-rel-logs")
    os.makedirs(d, exist_ok=True)
    return d


_secret_lock = threading.Lock()


def reset_logs(test):
    """Removes what an earlier run of this test left in the log directory."""
    d = log_dir()
    for name in os.listdir(d):
        if name.startswith(test + ".") or name.startswith(test + "-"):
            os.remove(os.path.join(d, name))


def remember_secret(secret):
    """Records a secret the test was handed, for the secret scan."""
    if not secret:
        return
    with _secret_lock, open(os.path.join(log_dir(), ISSUED_SECRETS), "a") as f:
        f.write(secret + "\n")


def record_error_body(test, status, body):
    """Keeps a non-2xx answer body; the secret scan reads them all."""
    with _secret_lock, open(os.path.join(log_dir(), f"{test}.error-bodies.log"), "ab") as f:
        f.write(b"%d " % status + (body if isinstance(body, bytes) else body.encode()) + b"\n")


def sha256(text):
    return hashlib.sha256(text.encode()).digest()


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


_live_servers = []


@atexit.register
def _kill_leftover_servers():
    """A test that fails halfway must not leave its server behind."""
    for server in _live_servers:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=30)


class Server:
    """chatbotmgr-server serve on 127.0.0.1:<free port>, on a given SQLite file."""

    def __init__(self, binary, db, name, extra_args=(), env=None, preexec_fn=None,
                 storage=None):
        """storage: the storage flags instead of --db DB (e.g. ["--storage", URL])."""
        self.binary, self.db, self.name = binary, db, name
        self.storage = list(storage) if storage else ["--db", db]
        self.preexec_fn = preexec_fn
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.starts = 0
        _live_servers.append(self)

    def start(self, timeout=20.0):
        self.starts += 1
        tag = f"{self.name}.{self.starts}"
        self.stdout_path = os.path.join(log_dir(), f"{tag}.stdout.log")
        self.stderr_path = os.path.join(log_dir(), f"{tag}.stderr.log")
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0"] + self.storage
            + self.extra_args,
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env,
            preexec_fn=self.preexec_fn)
        out.close()
        err.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = open(self.stdout_path, "rb").read().decode(errors="replace")
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise Fail(f"server exited with {self.proc.returncode} at start: "
                           + open(self.stderr_path, "rb").read().decode(errors="replace")[-2000:])
            time.sleep(0.02)
        self.kill()
        raise Fail("server did not start listening in time")

    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL, then reap."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=30)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise Fail("server did not stop within the timeout after SIGTERM")
        return self.proc.returncode if self.proc else None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Fail("no VmRSS")

    def stderr_text(self):
        return open(self.stderr_path, "rb").read().decode(errors="replace")


def add_user(binary, db, email, org, password):
    remember_secret(password)
    r = subprocess.run([binary, "user", "add", "--db", db, "--email", email, "--org", org],
                       input=(password + "\n").encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, f"user add failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return json.loads(r.stdout)


class Client:
    """One keep-alive HTTP/1.1 connection with JSON helpers."""

    def __init__(self, port, timeout=30.0, test="test"):
        self.port, self.timeout, self.test = port, timeout, test
        self.conn = None

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, raw=None):
        """Returns (status, headers dict (lowercase names), body bytes). Raises OSError /
        http.client exceptions when the connection fails (the caller decides)."""
        self._connect()
        h = {"Host": f"127.0.0.1:{self.port}"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif raw is not None:
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
            record_error_body(self.test, resp.status, payload)
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return resp.status, hdrs, payload

    def json(self, method, path, body=None, headers=None, raw=None):
        status, hdrs, payload = self.request(method, path, body, headers, raw)
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            raise Fail(f"{method} {path}: answer is not JSON ({status})")
        return status, hdrs, doc


def login(port, email, password, test="test"):
    c = Client(port, test=test)
    status, _, doc = c.json("POST", "/api/v1/auth/login", {"email": email, "password": password})
    c.close()
    check(status == 200, f"login failed with {status}")
    remember_secret(doc["token"])
    return doc["token"]


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


class ScratchDir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def file(self, name):
        return os.path.join(self.path, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LINK_NEXT_RE = re.compile(r'<([^>]+)>;\s*rel="next"')


def audit_events(port, token, query="limit=200", test="test", raw_pages=None):
    """Every audit event of the token's organization over GET /api/v1/audit-events
    (API.md section 13), newest first, following the Link rel="next" of every page.
    raw_pages: a list that receives each page's body bytes (for the secret scan)."""
    c = Client(port, test=test)
    path, events, pages = f"/api/v1/audit-events?{query}", [], 0
    try:
        while path:
            status, hdrs, payload = c.request("GET", path, headers=bearer(token))
            check(status == 200, f"GET {path} answered {status}: {payload[:200]!r}")
            if raw_pages is not None:
                raw_pages.append(payload)
            page = json.loads(payload)
            check(isinstance(page, list), "an audit page is not a JSON array")
            events += page
            pages += 1
            m = LINK_NEXT_RE.search(hdrs.get("link", ""))
            path = m.group(1) if m else None
            check(pages < 100000, "audit pages never end")
    finally:
        c.close()
    ids = [e["id"] for e in events]
    check(len(ids) == len(set(ids)), "an audit event appears on two pages")
    return events
