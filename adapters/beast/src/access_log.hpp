// Internal: what an access-log line may say about a request. A client controls every byte
// of its request line, and clients paste credentials in odd places (the method, the path,
// percent-encoded), so nothing of it is written as sent.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "chatbotmgr/beast/operations.hpp"

namespace chatbotmgr::beast::detail {

// The method as logged: one of the methods of RFC 9110 and PATCH (RFC 5789) as is,
// "OTHER" for any other token (which could be anything, a key included), "-" when the
// request line did not get that far.
std::string_view loggable_method(boost::beast::http::verb method,
                                 std::string_view method_text) noexcept;

// Appends the path of target as logged: no query; an absolute-form target
// ("http://host/p") as its path; a segment that looks like a key or a token -- as sent or
// once percent-decoded, in any letter case -- replaced by "[redacted]"; bytes that could
// forge a log line (controls, space, non-ASCII, '%') percent-encoded; at most 256 bytes,
// then "...".
void append_loggable_path(std::string& out, std::string_view target);

// The access-log line: "http: METHOD PATH STATUS 0.412ms".
std::string access_log_line(boost::beast::http::verb method, std::string_view method_text,
                            std::string_view target, unsigned status, double milliseconds);

// The access-log line of --log-format json: one JSON object, no newline --
// {"time":"2025-01-31T09:30:00.123Z","level":"info","method":"GET","route":"chatbot",
//  "path":"/api/v1/chatbots/...","status":200,"duration_ms":0.412,"bytes":312,
//  "request_id":"...","client":"127.0.0.1"}. level: "info" below 500, "error" from 500
// (and for status 0: no answer was sent).
std::string access_log_json(const RequestRecord& request);

// True when s holds something that looks like a key or a token (the prefixes of
// looks_like_secret, secrets.hpp), in any letter case.
bool carries_secret(std::string_view s) noexcept;

// X-Request-Id: a client's value is used when it is 1 to 128 characters of
// [A-Za-z0-9._:-] and does not look like a secret; otherwise the request gets a fresh id.
inline constexpr std::size_t kMaxRequestIdLength = 128;
inline constexpr std::string_view kRequestIdField = "X-Request-Id";
bool acceptable_request_id(std::string_view id) noexcept;
// A fresh id: 32 lowercase hex digits (128 random bits; not a secret, not a CSPRNG).
std::string new_request_id();

// The login outcome that a login answer's status stands for.
LoginOutcome login_outcome(unsigned status) noexcept;

}  // namespace chatbotmgr::beast::detail
