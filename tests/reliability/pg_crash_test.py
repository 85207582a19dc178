#!/usr/bin/env python3
"""Crash consistency on PostgreSQL (issue 15, item 5; ctest labels "postgres" and "crash").

The ledger, clients and verifier of crash_consistency_test.py (creates, patches,
rotations, captures, deletes; every acknowledged write must be there, the write in flight
at a fault whole or not at all), with two chatbotmgr-server instances on one PostgreSQL
database and two kinds of fault:

  --fault sigkill      both instances are killed with SIGKILL at a random moment under
                       load, then restarted (on a fresh database of the cluster named by
                       CHATBOTMGR_TEST_PG / --conninfo);
  --fault pg-restart   PostgreSQL itself is restarted with `pg_ctl restart -m immediate`
                       (a crash: no checkpoint, recovery from the WAL) under load. This
                       needs a cluster of its own, which the test starts with
                       scripts/pg-test-cluster.sh and removes afterwards. The servers are NOT
                       restarted: during the outage they must answer 503 with Retry-After
                       (never another error), and afterwards /readyz must come back to 200
                       and every acknowledged write must be there. A write answered 503 may
                       or may not have committed (the commit can be lost in flight): it is
                       resolved like a write in flight at a kill, whole or not at all.

Prints the fault points, the acknowledged writes checked and the writes lost. With
--self-check, an acknowledged message is deleted and an acknowledged rename undone behind
the servers' backs after the first fault, and the test passes only if the verifier reports
exactly those losses (the negative control: the verification can fail).
Usage: pg_crash_test.py --server PATH --psql PATH --fault sigkill|pg-restart
                        [--conninfo C] [--points N] [--seed S] [--self-check]
"""

import argparse
import http.client
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "postgres"))
import crash_consistency_test as crash  # noqa: E402
import harness  # noqa: E402
from harness import Fail, check  # noqa: E402
import multi_instance_test as pgtest  # noqa: E402  (Database, database_uri)

REPO = os.path.abspath(os.path.join(here, "..", ".."))
CLUSTER_SCRIPT = os.path.join(REPO, "scripts", "pg-test-cluster.sh")
PG_BIN = "/usr/lib/postgresql/15/bin"


class Outage(OSError):
    """A 503 from the server: the client stops for this round, its write uncertain."""


class PgWorker(crash.Worker):
    """crash.Worker, but a 503 (PostgreSQL away) leaves the write in flight: it is
    resolved by the verifier, like a write cut off by a kill."""

    outage_answers = 0
    missing_retry_after = 0
    counter_lock = threading.Lock()

    def on_answer(self, status, headers):
        if status == 503:
            with PgWorker.counter_lock:
                PgWorker.outage_answers += 1
                if not headers.get("retry-after", "").isdigit():
                    PgWorker.missing_retry_after += 1
            raise Outage("503")


