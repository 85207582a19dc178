#!/usr/bin/env python3
"""Crash consistency of the real server on SQLite (ctest label "crash").

Several clients send creates, patches, rotations, captures and deletes; the server is
killed with SIGKILL at a random moment; it is restarted on the same file and the test
checks, against the ledger of acknowledged (200) answers:

  * every acknowledged write is there (chatbots, names, settings, keys, messages);
  * deleted chatbots are gone with every row that hung off them;
  * the write that was in flight at the kill is there whole or not at all (a patch's name
    and settings together, a capture's messages all or none, a create with its settings);
  * nothing else appeared; rotated-away keys stay dead (no digest in the file, 401/429 over
    HTTP); the current keys work;
  * PRAGMA integrity_check is "ok" and PRAGMA foreign_key_check finds nothing;
  * changes and audit events match one to one (issue 14, API.md section 13), read over
    GET /api/v1/audit-events: every change that happened -- acknowledged, or in flight at
    the kill and found applied -- has exactly one event of its action and target, every
    chatbot event names a chatbot of the ledger (so an unapplied in-flight write left no
    event);
  * some creates and rotations carry an Idempotency-Key (API.md section 14): after the
    restart those in flight at the kill are retried with the same key and body, and the
    answer is a replay exactly when the first attempt had committed; a few acknowledged
    idempotent creates are replayed (same answer, nothing created) and one key is reused
    with another body (422).

Usage: crash_consistency_test.py --server PATH [--kill-points N] [--seed S] [--self-check]
                                 [--inject-missing-event]
Prints the figures (kill points survived, acknowledged writes, writes lost, audit events
checked, retries) at the end.
With --self-check, the file is tampered with after the first kill (an acknowledged message
deleted, an acknowledged rename undone) and the test passes only if the verifier reports
exactly those losses: the negative control that shows the verification can fail. With
--inject-missing-event, the audit event of one acknowledged change is deleted from the file
after the first kill, and the test passes only if the audit check reports that chatbot and
action (and nothing else): the negative control of the audit check.
"""

import argparse
import http.client
import json
import os
import random
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check, sha256  # noqa: E402

TEST = "crash"
CONN_ERRORS = (OSError, http.client.HTTPException)


def merge_patch(target, patch):
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


class Bot:
    def __init__(self, id_, owner, name, settings, key):
        self.id, self.owner, self.name, self.settings, self.key = id_, owner, name, settings, key
        self.dead_keys = []
        self.deleted = False
        self.conversations = {}  # external conversation id -> set of message ids stored
        # The audit ledger: the changes that happened (acknowledged, or in flight at a fault
        # and found applied), each of which must have exactly one event (API.md section 13).
        self.digest = sha256(key) if key else None  # of the current key (known or read)
        self.updates = 0
        self.rotations = 0


