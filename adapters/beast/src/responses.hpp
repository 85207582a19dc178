// Internal: JSON responses and THE mapping from errors to HTTP statuses.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::beast::detail {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

// Every error the HTTP layer can answer (API.md section 6).
enum class HttpError {
    invalid_request,         // 400
    malformed_http,          // 400, the request could not be parsed as HTTP
    unauthorized,            // 401
    bad_login,               // 401, wrong email or password
    csrf_rejected,           // 403
    not_found,               // 404, unknown route
    chatbot_not_found,       // 404, unknown id (or another organization's)
    method_not_allowed,      // 405
    payload_too_large,       // 413
    unsupported_media_type,  // 415
    rate_limited,            // 429
    header_too_large,        // 431
    internal,                // 500
    unavailable,             // 503, storage
    overloaded,              // 503, too many connections or shutting down
};

// The one place where a core ErrorCode becomes an HTTP answer.
HttpError map_error_code(ErrorCode code) noexcept;

boost::beast::http::status status_of(HttpError e) noexcept;
std::string_view code_of(HttpError e) noexcept;
std::string_view default_message(HttpError e) noexcept;

// A response with the JSON headers every answer carries (Content-Type, Cache-Control:
// no-store, X-Content-Type-Options: nosniff) and Content-Length set.
Response json_response(boost::beast::http::status status, std::string body, unsigned version,
                       bool keep_alive);

// {"ok":false,"error":{"code":..,"message":..}}; message defaults to default_message(e).
Response error_response(HttpError e, unsigned version, bool keep_alive,
                        std::string_view message = {});

// Sets Retry-After (whole seconds, at least 1).
void set_retry_after(Response& res, std::chrono::seconds after);

}  // namespace chatbotmgr::beast::detail
