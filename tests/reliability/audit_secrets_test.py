#!/usr/bin/env python3
"""No secret in the audit log or the database after a full session (issue 14; ctest label
"secrets"; API.md sections 13 and 14).

Drives a real server through every action of section 13 and every retry-safe call of
section 14: login, creates (one with an Idempotency-Key, replayed), rotations without and
with a grace period (one with an Idempotency-Key, replayed), the previous key revoked, a
patch, an invitation with an Idempotency-Key (replayed) accepted with a password, a role
change, a second invitation revoked, a login and logout of the new member, the member
removed, a chatbot deleted, logout. Then:

  * reads every audit event over GET /api/v1/audit-events, page by page (small pages,
    following Link rel="next"), checks that every action of section 13 is there, and scans
    the raw bytes of every page for every issued API key, session token, invitation token
    and password, and for anything shaped like a key or token;
  * stops the server (SIGTERM: the WAL is checkpointed) and scans the raw bytes of the
    SQLite file (and its -wal and -shm, if any) for the same secrets -- the replayable
    answers of the idempotent calls hold a key and a token, stored sealed -- and for the
    Idempotency-Key values, from which the sealing key is derived;
  * with --conninfo (PostgreSQL), runs the same session on a fresh database and scans a
    pg_dump of it instead (text and hex, as bytea appears in a dump).

Usage: audit_secrets_test.py --server PATH
       audit_secrets_test.py --server PATH --psql PATH --pg-dump PATH --conninfo C
"""

import argparse
import binascii
import os
import re
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "auditsecrets"
TOKEN_SHAPES = re.compile(
    rb"ob_live_[0-9a-f]{32}|ob_sess_[0-9a-f]{64}|ob_inv_[0-9a-f]{64}")
ACTIONS = {"chatbot.created", "chatbot.updated", "chatbot.deleted", "chatbot.key_rotated",
           "chatbot.previous_key_revoked", "member.invited", "invitation.revoked",
           "member.joined", "member.role_changed", "member.removed", "session.created",
           "session.revoked"}


class Session:
    def __init__(self, port):
        self.port = port
        self.c = harness.Client(port, test=TEST)
        self.secrets = {}        # secret -> what it is
        self.idempotency_keys = []

    def keep(self, secret, kind):
        check(secret, f"no {kind} in the answer")
        harness.remember_secret(secret)
        self.secrets[secret] = kind
        return secret

    def call(self, method, path, token, body=None, idem=None, expect=200):
        headers = bearer(token)
        if idem:
            headers["Idempotency-Key"] = idem
            if idem not in self.idempotency_keys:
                self.idempotency_keys.append(idem)
        status, hdrs, doc = self.c.json(method, path, body, headers)
        check(status == expect, f"{method} {path} answered {status}, expected {expect}: {doc}")
        return hdrs, doc

    def replay(self, method, path, token, body, idem, first):
        """The same call again: the first answer, replayed, nothing done twice."""
        hdrs, doc = self.call(method, path, token, body, idem)
        check(hdrs.get("idempotent-replayed") == "true",
              f"{method} {path}: the replay has no Idempotent-Replayed: true")
        check(doc == first, f"{method} {path}: the replay answered something else")

    def login(self, email, password):
        self.keep(password, "password")
        return self.keep(harness.login(self.port, email, password, test=TEST), "session token")