class Ledger:
    """What the clients were told, plus the one operation per client still in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bots = {}          # id -> Bot
        self.pending = {}       # client -> (kind, details)
        self.acked = 0          # acknowledged writes, all rounds
        self.acked_by_kind = {}
        self.unexpected = []    # answers other than 200 or a dead connection
        self.adopted = 0        # in-flight creates that turned out applied
        self.inflight_applied = 0
        self.inflight_dropped = 0
        self.audit = []         # audit findings: a change without its event, or the reverse
        self.events_checked = 0
        self.idem_creates = []  # acknowledged creates with an Idempotency-Key, for replays
        self.retries = {}       # what the retries of in-flight idempotent writes found
        self.replays = 0        # acknowledged idempotent creates replayed after a restart
        self.rng = random.Random(7)

    def count(self, what):
        self.retries[what] = self.retries.get(what, 0) + 1

    def ack(self, kind):
        self.acked += 1
        self.acked_by_kind[kind] = self.acked_by_kind.get(kind, 0) + 1


class Worker(threading.Thread):
    """One client: owns its chatbots, one request at a time."""

    def __init__(self, n, port, token, ledger, rng, stop):
        super().__init__(daemon=True)
        self.n, self.port, self.token, self.ledger = n, port, token, ledger
        self.rng, self.stop = rng, stop
        self.client = harness.Client(port, timeout=30, test=TEST)
        self.seq = 0
        # Workers are made anew at every fault point with the same n (and so the same bots)
        # and seq from 0: message ids carry this worker's own tag, or an in-flight capture
        # could share ids with one stored at an earlier point and look half stored.
        self.tag = rng.randrange(10**9)

    def mine(self):
        with self.ledger.lock:
            return [b for b in self.ledger.bots.values() if not b.deleted and b.owner == self.n]

    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
        except CONN_ERRORS:
            pass  # the server was killed: the pending operation stays uncertain
        finally:
            self.client.close()

    def on_answer(self, status, headers):
        """A subclass may raise here to leave the write in flight (uncertain)."""

    def send(self, kind, details, method, path, body=None, headers=None):
        with self.ledger.lock:
            self.ledger.pending[self.n] = (kind, details)
        status, hdrs, doc = self.client.json(method, path, body,
                                             headers or bearer(self.token))
        self.on_answer(status, hdrs)
        if status != 200:
            with self.ledger.lock:
                self.ledger.unexpected.append(f"{kind} answered {status}: {doc}")
                self.ledger.pending.pop(self.n, None)
            return None
        return doc

    def step(self):
        self.seq += 1
        seq, rng = self.seq, self.rng
        bots = self.mine()
        choice = rng.random()
        if not bots or (choice < 0.2 and len(bots) < 6):
            name = f"c{self.n}-{seq}-{rng.randrange(10**6)}"
            settings = {"owner": self.n, "seq": seq, "nested": {"v": [seq, str(seq)]}}
            body = {"name": name, "settings": settings}
            idem = f"create-{self.tag}-{seq}" if rng.random() < 0.4 else None
            headers = dict(bearer(self.token), **({"Idempotency-Key": idem} if idem else {}))
            doc = self.send("create", {"name": name, "settings": settings, "idem": idem},
                            "POST", "/api/v1/chatbots", body, headers)
            if doc:
                harness.remember_secret(doc["apiKey"])
                bot = Bot(doc["chatbot"]["id"], self.n, name, settings, doc["apiKey"])
                with self.ledger.lock:
                    self.ledger.bots[bot.id] = bot
                    if idem:
                        self.ledger.idem_creates.append((idem, body, doc))
                    self.ledger.pending.pop(self.n, None)
                    self.ledger.ack("create")
            return
        bot = rng.choice(bots)
        if choice < 0.5:
            name = f"p{self.n}-{seq}"
            patch = {f"m{seq}": seq, "seq": seq}
            if rng.random() < 0.3 and bot.settings.get("nested") is not None:
                patch["nested"] = None
            doc = self.send("patch", {"id": bot.id, "name": name, "patch": patch},
                            "PATCH", f"/api/v1/chatbots/{bot.id}",
                            {"name": name, "settings": patch})
            if doc:
                with self.ledger.lock:
                    bot.name, bot.settings = name, merge_patch(bot.settings, patch)
                    bot.updates += 1
                    self.ledger.pending.pop(self.n, None)
                    self.ledger.ack("patch")
        elif choice < 0.65:
            idem = f"rotate-{self.tag}-{seq}" if rng.random() < 0.4 else None
            headers = dict(bearer(self.token), **({"Idempotency-Key": idem} if idem else {}))
            doc = self.send("rotate", {"id": bot.id, "old": bot.key, "idem": idem},
                            "POST", f"/api/v1/chatbots/{bot.id}/rotate-key", headers=headers)
            if doc:
                harness.remember_secret(doc["apiKey"])
                with self.ledger.lock:
                    if bot.key:
                        bot.dead_keys.append(bot.key)
                    bot.key = doc["apiKey"]
                    bot.digest = sha256(bot.key)
                    bot.rotations += 1
                    self.ledger.pending.pop(self.n, None)
                    self.ledger.ack("rotate")
        elif choice < 0.95:
            if not bot.key:
                return  # its key was rotated by an in-flight request we never saw answered
            conv = f"conv-{rng.randrange(3)}"
            ids = [f"m{self.tag}-{seq}-{i}" for i in range(rng.randrange(1, 5))]
            body = {"conversationId": conv,
                    "messages": [{"role": "user", "content": f"message {i} " * 20, "id": i}
                                 for i in ids]}
            doc = self.send("capture", {"id": bot.id, "conv": conv, "ids": ids},
                            "POST", "/api/v1/capture", body, bearer(bot.key))
            if doc:
                with self.ledger.lock:
                    bot.conversations.setdefault(conv, set()).update(ids)
                    self.ledger.pending.pop(self.n, None)
                    self.ledger.ack("capture")
        else:
            doc = self.send("delete", {"id": bot.id}, "DELETE", f"/api/v1/chatbots/{bot.id}")
            if doc:
                with self.ledger.lock:
                    bot.deleted = True
                    self.ledger.pending.pop(self.n, None)
                    self.ledger.ack("delete")


def db_state(db):
    """Reads the file through a read-only connection (the restarted server has recovered
    the WAL by then)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        digests = {bytes(r[1]): r[0] for r in con.execute("SELECT id, key_digest FROM chatbots")}
        prefixes = dict(con.execute("SELECT id, key_prefix FROM chatbots"))
        messages = {}
        for bot_id, conv, mid in con.execute(
                "SELECT c.chatbot_id, c.external_id, m.external_id FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id"):
            messages.setdefault((bot_id, conv), []).append(mid)
        orphans = con.execute(
            "SELECT (SELECT count(*) FROM conversations WHERE chatbot_id NOT IN "
            "(SELECT id FROM chatbots)) + (SELECT count(*) FROM messages WHERE "
            "conversation_id NOT IN (SELECT id FROM conversations))").fetchone()[0]
        conv_counts = dict(con.execute(
            "SELECT chatbot_id, count(*) FROM conversations GROUP BY chatbot_id"))
        return dict(integrity=integrity, fk=fk, digests=digests, prefixes=prefixes,
                    messages=messages, orphans=orphans, conv_counts=conv_counts)
    finally:
        con.close()


