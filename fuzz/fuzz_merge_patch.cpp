// Fuzz target: JSON Merge Patch (RFC 7396) of arbitrary JSON onto arbitrary settings.
//
// Input: "<settings JSON>\n<patch JSON>" (no newline: the whole input is the patch onto {}).
// Invariants, checked against a reference merge written from the RFC's pseudo-code:
//  * merge_patch() equals the reference on any pair of objects;
//  * through ChatbotRegistry, create and update accept exactly the objects whose result is
//    at most 32 deep and 65,536 compact bytes (and whose patch is at most 32 deep); an
//    accepted update stores the reference result, a rejected one (invalid_argument, field
//    "settings") stores nothing;
//  * merging {} is the identity (byte for byte), merging the same patch twice changes
//    nothing the second time (RFC 7396 patches are idempotent);
//  * no error message carries a secret from the input.
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chatbotmgr/chatbot.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "fuzz_support.hpp"

namespace json = boost::json;
using namespace chatbotmgr;

namespace {

// RFC 7396 section 2, literally: returns the patched copy.
json::value reference_merge(const json::value& target, const json::value& patch) {
    const auto* patch_obj = patch.if_object();
    if (!patch_obj) return patch;
    json::object result = target.is_object() ? target.get_object() : json::object();
    for (const auto& member : *patch_obj) {
        if (member.value().is_null()) {
            result.erase(member.key());
        } else {
            const json::value* current = result.if_contains(member.key());
            result[member.key()] =
                reference_merge(current ? *current : json::value(nullptr), member.value());
        }
    }
    return result;
}

// API.md section 1: the settings object is depth 1, each nested container adds one.
std::size_t reference_depth(const json::value& v) {
    std::size_t deepest = 0;
    if (const auto* o = v.if_object()) {
        for (const auto& m : *o) deepest = std::max(deepest, reference_depth(m.value()));
        return deepest + 1;
    }
    if (const auto* a = v.if_array()) {
        for (const auto& x : *a) deepest = std::max(deepest, reference_depth(x));
        return deepest + 1;
    }
    return 0;
}

bool settings_allowed(const json::value& v) {
    return v.is_object() && reference_depth(v) <= kMaxSettingsDepth &&
           to_compact_json(v).size() <= kMaxSettingsBytes;
}

bool patch_allowed(const json::value& v) {
    return v.is_object() && reference_depth(v) <= kMaxSettingsDepth;
}

std::optional<json::value> parse(std::string_view text) {
    try {
        return parse_json_strict(text);
    } catch (const Error& e) {
        FUZZ_CHECK(e.code() == ErrorCode::invalid_argument);
        FUZZ_CHECK(!fuzz::contains_secret(e.what()));
        return std::nullopt;
    }
}

json::value stored_settings(const Chatbot& c) {
    const json::value v(c.settings);
    FUZZ_CHECK(settings_allowed(v));
    return v;
}

// Runs an update; nullopt when it was rejected as invalid (checked to be "settings").
std::optional<Chatbot> try_update(ChatbotRegistry& registry, const std::string& id,
                                  const json::object& patch) {
    try {
        return registry.update("org-fuzz", id, ChatbotPatch{std::nullopt, patch});
    } catch (const Error& e) {
        FUZZ_CHECK(e.code() == ErrorCode::invalid_argument);
        FUZZ_CHECK(e.field() == "settings");
        FUZZ_CHECK(!fuzz::contains_secret(e.what()));
        return std::nullopt;
    }
}

ChatbotRegistry& registry() {
    static ChatbotRegistry instance(
        std::make_shared<MemoryStore>(),
        RegistryOptions{.clock = std::make_shared<testing::FakeClock>(),
                        .random = std::make_shared<testing::DeterministicRandom>(7)});
    return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string_view target_text =
        newline == std::string_view::npos ? std::string_view("{}") : input.substr(0, newline);
    const std::string_view patch_text =
        newline == std::string_view::npos ? input : input.substr(newline + 1);

    const auto target = parse(target_text);
    const auto patch = parse(patch_text);
    if (!target || !patch) return 0;

    // The free function against the reference, without the registry's rules.
    if (target->is_object() && patch->is_object()) {
        json::object merged = target->get_object();
        merge_patch(merged, patch->get_object());
        FUZZ_CHECK(json::value(merged) == reference_merge(*target, *patch));
    }

    // Create with the target as settings: accepted exactly when the rules allow it.
    auto& reg = registry();
    std::optional<Chatbot> bot;
    if (target->is_object()) {
        try {
            bot = reg.create("org-fuzz", NewChatbot{"fuzz", target->get_object()}).chatbot;
            FUZZ_CHECK(settings_allowed(*target));
            FUZZ_CHECK(stored_settings(*bot) == *target);
        } catch (const Error& e) {
            FUZZ_CHECK(e.code() == ErrorCode::invalid_argument);
            FUZZ_CHECK(!settings_allowed(*target));
            FUZZ_CHECK(!fuzz::contains_secret(e.what()));
        }
    }
    if (!bot) bot = reg.create("org-fuzz", NewChatbot{"fuzz", {}}).chatbot;
    const json::value before = stored_settings(*bot);

    // The patch: accepted exactly when patch and result obey the rules.
    if (patch->is_object()) {
        const json::value expected = reference_merge(before, *patch);
        const bool should_accept = patch_allowed(*patch) && settings_allowed(expected);
        const auto updated = try_update(reg, bot->id, patch->get_object());
        FUZZ_CHECK(updated.has_value() == should_accept);
        const Chatbot now = reg.get("org-fuzz", bot->id);
        if (updated) {
            FUZZ_CHECK(*updated == now);
            FUZZ_CHECK(stored_settings(now) == expected);
            // Idempotence: the same patch again leaves the settings as they are.
            const auto again = try_update(reg, bot->id, patch->get_object());
            FUZZ_CHECK(again && stored_settings(*again) == expected);
        } else {
            FUZZ_CHECK(now.settings == bot->settings);  // nothing half-written
        }
    }

    // Merging {} is the identity, byte for byte.
    const Chatbot current = reg.get("org-fuzz", bot->id);
    const auto same = try_update(reg, bot->id, json::object());
    FUZZ_CHECK(same && to_compact_json(same->settings) == to_compact_json(current.settings));

    reg.remove("org-fuzz", bot->id);
    return 0;
}