def run_session(binary, storage, add_user, suffix):
    """The full session against a server on storage; returns (Session, pages of audit events
    as raw bytes, events)."""
    owner_email, owner_pw = "owner@example.com", f"Owner-Pw-{os.getpid()}-{suffix}-x9"
    member_email, member_pw = "member@example.com", f"Member-Pw-{os.getpid()}-{suffix}-y8"
    add_user(owner_email, owner_pw)
    server = harness.Server(binary, None, f"{TEST}-{suffix}", storage=storage).start(timeout=60)
    s = Session(server.port)
    s.keep(owner_pw, "password")
    s.keep(member_pw, "password")
    owner = s.login(owner_email, owner_pw)

    # Chatbots: a plain create; an idempotent create and its replay (nothing created twice).
    _, a = s.call("POST", "/api/v1/chatbots", owner, {"name": "plain", "settings": {"k": 1}})
    s.keep(a["apiKey"], "API key")
    a_id = a["chatbot"]["id"]
    body = {"name": "idempotent", "settings": {"model": "x"}}
    idem = f"create-{os.getpid()}-{suffix}-{time.time_ns()}"
    hdrs, b = s.call("POST", "/api/v1/chatbots", owner, body, idem)
    check("idempotent-replayed" not in hdrs, "a first create answered Idempotent-Replayed")
    s.keep(b["apiKey"], "API key")
    b_id = b["chatbot"]["id"]
    s.replay("POST", "/api/v1/chatbots", owner, body, idem, b)
    _, listed = s.call("GET", "/api/v1/chatbots", owner)
    check(sorted(x["id"] for x in listed) == sorted([a_id, b_id]),
          f"after a replayed create: {len(listed)} chatbots, expected 2")

    # Rotations: without a grace period; with one (idempotent, replayed); the previous key
    # revoked.
    _, r1 = s.call("POST", f"/api/v1/chatbots/{a_id}/rotate-key", owner)
    s.keep(r1["apiKey"], "API key")
    idem = f"rotate-{os.getpid()}-{suffix}-{time.time_ns()}"
    rbody = {"grace_seconds": 3600}
    _, r2 = s.call("POST", f"/api/v1/chatbots/{b_id}/rotate-key", owner, rbody, idem)
    s.keep(r2["apiKey"], "API key")
    s.replay("POST", f"/api/v1/chatbots/{b_id}/rotate-key", owner, rbody, idem, r2)
    _, revoked = s.call("DELETE", f"/api/v1/chatbots/{b_id}/previous-key", owner)
    check(revoked.get("revoked") is True, f"previous key not revoked: {revoked}")
    s.call("PATCH", f"/api/v1/chatbots/{a_id}", owner,
           {"name": "renamed", "settings": {"k": None, "temperature": 0.2}})

    # Members: an invitation (idempotent, replayed) accepted; a role change; a second
    # invitation revoked; the member logs in and out, and is removed.
    idem = f"invite-{os.getpid()}-{suffix}-{time.time_ns()}"
    ibody = {"email": member_email, "role": "member"}
    _, inv = s.call("POST", "/api/v1/invitations", owner, ibody, idem)
    s.keep(inv["token"], "invitation token")
    s.replay("POST", "/api/v1/invitations", owner, ibody, idem, inv)
    status, _, joined = s.c.json("POST", "/api/v1/invitations/accept",
                                 {"token": inv["token"], "password": member_pw})
    check(status == 200, f"accept answered {status}: {joined}")
    s.keep(joined["token"], "session token")
    member_id = joined["user"]["id"]
    s.call("PATCH", f"/api/v1/members/{member_id}", owner, {"role": "admin"})
    _, inv2 = s.call("POST", "/api/v1/invitations", owner,
                     {"email": "other@example.com", "role": "viewer"})
    s.keep(inv2["token"], "invitation token")
    s.call("DELETE", f"/api/v1/invitations/{inv2['invitation']['id']}", owner)
    member = s.login(member_email, member_pw)
    s.call("POST", "/api/v1/auth/logout", member)
    s.call("POST", "/api/v1/auth/logout", joined["token"])
    s.call("DELETE", f"/api/v1/members/{member_id}", owner)
    s.call("DELETE", f"/api/v1/chatbots/{a_id}", owner)
    s.call("POST", "/api/v1/auth/logout", owner)

    # Every event, page by page (pages of 4: many Links followed).
    reader = s.login(owner_email, owner_pw)
    pages = []
    events = harness.audit_events(server.port, reader, "limit=4", test=TEST, raw_pages=pages)
    check(len(pages) > 3, f"only {len(pages)} pages of audit events")
    s.c.close()
    code = server.stop()
    check(code == 0, f"server exit code {code} on SIGTERM")
    seen = {e["action"] for e in events}
    check(ACTIONS <= seen, f"actions without an event: {sorted(ACTIONS - seen)}")
    # The replays did nothing: one event per create and per rotation.
    for action, target, n in (("chatbot.created", b_id, 1), ("chatbot.key_rotated", b_id, 1),
                              ("member.invited", inv["invitation"]["id"], 1)):
        got = sum(1 for e in events if e["action"] == action and e["target"]["id"] == target)
        check(got == n, f"{got} {action} events for {target} after a replay, expected {n}")
    return s, pages, events


