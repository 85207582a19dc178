// The README's "Mounting the dashboard in a host" fragment, compiled exactly as printed
// inside the host code it is a part of (packaging.sh readme), then run: the installed
// library answers the page with the headers of API.md section 17.
#include <iostream>
#include <optional>

#include <chatbotmgr/beast/api.hpp>
#include <chatbotmgr/beast/server.hpp>
#include <chatbotmgr/dashboard/dashboard.hpp>

namespace {

using chatbotmgr::beast::Api;

std::optional<Api::Response> host_code(const Api::Request& request) {
#include "dashboard_fragment.inc"
    (void)options;
    return std::nullopt;
}

}  // namespace

int main() {
    Api::Request request{boost::beast::http::verb::get, "/", 11};
    const auto page = host_code(request);
    if (!page || page->result_int() != 200 ||
        (*page)["Content-Security-Policy"] != chatbotmgr::dashboard::kContentSecurityPolicy) {
        std::cerr << "the dashboard did not answer / as documented\n";
        return 1;
    }
    request.target("/api/v1/chatbots");
    if (host_code(request)) {
        std::cerr << "the dashboard answered an API path\n";
        return 1;
    }
    std::cout << "dashboard: / answered from the installed library\n";
    return 0;
}
