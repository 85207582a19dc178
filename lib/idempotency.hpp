// Internal: the machinery of retry-safe calls (API.md section 14), shared by the registry
// and Accounts.
#pragma once

#include <sodium.h>

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "chatbotmgr/actor.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/idempotency.hpp"
#include "chatbotmgr/journal.hpp"
#include "chatbotmgr/secrets.hpp"

namespace chatbotmgr::detail {

// One retry-safe call: its scope digest, its request digest and the key that seals its
// answer, all derived from the Idempotency-Key value -- which is never stored, so a stored
// record neither names its key nor opens without it.
class IdempotentRun {
  public:
    // Throws invalid_argument (field "Idempotency-Key") for a malformed key.
    IdempotentRun(const Actor& actor, const IdempotentCall& call, std::chrono::sys_seconds now);
    ~IdempotentRun();
    IdempotentRun(const IdempotentRun&) = delete;
    IdempotentRun& operator=(const IdempotentRun&) = delete;

    const Digest& scope() const noexcept { return scope_; }
    // What an earlier call with this scope answered: the replay, or idempotency_key_reused
    // when it was another request. nullopt when there was none.
    std::optional<IdempotentAnswer> replay(const std::optional<IdempotencyRecord>& earlier) const;
    // The record that keeps answer (sealed) for kIdempotencyRetention.
    IdempotencyRecord record(std::string_view answer) const;

  private:
    Digest scope_{};
    Digest request_{};
    std::array<unsigned char, crypto_secretbox_KEYBYTES> answer_key_{};
    std::chrono::sys_seconds expires_at_{};
};

// The scopes of the calls running in this process: a second call with the same scope gets
// idempotency_in_progress instead of waiting on the first.
class InFlightCalls {
  public:
    class Ticket {
      public:
        Ticket(InFlightCalls& calls, const Digest& scope);
        ~Ticket();
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;

      private:
        InFlightCalls& calls_;
        Digest scope_;
    };

    bool running(const Digest& scope) const {
        std::lock_guard lock(mutex_);
        return running_.contains(scope);
    }

  private:
    mutable std::mutex mutex_;
    std::unordered_set<Digest, DigestHash> running_;
};

// A store's refusal of a record whose scope is taken by a live record.
bool is_idempotency_conflict(const Error& e) noexcept;

[[noreturn]] void throw_in_progress();

// What an earlier call with this scope answered, checked before the request is even read
// (API.md section 18): idempotency_in_progress while one runs here, the replay when it
// finished, idempotency_key_reused for another request; nullopt: the call has to run.
template <class Find>
std::optional<IdempotentAnswer> earlier_answer(const InFlightCalls& in_flight,
                                               const IdempotentRun& call, Find&& find) {
    if (in_flight.running(call.scope())) throw_in_progress();
    return call.replay(find());
}

// Runs a retry-safe call once: run() does the call, writing call.record(answer) with its
// change, and returns the answer. The store is read (find()) only when run() fails: a fresh
// call -- the common case -- costs no read. A retry of a finished call fails in run(),
// because the store refuses a second record of a live scope (or because the first call
// changed what this one would change, e.g. deleted its chatbot); then the record is found
// and answered (replayed, or idempotency_key_reused for another request). A call that fails
// without a record fails as it would without a key.
template <class Find, class Run>
IdempotentAnswer run_once(InFlightCalls& in_flight, const IdempotentRun& call, Find&& find,
                          Run&& run) {
    InFlightCalls::Ticket ticket(in_flight, call.scope());
    try {
        return {run(), false};
    } catch (const Error& e) {
        if (auto earlier = call.replay(find())) return std::move(*earlier);
        // Refused for a record that is gone again (expired): another call with the key
        // committed meanwhile, elsewhere.
        if (is_idempotency_conflict(e)) throw_in_progress();
        throw;
    }
}

}  // namespace chatbotmgr::detail
