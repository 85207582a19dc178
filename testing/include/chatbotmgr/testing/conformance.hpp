// The storage conformance suite, for every ChatbotStore and AccountStore implementation --
// ours and yours.
//
// Usage, at namespace scope in a Catch2 test program of your own (it brings the main):
//
//   #include <chatbotmgr/testing/conformance.hpp>
//
//   struct MyTarget : chatbotmgr::testing::ConformanceTarget {
//       std::shared_ptr<chatbotmgr::ChatbotStore> open() override { ... }
//   };
//   CHATBOTMGR_STORAGE_CONFORMANCE("mystore", [] { return std::make_unique<MyTarget>(); });
//
// The macro expands to one Catch2 TEST_CASE per case of the suite, named
// "<store name>: <case>" and tagged [conformance][<store name>], so catch_discover_tests
// shows one ctest test per case and store. Each test case calls the factory once, for a
// fresh target, and runs the case (run_store_case below) on Catch2's thread.
//
//   CHATBOTMGR_STORAGE_CONFORMANCE(name, factory)             every store
//   CHATBOTMGR_PERSISTENT_STORAGE_CONFORMANCE(name, factory)  the same plus the reopen
//       (durability) cases, for stores whose data survive destroying the store object:
//       files, database servers. The reopen cases are registered only by this macro: a
//       store registered with the first one has no such test cases, rather than test
//       cases that pass without checking anything.
//   CHATBOTMGR_ACCOUNT_STORE_CONFORMANCE(name, factory)       the accounts port
//   CHATBOTMGR_PERSISTENT_ACCOUNT_STORE_CONFORMANCE(name, factory)
//       Cases named "<store name>: accounts: <case>", tagged
//       [conformance][<store name>][accounts]; factory makes AccountConformanceTargets.
//
// name must be a string literal (it is pasted into the test names and tags at compile
// time); factory is any expression callable as
// std::unique_ptr<ConformanceTarget>() (or AccountConformanceTarget), commas allowed.
// Each macro may be used once per store name in a program.
//
// Catch2: the macros use only Catch2's public TEST_CASE (CATCH_TEST_CASE under
// CATCH_CONFIG_PREFIX_ALL), which Catch2 v2 and v3 both have. This header uses the Catch2
// your program included before it; otherwise it includes Catch2 v3's
// <catch2/catch_test_macros.hpp> where that exists, else v2's <catch2/catch.hpp>. The
// compiled part of the kit (libchatbotmgr_testing) is built against one Catch2: link it
// with the same major version. Test names are unique per expansion through __COUNTER__,
// which Catch2 uses by default (do not define CATCH_CONFIG_NO_COUNTER).
//
// Migrating from register_storage_conformance(name, factory) and
// register_account_store_conformance(name, factory) of earlier builds: they registered
// through Catch2 v2 internals and are gone. Replace the call with the macro; a target that
// returned true from persistent() uses the PERSISTENT_ macro instead (persistent() itself
// is gone: the macro says it).
#pragma once

#if defined(TWOBLUECUBES_SINGLE_INCLUDE_CATCH_HPP_INCLUDED) || \
    defined(CATCH_TEST_MACROS_HPP_INCLUDED)
// Catch2 (v2 or v3) is included already: use that one.
#elif __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>  // Catch2 v3
#else
#include <catch2/catch.hpp>  // Catch2 v2
#endif

#include <functional>
#include <memory>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr::testing {

// One target is made per test case, so every case starts from an empty store. Cases call
// open() from the test's main thread; the store it returns is then used from many threads
// at once, as ChatbotStore requires.
class ConformanceTarget {
  public:
    virtual ~ConformanceTarget() = default;
    // The store under test. The first call makes an empty store. For a store registered
    // with a PERSISTENT_ macro, a later call, after the previous store object was
    // destroyed, reopens the same data.
    virtual std::shared_ptr<ChatbotStore> open() = 0;
};

