// Internal: THE route table of API.md -- every path, the methods it answers and how each
// (route, method) is served -- and the matcher that reads it once per request.
//
// Adding a route is one row in routes.cpp plus one handler in handlers.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/permissions.hpp"
#include "responses.hpp"

namespace chatbotmgr::beast::detail {

class Call;
using Handler = Response (*)(Call&);
// The same answer from memory only (no storage): nullopt when it is not cached.
using CachedHandler = std::optional<Response> (*)(Call&);

// Who the request must prove to be (step 3 of the order of checks, api.cpp).
enum class Credential {
    none,
    login_limit,     // none, but the login rate limit applies here
    session,         // a session (SessionCheck)
    ending_session,  // a session that the request ends: a refusal also clears the cookie
    api_key,         // a chatbot's API key
};

// Where the work runs: inline (no storage at all), or on one of the Api's pools.
enum class Pool {
    inline_,
    reads,   // reads, session checks and readiness
    logins,  // logins only: the pool and its bounded queue bound Argon2id CPU and memory
    writes,  // writes: they wait for a commit, not for CPU
};

// One (route, method).
struct Endpoint {
    boost::beast::http::verb method;  // a GET endpoint also answers HEAD
    Credential credential;
    bool takes_body;  // false: the body must be empty or {} (API.md section 3)
    Pool pool;
    Handler handler;
    // What the endpoint does, for the role check of step 4b (the core's permission table
    // maps it to the lowest role allowed); none for routes outside a team's data.
    std::optional<Action> action = std::nullopt;
    // The handler's answer when it is cached, for a read served on the I/O thread
    // (ApiOptions::cached_reads_inline); none: always on the pool.
    CachedHandler cached = nullptr;
};

// When a route exists at all.
enum class Presence { always, health_routes, accounts, audit_log };

struct Route {
    std::string_view name;     // short and stable, for logs
    std::string_view pattern;  // "/api/v1/chatbots/{id}": {id} is one path segment
    std::uint64_t ApiOptions::*body_limit;
    Presence presence;
    std::span<const Endpoint> endpoints;
};

// What the Api was built with, as far as the table cares.
struct RouteSet {
    bool health_routes = true;
    bool accounts = true;
    bool audit_log = false;
};

// The route name of logs and metrics for a target that matches no route.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

// The result of matching a request once.
struct Match {
    const Route* route = nullptr;        // nullptr: no such route (404)
    bool bad_id = false;                 // {id} is not a canonical UUID: 404 as an unknown id
    const Endpoint* endpoint = nullptr;  // nullptr on a route: method not allowed (405)
    std::string id;                      // the {id} of the path
};

Match match_request(const RouteSet& set, boost::beast::http::verb method, std::string_view target);

// The Allow header of a route: "GET, HEAD, POST".
std::string allowed_methods(const Route& route);

// The path of a request target: everything before '?'.
std::string_view target_path(std::string_view target) noexcept;

// True for paths that belong to this API (its routes and the rest of /api/v1/).
bool owns_path(const RouteSet& set, std::string_view path) noexcept;

}  // namespace chatbotmgr::beast::detail
