#!/usr/bin/env python3
"""Builds a chatbotmgr SQLite database with COUNT chatbots, fast, for the flatness benchmark.

usage: make_db.py SERVER_BINARY OUT.db COUNT

The schema comes from the real store: `chatbotmgr-server user add` creates the file (and
one user, bench@example.com, in the organization "Bench Org"). Then:
  - min(COUNT, 1000) "known" chatbots in that organization, whose API keys this script
    draws itself and stores the way the store does (SHA-256 digest of the full key, the
    first 14 characters as prefix);
  - the rest in one INSERT ... WITH RECURSIVE statement run inside SQLite: random v4 UUIDs
    and random 32-byte digests (keys nobody knows), 1,000 chatbots per organization.

Writes OUT.db.keys, a tab-separated list for the benchmarks (this is a throwaway benchmark
database: the keys and the password in it protect nothing):
  count   <COUNT>
  login   <email>  <password>  <org id>
  bot     <chatbot id>  <org id>  <api key>     (one line per known chatbot)
"""
import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
import uuid

EMAIL = "bench@example.com"
SETTINGS = '{"onboarded":true,"theme":{"color":"blue"}}'
PER_ORG = 1000
MAX_KNOWN = 1000


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    server, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if count < 1:
        sys.exit("COUNT must be at least 1")
    for suffix in ("", "-wal", "-shm", ".keys"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)

    password = "bench-" + secrets.token_hex(8)
    added = subprocess.run([server, "user", "add", "--db", out, "--email", EMAIL, "--org", "Bench Org"],
                           input=password + "\n", capture_output=True, text=True, check=True)
    org_id = json.loads(added.stdout)["org_id"]

    started = time.monotonic()
    db = sqlite3.connect(out, isolation_level=None)
    # A generator, not the store: durability does not matter here, speed does.
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("BEGIN")
    now = int(time.time())
    known = []
    for i in range(min(count, MAX_KNOWN)):
        key = "ob_live_" + secrets.token_hex(16)
        known.append((str(uuid.uuid4()), org_id, f"Bench bot {i}", key[:14],
                      hashlib.sha256(key.encode()).digest(), SETTINGS, now - i, key))
    db.executemany("INSERT INTO chatbots (id, org_id, name, key_prefix, key_digest, settings, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [k[:7] for k in known])
    bulk = count - len(known)
    if bulk > 0:
        db.execute(
            """
            WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1)
            INSERT INTO chatbots (id, org_id, name, key_prefix, key_digest, settings, created_at)
            SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' ||
                   substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' ||
                   substr(h, 21, 12),
                   'bulk-org-' || (i / ?2), 'Bulk bot ' || i,
                   'ob_live_' || lower(hex(randomblob(3))), randomblob(32), ?3, ?4 - i
            FROM (SELECT i, lower(hex(randomblob(16))) AS h FROM seq)
            """, (bulk, PER_ORG, SETTINGS, now - MAX_KNOWN))
    db.execute("COMMIT")
    total = db.execute("SELECT count(*) FROM chatbots").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    if total != count:
        sys.exit(f"expected {count} chatbots, found {total}")

    with open(out + ".keys", "w") as f:
        f.write(f"count\t{count}\n")
        f.write(f"login\t{EMAIL}\t{password}\t{org_id}\n")
        for k in known:
            f.write(f"bot\t{k[0]}\t{k[1]}\t{k[7]}\n")
    size = os.path.getsize(out) / 1048576
    print(f"{out}: {count} chatbots ({len(known)} with known keys), {size:.1f} MiB, "
          f"{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
