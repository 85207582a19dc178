// Internal: the settings rules of API.md section 1, shared by validation and the registry.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace chatbotmgr::detail {

// Throws Error(invalid_argument) unless settings is an object at most kMaxSettingsDepth deep.
void check_settings(const boost::json::value& settings, std::string_view field);
// check_settings, then the compact JSON text, which must be at most kMaxSettingsBytes.
std::string settings_to_json(const boost::json::value& settings);

}  // namespace chatbotmgr::detail
