#include "routes.hpp"

#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::beast::detail {

using boost::beast::http::verb;

namespace {
constexpr std::string_view kApiRoot = "/api/v1";
constexpr std::string_view kChatbots = "/api/v1/chatbots";
constexpr std::string_view kRotateSuffix = "/rotate-key";
}  // namespace

std::string_view target_path(std::string_view target) noexcept {
    return target.substr(0, target.find('?'));
}

RouteMatch match_route(const RouteTable& table, std::string_view path) noexcept {
    if (table.health_routes) {
        if (path == "/healthz") return {RouteId::healthz, {}};
        if (path == "/readyz") return {RouteId::readyz, {}};
    }
    if (path.substr(0, kApiRoot.size()) != kApiRoot) return {};
    if (path == kChatbots) return {RouteId::chatbots, {}};
    if (path == "/api/v1/capture") return {RouteId::capture, {}};
    if (table.auth_routes) {
        if (path == "/api/v1/auth/login") return {RouteId::login, {}};
        if (path == "/api/v1/auth/logout") return {RouteId::logout, {}};
    }
    if (path.size() > kChatbots.size() && path.substr(0, kChatbots.size()) == kChatbots &&
        path[kChatbots.size()] == '/') {
        std::string_view rest = path.substr(kChatbots.size() + 1);
        std::size_t slash = rest.find('/');
        std::string_view id = rest.substr(0, slash);
        std::string_view tail =
            slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
        if (!tail.empty() && tail != kRotateSuffix) return {};
        // Only the lowercase canonical form names a chatbot; anything else is as unknown
        // as a random id.
        if (!is_canonical_uuid(id)) return {RouteId::bad_id, {}};
        return {tail.empty() ? RouteId::chatbot : RouteId::rotate_key, id};
    }
    return {};
}

bool method_allowed(RouteId route, verb method) noexcept {
    switch (route) {
        case RouteId::healthz:
        case RouteId::readyz:
            return method == verb::get;
        case RouteId::login:
        case RouteId::logout:
        case RouteId::rotate_key:
        case RouteId::capture:
            return method == verb::post;
        case RouteId::chatbots:
            return method == verb::get || method == verb::post;
        case RouteId::chatbot:
            return method == verb::get || method == verb::patch || method == verb::delete_;
        case RouteId::none:
        case RouteId::bad_id:
            return false;
    }
    return false;
}

std::string_view allowed_methods(RouteId route) noexcept {
    switch (route) {
        case RouteId::healthz:
        case RouteId::readyz:
            return "GET";
        case RouteId::chatbots:
            return "GET, POST";
        case RouteId::chatbot:
            return "GET, PATCH, DELETE";
        case RouteId::login:
        case RouteId::logout:
        case RouteId::rotate_key:
        case RouteId::capture:
            return "POST";
        case RouteId::none:
        case RouteId::bad_id:
            return "";
    }
    return "";
}

bool owns_path(const RouteTable& table, std::string_view path) noexcept {
    if (table.health_routes && (path == "/healthz" || path == "/readyz")) return true;
    return path == kApiRoot ||
           (path.size() > kApiRoot.size() && path.substr(0, kApiRoot.size()) == kApiRoot &&
            path[kApiRoot.size()] == '/');
}

std::string_view route_name(RouteId route) noexcept {
    switch (route) {
        case RouteId::none:
            return "none";
        case RouteId::bad_id:
            return "bad_id";
        case RouteId::healthz:
            return "healthz";
        case RouteId::readyz:
            return "readyz";
        case RouteId::login:
            return "login";
        case RouteId::logout:
            return "logout";
        case RouteId::chatbots:
            return "chatbots";
        case RouteId::chatbot:
            return "chatbot";
        case RouteId::rotate_key:
            return "rotate_key";
        case RouteId::capture:
            return "capture";
    }
    return "?";
}

}  // namespace chatbotmgr::beast::detail
