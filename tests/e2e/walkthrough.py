"""End-to-end: the curl walkthrough of README.md, run block by block against a real
chatbotmgr-server on a fresh SQLite file, every answer checked against docs/openapi.yaml;
then SIGTERM (exit 0), a restart on the same file (no second bootstrap, sessions survive)
and SIGINT (exit 0)."""

import argparse
import os
import re
import signal
import subprocess
import tempfile
import urllib.parse

from common import Failure, Server, check, check_answer, http, run, use_openapi

SECRET_PATTERNS = [re.compile(r"ob_live_[0-9a-f]{8}"), re.compile(r"ob_sess_[0-9a-f]{8}"),
                   re.compile(r"ob_inv_[0-9a-f]{8}")]


def extract_blocks(markdown):
    m = re.search(r"<!-- walkthrough:begin -->(.*?)<!-- walkthrough:end -->", markdown, re.S)
    check(m, "the document has no walkthrough section")
    blocks = []
    for code in re.findall(r"```sh\n(.*?)```", m.group(1), re.S):
        expect = re.search(r"^# expect (\d{3})$", code, re.M)
        check(expect, "walkthrough block without '# expect NNN':\n" + code)
        exports = []
        for line in re.findall(r"^# export (.+)$", code, re.M):
            exports += re.findall(r"(\w+)=<([^>]+)>", line)
        blocks.append((code, int(expect.group(1)), exports))
    check(len(blocks) >= 10, "the walkthrough has only %d steps" % len(blocks))
    return blocks


def json_path(value, path):
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def parse_headers(text):
    # The last header block (curl -D also writes interim 100 answers).
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    check(blocks, "no response headers")
    headers = {}
    for line in blocks[-1].splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def run_block(code, env, workdir):
    header_file = os.path.join(workdir, "headers.txt")
    # The blocks run unchanged; this wrapper only records what curl did and saw.
    prelude = ('curl() { command curl -D "%s" -w "\\n%%{method} %%{url_effective} %%{http_code}" "$@"; }\n'
               % header_file)
    result = subprocess.run(["bash", "-c", prelude + code], env=env, cwd=workdir,
                            capture_output=True, text=True, timeout=60)
    check(result.returncode == 0, "block failed (%d): %s\n%s" % (result.returncode, result.stderr, code))
    body, _, trailer = result.stdout.rpartition("\n")
    method, url, status = trailer.split(" ")
    path = urllib.parse.urlsplit(url).path
    with open(header_file, encoding="latin-1") as f:
        headers = parse_headers(f.read())
    import json
    parsed = json.loads(body)
    check(headers.get("content-type") == "application/json", "%s %s: Content-Type %r" % (method, path, headers.get("content-type")))
    check(headers.get("cache-control") == "no-store", "%s %s: Cache-Control" % (method, path))
    check(headers.get("x-content-type-options") == "nosniff", "%s %s: nosniff" % (method, path))
    check_answer(method, path, int(status), headers, body)
    return int(status), parsed, headers, method, path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--openapi", required=True)
    args = ap.parse_args()

    use_openapi(args.openapi)
    with open(args.doc, encoding="utf-8") as f:
        blocks = extract_blocks(f.read())

    with tempfile.TemporaryDirectory(prefix="chatbotmgr-e2e-") as workdir:
        db = os.path.join(workdir, "e2e.db")
        server = Server(args.server, db)
        try:
            base = server.wait_listening()
            creds = server.credentials()
            check(creds, "the first start printed no admin credentials:\n" + "\n".join(server.stdout_lines))
            email, password = creds
            check(email == "admin@example.com", "admin email is %r" % email)

            env = dict(os.environ, BASE=base, EMAIL=email, PASSWORD=password)
            secrets = {password}
            for i, (code, expected, exports) in enumerate(blocks):
                status, body, headers, method, path = run_block(code, env, workdir)
                check(status == expected, "step %d (%s %s): expected %d, got %d: %s" % (
                    i + 1, method, path, expected, status, body))
                for name, json_field in exports:
                    value = json_path(body, json_field)
                    check(isinstance(value, str) and value, "step %d: no %s" % (i + 1, json_field))
                    env[name] = value
                    if name in ("TOKEN", "API_KEY", "NEW_KEY", "INVITE_TOKEN", "GRACE_TOKEN"):
                        secrets.add(value)
                if path == "/api/v1/auth/login":
                    check(headers.get("set-cookie") == "ob_session=%s; Path=/; HttpOnly; SameSite=Lax" % body["token"],
                          "login Set-Cookie: %r" % headers.get("set-cookie"))
                print("ok %2d  %-6s %-60s %d" % (i + 1, method, path, status))

            # One more session, to see it survive a restart.
            status, _, body = http("POST", base + "/api/v1/auth/login", {"email": email, "password": password})
            check(status == 200, "login before restart: %d" % status)
            token = body["token"]
            secrets.add(token)

            code = server.stop(signal.SIGTERM)
            check(code == 0, "SIGTERM: exit code %d; stderr:\n%s" % (code, server.stderr()))
        finally:
            server.kill()

        # The access log: one line per request, no secret anywhere in stderr.
        log = server.stderr()
        access = [l for l in server.stderr_lines if l.startswith("http: ")]
        check(len(access) == len(blocks) + 1, "%d access-log lines for %d requests:\n%s" % (len(access), len(blocks) + 1, log))
        for secret in secrets:
            check(secret not in log, "a secret appears in the server's stderr")
        for pattern in SECRET_PATTERNS:
            check(not pattern.search(log), "something key-like appears in the server's stderr")
        check(password not in "\n".join(l for l in server.stdout_lines if "password:" not in l),
              "the password appears on stdout outside its one line")

        # Restart on the same file: no second bootstrap, the session is still valid.
        again = Server(args.server, db)
        try:
            base = again.wait_listening()
            check(again.credentials() is None, "the restart printed credentials again")
            status, _, body = http("GET", base + "/api/v1/chatbots", headers={"Authorization": "Bearer " + token})
            check(status == 200, "session after restart: %d" % status)
            check(body == [], "the deleted chatbot is back: %s" % body)
            status, _, _ = http("POST", base + "/api/v1/auth/login", {"email": email, "password": password})
            check(status == 200, "login after restart: %d" % status)
            code = again.stop(signal.SIGINT)
            check(code == 0, "SIGINT: exit code %d; stderr:\n%s" % (code, again.stderr()))
        finally:
            again.kill()


if __name__ == "__main__":
    run(main)
