// Fuzz target: the capture body as the HTTP adapter decodes it (wire::decode_capture, API.md
// sections 4 and 8), the core's capture rules (validate_capture) and the capture path of the
// registry behind them.
//
// Input: a request body. Invariants:
//  * decode_capture and validate_capture either accept or throw invalid_argument; errors
//    and warnings never carry a secret from the input; at most 20 warnings and a count;
//  * a validated batch obeys every rule: conversation id and message ids 1..200 code
//    points, 1..100 messages with a known role and at most 32 KiB of content, no message id
//    twice, metadata only user/organization/session/custom objects;
//  * storing it on a fresh chatbot stores every message; storing it again keeps the
//    conversation id and stores only the messages without id (the others are duplicates).
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "chatbotmgr/capture.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "fuzz_support.hpp"
#include "wire.hpp"

namespace json = boost::json;
using namespace chatbotmgr;

namespace {

// Code points of well-formed UTF-8; nullopt when malformed (reference for the id rules).
std::optional<std::size_t> code_points(std::string_view s) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < s.size(); ++count) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80         ? 1
                          : (c >> 5) == 6  ? 2
                          : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4
                                           : 0;
        if (len == 0 || i + len > s.size()) return std::nullopt;
        std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return std::nullopt;
            cp = (cp << 6) | (cc & 0x3F);
        }
        const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
        i += len;
    }
    return count;
}

bool id_ok(std::string_view s) {
    const auto n = code_points(s);
    return n && *n >= 1 && *n <= kMaxExternalIdChars;
}

void check_no_secret(const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::invalid_argument);
    FUZZ_CHECK(!fuzz::contains_secret(e.what()));
    FUZZ_CHECK(!fuzz::contains_secret(e.field()));
}

ChatbotRegistry& registry() {
    static ChatbotRegistry instance(
        std::make_shared<MemoryStore>(),
        RegistryOptions{.clock = std::make_shared<testing::FakeClock>(),
                        .random = std::make_shared<testing::DeterministicRandom>(11)});
    return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    beast::wire::CaptureRequest decoded;
    try {
        decoded = beast::wire::decode_capture(body);
    } catch (const Error& e) {
        check_no_secret(e);
        return 0;
    }
    FUZZ_CHECK(decoded.warnings.size() <= beast::wire::kMaxWarnings + 1);
    for (const auto& w : decoded.warnings) FUZZ_CHECK(!fuzz::contains_secret(w));
    CaptureBatch batch = decoded.batch;
    const std::size_t raw_messages = batch.messages.size();
    std::set<std::string> raw_ids;
    std::size_t raw_with_id = 0;
    for (const auto& m : batch.messages) {
        if (!m.external_id) continue;
        ++raw_with_id;
        raw_ids.insert(*m.external_id);
    }
    try {
        validate_capture(batch);
    } catch (const Error& e) {
        check_no_secret(e);
        return 0;
    }

    FUZZ_CHECK(id_ok(batch.external_conversation_id));
    FUZZ_CHECK(!batch.messages.empty() && batch.messages.size() <= kMaxCaptureMessages);
    std::set<std::string> ids;
    std::size_t without_id = 0;
    for (const auto& m : batch.messages) {
        FUZZ_CHECK(m.role == "user" || m.role == "assistant" || m.role == "system");
        FUZZ_CHECK(m.content.size() <= kMaxContentBytes);
        if (m.external_id) {
            FUZZ_CHECK(id_ok(*m.external_id));
            FUZZ_CHECK(ids.insert(*m.external_id).second);
        } else {
            ++without_id;
        }
    }
    // Exactly the repeats of an id are dropped: messages with an id, minus distinct ids.
    FUZZ_CHECK(raw_messages - batch.messages.size() == raw_with_id - raw_ids.size());
    for (const auto& member : batch.metadata) {
        const std::string_view k = member.key();
        FUZZ_CHECK(k == "user" || k == "organization" || k == "session" || k == "custom");
        FUZZ_CHECK(member.value().is_object());
    }

    // Through the registry (which validates again): first time everything is new, second
    // time only the messages without id.
    auto& reg = registry();
    const auto created = reg.create("org-fuzz", NewChatbot{"capture", {}});
    const std::optional<VerifiedKey> key = reg.authenticate(created.api_key);
    FUZZ_CHECK(key.has_value());
    const CaptureResult first = reg.capture(*key, decoded.batch);
    FUZZ_CHECK(first.messages_stored == batch.messages.size());
    const CaptureResult second = reg.capture(*key, decoded.batch);
    FUZZ_CHECK(second.conversation_id == first.conversation_id);
    FUZZ_CHECK(second.messages_stored == without_id);
    auto& inspection = dynamic_cast<StoreInspection&>(reg.store());
    const ChatbotDataCounts counts = inspection.count_data(created.chatbot.id);
    FUZZ_CHECK(counts.conversations == 1);
    FUZZ_CHECK(counts.messages == first.messages_stored + second.messages_stored);
    reg.remove("org-fuzz", created.chatbot.id);
    FUZZ_CHECK(inspection.count_data(created.chatbot.id) == ChatbotDataCounts{});
    return 0;
}
