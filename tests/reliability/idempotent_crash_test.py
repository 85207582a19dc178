#!/usr/bin/env python3
"""Idempotent retries across SIGKILL (issue 14; API.md section 14; ctest label "crash").

Several clients create chatbots, each create with an Idempotency-Key of its own; the server
is killed with SIGKILL at a random moment, so each client's last create has no answer (it
may or may not have committed). After the restart every unanswered create is retried with
the same key and the same body, and the test checks:

  * the retry answers 200: the first attempt's answer again, with Idempotent-Replayed:
    true, when the first attempt had committed (its chatbot was in the list before the
    retry) -- the same chatbot; a fresh create, without that header, when it had not;
  * in every case exactly one chatbot exists for that key (by its unique name), and it has
    exactly one chatbot.created audit event;
  * an acknowledged create replayed after the restart answers the same chatbot and key,
    with Idempotent-Replayed: true, and creates nothing;
  * at the end, every key has exactly one chatbot and there is no other chatbot, and the
    chatbot.created events are exactly one per chatbot.

Usage: idempotent_crash_test.py --server PATH [--rounds N] [--clients N] [--seed S]
Prints how many unanswered creates had committed (replayed) and how many had not (ran again).
"""

import argparse
import http.client
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "idemcrash"
CONN_ERRORS = (OSError, http.client.HTTPException)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # Idempotency-Key -> (body, answer)
        self.inflight = {}   # client -> (Idempotency-Key, body), unanswered at the kill
        self.unexpected = []


def client_loop(n, round_, port, token, state, stop, rng):
    c = harness.Client(port, timeout=30, test=TEST)
    seq = 0
    try:
        while not stop.is_set():
            seq += 1
            key = f"idem-{round_}-{n}-{seq}-{rng.randrange(10**9)}"
            body = {"name": f"i{round_}-{n}-{seq}-{rng.randrange(10**6)}",
                    "settings": {"client": n, "seq": seq}}
            with state.lock:
                state.inflight[n] = (key, body)
            status, _, doc = c.json("POST", "/api/v1/chatbots", body,
                                    dict(bearer(token), **{"Idempotency-Key": key}))
            with state.lock:
                del state.inflight[n]
                if status != 200:
                    state.unexpected.append(f"create answered {status}: {doc}")
                    return
                harness.remember_secret(doc["apiKey"])
                state.acked[key] = (body, doc)
    except CONN_ERRORS:
        pass  # killed: the create in flight stays in state.inflight
    finally:
        c.close()


def by_name(port, token):
    c = harness.Client(port, test=TEST)
    status, _, listed = c.json("GET", "/api/v1/chatbots", headers=bearer(token))
    c.close()
    check(status == 200, f"list answered {status}")
    names = {}
    for b in listed:
        names.setdefault(b["name"], []).append(b["id"])
    return names


