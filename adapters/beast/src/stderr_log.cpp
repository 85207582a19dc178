#include "stderr_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace chatbotmgr::beast::detail {

void write_stderr_line(std::string_view line) noexcept {
    try {
        std::string buf;
        buf.reserve(line.size() + 1);
        buf.append(line);
        buf.push_back('\n');
        const char* p = buf.data();
        std::size_t left = buf.size();
        while (left > 0) {
            ssize_t n = ::write(STDERR_FILENO, p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                return;  // nowhere to report a broken stderr
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    } catch (...) {
        // Out of memory while logging: drop the line rather than the request.
    }
}

}  // namespace chatbotmgr::beast::detail
