// Internal: the settings rules of API.md section 1, shared by create and update.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace chatbotmgr::detail {

// Throws Error(invalid_argument, field) unless value, inside enclosing_depth levels of
// containers, nests at most max_depth deep in all, and all
// its strings and member names are valid UTF-8 and its numbers finite -- what the strict
// parser guarantees for HTTP input, checked again for values a C++ host builds.
void check_json_value(const boost::json::value& value, std::string_view field,
                      std::size_t max_depth, std::size_t enclosing_depth = 0);

// check_json_value for settings, then their compact JSON text, which must be at most
// kMaxSettingsBytes.
std::string checked_settings_json(const boost::json::object& settings);

}  // namespace chatbotmgr::detail
