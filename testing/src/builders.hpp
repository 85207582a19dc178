// Test data of the conformance suite: chatbots, captures and sessions with reproducible
// ids, keys and times, and text made by appending.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/storage.hpp"
#include "chatbotmgr/testing/fakes.hpp"
#include "chatbotmgr/testing/journal_entry.hpp"

namespace chatbotmgr::testing::detail {

constexpr std::int64_t kBaseTime = 1'705'312'800;  // 2024-01-15T10:00:00Z

std::chrono::sys_seconds at(std::int64_t unix_seconds);

// Text and integers joined by appending, e.g. cat("bot ", t, "/", i). (GCC 12 reports
// false -Wrestrict positives for chains of std::string operator+ at -O2 and -O3.)
inline void append_to(std::string& out, std::string_view part) {
    out += part;
}
template <std::integral T>
requires(!std::same_as<T, bool> && !std::same_as<T, char>) void append_to(std::string& out,
                                                                          T part) {
    out += std::to_string(part);
}
template <class... Parts>
std::string cat(const Parts&... parts) {
    std::string out;
    (append_to(out, parts), ...);
    return out;
}

// The key digest and prefix the suite gives a label (a chatbot's id, "fresh", ...).
Digest digest_for(std::string_view label);
std::string prefix_for(const Digest& d);

// Chatbots with reproducible ids: each case seeds its own generator.
class ChatbotFactory {
  public:
    explicit ChatbotFactory(std::uint64_t seed) : random_(seed) {}

    // Settings "{}", key prefix that of digest_for(id).
    Chatbot make(const std::string& org, const std::string& name, std::int64_t created = kBaseTime);
    std::string uuid();

  private:
    DeterministicRandom random_;
};

// The key the suite issues under digest d: prefix_for(d), issued at issued, expiring at
// expires (never when none).
NewKey new_key(const Digest& d, std::int64_t issued = kBaseTime,
               std::optional<std::int64_t> expires = std::nullopt);

// Inserts c with the digest derived from its id (a key that never expires).
void insert(ChatbotStore& store, const Chatbot& c);
// The same under an organization limit: what insert answers.
bool insert_limited(ChatbotStore& store, const Chatbot& c, std::size_t max_in_org);

CapturedMessage message(std::string role, std::string content,
                        std::optional<std::string> external_id = std::nullopt);
// A batch from user "user_456" with metadata naming that user.
CaptureBatch batch(std::string conversation, std::vector<CapturedMessage> messages);

boost::json::object settings_of(const Chatbot& c);
// What find_by_key_digest answers for c.
KeyOwner owner_of(const Chatbot& c);
// The object of JSON text (strict).
boost::json::object object_of(std::string_view json_text);

// The store's StoreInspection (storage.hpp), which the cascade checks need; fails the
// case, saying so, when the store does not implement it.
StoreInspection& inspect(ChatbotStore& store);

// A session of organization "org-1" whose token digest derives from label.
SessionRecord session(const std::string& label, const std::string& user, std::int64_t expires);

// email with ASCII letters lowercased: the key Accounts stores users and invitations by.
std::string lower_email(std::string_view email);
// Inserts user as Accounts does (keyed by lower_email of its email).
void add_user(AccountStore& store, const User& user, std::string_view hash);
// A user of org created at created (Unix seconds).
User member(const std::string& id, const std::string& org, const std::string& email, Role role,
            std::int64_t created = kBaseTime);

// The token digest the suite gives an invitation label.
Digest invitation_digest(std::string_view label);
// A pending invitation created at created, expiring 7 days later.
Invitation invitation(const std::string& id, const std::string& org, const std::string& email,
                      Role role, std::int64_t created = kBaseTime);
// Inserts inv with invitation_digest(inv.id) as its token digest.
void add_invitation(AccountStore& store, const Invitation& inv);

// A registry over the case's store with a clock the case moves, and no background usage
// writes (the case flushes when it wants them).
struct RegistryOverStore {
    explicit RegistryOverStore(std::shared_ptr<ChatbotStore> store, std::uint64_t seed = 7)
        : clock(std::make_shared<FakeClock>(at(kBaseTime))),
          registry(std::move(store),
                   RegistryOptions{.key_usage_flush_interval = std::chrono::milliseconds::zero(),
                                   .clock = clock,
                                   .random = std::make_shared<DeterministicRandom>(seed)}) {}

    void set(std::int64_t unix_seconds) { clock->set(at(unix_seconds)); }

    std::shared_ptr<FakeClock> clock;
    ChatbotRegistry registry;
};

}  // namespace chatbotmgr::testing::detail
