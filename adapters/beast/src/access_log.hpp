// Internal: what an access-log line may say about a request. A client controls every byte
// of its request line, and clients paste credentials in odd places (the method, the path,
// percent-encoded), so nothing of it is written as sent.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

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

}  // namespace chatbotmgr::beast::detail
