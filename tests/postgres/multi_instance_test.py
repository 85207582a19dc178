#!/usr/bin/env python3
"""Two chatbotmgr-server processes on one PostgreSQL database behave as one (API.md section
9): sessions, creates, patches, key rotation and deletion made through instance A hold on
instance B on its very next request, and concurrent patches through both lose nothing. So do
role changes and removals of members (section 10), through A or through the `user`
commands, which work on PostgreSQL while the servers run.

Python standard library only. Each case gets a fresh database on the cluster named by
CHATBOTMGR_TEST_PG (else --conninfo, the value CMake was configured with), starts its own
two servers with --storage postgresql://..., and drops the database afterwards.

usage: multi_instance_test.py --server BIN --psql BIN [--conninfo CONNINFO] CASE
       (CASE: one of the functions named case_* below, without the prefix; or "all")

The server limits failed credential checks per client address (100 a minute, then 429).
This test makes far more failed checks on purpose, so every connection it opens binds a
source address of its own in 127.0.0.0/8 (all of it is loopback on Linux).
"""

import argparse
import calendar
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import Failure, ServerProcess  # noqa: E402  (shared with tests/e2e)


def check(condition, message):
    if not condition:
        raise Failure(message)


# --- PostgreSQL -------------------------------------------------------------------------

def parse_conninfo(conninfo):
    """A libpq keyword/value string as a dict (single quotes and backslash escapes)."""
    out, i, n = {}, 0, len(conninfo)
    while True:
        while i < n and conninfo[i].isspace():
            i += 1
        if i >= n:
            return out
        eq = conninfo.index("=", i)
        key = conninfo[i:eq].strip()
        i = eq + 1
        while i < n and conninfo[i].isspace():
            i += 1
        value = []
        if i < n and conninfo[i] == "'":
            i += 1
            while conninfo[i] != "'":
                if conninfo[i] == "\\":
                    i += 1
                value.append(conninfo[i])
                i += 1
            i += 1
        else:
            while i < n and not conninfo[i].isspace():
                if conninfo[i] == "\\":
                    i += 1
                value.append(conninfo[i])
                i += 1
        out[key] = "".join(value)


def database_uri(conninfo, dbname, password=None):
    """A postgresql:// URI for dbname on the cluster of conninfo (keyword form or URI),
    optionally with a password in its user part."""
    if conninfo.startswith(("postgresql://", "postgres://")):
        parts = urllib.parse.urlsplit(conninfo)
        params = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "dbname"]
        netloc = parts.netloc
        user = parts.username
    else:
        values = parse_conninfo(conninfo)
        values.pop("dbname", None)
        user = values.pop("user", None)
        params = sorted(values.items())
        netloc = ""
    if user is not None:
        params.append(("user", user))
    if password is not None:
        netloc = urllib.parse.quote(user or "postgres", safe="") + ":" + \
            urllib.parse.quote(password, safe="") + "@" + netloc.rpartition("@")[2]
    query = "&".join(k + "=" + urllib.parse.quote(v, safe="") for k, v in params)
    return "postgresql://%s/%s%s" % (netloc, dbname, "?" + query if query else "")


