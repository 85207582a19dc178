// Opens COUNT keep-alive connections to 127.0.0.1:PORT, sends one request on each (so each
// is a served keep-alive connection, not a half-open one), and holds them open for
// HOLD_SECONDS. bench/http/rss.sh measures the server's memory meanwhile.
//
//   chatbotmgr_hold_connections PORT COUNT HOLD_SECONDS [PATH]
//
// Prints "open=N ok=N busy=N failed=N" once every connection is set up, then holds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Reads one response (header + Content-Length body); returns its status or -1.
int read_response(int fd) {
    std::string data;
    char buf[4096];
    std::size_t header_end = std::string::npos;
    long long length = -1;
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return -1;
        data.append(buf, static_cast<std::size_t>(n));
        if (header_end == std::string::npos) {
            header_end = data.find("\r\n\r\n");
            if (header_end == std::string::npos) continue;
            const auto cl = data.find("Content-Length: ");
            length = cl == std::string::npos ? 0 : std::atoll(data.c_str() + cl + 16);
        }
        if (data.size() >= header_end + 4 + static_cast<std::size_t>(length)) break;
    }
    if (data.compare(0, 9, "HTTP/1.1 ") != 0) return -1;
    return std::atoi(data.c_str() + 9);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s PORT COUNT HOLD_SECONDS [PATH]\n", argv[0]);
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const int count = std::atoi(argv[2]);
    const int hold = std::atoi(argv[3]);
    const std::string path = argc > 4 ? argv[4] : "/healthz";

    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < static_cast<rlim_t>(count) + 64) {
        limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, static_cast<rlim_t>(count) + 64);
        setrlimit(RLIMIT_NOFILE, &limit);
    }

    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";

    std::vector<int> open;
    int ok = 0, busy = 0, failed = 0;
    for (int i = 0; i < count; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(request.size())) {
            if (fd >= 0) ::close(fd);
            ++failed;
            continue;
        }
        const int status = read_response(fd);
        if (status == 200) {
            ++ok;
            open.push_back(fd);
        } else {
            status == 503 ? ++busy : ++failed;
            ::close(fd);
        }
    }
    std::printf("open=%zu ok=%d busy=%d failed=%d\n", open.size(), ok, busy, failed);
    std::fflush(stdout);
    ::sleep(static_cast<unsigned>(hold));
    for (int fd : open) ::close(fd);
    return 0;
}
