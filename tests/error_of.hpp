// Shared test helpers: what chatbotmgr::Error a call throws, for one-line assertions.
#pragma once

#include <optional>
#include <string>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::test {

// The error that f throws, or nullopt when it returns normally (other exceptions escape).
template <class F>
std::optional<Error> error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    return std::nullopt;
}

template <class F>
std::optional<ErrorCode> code_of(F&& f) {
    auto e = error_of(std::forward<F>(f));
    return e ? std::optional<ErrorCode>(e->code()) : std::nullopt;
}

// The field the error names; "<no error>" when f returned normally.
template <class F>
std::string field_of(F&& f) {
    auto e = error_of(std::forward<F>(f));
    return e ? e->field() : "<no error>";
}

}  // namespace chatbotmgr::test
