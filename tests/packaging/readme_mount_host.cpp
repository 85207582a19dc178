// The README's "Mounting the HTTP API in your own server" fragment, compiled exactly as
// printed inside the host code it is a part of (packaging.sh readme): what the fragment
// takes from its surroundings is declared here, the fragment itself is #included.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chatbotmgr/beast/api.hpp>
#include <chatbotmgr/beast/session_check.hpp>
#include <chatbotmgr/memory_store.hpp>
#include <chatbotmgr/registry.hpp>

namespace {

class MySessionCheck final : public chatbotmgr::beast::SessionCheck {
  public:
    std::optional<chatbotmgr::beast::Principal> check(
        const chatbotmgr::beast::RequestView&) override {
        return std::nullopt;
    }
};

struct Connection {
    void post_write(chatbotmgr::beast::Api::Response) {}
};

[[maybe_unused]] void host_code(
    std::shared_ptr<chatbotmgr::ChatbotRegistry> registry, chatbotmgr::beast::ApiOptions options,
    std::string_view target,
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    std::string client_address, bool body_over_limit, std::shared_ptr<Connection> conn) {
#include "mount_fragment.inc"
}

}  // namespace

int main() {
    // Compiled and linked: the fragment uses only what the installed headers declare.
    return 0;
}
