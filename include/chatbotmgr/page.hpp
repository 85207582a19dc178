// Keyset pagination (API.md section 15): a list read a page at a time in its fixed order,
// each page starting strictly after the last item of the one before. A page never
// repeats or skips an item that existed while the pages were read, whatever is created
// or deleted meanwhile.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatbotmgr {

// Where a list stands: the sort key (created_at, id) of the last item of a page.
struct PagePosition {
    std::chrono::sys_seconds created_at{};
    std::string id;
    friend bool operator==(const PagePosition&, const PagePosition&) = default;
};

struct PageRequest {
    std::optional<PagePosition> after;  // none: the first page
    std::size_t limit = 100;
};

template <class T>
struct Page {
    std::vector<T> items;
    std::optional<PagePosition> next;  // where the next page starts; none: this is the last
};

// Most items one page of chatbots or members holds.
inline constexpr std::size_t kMaxPageSize = 100;

// The opaque cursor of API.md section 15: a position in one organization's list, in
// URL-safe characters. decode_page_cursor answers nullopt for anything but a cursor that
// encode_page_cursor made for the same list and organization, so a malformed, edited or
// foreign cursor is refused rather than read. (Cursors are not secret: they name a
// creation time and an id the caller could read anyway.)
std::string encode_page_cursor(std::string_view list, std::string_view org_id,
                               const PagePosition& position);
std::optional<PagePosition> decode_page_cursor(std::string_view list, std::string_view org_id,
                                               std::string_view cursor);

}  // namespace chatbotmgr