def psql_rows(psql, uri, sql):
    r = subprocess.run([psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", uri, "-c", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Fail(f"psql failed on {sql!r}: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def pg_state_reader(psql):
    """crash.db_state for PostgreSQL: the same dictionary, read with psql. PostgreSQL
    checks its foreign keys itself, and has no integrity_check: they report clean, and
    orphans are counted as on SQLite."""

    def state(uri):
        digests = {bytes.fromhex(h): i for i, h in
                   psql_rows(psql, uri, "SELECT id, encode(key_digest, 'hex') FROM chatbots")}
        prefixes = dict(psql_rows(psql, uri, "SELECT id, key_prefix FROM chatbots"))
        messages = {}
        for bot_id, conv, mid in psql_rows(
                psql, uri, "SELECT c.chatbot_id, c.external_id, m.external_id FROM messages m "
                           "JOIN conversations c ON c.id = m.conversation_id"):
            messages.setdefault((bot_id, conv), []).append(mid)
        orphans = int(psql_rows(
            psql, uri, "SELECT (SELECT count(*) FROM conversations WHERE chatbot_id NOT IN "
                       "(SELECT id FROM chatbots)) + (SELECT count(*) FROM messages WHERE "
                       "conversation_id NOT IN (SELECT id FROM conversations))")[0][0])
        conv_counts = {b: int(n) for b, n in psql_rows(
            psql, uri, "SELECT chatbot_id, count(*) FROM conversations GROUP BY chatbot_id")}
        return dict(integrity=["ok"], fk=[], digests=digests, prefixes=prefixes,
                    messages=messages, orphans=orphans, conv_counts=conv_counts)
    return state


def tamper(psql, uri, ledger):
    """crash.tamper on PostgreSQL: undoes two acknowledged writes of one chatbot."""
    bot, conv, mid = crash.tamper_target(ledger)
    bot_id, mid = bot.id.replace("'", "''"), mid.replace("'", "''")
    conv = conv.replace("'", "''")
    psql_rows(psql, uri, f"DELETE FROM messages WHERE external_id = '{mid}' AND "
                         f"conversation_id = (SELECT id FROM conversations WHERE "
                         f"chatbot_id = '{bot_id}' AND external_id = '{conv}')")
    psql_rows(psql, uri, f"UPDATE chatbots SET name = 'tampered' WHERE id = '{bot_id}'")
    return bot.id


def drop_event(psql, uri, ledger):
    """crash.drop_event on PostgreSQL: deletes one acknowledged change's audit event."""
    bot_id, action = crash.drop_event_target(ledger)
    psql_rows(psql, uri, crash.DROP_EVENT_SQL.format(target=f"'{bot_id}'",
                                                     action=f"'{action}'"))
    return bot_id, action


def add_user(binary, uri, email, org, password):
    harness.remember_secret(password)
    r = subprocess.run([binary, "user", "add", "--storage", uri, "--email", email, "--org", org],
                       input=(password + "\n").encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, f"user add failed ({r.returncode}): {r.stderr.decode()[-500:]}")


def ready(port, timeout):
    """Polls /readyz until 200; returns the seconds it took, or None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            status = c.getresponse().status
            c.close()
            if status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.1)
    return None


class OwnCluster:
    """A throwaway cluster for the pg-restart fault (never the shared test cluster)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chatbotmgr-pgcrash-")
        r = subprocess.run([CLUSTER_SCRIPT, "start", self.dir], capture_output=True, text=True,
                           timeout=300)
        check(r.returncode == 0, f"pg-test-cluster.sh start failed: {r.stderr[-1000:]}")
        self.conninfo = open(os.path.join(self.dir, "conninfo")).read().strip()

    def restart_immediate(self):
        cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
               "-m", "immediate", "-w", "-t", "120", "restart",
               "-l", os.path.join(self.dir, "server.log")]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        # pg_ctl restart reuses the options the server was started with (postmaster.opts).
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        check(r.returncode == 0, f"pg_ctl restart -m immediate failed: {r.stderr[-1000:]}")

    def stop(self):
        subprocess.run([CLUSTER_SCRIPT, "stop", self.dir], capture_output=True, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--psql", required=True)
    ap.add_argument("--fault", choices=("sigkill", "pg-restart"), required=True)
    ap.add_argument("--conninfo", default=os.environ.get("CHATBOTMGR_TEST_PG"))
    ap.add_argument("--points", type=int, default=8)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--inject-missing-event", action="store_true")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CHATBOTMGR_SEED",
                                                                   str(int(time.time())))))
    args = ap.parse_args()
    test = "pgcrash-" + args.fault + ("-check" if args.self_check else "") + \
        ("-audit" if args.inject_missing_event else "")
    crash.TEST = test
    crash.db_state = pg_state_reader(args.psql)
    harness.reset_logs(test)
    rng = random.Random(args.seed)
    print(f"{test}: seed {args.seed}, {args.points} fault points, {args.clients} clients, "
          "2 instances")

    cluster = OwnCluster() if args.fault == "pg-restart" else None
    maintenance = cluster.conninfo if cluster else args.conninfo
    check(maintenance, "no PostgreSQL: set CHATBOTMGR_TEST_PG or give --conninfo")
    db = pgtest.Database(args.psql, maintenance)
    problems, lost = [], []
    ledger = crash.Ledger()
    dead_checked, survived, recovery = 0, 0, []
    tampered = None
    servers = []
    try:
        password = f"pgcrash-pw-{rng.randrange(10**12)}"
        add_user(args.server, db.uri, "pgcrash@example.com", "PG Crash Org", password)
        servers = [harness.Server(args.server, None, f"{test}-{name}",
                                  ["--threads", "2", "--pg-pool", "8"],
                                  storage=["--storage", db.uri]) for name in "ab"]
        for s in servers:
            s.start(timeout=60)
        token = harness.login(servers[0].port, "pgcrash@example.com", password, test=test)
        for point in range(args.points):
            if point > 0 and args.fault == "sigkill":
                for s in servers:
                    s.start(timeout=60)
            if point > 0:
                dead_checked += crash.verify(servers[point % 2], db.uri, token, ledger,
                                             problems, lost)
            stop = threading.Event()
            workers = [PgWorker(i, servers[i % 2].port, token, ledger,
                                random.Random(rng.random()), stop)
                       for i in range(args.clients)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.3, 1.2))
            if args.fault == "sigkill":
                for s in servers:
                    s.kill()
            else:
                cluster.restart_immediate()
            stop.set()
            for w in workers:
                w.join(timeout=120)
                check(not w.is_alive(), "a client hung")
            survived += 1
            if args.self_check and point == 0:
                tampered = tamper(args.psql, db.uri, ledger)
            if args.inject_missing_event and point == 0:
                tampered = drop_event(args.psql, db.uri, ledger)
            if args.fault == "pg-restart":
                for s in servers:
                    check(s.alive(), f"{s.name} died while PostgreSQL restarted")
                    took = ready(s.port, 60)
                    check(took is not None, f"{s.name}: /readyz not 200 within 60 s of the restart")
                    recovery.append(took)
        if args.fault == "sigkill":
            for s in servers:
                s.start(timeout=60)
        dead_checked += crash.verify(servers[0], db.uri, token, ledger, problems, lost)
        for s in servers:
            code = s.stop()
            if code != 0:
                problems.append(f"{s.name}: exit code {code} on SIGTERM")
    finally:
        for s in servers:
            s.kill()
        try:
            db.drop()
        finally:
            if cluster:
                cluster.stop()

    problems += ledger.unexpected
    if args.inject_missing_event:
        return crash.missing_event_verdict(test, ledger, lost, problems, tampered)
    problems += ledger.audit
    if args.self_check:
        return crash.self_check_verdict(test, lost, problems, tampered)
    if PgWorker.missing_retry_after:
        problems.append(f"{PgWorker.missing_retry_after} answers 503 without Retry-After")
    if args.fault == "pg-restart" and PgWorker.outage_answers == 0:
        problems.append("no request saw the outage (503): the fault did not bite")
    extra = []
    if args.fault == "pg-restart":
        extra = [f"answers 503 with Retry-After during the outages: "
                 f"{PgWorker.outage_answers - PgWorker.missing_retry_after} (their writes "
                 "counted as in flight)",
                 f"servers back to /readyz 200 without a restart: {len(recovery)}"]
    print(f"{test}: fault points survived: {survived}")
    return crash.verdict(test, ledger, args.points, dead_checked, lost, problems, extra)

if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Fail, pgtest.Failure) as e:
        print(f"pgcrash: FAILED: {e}")
        sys.exit(1)
