#include "responses.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <boost/beast/http/field.hpp>

#include "wire.hpp"

namespace chatbotmgr::beast::detail {

namespace http = boost::beast::http;
using http::status;

namespace {

// Every error the HTTP layer answers, in the order of the HttpError enum.
// clang-format off
constexpr std::array kErrors = {
//           error                              status                                    code                      message                                                        WWW-Authenticate
    ErrorRow{HttpError::invalid_request,        status::bad_request,                      "invalid_request",        "invalid request",                                             {}},
    ErrorRow{HttpError::malformed_http,         status::bad_request,                      "invalid_request",        "malformed HTTP request",                                      {}},
    ErrorRow{HttpError::unauthorized,           status::unauthorized,                     "unauthorized",           "missing or invalid credentials",                              "Bearer"},
    ErrorRow{HttpError::bad_login,              status::unauthorized,                     "unauthorized",           "invalid email or password",                                   "Bearer"},
    ErrorRow{HttpError::csrf_rejected,          status::forbidden,                        "csrf_rejected",          "cross-site request rejected: Origin missing or not allowed", {}},
    ErrorRow{HttpError::forbidden,              status::forbidden,                        "forbidden",              "your role does not allow this",                               {}},
    ErrorRow{HttpError::not_found,              status::not_found,                        "not_found",              "no such route",                                               {}},
    ErrorRow{HttpError::chatbot_not_found,      status::not_found,                        "not_found",              "chatbot not found",                                           {}},
    ErrorRow{HttpError::method_not_allowed,     status::method_not_allowed,               "method_not_allowed",     "method not allowed",                                          {}},
    ErrorRow{HttpError::conflict,               status::conflict,                         "conflict",               "conflict",                                                    {}},
    ErrorRow{HttpError::idempotency_in_progress, status::conflict,                        "idempotency_in_progress", "a request with this Idempotency-Key is still in progress",   {}},
    ErrorRow{HttpError::idempotency_key_reused, status::unprocessable_entity,             "idempotency_key_reused", "this Idempotency-Key was used with a different request",      {}},
    ErrorRow{HttpError::payload_too_large,      status::payload_too_large,                "payload_too_large",      "request body too large",                                      {}},
    ErrorRow{HttpError::unsupported_media_type, status::unsupported_media_type,           "unsupported_media_type", "request body must be application/json",                       {}},
    ErrorRow{HttpError::rate_limited,           status::too_many_requests,                "rate_limited",           "too many failed attempts; retry later",                       {}},
    ErrorRow{HttpError::header_too_large,       status::request_header_fields_too_large,  "header_too_large",       "request header block too large",                              {}},
    ErrorRow{HttpError::internal,               status::internal_server_error,            "internal",               "internal error",                                              {}},
    ErrorRow{HttpError::unavailable,            status::service_unavailable,              "unavailable",            "storage unavailable; retry later",                            {}},
    ErrorRow{HttpError::overloaded,             status::service_unavailable,              "unavailable",            "server busy; retry later",                                    {}},
};
// clang-format on

constexpr bool in_enum_order() {
    for (std::size_t i = 0; i < kErrors.size(); ++i)
        if (static_cast<std::size_t>(kErrors[i].error) != i) return false;
    return true;
}
static_assert(in_enum_order(), "kErrors must list every HttpError in enum order");

// How each core error code answers.
constexpr std::pair<ErrorCode, HttpError> kFromCore[] = {
    {ErrorCode::invalid_argument, HttpError::invalid_request},
    {ErrorCode::not_found, HttpError::chatbot_not_found},
    {ErrorCode::unauthenticated, HttpError::unauthorized},
    {ErrorCode::forbidden, HttpError::forbidden},
    {ErrorCode::unavailable, HttpError::unavailable},
    // The last owner, a taken email, a full organization: the core's message says which.
    {ErrorCode::conflict, HttpError::conflict},
    {ErrorCode::idempotency_in_progress, HttpError::idempotency_in_progress},
    {ErrorCode::idempotency_key_reused, HttpError::idempotency_key_reused},
    {ErrorCode::internal, HttpError::internal},
};

}  // namespace

const ErrorRow& error_row(HttpError e) noexcept {
    return kErrors[static_cast<std::size_t>(e)];
}

HttpError http_error_of(ErrorCode code) noexcept {
    for (const auto& [core, http_error] : kFromCore)
        if (core == code) return http_error;
    return HttpError::internal;
}

Response json_response(status s, std::string body, ResponseShape shape) {
    Response res{s, shape.version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(shape.keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

Response error_response(HttpError e, ResponseShape shape, std::string_view message,
                        std::optional<Role> required_role) {
    const ErrorRow& row = error_row(e);
    Response res = json_response(
        row.status,
        wire::encode_error(row.code, message.empty() ? row.message : message, required_role),
        shape);
    if (!row.www_authenticate.empty()) res.set(http::field::www_authenticate, row.www_authenticate);
    return res;
}

void set_retry_after(Response& res, std::chrono::seconds after) {
    res.set(http::field::retry_after, std::to_string(std::max<long long>(after.count(), 1)));
}

}  // namespace chatbotmgr::beast::detail
