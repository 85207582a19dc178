// Fuzz target: parsing of API keys and session tokens, and what the core and the HTTP
// adapter do with an arbitrary presented credential.
//
// Input: "<credential>" or "<Authorization value>\n<Cookie value>". Invariants:
//  * is_api_key_format / is_session_token_format / looks_like_secret agree with a
//    reference written from API.md section 2 and 5, and no string is both kinds;
//  * authenticate() accepts exactly the one issued key and answers nullopt for anything
//    else (never throws); check_session() accepts exactly the one issued token, and never
//    an API key;
//  * with the HTTP adapter built: bearer_token() and cookie_value() return a view into
//    their input that follows "Bearer " / "ob_session=", and find_session_token() prefers
//    Authorization over the cookie.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "fuzz_support.hpp"

#if CHATBOTMGR_FUZZ_WITH_BEAST
#include "chatbotmgr/beast/session_check.hpp"
#endif

using namespace chatbotmgr;

namespace {

bool reference_format(std::string_view s, std::string_view prefix, std::size_t length) {
    if (s.size() != length || s.substr(0, prefix.size()) != prefix) return false;
    for (char c : s.substr(prefix.size()))
        if (!fuzz::is_lower_hex(c)) return false;
    return true;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool within(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

struct World {
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    ChatbotRegistry registry{store,
                             {.clock = std::make_shared<testing::FakeClock>(),
                              .random = std::make_shared<testing::DeterministicRandom>(3)}};
    // The cheapest Argon2id limits libsodium allows (crypto_pwhash_*_MIN): the fuzzer
    // logs in once, at start-up.
    Accounts accounts{store,
                      {.pwhash_opslimit = 1,
                       .pwhash_memlimit = 8192,
                       .clock = std::make_shared<testing::FakeClock>(),
                       .random = std::make_shared<testing::DeterministicRandom>(5)}};
    std::string api_key;
    std::string token;

    World() {
        api_key = registry.create("org-fuzz", NewChatbot{"creds", {}}).api_key;
        accounts.add_user("fuzz@example.com", "Fuzz Org", "correct horse battery staple");
        token = accounts.login("fuzz@example.com", "correct horse battery staple").token;
    }
};

World& world() {
    static World w;
    return w;
}

void check_core(std::string_view s) {
    const bool key = is_api_key_format(s);
    const bool session = is_session_token_format(s);
    const bool invitation = is_invitation_token_format(s);
    FUZZ_CHECK(key == reference_format(s, "ob_live_", 40));
    FUZZ_CHECK(session == reference_format(s, "ob_sess_", 72));
    FUZZ_CHECK(invitation == reference_format(s, "ob_inv_", 71));
    FUZZ_CHECK(int{key} + int{session} + int{invitation} <= 1);
    FUZZ_CHECK(looks_like_secret(s) == (s.find("ob_live_") != std::string_view::npos ||
                                        s.find("ob_sess_") != std::string_view::npos ||
                                        s.find("ob_inv_") != std::string_view::npos));

    World& w = world();
    const std::optional<VerifiedKey> verified = w.registry.authenticate(s);
    FUZZ_CHECK(verified.has_value() == (s == w.api_key));
    if (verified) {
        FUZZ_CHECK(verified->org_id() == "org-fuzz");
        FUZZ_CHECK(verified->slot() == KeySlot::current);
    }
    const auto principal = w.accounts.check_session(s);
    FUZZ_CHECK(principal.has_value() == (s == w.token));
}

#if CHATBOTMGR_FUZZ_WITH_BEAST
class HeaderView final : public beast::RequestView {
  public:
    HeaderView(std::string_view authorization, std::string_view cookie)
        : authorization_(authorization), cookie_(cookie) {}
    std::string_view method() const noexcept override { return "GET"; }
    std::string_view target() const noexcept override { return "/api/v1/chatbots"; }
    std::string_view header(std::string_view name) const noexcept override {
        if (iequals(name, "authorization")) return authorization_;
        if (iequals(name, "cookie")) return cookie_;
        return {};
    }

  private:
    std::string_view authorization_;
    std::string_view cookie_;
};

void check_http(std::string_view authorization, std::string_view cookie) {
    const auto bearer = beast::bearer_token(authorization);
    if (bearer) {
        FUZZ_CHECK(within(*bearer, authorization));
        FUZZ_CHECK(!bearer->empty());
        // "Bearer", then blanks, then the token (blanks around the whole value allowed).
        std::string_view v = authorization;
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        FUZZ_CHECK(v.size() > 7 && iequals(v.substr(0, 6), "bearer") &&
                   (v[6] == ' ' || v[6] == '\t'));
        FUZZ_CHECK(bearer->find_first_of(" \t") == std::string_view::npos);
    }
    const auto value = beast::cookie_value(cookie, beast::kSessionCookieName);
    if (value) {
        FUZZ_CHECK(within(*value, cookie));
        // What precedes the value is "...ob_session", optional blanks, "=", optional blanks
        // and an optional opening quote.
        std::string_view before =
            cookie.substr(0, static_cast<std::size_t>(value->data() - cookie.data()));
        if (!before.empty() && before.back() == '"') before.remove_suffix(1);
        while (!before.empty() && (before.back() == ' ' || before.back() == '\t'))
            before.remove_suffix(1);
        FUZZ_CHECK(!before.empty() && before.back() == '=');
        before.remove_suffix(1);
        while (!before.empty() && (before.back() == ' ' || before.back() == '\t'))
            before.remove_suffix(1);
        FUZZ_CHECK(before.ends_with(beast::kSessionCookieName));
    }
    const auto found = beast::find_session_token(HeaderView(authorization, cookie));
    if (!authorization.empty()) {
        FUZZ_CHECK(found.has_value() == bearer.has_value());
        if (found) FUZZ_CHECK(!found->from_cookie && found->token == *bearer);
    } else {
        // An empty cookie value is no token.
        FUZZ_CHECK(found.has_value() == (value.has_value() && !value->empty()));
        if (found) FUZZ_CHECK(found->from_cookie && found->token == *value);
    }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    if (newline == std::string_view::npos) {
        check_core(input);
#if CHATBOTMGR_FUZZ_WITH_BEAST
        check_http(input, {});
        check_http({}, input);
#endif
    } else {
        check_core(input.substr(0, newline));
        check_core(input.substr(newline + 1));
#if CHATBOTMGR_FUZZ_WITH_BEAST
        check_http(input.substr(0, newline), input.substr(newline + 1));
#endif
    }
    return 0;
}
