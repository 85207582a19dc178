// Internal: keyset pages (API.md section 15) over lists in (created_at, id) order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/page.hpp"

namespace chatbotmgr::detail {

enum class Order { newest_first, oldest_first };

// Whether item comes strictly after position in the list's order.
template <class T>
bool comes_after(const T& item, const PagePosition& position, Order order) {
    if (item.created_at != position.created_at)
        return order == Order::newest_first ? item.created_at < position.created_at
                                            : item.created_at > position.created_at;
    return order == Order::newest_first ? item.id < position.id : item.id > position.id;
}

// What a store's default list_page answers: the first limit items of the whole list
// (already in its order) after `after`, copied.
template <class T>
std::vector<T> page_of_list(const std::vector<T>& all, const std::optional<PagePosition>& after,
                            std::size_t limit, Order order) {
    auto first = all.begin();
    if (after)
        first = std::find_if(all.begin(), all.end(),
                             [&](const T& item) { return comes_after(item, *after, order); });
    const std::size_t available = static_cast<std::size_t>(all.end() - first);
    return std::vector<T>(first, first + static_cast<std::ptrdiff_t>(std::min(available, limit)));
}

inline void check_page_limit(std::size_t limit, std::size_t max_limit = kMaxPageSize) {
    if (limit < 1 || limit > max_limit)
        throw Error(ErrorCode::invalid_argument,
                    "limit must be an integer from 1 to " + std::to_string(max_limit), "limit");
}

// A page from what a store answered for limit + 1: the extra item only says there is more.
template <class T, class Fetch>
Page<T> fetch_page(const PageRequest& request, std::size_t max_limit, Fetch&& fetch) {
    check_page_limit(request.limit, max_limit);
    Page<T> page{fetch(request.after, request.limit + 1), std::nullopt};
    if (page.items.size() > request.limit) {
        page.items.resize(request.limit);
        page.next = PagePosition{page.items.back().created_at, page.items.back().id};
    }
    return page;
}

template <class T, class Fetch>
Page<T> fetch_page(const PageRequest& request, Fetch&& fetch) {
    return fetch_page<T>(request, kMaxPageSize, std::forward<Fetch>(fetch));
}

}  // namespace chatbotmgr::detail
