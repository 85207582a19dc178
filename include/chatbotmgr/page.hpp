// Keyset pagination (API.md section 15): a list read a page at a time in its fixed order,
// each page starting strictly after the last item of the one before. A page never
// repeats or skips an item that existed while the pages were read, whatever is created
// or deleted meanwhile.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
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

}  // namespace chatbotmgr