def scan(where, data, s, leaks, idempotency_keys=True, hex_too=False):
    for secret, kind in s.secrets.items():
        forms = [secret.encode()]
        if hex_too:
            forms.append(binascii.hexlify(secret.encode()))
        if any(f in data for f in forms):
            leaks.append(f"{where}: an issued {kind}")
    if idempotency_keys:
        for k in s.idempotency_keys:
            if k.encode() in data or (hex_too and binascii.hexlify(k.encode()) in data):
                leaks.append(f"{where}: an Idempotency-Key value (the sealing key's source)")
    if TOKEN_SHAPES.search(data):
        leaks.append(f"{where}: a key- or token-shaped string")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--conninfo", help="PostgreSQL maintenance conninfo: test PostgreSQL")
    ap.add_argument("--psql")
    ap.add_argument("--pg-dump")
    args = ap.parse_args()
    global TEST
    if args.conninfo:
        TEST = "auditsecrets-pg"
    harness.reset_logs(TEST)
    leaks = []
    with harness.ScratchDir("chatbotmgr-auditsecrets-") as scratch:
        if args.conninfo:
            check(args.psql and args.pg_dump, "--conninfo needs --psql and --pg-dump")
            sys.path.insert(0, os.path.join(here, "..", "postgres"))
            import multi_instance_test as pgtest  # (Database)
            db = pgtest.Database(args.psql, args.conninfo)
            try:
                def add_user(email, password):
                    harness.remember_secret(password)
                    r = subprocess.run([args.server, "user", "add", "--storage", db.uri,
                                        "--email", email, "--org", "Audit Org"],
                                       input=(password + "\n").encode(), capture_output=True,
                                       timeout=60)
                    check(r.returncode == 0, f"user add failed: {r.stderr.decode()[-500:]}")
                s, pages, events = run_session(args.server, ["--storage", db.uri], add_user,
                                               "pg")
                dump = subprocess.run([args.pg_dump, "--no-owner", "--data-only", "-d", db.uri],
                                      capture_output=True, timeout=120)
                check(dump.returncode == 0, f"pg_dump failed: {dump.stderr.decode()[-500:]}")
                check(b"audit_events" in dump.stdout and b"idempotency_records" in dump.stdout,
                      "the dump has no audit or idempotency table")
                stored = [("pg_dump", dump.stdout)]
            finally:
                db.drop()
        else:
            db = scratch.file("audit.db")

            def add_user(email, password):
                harness.add_user(args.server, db, email, "Audit Org", password)
            s, pages, events = run_session(args.server, ["--db", db], add_user, "sqlite")
            stored = [(os.path.basename(db) + suffix, open(db + suffix, "rb").read())
                      for suffix in ("", "-wal", "-shm") if os.path.exists(db + suffix)]
            check(os.path.getsize(db) > 0, "empty database file")
        for i, page in enumerate(pages):
            scan(f"audit page {i + 1}", page, s, leaks)
        for name, data in stored:
            scan(name, data, s, leaks, hex_too=bool(args.conninfo))
    kinds = sorted(set(s.secrets.values()))
    print(f"{TEST}: {len(events)} audit events on {len(pages)} pages, "
          f"{len(ACTIONS)} actions all present")
    print(f"{TEST}: scanned the pages and {', '.join(f'{n} ({len(d)} bytes)' for n, d in stored)}"
          f" for {len(s.secrets)} issued secrets ({', '.join(kinds)}) and "
          f"{len(s.idempotency_keys)} Idempotency-Key values")
    for leak in sorted(set(leaks)):
        print(f"{TEST}: LEAK: {leak}")
    return 1 if leaks else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # Fail, or the PostgreSQL helpers' Failure
        if not isinstance(e, Fail) and type(e).__name__ != "Failure":
            raise
        print(f"{TEST}: FAILED: {e}")
        sys.exit(1)
