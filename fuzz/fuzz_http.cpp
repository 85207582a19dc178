// Fuzz target: whole HTTP/1.1 requests, parsed as the server parses them and answered by
// the Api over the in-memory store, the built-in login and a fake session check.
//
// Input: raw bytes of up to four pipelined requests, answered by a fresh world (store,
// registry, accounts, and an Api whose login and auth failure limits are 2 and 3, so that
// 429 is reachable). Sessions: "Bearer tok-a" or the cookie "ob_session=tok-a" is a user
// of org-a (likewise tok-b, org-b). A chatbot of org-a
// exists (the fixture; its id and key are printed when CHATBOTMGR_FUZZ_PRINT_FIXTURE is
// set, for seed files). Invariants:
//  * every answer is a known status, never 500 (a bug) nor 503 (the store cannot fail);
//    JSON answers have the security headers and a strictly valid JSON body of the right
//    shape (an answer to HEAD: no body, the Content-Length of GET's); 405 lists Allow,
//    429 and 503 carry Retry-After, 401 WWW-Authenticate;
//  * no answer echoes a secret that came in with the request;
//  * tenant isolation: requests without org-a's credentials never change org-a's chatbot.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "fuzz_support.hpp"

namespace http = boost::beast::http;
namespace json = boost::json;
using namespace chatbotmgr;

namespace {

// Two fixed sessions, found the way the built-in check finds them.
class FakeSessions final : public beast::SessionCheck {
  public:
    std::optional<beast::Principal> check(const beast::RequestView& request) override {
        const auto presented = beast::find_session_token(request);
        if (!presented) return std::nullopt;
        if (presented->token == "tok-a")
            return beast::Principal{"org-a", "user-a", presented->from_cookie};
        if (presented->token == "tok-b")
            return beast::Principal{"org-b", "user-b", presented->from_cookie};
        return std::nullopt;
    }
};

struct World {
    std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
    std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
    std::shared_ptr<ChatbotRegistry> registry = std::make_shared<ChatbotRegistry>(
        store, RegistryOptions{.clock = clock,
                               .random = std::make_shared<testing::DeterministicRandom>(17)});
    std::shared_ptr<Accounts> accounts = std::make_shared<Accounts>(
        store, AccountsOptions{.pwhash_opslimit = 1,  // libsodium's MIN limits
                               .pwhash_memlimit = 8192,
                               .clock = clock,
                               .random = std::make_shared<testing::DeterministicRandom>(19)});
    std::shared_ptr<beast::Api> api;
    std::string fixture_id;
    std::string fixture_key;

