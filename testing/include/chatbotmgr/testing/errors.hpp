// What chatbotmgr::Error a call throws, for one-line assertions in tests:
//
//   CHECK(chatbotmgr::testing::code_of([&] { registry.get("org-1", id); }) ==
//         chatbotmgr::ErrorCode::not_found);
//   const auto e = chatbotmgr::testing::error_of([&] { ... });
//   REQUIRE(e);
//   CHECK(e->field() == "name");
//
// Needs no test framework. Exceptions other than chatbotmgr::Error pass through.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::testing {

// The Error that f throws, or nullopt when f returns normally.
template <class F>
std::optional<Error> error_of(F&& f) {
    try {
        std::forward<F>(f)();
    } catch (const Error& e) {
        return e;
    }
    return std::nullopt;
}

// The code of the Error that f throws, or nullopt when f returns normally.
template <class F>
std::optional<ErrorCode> code_of(F&& f) {
    const auto e = error_of(std::forward<F>(f));
    return e ? std::optional<ErrorCode>(e->code()) : std::nullopt;
}

// The field the Error that f throws names; "<no error>" when f returns normally.
template <class F>
std::string field_of(F&& f) {
    const auto e = error_of(std::forward<F>(f));
    return e ? e->field() : "<no error>";
}

}  // namespace chatbotmgr::testing
