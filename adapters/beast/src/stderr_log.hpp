// Internal: whole lines to stderr.
#pragma once

#include <string_view>

namespace chatbotmgr::beast::detail {

// Writes line plus '\n' with one write(2), so lines of concurrent threads never interleave.
void write_stderr_line(std::string_view line) noexcept;

}  // namespace chatbotmgr::beast::detail