def retry_inflight(c, db, token, ledger, problems):
    """Retries every write with an Idempotency-Key that was in flight at the fault, with the
    same key and body (API.md section 14): the first attempt's answer again (with
    Idempotent-Replayed) if it committed, a fresh run if it did not -- never both, never
    twice. Which one it was must agree with the state read before the retry."""
    pending = [(client, kind, d) for client, (kind, d) in list(ledger.pending.items())
               if d.get("idem")]
    if not pending:
        return
    status, _, listed = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
    check(status == 200, f"list before the retries answered {status}")
    current = {i: dg for dg, i in db_state(db)["digests"].items()}
    for client, kind, d in pending:
        headers = dict(bearer(token), **{"Idempotency-Key": d["idem"]})
        if kind == "create":
            body = {"name": d["name"], "settings": d["settings"]}
            before = [b for b in listed if b["name"] == d["name"]]
            status, hdrs, doc = c.json("POST", "/api/v1/chatbots", body, headers)
        elif kind == "rotate":
            bot = ledger.bots[d["id"]]
            before = bot.digest is not None and current.get(bot.id) != bot.digest
            status, hdrs, doc = c.json("POST", f"/api/v1/chatbots/{bot.id}/rotate-key",
                                       headers=headers)
        else:
            continue
        if status != 200:
            problems.append(f"retried in-flight {kind} with its Idempotency-Key answered "
                            f"{status}: {doc}")
            continue  # stays in flight: resolved from the state below
        harness.remember_secret(doc["apiKey"])
        replayed = hdrs.get("idempotent-replayed") == "true"
        if replayed != bool(before):
            problems.append(f"retried in-flight {kind}: replayed={replayed}, but the first "
                            f"attempt {'had' if before else 'had not'} committed")
        ledger.pending.pop(client, None)
        ledger.count(f"{kind}: {'committed, replayed' if replayed else 'lost, ran again'}")
        if replayed:
            ledger.inflight_applied += 1
        else:
            ledger.inflight_dropped += 1
            ledger.ack(kind)
        if kind == "create":
            if replayed and before and doc["chatbot"]["id"] != before[0]["id"]:
                problems.append("a replayed create answered another chatbot than the one "
                                "its first attempt created")
            bot = Bot(doc["chatbot"]["id"], client, d["name"], d["settings"], doc["apiKey"])
            ledger.bots[bot.id] = bot
            ledger.idem_creates.append((d["idem"], body, doc))
        else:
            if bot.key:
                bot.dead_keys.append(bot.key)
            bot.key = doc["apiKey"]
            bot.digest = sha256(bot.key)
            bot.rotations += 1


