"""docs/openapi.yaml: an OpenAPI 3.1 document whose schemas are valid JSON Schema 2020-12,
that covers every endpoint of the API specification, and whose schemas accept the examples
of the specification and reject what it forbids."""

import argparse

from jsonschema import Draft202012Validator

from common import Failure, OpenApi, check, run

ENDPOINTS = {
    "/api/v1/chatbots": {"get", "post"},
    "/api/v1/chatbots/{id}": {"get", "patch", "delete"},
    "/api/v1/chatbots/{id}/rotate-key": {"post"},
    "/api/v1/capture": {"post"},
    "/api/v1/auth/login": {"post"},
    "/api/v1/auth/logout": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}
ERROR_CODES = {"invalid_request", "unauthorized", "csrf_rejected", "not_found", "method_not_allowed",
               "payload_too_large", "header_too_large", "unsupported_media_type", "rate_limited",
               "internal", "unavailable"}
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
            if path.startswith("/api/v1/chatbots") or path.endswith("logout"):
                check("401" in op["responses"], "%s %s: no 401" % (method, path))
                if path != "/api/v1/chatbots" or method == "post":
                    pass
            if "{id}" in path:
                check("404" in op["responses"], "%s %s: no 404" % (method, path))
            if method in ("post", "patch") and path not in ("/healthz", "/readyz"):
                for status in ("413", "415", "400"):
                    check(status in op["responses"], "%s %s: no %s" % (method, path, status))

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
    # ...and what it forbids is not.
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
