"""End-to-end: the command line of chatbotmgr-server -- bad flags, a storage that cannot
be opened, `user add`, `user list`, `user set-role`, the first-start admin (an owner),
configuration from the environment. Every HTTP answer is checked against
docs/openapi.yaml."""

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile

from common import Failure, Server, check, http, run, use_openapi

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


def cli(binary, *args, stdin="", env=None, timeout=30):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def user_lines(text):
    """The lines of `user list` (and `user set-role`) as (email, role, org, created) tuples,
    checking their form: four tab-separated fields, created in RFC 3339."""
    check(text == "" or text.endswith("\n"), "user lines without a final newline: %r" % text)
    rows = []
    for line in text.splitlines():
        fields = line.split("\t")
        check(len(fields) == 4, "not four tab-separated fields: %r" % line)
        check(fields[1] in ("viewer", "member", "admin", "owner"), "role: %r" % line)
        check(RFC3339.match(fields[3]), "created is not RFC 3339: %r" % line)
        rows.append(tuple(fields))
    return rows


def user_add(binary, db, email, org, password, *extra):
    r = cli(binary, "user", "add", "--db", db, "--email", email, "--org", org, *extra,
            stdin=password + "\n")
    check(r.returncode == 0, "user add %s: exit %d: %s" % (email, r.returncode, r.stderr))
    out = json.loads(r.stdout)
    check(set(out) == {"user_id", "org_id", "role"}, "user add printed %r" % out)
    return out