def replay_acknowledged(c, token, ledger, problems):
    """A few acknowledged creates with an Idempotency-Key, replayed after the restart: the
    same answer (chatbot and key) with Idempotent-Replayed, nothing created (the audit check
    that follows counts the events); the same key with another body: 422."""
    if not ledger.idem_creates:
        return
    picks = ledger.rng.sample(ledger.idem_creates, min(3, len(ledger.idem_creates)))
    for idem, body, first in picks:
        headers = dict(bearer(token), **{"Idempotency-Key": idem})
        status, hdrs, doc = c.json("POST", "/api/v1/chatbots", body, headers)
        ledger.replays += 1
        if status != 200 or hdrs.get("idempotent-replayed") != "true" or doc != first:
            problems.append(f"replay of an acknowledged create: {status}, replayed="
                            f"{hdrs.get('idempotent-replayed')}, same answer: {doc == first}")
    idem, body, _ = picks[0]
    other = dict(body, name=body["name"] + "-other")
    status, _, doc = c.json("POST", "/api/v1/chatbots", other,
                            dict(bearer(token), **{"Idempotency-Key": idem}))
    code = (doc or {}).get("error", {}).get("code") if isinstance(doc, dict) else None
    if status != 422 or code != "idempotency_key_reused":
        problems.append(f"same Idempotency-Key, another body answered {status} {code}")


CHATBOT_ACTIONS = ("chatbot.created", "chatbot.updated", "chatbot.key_rotated",
                   "chatbot.deleted", "chatbot.previous_key_revoked")
TOKEN_RE = re.compile(rb"ob_live_[0-9a-f]{32}|ob_sess_[0-9a-f]{64}|ob_inv_[0-9a-f]{64}")


def audit_check(port, token, ledger, st, problems):
    """Changes and audit events one to one (API.md section 13), over GET /api/v1/audit-events:
    every change that happened (acknowledged, or in flight and found applied) has exactly one
    event of its action and target (an unacknowledged rotation counts when its key was found
    applied); every chatbot event names a chatbot of the ledger. (Events carry no key
    prefixes: `changes` is {} for a creation, and a rotation's holds only the grace, API.md
    section 18.)"""
    events = harness.audit_events(port, token, test=TEST)
    ledger.events_checked = len(events)
    if TOKEN_RE.search(json.dumps(events).encode()):
        problems.append("a key or token in an audit event")
    by = {}
    for e in events:
        if e["action"] not in CHATBOT_ACTIONS:
            continue
        tid = e["target"]["id"]
        if tid not in ledger.bots:
            ledger.audit.append(f"{e['action']} event for chatbot {tid}, a change that "
                                "never happened")
            continue
        by.setdefault(tid, {}).setdefault(e["action"], []).append(e)
    for bot_id, bot in ledger.bots.items():
        evs = by.get(bot_id, {})
        expected = {"chatbot.created": 1, "chatbot.updated": bot.updates,
                    "chatbot.key_rotated": bot.rotations,
                    "chatbot.deleted": 1 if bot.deleted else 0,
                    "chatbot.previous_key_revoked": 0}
        for action, n in expected.items():
            got = len(evs.get(action, []))
            if got != n:
                ledger.audit.append(f"chatbot {bot_id}: {got} {action} events for {n} changes")


