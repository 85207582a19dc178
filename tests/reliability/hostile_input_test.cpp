// Hostile request bodies at the library level (label "abuse"): the path every adapter takes,
// strict JSON -> body validator -> registry. Each input must be refused with
// invalid_argument (or accepted, where the rules allow it), never crash, never echo a
// secret, and never leave a partial write. The HTTP-level abuse (connections, slowloris,
// floods) is tests/reliability/abuse_test.py.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <string>
#include <vector>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"

using namespace chatbotmgr;
namespace json = boost::json;

namespace {

const std::string kKey = "ob_live_0123456789abcdef0123456789abcdef";
const std::string kToken = "ob_sess_" + std::string(64, 'e');

enum class Route { create, patch, capture };
enum class Expect { reject, accept };

struct Hostile {
    std::string what;
    Route route;
    std::string body;
    Expect expect = Expect::reject;
};

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

std::string nested(const std::string& open, const std::string& close, std::size_t depth,
                   const std::string& inner = "1") {
    return repeat(open, depth) + inner + repeat(close, depth);
}

std::string capture_with(const std::string& extra_member) {
    return R"({"conversationId":"c","messages":[{"role":"user","content":"x"}])" + extra_member +
           "}";
}

std::vector<Hostile> hostile_inputs() {
    std::vector<Hostile> v;
    // Deeply nested JSON: refused by the parser's depth limit, without deep recursion.
    v.push_back({"100k nested arrays", Route::create, nested("[", "]", 100'000)});
    v.push_back({"100k nested objects", Route::patch, nested("{\"a\":", "}", 100'000)});
    v.push_back({"settings 33 deep", Route::create,
                 R"({"name":"n","settings":)" + nested("{\"a\":", "}", 32, "{}") + "}"});
    v.push_back({"settings 32 deep", Route::create,
                 R"({"name":"n","settings":)" + nested("{\"a\":", "}", 31, "{}") + "}",
                 Expect::accept});
    v.push_back({"capture user 33 deep", Route::capture,
                 capture_with(R"(,"user":)" + nested("{\"a\":", "}", 32, "{}"))});
    v.push_back({"unclosed nesting", Route::create, repeat("[", 5000)});
    // Huge numbers: out of a double's range is refused; big but finite is kept exactly.
    v.push_back({"1e400", Route::create, R"({"name":"n","settings":{"x":1e400}})"});
    v.push_back({"-1e400", Route::patch, R"({"settings":{"x":-1e400}})"});
    v.push_back({"100k-digit integer", Route::create,
                 R"({"name":"n","settings":{"x":)" + repeat("9", 100'000) + "}}"});
    v.push_back(
        {"1e-400 underflows to 0", Route::patch, R"({"settings":{"x":1e-400}})", Expect::accept});
    v.push_back({"2^64 and beyond", Route::patch,
                 R"({"settings":{"u":18446744073709551616,"v":184467440737109551616}})",
                 Expect::accept});
    v.push_back({"long fraction", Route::patch,
                 R"({"settings":{"x":0.)" + repeat("3", 50'000) + "}}", Expect::accept});
    v.push_back({"NaN", Route::create, R"({"name":"n","settings":{"x":NaN}})"});
    v.push_back({"Infinity", Route::create, R"({"name":"n","settings":{"x":Infinity}})"});
    v.push_back({"leading zeros", Route::create, R"({"name":"n","settings":{"x":007}})"});
    // Invalid UTF-8 and friends, in names and elsewhere.
    v.push_back({"name 0xFF", Route::create, "{\"name\":\"\xff\"}"});
    v.push_back({"name overlong slash", Route::create, "{\"name\":\"\xc0\xaf\"}"});
    v.push_back({"name encoded surrogate", Route::create, "{\"name\":\"\xed\xa0\x80\"}"});
    v.push_back({"name past U+10FFFF", Route::create, "{\"name\":\"\xf4\x90\x80\x80\"}"});
    v.push_back({"name truncated sequence", Route::patch, "{\"name\":\"ab\xe2\x82\"}"});
    v.push_back({"name escaped lone surrogate", Route::create, R"({"name":"\ud800"})"});
    v.push_back({"name escaped NUL", Route::create, R"({"name":"a\u0000b"})"});
    v.push_back({"name escaped DEL", Route::patch, R"({"name":"a\u007fb"})"});
    v.push_back({"name only spaces", Route::create, R"({"name":"\u2003 \u3000"})"});
    v.push_back({"name 101 code points", Route::create,
                 R"({"name":")" + repeat("\xf0\x9f\x98\x80", 101) + "\"}"});
    v.push_back({"name 100 emoji", Route::create,
                 R"({"name":")" + repeat("\xf0\x9f\x98\x80", 100) + "\"}", Expect::accept});
    v.push_back({"content invalid UTF-8", Route::capture,
                 "{\"conversationId\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"\xfe\xfe\"}]}"});
    v.push_back({"key invalid UTF-8", Route::patch, "{\"settings\":{\"\xff\":1}}"});
    // Duplicate member names, at the top and deep inside.
    v.push_back({"duplicate name", Route::create, R"({"name":"a","name":"b"})"});
    v.push_back({"duplicate in settings", Route::patch, R"({"settings":{"a":{"b":1,"b":2}}})"});
    v.push_back(
        {"duplicate messages", Route::capture,
         R"({"conversationId":"c","messages":[],"messages":[{"role":"user","content":"x"}]})"});
    v.push_back({"duplicate escaped", Route::create, R"({"name":"a","n\u0061me":"b"})"});
    // Secrets where an error message might echo them.
    v.push_back({"key as field", Route::create, "{\"name\":\"n\",\"" + kKey + "\":1}"});
    v.push_back({"key inside field", Route::patch, "{\" " + kKey + "\":1}"});
    v.push_back({"token as field", Route::patch, "{\"x" + kToken + "\":true}"});
    v.push_back({"key as custom field", Route::capture,
                 capture_with(",\"custom\":{\"" + kKey + "\":{\"a\":1}}")});
    v.push_back(
        {"key as conversation id", Route::capture,
         R"({"conversationId":")" + kKey + R"(","messages":[{"role":"robot","content":"x"}]})"});
    v.push_back(
        {"token as role", Route::capture,
         R"({"conversationId":"c","messages":[{"role":")" + kToken + R"(","content":"x"}]})"});
    // Type confusion and syntax.
    v.push_back({"name null", Route::create, R"({"name":null})"});
    v.push_back({"settings array", Route::patch, R"({"settings":[1,2]})"});
    v.push_back({"body array", Route::create, "[]"});
    v.push_back({"trailing garbage", Route::create, R"({"name":"a"} x)"});
    v.push_back({"trailing comma", Route::patch, R"({"name":"a",})"});
    v.push_back({"comment", Route::create, R"({"name":"a" /* hi */})"});
    v.push_back({"BOM", Route::create, "\xef\xbb\xbf{\"name\":\"a\"}"});
    v.push_back({"empty body", Route::capture, ""});
    v.push_back({"content just over 32 KiB", Route::capture,
                 R"({"conversationId":"c","messages":[{"role":"user","content":")" +
                     std::string(32'769, 'x') + "\"}]}"});
    v.push_back({"content exactly 32 KiB", Route::capture,
                 R"({"conversationId":"c","messages":[{"role":"user","content":")" +
                     std::string(32'768, 'x') + "\"}]}",
                 Expect::accept});
    v.push_back({"settings over 64 KiB after merge", Route::patch,
                 R"({"settings":{"big":")" + std::string(65'530, 'x') + "\"}}"});
    v.push_back({"101 messages", Route::capture,
                 R"({"conversationId":"c","messages":[)" +
                     repeat(R"({"role":"user","content":"x"},)", 100) +
                     R"({"role":"user","content":"x"}]})"});
    v.push_back({"conversation id 201 chars", Route::capture,
                 R"({"conversationId":")" + std::string(201, 'c') +
                     R"(","messages":[{"role":"user","content":"x"}]})"});
    return v;
}

bool leaks_secret(const std::string& text) {
    return text.find(kKey) != std::string::npos || text.find(kToken) != std::string::npos;
}

}  // namespace

TEST_CASE("abuse: hostile bodies are refused cleanly, never echo secrets, write nothing",
          "[abuse]") {
    auto store = std::make_shared<MemoryStore>();
    RegistryOptions options;
    options.random = std::make_shared<testing::DeterministicRandom>();
    ChatbotRegistry registry(store, options);
    const auto target = registry.create("org-h", NewChatbot{"target", json::object{{"a", 1}}});
    const Chatbot authed = registry.authenticate(target.api_key);

    int tried = 0, accepted = 0, rejected = 0;
    for (const auto& h : hostile_inputs()) {
        INFO(h.what);
        ++tried;
        const Chatbot before = registry.get("org-h", target.chatbot.id);
        const ChatbotDataCounts counts_before = store->count_data(target.chatbot.id);
        const std::size_t bots_before = registry.list("org-h").size();
        std::vector<std::string> warnings;
        try {
            const json::value body = parse_json_strict(h.body);
            switch (h.route) {
                case Route::create:
                    registry.create("org-h", new_chatbot_from_json(body));
                    break;
                case Route::patch:
                    registry.update("org-h", target.chatbot.id, chatbot_patch_from_json(body));
                    break;
                case Route::capture: {
                    auto parsed = capture_from_json(body);
                    warnings = parsed.warnings;
                    registry.capture(authed, parsed.batch);
                    break;
                }
            }
            ++accepted;
            CHECK(h.expect == Expect::accept);
        } catch (const Error& e) {
            ++rejected;
            CHECK(h.expect == Expect::reject);
            CHECK(e.code() == ErrorCode::invalid_argument);
            CHECK_FALSE(leaks_secret(e.what()));
            CHECK_FALSE(leaks_secret(e.field()));
            // A refused request changed nothing.
            CHECK(registry.get("org-h", target.chatbot.id) == before);
            CHECK(store->count_data(target.chatbot.id) == counts_before);
            CHECK(registry.list("org-h").size() == bots_before);
        }
        for (const auto& w : warnings) CHECK_FALSE(leaks_secret(w));
        // Restore the target after accepted patches so every input starts alike.
        registry.update(
            "org-h", target.chatbot.id,
            ChatbotPatch{"target", json::object{{"u", nullptr}, {"v", nullptr}, {"x", nullptr}}});
    }
    CHECK(tried == accepted + rejected);
    CHECK(tried >= 50);
}

TEST_CASE("abuse: settings survive repeated read-modify-write unchanged, byte for byte",
          "[abuse]") {
    // Boost.JSON 1.81 parses decimals imprecisely; a stored number must not drift by one
    // unit in the last place on every PATCH.
    ChatbotRegistry registry(std::make_shared<MemoryStore>());
    const auto created = registry.create(
        "org-h",
        new_chatbot_from_json(parse_json_strict(
            R"({"name":"n","settings":{"a":184467440737109551616,"b":0.1,"c":1e-320,)"
            R"("d":-0.0,"e":1.7976931348623157e308,"f":5e-324,"g":123456789.123456789}})")));
    const std::string first = created.chatbot.settings_json;
    for (int i = 0; i < 5; ++i) {
        const Chatbot again =
            registry.update("org-h", created.chatbot.id, ChatbotPatch{"n", json::object()});
        CHECK(again.settings_json == first);
    }
}
