"""End-to-end: the command line of chatbotmgr-server -- bad flags, a storage that cannot
be opened, `user add`, configuration from the environment. Every HTTP answer is checked
against docs/openapi.yaml."""

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile

from common import Failure, Server, check, http, run, use_openapi

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def cli(binary, *args, stdin="", env=None, timeout=30):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--openapi", required=True)
    args = ap.parse_args()
    binary = args.server
    use_openapi(args.openapi)  # every HTTP answer below is checked against it

    with tempfile.TemporaryDirectory(prefix="chatbotmgr-cli-") as tmp:
        db = os.path.join(tmp, "cli.db")

        # Bad command lines: a readable message and exit code 2, before anything is opened.
        bad = [
            [],
            ["frobnicate"],
            ["serve", "--bogus", "1"],
            ["serve", "--listen", "localhost"],
            ["serve", "--listen", "not-an-ip:80"],
            ["serve", "--listen", "127.0.0.1:99999"],
            ["serve", "--threads", "0"],
            ["serve", "--threads", "many"],
            ["serve", "--session-ttl", "5x"],
            ["serve", "--session-ttl", "0"],
            ["serve", "--public-origin", "ftp://example.com"],
            ["serve", "--public-origin", "https://example.com/path"],
            ["serve", "--db"],
            ["user", "add", "--db", db, "--email", "a@example.com"],
            ["user", "remove"],
        ]
        for args in bad:
            r = cli(binary, *args)
            check(r.returncode == 2, "%s: exit %d, expected 2" % (args, r.returncode))
            check(r.stderr.startswith("chatbotmgr-server: ") and len(r.stderr.strip()) > 25,
                  "%s: unreadable message %r" % (args, r.stderr))
        check(not os.path.exists(db), "a bad command line created the database")
        env = dict(os.environ, CHATBOTMGR_THREADS="zero")
        r = cli(binary, "serve", "--db", db, env=env)
        check(r.returncode == 2 and "CHATBOTMGR_THREADS" in r.stderr, "bad env: %r" % r.stderr)

        r = cli(binary, "--help")
        check(r.returncode == 0 and "user add" in r.stdout, "--help")

        # A file that is not a database: a readable message, exit 1, no crash.
        corrupt = os.path.join(tmp, "corrupt.db")
        with open(corrupt, "wb") as f:
            f.write(b"this is not an SQLite database\n" * 200)
        r = cli(binary, "serve", "--listen", "127.0.0.1:0", "--db", corrupt)
        check(r.returncode == 1, "corrupt database: exit %d, stderr %r" % (r.returncode, r.stderr))
        check("corrupt.db" in r.stderr, "corrupt database: message does not name the file: %r" % r.stderr)
        r = cli(binary, "user", "add", "--db", corrupt, "--email", "a@example.com", "--org", "A",
                stdin="pw-pw-pw-pw\n")
        check(r.returncode == 1, "user add on a corrupt database: exit %d" % r.returncode)
        missing_dir = os.path.join(tmp, "no", "such", "dir", "x.db")
        r = cli(binary, "serve", "--listen", "127.0.0.1:0", "--db", missing_dir)
        check(r.returncode == 1 and r.stderr.strip(), "unopenable path: exit %d" % r.returncode)

        # user add: password from stdin, JSON out, organization created when new.
        r = cli(binary, "user", "add", "--db", db, "--email", "Bob@Example.com", "--org", "Bob's Org",
                stdin="a long enough password\n")
        check(r.returncode == 0, "user add: exit %d: %s" % (r.returncode, r.stderr))
        out = json.loads(r.stdout)
        check(set(out) == {"user_id", "org_id"}, "user add printed %r" % out)
        check(UUID.match(out["user_id"]) and UUID.match(out["org_id"]), "user add ids: %r" % out)
        check("a long enough password" not in r.stdout + r.stderr, "user add echoed the password")
        r = cli(binary, "user", "add", "--db", db, "--email", "carol@example.com", "--org", "Bob's Org",
                stdin="another long password")
        check(r.returncode == 0, "second user: %s" % r.stderr)
        check(json.loads(r.stdout)["org_id"] == out["org_id"], "same org name, other org id")
        r = cli(binary, "user", "add", "--db", db, "--email", "bob@example.com", "--org", "X",
                stdin="whatever password")
        check(r.returncode == 1 and "exists" in r.stderr, "duplicate email: %d %r" % (r.returncode, r.stderr))
        r = cli(binary, "user", "add", "--db", db, "--email", "dan@example.com", "--org", "X", stdin="")
        check(r.returncode == 1, "user add without a password: exit %d" % r.returncode)

        # A database with users: no bootstrap; configuration from the environment.
        env = dict(os.environ, CHATBOTMGR_PUBLIC_ORIGIN="https://bots.example.com",
                   CHATBOTMGR_SESSION_TTL="30m", CHATBOTMGR_ACCESS_LOG="off")
        server = Server(binary, db, env=env)
        try:
            base = server.wait_listening()
            check(server.credentials() is None, "bootstrap on a database that has users")
            check("public origin https://bots.example.com" in "\n".join(server.stdout_lines),
                  "CHATBOTMGR_PUBLIC_ORIGIN ignored: %s" % server.stdout_lines)
            status, headers, body = http("POST", base + "/api/v1/auth/login",
                                         {"email": "bob@example.com", "password": "a long enough password"})
            check(status == 200, "login as the added user: %d %s" % (status, body))
            check(body["organization"] == {"id": out["org_id"], "name": "Bob's Org"}, "login org: %s" % body)
            check(headers["Set-Cookie"].endswith("; Secure"), "https origin without Secure cookie")
            status, _, _ = http("POST", base + "/api/v1/chatbots", {"name": "x"},
                                {"Cookie": "ob_session=" + body["token"], "Origin": "https://bots.example.com"})
            check(status == 200, "cookie write from the configured origin: %d" % status)
            code = server.stop(signal.SIGTERM)
            check(code == 0, "SIGTERM: exit %d" % code)
            check(not any(l.startswith("http: ") for l in server.stderr_lines), "access log not off")
        finally:
            server.kill()

        # The address is taken: exit 1 with a message.
        holder = Server(binary, db)
        try:
            base = holder.wait_listening()
            port = base.rsplit(":", 1)[1]
            r = cli(binary, "serve", "--listen", "127.0.0.1:" + port, "--db", db)
            check(r.returncode == 1 and "listen" in r.stderr, "address in use: %d %r" % (r.returncode, r.stderr))
            check(holder.stop() == 0, "stop")
        finally:
            holder.kill()


if __name__ == "__main__":
    run(main)
