#include "chatbotmgr/testing/test_registry.hpp"

namespace chatbotmgr::testing {

TestRegistry::TestRegistry(std::uint64_t seed)
    : clock(std::make_shared<FakeClock>()),
      random(std::make_shared<DeterministicRandom>(seed)),
      store(std::make_shared<MemoryStore>()),
      registry(store,
               RegistryOptions{.cache_keys = true,
                               .key_cache_capacity = 1'000,
                               // Deterministic: no background thread; flush_key_usage() writes.
                               .key_usage_flush_interval = std::chrono::milliseconds::zero(),
                               .clock = clock,
                               .random = random}) {}

ChatbotWithKey TestRegistry::add_chatbot(std::string_view org_id, std::string_view name,
                                         boost::json::object settings) {
    return registry.create(org_id, {std::string(name), std::move(settings)});
}

}  // namespace chatbotmgr::testing
