// Uses each component for real, so a dependency missing from the package's link interface
// fails to link (or to run) here.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <chatbotmgr/beast/api.hpp>
#include <chatbotmgr/beast/session_check.hpp>
#include <chatbotmgr/error.hpp>
#include <chatbotmgr/registry.hpp>
#include <chatbotmgr/sqlite/sqlite_store.hpp>
#ifdef HAVE_CHATBOTMGR_POSTGRES
#include <chatbotmgr/postgres/postgres_store.hpp>
#endif

namespace {
struct NoSessions : chatbotmgr::beast::SessionCheck {
    std::optional<chatbotmgr::beast::Principal> check(
        const chatbotmgr::beast::RequestView&) override {
        return std::nullopt;
    }
};
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const auto db = std::filesystem::path(argv[1]) / "link_check.db";
    std::filesystem::remove(db);
    chatbotmgr::sqlite::SqliteOptions options;
    options.path = db.string();
    auto registry = std::make_shared<chatbotmgr::ChatbotRegistry>(
        std::make_shared<chatbotmgr::sqlite::SqliteStore>(options));
    registry->create("org-1", {"Linked", {}});

    chatbotmgr::beast::Api api(registry, std::make_shared<NoSessions>());
    chatbotmgr::beast::Api::Request request{boost::beast::http::verb::get, "/api/v1/chatbots", 11};
    const auto response = api.handle_sync(std::move(request));
    if (response.result_int() != 401) return 1;

#ifdef HAVE_CHATBOTMGR_POSTGRES
    // No server is needed: an unreachable one must be reported as unavailable.
    chatbotmgr::postgres::PostgresOptions pg;
    pg.conninfo = "host=/nonexistent/chatbotmgr-link-check dbname=none";
    pg.connect_timeout = std::chrono::seconds(2);
    try {
        chatbotmgr::postgres::PostgresStore store(pg);
        return 1;
    } catch (const chatbotmgr::Error& e) {
        if (e.code() != chatbotmgr::ErrorCode::unavailable) return 1;
    }
    std::puts("link_check: sqlite, beast and postgres linked and ran");
#else
    std::puts("link_check: sqlite and beast linked and ran");
#endif
    return 0;
}