def verify(server, db, token, ledger, problems, lost):
    """Checks the restarted server and file against the ledger; resolves the writes that
    were in flight at the kill (applied whole, or not at all); then the audit events against
    the changes."""
    c = harness.Client(server.port, test=TEST)
    retry_inflight(c, db, token, ledger, problems)
    replay_acknowledged(c, token, ledger, problems)
    status, _, listed = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
    check(status == 200, f"list after restart answered {status}")
    seen = {b["id"]: b for b in listed}
    st = db_state(db)
    if st["integrity"] != ["ok"]:
        problems.append(f"integrity_check: {st['integrity'][:5]}")
    if st["fk"]:
        problems.append(f"foreign_key_check: {st['fk'][:5]}")
    if st["orphans"]:
        problems.append(f"{st['orphans']} orphan rows")

    # The writes in flight at the kill: applied whole or not at all.
    for client, (kind, d) in list(ledger.pending.items()):
        if kind == "create":
            match = [b for b in listed if b["name"] == d["name"]]
            if match:
                b = match[0]
                if b["settings"] != d["settings"]:
                    problems.append("in-flight create applied without its settings")
                bot = Bot(b["id"], client, d["name"], d["settings"], None)
                ledger.bots[bot.id] = bot
                ledger.adopted += 1
                ledger.inflight_applied += 1
            else:
                ledger.inflight_dropped += 1
        elif kind == "patch":
            bot, b = ledger.bots[d["id"]], seen.get(d["id"])
            if b is None:
                problems.append("chatbot vanished during an in-flight patch")
                continue
            after = (d["name"], merge_patch(bot.settings, d["patch"]))
            if (b["name"], b["settings"]) == after:
                bot.name, bot.settings = after
                bot.updates += 1
                ledger.inflight_applied += 1
            elif (b["name"], b["settings"]) == (bot.name, bot.settings):
                ledger.inflight_dropped += 1
            else:
                problems.append(f"in-flight patch half applied: {b['name']!r} vs {after[0]!r}")
        elif kind == "rotate":
            bot = ledger.bots[d["id"]]
            # The digest the chatbot had when the rotation was sent (its key may be unknown
            # after an earlier unanswered rotation; the digest was read at the last check).
            if bot.digest is not None and st["digests"].get(bot.digest) == bot.id:
                ledger.inflight_dropped += 1
            else:
                if bot.key:
                    bot.dead_keys.append(bot.key)
                bot.key = None  # rotated to a key nobody saw: the bot takes no captures
                bot.rotations += 1
                ledger.inflight_applied += 1
        elif kind == "capture":
            bot = ledger.bots[d["id"]]
            stored = set(st["messages"].get((bot.id, d["conv"]), []))
            hit = [i for i in d["ids"] if i in stored]
            if hit and len(hit) != len(d["ids"]):
                problems.append(f"in-flight capture half stored ({len(hit)}/{len(d['ids'])})")
            if len(hit) == len(d["ids"]):
                bot.conversations.setdefault(d["conv"], set()).update(d["ids"])
                ledger.inflight_applied += 1
            else:
                ledger.inflight_dropped += 1
        elif kind == "delete":
            bot = ledger.bots[d["id"]]
            if d["id"] not in seen:
                bot.deleted = True
                ledger.inflight_applied += 1
            else:
                ledger.inflight_dropped += 1
    ledger.pending.clear()

    # Every acknowledged write is there; nothing else is.
    live = {i: b for i, b in ledger.bots.items() if not b.deleted}
    for bot_id, bot in live.items():
        b = seen.get(bot_id)
        if b is None:
            lost.append(f"acknowledged chatbot {bot_id} missing")
            continue
        if b["name"] != bot.name or b["settings"] != bot.settings:
            lost.append(f"chatbot {bot_id}: acknowledged name/settings not stored")
        if bot.key:
            if st["digests"].get(sha256(bot.key)) != bot_id:
                lost.append(f"chatbot {bot_id}: acknowledged key not current")
            if st["prefixes"].get(bot_id) != bot.key[:14]:
                problems.append(f"chatbot {bot_id}: key prefix does not match its key")
        for conv, ids in bot.conversations.items():
            stored = st["messages"].get((bot_id, conv), [])
            missing = ids - set(stored)
            if missing:
                lost.append(f"chatbot {bot_id}: {len(missing)} acknowledged messages missing")
            if len(stored) != len(set(stored)) or set(stored) - ids:
                problems.append(f"chatbot {bot_id}: unexpected or duplicate messages")
        for dead in bot.dead_keys:
            if sha256(dead) in st["digests"]:
                problems.append(f"chatbot {bot_id}: a rotated-away key is current again")
    for bot_id, bot in ledger.bots.items():
        if bot.deleted and (bot_id in seen or st["conv_counts"].get(bot_id)):
            lost.append(f"acknowledged delete of {bot_id} not durable")
    phantoms = set(seen) - set(live)
    if phantoms:
        problems.append(f"{len(phantoms)} chatbots nobody created (or deleted ones back)")
    names = [b["name"] for b in listed]
    if len(names) != len(set(names)):
        problems.append("two chatbots with one name: a create ran twice")

    audit_check(server.port, token, ledger, st, problems)
    # The digests as they are now: an in-flight rotation at the next fault is resolved
    # against them (the key itself may be unknown).
    current = {i: dg for dg, i in st["digests"].items()}
    for bot_id, bot in live.items():
        if bot_id in current:
            bot.digest = current[bot_id]

    # Over HTTP too: current keys authenticate (an empty capture body is then a 400, not
    # 401), rotated-away keys do not (401, or 429 once the failure limit is reached).
    dead_checked = 0
    sample = []
    for bot in live.values():
        if bot.key:
            status, _, _ = c.request("POST", "/api/v1/capture", raw=b"{}",
                                     headers=bearer(bot.key))
            if status != 400:
                lost.append(f"current key answered {status} instead of 400")
        sample.extend(bot.dead_keys[-2:])
    for dead in sample[:25]:
        status, _, _ = c.request("POST", "/api/v1/capture", raw=b"{}", headers=bearer(dead))
        dead_checked += 1
        if status not in (401, 429):
            problems.append(f"rotated-away key answered {status}")
    c.close()
    return dead_checked


