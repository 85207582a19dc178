// The smallest use of the core: an in-memory registry, one chatbot, one key check.
#include <iostream>
#include <memory>

#include <chatbotmgr/json.hpp>
#include <chatbotmgr/memory_store.hpp>
#include <chatbotmgr/registry.hpp>

#ifndef HOST_FLAGS_MARKER
#error "the host's own CMAKE_CXX_FLAGS did not reach its target"
#endif

int main() {
    chatbotmgr::ChatbotRegistry registry(std::make_shared<chatbotmgr::MemoryStore>());
    const auto created = registry.create("org-1", {"Embedded", {{"plan", "pro"}}});
    const auto key = registry.authenticate(created.api_key);
    if (!key || key->chatbot_id() != created.chatbot.id) return 1;
    std::cout << "consumer: " << chatbotmgr::to_compact_json(created.chatbot.settings) << '\n';
    return 0;
}
