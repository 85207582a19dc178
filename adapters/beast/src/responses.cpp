#include "responses.hpp"

#include <algorithm>
#include <utility>

#include <boost/beast/http/field.hpp>

#include "chatbotmgr/json.hpp"

namespace chatbotmgr::beast::detail {

namespace http = boost::beast::http;

HttpError map_error_code(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::invalid_argument:
            return HttpError::invalid_request;
        case ErrorCode::not_found:
            return HttpError::chatbot_not_found;
        case ErrorCode::unauthenticated:
            return HttpError::unauthorized;
        case ErrorCode::unavailable:
            return HttpError::unavailable;
        // A uniqueness violation cannot come from a client's input on these routes (ids
        // and keys are 122+ random bits): it is a fault of ours, not a 409 for the client.
        case ErrorCode::conflict:
            return HttpError::internal;
        case ErrorCode::internal:
            return HttpError::internal;
    }
    return HttpError::internal;
}

http::status status_of(HttpError e) noexcept {
    switch (e) {
        case HttpError::invalid_request:
        case HttpError::malformed_http:
            return http::status::bad_request;
        case HttpError::unauthorized:
        case HttpError::bad_login:
            return http::status::unauthorized;
        case HttpError::csrf_rejected:
            return http::status::forbidden;
        case HttpError::not_found:
        case HttpError::chatbot_not_found:
            return http::status::not_found;
        case HttpError::method_not_allowed:
            return http::status::method_not_allowed;
        case HttpError::payload_too_large:
            return http::status::payload_too_large;
        case HttpError::unsupported_media_type:
            return http::status::unsupported_media_type;
        case HttpError::rate_limited:
            return http::status::too_many_requests;
        case HttpError::header_too_large:
            return http::status::request_header_fields_too_large;
        case HttpError::internal:
            return http::status::internal_server_error;
        case HttpError::unavailable:
        case HttpError::overloaded:
            return http::status::service_unavailable;
    }
    return http::status::internal_server_error;
}

std::string_view code_of(HttpError e) noexcept {
    switch (e) {
        case HttpError::invalid_request:
        case HttpError::malformed_http:
            return "invalid_request";
        case HttpError::unauthorized:
        case HttpError::bad_login:
            return "unauthorized";
        case HttpError::csrf_rejected:
            return "csrf_rejected";
        case HttpError::not_found:
        case HttpError::chatbot_not_found:
            return "not_found";
        case HttpError::method_not_allowed:
            return "method_not_allowed";
        case HttpError::payload_too_large:
            return "payload_too_large";
        case HttpError::unsupported_media_type:
            return "unsupported_media_type";
        case HttpError::rate_limited:
            return "rate_limited";
        case HttpError::header_too_large:
            return "header_too_large";
        case HttpError::internal:
            return "internal";
        case HttpError::unavailable:
        case HttpError::overloaded:
            return "unavailable";
    }
    return "internal";
}

std::string_view default_message(HttpError e) noexcept {
    switch (e) {
        case HttpError::invalid_request:
            return "invalid request";
        case HttpError::malformed_http:
            return "malformed HTTP request";
        case HttpError::unauthorized:
            return "missing or invalid credentials";
        case HttpError::bad_login:
            return "invalid email or password";
        case HttpError::csrf_rejected:
            return "cross-site request rejected: Origin missing or not allowed";
        case HttpError::not_found:
            return "no such route";
        case HttpError::chatbot_not_found:
            return "chatbot not found";
        case HttpError::method_not_allowed:
            return "method not allowed";
        case HttpError::payload_too_large:
            return "request body too large";
        case HttpError::unsupported_media_type:
            return "request body must be application/json";
        case HttpError::rate_limited:
            return "too many failed attempts; retry later";
        case HttpError::header_too_large:
            return "request header block too large";
        case HttpError::internal:
            return "internal error";
        case HttpError::unavailable:
            return "storage unavailable; retry later";
        case HttpError::overloaded:
            return "server busy; retry later";
    }
    return "internal error";
}

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive) {
    Response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

Response error_response(HttpError e, unsigned version, bool keep_alive, std::string_view message) {
    if (message.empty()) message = default_message(e);
    std::string body;
    body.reserve(64 + message.size());
    body += R"({"ok":false,"error":{"code":")";
    body += code_of(e);
    body += R"(","message":)";
    append_json_string(body, message);
    body += "}}";
    return json_response(status_of(e), std::move(body), version, keep_alive);
}

void set_retry_after(Response& res, std::chrono::seconds after) {
    res.set(http::field::retry_after, std::to_string(std::max<long long>(after.count(), 1)));
}

}  // namespace chatbotmgr::beast::detail