    World() {
        api = std::make_shared<beast::Api>(registry, std::make_shared<FakeSessions>(),
                                           beast::ApiOptions{.blocking_threads = 1, .clock = clock},
                                           accounts);
        auto created = registry->create("org-a", NewChatbot{"Fixture", json::object{{"a", 1}}});
        fixture_id = created.chatbot.id;
        fixture_key = created.api_key;
        accounts->add_user("ada@example.com", "Org A", "correct horse battery staple");
        if (std::getenv("CHATBOTMGR_FUZZ_PRINT_FIXTURE"))
            std::fprintf(stderr, "fixture id %s key %s\n", fixture_id.c_str(), fixture_key.c_str());
    }
};

bool known_status(unsigned s) {
    switch (s) {
        case 200:
        case 400:
        case 401:
        case 403:
        case 404:
        case 405:
        case 413:
        case 415:
        case 429:
        case 431:
            return true;
        default:
            return false;
    }
}

void check_response(const beast::Api::Response& res, std::string_view input, bool head) {
    const unsigned status = res.result_int();
    if (!known_status(status)) std::fprintf(stderr, "unexpected status %u\n", status);
    FUZZ_CHECK(known_status(status));
    FUZZ_CHECK(res[http::field::content_type] == "application/json");
    FUZZ_CHECK(res[http::field::cache_control] == "no-store");
    FUZZ_CHECK(res["X-Content-Type-Options"] == "nosniff");
    if (status == 405) FUZZ_CHECK(!res[http::field::allow].empty());
    if (status == 429) FUZZ_CHECK(!res[http::field::retry_after].empty());
    if (status == 401) FUZZ_CHECK(res[http::field::www_authenticate] == "Bearer");
    if (head) {
        FUZZ_CHECK(res.body().empty());
        FUZZ_CHECK(!res[http::field::content_length].empty());
        return;
    }

    const json::value body = parse_json_strict(res.body());
    FUZZ_CHECK(body.is_object() || (status == 200 && body.is_array()));
    if (status != 200) {
        const auto& obj = body.get_object();
        FUZZ_CHECK(obj.at("ok") == false);
        const auto& err = obj.at("error").get_object();
        FUZZ_CHECK(err.at("code").is_string() && err.at("message").is_string());
    }

    // Secrets in the answer are the one newly issued key or token (apiKey of create and
    // rotate-key, token and cookie of login), never an echo of the request's. (The fuzzer
    // can predict an issued key -- the random source is deterministic -- so an issued
    // value may also occur in the input.)
    std::string issued;
    if (status == 200 && body.is_object()) {
        for (const char* name : {"apiKey", "token"})
            if (const auto* v = body.get_object().if_contains(name); v && v->is_string())
                issued = std::string(v->get_string());
    }
    std::string whole = res.body();
    for (const auto& field : res) whole.append(field.value().data(), field.value().size());
    for (std::size_t at = 0; at < whole.size(); ++at) {
        for (const auto& [prefix, length] : {std::pair{kApiKeyPrefix, kApiKeyLength},
                                             std::pair{kSessionTokenPrefix, kSessionTokenLength}}) {
            const std::string_view rest = std::string_view(whole).substr(at);
            if (rest.size() < length || !rest.starts_with(prefix)) continue;
            const std::string_view secret = rest.substr(0, length);
            if (fuzz::contains_secret(secret) && secret != issued)
                FUZZ_CHECK(input.find(secret) == std::string_view::npos);
        }
    }
}

// Parses and answers the requests in input until it ends or the connection would close.
void serve(World& w, std::string_view input) {
    std::string_view rest = input;
    for (int i = 0; i < 4 && !rest.empty(); ++i) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        boost::beast::error_code ec;
        while (!parser.is_header_done() && !rest.empty()) {
            const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
            rest.remove_prefix(used);
            if (ec == http::error::need_more && used == 0) return;  // truncated header
            if (ec && ec != http::error::need_more) return;  // the server answers 400/431 itself
        }
        if (!parser.is_header_done()) return;

        beast::RequestContext ctx{.client_address = "192.0.2.1"};
        const std::uint64_t limit = w.api->body_limit(parser.get().target());
        const auto length = parser.content_length();
        bool complete = parser.is_done();
        if (!complete && length && *length > limit) {
            ctx.body_over_limit = true;  // answered 413 unread, as the server does
        } else if (!complete) {
            parser.body_limit(limit);
            while (!parser.is_done() && !rest.empty()) {
                const std::size_t used =
                    parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
                rest.remove_prefix(used);
                if (ec == http::error::body_limit) {
                    ctx.body_over_limit = true;
                    break;
                }
                if (ec == http::error::need_more && used == 0) return;  // truncated body
                if (ec && ec != http::error::need_more) return;
            }
            if (!ctx.body_over_limit && !parser.is_done()) return;
        }
        const bool keep_alive = parser.get().keep_alive();
        const bool head = parser.get().method() == http::verb::head;
        const auto res = w.api->handle_sync(parser.release(), ctx);
        check_response(res, input, head);
        if (ctx.body_over_limit || !keep_alive) return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // A fresh world per input: every finding reproduces from its input alone, and nothing
    // the input creates outlives it (so leak checks stay meaningful and cheap).
    World w;
    std::optional<Chatbot> before;
    try {
        before = w.registry->get("org-a", w.fixture_id);
    } catch (const Error&) {
    }
    serve(w, input);
    // Without org-a's session or key, org-a's chatbot is exactly as it was.
    if (input.find("tok-a") == std::string_view::npos &&
        input.find(w.fixture_key) == std::string_view::npos) {
        std::optional<Chatbot> after;
        try {
            after = w.registry->get("org-a", w.fixture_id);
        } catch (const Error&) {
        }
        FUZZ_CHECK(before == after);
    }
    return 0;
}
