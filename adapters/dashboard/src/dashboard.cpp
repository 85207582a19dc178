#include "chatbotmgr/dashboard/dashboard.hpp"

#include <boost/beast/http/field.hpp>

#include "assets.hpp"

namespace chatbotmgr::dashboard {

namespace http = boost::beast::http;
using beast::Api;

namespace {

constexpr std::string_view kAssetsPrefix = "/assets/";

std::string_view path_of(std::string_view target) noexcept {
    return target.substr(0, target.find('?'));
}

// RFC 9110 section 13.1.2: If-None-Match matches when it is "*" or lists the ETag (weak
// comparison: a W/ prefix is ignored).
bool none_match(std::string_view header, std::string_view etag) noexcept {
    while (!header.empty()) {
        const std::size_t comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == "*" || item == etag) return true;
    }
    return false;
}

Api::Response base_response(const Api::Request& req, http::status status) {
    Api::Response res{status, req.version()};
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.keep_alive(req.keep_alive());
    return res;
}

Api::Response not_found(const Api::Request& req) {
    Api::Response res = base_response(req, http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.body() = "not found\n";
    res.prepare_payload();
    return res;
}

Api::Response file_response(const Api::Request& req, const detail::Asset& asset) {
    const bool unchanged = none_match(req[http::field::if_none_match], asset.etag);
    Api::Response res =
        base_response(req, unchanged ? http::status::not_modified : http::status::ok);
    res.set(http::field::cache_control,
            asset.immutable ? "public, max-age=31536000, immutable" : "no-store");
    res.set(http::field::etag, asset.etag);
    if (unchanged) return res;  // 304: no body, no Content-Length (RFC 9110 15.4.5)
    res.set(http::field::content_type, asset.content_type);
    res.body().assign(asset.body);
    res.prepare_payload();
    return res;
}

}  // namespace

bool handles(std::string_view target) noexcept {
    const std::string_view path = path_of(target);
    return path == "/" || path.starts_with(kAssetsPrefix);
}

std::optional<Api::Response> answer(const Api::Request& request) {
    if (!handles(request.target())) return std::nullopt;
    if (request.method() != http::verb::get && request.method() != http::verb::head)
        return std::nullopt;
    const std::string_view path = path_of(request.target());
    Api::Response res = not_found(request);
    for (const detail::Asset& asset : detail::assets())
        if (asset.path == path) {
            res = file_response(request, asset);
            break;
        }
    if (request.method() == http::verb::head) res.body().clear();  // Content-Length stays
    return res;
}

beast::FallbackHandler handler() {
    return [](const Api::Request& request) { return answer(request); };
}

}  // namespace chatbotmgr::dashboard