def tamper_target(ledger):
    """(chatbot, conversation, message id): an acknowledged message of a chatbot that no
    write in flight touches, for tamper() to delete (and the chatbot to rename)."""
    busy = {d["id"] for _, d in ledger.pending.values() if "id" in d}
    candidates = [b for b in ledger.bots.values()
                  if not b.deleted and b.id not in busy and b.conversations]
    check(candidates, "self-check: no chatbot with acknowledged messages to tamper with")
    bot = candidates[0]
    conv, ids = next((c, i) for c, i in bot.conversations.items() if i)
    return bot, conv, sorted(ids)[0]


def tamper(db, ledger):
    """Undoes two acknowledged writes behind the server's back (for --self-check)."""
    bot, conv, mid = tamper_target(ledger)
    con = sqlite3.connect(db)
    try:
        con.execute("DELETE FROM messages WHERE external_id = ? AND conversation_id = "
                    "(SELECT id FROM conversations WHERE chatbot_id = ? AND external_id = ?)",
                    (mid, bot.id, conv))
        con.execute("UPDATE chatbots SET name = 'tampered' WHERE id = ?", (bot.id,))
        con.commit()
    finally:
        con.close()
    return bot.id


def drop_event_target(ledger):
    """(chatbot id, action): an acknowledged change of a chatbot no write in flight touches,
    whose event drop_event() deletes -- a rotation if there is one, else a patch, else the
    create."""
    busy = {d["id"] for _, d in ledger.pending.values() if "id" in d}
    candidates = [b for b in ledger.bots.values() if not b.deleted and b.id not in busy]
    check(candidates, "inject-missing-event: no chatbot to take an event from")
    bot = max(candidates, key=lambda b: (b.rotations > 0, b.updates > 0))
    action = ("chatbot.key_rotated" if bot.rotations else
              "chatbot.updated" if bot.updates else "chatbot.created")
    return bot.id, action


# The newest event of one action for one target (the statement is the same on both stores).
DROP_EVENT_SQL = ("DELETE FROM audit_events WHERE id = (SELECT id FROM audit_events WHERE "
                  "target_id = {target} AND action = {action} ORDER BY created_at DESC, id DESC "
                  "LIMIT 1)")


