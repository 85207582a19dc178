// Versioned schema migrations, tracked with PRAGMA user_version. Internal.
#pragma once

#include <string>

#include "connection.hpp"

namespace chatbotmgr::sqlite::detail {

// The version the last migration step leaves the file at.
int latest_schema_version() noexcept;

// Applies every missing step, each in its own BEGIN IMMEDIATE transaction (so two
// processes opening the same new file do not both migrate). Throws Error(unavailable)
// when the file's version is newer than latest_schema_version() or a step fails.
void migrate(Connection& connection, const std::string& path);

}  // namespace chatbotmgr::sqlite::detail