class Database:
    """A fresh database on the test cluster, dropped (WITH (FORCE)) by drop()."""

    def __init__(self, psql, maintenance):
        self.psql = psql
        self.maintenance = maintenance
        self.name = "cbm_multi_" + secrets.token_hex(8)
        self.sql_maintenance("CREATE DATABASE %s" % self.name)
        self.uri = database_uri(maintenance, self.name)

    def _run(self, target, sql):
        r = subprocess.run([self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", target, "-c", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failure("psql failed on %r: %s" % (sql, r.stderr.strip()))
        return r.stdout.strip()

    def sql_maintenance(self, sql):
        return self._run(self.maintenance, sql)

    def sql(self, sql):
        return self._run(self.uri, sql)

    def drop(self):
        self.sql_maintenance("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


# --- servers and HTTP -------------------------------------------------------------------

class Server(ServerProcess):
    """chatbotmgr-server serve on 127.0.0.1:<free port> with --storage URL."""

    def __init__(self, binary, name, storage, env=None):
        super().__init__([binary, "serve", "--listen", "127.0.0.1:0", "--storage", storage,
                          "--threads", "2", "--access-log", "off"], env=env, name=name)

    def wait_listening(self, timeout=60):
        super().wait_listening(timeout)
        return self


_source_lock = threading.Lock()
_source_next = [0]


def fresh_source_address():
    """127.a.b.c, never 127.0.0.1 and never the same twice in this process."""
    with _source_lock:
        _source_next[0] += 1
        n = _source_next[0]
    return "127.%d.%d.%d" % (1 + n // 62500, (n // 250) % 250, 1 + n % 250)


class Client:
    """One keep-alive connection to one instance, from a source address of its own."""

    def __init__(self, server):
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30,
                                               source_address=(fresh_source_address(), 0))

    def request(self, method, path, body=None, token=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        self.conn.request(method, path, body=data, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        status = res.status
        self.last_headers = res.headers
        if status == 429:
            raise Failure("%s %s on %s: 429, the per-address rate limit was reached (the "
                          "test's source addresses should prevent this)" %
                          (method, path, self.server.name))
        return status, json.loads(raw) if raw else None

    def close(self):
        self.conn.close()


def one_request(server, method, path, body=None, token=None):
    c = Client(server)
    try:
        return c.request(method, path, body, token)
    finally:
        c.close()


def capture_body(tag):
    return {"conversationId": "conv-" + tag,
            "messages": [{"role": "user", "content": "hello " + tag}]}


def run_threads(count, target):
    """Runs target(i) on count threads released together; returns their results (an
    exception becomes the result). Assertions stay on the calling thread."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(i):
        try:
            barrier.wait(timeout=60)
            results[i] = target(i)
        except Exception as e:  # collected, judged by the caller
            results[i] = e
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    check(not any(t.is_alive() for t in threads), "worker threads did not finish")
    return results


# --- the setting of one case ------------------------------------------------------------

class Pair:
    """A fresh database and two instances A and B on it; A bootstraps the admin."""

    def __init__(self, args):
        self.args = args
        self.db = Database(args.psql, args.conninfo)
        self.servers = []
        self.a = self.start("A")
        creds = self.a.credentials()
        check(creds is not None, "A did not bootstrap the admin on an empty database:\n" +
              self.a.output())
        self.email, self.password = creds
        self.b = self.start("B")
        check(self.b.credentials() is None, "B bootstrapped a second admin:\n" + self.b.output())

    def start(self, name, storage=None, env=None):
        s = Server(self.args.server, name, storage or self.db.uri, env)
        self.servers.append(s)
        return s.wait_listening()

    def login(self, server):
        status, body = one_request(server, "POST", "/api/v1/auth/login",
                                   {"email": self.email, "password": self.password})
        check(status == 200, "login on %s: %d %s" % (server.name, status, body))
        return body["token"]

    def close(self):
        errors = []
        for s in self.servers:
            try:
                code = s.stop()
                if code != 0:
                    errors.append("server %s exited %d:\n%s" % (s.name, code, s.stderr()))
            except Failure as e:
                errors.append(str(e))
            finally:
                s.kill()
        self.db.drop()
        check(not errors, "\n".join(errors))


def create_chatbot(server, token, name, settings=None):
    body = {"name": name}
    if settings is not None:
        body["settings"] = settings
    status, res = one_request(server, "POST", "/api/v1/chatbots", body, token)
    check(status == 200, "create on %s: %d %s" % (server.name, status, res))
    return res["chatbot"], res["apiKey"]


# --- cases ------------------------------------------------------------------------------

def case_idempotent_create(args):
    """The same Idempotency-Key sent to both instances at once runs once (API.md section 14):
    the instance that loses waits for the winner's transaction and replays its answer (or
    answers 409 while it runs); never two chatbots, never two events."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        rounds, per_instance = 15, 4
        for r in range(rounds):
            key = "two-instances-%d" % r
            body = {"name": "Once %d" % r}

            def send(i):
                c = Client(p.a if i % 2 == 0 else p.b)
                try:
                    status, doc = c.request("POST", "/api/v1/chatbots", body, token,
                                            {"Idempotency-Key": key})
                    return status, doc, c.last_headers.get("Idempotent-Replayed")
                finally:
                    c.close()
            results = run_threads(2 * per_instance, send)
            for res in results:
                check(not isinstance(res, Exception), "request failed: %r" % (res,))
            answers = [(doc, replayed) for status, doc, replayed in results if status == 200]
            others = [(status, doc) for status, doc, _ in results if status != 200]
            check(all(status == 409 and doc["error"]["code"] == "idempotency_in_progress"
                      for status, doc in others), "round %d: %s" % (r, others))
            fresh = [doc for doc, replayed in answers if replayed != "true"]
            check(len(fresh) == 1, "round %d: %d requests ran (not replays)" % (r, len(fresh)))
            check(all(doc == fresh[0] for doc, _ in answers),
                  "round %d: the answers differ" % r)
        status, listed = one_request(p.b, "GET", "/api/v1/chatbots", token=token)
        check(status == 200 and len(listed) == rounds, "%d chatbots for %d keys" %
              (len(listed), rounds))
        status, events = one_request(p.a, "GET",
                                     "/api/v1/audit-events?limit=200&action=chatbot.created",
                                     token=token)
        check(status == 200 and len(events) == rounds, "%d chatbot.created events for %d keys" %
              (len(events), rounds))
    finally:
        p.close()


def case_bootstrap_race(args):
    """Instances that start at the same moment on an empty database create one admin."""
    raced = 0
    for attempt in range(3):
        db = Database(args.psql, args.conninfo)
        servers = [Server(args.server, "S%d" % i, db.uri) for i in range(2)]
        try:
            for s in servers:
                s.wait_listening()
            printed = [s.credentials() for s in servers]
            winners = [c for c in printed if c is not None]
            check(len(winners) == 1, "attempt %d: %d instances printed admin credentials:\n%s" %
                  (attempt, len(winners), "\n---\n".join(s.output() for s in servers)))
            check(db.sql("SELECT count(*) FROM users") == "1", "attempt %d: users: %s" %
                  (attempt, db.sql("SELECT count(*) FROM users")))
            check(db.sql("SELECT count(*) FROM organizations") == "1",
                  "attempt %d: more than one organization" % attempt)
            if any("another instance created the first user" in s.stderr() for s in servers):
                raced += 1
            email, password = winners[0]
            for s in servers:
                status, body = one_request(s, "POST", "/api/v1/auth/login",
                                           {"email": email, "password": password})
                check(status == 200, "login with the bootstrapped admin on %s: %d %s" %
                      (s.name, status, body))
            for s in servers:
                check(s.stop() == 0, "server %s: exit code after SIGTERM" % s.name)
        finally:
            for s in servers:
                s.kill()
            db.drop()
    print("bootstrap race: 3 attempts, one admin each; the losing instance hit the unique "
          "email (conflict path) in %d of them" % raced)


def case_sessions(args):
    """Sessions live in the database: a token from A works on B; logout on A revokes on B;
    a session survives the restart of the instance that made it."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        status, body = one_request(p.b, "GET", "/api/v1/chatbots", token=token)
        check(status == 200 and body == [], "A's session on B: %d %s" % (status, body))

        # Restart A: the session made on it still works there and on B.
        check(p.a.stop() == 0, "restart A: exit code")
        p.a = p.start("A2")
        for s in (p.a, p.b):
            status, _ = one_request(s, "GET", "/api/v1/chatbots", token=token)
            check(status == 200, "session after A's restart, on %s: %d" % (s.name, status))

        a, b = Client(p.a), Client(p.b)
        try:
            check(b.request("GET", "/api/v1/chatbots", token=token)[0] == 200, "B before logout")
            status, body = a.request("POST", "/api/v1/auth/logout", token=token)
            check(status == 200, "logout on A: %d %s" % (status, body))
            # B's very next request, on a connection that served the session a moment ago.
            status, body = b.request("GET", "/api/v1/chatbots", token=token)
            check(status == 401, "B after logout on A: %d %s" % (status, body))
            check(a.request("GET", "/api/v1/chatbots", token=token)[0] == 401, "A after logout")
        finally:
            a.close()
            b.close()

        # And the other way round.
        token = p.login(p.b)
        check(one_request(p.a, "GET", "/api/v1/chatbots", token=token)[0] == 200, "B's token on A")
        check(one_request(p.b, "POST", "/api/v1/auth/logout", token=token)[0] == 200,
              "logout on B")
        check(one_request(p.a, "GET", "/api/v1/chatbots", token=token)[0] == 401,
              "A after logout on B")
    finally:
        p.close()


def case_create_patch_visible(args):
    """A write acknowledged by A is what B reads next."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, _ = create_chatbot(p.a, token, "Made on A", {"a": {"b": 1, "c": 2}, "d": [1]})
        status, got = one_request(p.b, "GET", "/api/v1/chatbots/" + bot["id"], token=token)
        check(status == 200 and got == bot, "GET on B after create on A: %d %s vs %s" %
              (status, got, bot))
        status, listed = one_request(p.b, "GET", "/api/v1/chatbots", token=token)
        check(status == 200 and listed == [bot], "list on B: %s" % listed)

        status, patched = one_request(p.a, "PATCH", "/api/v1/chatbots/" + bot["id"],
                                      {"name": "Renamed on A",
                                       "settings": {"a": {"c": None, "e": 3}, "d": [2]}}, token)
        check(status == 200, "patch on A: %d %s" % (status, patched))
        check(patched["settings"] == {"a": {"b": 1, "e": 3}, "d": [2]}, "merge: %s" % patched)
        status, got = one_request(p.b, "GET", "/api/v1/chatbots/" + bot["id"], token=token)
        check(status == 200 and got == patched, "GET on B after patch on A: %s vs %s" %
              (got, patched))

        # And a patch through B is what A reads next.
        status, patched = one_request(p.b, "PATCH", "/api/v1/chatbots/" + bot["id"],
                                      {"settings": {"from_b": True}}, token)
        check(status == 200, "patch on B: %d" % status)
        status, got = one_request(p.a, "GET", "/api/v1/chatbots/" + bot["id"], token=token)
        check(status == 200 and got == patched and got["settings"]["from_b"] is True,
              "GET on A after patch on B: %s" % got)
    finally:
        p.close()


def case_rotate(args):
    """Once rotate-key has answered on A, the old key is a 401 on B's very next request and
    the new key works on B."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, old_key = create_chatbot(p.a, token, "Rotated")
        b = Client(p.b)
        try:
            status, body = b.request("POST", "/api/v1/capture", capture_body("before"), old_key)
            check(status == 200, "capture on B with the first key: %d %s" % (status, body))
            status, body = one_request(p.a, "POST", "/api/v1/chatbots/%s/rotate-key" % bot["id"],
                                       token=token)
            check(status == 200, "rotate on A: %d %s" % (status, body))
            new_key = body["apiKey"]
            check(new_key != old_key, "rotate returned the same key")
            status, body = b.request("POST", "/api/v1/capture", capture_body("old"), old_key)
            check(status == 401, "old key on B right after the rotation on A: %d %s" %
                  (status, body))
            status, body = b.request("POST", "/api/v1/capture", capture_body("new"), new_key)
            check(status == 200, "new key on B: %d %s" % (status, body))
        finally:
            b.close()
        check(one_request(p.a, "POST", "/api/v1/capture", capture_body("old-a"), old_key)[0] == 401,
              "old key on A")
        status, got = one_request(p.b, "GET", "/api/v1/chatbots/" + bot["id"], token=token)
        check(status == 200 and got["api_key_prefix"] == new_key[:14] + "...",
              "B shows the new prefix: %s" % got)
    finally:
        p.close()


def parse_utc(text):
    """Seconds since the epoch of an RFC 3339 "YYYY-MM-DDTHH:MM:SSZ"."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def case_grace(args):
    """Rotate with a grace on A: the previous key works on B until the instant
    previousKeyExpiresAt (every answer that came back before it was a 200), and is a 401 on B
    for every request sent from that instant on."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, old_key = create_chatbot(p.a, token, "Graceful")
        status, body = one_request(p.a, "POST", "/api/v1/chatbots/%s/rotate-key" % bot["id"],
                                   {"grace_seconds": 3}, token)
        check(status == 200 and "previousKeyExpiresAt" in body, "rotate on A: %d %s" %
              (status, body))
        until = parse_utc(body["previousKeyExpiresAt"])
        new_key = body["apiKey"]
        b = Client(p.b)
        try:
            accepted = refused = 0
            while True:
                sent = time.time()
                if sent > until + 1.5:
                    break
                status, answer = b.request("POST", "/api/v1/capture", capture_body("g"), old_key)
                returned = time.time()
                if returned < until:
                    check(status == 200, "previous key on B %.3f s before the end: %d %s" %
                          (until - returned, status, answer))
                    accepted += 1
                elif sent >= until:
                    check(status == 401, "previous key on B %.3f s after the end: %d %s" %
                          (sent - until, status, answer))
                    refused += 1
                time.sleep(0.05)
            check(accepted > 0 and refused > 0, "accepted %d, refused %d" % (accepted, refused))
            status, answer = b.request("POST", "/api/v1/capture", capture_body("n"), new_key)
            check(status == 200, "new key on B: %d %s" % (status, answer))
            status, info = b.request("GET", "/api/v1/chatbots/%s/key" % bot["id"], token=token)
            check(status == 200 and info["previous"] is None, "key on B after the grace: %s" %
                  info)
        finally:
            b.close()
    finally:
        p.close()


def case_end_grace(args):
    """End the grace on A: the previous key is a 401 on B's very next request; ending it again
    answers revoked: false."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, old_key = create_chatbot(p.a, token, "Ended")
        status, body = one_request(p.a, "POST", "/api/v1/chatbots/%s/rotate-key" % bot["id"],
                                   {"grace_seconds": 3600}, token)
        check(status == 200, "rotate on A: %d %s" % (status, body))
        new_key = body["apiKey"]
        b = Client(p.b)
        try:
            status, answer = b.request("POST", "/api/v1/capture", capture_body("p"), old_key)
            check(status == 200, "previous key on B in its grace: %d %s" % (status, answer))
            status, info = b.request("GET", "/api/v1/chatbots/%s/key" % bot["id"], token=token)
            check(status == 200 and info["previous"]["api_key_prefix"] == old_key[:14] + "...",
                  "key on B: %s" % info)
            status, answer = one_request(p.a, "DELETE",
                                         "/api/v1/chatbots/%s/previous-key" % bot["id"],
                                         token=token)
            check(status == 200 and answer == {"ok": True, "revoked": True},
                  "end grace on A: %d %s" % (status, answer))
            status, answer = b.request("POST", "/api/v1/capture", capture_body("p2"), old_key)
            check(status == 401, "previous key on B right after the end on A: %d %s" %
                  (status, answer))
            status, answer = b.request("POST", "/api/v1/capture", capture_body("n"), new_key)
            check(status == 200, "new key on B: %d %s" % (status, answer))
            status, answer = b.request("DELETE", "/api/v1/chatbots/%s/previous-key" % bot["id"],
                                       token=token)
            check(status == 200 and answer == {"ok": True, "revoked": False},
                  "end grace again on B: %d %s" % (status, answer))
        finally:
            b.close()
    finally:
        p.close()


def case_last_used(args):
    """Captures on A and on B, then a clean stop of both (SIGTERM): after a restart,
    last_used_at is the latest capture of either instance, in whole seconds, never later
    than the truth."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, key = create_chatbot(p.a, token, "Used")
        status, info = one_request(p.b, "GET", "/api/v1/chatbots/%s/key" % bot["id"],
                                   token=token)
        check(status == 200 and info["last_used_at"] is None, "before any use: %s" % info)
        check(one_request(p.a, "POST", "/api/v1/capture", capture_body("a"), key)[0] == 200,
              "capture on A")
        time.sleep(1.1)
        before_last = int(time.time())
        check(one_request(p.b, "POST", "/api/v1/capture", capture_body("b"), key)[0] == 200,
              "capture on B")
        after_last = time.time()
        for s in (p.a, p.b):
            check(s.stop() == 0, "%s: exit code after SIGTERM" % s.name)
        p.servers = []
        p.a = p.start("A2")
        status, info = one_request(p.a, "GET", "/api/v1/chatbots/%s/key" % bot["id"],
                                   token=p.login(p.a))
        check(status == 200 and info["last_used_at"] is not None, "after restart: %s" % info)
        used = parse_utc(info["last_used_at"])
        check(before_last <= used <= after_last,
              "last_used_at %s is not the second of B's capture (%d..%.1f)" %
              (info["last_used_at"], before_last, after_last))
    finally:
        p.close()


def case_delete(args):
    """Once delete has answered on A, B rejects the key (401) and knows no such chatbot
    (404)."""
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, key = create_chatbot(p.a, token, "Deleted")
        keep, keep_key = create_chatbot(p.a, token, "Kept")
        b = Client(p.b)
        try:
            check(b.request("POST", "/api/v1/capture", capture_body("x"), key)[0] == 200,
                  "capture on B before the delete")
            check(b.request("GET", "/api/v1/chatbots/" + bot["id"], token=token)[0] == 200,
                  "GET on B before the delete")
            status, body = one_request(p.a, "DELETE", "/api/v1/chatbots/" + bot["id"], token=token)
            check(status == 200 and body == {"ok": True}, "delete on A: %d %s" % (status, body))
            status, body = b.request("POST", "/api/v1/capture", capture_body("y"), key)
            check(status == 401, "deleted chatbot's key on B: %d %s" % (status, body))
            status, body = b.request("GET", "/api/v1/chatbots/" + bot["id"], token=token)
            check(status == 404, "GET on B after the delete on A: %d %s" % (status, body))
            status, listed = b.request("GET", "/api/v1/chatbots", token=token)
            check(status == 200 and [c["id"] for c in listed] == [keep["id"]],
                  "list on B after the delete: %s" % listed)
            check(b.request("POST", "/api/v1/capture", capture_body("z"), keep_key)[0] == 200,
                  "the other chatbot's key on B")
        finally:
            b.close()
        check(db_count(p, "conversations WHERE chatbot_id = '%s'" % bot["id"]) == 0,
              "the deleted chatbot's conversations remain")
    finally:
        p.close()


def db_count(p, what):
    return int(p.db.sql("SELECT count(*) FROM " + what))


def case_concurrent_patches(args):
    """50 threads patch through A and 50 through B at once, each its own settings members
    (two requests each): every member is there afterwards, seen from both instances."""
    threads_per_instance, patches_per_thread = 50, 2
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, _ = create_chatbot(p.a, token, "Contended", {"base": {"kept": True}})
        path = "/api/v1/chatbots/" + bot["id"]

        def worker(i):
            server = p.a if i < threads_per_instance else p.b
            c = Client(server)
            try:
                statuses = []
                for j in range(patches_per_thread):
                    member = "%s%d_%d" % (server.name, i, j)
                    # Half nested into one shared object, half at the top level.
                    patch = {"base": {member: i * 10 + j}} if j % 2 else {member: i * 10 + j}
                    statuses.append(c.request("PATCH", path, {"settings": patch}, token)[0])
                return statuses
            finally:
                c.close()

        results = run_threads(2 * threads_per_instance, worker)
        errors = [r for r in results if isinstance(r, Exception)]
        check(not errors, "%d workers failed, first: %r" % (len(errors), errors[:1]))
        bad = [s for r in results for s in r if s != 200]
        check(not bad, "non-200 patches: %s" % bad[:10])

        expected = {"base": {"kept": True}}
        for i in range(2 * threads_per_instance):
            name = "A" if i < threads_per_instance else "B"
            for j in range(patches_per_thread):
                member = "%s%d_%d" % (name, i, j)
                if j % 2:
                    expected["base"][member] = i * 10 + j
                else:
                    expected[member] = i * 10 + j
        for s in (p.a, p.b):
            status, got = one_request(s, "GET", path, token=token)
            check(status == 200, "GET on %s: %d" % (s.name, status))
            missing = sorted(set(expected) - set(got["settings"])) + \
                sorted(set(expected["base"]) - set(got["settings"].get("base", {})))
            check(not missing, "%d of %d members lost (seen from %s): %s" %
                  (len(missing), 2 * threads_per_instance * patches_per_thread, s.name,
                   missing[:10]))
            check(got["settings"] == expected, "settings differ from the expected merge on %s" %
                  s.name)
        print("concurrent patches: %d through A and %d through B, %d members, none lost" %
              (threads_per_instance * patches_per_thread, threads_per_instance * patches_per_thread,
               2 * threads_per_instance * patches_per_thread))
    finally:
        p.close()


def case_rotate_stress(args):
    """100 rounds of rotate on A, then the old key on B: never accepted once the rotation
    has answered -- on B's very next request, nor by two threads that keep hammering B with
    the most recently retired key meanwhile."""
    rounds, hammers = 100, 2
    p = Pair(args)
    try:
        token = p.login(p.a)
        bot, key = create_chatbot(p.a, token, "Stressed")
        state_lock = threading.Lock()
        state = {"retired": None, "stop": False}
        violations, hammer_counts = [], [0] * hammers

        def hammer(h):
            n = 0
            c = None
            while True:
                with state_lock:
                    if state["stop"]:
                        break
                    retired = state["retired"]
                if retired is None:
                    time.sleep(0.001)
                    continue
                if c is None or n % 40 == 0:  # a fresh source address now and then
                    if c:
                        c.close()
                    c = Client(p.b)
                n += 1
                # retired was read before the request was sent: its rotation had answered.
                status, body = c.request("POST", "/api/v1/capture",
                                         capture_body("h%d-%d" % (h, n)), retired)
                if status != 401:
                    violations.append("hammer %d: retired key got %d %s" % (h, status, body))
                hammer_counts[h] += 1
            if c:
                c.close()

        hammer_results = []
        hammer_threads = [threading.Thread(target=lambda h=h: hammer_results.append(
            run_guarded(hammer, h))) for h in range(hammers)]
        for t in hammer_threads:
            t.start()

        a = Client(p.a)
        immediate_401 = 0
        try:
            for r in range(rounds):
                status, body = a.request("POST", "/api/v1/chatbots/%s/rotate-key" % bot["id"],
                                         token=token)
                check(status == 200, "round %d: rotate on A: %d %s" % (r, status, body))
                old, key = key, body["apiKey"]
                with state_lock:
                    state["retired"] = old
                # The very next request on B, from a connection of its own.
                status, body = one_request(p.b, "POST", "/api/v1/capture",
                                           capture_body("r%d" % r), old)
                check(status == 401, "round %d: the old key on B right after the rotation "
                      "answered: %d %s" % (r, status, body))
                immediate_401 += 1
                if r % 10 == 0:
                    status, body = one_request(p.b, "POST", "/api/v1/capture",
                                               capture_body("n%d" % r), key)
                    check(status == 200, "round %d: the new key on B: %d %s" % (r, status, body))
        finally:
            a.close()
            with state_lock:
                state["stop"] = True
            for t in hammer_threads:
                t.join(timeout=120)
        check(all(r is None for r in hammer_results), "hammer failed: %s" % hammer_results)
        check(not violations, "old keys accepted after their rotation answered: %s" %
              violations[:5])
        print("rotate stress: %d rounds; old key on B's next request: 401 every time (%d/%d); "
              "%d more requests with just-retired keys by %d threads on B: all 401" %
              (rounds, immediate_401, rounds, sum(hammer_counts), hammers))
    finally:
        p.close()


def run_guarded(fn, *a):
    try:
        fn(*a)
        return None
    except Exception as e:
        return repr(e)


def case_user_add_and_redaction(args):
    """user add --storage (and CHATBOTMGR_STORAGE) writes to PostgreSQL; a password in the
    URL never appears in the server's output, not even in an error."""
    p = Pair(args)
    try:
        marker = "pw-" + secrets.token_hex(6)
        uri_with_password = database_uri(args.conninfo, p.db.name, password=marker)
        r = subprocess.run([args.server, "user", "add", "--storage", uri_with_password,
                            "--email", "Flag@Example.com", "--org", "Second Org"],
                           input="flag user password\n", capture_output=True, text=True,
                           timeout=120)
        check(r.returncode == 0, "user add --storage: exit %d: %s" % (r.returncode, r.stderr))
        check(marker not in r.stdout + r.stderr, "user add printed the URL's password")
        added = json.loads(r.stdout)
        env = dict(os.environ, CHATBOTMGR_STORAGE=p.db.uri)
        env.pop("CHATBOTMGR_DB", None)
        r = subprocess.run([args.server, "user", "add", "--email", "env@example.com", "--org",
                            "Second Org"], input="env user password\n", capture_output=True,
                           text=True, env=env, timeout=120)
        check(r.returncode == 0, "user add with CHATBOTMGR_STORAGE: exit %d: %s" %
              (r.returncode, r.stderr))
        check(json.loads(r.stdout)["org_id"] == added["org_id"], "same org name, other org")

        for email, password in (("flag@example.com", "flag user password"),
                                ("ENV@example.com", "env user password")):
            for s in (p.a, p.b):
                status, body = one_request(s, "POST", "/api/v1/auth/login",
                                           {"email": email, "password": password})
                check(status == 200 and body["organization"]["id"] == added["org_id"],
                      "login of %s on %s: %d %s" % (email, s.name, status, body))

        # A third instance with the password in its URL (the test cluster trusts local
        # connections, so it is accepted and ignored): nothing it prints shows it.
        c = p.start("C", storage=uri_with_password)
        status, _ = one_request(c, "GET", "/readyz")
        check(status == 200, "readyz on C: %d" % status)
        check(c.stop() == 0, "C: exit code")
        check(marker not in c.output(), "serve printed the URL's password")

        # A server that cannot connect names the database, password redacted.
        bad = "postgresql://someone:%s@127.0.0.1:1/nowhere?connect_timeout=2&password=%s" % (
            marker, marker)
        r = subprocess.run([args.server, "serve", "--listen", "127.0.0.1:0", "--storage", bad],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 1, "serve on an unreachable database: exit %d" % r.returncode)
        check(marker not in r.stdout + r.stderr, "the error shows the password: %r" % r.stderr)
        check("postgresql://someone:***@127.0.0.1:1/nowhere" in r.stderr and
              "password=***" in r.stderr, "the error does not name the database: %r" % r.stderr)
    finally:
        p.close()


def user_command(args, storage, *words, stdin=""):
    """Runs `chatbotmgr-server user WORDS... --storage STORAGE`; (exit code, stdout, stderr)."""
    r = subprocess.run([args.server, "user", *words, "--storage", storage], input=stdin,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def case_member_changes(args):
    """A role change or a removal on A (PATCH / DELETE /api/v1/members/{id}) applies to the
    member's very next request on B; so does `user set-role` while both servers run."""
    p = Pair(args)
    try:
        owner = p.login(p.a)
        code, out, err = user_command(args, p.db.uri, "add", "--email", "mia@example.com",
                                      "--org", "Default Organization", "--role", "member",
                                      stdin="mia's password\n")
        check(code == 0, "user add --role member on PostgreSQL: %d %s" % (code, err))
        mia_id = json.loads(out)["user_id"]
        status, body = one_request(p.b, "POST", "/api/v1/auth/login",
                                   {"email": "mia@example.com", "password": "mia's password"})
        check(status == 200, "member login on B: %d %s" % (status, body))
        mia = body["token"]

        status, members = one_request(p.a, "GET", "/api/v1/members", token=owner)
        # Both joined within the same second: the order between them is by id, so compare sets.
        check(status == 200 and sorted((m["email"], m["role"]) for m in members) ==
              sorted([(p.email, "owner"), ("mia@example.com", "member")]),
              "members on A: %s" % members)
        check([m["user_id"] for m in members if m["email"] == "mia@example.com"] == [mia_id],
              "member id: %s vs %s" % (members, mia_id))
        member_path = "/api/v1/members/" + mia_id

        a, b = Client(p.a), Client(p.b)
        try:
            status, body = b.request("POST", "/api/v1/chatbots", {"name": "By a member"}, mia)
            check(status == 200, "member creates on B: %d %s" % (status, body))
            status, body = b.request("GET", "/api/v1/auth/session", token=mia)
            check(status == 200 and body["role"] == "member", "session on B: %s" % body)

            # Demoted on A: B's very next request, on a connection that served the member a
            # moment ago, is refused.
            status, body = a.request("PATCH", member_path, {"role": "viewer"}, owner)
            check(status == 200 and body["role"] == "viewer", "PATCH on A: %d %s" % (status, body))
            status, body = b.request("POST", "/api/v1/chatbots", {"name": "By a viewer"}, mia)
            check(status == 403 and body["error"]["code"] == "forbidden" and
                  body["error"]["required_role"] == "member",
                  "B right after the demotion on A: %d %s" % (status, body))
            status, body = b.request("GET", "/api/v1/auth/session", token=mia)
            check(status == 200 and body["role"] == "viewer", "session on B: %s" % body)
            status, body = b.request("GET", "/api/v1/chatbots", token=mia)
            check(status == 200 and len(body) == 1, "a viewer still reads on B: %d %s" %
                  (status, body))

            # Promoted back by the command line while both servers run.
            code, out, err = user_command(args, p.db.uri, "set-role", "--email",
                                          "MIA@example.com", "--role", "member")
            check(code == 0 and out.split("\t")[:3] ==
                  ["mia@example.com", "member", "Default Organization"],
                  "user set-role on PostgreSQL: %d %r %s" % (code, out, err))
            status, body = b.request("POST", "/api/v1/chatbots", {"name": "Member again"}, mia)
            check(status == 200, "B right after user set-role: %d %s" % (status, body))
            status, body = a.request("GET", "/api/v1/auth/session", token=mia)
            check(status == 200 and body["role"] == "member", "session on A: %s" % body)

            # The last owner stays, whoever asks.
            code, _, err = user_command(args, p.db.uri, "set-role", "--email", p.email,
                                        "--role", "admin")
            check(code == 1 and "only owner" in err, "demoting the last owner: %d %s" %
                  (code, err))
            code, out, err = user_command(args, p.db.uri, "list")
            check(code == 0 and sorted(line.split("\t")[:2] for line in out.splitlines()) ==
                  sorted([[p.email, "owner"], ["mia@example.com", "member"]]),
                  "user list on PostgreSQL: %d %r %s" % (code, out, err))

            # Removed on A: B's very next request with the member's session is 401.
            status, body = a.request("DELETE", member_path, token=owner)
            check(status == 200 and body == {"ok": True}, "DELETE on A: %d %s" % (status, body))
            status, body = b.request("GET", "/api/v1/chatbots", token=mia)
            check(status == 401, "B right after the removal on A: %d %s" % (status, body))
            status, body = b.request("POST", "/api/v1/chatbots", {"name": "Gone"}, mia)
            check(status == 401, "a write on B after the removal: %d %s" % (status, body))
            check(a.request("GET", "/api/v1/chatbots", token=mia)[0] == 401, "A after removal")
            check(b.request("GET", "/api/v1/chatbots", token=owner)[0] == 200,
                  "the owner's session on B")
        finally:
            a.close()
            b.close()
    finally:
        p.close()


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items())
         if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--psql", required=True)
    ap.add_argument("--conninfo", default="")
    ap.add_argument("case", choices=sorted(CASES) + ["all"])
    args = ap.parse_args()
    args.conninfo = os.environ.get("CHATBOTMGR_TEST_PG") or args.conninfo
    if not args.conninfo:
        print("CHATBOTMGR_TEST_PG is not set: start a cluster with scripts/pg-test-cluster.sh")
        sys.exit(1)
    names = sorted(CASES) if args.case == "all" else [args.case]
    failed = 0
    for name in names:
        started = time.monotonic()
        try:
            CASES[name](args)
            print("PASS %s (%.1f s)" % (name, time.monotonic() - started))
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        except Exception:
            failed += 1
            print("FAIL %s:" % name)
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
