// The ports' default list_page / list_users_page: correct for any store, linear in the
// list; our stores override them with keyset queries.
#include "paging.hpp"

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr {

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
