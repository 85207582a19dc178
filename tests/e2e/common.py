"""Shared helpers of the end-to-end tests: run chatbotmgr-server, talk HTTP, check every
answer against docs/openapi.yaml (with tests/openapi/validate.py, the validator the HTTP
suite's answers go through too)."""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

_tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, _tests)
sys.path.insert(0, os.path.join(_tests, "openapi"))
from server_process import Failure, ServerProcess  # noqa: E402  (shared with tests/postgres)
from validate import Mismatch, OpenApi  # noqa: E402  (tests/openapi/validate.py)


def check(condition, message):
    if not condition:
        raise Failure(message)


class Server(ServerProcess):
    """chatbotmgr-server serve on 127.0.0.1:<free port> with an SQLite file."""

    def __init__(self, binary, db, extra_args=(), env=None):
        super().__init__([binary, "serve", "--listen", "127.0.0.1:0", "--db", db, *extra_args],
                         env=env)


_openapi = None


def use_openapi(path):
    """Loads docs/openapi.yaml; from then on http() checks every answer against it."""
    global _openapi
    _openapi = OpenApi(path)
    return _openapi


def check_answer(method, target, status, headers, body):
    """One answer against docs/openapi.yaml (tests/openapi/validate.py); Failure if it is
    not described."""
    check(_openapi is not None, "use_openapi() was not called: answers would go unchecked")
    try:
        _openapi.check(method, target, status, headers, body)
    except Mismatch as e:
        raise Failure("not as docs/openapi.yaml describes: %s" % e)


def http(method, url, body=None, headers=None):
    """(status, headers, parsed JSON body) without raising on 4xx/5xx. Every answer is
    checked against docs/openapi.yaml (call use_openapi() first)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, res_headers, raw = res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        status, res_headers, raw = e.code, e.headers, e.read()
    parts = urllib.parse.urlsplit(url)
    check_answer(method, parts.path + ("?" + parts.query if parts.query else ""), status,
                 res_headers, raw)
    return status, res_headers, json.loads(raw or b"null")


def run(main):
    """Runs main(), prints a closing line, exits non-zero on failure."""
    import sys
    import traceback
    try:
        main()
    except Failure as e:
        print("FAILED: %s" % e)
        print("0 passed, 1 failed")
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")