// The same for the accounts port (accounts.hpp).
class AccountConformanceTarget {
  public:
    virtual ~AccountConformanceTarget() = default;
    // As ConformanceTarget::open, for the accounts port.
    virtual std::shared_ptr<AccountStore> open() = 0;
};

using ConformanceTargetFactory = std::function<std::unique_ptr<ConformanceTarget>()>;
using AccountConformanceTargetFactory = std::function<std::unique_ptr<AccountConformanceTarget>()>;

// The cases, as X-macro lists: X(id, "title", ...) with the list's extra arguments. The
// ids name StoreCase / AccountCase values; the titles are the test names' last part.
#define CHATBOTMGR_CONFORMANCE_STORE_CASES(X, ...)                                                 \
    X(insert_then_get, "insert then get returns the chatbot", __VA_ARGS__)                         \
    X(get_is_scoped_to_organization, "get is scoped to the organization", __VA_ARGS__)             \
    X(insert_existing_id_conflicts, "insert with an existing id is a conflict", __VA_ARGS__)       \
    X(insert_existing_digest_conflicts, "insert with an existing key digest is a conflict",        \
      __VA_ARGS__)                                                                                 \
    X(insert_respects_organization_limit,                                                          \
      "insert stops at max_in_org exactly, also under concurrent inserts", __VA_ARGS__)            \
    X(list_order, "list is newest first, ties by id descending", __VA_ARGS__)                      \
    X(list_is_scoped_to_organization, "list is scoped to the organization", __VA_ARGS__)           \
    X(list_page_walks_the_list, "list_page walks list in keyset pages of any size", __VA_ARGS__)   \
    X(update_changes_name_and_settings, "update stores name and settings", __VA_ARGS__)            \
    X(update_not_found, "update of a missing or foreign chatbot is nullopt", __VA_ARGS__)          \
    X(update_whose_mutate_throws_writes_nothing, "update whose mutate throws writes nothing",      \
      __VA_ARGS__)                                                                                 \
    X(concurrent_updates_lose_nothing, "concurrent updates of different members lose nothing",     \
      __VA_ARGS__)                                                                                 \
    X(failing_updates_do_not_disturb_concurrent_ones,                                              \
      "failing updates do not disturb concurrent ones", __VA_ARGS__)                               \
    X(remove_cascades, "remove cascades to conversations, messages and analyses", __VA_ARGS__)     \
    X(remove_not_found, "remove of a missing or foreign chatbot is false", __VA_ARGS__)            \
    X(replace_key_retires_old_digest, "replace_key retires the old digest", __VA_ARGS__)           \
    X(replace_key_to_existing_digest_conflicts, "replace_key to an existing digest is a conflict", \
      __VA_ARGS__)                                                                                 \
    X(replace_key_not_found, "replace_key of a missing or foreign chatbot is nullopt",             \
      __VA_ARGS__)                                                                                 \
    X(find_by_key_digest_any_organization, "find_by_key_digest finds in any organization",         \
      __VA_ARGS__)                                                                                 \
    X(rotation_storm, "rotation storm: a retired digest is never found", __VA_ARGS__)              \
    X(key_generation_moves_on_revocation,                                                          \
      "key_generation, when reported, moves before replace_key and remove return", __VA_ARGS__)    \
    X(chatbot_generation_moves_on_chatbot_writes,                                                  \
      "chatbot_generation, when reported, moves before every chatbot write returns", __VA_ARGS__)  \
    X(registry_reads_see_every_write,                                                              \
      "registry: get and list see every registry's writes at once", __VA_ARGS__)                   \
    X(registry_reads_never_stale_after_a_write,                                                    \
      "registry: no get or list answers older than a write that returned", __VA_ARGS__)            \
    X(rotation_with_grace_keeps_previous_key,                                                      \
      "replace_key with a grace keeps the old key as the previous key", __VA_ARGS__)               \
    X(previous_key_grace_capped_by_its_expiry,                                                     \
      "a previous key is accepted until its grace end or its own expiry, whichever is first",      \
      __VA_ARGS__)                                                                                 \
    X(second_rotation_kills_previous_key, "a second rotation kills the previous key at once",      \
      __VA_ARGS__)                                                                                 \
    X(drop_previous_key_rules, "drop_previous_key kills the previous key and says if it was live", \
      __VA_ARGS__)                                                                                 \
    X(remove_kills_both_keys, "remove kills the current and the previous key", __VA_ARGS__)        \
    X(record_key_usage_keeps_latest, "record_key_usage keeps the latest use of each key",          \
      __VA_ARGS__)                                                                                 \
    X(previous_key_digest_conflicts, "the digest of a previous key is taken", __VA_ARGS__)         \
    X(rotation_storm_with_grace,                                                                   \
      "rotation storm with grace: the key before the previous one is never found", __VA_ARGS__)    \
    X(registry_grace_boundary_to_the_second,                                                       \
      "registry: a previous key is accepted until the second its grace ends", __VA_ARGS__)         \
    X(registry_key_expiry_boundary, "registry: a key is rejected from its expires_at on",          \
      __VA_ARGS__)                                                                                 \
    X(registry_end_grace_and_delete,                                                               \
      "registry: end_grace and delete kill keys for every registry at once", __VA_ARGS__)          \
    X(registry_rotation_race,                                                                      \
      "registry: no old-key success after rotate_key or end_grace returns", __VA_ARGS__)           \
    X(registry_records_last_use, "registry: last use is written in batches, the latest wins",      \
      __VA_ARGS__)                                                                                 \
    X(append_capture_upserts_conversation,                                                         \
      "append_capture upserts the conversation with a stable id", __VA_ARGS__)                     \
    X(append_capture_deduplicates, "append_capture deduplicates by message id", __VA_ARGS__)       \
    X(append_capture_for_missing_chatbot, "append_capture for a missing chatbot writes nothing",   \
      __VA_ARGS__)                                                                                 \
    X(concurrent_identical_captures, "concurrent identical captures store each message once",      \
      __VA_ARGS__)                                                                                 \
    X(record_analysis_rules, "record_analysis needs the chatbot's own conversation", __VA_ARGS__)  \
    X(count_data_of_unknown_chatbot, "count_data of an unknown chatbot is zero", __VA_ARGS__)      \
    X(delete_racing_with_captures, "delete racing with captures leaves no orphans", __VA_ARGS__)   \
    X(create_storm, "create storm stores every chatbot", __VA_ARGS__)                              \
    X(concurrent_inserts_of_one_id, "concurrent inserts of one id: exactly one wins", __VA_ARGS__) \
    X(journal_written_with_each_change,                                                            \
      "journal: every write records its entry, completed from the row", __VA_ARGS__)               \
    X(failed_write_leaves_no_event, "journal: a failed or empty write leaves no event",            \
      __VA_ARGS__)                                                                                 \
    X(live_idempotency_scope_refuses_write,                                                        \
      "journal: a live idempotency scope refuses the whole write", __VA_ARGS__)                    \
    X(concurrent_writes_of_one_scope,                                                              \
      "journal: concurrent writes of one idempotency scope: exactly one commits", __VA_ARGS__)     \
    X(audit_events_filtered_and_paged, "journal: audit events by filter, in keyset pages",         \
      __VA_ARGS__)                                                                                 \
    X(store_assigns_event_ids_in_write_order,                                                      \
      "journal: events without an id get one from the store, in write order", __VA_ARGS__)         \
    X(prune_is_bounded, "journal: pruning deletes at most max rows a call", __VA_ARGS__)           \
    X(ping_answers, "ping answers", __VA_ARGS__)

