// One SQLite file, many users of it: registries and store objects in one process stay
// exact (a revocation through any of them holds for all when it returns), another process
// is refused, and the files hold conversations only for their owner (mode 0600).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/registry.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "chatbotmgr/testing/errors.hpp"
#include "temp_dir.hpp"

namespace {

using namespace chatbotmgr;
using sqlite::SqliteOptions;
using sqlite::SqliteStore;

std::shared_ptr<SqliteStore> open_store(const std::string& path) {
    SqliteOptions options;
    options.path = path;
    return std::make_shared<SqliteStore>(options);
}

}  // namespace

TEST_CASE("sqlite: registries and stores over one file see every revocation when it returns") {
    test::TempDir dir;
    const std::string path = dir.file("shared.db");
    auto first = open_store(path);
    auto second = open_store(path);  // e.g. an admin tool's own store in the same process
    ChatbotRegistry admin(first), ingest(first), other(second);

    const auto a = admin.create("org", {"a", {}});
    const auto b = other.create("org", {"b", {}});
    for (ChatbotRegistry* r : {&admin, &ingest, &other}) {  // every cache holds both keys
        REQUIRE(r->authenticate(a.api_key));
        REQUIRE(r->authenticate(b.api_key));
    }

    const auto rotated = other.rotate_key("org", a.chatbot.id);  // through the second store
    for (ChatbotRegistry* r : {&admin, &ingest, &other}) {
        CHECK_FALSE(r->authenticate(a.api_key));
        CHECK(r->authenticate(rotated.api_key));
    }

    admin.remove("org", b.chatbot.id);  // through the first store
    for (ChatbotRegistry* r : {&admin, &ingest, &other}) CHECK_FALSE(r->authenticate(b.api_key));

    ingest.update("org", a.chatbot.id, {"renamed", boost::json::object{{"theme", "dark"}}});
    for (ChatbotRegistry* r : {&admin, &ingest, &other}) {
        CHECK(r->get("org", a.chatbot.id).name == "renamed");
        CHECK(r->get("org", a.chatbot.id).settings == boost::json::object{{"theme", "dark"}});
    }
}

TEST_CASE("sqlite: a logout through one store object is seen by Accounts over another") {
    test::TempDir dir;
    const std::string path = dir.file("sessions.db");
    auto first = open_store(path);
    auto second = open_store(path);
    AccountsOptions options;
    options.pwhash_opslimit = 1;
    options.pwhash_memlimit = 8192;
    Accounts web(first, options), api(second, options);
    web.add_user("a@example.com", "Acme", "password1");
    const auto login = web.login("a@example.com", "password1");
    REQUIRE(api.check_session(login.token));  // cached by api
    REQUIRE(web.logout(login.token));
    CHECK_FALSE(api.check_session(login.token));
}

// Run in a separate process by the next case (a forked child would share this process's
// file hub and lock): opens the file named by CHATBOTMGR_PROBE_DB and passes when the
// store is refused because another process has the file open.
TEST_CASE("sqlite: open probe for another process", "[.probe]") {
    const char* path = std::getenv("CHATBOTMGR_PROBE_DB");
    REQUIRE(path != nullptr);
    const auto e = testing::error_of([&] { open_store(path); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::unavailable);
    CHECK(std::string(e->what()).find("another process") != std::string::npos);
}

namespace {

// Runs this test program's probe case in a new process; true when it passed.
bool probe_from_another_process(const std::string& path) {
    const pid_t child = ::fork();
    if (child < 0) return false;
    if (child == 0) {
        ::setenv("CHATBOTMGR_PROBE_DB", path.c_str(), 1);
        ::execl("/proc/self/exe", "storage_tests", "[.probe]", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("sqlite: another process cannot open a file this process has open") {
    test::TempDir dir;
    const std::string path = dir.file("owned.db");
    auto store = open_store(path);
    CHECK(probe_from_another_process(path));
    // Once this process lets go, another one may open it (the probe then fails).
    store.reset();
    CHECK_FALSE(probe_from_another_process(path));
}

TEST_CASE("sqlite: the database, its WAL and shared-memory files are private to the owner") {
    test::TempDir dir;
    const std::string path = dir.file("private.db");
    ::umask(022);  // the common default, which would leave 0644 files
    auto store = open_store(path);
    ChatbotRegistry registry(store);
    registry.create("org", {"a", {}});  // the WAL exists once something was written
    for (const std::string suffix : {"", "-wal", "-shm"}) {
        struct stat st {};
        INFO(path + suffix);
        REQUIRE(::stat((path + suffix).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
    }
}
