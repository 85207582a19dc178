// The one error channel of the public API.
//
// Every fallible call of chatbotmgr reports failure by throwing chatbotmgr::Error.
// Adapters map Error::code() to their world (HTTP status, exit code); they never
// parse what() -- the message is for humans and never contains a secret.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chatbotmgr/role.hpp"

namespace chatbotmgr {

enum class ErrorCode {
    invalid_argument,         // input breaks a rule; field() names the offending field
    not_found,                // no such chatbot *in the caller's organization*
    unauthenticated,          // unknown, malformed, expired or revoked credential
    forbidden,                // the actor's role does not allow this; required_role() says which
    conflict,                 // a unique value (id, key digest, email) already exists
    idempotency_in_progress,  // a call with the same Idempotency-Key is still running
    idempotency_key_reused,   // the Idempotency-Key was used for another request
    unavailable,              // storage unreachable, busy past its timeout, full or read-only
    internal,                 // a bug: an invariant did not hold
};

// Stable lowercase name of a code ("invalid_argument", ...), for logs and tests.
std::string_view to_string(ErrorCode code) noexcept;

// What every fallible call throws. A value type: copy it, rethrow it, keep it.
class Error : public std::runtime_error {
  public:
    Error(ErrorCode code, std::string message, std::string field = {})
        : std::runtime_error(std::move(message)), code_(code), field_(std::move(field)) {}

    ErrorCode code() const noexcept { return code_; }
    // The input field at fault for invalid_argument ("name", "settings", "messages[3].role"),
    // empty otherwise.
    const std::string& field() const noexcept { return field_; }
    // For forbidden: the lowest role that would have been allowed to do this exact thing.
    std::optional<Role> required_role() const noexcept { return required_role_; }

    static Error forbidden(Role required) {
        Error e(ErrorCode::forbidden,
                "this needs the " + std::string(to_string(required)) + " role or higher");
        e.required_role_ = required;
        return e;
    }

  private:
    ErrorCode code_;
    std::string field_;
    std::optional<Role> required_role_;
};

}  // namespace chatbotmgr