def drop_event(db, ledger):
    """Deletes the event of one acknowledged change behind the server's back (for
    --inject-missing-event): the change stays, its event is gone."""
    bot_id, action = drop_event_target(ledger)
    con = sqlite3.connect(db)
    try:
        n = con.execute(DROP_EVENT_SQL.format(target="?", action="?"), (bot_id, action)).rowcount
        con.commit()
    finally:
        con.close()
    check(n == 1, f"inject-missing-event: no {action} event of {bot_id} to delete")
    return bot_id, action


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--kill-points", type=int,
                    default=int(os.environ.get("CHATBOTMGR_KILL_POINTS", "24")))
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--inject-missing-event", action="store_true",
                    help="delete one acknowledged change's audit event from the file after "
                         "the first kill; pass only if the verifier reports exactly that")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHATBOTMGR_SEED",
                                                                   str(int(time.time())))))
    args = ap.parse_args()
    global TEST
    if args.self_check:
        TEST = "crashcheck"
    if args.inject_missing_event:
        TEST = "crashaudit"
    harness.reset_logs(TEST)
    rng = random.Random(args.seed)
    print(f"crash: seed {args.seed}, {args.kill_points} kill points, {args.clients} clients")

    problems, lost = [], []
    ledger = Ledger()
    dead_checked = 0
    tampered = None
    with harness.ScratchDir("chatbotmgr-crash-") as scratch:
        db = scratch.file("crash.db")
        password = f"crash-pw-{rng.randrange(10**12)}"
        harness.add_user(args.server, db, "crash@example.com", "Crash Org", password)
        server = harness.Server(args.server, db, TEST, ["--threads", "2"])
        server.start()
        token = harness.login(server.port, "crash@example.com", password, test=TEST)
        survived = 0
        for point in range(args.kill_points):
            if point > 0:
                server.start()
                dead_checked += verify(server, db, token, ledger, problems, lost)
            stop = threading.Event()
            workers = [Worker(i, server.port, token, ledger, random.Random(rng.random()), stop)
                       for i in range(args.clients)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.15, 1.0))
            server.kill()  # SIGKILL: no chance to finish anything
            stop.set()
            for w in workers:
                w.join(timeout=60)
                check(not w.is_alive(), "a client did not notice the dead server")
            survived += 1
            if args.self_check and point == 0:
                tampered = tamper(db, ledger)
            if args.inject_missing_event and point == 0:
                tampered = drop_event(db, ledger)
        server.start()
        dead_checked += verify(server, db, token, ledger, problems, lost)
        code = server.stop()
        if code != 0:
            problems.append(f"server exit code {code} on SIGTERM")
        st = db_state(db)
        if st["integrity"] != ["ok"]:
            problems.append("integrity_check after the clean stop failed")
        # Secrets at rest: no key or token in plain text anywhere in the files.
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                with open(db + suffix, "rb") as f:
                    if harness.SECRET_RE.search(f.read()):
                        problems.append(f"a key or token in plain text in crash.db{suffix}")

    problems += ledger.unexpected
    if args.inject_missing_event:
        return missing_event_verdict("crash", ledger, lost, problems, tampered)
    problems += ledger.audit
    if args.self_check:
        return self_check_verdict("crash", lost, problems, tampered)
    print(f"crash: kill points survived: {survived}")
    return verdict("crash", ledger, args.kill_points, dead_checked, lost, problems)


def missing_event_verdict(test, ledger, lost, problems, dropped):
    """The exit code of an --inject-missing-event run: the audit check reported the change
    whose event was deleted (and nothing about any other chatbot), nothing else failed."""
    bot_id, action = dropped
    found = any(bot_id in x and action in x for x in ledger.audit)
    print(f"{test}: inject-missing-event: the deleted {action} event of {bot_id} "
          f"{'detected' if found else 'MISSED'} ({len(ledger.audit)} audit findings, "
          f"{ledger.events_checked} events checked)")
    for p in (ledger.audit + lost + problems)[:10]:
        print(f"{test}: reported: {p}")
    return 0 if found and all(bot_id in x for x in ledger.audit) and not lost \
        and not problems else 1


def self_check_verdict(test, lost, problems, tampered):
    """The exit code of a --self-check run: the two injected losses of tamper() reported,
    and nothing but the tampered chatbot."""
    found = (any("messages missing" in x for x in lost) and
             any("name/settings not stored" in x for x in lost))
    print(f"{test}: self-check: injected losses {'detected' if found else 'MISSED'} "
          f"({len(lost)} reported)")
    return 0 if found and all(tampered in x for x in lost) and not problems else 1


def verdict(test, ledger, points, dead_checked, lost, problems, extra=()):
    """Prints the figures (and extra lines) and returns the exit code."""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(ledger.acked_by_kind.items()))
    print(f"{test}: acknowledged writes: {ledger.acked} ({kinds})")
    print(f"{test}: in-flight at a fault: {ledger.inflight_applied} applied whole, "
          f"{ledger.inflight_dropped} not applied")
    print(f"{test}: audit events checked against the changes (last check): "
          f"{ledger.events_checked}; acknowledged idempotent creates replayed: "
          f"{ledger.replays}")
    retries = ", ".join(f"{k} {v}" for k, v in sorted(ledger.retries.items())) or "none"
    print(f"{test}: in-flight writes retried with their Idempotency-Key: {retries}")
    for line in extra:
        print(f"{test}: {line}")
    print(f"{test}: rotated-away keys checked over HTTP: {dead_checked}")
    print(f"{test}: {len(lost)} acknowledged writes lost")
    for p in (lost + problems)[:20]:
        print(f"{test}: PROBLEM: {p}")
    if lost or problems:
        return 1
    if ledger.acked < points:
        print(f"{test}: too few acknowledged writes to mean anything")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"crash: FAILED: {e}")
        sys.exit(1)