#define CHATBOTMGR_CONFORMANCE_PERSISTENT_STORE_CASES(X, ...)                                     \
    X(reopen_keeps_acknowledged_writes, "reopen keeps every acknowledged write", __VA_ARGS__)     \
    X(reopen_keeps_concurrent_writes, "reopen keeps concurrent acknowledged writes", __VA_ARGS__) \
    X(reopen_keeps_key_lifecycle, "reopen keeps previous keys, expiries and last uses",           \
      __VA_ARGS__)                                                                                \
    X(reopen_keeps_journal, "reopen keeps audit events and idempotency records", __VA_ARGS__)

#define CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(X, ...)                                              \
    X(organizations, "organizations are found or created by exact name", __VA_ARGS__)             \
    X(account_writes_are_journaled,                                                               \
      "every account write records its entry when it changes something", __VA_ARGS__)             \
    X(invitation_idempotency_scope_refuses_write,                                                 \
      "a live idempotency scope refuses the invitation", __VA_ARGS__)                             \
    X(organization_id_conflict, "an organization id in use is a conflict", __VA_ARGS__)           \
    X(concurrent_find_or_create, "concurrent find_or_create agree on one organization",           \
      __VA_ARGS__)                                                                                \
    X(list_organizations_by_name, "list_organizations lists every organization by name",          \
      __VA_ARGS__)                                                                                \
    X(users, "users are unique by email, case-insensitively, and keep role and created_at",       \
      __VA_ARGS__)                                                                                \
    X(list_users_order, "list_users is oldest first, ties by id, scoped to the organization",     \
      __VA_ARGS__)                                                                                \
    X(list_users_page_walks_the_list, "list_users_page walks list_users in keyset pages",         \
      __VA_ARGS__)                                                                                \
    X(find_user_is_scoped, "find_user is scoped to the organization", __VA_ARGS__)                \
    X(sessions, "sessions are stored, found and deleted", __VA_ARGS__)                            \
    X(expired_sessions, "expired sessions are deleted", __VA_ARGS__)                              \
    X(session_generation_moves_on_delete,                                                         \
      "session_generation, when reported, moves before delete_session returns", __VA_ARGS__)      \
    X(set_role_rules, "set_role changes the role, is scoped, and keeps the last owner",           \
      __VA_ARGS__)                                                                                \
    X(find_session_has_current_role,                                                              \
      "find_session reports the user's role and email as they are now", __VA_ARGS__)              \
    X(remove_user_rules,                                                                          \
      "remove_user deletes the user and their sessions, and keeps the last owner", __VA_ARGS__)   \
    X(session_generation_moves_on_member_change,                                                  \
      "session_generation, when reported, moves before set_role and remove_user return",          \
      __VA_ARGS__)                                                                                \
    X(concurrent_demotions_keep_one_owner,                                                        \
      "two owners demoting each other at once leave exactly one owner", __VA_ARGS__)              \
    X(concurrent_removals_keep_one_owner,                                                         \
      "two owners removing each other at once leave exactly one owner", __VA_ARGS__)              \
    X(invitations_listed_while_pending,                                                           \
      "invitations are listed while pending, oldest first, scoped to the organization",           \
      __VA_ARGS__)                                                                                \
    X(invitation_conflicts, "an invitation id or token digest in use is a conflict", __VA_ARGS__) \
    X(revoke_invitation_rules,                                                                    \
      "revoke_invitation revokes a pending invitation of the organization once", __VA_ARGS__)     \
    X(invitation_expires_at_its_instant, "an invitation is dead from its expires_at on",          \
      __VA_ARGS__)                                                                                \
    X(accept_invitation_once, "accept_invitation creates the invited user and works once",        \
      __VA_ARGS__)                                                                                \
    X(accept_revoked_or_unknown_invitation, "a revoked or unknown invitation cannot be accepted", \
      __VA_ARGS__)                                                                                \
    X(accept_with_taken_email_writes_nothing,                                                     \
      "accepting for an email that has an account writes nothing", __VA_ARGS__)                   \
    X(concurrent_accepts_of_one_invitation,                                                       \
      "concurrent accepts of one invitation: exactly one wins", __VA_ARGS__)                      \
    X(concurrent_accepts_for_one_email,                                                           \
      "concurrent accepts of two invitations for one email: one account", __VA_ARGS__)

