#include "chatbot_cache.hpp"

#include <boost/json/value.hpp>

namespace chatbotmgr::detail {
namespace {

// As the strict parser charges a parsed value (json.cpp): a slot per array element, a slot
// and an index entry per object member, and the text of strings and names.
std::size_t json_bytes(const boost::json::value& v) noexcept;

std::size_t object_bytes(const boost::json::object& o) noexcept {
    std::size_t n = 0;
    for (const auto& member : o)
        n += sizeof(boost::json::key_value_pair) + sizeof(std::uint32_t) + member.key().size() +
             json_bytes(member.value()) - sizeof(boost::json::value);
    return n;
}

std::size_t json_bytes(const boost::json::value& v) noexcept {
    std::size_t n = sizeof(boost::json::value);
    if (const auto* s = v.if_string()) n += s->size();
    if (const auto* o = v.if_object()) n += object_bytes(*o);
    if (const auto* a = v.if_array())
        for (const auto& element : *a) n += json_bytes(element);
    return n;
}

}  // namespace

std::size_t estimated_bytes(const Chatbot& c) noexcept {
    return sizeof(Chatbot) + c.id.size() + c.org_id.size() + c.name.size() + c.key_prefix.size() +
           object_bytes(c.settings);
}

std::shared_ptr<const Chatbot> ChatbotCache::find(std::string_view org_id, std::string_view id,
                                                  std::uint64_t current_generation) const {
    std::shared_lock lock(mutex_);
    const auto org = organizations_.find(org_id);
    if (org == organizations_.end() || org->second.generation != current_generation) return {};
    const auto found = org->second.chatbots.find(id);
    if (found == org->second.chatbots.end()) return {};
    return found->second;
}

std::shared_ptr<const ChatbotList> ChatbotCache::find_list(std::string_view org_id,
                                                           std::uint64_t current_generation) const {
    std::shared_lock lock(mutex_);
    const auto org = organizations_.find(org_id);
    if (org == organizations_.end() || org->second.generation != current_generation) return {};
    return org->second.list;
}

void ChatbotCache::insert(std::shared_ptr<const Chatbot> chatbot, std::uint64_t read_generation,
                          std::uint64_t current_generation) {
    if (read_generation != current_generation) return;
    const std::size_t bytes = estimated_bytes(*chatbot) + chatbot->id.size();  // + its map key
    std::unique_lock lock(mutex_);
    Organization* org = room_for(chatbot->org_id, read_generation, bytes);
    if (!org) return;
    auto [it, added] = org->chatbots.try_emplace(chatbot->id, nullptr);
    if (!added) return;  // a concurrent fill under the same generation: the same row
    it->second = std::move(chatbot);
    org->bytes += bytes;
    bytes_ += bytes;
}

void ChatbotCache::insert_list(std::string_view org_id, std::shared_ptr<const ChatbotList> list,
                               std::uint64_t read_generation, std::uint64_t current_generation) {
    if (read_generation != current_generation) return;
    std::size_t bytes = sizeof(ChatbotList);
    for (const Chatbot& c : *list) bytes += estimated_bytes(c);
    std::unique_lock lock(mutex_);
    Organization* org = room_for(org_id, read_generation, bytes);
    if (!org || org->list) return;
    org->list = std::move(list);
    org->bytes += bytes;
    bytes_ += bytes;
}

ChatbotCache::Organization* ChatbotCache::room_for(std::string_view org_id,
                                                   std::uint64_t generation, std::size_t bytes) {
    constexpr std::size_t kOrganizationBytes = sizeof(Organization) + 64;  // + node, key
    if (bytes + kOrganizationBytes + org_id.size() > capacity_) return nullptr;
    auto org = organizations_.find(org_id);
    if (org != organizations_.end()) {
        if (generation < org->second.generation) return nullptr;
        if (generation > org->second.generation) {
            // Written since: what the entry holds is stale.
            bytes_ -= org->second.bytes;
            org->second = Organization{generation, nullptr, {}, 0};
        }
    }
    if (bytes_ + bytes + (org == organizations_.end() ? kOrganizationBytes + org_id.size() : 0) >
        capacity_) {
        organizations_.clear();
        bytes_ = 0;
        org = organizations_.end();
    }
    if (org == organizations_.end()) {
        org = organizations_.emplace(std::string(org_id), Organization{generation, nullptr, {}, 0})
                  .first;
        bytes_ += kOrganizationBytes + org_id.size();
    }
    return &org->second;
}

}  // namespace chatbotmgr::detail
