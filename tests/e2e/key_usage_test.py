"""End-to-end, on the SQLite default: when each key was last used (API.md section 12) is
written in batches, and a clean stop (SIGTERM) writes what is left -- after a restart,
GET /api/v1/chatbots/{id}/key shows the second of the latest capture with each key, never
later than the truth. Every HTTP answer is checked against docs/openapi.yaml."""

import argparse
import calendar
import json
import os
import tempfile
import time

from common import Server, check, http, use_openapi


def parse_utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def login(base, email, password):
    status, _, body = http("POST", base + "/api/v1/auth/login",
                           {"email": email, "password": password})
    check(status == 200, "login: %d %s" % (status, body))
    return {"Authorization": "Bearer " + body["token"]}


def capture(base, key, tag):
    status, _, body = http("POST", base + "/api/v1/capture",
                           {"conversationId": "c-" + tag,
                            "messages": [{"role": "user", "content": "hi " + tag}]},
                           {"Authorization": "Bearer " + key})
    check(status == 200, "capture %s: %d %s" % (tag, status, body))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--openapi", required=True)
    args = ap.parse_args()
    use_openapi(args.openapi)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "usage.db")
        first = Server(args.server, db)
        base = first.wait_listening()
        email, password = first.credentials()
        auth = login(base, email, password)
        status, _, created = http("POST", base + "/api/v1/chatbots", {"name": "Used"}, auth)
        check(status == 200, "create: %d %s" % (status, created))
        bot, old_key = created["chatbot"]["id"], created["apiKey"]
        key_path = base + "/api/v1/chatbots/%s/key" % bot

        status, _, info = http("GET", key_path, headers=auth)
        check(status == 200 and info["last_used_at"] is None and info["previous"] is None,
              "a new key: %s" % info)
        capture(base, old_key, "old")
        status, _, rotated = http("POST", base + "/api/v1/chatbots/%s/rotate-key" % bot,
                                  {"grace_seconds": 3600}, auth)
        check(status == 200 and "previousKeyExpiresAt" in rotated, "rotate: %s" % rotated)
        new_key = rotated["apiKey"]
        time.sleep(1.1)
        old_from = int(time.time())
        capture(base, old_key, "old-in-grace")
        old_to = time.time()
        time.sleep(1.1)
        new_from = int(time.time())
        capture(base, new_key, "new")
        new_to = time.time()
        # Within the flush interval (60 s) nothing needs to be written yet; a clean stop
        # writes it.
        check(first.stop() == 0, "exit code after SIGTERM:\n" + first.stderr())

        second = Server(args.server, db)
        try:
            base = second.wait_listening()
            auth = login(base, email, password)
            status, _, info = http("GET", base + "/api/v1/chatbots/%s/key" % bot, headers=auth)
            check(status == 200, "key after restart: %d %s" % (status, info))
            check(info["last_used_at"] is not None and
                  new_from <= parse_utc(info["last_used_at"]) <= new_to,
                  "current key's last use %s, capture at %d..%.1f" %
                  (info["last_used_at"], new_from, new_to))
            previous = info["previous"]
            check(previous is not None and previous["last_used_at"] is not None and
                  old_from <= parse_utc(previous["last_used_at"]) <= old_to,
                  "previous key's last use %s, capture at %d..%.1f" %
                  (json.dumps(previous), old_from, old_to))
        finally:
            check(second.stop() == 0, "second server's exit code:\n" + second.stderr())
    print("key usage: last_used_at survives a clean stop, each key its own")


if __name__ == "__main__":
    main()