#define CHATBOTMGR_CONFORMANCE_PERSISTENT_ACCOUNT_CASES(X, ...)                               \
    X(reopen, "reopen keeps organizations, users with their roles, sessions and invitations", \
      __VA_ARGS__)

#define CHATBOTMGR_CONFORMANCE_DETAIL_ENUMERATOR(id, ...) id,

// clang-format off
enum class StoreCase {
    CHATBOTMGR_CONFORMANCE_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ENUMERATOR, ~)
    CHATBOTMGR_CONFORMANCE_PERSISTENT_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ENUMERATOR, ~)
};

enum class AccountCase {
    CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ENUMERATOR, ~)
    CHATBOTMGR_CONFORMANCE_PERSISTENT_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ENUMERATOR, ~)
};
// clang-format on

// Runs one case: calls factory once for a fresh target and checks the store it opens with
// Catch2 assertions. Call from inside a Catch2 test case, on Catch2's thread (the macros
// do). Worker threads of concurrent cases never assert: they report back and the calling
// thread asserts.
void run_store_case(StoreCase which, const ConformanceTargetFactory& factory);
void run_account_case(AccountCase which, const AccountConformanceTargetFactory& factory);

}  // namespace chatbotmgr::testing

// --- The registration macros (see the top of this file).

#ifdef CATCH_CONFIG_PREFIX_ALL
#define CHATBOTMGR_CONFORMANCE_DETAIL_TEST_CASE CATCH_TEST_CASE
#else
#define CHATBOTMGR_CONFORMANCE_DETAIL_TEST_CASE TEST_CASE
#endif

