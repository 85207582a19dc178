// Internal: how answers are built -- the JSON headers every answer carries, and THE table
// of errors (API.md section 6): one row per error the HTTP layer can answer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::beast::detail {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Every error the HTTP layer can answer; the rows of the table in responses.cpp.
enum class HttpError {
    invalid_request,
    malformed_http,
    unauthorized,
    bad_login,
    csrf_rejected,
    forbidden,
    not_found,
    chatbot_not_found,
    method_not_allowed,
    conflict,
    idempotency_in_progress,
    idempotency_key_reused,
    payload_too_large,
    unsupported_media_type,
    rate_limited,
    header_too_large,
    internal,
    unavailable,
    overloaded,
};

struct ErrorRow {
    HttpError error;
    boost::beast::http::status status;
    std::string_view code;     // "code" of the error body
    std::string_view message;  // the fixed message (invalid_request: the validator's instead)
    std::string_view www_authenticate;  // the challenge of a 401 (RFC 9110 section 11.6.1)
};
const ErrorRow& error_row(HttpError e) noexcept;

// The one place where a core ErrorCode becomes an HTTP error.
HttpError http_error_of(ErrorCode code) noexcept;

// What every answer to one request shares.
struct ResponseShape {
    unsigned version = 11;
    bool keep_alive = true;
};

// A 2xx or error answer with the JSON headers of every answer (Content-Type, Cache-Control:
// no-store, X-Content-Type-Options: nosniff) and Content-Length.
Response json_response(boost::beast::http::status status, std::string body, ResponseShape shape);
// The error answer of the table; message replaces the row's message when not empty;
// required_role is forbidden's (API.md section 10).
Response error_response(HttpError e, ResponseShape shape, std::string_view message = {},
                        std::optional<Role> required_role = std::nullopt);

// Sets Retry-After (whole seconds, at least 1).
void set_retry_after(Response& res, std::chrono::seconds after);

}  // namespace chatbotmgr::beast::detail
