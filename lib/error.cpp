#include "chatbotmgr/error.hpp"

namespace chatbotmgr {

std::string_view to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::invalid_argument:
            return "invalid_argument";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::unauthenticated:
            return "unauthenticated";
        case ErrorCode::forbidden:
            return "forbidden";
        case ErrorCode::conflict:
            return "conflict";
        case ErrorCode::idempotency_in_progress:
            return "idempotency_in_progress";
        case ErrorCode::idempotency_key_reused:
            return "idempotency_key_reused";
        case ErrorCode::unavailable:
            return "unavailable";
        case ErrorCode::internal:
            return "internal";
    }
    return "internal";
}

}  // namespace chatbotmgr
