#include "request_head.hpp"

#include <cstdint>
#include <limits>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>

#include "text.hpp"

namespace chatbotmgr::beast::detail {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kEndOfHeader = "\r\n\r\n";

bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// uri-host [ ":" port ] (RFC 3986): reg-name characters, IP literals in brackets, percent
// escapes; nothing that could end the authority ('/', '?', '#', '@') or a field (controls,
// spaces).
bool is_host_value(std::string_view v) noexcept {
    for (char c : v) {
        if (is_alpha(c) || is_digit(c)) continue;
        if (std::string_view("-._~!$&'()*+,;=%:[]").find(c) == std::string_view::npos) return false;
    }
    return true;
}

}  // namespace

std::optional<std::size_t> header_block_length(std::string_view data, std::size_t from) noexcept {
    from = from >= kEndOfHeader.size() - 1 ? from - (kEndOfHeader.size() - 1) : 0;
    const std::size_t end = data.find(kEndOfHeader, from);
    if (end == std::string_view::npos) return std::nullopt;
    return end + kEndOfHeader.size();
}

bool hopeless_header_start(std::string_view data) {
    // A parser of its own: it reads the start and is thrown away (it may have taken part of
    // the bytes), so the connection's parser still sees the whole block once it is in.
    http::request_parser<http::empty_body> probe;
    probe.header_limit(std::numeric_limits<std::uint32_t>::max());  // the caller's limit
    boost::system::error_code ec;
    probe.put(boost::asio::buffer(data.data(), data.size()), ec);
    return ec && ec != http::error::need_more;
}

bool has_obs_fold(std::string_view block) noexcept {
    // The last CRLF before the empty line ends the last field line: only CRLFs before it
    // can start a continuation.
    const std::size_t end =
        block.ends_with(kEndOfHeader) ? block.size() - kEndOfHeader.size() + 2 : block.size();
    for (std::size_t i = block.find("\r\n"); i != std::string_view::npos && i + 2 < end;
         i = block.find("\r\n", i + 2)) {
        if (is_ows(block[i + 2])) return true;
    }
    return false;
}

std::string_view framing_error(const http::request_header<>& head) {
    const std::size_t codings = head.count(http::field::transfer_encoding);
    if (codings > 0) {
        if (codings > 1) return "Transfer-Encoding given more than once";
        if (head.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
        if (head.count(http::field::content_length) > 0)
            return "Transfer-Encoding together with Content-Length";
        if (!boost::beast::iequals(trim_ows(head[http::field::transfer_encoding]), "chunked"))
            return "Transfer-Encoding other than chunked";
    }
    const std::size_t hosts = head.count(http::field::host);
    if (hosts > 1) return "more than one Host";
    if (hosts == 0 && head.version() >= 11) return "Host missing";
    if (hosts == 1 && !is_host_value(head[http::field::host])) return "Host is not a host";
    return {};
}

std::optional<std::string_view> origin_form(std::string_view target) noexcept {
    if (target.empty() || target.front() == '/') return target;
    // scheme "://" (the only absolute form an HTTP server serves: http and https).
    std::size_t scheme = 0;
    if (boost::beast::iequals(target.substr(0, 7), "http://"))
        scheme = 7;
    else if (boost::beast::iequals(target.substr(0, 8), "https://"))
        scheme = 8;
    else
        return target;  // "*", authority-form, other schemes: no route has them (404)
    std::string_view rest = target.substr(scheme);
    const std::size_t end = std::min(rest.find_first_of("/?#"), rest.size());
    const std::string_view authority = rest.substr(0, end);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !is_host_value(authority))
        return std::nullopt;
    rest.remove_prefix(end);
    if (rest.empty()) return std::string_view("/");
    if (rest.front() == '/') return rest;
    // "http://host?q": the empty path is "/" (RFC 9112 section 3.2.1); the query stays.
    // Routes ignore the query, so "/" alone is what matters for matching.
    return std::string_view("/");
}

}  // namespace chatbotmgr::beast::detail