def check_user_commands(binary, db, bob, carol):
    """user add --role, user list, user set-role (with the last-owner rule) on db, where
    Bob@Example.com created "Bob's Org" and carol@example.com joined it (bob and carol: what
    their `user add` printed)."""
    check(bob["role"] == "owner", "the user who creates the organization: %r" % bob)
    check(carol["role"] == "member", "a user who joins an organization: %r" % carol)
    ids = {"Bob@Example.com": bob["user_id"], "carol@example.com": carol["user_id"]}

    # --role, for a new organization and for an existing one.
    erin = user_add(binary, db, "erin@example.com", "Bob's Org", "erin's password", "--role", "admin")
    check(erin["role"] == "admin" and erin["org_id"] == bob["org_id"], "--role admin: %r" % erin)
    vic = user_add(binary, db, "vic@example.com", "Bob's Org", "vic's password", "--role", "viewer")
    check(vic["role"] == "viewer", "--role viewer: %r" % vic)
    gina = user_add(binary, db, "gina@example.com", "Another Org", "gina's password",
                    "--role", "owner")
    check(gina["role"] == "owner" and gina["org_id"] != bob["org_id"], "--role owner: %r" % gina)
    ids.update({"erin@example.com": erin["user_id"], "vic@example.com": vic["user_id"],
                "gina@example.com": gina["user_id"]})

    # user list: by organization name, then oldest first (ties by id). Organization "X"
    # (left without users by the duplicate-email user add above) has no lines.
    r = cli(binary, "user", "list", "--db", db)
    check(r.returncode == 0 and r.stderr == "", "user list: exit %d: %s" % (r.returncode, r.stderr))
    rows = user_lines(r.stdout)
    by_email = {row[0]: row for row in rows}
    check(len(by_email) == len(rows) == 5, "user list: %r" % rows)
    check(rows[0] == by_email["gina@example.com"], "\"Another Org\" first: %r" % rows)
    check({e: (role, o) for e, role, o, _ in rows} == {
        "gina@example.com": ("owner", "Another Org"),
        "Bob@Example.com": ("owner", "Bob's Org"),
        "carol@example.com": ("member", "Bob's Org"),
        "erin@example.com": ("admin", "Bob's Org"),
        "vic@example.com": ("viewer", "Bob's Org")}, "user list: %r" % rows)
    bobs = [row for row in rows if row[2] == "Bob's Org"]
    check(rows[1:] == bobs == sorted(bobs, key=lambda row: (row[3], ids[row[0]])),
          "not oldest first, ties by id: %r" % rows)
    r = cli(binary, "user", "list", "--db", db, "--org", "Another Org")
    check(r.returncode == 0 and user_lines(r.stdout) == [by_email["gina@example.com"]],
          "user list --org: %r" % r.stdout)
    r = cli(binary, "user", "list", "--db", db, "--org", "another org")
    check(r.returncode == 1 and "another org" in r.stderr and r.stdout == "",
          "user list --org of no organization: %d %r" % (r.returncode, r.stderr))
    missing = db + ".missing"
    r = cli(binary, "user", "list", "--db", missing)
    check(r.returncode == 1 and missing in r.stderr, "user list of a missing file: %r" % r.stderr)
    check(not os.path.exists(missing), "user list created a database")

    # user set-role: any letter case of the email; prints the line as it is afterwards.
    r = cli(binary, "user", "set-role", "--db", db, "--email", "CAROL@example.com", "--role", "admin")
    check(r.returncode == 0, "set-role: exit %d: %s" % (r.returncode, r.stderr))
    check([row[:3] for row in user_lines(r.stdout)] == [("carol@example.com", "admin", "Bob's Org")],
          "set-role printed %r" % r.stdout)
    r = cli(binary, "user", "set-role", "--db", db, "--email", "nobody@example.com", "--role", "admin")
    check(r.returncode == 1 and "nobody@example.com" in r.stderr and r.stdout == "",
          "set-role of an unknown email: %d %r" % (r.returncode, r.stderr))

    # The last owner of an organization is never demoted: exit 1, nothing written.
    for email, org in (("bob@example.com", "Bob's Org"), ("gina@example.com", "Another Org")):
        for role in ("admin", "member", "viewer"):
            r = cli(binary, "user", "set-role", "--db", db, "--email", email, "--role", role)
            check(r.returncode == 1 and "only owner" in r.stderr and org in r.stderr and
                  r.stdout == "", "demoting the last owner %s to %s: %d %r" %
                  (email, role, r.returncode, r.stderr))
    # With a second owner, the first can be demoted -- and promoted back.
    for email, role in (("carol@example.com", "owner"), ("bob@example.com", "member"),
                        ("bob@example.com", "owner"), ("carol@example.com", "member")):
        r = cli(binary, "user", "set-role", "--db", db, "--email", email, "--role", role)
        check(r.returncode == 0 and user_lines(r.stdout)[0][1] == role,
              "set-role %s %s: %d %r" % (email, role, r.returncode, r.stderr))
    r = cli(binary, "user", "list", "--db", db, "--org", "Bob's Org")
    check({e: role for e, role, _, _ in user_lines(r.stdout)} == {
        "Bob@Example.com": "owner", "carol@example.com": "member", "erin@example.com": "admin",
        "vic@example.com": "viewer"}, "roles after set-role: %r" % r.stdout)


