// Hostile inputs at the library level (label "abuse"): JSON text through the strict parser
// (parse_json_strict), and values built in C++ straight into the registry, which checks
// them for every caller. Each input must be refused with invalid_argument (or accepted,
// where the rules allow it), never crash, never echo a secret, and never leave a partial
// write. The request-body decoders (unknown and mistyped members, capture warnings) belong
// to the HTTP adapter: tests/http. The HTTP-level abuse (connections, slowloris, floods) is
// tests/reliability/abuse_test.py.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <functional>
#include <optional>
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

enum class Expect { reject, accept };

// What the inputs go to: a chatbot of org-h (patches) and its key (captures).
struct Target {
    ChatbotRegistry& registry;
    std::string chatbot_id;
    VerifiedKey key;
};

struct Hostile {
    std::string what;
    std::function<void(Target&)> call;
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

// JSON text through the strict parser, as a host reads it (a request body, a file).
json::object object_of(const std::string& text) {
    return parse_json_strict(text).as_object();
}

// Text that no input is built from: the parser alone must refuse it.
std::function<void(Target&)> parse(std::string text) {
    return [text](Target&) { (void)parse_json_strict(text); };
}

std::function<void(Target&)> create(std::string name, std::string settings = "{}") {
    return [name, settings](Target& t) {
        t.registry.create("org-h", NewChatbot{name, object_of(settings)});
    };
}

std::function<void(Target&)> rename(std::string name) {
    return [name](Target& t) {
        t.registry.update("org-h", t.chatbot_id, ChatbotPatch{name, std::nullopt});
    };
}

std::function<void(Target&)> patch(std::string settings_patch) {
    return [settings_patch](Target& t) {
        t.registry.update("org-h", t.chatbot_id,
                          ChatbotPatch{std::nullopt, object_of(settings_patch)});
    };
}

CaptureBatch one_message(std::string content, std::string role = "user",
                         std::string conversation = "c") {
    CaptureBatch b;
    b.external_conversation_id = std::move(conversation);
    b.messages.push_back({std::move(role), std::move(content), std::nullopt, std::nullopt});
    return b;
}

std::function<void(Target&)> capture(CaptureBatch batch) {
    return [batch](Target& t) { t.registry.capture(t.key, batch); };
}

// A valid one-message capture with this metadata.
std::function<void(Target&)> capture_metadata(std::string metadata) {
    return [metadata](Target& t) {
        CaptureBatch b = one_message("x");
        b.metadata = object_of(metadata);
        t.registry.capture(t.key, std::move(b));
    };
}

std::vector<Hostile> hostile_inputs() {
    std::vector<Hostile> v;
    // Deeply nested JSON: refused by the parser's depth limit, without deep recursion.
    v.push_back({"100k nested arrays", parse(nested("[", "]", 100'000))});
    v.push_back({"100k nested objects", patch(nested("{\"a\":", "}", 100'000))});
    v.push_back({"settings 33 deep", create("n", nested("{\"a\":", "}", 32, "{}"))});
    v.push_back(
        {"settings 32 deep", create("n", nested("{\"a\":", "}", 31, "{}")), Expect::accept});
    v.push_back({"capture user 33 deep",
                 capture_metadata(R"({"user":)" + nested("{\"a\":", "}", 32, "{}") + "}")});
    v.push_back({"unclosed nesting", parse(repeat("[", 5000))});
    // Huge numbers: out of a double's range is refused; big but finite is kept exactly.
    v.push_back({"1e400", create("n", R"({"x":1e400})")});
    v.push_back({"-1e400", patch(R"({"x":-1e400})")});
    v.push_back({"100k-digit integer", create("n", R"({"x":)" + repeat("9", 100'000) + "}")});
    v.push_back({"1e-400 underflows to 0", patch(R"({"x":1e-400})"), Expect::accept});
    v.push_back({"2^64 and beyond",
                 patch(R"({"u":18446744073709551616,"v":184467440737109551616})"), Expect::accept});
    v.push_back({"long fraction", patch(R"({"x":0.)" + repeat("3", 50'000) + "}"), Expect::accept});
    v.push_back({"NaN", create("n", R"({"x":NaN})")});
    v.push_back({"Infinity", create("n", R"({"x":Infinity})")});
    v.push_back({"leading zeros", create("n", R"({"x":007})")});
    // Invalid UTF-8 and friends, in names and elsewhere.
    v.push_back({"name 0xFF", create("\xff")});
    v.push_back({"name overlong slash", create("\xc0\xaf")});
    v.push_back({"name encoded surrogate", create("\xed\xa0\x80")});
    v.push_back({"name past U+10FFFF", create("\xf4\x90\x80\x80")});
    v.push_back({"name truncated sequence", rename("ab\xe2\x82")});
    v.push_back({"name escaped lone surrogate", parse(R"({"name":"\ud800"})")});
    v.push_back({"name with NUL", create(std::string("a\0b", 3))});
    v.push_back({"name with DEL", rename(std::string("a\x7f") + "b")});
    v.push_back({"name only spaces", create("\xe2\x80\x83 \xe3\x80\x80")});
    v.push_back({"name 101 code points", create(repeat("\xf0\x9f\x98\x80", 101))});
    v.push_back({"name 100 emoji", create(repeat("\xf0\x9f\x98\x80", 100)), Expect::accept});
    v.push_back({"content invalid UTF-8", capture(one_message("\xfe\xfe"))});
    v.push_back({"key invalid UTF-8", patch("{\"\xff\":1}")});
    // Duplicate member names, at the top and deep inside.
    v.push_back({"duplicate name", parse(R"({"name":"a","name":"b"})")});
    v.push_back({"duplicate in settings", patch(R"({"a":{"b":1,"b":2}})")});
    v.push_back({"duplicate messages",
                 parse(R"({"conversationId":"c","messages":[],"messages":[{"role":"user",)"
                       R"("content":"x"}]})")});
    v.push_back({"duplicate escaped", parse(R"({"name":"a","n\u0061me":"b"})")});
    // Secrets where an error message might echo them.
    v.push_back({"key as metadata member", capture_metadata("{\"" + kKey + "\":1}")});
    v.push_back({"key inside metadata member", capture_metadata("{\" " + kKey + "\":1}")});
    v.push_back({"token as metadata member", capture_metadata("{\"x" + kToken + "\":true}")});
    v.push_back(
        {"key as custom field", capture_metadata("{\"custom\":{\"" + kKey + "\":{\"a\":1}}}")});
    v.push_back({"key as conversation id", capture(one_message("x", "robot", kKey))});
    v.push_back({"token as role", capture(one_message("x", kToken))});
    // Type confusion and syntax.
    v.push_back({"user null", capture_metadata(R"({"user":null})")});
    v.push_back({"custom array", capture_metadata(R"({"custom":[1,2]})")});
    v.push_back({"session string", capture_metadata(R"({"session":"s"})")});
    v.push_back({"trailing garbage", create("n", R"({"a":1} x)")});
    v.push_back({"trailing comma", patch(R"({"a":1,})")});
    v.push_back({"comment", create("n", R"({"a":1 /* hi */})")});
    v.push_back({"BOM", create("n", "\xef\xbb\xbf{}")});
    v.push_back({"empty text", capture_metadata("")});
    v.push_back({"content just over 32 KiB", capture(one_message(std::string(32'769, 'x')))});
    v.push_back(
        {"content exactly 32 KiB", capture(one_message(std::string(32'768, 'x'))), Expect::accept});
    v.push_back({"settings over 64 KiB after merge",
                 patch(R"({"big":")" + std::string(65'530, 'x') + "\"}")});
    CaptureBatch many = one_message("x");
    many.messages.assign(101, many.messages.front());
    v.push_back({"101 messages", capture(many)});
    v.push_back(
        {"conversation id 201 chars", capture(one_message("x", "user", std::string(201, 'c')))});
    return v;
}

bool leaks_secret(const std::string& text) {
    return text.find(kKey) != std::string::npos || text.find(kToken) != std::string::npos;
}

}  // namespace

TEST_CASE("abuse: hostile inputs are refused cleanly, never echo secrets, write nothing",
          "[abuse]") {
    auto store = std::make_shared<MemoryStore>();
    RegistryOptions options;
    options.random = std::make_shared<testing::DeterministicRandom>();
    ChatbotRegistry registry(store, options);
    const auto target = registry.create("org-h", NewChatbot{"target", json::object{{"a", 1}}});
    const auto key = registry.authenticate(target.api_key);
    REQUIRE(key);
    Target to{registry, target.chatbot.id, *key};

    int tried = 0, accepted = 0, rejected = 0;
    for (const auto& h : hostile_inputs()) {
        INFO(h.what);
        ++tried;
        const Chatbot before = registry.get("org-h", target.chatbot.id);
        const ChatbotDataCounts counts_before = store->count_data(target.chatbot.id);
        const std::size_t bots_before = registry.list("org-h").size();
        try {
            h.call(to);
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
        "org-h", NewChatbot{"n", parse_json_strict(R"({"a":184467440737109551616,"b":0.1,)"
                                                   R"("c":1e-320,"d":-0.0,)"
                                                   R"("e":1.7976931348623157e308,"f":5e-324,)"
                                                   R"("g":123456789.123456789})")
                                     .as_object()});
    const std::string first = to_compact_json(created.chatbot.settings);
    for (int i = 0; i < 5; ++i) {
        const Chatbot again =
            registry.update("org-h", created.chatbot.id, ChatbotPatch{"n", json::object()});
        CHECK(to_compact_json(again.settings) == first);
    }
}
