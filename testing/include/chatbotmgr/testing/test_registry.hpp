// A complete in-memory ChatbotRegistry for unit tests, deterministic by construction.
//
//   chatbotmgr::testing::TestRegistry t;
//   auto bot = t.add_chatbot("org-1", "Support");  // one line: chatbot + its API key
//   t.clock->advance(std::chrono::hours(1));
//   my_code_under_test(t.registry, bot.api_key);
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/testing/fakes.hpp"

namespace chatbotmgr::testing {

// Threading: as ChatbotRegistry (registry, clock and random are all thread-safe).
// Errors: add_chatbot throws what ChatbotRegistry::create throws.
struct TestRegistry {
    explicit TestRegistry(std::uint64_t seed = 1);

    std::shared_ptr<FakeClock> clock;
    std::shared_ptr<DeterministicRandom> random;
    std::shared_ptr<MemoryStore> store;
    ChatbotRegistry registry;

    // Creates a chatbot with these settings.
    ChatbotWithKey add_chatbot(std::string_view org_id = "org-test",
                               std::string_view name = "Test bot",
                               boost::json::object settings = {});
};

}  // namespace chatbotmgr::testing