def check_first_start_admin(binary, tmp):
    """The admin created on an empty database is its organization's owner: over HTTP
    (GET /api/v1/auth/session) and in user list."""
    db = os.path.join(tmp, "first-start.db")
    server = Server(binary, db, ["--access-log", "off"])
    try:
        base = server.wait_listening()
        creds = server.credentials()
        check(creds is not None, "no admin printed on an empty database:\n" + server.output())
        email, password = creds
        status, _, body = http("POST", base + "/api/v1/auth/login",
                               {"email": email, "password": password})
        check(status == 200, "login as the first-start admin: %d %s" % (status, body))
        status, _, session = http("GET", base + "/api/v1/auth/session",
                                  headers={"Authorization": "Bearer " + body["token"]})
        check(status == 200 and session["role"] == "owner",
              "the first-start admin's session: %d %s" % (status, session))
        check(session["user"]["email"] == email and
              session["organization"]["name"] == "Default Organization",
              "session: %s" % session)
        # A running server keeps its SQLite file: the user commands say what to do.
        r = cli(binary, "user", "set-role", "--db", db, "--email", email, "--role", "admin")
        check(r.returncode == 1 and "another process has it open" in r.stderr and
              "stop it" in r.stderr and "PostgreSQL" in r.stderr,
              "user set-role on a served SQLite file: %d %r" % (r.returncode, r.stderr))
        check(server.stop() == 0, "stop")
    finally:
        server.kill()
    r = cli(binary, "user", "list", "--db", db)
    rows = user_lines(r.stdout)
    check(r.returncode == 0 and [row[:3] for row in rows] ==
          [("admin@example.com", "owner", "Default Organization")], "user list: %r" % rows)


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
            ["user", "add", "--db", db, "--email", "a@example.com", "--org", "A", "--role", "boss"],
            ["user", "add", "--db", db, "--email", "a@example.com", "--org", "A", "--role", "Owner"],
            ["user", "add", "--db", db, "--email", "a@example.com", "--org", "A", "--role", ""],
            ["user", "remove"],
            ["user"],
            ["user", "list"],
            ["user", "list", "--db", db, "--email", "a@example.com"],
            ["user", "list", "--db", db, "--org", ""],
            ["user", "set-role", "--db", db, "--email", "a@example.com"],
            ["user", "set-role", "--db", db, "--role", "admin"],
            ["user", "set-role", "--db", db, "--email", "a@example.com", "--role", "superuser"],
            ["user", "set-role", "--email", "a@example.com", "--role", "admin"],
        ]
        for args in bad:
            r = cli(binary, *args)
            check(r.returncode == 2, "%s: exit %d, expected 2" % (args, r.returncode))
            check(r.stderr.startswith("chatbotmgr-server: ") and len(r.stderr.strip()) > 25,
                  "%s: unreadable message %r" % (args, r.stderr))
            if "--role" in args and args[-1] not in ("viewer", "member", "admin", "owner"):
                check("--role" in r.stderr and "viewer, member, admin or owner" in r.stderr,
                      "a bad role, %s: %r" % (args, r.stderr))
        check(not os.path.exists(db), "a bad command line created the database")
        env = dict(os.environ, CHATBOTMGR_THREADS="zero")
        r = cli(binary, "serve", "--db", db, env=env)
        check(r.returncode == 2 and "CHATBOTMGR_THREADS" in r.stderr, "bad env: %r" % r.stderr)

        r = cli(binary, "--help")
        check(r.returncode == 0 and "user add" in r.stdout, "--help")
        for words in ("user list", "user set-role", "--role ROLE", "<TAB>owner<TAB>"):
            check(words in r.stdout, "--help does not mention %r" % words)

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
        check(set(out) == {"user_id", "org_id", "role"}, "user add printed %r" % out)
        check(UUID.match(out["user_id"]) and UUID.match(out["org_id"]), "user add ids: %r" % out)
        check("a long enough password" not in r.stdout + r.stderr, "user add echoed the password")
        r = cli(binary, "user", "add", "--db", db, "--email", "carol@example.com", "--org", "Bob's Org",
                stdin="another long password")
        check(r.returncode == 0, "second user: %s" % r.stderr)
        carol = json.loads(r.stdout)
        check(carol["org_id"] == out["org_id"], "same org name, other org id")
        r = cli(binary, "user", "add", "--db", db, "--email", "bob@example.com", "--org", "X",
                stdin="whatever password")
        check(r.returncode == 1 and "exists" in r.stderr, "duplicate email: %d %r" % (r.returncode, r.stderr))
        r = cli(binary, "user", "add", "--db", db, "--email", "dan@example.com", "--org", "X", stdin="")
        check(r.returncode == 1, "user add without a password: exit %d" % r.returncode)

        check_user_commands(binary, db, out, carol)
        check_first_start_admin(binary, tmp)

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
