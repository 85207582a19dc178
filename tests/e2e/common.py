"""Shared helpers of the end-to-end tests: run chatbotmgr-server, talk HTTP, check
answers against docs/openapi.yaml."""

import json
import os
import re
import sys
import urllib.error
import urllib.request

import yaml
from jsonschema import Draft202012Validator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import Failure, ServerProcess  # noqa: E402  (shared with tests/postgres)


def check(condition, message):
    if not condition:
        raise Failure(message)


class Server(ServerProcess):
    """chatbotmgr-server serve on 127.0.0.1:<free port> with an SQLite file."""

    def __init__(self, binary, db, extra_args=(), env=None):
        super().__init__([binary, "serve", "--listen", "127.0.0.1:0", "--db", db, *extra_args],
                         env=env)


def http(method, url, body=None, headers=None):
    """(status, headers, parsed JSON body) without raising on 4xx/5xx."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


class OpenApi:
    """docs/openapi.yaml: finds the response schema of (method, path, status) and validates."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self._templates = []
        for template in self.doc["paths"]:
            pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            self._templates.append((re.compile(pattern), template))

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            target = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operation(self, method, path):
        for pattern, template in self._templates:
            if pattern.match(path):
                item = self.doc["paths"][template]
                return template, item.get(method.lower())
        return None, None

    def response_schema(self, method, path, status):
        template, op = self.operation(method, path)
        check(op is not None, "no operation for %s %s in openapi.yaml" % (method, path))
        responses = op["responses"]
        check(str(status) in responses,
              "openapi.yaml documents no %s answer for %s %s" % (status, method, template))
        response = self.resolve(responses[str(status)])
        return response["content"]["application/json"]["schema"]

    def validator(self, schema):
        wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "components": self.doc["components"]}
        wrapped.update(schema)
        return Draft202012Validator(wrapped)

    def validate(self, schema, instance, what):
        errors = sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            raise Failure("%s does not match openapi.yaml: %s (at %s) in %s" % (
                what, errors[0].message, list(errors[0].path), json.dumps(instance)[:500]))

    def validate_response(self, method, path, status, body):
        self.validate(self.response_schema(method, path, status), body,
                      "%s %s -> %s" % (method, path, status))


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