#define CHATBOTMGR_CONFORMANCE_DETAIL_STORE_TEST(id, title, store_name, ...)                      \
    CHATBOTMGR_CONFORMANCE_DETAIL_TEST_CASE(store_name ": " title,                                \
                                            "[conformance][" store_name "]") {                    \
        ::chatbotmgr::testing::run_store_case(::chatbotmgr::testing::StoreCase::id, __VA_ARGS__); \
    }

#define CHATBOTMGR_CONFORMANCE_DETAIL_ACCOUNT_TEST(id, title, store_name, ...)           \
    CHATBOTMGR_CONFORMANCE_DETAIL_TEST_CASE(store_name ": accounts: " title,             \
                                            "[conformance][" store_name "][accounts]") { \
        ::chatbotmgr::testing::run_account_case(::chatbotmgr::testing::AccountCase::id,  \
                                                __VA_ARGS__);                            \
    }

// The trailing static_assert only makes the macros take a semicolon, like a declaration.
#define CHATBOTMGR_STORAGE_CONFORMANCE(store_name, ...)                                      \
    CHATBOTMGR_CONFORMANCE_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_STORE_TEST, store_name, \
                                       __VA_ARGS__)                                          \
    static_assert(true, "")

#define CHATBOTMGR_PERSISTENT_STORAGE_CONFORMANCE(store_name, ...)                           \
    CHATBOTMGR_CONFORMANCE_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_STORE_TEST, store_name, \
                                       __VA_ARGS__)                                          \
    CHATBOTMGR_CONFORMANCE_PERSISTENT_STORE_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_STORE_TEST,  \
                                                  store_name, __VA_ARGS__)                   \
    static_assert(true, "")

#define CHATBOTMGR_ACCOUNT_STORE_CONFORMANCE(store_name, ...)                                    \
    CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ACCOUNT_TEST, store_name, \
                                         __VA_ARGS__)                                            \
    static_assert(true, "")

#define CHATBOTMGR_PERSISTENT_ACCOUNT_STORE_CONFORMANCE(store_name, ...)                         \
    CHATBOTMGR_CONFORMANCE_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ACCOUNT_TEST, store_name, \
                                         __VA_ARGS__)                                            \
    CHATBOTMGR_CONFORMANCE_PERSISTENT_ACCOUNT_CASES(CHATBOTMGR_CONFORMANCE_DETAIL_ACCOUNT_TEST,  \
                                                    store_name, __VA_ARGS__)                     \
    static_assert(true, "")
