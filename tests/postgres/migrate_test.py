#!/usr/bin/env python3
"""chatbotmgr-server migrate, SQLite to PostgreSQL, end to end (issue 15, item 4; API.md
section 16; ctest label "postgres").

1. A real server on SQLite is populated over HTTP: two organizations, users with every
   role, a pending invitation, chatbots with settings, a key rotated with a grace period
   (its previous key still live), a key rotated without one (its old key dead), a key
   with an expiry, conversations and messages (keys used, so last-use times exist), and
   an analysis result (written to the file: it has no route). What the server answers is
   recorded, and the server stopped (a clean stop writes the last-use times).
2. migrate is refused while a server holds the SQLite file; then it copies into a fresh
   database (the audit events the server recorded arrive value by value), and a second run
   into the same (now filled) database is refused.
3. Two servers on the PostgreSQL database: every user logs in with the old password and
   has the old role; chatbots, settings, key details (prefixes, previous key, expiry,
   last use), members and invitations read the same on both instances as on SQLite;
   every current key captures, the previous key in grace captures, the dead key is 401;
   new messages are stored after the copied ones (the id sequences were moved on) and
   the row counts match the SQLite file exactly.

usage: migrate_test.py --server BIN --psql BIN [--conninfo CONNINFO]
"""

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import multi_instance_test as m  # noqa: E402
from server_process import Failure, ServerProcess  # noqa: E402

check = m.check
USERS = [("owner@acme.test", "Acme", "owner"), ("admin@acme.test", "Acme", "admin"),
         ("member@acme.test", "Acme", "member"), ("viewer@acme.test", "Acme", "viewer"),
         ("owner@beta.test", "Beta", "owner")]
TABLES = ["organizations", "users", "invitations", "chatbots", "conversations", "messages",
          "analysis_results", "audit_events"]
# Every column of an audit event, the same in both schemas: the copy keeps each value.
EVENT_COLUMNS = ["id", "org_id", "created_at", "action", "actor_type", "actor_id", "actor_email",
                 "target_type", "target_id", "target_name", "ip", "user_agent", "changes"]


_started = []  # stopped at exit, whatever happened


def start_sqlite(args, db, name):
    server = ServerProcess([args.server, "serve", "--listen", "127.0.0.1:0", "--db", db,
                            "--access-log", "off"], name=name)
    _started.append(server)
    server.wait_listening()
    return server


def run(args, *words, stdin=""):
    return subprocess.run([args.server, *words], input=stdin, capture_output=True, text=True,
                          timeout=300)


def password_of(email):
    return "pw-" + email.split("@")[0] + "-migrate-test"


def login(server, email):
    status, body = m.one_request(server, "POST", "/api/v1/auth/login",
                                 {"email": email, "password": password_of(email)})
    check(status == 200, "%s: login as %s answered %d" % (server.name, email, status))
    return body["token"]


def capture(server, key, conv, n):
    return m.one_request(server, "POST", "/api/v1/capture",
                         {"conversationId": conv,
                          "messages": [{"role": "user", "content": "m%d" % n, "id": "%s-%d" % (conv, n)}]},
                         token=key)[0]


def view(server, tokens):
    """What the API shows of everything, per organization: the comparison of before and
    after."""
    out = {}
    for email, token in tokens.items():
        status, session = m.one_request(server, "GET", "/api/v1/auth/session", token=token)
        check(status == 200, "session of %s: %d" % (email, status))
        out[email] = {"role": session["role"], "org": session["organization"]["name"]}
        if session["role"] in ("owner",):
            bots = m.one_request(server, "GET", "/api/v1/chatbots", token=token)[1]
            keys = {b["id"]: m.one_request(server, "GET", "/api/v1/chatbots/%s/key" % b["id"],
                                           token=token)[1] for b in bots}
            members = m.one_request(server, "GET", "/api/v1/members", token=token)[1]
            invitations = m.one_request(server, "GET", "/api/v1/invitations", token=token)[1]
            out[email].update(bots=bots, keys=keys, members=members, invitations=invitations)
    return out


