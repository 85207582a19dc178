"""docs/openapi.yaml: an OpenAPI 3.1 document whose schemas are valid JSON Schema 2020-12,
that covers every endpoint of the API specification, and whose schemas accept the examples
of the specification and reject what it forbids; plus what third-party tools need of it
(issue 10): open settings objects, typed enums and consts, 405/431 and the common headers
on every operation, an HTTP bearer scheme for the API key, and a valid example for every
request and success answer."""

import argparse

from jsonschema import Draft202012Validator

from common import Failure, OpenApi, check, run

ENDPOINTS = {
    "/api/v1/chatbots": {"get", "post"},
    "/api/v1/chatbots/{id}": {"get", "patch", "delete"},
    "/api/v1/chatbots/{id}/rotate-key": {"post"},
    "/api/v1/chatbots/{id}/key": {"get"},
    "/api/v1/chatbots/{id}/previous-key": {"delete"},
    "/api/v1/capture": {"post"},
    "/api/v1/auth/login": {"post"},
    "/api/v1/auth/logout": {"post"},
    "/api/v1/auth/session": {"get"},
    "/api/v1/members": {"get"},
    "/api/v1/members/{user_id}": {"patch", "delete"},
    "/api/v1/invitations": {"get", "post"},
    "/api/v1/invitations/accept": {"post"},
    "/api/v1/invitations/{id}": {"delete"},
    "/api/v1/audit-events": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}
ERROR_CODES = {"invalid_request", "unauthorized", "csrf_rejected", "forbidden", "not_found",
               "method_not_allowed", "conflict", "idempotency_in_progress", "idempotency_key_reused",
               "payload_too_large", "header_too_large",
               "unsupported_media_type", "rate_limited", "internal", "unavailable"}
# Session routes: a role may be refused (API.md section 10).
ROLE_CHECKED = {
    ("post", "/api/v1/chatbots"), ("patch", "/api/v1/chatbots/{id}"), ("delete", "/api/v1/chatbots/{id}"),
    ("post", "/api/v1/chatbots/{id}/rotate-key"), ("delete", "/api/v1/chatbots/{id}/previous-key"),
    ("get", "/api/v1/invitations"),
    ("post", "/api/v1/invitations"), ("delete", "/api/v1/invitations/{id}"),
    ("patch", "/api/v1/members/{user_id}"), ("delete", "/api/v1/members/{user_id}"),
    ("get", "/api/v1/audit-events"),
}
# Retry-safe with Idempotency-Key (API.md section 14).
IDEMPOTENT = {("post", "/api/v1/chatbots"), ("post", "/api/v1/chatbots/{id}/rotate-key"),
              ("post", "/api/v1/invitations")}
SESSION_ROUTES = {"/api/v1/auth/session", "/api/v1/members", "/api/v1/members/{user_id}",
                  "/api/v1/invitations", "/api/v1/invitations/{id}", "/api/v1/audit-events"}
USER = {"id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "email": "grace@example.com"}
ORG = {"id": "3c2b1a09-f8e7-4d6c-b5a4-93827160f5e4", "name": "Acme"}
INVITATION = {"id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", "email": "grace@example.com", "role": "member",
              "created_at": "2024-01-15T10:00:00Z", "expires_at": "2024-01-22T10:00:00Z"}
MEMBER = {"user_id": USER["id"], "email": USER["email"], "role": "admin", "created_at": "2024-01-15T10:00:00Z"}
CHATBOT = {"id": "5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b", "name": "Support Bot",
           "api_key_prefix": "ob_live_a1b2c3...", "settings": {"onboarded": True},
           "created_at": "2024-01-15T10:00:00Z"}
KEY = "ob_live_" + "0123456789abcdef" * 2


def walk_refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                found.append(v)
            else:
                walk_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, found)


def accepts(api, schema_name, instance):
    return api.validator({"$ref": "#/components/schemas/" + schema_name}).is_valid(instance)


