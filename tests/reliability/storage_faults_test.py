#!/usr/bin/env python3
"""Storage faults seen from outside the real server (ctest label "faults").

  * database locked past the busy timeout (another process holds the write lock);
  * disk full (the server's file-size limit, RLIMIT_FSIZE, is hit);
  * read-only database file;
  * corrupt file at start, and a database path that cannot be opened.

While a fault lasts, writes answer 503 with Retry-After and code "unavailable", reads that
do not need the fault-free part keep working, nothing of a refused write is stored, and the
server does not crash. When the fault clears, the same server process serves writes again,
by itself. At start-up a fault gives a readable message and a non-zero exit (1), and the
file is left as it was.

Usage: storage_faults_test.py --server PATH
"""

import argparse
import os
import resource
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "faults"
NOBODY = 65534


class Faults:
    def __init__(self, server_binary):
        self.binary = server_binary
        self.injected = 0
        self.problems = []

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)

    def expect_unavailable(self, what, status, hdrs, doc):
        self.expect(status == 503, f"{what}: answered {status}, not 503")
        if status == 503:
            self.expect(hdrs.get("retry-after", "").isdigit(), f"{what}: 503 without Retry-After")
            self.expect(doc and doc.get("error", {}).get("code") == "unavailable",
                        f"{what}: 503 body is not code unavailable")

    def setup(self, scratch, name):
        db = scratch.file(f"{name}.db")
        email, password = f"{name}@example.com", f"{name}-pw-{os.getpid()}"
        harness.add_user(self.binary, db, email, "Faults Org", password)
        return db, email, password

    # -- faults while running ---------------------------------------------------------------

    def locked(self, scratch):
        db, email, password = self.setup(scratch, "locked")
        server = harness.Server(self.binary, db, f"{TEST}-locked").start()
        token = harness.login(server.port, email, password, test=TEST)
        c = harness.Client(server.port, test=TEST)
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "before"}, bearer(token))
        check(status == 200, f"create answered {status}")
        harness.remember_secret(doc["apiKey"])

        other = sqlite3.connect(db, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        self.injected += 1
        status, hdrs, doc = c.json("POST", "/api/v1/chatbots", {"name": "during"}, bearer(token))
        self.expect_unavailable("create while locked", status, hdrs, doc)
        status, _, listed = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
        self.expect(status == 200, f"list while locked answered {status}")  # WAL: reads go on
        self.expect(status == 200 and [b["name"] for b in listed] == ["before"],
                    "list while locked shows a refused write")
        other.execute("ROLLBACK")
        other.close()

        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "after"}, bearer(token))
        self.expect(status == 200, f"create after the lock was released answered {status}")
        if status == 200:
            harness.remember_secret(doc["apiKey"])
        c.close()
        self.expect(server.stop() == 0, "server did not exit 0 after the lock fault")

    def disk_full(self, scratch):
        db, email, password = self.setup(scratch, "full")
        # Room for the schema, a session and some captures; SIGXFSZ ignored so that hitting
        # the limit is an EFBIG write error (as on a full disk), not a kill.
        limit = os.path.getsize(db) + 512 * 1024

        def limit_file_size():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        server = harness.Server(self.binary, db, f"{TEST}-full", preexec_fn=limit_file_size)
        server.start()
        token = harness.login(server.port, email, password, test=TEST)
        c = harness.Client(server.port, test=TEST)
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "full"}, bearer(token))
        check(status == 200, f"create answered {status}")
        key = doc["apiKey"]
        harness.remember_secret(key)

        self.injected += 1
        full_at, hdrs, body = None, {}, None
        for n in range(200):
            status, hdrs, body = c.json(
                "POST", "/api/v1/capture",
                {"conversationId": f"conv-{n % 4}",
                 "messages": [{"role": "user", "content": "z" * 30000, "id": f"{n}-{i}"}
                              for i in range(4)]}, bearer(key))
            if status != 200:
                full_at = n
                break
        self.expect(full_at is not None, "the file-size limit was never reached")
        if full_at is None:
            c.close()
            server.stop()
            return
        self.expect_unavailable("capture on a full disk", status, hdrs, body)
        self.expect(server.alive(), "the server died on a full disk")
        status, _, _ = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
        self.expect(status == 200, f"list on a full disk answered {status}")

        # The limit goes away (the soft limit rises to the hard one): the same process
        # writes again.
        resource.prlimit(server.pid(), resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        ok = False
        for _ in range(3):  # the first call may still meet a connection that is reopening
            status, _, _ = c.json(
                "POST", "/api/v1/capture",
                {"conversationId": "after", "messages": [{"role": "user", "content": "ok",
                                                          "id": "after-1"}]}, bearer(key))
            if status == 200:
                ok = True
                break
        self.expect(ok, f"capture after space came back answered {status}")
        c.close()
        self.expect(server.stop() == 0, "server did not exit 0 after the full-disk fault")

        # Nothing of the refused capture was stored; the file is sound.
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            refused = [f"{full_at}-{i}" for i in range(4)]
            stored = con.execute(
                f"SELECT count(*) FROM messages WHERE external_id IN ({','.join('?' * 4)})",
                refused).fetchone()[0]
            self.expect(stored == 0, f"{stored} messages of the refused capture were stored")
            self.expect(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
                        "integrity_check failed after the full disk")
        finally:
            con.close()

    def read_only(self, scratch):
        if os.geteuid() == 0:
            # File modes mean nothing to root: the server runs as nobody for this case.
            os.chmod(scratch.path, 0o777)
            preexec = _drop_to_nobody
        else:
            preexec = None
        db, email, password = self.setup(scratch, "readonly")
        server = harness.Server(self.binary, db, f"{TEST}-ro-setup").start()
        token = harness.login(server.port, email, password, test=TEST)
        server.stop()
        os.chmod(db, 0o444)
        self.injected += 1

        server = harness.Server(self.binary, db, f"{TEST}-ro", preexec_fn=preexec).start()
        c = harness.Client(server.port, test=TEST)
        status, _, _ = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
        self.expect(status == 200, f"list on a read-only file answered {status}")
        status, hdrs, doc = c.json("POST", "/api/v1/chatbots", {"name": "ro"}, bearer(token))
        self.expect_unavailable("create on a read-only file", status, hdrs, doc)

        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.chmod(db + suffix, 0o666)
        ok = False
        for _ in range(3):
            status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "rw"}, bearer(token))
            if status == 200:
                harness.remember_secret(doc["apiKey"])
                ok = True
                break
        self.expect(ok, f"create once the file is writable answered {status}")
        status, _, listed = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
        self.expect(status == 200 and [b["name"] for b in listed] == ["rw"],
                    "the refused create is visible, or the accepted one is not")
        c.close()
        self.expect(server.stop() == 0, "server did not exit 0 after the read-only fault")

    # -- faults at start --------------------------------------------------------------------

    def start_fails(self, what, db, must_mention, names_file=True):
        self.injected += 1
        before = open(db, "rb").read() if os.path.exists(db) else None
        r = subprocess.run([self.binary, "serve", "--listen", "127.0.0.1:0", "--db", db],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        with open(os.path.join(harness.log_dir(), f"{TEST}-start.stderr.log"), "ab") as f:
            f.write(r.stdout + r.stderr)
        err = r.stderr.decode(errors="replace")
        self.expect(r.returncode == 1, f"{what}: exit code {r.returncode}, not 1")
        self.expect(must_mention in err, f"{what}: message lacks {must_mention!r}: {err[-300:]!r}")
        if names_file:
            self.expect(db in err, f"{what}: message does not name the file")
        self.expect("listening" not in r.stdout.decode(errors="replace"),
                    f"{what}: the server started listening")
        if before is not None:
            self.expect(open(db, "rb").read() == before, f"{what}: the file was changed")

    def corrupt_at_start(self, scratch):
        garbage = scratch.file("garbage.db")
        with open(garbage, "wb") as f:
            f.write(b"this is not an SQLite database\n" * 200)
        self.start_fails("not a database", garbage, "not a database")

        # A real database whose pages after the first are overwritten.
        db, _, _ = self.setup(scratch, "corrupt")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE pad (x)")
        con.executemany("INSERT INTO pad VALUES (?)", [("p" * 1000,)] * 200)
        con.commit()
        con.close()
        with open(db, "r+b") as f:
            f.seek(4096)
            size = os.path.getsize(db)
            f.write(b"\xa5" * (size - 4096))
        # Found by the first read, after the open: the message says what, not which file.
        self.start_fails("corrupt pages", db, "malformed", names_file=False)

        self.start_fails("missing directory", scratch.file("no/such/dir/x.db"), "unable to open")


def _drop_to_nobody():
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    harness.reset_logs(TEST)
    f = Faults(args.server)
    for case in (f.locked, f.disk_full, f.read_only, f.corrupt_at_start):
        with harness.ScratchDir(f"chatbotmgr-faults-{case.__name__}-") as scratch:
            case(scratch)
    print(f"faults: faults injected: {f.injected}")
    for p in f.problems:
        print(f"faults: PROBLEM: {p}")
    return 1 if f.problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"faults: FAILED: {e}")
        sys.exit(1)
