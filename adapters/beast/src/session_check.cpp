#include "chatbotmgr/beast/session_check.hpp"

#include <utility>

#include <boost/beast/core/string.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/secrets.hpp"
#include "text.hpp"

namespace chatbotmgr::beast {

using detail::is_ows;
using detail::trim_ows;

std::optional<Principal> SessionCheck::check_cached(const RequestView&) {
    return std::nullopt;
}

bool SessionCheck::has_credential(const RequestView& request) const {
    return !request.header("Authorization").empty() || !request.header("Cookie").empty();
}

std::optional<std::string_view> bearer_token(std::string_view authorization) noexcept {
    authorization = trim_ows(authorization);
    constexpr std::string_view scheme = "bearer";
    if (authorization.size() <= scheme.size() ||
        !boost::beast::iequals(authorization.substr(0, scheme.size()), scheme) ||
        !is_ows(authorization[scheme.size()]))
        return std::nullopt;
    std::string_view token = trim_ows(authorization.substr(scheme.size()));
    if (token.empty()) return std::nullopt;
    for (char c : token)
        if (is_ows(c)) return std::nullopt;
    return token;
}

std::optional<std::string_view> cookie_value(std::string_view header,
                                             std::string_view name) noexcept {
    while (!header.empty()) {
        std::size_t end = header.find(';');
        std::string_view pair = trim_ows(header.substr(0, end));
        header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
        std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos) continue;
        if (trim_ows(pair.substr(0, eq)) != name) continue;
        std::string_view value = trim_ows(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        return value;
    }
    return std::nullopt;
}

std::optional<PresentedToken> find_session_token(const RequestView& request) noexcept {
    std::string_view authorization = request.header("Authorization");
    if (!authorization.empty()) {
        // Authorization wins, also over a valid cookie: the caller chose it explicitly.
        auto token = bearer_token(authorization);
        if (!token) return std::nullopt;
        return PresentedToken{*token, false};
    }
    std::string_view cookies = request.header("Cookie");
    if (cookies.empty()) return std::nullopt;
    auto token = cookie_value(cookies, kSessionCookieName);
    if (!token || token->empty()) return std::nullopt;
    return PresentedToken{*token, true};
}

AccountsSessionCheck::AccountsSessionCheck(std::shared_ptr<Accounts> accounts)
    : accounts_(std::move(accounts)) {}

namespace {

// A session token's principal: the user, and where the token came from.
std::optional<Principal> principal_of(std::optional<SessionUser> user, bool from_cookie) {
    if (!user) return std::nullopt;
    Principal principal;
    principal.org_id = std::move(user->org_id);
    principal.subject = std::move(user->user_id);
    principal.role = user->role;
    principal.email = std::move(user->email);
    principal.csrf_applies = from_cookie;
    return principal;
}

}  // namespace

std::optional<Principal> AccountsSessionCheck::check(const RequestView& request) {
    auto presented = find_session_token(request);
    // An API key is never a session, whatever the session store would say.
    if (!presented || !is_session_token_format(presented->token)) return std::nullopt;
    return principal_of(accounts_->check_session(presented->token), presented->from_cookie);
}

std::optional<Principal> AccountsSessionCheck::check_cached(const RequestView& request) {
    auto presented = find_session_token(request);
    if (!presented || !is_session_token_format(presented->token)) return std::nullopt;
    return principal_of(accounts_->cached_session(presented->token), presented->from_cookie);
}

bool AccountsSessionCheck::has_credential(const RequestView& request) const {
    if (!request.header("Authorization").empty()) return true;
    std::string_view cookies = request.header("Cookie");
    return !cookies.empty() && cookie_value(cookies, kSessionCookieName).has_value();
}

}  // namespace chatbotmgr::beast
