// Compiled with nothing but `pkg-config --cflags --libs chatbotmgr` (and -std=c++20).
#include <iostream>
#include <memory>

#include <chatbotmgr/error.hpp>
#include <chatbotmgr/memory_store.hpp>
#include <chatbotmgr/registry.hpp>

int main() {
    using namespace chatbotmgr;
    ChatbotRegistry registry(std::make_shared<MemoryStore>());
    const auto created = registry.create("org-pc", {"Via pkg-config", {}});
    const auto rotated = registry.rotate_key("org-pc", created.chatbot.id);
    if (registry.authenticate(created.api_key)) return 1;  // the old key is dead
    const auto key = registry.authenticate(rotated.api_key);
    if (!key) return 1;
    std::cout << "pkg-config consumer: " << registry.get("org-pc", key->chatbot_id()).name << '\n';
    return 0;
}
