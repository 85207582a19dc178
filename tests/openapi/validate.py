"""Checks HTTP answers against docs/openapi.yaml: the one validator of the test suites.

    api = OpenApi("docs/openapi.yaml")
    api.check(method, target, status, headers, body)   # raises Mismatch, returns the rule

For one answer it finds what the description says about it, then checks that the status
is documented there, that every header the description marks `required` is present and
matches its schema, that the Content-Type is one the response documents, and that the
body is valid against the response schema (JSON Schema 2020-12, as OpenAPI 3.1 says;
`$ref`s resolve inside the document). Nothing outside the description is assumed, except
these rules for answers that no operation can describe:

  operation     the path matches a path template (its parameters valid against their
                schemas) and the method is one of its operations: that operation.
  head          HEAD on a path with GET and no HEAD operation: GET's answers, without a
                body (RFC 9110: HEAD is GET without the content).
  wrong-method  a path of the description with a method it does not have: the 405 that
                the path's operations document (every operation lists the same one), or
                an answer given before routing (below).
  no-route      a path the description does not have (a path parameter that breaks its
                schema included): the 404 `NotFound` of components/responses, or an
                answer given before routing.
  not-http      no request at all, or bytes that are not an HTTP/1.x request: the 400
                `InvalidRequest` of components/responses, or an answer given before
                routing.
  before-routing  431 `HeaderTooLarge` and 503 `Unavailable` of components/responses
                (header block too large, connection cap): they come before the path is
                looked at. On known paths every operation documents them too.

Every answer to HEAD, by any rule, is checked without a body: its status and headers are
the ones described, and it must have no content (RFC 9110 section 9.3.2). An absolute-form
request target (`GET http://host:port/healthz`, RFC 9112 section 3.2.2) is routed by its
path: `scheme://authority` is stripped before matching.

Interim 1xx answers are not final answers and are not checked. Standard library, PyYAML
and jsonschema (Debian: python3-yaml, python3-jsonschema) only.
"""

import json
import re
import urllib.parse

import yaml
from jsonschema import Draft202012Validator, FormatChecker

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEFORE_ROUTING = {431: "HeaderTooLarge", 503: "Unavailable"}
NO_ROUTE = {404: "NotFound"}
NOT_HTTP = {400: "InvalidRequest"}


class Mismatch(Exception):
    """An answer that docs/openapi.yaml does not describe."""


def _reject_constant(name):
    raise ValueError("not JSON: %s" % name)


