#include "routes.hpp"

#include "chatbotmgr/secrets.hpp"
#include "handlers.hpp"

namespace chatbotmgr::beast::detail {

using boost::beast::http::verb;

namespace {

// clang-format off
//                                    method          credential                  body   pool          handler              action                  from cache
constexpr Endpoint kHealthz[]     = {{verb::get,     Credential::none,           false, Pool::inline_, health}};
constexpr Endpoint kReadyz[]      = {{verb::get,     Credential::none,           false, Pool::reads,   readiness}};
constexpr Endpoint kLogin[]       = {{verb::post,    Credential::login_limit,    true,  Pool::logins,  login}};
constexpr Endpoint kLogout[]      = {{verb::post,    Credential::ending_session, false, Pool::writes,  logout}};
constexpr Endpoint kSession[]     = {{verb::get,     Credential::session,        false, Pool::reads,   get_session,         Action::get_session}};
constexpr Endpoint kChatbots[]    = {{verb::get,     Credential::session,        false, Pool::reads,   list_chatbots,       Action::list_chatbots,  cached_list_chatbots},
                                     {verb::post,    Credential::session,        true,  Pool::writes,  create_chatbot,      Action::create_chatbot}};
constexpr Endpoint kChatbot[]     = {{verb::get,     Credential::session,        false, Pool::reads,   get_chatbot,         Action::get_chatbot,    cached_get_chatbot},
                                     {verb::patch,   Credential::session,        true,  Pool::writes,  update_chatbot,      Action::update_chatbot},
                                     {verb::delete_, Credential::session,        false, Pool::writes,  delete_chatbot,      Action::delete_chatbot}};
constexpr Endpoint kRotateKey[]   = {{verb::post,    Credential::session,        true,  Pool::writes,  rotate_key,          Action::rotate_key}};
constexpr Endpoint kKey[]         = {{verb::get,     Credential::session,        false, Pool::reads,   get_key,             Action::get_key}};
constexpr Endpoint kPreviousKey[] = {{verb::delete_, Credential::session,        false, Pool::writes,  end_grace,           Action::end_grace}};
constexpr Endpoint kMembers[]     = {{verb::get,     Credential::session,        false, Pool::reads,   list_members,        Action::list_members}};
constexpr Endpoint kMember[]      = {{verb::patch,   Credential::session,        true,  Pool::writes,  change_member_role,  Action::change_role},
                                     {verb::delete_, Credential::session,        false, Pool::writes,  remove_member,       Action::remove_member}};
constexpr Endpoint kInvitations[] = {{verb::get,     Credential::session,        false, Pool::reads,   list_invitations,    Action::list_invitations},
                                     {verb::post,    Credential::session,        true,  Pool::writes,  invite_member,       Action::invite_member}};
constexpr Endpoint kAccept[]      = {{verb::post,    Credential::login_limit,    true,  Pool::logins,  accept_invitation}};
constexpr Endpoint kInvitation[]  = {{verb::delete_, Credential::session,        false, Pool::writes,  revoke_invitation,   Action::revoke_invitation}};
constexpr Endpoint kAudit[]       = {{verb::get,     Credential::session,        false, Pool::reads,   list_audit_events,   Action::read_audit_log}};
constexpr Endpoint kCapture[]     = {{verb::post,    Credential::api_key,        true,  Pool::writes,  capture}};

constexpr auto kBody = &ApiOptions::max_body_bytes;
constexpr auto kCaptureBody = &ApiOptions::max_capture_body_bytes;

constexpr Route kRoutes[] = {
    // name          pattern                              body limit    presence                 endpoints
    {"healthz",      "/healthz",                          kBody,        Presence::health_routes, kHealthz},
    {"readyz",       "/readyz",                           kBody,        Presence::health_routes, kReadyz},
    {"login",        "/api/v1/auth/login",                kBody,        Presence::accounts,      kLogin},
    {"logout",       "/api/v1/auth/logout",               kBody,        Presence::accounts,      kLogout},
    {"session",      "/api/v1/auth/session",              kBody,        Presence::accounts,      kSession},
    {"chatbots",     "/api/v1/chatbots",                  kBody,        Presence::always,        kChatbots},
    {"chatbot",      "/api/v1/chatbots/{id}",             kBody,        Presence::always,        kChatbot},
    {"rotate_key",   "/api/v1/chatbots/{id}/rotate-key",  kBody,        Presence::always,        kRotateKey},
    {"key",          "/api/v1/chatbots/{id}/key",         kBody,        Presence::always,        kKey},
    {"previous_key", "/api/v1/chatbots/{id}/previous-key", kBody,       Presence::always,        kPreviousKey},
    {"members",      "/api/v1/members",                   kBody,        Presence::accounts,      kMembers},
    {"member",       "/api/v1/members/{id}",              kBody,        Presence::accounts,      kMember},
    {"invitations",  "/api/v1/invitations",               kBody,        Presence::accounts,      kInvitations},
    {"accept",       "/api/v1/invitations/accept",        kBody,        Presence::accounts,      kAccept},
    {"invitation",   "/api/v1/invitations/{id}",          kBody,        Presence::accounts,      kInvitation},
    {"audit_events", "/api/v1/audit-events",              kBody,        Presence::audit_log,     kAudit},
    {"capture",      "/api/v1/capture",                   kCaptureBody, Presence::always,        kCapture},
};
// clang-format on

constexpr std::string_view kApiRoot = "/api/v1";
constexpr std::string_view kIdSegment = "{id}";

bool present(const RouteSet& set, Presence p) noexcept {
    switch (p) {
        case Presence::always:
            return true;
        case Presence::health_routes:
            return set.health_routes;
        case Presence::accounts:
            return set.accounts;
        case Presence::audit_log:
            return set.audit_log;
    }
    return false;
}

// The first segment of s after its leading '/', and s advanced past it.
std::string_view next_segment(std::string_view& s) noexcept {
    s.remove_prefix(1);
    const std::size_t end = std::min(s.find('/'), s.size());
    const std::string_view segment = s.substr(0, end);
    s.remove_prefix(end);
    return segment;
}

// Path against pattern, segment by segment; {id} matches any one segment (even empty).
bool matches(std::string_view pattern, std::string_view path, std::string_view& id) noexcept {
    while (!pattern.empty() && !path.empty()) {
        if (path.front() != '/') return false;
        const std::string_view want = next_segment(pattern);
        const std::string_view got = next_segment(path);
        if (want == kIdSegment)
            id = got;
        else if (want != got)
            return false;
    }
    return pattern.empty() && path.empty();
}

// GET serves HEAD too (RFC 9110 section 9.3.2): same status and headers, no body.
const Endpoint* find_endpoint(const Route& route, verb method) noexcept {
    if (method == verb::head) method = verb::get;
    for (const auto& e : route.endpoints)
        if (e.method == method) return &e;
    return nullptr;
}

}  // namespace

Match match_request(const RouteSet& set, verb method, std::string_view target) {
    const std::string_view path = target_path(target);
    for (const auto& route : kRoutes) {
        std::string_view id;
        if (!present(set, route.presence) || !matches(route.pattern, path, id)) continue;
        Match m;
        m.route = &route;
        // Only the lowercase canonical form names a chatbot; anything else is as unknown
        // as a random id (and that is decided before the method).
        if (route.pattern.find(kIdSegment) != std::string_view::npos && !is_canonical_uuid(id)) {
            m.bad_id = true;
            return m;
        }
        m.id = id;
        m.endpoint = find_endpoint(route, method);
        return m;
    }
    return {};
}

std::string allowed_methods(const Route& route) {
    std::string out;
    for (const auto& e : route.endpoints) {
        if (!out.empty()) out += ", ";
        out += boost::beast::http::to_string(e.method);
        if (e.method == verb::get) out += ", HEAD";
    }
    return out;
}

std::string_view target_path(std::string_view target) noexcept {
    return target.substr(0, target.find('?'));
}

bool owns_path(const RouteSet& set, std::string_view path) noexcept {
    for (const auto& route : kRoutes)
        if (route.presence == Presence::health_routes && set.health_routes && path == route.pattern)
            return true;
    return path == kApiRoot || (path.size() > kApiRoot.size() && path.starts_with(kApiRoot) &&
                                path[kApiRoot.size()] == '/');
}

}  // namespace chatbotmgr::beast::detail