def sqlite_events_md5(db):
    """md5 of every audit event, as events_md5_sql computes it in PostgreSQL."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = con.execute("SELECT %s FROM audit_events ORDER BY id" % ", ".join(EVENT_COLUMNS))
        text = "\x1e".join("\x1f".join(str(v) for v in row) for row in rows)
    finally:
        con.close()
    return hashlib.md5(text.encode()).hexdigest()


def events_md5_sql():
    return ("SELECT md5(coalesce(string_agg(concat_ws(chr(31), %s), chr(30) ORDER BY id), '')) "
            "FROM audit_events" % ", ".join(EVENT_COLUMNS))


def sqlite_counts(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return {t: con.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--psql", required=True)
    ap.add_argument("--conninfo", default=None)
    args = ap.parse_args()
    conninfo = os.environ.get("CHATBOTMGR_TEST_PG") or args.conninfo
    check(conninfo, "no PostgreSQL: set CHATBOTMGR_TEST_PG or give --conninfo")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="chatbotmgr-migrate-") as scratch:
        db = os.path.join(scratch, "source.db")
        for email, org, role in USERS:
            r = run(args, "user", "add", "--db", db, "--email", email, "--org", org, "--role",
                    role, stdin=password_of(email) + "\n")
            check(r.returncode == 0, "user add %s: %s" % (email, r.stderr))

        # 1. Populate over HTTP.
        source = start_sqlite(args, db, "sqlite")
        tokens = {email: login(source, email) for email, _, _ in USERS}
        owner = tokens["owner@acme.test"]
        bots = []
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
        for i in range(4):
            body = {"name": "bot %d" % i, "settings": {"i": i, "nested": {"tags": ["a", i]}}}
            if i == 3:
                body["key_expires_at"] = expiry
            status, doc = m.one_request(source, "POST", "/api/v1/chatbots", body, owner)
            check(status == 200, "create answered %d" % status)
            bots.append({"id": doc["chatbot"]["id"], "key": doc["apiKey"]})
        status, doc = m.one_request(source, "POST", "/api/v1/chatbots",
                                    {"name": "beta bot"}, tokens["owner@beta.test"])
        check(status == 200, "create in Beta answered %d" % status)
        bots.append({"id": doc["chatbot"]["id"], "key": doc["apiKey"]})
        for n, bot in enumerate(bots):
            for k in range(3):
                check(capture(source, bot["key"], "conv-%d" % (k % 2), n * 10 + k) == 200,
                      "capture on SQLite")
        status, doc = m.one_request(source, "POST", "/api/v1/chatbots/%s/rotate-key" % bots[0]["id"],
                                    {"grace_seconds": 86400}, owner)
        check(status == 200, "rotate with grace answered %d" % status)
        bots[0]["previous"], bots[0]["key"] = bots[0]["key"], doc["apiKey"]
        status, doc = m.one_request(source, "POST", "/api/v1/chatbots/%s/rotate-key" % bots[1]["id"],
                                    None, owner)
        check(status == 200, "rotate answered %d" % status)
        bots[1]["dead"], bots[1]["key"] = bots[1]["key"], doc["apiKey"]
        check(capture(source, bots[0]["previous"], "conv-grace", 99) == 200,
              "the previous key in grace captures on SQLite")
        status, _ = m.one_request(source, "POST", "/api/v1/invitations",
                                  {"email": "new@acme.test", "role": "member"}, owner)
        check(status == 200, "invite answered %d" % status)

        # 2. migrate is refused while a server holds the file.
        held = m.Database(args.psql, conninfo)
        try:
            r = run(args, "migrate", "--from", db, "--to", held.uri)
            figures["migrate while a server holds the SQLite file"] = "exit %d" % r.returncode
            check(r.returncode == 1 and "another process has it open" in r.stderr,
                  "migrate of a held file was not refused: %d %s" % (r.returncode, r.stderr))
        finally:
            held.drop()

        # Read back after a clean stop and a restart: the last-use times are on disk then.
        check(source.stop() == 0, "the SQLite server did not stop cleanly")
        source = start_sqlite(args, db, "sqlite-again")
        before = view(source, tokens)
        keys = before["owner@acme.test"]["keys"].values()
        used = sum(1 for k in keys if k["last_used_at"]) + \
            sum(1 for k in keys if k["previous"] and k["previous"]["last_used_at"])
        check(used == 3, "%d keys show a last use on SQLite, expected 3" % used)
        figures["key last-use times carried over"] = used
        check(source.stop() == 0, "the SQLite server did not stop cleanly")
        con = sqlite3.connect(db)
        con.execute("INSERT INTO analysis_results (conversation_id, chatbot_id, kind, result, "
                    "created_at) SELECT id, chatbot_id, 'sentiment', '{\"score\":0.5}', 1700000000 "
                    "FROM conversations ORDER BY id LIMIT 2")
        con.commit()
        con.close()
        counts = sqlite_counts(db)
        figures["rows in the SQLite file"] = ", ".join("%s %d" % kv for kv in counts.items())

        target = m.Database(args.psql, conninfo)
        servers = []
        try:
            r = run(args, "migrate", "--from", db, "--to", target.uri)
            check(r.returncode == 0, "migrate failed (%d): %s" % (r.returncode, r.stderr))
            print(r.stdout.rstrip())
            check("verified" in r.stdout, "migrate printed no verification")
            r = run(args, "migrate", "--from", db, "--to", target.uri)
            figures["second migrate into the filled database"] = "exit %d" % r.returncode
            check(r.returncode == 1 and "not empty" in r.stderr,
                  "a non-empty target was not refused: %d %s" % (r.returncode, r.stderr))
            pg_counts = {t: int(target.sql("SELECT count(*) FROM %s" % t)) for t in TABLES}
            check(pg_counts == counts, "row counts differ: %s vs %s" % (pg_counts, counts))
            check(target.sql("SELECT count(*) FROM sessions") == "0", "sessions were copied")
            check(counts["audit_events"] > 0, "the SQLite server recorded no audit events")
            check(target.sql(events_md5_sql()) == sqlite_events_md5(db),
                  "audit events differ after the copy")
            figures["audit events copied value by value"] = counts["audit_events"]

            # 3. Two instances on PostgreSQL.
            servers = [m.Server(args.server, name, target.uri).wait_listening()
                       for name in ("pg-a", "pg-b")]
            # Everything read on both before any capture there (a capture moves last use).
            for server in servers:
                pg_tokens = {email: login(server, email) for email, _, _ in USERS}
                after = view(server, pg_tokens)
                for email in before:
                    check(after[email] == before[email],
                          "%s: %s sees something else on PostgreSQL:\n%s\n%s" %
                          (server.name, email, before[email], after[email]))
            for i, server in enumerate(servers):
                for n, bot in enumerate(bots):
                    check(capture(server, bot["key"], "conv-0", 500 + 10 * i + n) == 200,
                          "%s: a current key stopped working" % server.name)
                check(capture(server, bots[0]["previous"], "conv-grace", 600 + i) == 200,
                      "%s: the previous key in grace stopped working" % server.name)
                check(capture(server, bots[1]["dead"], "conv-0", 700) == 401,
                      "%s: the rotated-away key works again" % server.name)
            new_messages = 2 * (len(bots) + 1)
            got = int(target.sql("SELECT count(*) FROM messages"))
            check(got == counts["messages"] + new_messages,
                  "messages after new captures: %d, expected %d" %
                  (got, counts["messages"] + new_messages))
            figures["users who logged in on both instances"] = len(USERS)
            figures["chatbots whose keys work on both instances"] = len(bots)
            figures["new messages stored after the copied ones"] = new_messages
        finally:
            for server in servers:
                server.stop()
            target.drop()
    for k, v in figures.items():
        print("migrate: %s: %s" % (k, v))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("migrate: FAILED: %s" % e)
        sys.exit(1)
    finally:
        for server in _started:
            server.stop()
