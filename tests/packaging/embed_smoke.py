#!/usr/bin/env python3
"""Runs examples/embed (built against the installed package) and talks to it.

usage: embed_smoke.py <path to embed_host> <scratch dir>

Starts the host on a free port, sends requests through its own routes (/hello, /whoami,
/healthz) and through the chatbotmgr routes it mounts (create, list, get, patch, capture
with the API key, rotate, delete), with identities signed the way its gateway would sign
them, then stops it with SIGTERM and expects exit status 0.
"""
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import time

SECRET = "test-gateway-secret-0123456789abcdef"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def gateway_headers(user, org, lifetime=300, secret=SECRET):
    expires = str(int(time.time()) + lifetime)
    payload = "v1\n%s\n%s\n%s" % (user, org, expires)
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Gateway-User": user,
        "X-Gateway-Org": org,
        "X-Gateway-Expires": expires,
        "X-Gateway-Signature": signature,
    }


ALICE = ("alice@acme.test", "acct-1001")
BOB = ("bob@globex.test", "acct-1002")


class Client:
    """One keep-alive connection: host routes and chatbotmgr routes share it."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return res.status, parsed, res

    def close(self):
        self.conn.close()


def main():
    host_binary, scratch = sys.argv[1], sys.argv[2]
    os.makedirs(scratch, exist_ok=True)
    db = os.path.join(scratch, "embed_host.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    env = dict(os.environ, EMBED_GATEWAY_SECRET=SECRET)
    proc = subprocess.Popen([host_binary, "--port", "0", "--db", db], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on http://127.0.0.1:"):
            print("FAIL: unexpected first line from embed_host: %r" % line)
            return 1
        port = int(line.rsplit(":", 1)[1])
        run(port)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "killed after timeout"
    check(code == 0, "embed_host exits 0 on SIGTERM (got %s)" % code)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("embed_host: all checks passed")
    return 0


def run(port):
    c = Client(port)
    alice = gateway_headers(*ALICE)
    bob = gateway_headers(*BOB)

    # --- The host's own routes.
    status, body, _ = c.request("GET", "/hello")
    check(status == 200 and body.get("service") == "embed_host", "GET /hello (host route)")
    status, body, _ = c.request("GET", "/healthz")
    check(status == 200 and body == {"ok": True}, "GET /healthz answered by the host")
    status, _, _ = c.request("GET", "/whoami")
    check(status == 401, "GET /whoami without identity is 401")
    status, body, _ = c.request("GET", "/whoami", headers=alice)
    check(status == 200 and body == {"user": ALICE[0], "org": ALICE[1], "org_name": "Acme"},
          "GET /whoami with a signed identity: %r" % (body,))
    status, _, _ = c.request("GET", "/no-such-page")
    check(status == 404, "unknown host path is the host's 404")

    # --- The host's session check guards chatbotmgr's routes.
    status, body, _ = c.request("GET", "/api/v1/chatbots")
    check(status == 401 and body["error"]["code"] == "unauthorized",
          "chatbotmgr route without identity is 401")
    forged = gateway_headers(*ALICE, secret="not-the-gateway-secret-0123456789")
    status, _, _ = c.request("GET", "/api/v1/chatbots", headers=forged)
    check(status == 401, "a forged signature is 401")
    expired = gateway_headers(*ALICE, lifetime=-5)
    status, _, _ = c.request("GET", "/api/v1/chatbots", headers=expired)
    check(status == 401, "an expired assertion is 401")
    stranger = gateway_headers("eve@example.test", "acct-9999")
    status, _, _ = c.request("GET", "/api/v1/chatbots", headers=stranger)
    check(status == 401, "an organization the host does not know is 401")

    # --- chatbotmgr's routes, scoped to the host's organization ids.
    status, body, _ = c.request("POST", "/api/v1/chatbots",
                                {"name": "Support Bot", "settings": {"theme": {"color": "red"}}},
                                headers=alice)
    check(status == 200 and body.get("ok") is True, "create chatbot: %s %r" % (status, body))
    bot = body["chatbot"]
    key = body["apiKey"]
    check(key.startswith("ob_live_") and len(key) == 40, "create returns the API key once")
    check(bot["api_key_prefix"] == key[:14] + "...", "api_key_prefix is the key's first 14")

    status, body, _ = c.request("GET", "/api/v1/chatbots", headers=alice)
    check(status == 200 and [b["id"] for b in body] == [bot["id"]], "list shows the chatbot")
    check(all("apiKey" not in b for b in body), "list never shows the key")
    status, body, _ = c.request("GET", "/api/v1/chatbots", headers=bob)
    check(status == 200 and body == [], "another organization's list is empty")
    status, _, _ = c.request("GET", "/api/v1/chatbots/" + bot["id"], headers=bob)
    check(status == 404, "another organization's chatbot is 404")

    status, body, _ = c.request("PATCH", "/api/v1/chatbots/" + bot["id"],
                                {"settings": {"theme": {"font": "serif"}}}, headers=alice)
    check(status == 200 and body["settings"] == {"theme": {"color": "red", "font": "serif"}},
          "PATCH merges settings: %r" % (body,))

    capture = {
        "conversationId": "conv_123",
        "messages": [
            {"role": "user", "content": "How do I cancel?", "id": "msg_001"},
            {"role": "assistant", "content": "Go to Settings...", "id": "msg_002"},
        ],
    }
    status, body, _ = c.request("POST", "/api/v1/capture", capture,
                                headers={"Authorization": "Bearer " + key})
    check(status == 200 and body.get("messagesStored") == 2, "capture with the key: %r" % (body,))
    status, body, _ = c.request("POST", "/api/v1/capture", capture,
                                headers={"Authorization": "Bearer " + key})
    check(status == 200 and body.get("messagesStored") == 0, "a repeated capture is deduplicated")
    status, _, _ = c.request("POST", "/api/v1/capture", capture, headers=alice)
    check(status == 401, "capture with a gateway identity instead of a key is 401")

    status, body, _ = c.request("POST", "/api/v1/chatbots/%s/rotate-key" % bot["id"], None,
                                headers=alice)
    check(status == 200 and body["apiKey"] != key, "rotate-key returns a new key")
    new_key = body["apiKey"]
    status, _, _ = c.request("POST", "/api/v1/capture", capture,
                             headers={"Authorization": "Bearer " + key})
    check(status == 401, "the old key is rejected after rotation")
    status, _, _ = c.request("POST", "/api/v1/capture", capture,
                             headers={"Authorization": "Bearer " + new_key})
    check(status == 200, "the new key is accepted")

    status, _, _ = c.request("GET", "/api/v1/nothing-here", headers=alice)
    check(status == 404, "unknown /api/v1 path is chatbotmgr's 404")
    status, _, res = c.request("DELETE", "/api/v1/chatbots", headers=alice)
    check(status == 405 and res.getheader("Allow") == "GET, HEAD, POST", "405 with Allow")

    status, body, _ = c.request("DELETE", "/api/v1/chatbots/" + bot["id"], headers=alice)
    check(status == 200 and body == {"ok": True}, "delete")
    status, _, _ = c.request("POST", "/api/v1/capture", capture,
                             headers={"Authorization": "Bearer " + new_key})
    check(status == 401, "a deleted chatbot's key is rejected")

    # A host route still works on the same keep-alive connection.
    status, body, _ = c.request("GET", "/whoami", headers=bob)
    check(status == 200 and body["org"] == BOB[1], "host route after API calls, same connection")
    c.close()


if __name__ == "__main__":
    sys.exit(main())
