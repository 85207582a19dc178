// Internal: the route table of API.md, as a pure function of the request target.
#pragma once

#include <string_view>

#include <boost/beast/http/verb.hpp>

namespace chatbotmgr::beast::detail {

enum class RouteId {
    none,        // unknown path: 404
    bad_id,      // /api/v1/chatbots/<not a canonical uuid>[...]: 404 like an unknown id
    healthz,     // GET /healthz
    readyz,      // GET /readyz
    login,       // POST /api/v1/auth/login
    logout,      // POST /api/v1/auth/logout
    chatbots,    // GET, POST /api/v1/chatbots
    chatbot,     // GET, PATCH, DELETE /api/v1/chatbots/{id}
    rotate_key,  // POST /api/v1/chatbots/{id}/rotate-key
    capture,     // POST /api/v1/capture
};

struct RouteMatch {
    RouteId id = RouteId::none;
    std::string_view chatbot_id;  // for chatbot and rotate_key
};

struct RouteTable {
    bool health_routes = true;
    bool auth_routes = true;
};

// The path of a request target: everything before '?'.
std::string_view target_path(std::string_view target) noexcept;

RouteMatch match_route(const RouteTable& table, std::string_view path) noexcept;

// Whether the route answers this method, and the Allow header value of the route.
bool method_allowed(RouteId route, boost::beast::http::verb method) noexcept;
std::string_view allowed_methods(RouteId route) noexcept;

// True for paths that belong to this API (its routes and the rest of /api/v1/).
bool owns_path(const RouteTable& table, std::string_view path) noexcept;

// A short stable name of the route, for logs.
std::string_view route_name(RouteId route) noexcept;

}  // namespace chatbotmgr::beast::detail
