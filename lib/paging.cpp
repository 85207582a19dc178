// The ports' default list_page / list_users_page: correct for any store, linear in the
// list; our stores override them with keyset queries.
#include "paging.hpp"

#include <sodium.h>

#include <charconv>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/storage.hpp"
#include "sodium_init.hpp"

namespace chatbotmgr {
namespace {

constexpr int kBase64 = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

// Binds a cursor to its list and organization (a cursor of another list or organization
// fails the comparison).
std::string cursor_tag(std::string_view list, std::string_view org_id) {
    std::string scope = "chatbotmgr cursor\n";
    scope.append(list).append("\n").append(org_id);
    return to_hex(sha256(scope)).substr(0, 16);
}

}  // namespace

std::string encode_page_cursor(std::string_view list, std::string_view org_id,
                               const PagePosition& position) {
    ensure_sodium_initialized();
    std::string plain = "1.";
    plain.append(cursor_tag(list, org_id))
        .append(".")
        .append(std::to_string(position.created_at.time_since_epoch().count()))
        .append(".")
        .append(position.id);
    std::string out(sodium_base64_ENCODED_LEN(plain.size(), kBase64), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(plain.data()),
                      plain.size(), kBase64);
    out.resize(std::char_traits<char>::length(out.c_str()));
    return out;
}

std::optional<PagePosition> decode_page_cursor(std::string_view list, std::string_view org_id,
                                               std::string_view cursor) {
    if (cursor.empty() || cursor.size() > 256) return std::nullopt;
    ensure_sodium_initialized();
    std::string plain(cursor.size(), '\0');
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(plain.data()), plain.size(),
                          cursor.data(), cursor.size(), nullptr, &length, &end, kBase64) != 0 ||
        end != cursor.data() + cursor.size())
        return std::nullopt;
    plain.resize(length);
    // "1.<tag>.<created_at>.<id>"
    const std::string tag = cursor_tag(list, org_id);
    std::string head = "1.";
    head.append(tag).append(".");
    if (!std::string_view(plain).starts_with(head)) return std::nullopt;
    const std::string_view rest = std::string_view(plain).substr(head.size());
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    std::int64_t seconds = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, seconds);
    if (ec != std::errc() || ptr != rest.data() + dot) return std::nullopt;
    PagePosition position{std::chrono::sys_seconds{std::chrono::seconds{seconds}},
                          std::string(rest.substr(dot + 1))};
    if (position.id.empty()) return std::nullopt;
    return position;
}

std::vector<Chatbot> ChatbotStore::list_page(std::string_view org_id,
                                             const std::optional<PagePosition>& after,
                                             std::size_t limit) {
    return detail::page_of_list(list(org_id), after, limit, detail::Order::newest_first);
}

std::vector<User> AccountStore::list_users_page(std::string_view org_id,
                                                const std::optional<PagePosition>& after,
                                                std::size_t limit) {
    return detail::page_of_list(list_users(org_id), after, limit, detail::Order::oldest_first);
}

}  // namespace chatbotmgr
