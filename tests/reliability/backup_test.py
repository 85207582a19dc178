#!/usr/bin/env python3
"""Online backup and restore of the real server's SQLite database (issue 15, item 3;
ctest label "ops").

A server takes writes from several clients (creates and captures, each recorded once its
answer is in); meanwhile `chatbotmgr-server backup --db DB --to FILE` runs. Then:

  * the backup exits 0, its file has mode 0600 and its summary says integrity_check ok;
  * `restore` refuses while the server holds its database, and refuses to replace an
    existing database without --force;
  * restored into a fresh path, a new server starts on the copy: the user logs in, and
    every chatbot and every captured message acknowledged BEFORE the backup started is
    there (chatbots over HTTP, with their API keys still working; messages in the file);
  * the copy holds no write half-done (a capture's messages all or none).

Prints the counts it checked. Usage: backup_test.py --server PATH
"""

import argparse
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "backup"
WRITERS = 4


class Ledger:
    """Acknowledged writes with the time their answer arrived (time.monotonic())."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bots = []      # (acked_at, id, key)
        self.captures = []  # (acked_at, chatbot id, conversation, [message ids])
        self.errors = []


def writer(port, token, ledger, stop, n):
    c = harness.Client(port, test=TEST)
    bot_id, key, seq = None, None, 0
    try:
        while not stop.is_set():
            seq += 1
            if bot_id is None or seq % 10 == 0:
                status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": f"w{n}-{seq}"},
                                        bearer(token))
                if status != 200:
                    ledger.errors.append(f"create answered {status}")
                    continue
                harness.remember_secret(doc["apiKey"])
                bot_id, key = doc["chatbot"]["id"], doc["apiKey"]
                with ledger.lock:
                    ledger.bots.append((time.monotonic(), bot_id, key))
                continue
            ids = [f"w{n}-m{seq}-{i}" for i in range(3)]
            body = {"conversationId": f"conv-{seq % 4}",
                    "messages": [{"role": "user", "content": "backup " * 30, "id": i} for i in ids]}
            status, _, _ = c.json("POST", "/api/v1/capture", body, bearer(key))
            if status != 200:
                ledger.errors.append(f"capture answered {status}")
                continue
            with ledger.lock:
                ledger.captures.append((time.monotonic(), bot_id, f"conv-{seq % 4}", ids))
    except Exception as e:  # noqa: BLE001 -- reported, not raised, from a thread
        ledger.errors.append(f"writer {n}: {e!r}")
    finally:
        c.close()


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    binary = args.server
    harness.reset_logs(TEST)
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-backup-") as scratch:
        db, copy = scratch.file("live.db"), scratch.file("backup.db")
        restored = scratch.file("restored.db")
        email, password = "backup@example.com", "backup-pw-%d" % os.getpid()
        harness.add_user(binary, db, email, "Backup Org", password)
        server = harness.Server(binary, db, TEST).start()
        token = harness.login(server.port, email, password, test=TEST)

        ledger, stop = Ledger(), threading.Event()
        threads = [threading.Thread(target=writer, args=(server.port, token, ledger, stop, n))
                   for n in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(ledger.captures) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        check(len(ledger.captures) >= 50, f"only {len(ledger.captures)} captures in 30 s")

        started = time.monotonic()  # every answer in before this must be in the copy
        r = run(binary, "backup", "--db", db, "--to", copy)
        finished = time.monotonic()
        time.sleep(0.3)  # writes after the backup, which the copy need not have
        stop.set()
        for t in threads:
            t.join(timeout=60)
        check(not any(t.is_alive() for t in threads), "a writer hung")
        check(r.returncode == 0, f"backup failed ({r.returncode}): {r.stderr[-1000:]}")
        print(r.stdout.rstrip())
        if "integrity_check ok" not in r.stdout:
            problems.append("backup summary does not say integrity_check ok")
        mode = stat.S_IMODE(os.stat(copy).st_mode)
        figures["backup file mode"] = oct(mode)
        if mode != 0o600:
            problems.append(f"backup file mode {oct(mode)}, expected 0600")
        if os.path.exists(copy + ".partial"):
            problems.append("the backup's temporary file was left behind")
        r = run(binary, "backup", "--db", db, "--to", copy)
        if r.returncode == 0:
            problems.append("a second backup to the same file was not refused")

        # restore must not touch a database a server holds, nor replace one without --force.
        r = run(binary, "restore", "--from", copy, "--db", db, "--force")
        figures["restore over the live database"] = f"exit {r.returncode}"
        if r.returncode == 0 or "holds" not in r.stderr:
            problems.append(f"restore over a live database was not refused: {r.stderr[-300:]}")
        check(server.alive(), "the server died")
        server.stop()
        r = run(binary, "restore", "--from", copy, "--db", db)
        figures["restore over an existing database without --force"] = f"exit {r.returncode}"
        if r.returncode == 0:
            problems.append("restore replaced an existing database without --force")

        r = run(binary, "restore", "--from", copy, "--db", restored)
        check(r.returncode == 0, f"restore failed ({r.returncode}): {r.stderr[-1000:]}")
        if stat.S_IMODE(os.stat(restored).st_mode) != 0o600:
            problems.append("restored database is not mode 0600")

        with ledger.lock:
            bots_before = [b for b in ledger.bots if b[0] < started]
            caps_before = [c for c in ledger.captures if c[0] < started]
            figures["writes acknowledged in all"] = len(ledger.bots) + len(ledger.captures)
            figures["writes acknowledged while the backup ran"] = sum(
                1 for x in ledger.bots + ledger.captures if started <= x[0] < finished)
        figures["chatbots acknowledged before the backup"] = len(bots_before)
        figures["captures acknowledged before the backup"] = len(caps_before)
        problems += ledger.errors[:5]

        server2 = harness.Server(binary, restored, TEST + "-restored").start()
        token2 = harness.login(server2.port, email, password, test=TEST)
        c = harness.Client(server2.port, test=TEST)
        missing_bots = dead_keys = 0
        for _, bot_id, key in bots_before:
            status, _, _ = c.json("GET", f"/api/v1/chatbots/{bot_id}", None, bearer(token2))
            missing_bots += status != 200
        for _, bot_id, key in bots_before[:20]:
            status, _, _ = c.json("POST", "/api/v1/capture",
                                  {"conversationId": "after-restore",
                                   "messages": [{"role": "user", "content": "x", "id": "r1"}]},
                                  bearer(key))
            dead_keys += status != 200
        c.close()
        server2.stop()
        figures["chatbots missing after restore"] = missing_bots
        figures["keys that stopped working (of the first 20)"] = dead_keys
        if missing_bots or dead_keys:
            problems.append(f"{missing_bots} chatbots missing, {dead_keys} keys dead")

        con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        stored = {}
        for bot, conv, mid in con.execute(
                "SELECT c.chatbot_id, c.external_id, m.external_id FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id"):
            stored.setdefault((bot, conv), set()).add(mid)
        con.close()
        lost = sum(1 for _, bot, conv, ids in caps_before
                   if not set(ids) <= stored.get((bot, conv), set()))
        half = sum(1 for _, bot, conv, ids in ledger.captures
                   if 0 < len(set(ids) & stored.get((bot, conv), set())) < len(ids))
        figures["acknowledged captures lost"] = lost
        figures["captures half in the copy"] = half
        if lost:
            problems.append(f"{lost} captures acknowledged before the backup are not in it")
        if half:
            problems.append(f"{half} captures are half in the copy")
    for k, v in figures.items():
        print(f"backup: {k}: {v}")
    for p in problems:
        print(f"backup: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"backup: FAILED: {e}")
        sys.exit(1)