def parse_json(text):
    """Strict RFC 8259: no NaN/Infinity, no duplicate member names."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate member name")
        return dict(pairs)
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=no_duplicates)


def header_pairs(headers):
    """[(lowercase name, value)] from a dict, a list of pairs or an email.message.Message."""
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return [(str(k).lower(), str(v)) for k, v in items]


class OpenApi:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.path = path
        self._validators = {}
        self._templates = []
        for template, item in self.doc["paths"].items():
            names = re.findall(r"\{([^/{}]+)\}", template)
            pattern = "^" + "".join(
                "(?P<p%d>[^/]+)" % names.index(part[1:-1]) if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^/{}]+\})", template) if part) + "$"
            self._templates.append((re.compile(pattern), template, names, item))

    # -- the document ---------------------------------------------------------------------

    def resolve(self, node):
        """Follows a `$ref` (and a chain of them) to the node it names."""
        while isinstance(node, dict) and "$ref" in node:
            target = self.doc
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise Mismatch("external $ref %s is not supported" % ref)
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validator(self, schema):
        """A JSON Schema 2020-12 validator for a schema of the document; `$ref`s such as
        #/components/schemas/X resolve against the document's components."""
        key = id(schema)
        if key not in self._validators:
            root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.doc.get("components", {})}
            root.update(schema)
            self._validators[key] = (schema, Draft202012Validator(root, format_checker=FormatChecker()))
        return self._validators[key][1]

    def schema_errors(self, schema, instance):
        return sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))

    def operations(self):
        """(method, template, operation) for every operation of the document."""
        for template, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield method, template, item[method]

    def match_path(self, path):
        """(template, path item) for a concrete path, or (None, None). A path parameter that
        breaks its schema does not match (the API answers such a path like an unknown one)."""
        for pattern, template, names, item in self._templates:
            m = pattern.match(path)
            if not m:
                continue
            params = {}
            for p in item.get("parameters", []):
                p = self.resolve(p)
                if p.get("in") == "path":
                    params[p["name"]] = p
            ok = True
            for i, name in enumerate(names):
                value = urllib.parse.unquote(m.group("p%d" % i))
                schema = params.get(name, {}).get("schema")
                if schema is not None and self.schema_errors(schema, value):
                    ok = False
            if ok:
                return template, item
        return None, None

    # -- one answer -----------------------------------------------------------------------

    def expected(self, method, target, status):
        """(rule, where, response object, body expected) for an answer, or raises Mismatch."""
        components = self.doc.get("components", {}).get("responses", {})

        def component(rule, table, where):
            if status in table:
                return rule, "components/responses/" + table[status], \
                    self.resolve(components[table[status]]), True
            if status in BEFORE_ROUTING:
                name = BEFORE_ROUTING[status]
                return "before-routing", "components/responses/" + name, \
                    self.resolve(components[name]), True
            raise Mismatch("%s: %s answered %d, but by rule %s only %s are described" % (
                where, "request" if method else "no request", status, rule,
                sorted(set(table) | set(BEFORE_ROUTING))))

        if not method or target is None:
            return component("not-http", NOT_HTTP, "bytes that are not an HTTP request")
        if target.lower().startswith(("http://", "https://")):
            target = urllib.parse.urlsplit(target).path or "/"  # absolute form: its path
        path = urllib.parse.urlsplit(target).path if target.startswith("/") else target
        template, item = self.match_path(path)
        if template is None:
            return component("no-route", NO_ROUTE, "%s %s" % (method, path))
        lower = method.lower()
        body_expected = True
        rule = "operation"
        op = item.get(lower) if lower in METHODS else None
        if op is None and lower == "head" and "get" in item:
            op, rule, body_expected = item["get"], "head", False
        where = "%s %s" % (method.upper(), template)
        if op is None:
            ops = [item[m] for m in METHODS if m in item]
            documented = [self.resolve(o["responses"]["405"]) for o in ops if "405" in o["responses"]]
            if status == 405:
                if not documented:
                    raise Mismatch("%s: a method the path lacks answered 405, which no operation "
                                   "of the path documents" % where)
                return "wrong-method", "(other method) %s 405" % template, documented[0], True
            if status in BEFORE_ROUTING:
                return component("wrong-method", {405: "MethodNotAllowed"}, where)
            raise Mismatch("%s: the path has no %s operation, so the answer must be 405, not %d" % (
                where, method.upper(), status))
        responses = op.get("responses", {})
        for key in (str(status), "%dXX" % (status // 100), "default"):
            if key in responses:
                return rule, "%s %s" % (where, key), self.resolve(responses[key]), body_expected
        raise Mismatch("%s: answered %d, which openapi.yaml does not document (it has %s)" % (
            where, status, ", ".join(sorted(responses))))

    def check(self, method, target, status, headers=None, body=None):
        """Checks one answer; returns (rule, where). method/target None: not an HTTP
        request. headers: dict, pairs or Message. body: str, bytes or None (as received)."""
        status = int(status)
        if 100 <= status < 200:
            return "interim", None
        rule, where, response, body_expected = self.expected(method, target, status)
        if method and method.upper() == "HEAD":
            # Whatever the rule, an answer to HEAD has no content (RFC 9110 section 9.3.2):
            # a 404 or 405 to HEAD is the GET-shaped answer's status and headers only.
            body_expected = False
        what = "%s %s -> %d (%s)" % (method, target, status, where)
        pairs = header_pairs(headers)

        # Headers the description requires, with their schemas.
        for name, header in (response.get("headers") or {}).items():
            header = self.resolve(header)
            if name.lower() == "content-type":
                continue  # described by `content`
            values = [v for k, v in pairs if k == name.lower()]
            if not values:
                if header.get("required"):
                    raise Mismatch("%s: no %s header" % (what, name))
                continue
            schema = header.get("schema")
            if schema is None:
                continue
            for value in values:
                instance = value
                if self.resolve(schema).get("type") in ("integer", "number"):
                    try:
                        instance = int(value) if schema.get("type") == "integer" else float(value)
                    except ValueError:
                        raise Mismatch("%s: %s: %r is not a number" % (what, name, value))
                errors = self.schema_errors(schema, instance)
                if errors:
                    raise Mismatch("%s: header %s: %r: %s" % (what, name, value, errors[0].message))

        # The body.
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        content = response.get("content")
        if not body_expected:
            if body:
                raise Mismatch("%s: an answer to HEAD has a body" % what)
            return rule, where
        if not content:
            if body:
                raise Mismatch("%s: a body where the description has none: %r" % (what, body[:200]))
            return rule, where
        content_type = dict(pairs).get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media not in {k.lower() for k in content}:
            raise Mismatch("%s: Content-Type %r is not one of %s" % (what, content_type, sorted(content)))
        schema = {k.lower(): v for k, v in content.items()}[media].get("schema")
        if schema is None:
            return rule, where
        if media == "application/json" or media.endswith("+json"):
            try:
                instance = parse_json(body or "")
            except ValueError as e:
                raise Mismatch("%s: the body is not JSON (%s): %r" % (what, e, (body or "")[:200]))
        else:
            instance = body
        errors = self.schema_errors(schema, instance)
        if errors:
            e = errors[0]
            raise Mismatch("%s: %s (at %s) in %s" % (
                what, e.message, "/".join(str(p) for p in e.absolute_path) or "the body",
                json.dumps(instance)[:500]))
        return rule, where