def created_events(port, token):
    counts = {}
    for e in harness.audit_events(port, token, "action=chatbot.created&limit=200", test=TEST):
        counts[e["target"]["id"]] = counts.get(e["target"]["id"], 0) + 1
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHATBOTMGR_SEED",
                                                                   str(int(time.time())))))
    args = ap.parse_args()
    harness.reset_logs(TEST)
    rng = random.Random(args.seed)
    print(f"{TEST}: seed {args.seed}, {args.rounds} kill points, {args.clients} clients")
    problems = []
    state = State()
    replayed_inflight = ran_again = replays = 0
    with harness.ScratchDir("chatbotmgr-idemcrash-") as scratch:
        db = scratch.file("idem.db")
        password = f"idem-pw-{rng.randrange(10**12)}"
        harness.add_user(args.server, db, "idem@example.com", "Idem Org", password)
        # Thousands of creates a second: the organization limit (10,000) must not stop them.
        server = harness.Server(args.server, db, TEST,
                                ["--threads", "2", "--max-chatbots-per-org", "1000000"])
        server.start()
        token = harness.login(server.port, "idem@example.com", password, test=TEST)
        for round_ in range(args.rounds):
            stop = threading.Event()
            threads = [threading.Thread(target=client_loop, daemon=True,
                                        args=(n, round_, server.port, token, state, stop,
                                              random.Random(rng.random())))
                       for n in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.1, 0.6))
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=60)
                check(not t.is_alive(), "a client did not notice the dead server")
            server.start()
            names = by_name(server.port, token)
            c = harness.Client(server.port, test=TEST)
            for n, (key, body) in sorted(state.inflight.items()):
                before = names.get(body["name"], [])
                if len(before) > 1:
                    problems.append(f"{len(before)} chatbots for one unanswered create")
                status, hdrs, doc = c.json("POST", "/api/v1/chatbots", body,
                                           dict(bearer(token), **{"Idempotency-Key": key}))
                if status != 200:
                    problems.append(f"retry after the kill answered {status}: {doc}")
                    continue
                harness.remember_secret(doc["apiKey"])
                replayed = hdrs.get("idempotent-replayed") == "true"
                if before:
                    replayed_inflight += 1
                    if not replayed or doc["chatbot"]["id"] != before[0]:
                        problems.append("the first attempt had committed, but the retry "
                                        f"answered replayed={replayed}, same chatbot: "
                                        f"{doc['chatbot']['id'] == before[0]}")
                else:
                    ran_again += 1
                    if replayed:
                        problems.append("the first attempt had not committed, but the retry "
                                        "answered Idempotent-Replayed")
                state.acked[key] = (body, doc)
            state.inflight.clear()
            # Acknowledged creates (of any round) replayed after the restart.
            keys = sorted(state.acked)
            for key in rng.sample(keys, min(3, len(keys))):
                body, first = state.acked[key]
                status, hdrs, doc = c.json("POST", "/api/v1/chatbots", body,
                                           dict(bearer(token), **{"Idempotency-Key": key}))
                replays += 1
                if status != 200 or hdrs.get("idempotent-replayed") != "true" or doc != first:
                    problems.append(f"replay of an acknowledged create: {status}, replayed="
                                    f"{hdrs.get('idempotent-replayed')}, same answer "
                                    f"{doc == first}")
            c.close()
            # Exactly one chatbot per key, nothing else; one chatbot.created event each.
            names = by_name(server.port, token)
            for key, (body, doc) in state.acked.items():
                ids = names.get(body["name"], [])
                if ids != [doc["chatbot"]["id"]]:
                    problems.append(f"key {key}: chatbots {ids}, answered "
                                    f"{doc['chatbot']['id']}")
            if sum(len(v) for v in names.values()) != len(state.acked):
                problems.append(f"{sum(len(v) for v in names.values())} chatbots for "
                                f"{len(state.acked)} Idempotency-Keys")
            events = created_events(server.port, token)
            ids = {doc["chatbot"]["id"] for _, doc in state.acked.values()}
            if set(events) != ids or any(v != 1 for v in events.values()):
                problems.append(f"chatbot.created events: {len(events)} targets, "
                                f"{sum(events.values())} events, for {len(ids)} chatbots")
            if problems:
                break
        code = server.stop()
        if code != 0:
            problems.append(f"server exit code {code} on SIGTERM")
    problems += state.unexpected
    print(f"{TEST}: {len(state.acked)} Idempotency-Keys, each with exactly one chatbot")
    print(f"{TEST}: unanswered creates retried after SIGKILL: {replayed_inflight} had "
          f"committed (replayed), {ran_again} had not (ran again)")
    print(f"{TEST}: acknowledged creates replayed after a restart: {replays}")
    for p in problems[:20]:
        print(f"{TEST}: PROBLEM: {p}")
    if problems:
        return 1
    if replayed_inflight + ran_again < args.rounds:
        print(f"{TEST}: too few unanswered creates to mean anything")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"{TEST}: FAILED: {e}")
        sys.exit(1)
