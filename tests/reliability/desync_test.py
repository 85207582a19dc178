#!/usr/bin/env python3
"""Strict HTTP framing: no request smuggling (issue 11, item 8; ctest label "abuse").

Against the real server: each request below carries a second request, "GET /smuggled",
where a server that frames its body one way or the other would read it as the next
request on the connection. Every one must be answered 400 and its connection closed,
whatever the order of the fields, and no "/smuggled" line may appear in the access log
(the smuggled bytes never reached the router):

  * Transfer-Encoding that is not exactly a final "chunked" ("chunked, identity",
    "identity, chunked", "gzip", "identity", "xchunked", "chunked" twice, "gzip" and
    "chunked" on two lines), with or without Content-Length, before or after it;
  * "chunked" together with Content-Length, in both orders;
  * Transfer-Encoding in an HTTP/1.0 request.

Also: HTTP/1.1 without Host, with two Host lines, with an invalid Host, and obs-fold (a
field continued on the next line) are 400; HTTP/1.0 without Host and the absolute form
"GET http://127.0.0.1:<port>/healthz" are 200; an absolute form with user information is
400; a plain chunked body still works (200).

Usage: desync_test.py --server PATH
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import rawhttp  # noqa: E402
from harness import Fail, bearer, check  # noqa: E402

TEST = "desync"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def smuggling_cases(token):
    """(name, request bytes). The target is a real route with a valid session, so a
    server that accepts the framing answers it and then runs the smuggled request."""
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    start = b"PATCH /api/v1/chatbots/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth

    def req(*fields, body=b""):
        return start + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body

    chunked_end = b"0\r\n\r\n"  # an empty chunked body; also 5 bytes of Content-Length
    cl5 = b"Content-Length: 5"
    cases = []
    for te in (b"chunked, identity", b"identity, chunked", b"identity", b"gzip", b"xchunked",
               b"chunked, chunked", b"gzip, chunked", b"chunked;q=1", b""):
        name = te.decode() or "(empty)"
        cases.append((f"TE {name} then CL", req(b"Transfer-Encoding: " + te, cl5,
                                                 body=chunked_end + SMUGGLED)))
        cases.append((f"CL then TE {name}", req(cl5, b"Transfer-Encoding: " + te,
                                                 body=chunked_end + SMUGGLED)))
        cases.append((f"TE {name} alone", req(b"Transfer-Encoding: " + te,
                                              body=chunked_end + SMUGGLED)))
        cases.append((f"TE {name} alone, no body", req(b"Transfer-Encoding: " + te,
                                                       body=SMUGGLED)))
    cases += [
        ("TE chunked then CL", req(b"Transfer-Encoding: chunked", cl5,
                                   body=chunked_end + SMUGGLED)),
        ("CL then TE chunked", req(cl5, b"Transfer-Encoding: chunked",
                                   body=chunked_end + SMUGGLED)),
        ("TE gzip and TE chunked on two lines", req(b"Transfer-Encoding: gzip",
                                                    b"Transfer-Encoding: chunked",
                                                    body=chunked_end + SMUGGLED)),
        ("TE chunked twice on two lines", req(b"Transfer-Encoding: chunked",
                                              b"Transfer-Encoding: chunked",
                                              body=chunked_end + SMUGGLED)),
        ("TE chunked in HTTP/1.0", (start.replace(b"HTTP/1.1", b"HTTP/1.0")
                                    + b"Connection: keep-alive\r\nTransfer-Encoding: chunked"
                                    b"\r\n\r\n" + chunked_end + SMUGGLED)),
        ("TE with obs-fold", req(b"Transfer-Encoding: identity\r\n chunked", cl5,
                                 body=chunked_end + SMUGGLED)),
    ]
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    args = ap.parse_args()
    binary = rawhttp.server_binary_from(args.server)
    check(binary, "give --server or CHATBOTMGR_SERVER")
    harness.reset_logs(TEST)
    problems, figures = [], {}
    with harness.ScratchDir("chatbotmgr-desync-") as scratch:
        db = scratch.file("desync.db")
        email, password = "desync@example.com", f"desync-pw-{random.randrange(10**12)}"
        harness.add_user(binary, db, email, "Desync Org", password)
        server = harness.Server(binary, db, TEST).start()
        port = server.port
        token = harness.login(port, email, password, test=TEST)
        c = harness.Client(port, test=TEST)
        status, _, doc = c.json("POST", "/api/v1/chatbots", {"name": "target"}, bearer(token))
        check(status == 200, f"create answered {status}")
        harness.remember_secret(doc["apiKey"])
        bot = doc["chatbot"]["id"].encode()
        c.close()

        refused, accepted, second = 0, [], []
        for name, data in smuggling_cases(token):
            first, closed, more = rawhttp.exchange(port, data.replace(b"%s", bot))
            if first and first.status >= 400:
                harness.record_error_body(TEST, first.status, first.body)
            if first and first.status == 400 and first.closes and closed and not more:
                refused += 1
            else:
                accepted.append(f"{name}: {first.status if first else 'no answer'}"
                                f"{'' if closed else ', connection left open'}"
                                f"{f', then {[r.status for r in more]}' if more else ''}")
            if more:
                second.append(name)
        figures["smuggling attempts refused with 400 and close"] = (
            f"{refused} of {refused + len(accepted)}")
        for a in accepted:
            problems.append(f"smuggling: {a}")

        # Host and obs-fold.
        host_cases = [
            ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
            ("two Host lines", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("Host with a path", b"GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
            ("Host with user information", b"GET /healthz HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
            ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400),
            ("obs-fold with a tab", b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n",
             400),
            ("space before the first field", b"GET /healthz HTTP/1.1\r\n Host: a\r\n\r\n", 400),
            ("HTTP/1.0 without Host", b"GET /healthz HTTP/1.0\r\n\r\n", 200),
            ("empty Host", b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", 200),
            ("Host with a port", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port,
             200),
            ("absolute form", b"GET http://127.0.0.1:%d/healthz HTTP/1.1\r\n"
             b"Host: 127.0.0.1:%d\r\n\r\n" % (port, port), 200),
            ("absolute form, HTTPS scheme, query", b"GET HTTPS://bots.example.com/healthz?x=1 "
             b"HTTP/1.1\r\nHost: bots.example.com\r\n\r\n", 200),
            ("absolute form with user information", b"GET http://user:pw@127.0.0.1/healthz "
             b"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
            ("absolute form of an API route", b"GET http://127.0.0.1/api/v1/chatbots HTTP/1.1\r\n"
             b"Host: 127.0.0.1\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n", 200),
        ]
        wrong = []
        for name, data, want in host_cases:
            first, closed, _ = rawhttp.exchange(port, data)
            got = first.status if first else None
            if first and got >= 400:
                harness.record_error_body(TEST, got, first.body)
            if got != want or (want == 400 and not closed):
                wrong.append(f"{name}: {got} (want {want}{', then close' if want == 400 else ''})")
        figures["Host, obs-fold and absolute-form cases as specified"] = (
            f"{len(host_cases) - len(wrong)} of {len(host_cases)}")
        for w in wrong:
            problems.append(f"head: {w}")

        # A well-formed chunked body still works, and keep-alive with it.
        body = json.dumps({"settings": {"chunked": True}}).encode()
        data = (b"PATCH /api/v1/chatbots/" + bot + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
                + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        first, _, more = rawhttp.exchange(port, data)
        if not first or first.status != 200 or [r.status for r in more] != [200]:
            problems.append(f"a plain chunked PATCH and the request after it: "
                            f"{first.status if first else None}, {[r.status for r in more]}")

        check(server.alive(), "the server died")
        server.stop()
        time.sleep(0.1)
        log = server.stderr_text()
        smuggled_lines = [line for line in log.splitlines() if "/smuggled" in line]
        figures["access-log lines for /smuggled (requests that reached the router)"] = (
            len(smuggled_lines))
        if smuggled_lines:
            problems.append(f"the smuggled request reached the router {len(smuggled_lines)} "
                            f"times (cases: {second})")
    for k, v in figures.items():
        print(f"desync: {k}: {v}")
    for p in problems:
        print(f"desync: PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"desync: FAILED: {e}")
        sys.exit(1)