def walk_schemas(node, where, found):
    """Every dict under a schema-bearing key, with where it is."""
    if isinstance(node, dict):
        found.append((where, node))
        for k, v in node.items():
            walk_schemas(v, where + "/" + str(k), found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_schemas(v, "%s/%d" % (where, i), found)


def check_tooling(api):
    """What generators, linters and contract testers need of the document."""
    doc = api.doc
    schemas = doc["components"]["schemas"]

    # Open objects are open: a bare `type: object` becomes Record<string, never> in
    # openapi-typescript, so a generated client could not send real settings.
    for name in ("Settings", "SettingsPatch", "NestedObject", "CaptureUser"):
        check(schemas[name].get("additionalProperties") is True, "%s: additionalProperties is not true" % name)
    patch_settings = api.resolve(schemas["PatchChatbotRequest"]["properties"]["settings"])
    check(patch_settings.get("additionalProperties") is True, "PATCH settings is a closed object")
    everything = []
    walk_schemas(doc, "#", everything)
    for where, node in everything:
        if node.get("type") == "object" and "/examples/" not in where and "properties" not in node \
                and "additionalProperties" not in node and node.get("maxProperties") != 0:
            raise Failure("%s: an object schema that says nothing of its members" % where)
        # Every enum and const says its type (for generators and the no-enum-type-mismatch rule).
        if ("enum" in node or "const" in node) and "/examples/" not in where:
            check("type" in node, "%s: enum/const without type" % where)

    name = schemas["Name"]
    check(name.get("minLength") == 1 and name.get("maxLength") == 100, "Name is not 1 to 100 characters")
    check(accepts(api, "CreateChatbotRequest", {"name": "x" * 100}), "a 100-character name is rejected")
    check(not accepts(api, "CreateChatbotRequest", {"name": "x" * 101}), "a 101-character name is accepted")
    check(not accepts(api, "CreateChatbotRequest", {"name": "a\u0007b"}), "a control character is accepted")
    capture = {"conversationId": "c", "messages": [{"role": "user", "content": "x"}]}
    check(accepts(api, "CaptureRequest", dict(capture, user={"id": 42})), "a numeric user.id is rejected")
    check(accepts(api, "CaptureRequest", dict(capture, user={"id": "u"})), "a string user.id is rejected")
    check(not accepts(api, "CaptureRequest", dict(capture, user={"id": True})), "a boolean user.id is accepted")
    check(accepts(api, "PatchChatbotRequest", {"settings": {"theme": {"color": "blue"}, "limits": {"max": 3}}}),
          "nested settings are rejected")

    # The API key is an HTTP bearer credential.
    schemes = doc["components"]["securitySchemes"]
    check("apiKey" not in schemes, "the API-key scheme is still named apiKey")
    capture_op = doc["paths"]["/api/v1/capture"]["post"]
    for requirement in capture_op["security"]:
        for scheme in requirement:
            check(schemes[scheme].get("type") == "http" and schemes[scheme].get("scheme") == "bearer",
                  "capture's scheme %s is not an HTTP bearer scheme" % scheme)

    for method, template, op in api.operations():
        what = "%s %s" % (method.upper(), template)
        responses = op["responses"]
        # 405 (a known path, another method) and 431 (any request) can come on every path.
        check("405" in responses and api.resolve(responses["405"]) is api.resolve(
            {"$ref": "#/components/responses/MethodNotAllowed"}), "%s: no 405" % what)
        check("431" in responses, "%s: no 431" % what)
        for status, response in responses.items():
            response = api.resolve(response)
            headers = {k: api.resolve(v) for k, v in (response.get("headers") or {}).items()}
            # API.md section 7: on every JSON answer.
            for header, value in (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")):
                check(header in headers and headers[header].get("required") is True,
                      "%s %s: %s not declared (required)" % (what, status, header))
                check(api.schema_errors(headers[header]["schema"], value) == [],
                      "%s %s: %s schema rejects %r" % (what, status, header, value))
        if template == "/api/v1/auth/logout":
            for status in ("200", "401"):
                headers = api.resolve(responses[status]).get("headers", {})
                check("Set-Cookie" in headers, "logout %s: Set-Cookie not documented" % status)
                cookie = api.resolve(headers["Set-Cookie"])
                check(api.schema_errors(cookie["schema"], "ob_session=; Path=/; HttpOnly; SameSite=Lax; "
                                        "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT") == [],
                      "logout %s: the clearing cookie does not match its schema" % status)

        # One example per operation: request (where there is a body) and success answer,
        # each valid against its schema.
        if "requestBody" in op:
            media = api.resolve(op["requestBody"])["content"]["application/json"]
            check_examples(api, media, what + " request")
        success = [s for s in responses if s.startswith("2")]
        for status in success:
            media = api.resolve(responses[status])["content"]["application/json"]
            check_examples(api, media, "%s %s" % (what, status))


def check_examples(api, media, what):
    examples = [e["value"] for e in (media.get("examples") or {}).values()]
    if "example" in media:
        examples.append(media["example"])
    check(examples, "%s: no example" % what)
    for value in examples:
        errors = api.schema_errors(media["schema"], value)
        check(not errors, "%s: the example is invalid: %s" % (what, errors and errors[0].message))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openapi", required=True)
    api = OpenApi(ap.parse_args().openapi)
    doc = api.doc

    check(str(doc.get("openapi", "")).startswith("3.1."), "not OpenAPI 3.1: %r" % doc.get("openapi"))
    for key in ("info", "paths", "components"):
        check(key in doc, "missing top-level %s" % key)
    check(doc["info"].get("title") and doc["info"].get("version"), "info needs title and version")

    # Every $ref resolves.
    refs = []
    walk_refs(doc, refs)
    for ref in refs:
        check(ref.startswith("#/"), "external $ref %s" % ref)
        node = doc
        for part in ref[2:].split("/"):
            check(isinstance(node, dict) and part in node, "dangling $ref %s" % ref)
            node = node[part]

    # Every schema is valid JSON Schema 2020-12.
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)

    # Every endpoint and method of the specification, each with JSON answers.
    check(set(doc["paths"]) == set(ENDPOINTS), "paths differ: %s" % sorted(doc["paths"]))
    security_schemes = set(doc["components"]["securitySchemes"])
    for path, methods in ENDPOINTS.items():
        item = doc["paths"][path]
        present = {m for m in item if m in ("get", "post", "put", "patch", "delete")}
        check(present == methods, "%s: methods %s" % (path, sorted(present)))
        for method in methods:
            op = item[method]
            check(op.get("operationId"), "%s %s: no operationId" % (method, path))
            check("200" in op["responses"], "%s %s: no 200" % (method, path))
            for status, response in op["responses"].items():
                response = api.resolve(response)
                check("application/json" in response.get("content", {}),
                      "%s %s %s: no application/json body" % (method, path, status))
                if status in ("429", "503"):
                    check("Retry-After" in response.get("headers", {}),
                          "%s %s %s: no Retry-After" % (method, path, status))
            for requirement in op.get("security", doc.get("security", [])):
                for scheme in requirement:
                    check(scheme in security_schemes, "unknown security scheme %s" % scheme)
            if path.startswith("/api/v1/chatbots") or path.endswith("logout") or path in SESSION_ROUTES:
                check("401" in op["responses"], "%s %s: no 401" % (method, path))
            if "{" in path:
                check("404" in op["responses"], "%s %s: no 404" % (method, path))
            if (method, path) in ROLE_CHECKED:
                # 403: the role (forbidden with required_role), or for a write CSRF too.
                forbidden = api.resolve(op["responses"].get("403", {}))
                schema = forbidden.get("content", {}).get("application/json", {}).get("schema", {})
                role_refusal = {"ok": False, "error": {"code": "forbidden", "message": "x",
                                                       "required_role": "admin"}}
                check(schema and api.schema_errors(schema, role_refusal) == [],
                      "%s %s: no 403 forbidden with required_role" % (method, path))
                check(api.schema_errors(schema, {"ok": False, "error": {"code": "forbidden", "message": "x"}}),
                      "%s %s: a 403 forbidden without required_role is accepted" % (method, path))
                if method != "get":
                    check(api.schema_errors(schema, {"ok": False, "error": {
                        "code": "csrf_rejected", "message": "x"}}) == [],
                          "%s %s: 403 csrf_rejected not described" % (method, path))
            if (method, path) in IDEMPOTENT:
                params = [api.resolve(p) for p in op.get("parameters", [])]
                key = [p for p in params if p.get("in") == "header" and p.get("name") == "Idempotency-Key"]
                check(key, "%s %s: no Idempotency-Key parameter" % (method, path))
                check(api.schema_errors(key[0]["schema"], "a" * 255) == [] and
                      api.schema_errors(key[0]["schema"], "a" * 256) != [] and
                      api.schema_errors(key[0]["schema"], "a b") != [] and
                      api.schema_errors(key[0]["schema"], "") != [],
                      "%s %s: Idempotency-Key is not 1 to 255 visible ASCII characters" % (method, path))
                ok_headers = api.resolve(op["responses"]["200"]).get("headers", {})
                check("Idempotent-Replayed" in ok_headers, "%s %s: no Idempotent-Replayed" % (method, path))
                for status, code in (("409", "idempotency_in_progress"), ("422", "idempotency_key_reused")):
                    response = api.resolve(op["responses"].get(status, {}))
                    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                    check(schema and api.schema_errors(schema, {"ok": False, "error": {"code": code, "message": "x"}}) == [],
                          "%s %s: no %s %s" % (method, path, status, code))
            if method in ("post", "patch") and path not in ("/healthz", "/readyz"):
                for status in ("413", "415", "400"):
                    check(status in op["responses"], "%s %s: no %s" % (method, path, status))

    check_tooling(api)

    # The error schema lists exactly the codes of the specification.
    codes = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    check(codes == ERROR_CODES, "error codes differ: %s" % sorted(codes ^ ERROR_CODES))

    # The specification's examples are accepted...
    check(accepts(api, "Chatbot", CHATBOT), "Chatbot rejects the example")
    check(accepts(api, "ChatbotList", [CHATBOT, CHATBOT]), "ChatbotList")
    check(accepts(api, "ChatbotWithKey", {"ok": True, "chatbot": CHATBOT, "apiKey": KEY}), "ChatbotWithKey")
    check(accepts(api, "Error", {"ok": False, "error": {"code": "not_found", "message": "chatbot not found"}}), "Error")
    check(accepts(api, "Ok", {"ok": True}), "Ok")
    check(accepts(api, "CaptureResponse", {"ok": True, "conversationId": CHATBOT["id"], "messagesStored": 2,
                                           "analysisQueued": False, "warnings": []}), "CaptureResponse")
    check(accepts(api, "CaptureRequest", {
        "conversationId": "conv_123",
        "messages": [{"role": "user", "content": "How do I cancel?", "id": "msg_001", "sentAt": "2024-01-15T10:00:00Z"},
                     {"role": "assistant", "content": "Go to Settings...", "id": "msg_002"}],
        "user": {"id": "user_456", "name": "Ada"}, "custom": {"plan": "pro"}}), "CaptureRequest")
    check(accepts(api, "CreateChatbotRequest", {"name": "My Chatbot"}), "CreateChatbotRequest")
    check(accepts(api, "PatchChatbotRequest", {}), "PatchChatbotRequest {}")
    check(accepts(api, "LoginRequest", {"email": "a@example.com", "password": "x"}), "LoginRequest")
    check(accepts(api, "LoginResponse", {"ok": True, "token": "ob_sess_" + "ab" * 32,
                                         "user": {"id": CHATBOT["id"], "email": "a@example.com"},
                                         "organization": {"id": CHATBOT["id"], "name": "Acme"}}), "LoginResponse")
    # Teams (API.md section 10).
    check(accepts(api, "SessionResponse", {"ok": True, "user": USER, "organization": ORG, "role": "admin"}),
          "SessionResponse")
    check(accepts(api, "MemberList", [MEMBER, dict(MEMBER, role="owner")]), "MemberList")
    check(accepts(api, "RoleChangeRequest", {"role": "viewer"}), "RoleChangeRequest")
    check(accepts(api, "InvitationRequest", {"email": "grace@example.com", "role": "member"}), "InvitationRequest")
    check(accepts(api, "InvitationList", [INVITATION]), "InvitationList")
    check(accepts(api, "InvitationWithToken", {"ok": True, "invitation": INVITATION, "token": "ob_inv_" + "ab" * 32}),
          "InvitationWithToken")
    check(accepts(api, "AcceptInvitationRequest", {"token": "ob_inv_" + "ab" * 32, "password": "x"}),
          "AcceptInvitationRequest")
    check(accepts(api, "ForbiddenError", {"ok": False, "error": {
        "code": "forbidden", "message": "your role does not allow this", "required_role": "owner"}}), "ForbiddenError")
    check(accepts(api, "Error", {"ok": False, "error": {"code": "conflict", "message": "last owner"}}), "conflict")
    # Key lifecycle (API.md sections 11 and 12).
    key_info = {"api_key_prefix": "ob_live_a1b2c3...", "created_at": "2024-01-15T10:00:00Z",
                "expires_at": None, "last_used_at": None, "previous": None}
    check(accepts(api, "KeyInfo", key_info), "KeyInfo")
    check(accepts(api, "KeyInfo", dict(key_info, previous={
        "api_key_prefix": "ob_live_000000...", "expires_at": "2024-01-16T10:00:00Z",
        "last_used_at": "2024-01-15T10:05:00Z"})), "KeyInfo with a previous key")
    check(accepts(api, "RotateKeyRequest", {"grace_seconds": 604800}), "RotateKeyRequest")
    check(not accepts(api, "RotateKeyRequest", {"grace_seconds": 604801}), "a grace of 7 days + 1 s")
    check(not accepts(api, "RotateKeyRequest", {"grace_seconds": 1.5}), "a fractional grace")
    check(accepts(api, "GraceEnded", {"ok": True, "revoked": False}), "GraceEnded")
    check(not accepts(api, "ChatbotWithKey", {"ok": True, "chatbot": CHATBOT, "apiKey": KEY,
                                              "previousKeyExpiresAt": "2024-01-16T10:00:00Z"}),
          "a create answer with previousKeyExpiresAt")
    # Audit log (API.md section 13).
    event = {"id": "018d0b6e-5f40-7a3c-9d2e-4b1a0c9f8e7d", "time": "2024-01-15T10:20:00Z",
             "action": "member.role_changed",
             "actor": {"type": "user", "id": USER["id"], "email": USER["email"]},
             "target": {"type": "member", "id": MEMBER["user_id"], "name": MEMBER["email"]},
             "ip": "203.0.113.7", "user_agent": "curl/8.5.0", "changes": {"from": "member", "to": "admin"}}
    check(accepts(api, "AuditEventList", [event]), "AuditEventList")
    system = dict(event, actor={"type": "system", "id": None, "email": None}, ip=None, user_agent=None,
                  target={"type": "invitation", "id": INVITATION["id"], "name": None}, changes={})
    check(accepts(api, "AuditEvent", system), "a system event with null members")
    check(accepts(api, "AuditEvent", dict(event, time="2024-01-15T10:20:00.123Z")), "an audit time with milliseconds")
    check(not accepts(api, "AuditEvent", dict(event, action="chatbot.exploded")), "an unknown action is accepted")
    check(not accepts(api, "AuditEvent", dict(event, api_key=KEY)), "AuditEvent accepts an extra field")
    check(not accepts(api, "AuditEvent", {k: v for k, v in event.items() if k != "ip"}), "an event without ip")
    check(not accepts(api, "AuditEvent", dict(event, actor={"type": "robot", "id": None, "email": None})),
          "an unknown actor type is accepted")
    # ...and what it forbids is not.
    check(not accepts(api, "RoleChangeRequest", {"role": "boss"}), "an unknown role is accepted")
    check(not accepts(api, "RoleChangeRequest", {"role": "admin", "user_id": USER["id"]}), "an extra field accepted")
    check(not accepts(api, "Member", dict(MEMBER, password="x")), "Member accepts an extra field")
    check(not accepts(api, "SessionResponse", {"ok": True, "user": USER, "organization": ORG}), "a session without role")
    check(not accepts(api, "InvitationList", [dict(INVITATION, token="ob_inv_" + "ab" * 32)]),
          "a listed invitation may show its token")
    check(not accepts(api, "InvitationWithToken", {"ok": True, "invitation": INVITATION, "token": "ob_inv_12"}),
          "a malformed invitation token is accepted")
    check(not accepts(api, "ForbiddenError", {"ok": False, "error": {
        "code": "forbidden", "message": "x", "required_role": "root"}}), "an unknown required_role is accepted")
    check(not accepts(api, "Chatbot", dict(CHATBOT, api_key="x")), "Chatbot accepts an extra field")
    check(not accepts(api, "Chatbot", dict(CHATBOT, id=CHATBOT["id"].upper())), "Chatbot accepts an uppercase id")
    check(not accepts(api, "Chatbot", dict(CHATBOT, created_at="2024-01-15T10:00:00.5Z")), "fractional created_at")
    check(not accepts(api, "CreateChatbotRequest", {"nmae": "x"}), "unknown create field accepted")
    check(not accepts(api, "CreateChatbotRequest", {"name": None}), "null name accepted")
    check(not accepts(api, "PatchChatbotRequest", {"settings": None}), "null settings accepted")
    check(not accepts(api, "CaptureRequest", {"conversationId": "c", "messages": []}), "empty messages accepted")
    check(not accepts(api, "CaptureRequest", {"conversationId": "c", "messages": [{"role": "robot", "content": "x"}]}),
          "bad role accepted")
    check(not accepts(api, "Error", {"ok": False, "error": {"code": "teapot", "message": "x"}}), "unknown code accepted")
    check(not accepts(api, "ChatbotWithKey", {"ok": True, "chatbot": CHATBOT, "apiKey": "ob_sess_x"}), "bad key accepted")


if __name__ == "__main__":
    run(main)
