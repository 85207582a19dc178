// How an integrator tests their own code with chatbotmgr::testing: a complete in-memory
// registry with a fake clock and reproducible keys, and a chatbot in one line.
#include <catch2/catch.hpp>
#include <chrono>

#include <chatbotmgr/testing/test_registry.hpp>

namespace {

// Stands in for the integrator's code under test: counts the chatbots an API key may see.
std::size_t bots_visible_to_key(chatbotmgr::ChatbotRegistry& registry, const std::string& key) {
    const auto verified = registry.authenticate(key);
    return verified ? registry.list(verified->org_id()).size() : 0;
}

}  // namespace

TEST_CASE("testing kit: a chatbot in one line, on a fake clock") {
    chatbotmgr::testing::TestRegistry t;
    const auto first = t.add_chatbot("org-1", "Support");
    t.clock->advance(std::chrono::hours(1));
    const auto second = t.add_chatbot("org-1", "Sales", {{"lang", "en"}});
    t.add_chatbot("org-2", "Elsewhere");

    CHECK(chatbotmgr::format_rfc3339(first.chatbot.created_at) == "2024-01-15T10:00:00Z");
    CHECK(chatbotmgr::format_rfc3339(second.chatbot.created_at) == "2024-01-15T11:00:00Z");
    const auto listed = t.registry.list("org-1");
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].id == second.chatbot.id);  // newest first
    CHECK(listed[0].settings == boost::json::object{{"lang", "en"}});

    CHECK(bots_visible_to_key(t.registry, first.api_key) == 2);
    t.registry.rotate_key("org-1", first.chatbot.id);
    CHECK(bots_visible_to_key(t.registry, first.api_key) == 0);
}

TEST_CASE("testing kit: the same seed gives the same ids and keys") {
    chatbotmgr::testing::TestRegistry a(42);
    chatbotmgr::testing::TestRegistry b(42);
    chatbotmgr::testing::TestRegistry c(43);
    const auto from_a = a.add_chatbot();
    const auto from_b = b.add_chatbot();
    const auto from_c = c.add_chatbot();
    CHECK(from_a.chatbot.id == from_b.chatbot.id);
    CHECK(from_a.api_key == from_b.api_key);
    CHECK(from_a.api_key != from_c.api_key);
}
