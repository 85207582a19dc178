// chatbotmgr-server: the bundled HTTP server.
//
//   chatbotmgr-server serve [--listen 127.0.0.1:8080] [--db ./chatbotmgr.db] ...
//   chatbotmgr-server serve --storage postgresql://app@db.internal/chatbotmgr ...
//   chatbotmgr-server user add (--db PATH | --storage URL) --email EMAIL --org NAME
//                                                        (password on stdin)
//
// Exit codes: 0 success (and clean stop on SIGTERM/SIGINT), 1 runtime failure (storage,
// listen address, user exists), 2 bad command line.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/server.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/clock.hpp"
#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/registry.hpp"
#include "config.hpp"
#include "storage.hpp"

namespace {

using namespace chatbotmgr;
using namespace chatbotmgr::server;

constexpr const char* kProgram = "chatbotmgr-server";
constexpr const char* kAdminEmail = "admin@example.com";
constexpr const char* kAdminOrg = "Default Organization";

void fail(const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
}

// 24 characters from a 32-letter alphabet (no 0/o/1/l): 120 bits from the CSPRNG.
std::string generate_password() {
    static constexpr char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
    std::byte bytes[24];
    system_random()->fill(bytes);
    std::string out;
    for (std::byte b : bytes) out += alphabet[static_cast<unsigned>(b) % 32];  // 256 % 32 == 0
    return out;
}

// On an empty database: one organization and one admin user, credentials printed once.
// Instances that start together on one empty PostgreSQL database all find no users; the
// unique email lets exactly one insert win (the organization is found-or-created by its
// unique name), and the others take the conflict as "bootstrapped elsewhere".
void bootstrap_admin(Accounts& accounts) {
    if (accounts.has_users()) return;
    const std::string password = generate_password();
    try {
        accounts.add_user(kAdminEmail, kAdminOrg, password);
    } catch (const Error& e) {
        if (e.code() == ErrorCode::conflict) {
            std::fprintf(stderr, "%s: another instance created the first user meanwhile\n",
                         kProgram);
            return;
        }
        throw;
    }
    std::printf(
        "%s: the database had no users; created organization \"%s\" and its admin user.\n"
        "  email:    %s\n"
        "  password: %s\n"
        "This password is shown only now. Add more users with \"%s user add\".\n",
        kProgram, kAdminOrg, kAdminEmail, password.c_str(), kProgram);
    std::fflush(stdout);
}

// Removes expired sessions once an hour, so the table does not grow without bound: the
// one janitor of Accounts::delete_expired_sessions. Runs on a thread of its own: the
// deletion blocks on storage.
class SessionJanitor {
  public:
    explicit SessionJanitor(std::shared_ptr<Accounts> accounts)
        : accounts_(std::move(accounts)), thread_([this] { loop(); }) {}
    ~SessionJanitor() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!cv_.wait_for(lock, std::chrono::hours(1), [this] { return stop_; })) {
            lock.unlock();
            try {
                accounts_->delete_expired_sessions();
            } catch (const std::exception& e) {
                fail(std::string("removing expired sessions: ") + e.what());
            }
            lock.lock();
        }
    }

    std::shared_ptr<Accounts> accounts_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;  // last: starts once the rest is ready
};

int serve(const ServeConfig& config) {
    // The address first: it is the cheaper thing to find taken (nothing is accepted before
    // start(), so clients wait in the backlog while the storage opens).
    beast::ServerOptions server_options;
    server_options.address = config.listen_host;
    server_options.port = config.listen_port;
    server_options.io_threads = config.threads;
    server_options.max_connections = config.max_connections;
    server_options.access_log = config.access_log;
    std::unique_ptr<beast::Server> server;
    try {
        server = std::make_unique<beast::Server>(server_options);
    } catch (const Error& e) {
        fail(e.what());  // "cannot listen on 127.0.0.1:8080: Address already in use"
        return 1;
    }

    Storage storage;
    try {
        storage = open_storage(config.storage);
    } catch (const std::exception& e) {
        fail("cannot open the " + describe(config.storage) + ": " + e.what());
        return 1;
    }

    auto registry = std::make_shared<ChatbotRegistry>(storage.chatbots);
    AccountsOptions account_options;
    account_options.session_ttl = config.session_ttl;
    auto accounts = std::make_shared<Accounts>(storage.accounts, account_options);
    try {
        bootstrap_admin(*accounts);
    } catch (const std::exception& e) {
        fail(std::string("cannot create the first user: ") + e.what());
        return 1;
    }

    beast::ApiOptions api_options;
    // Unset: the Server gives the Api the origin of the address it bound.
    api_options.public_origin = config.public_origin.value_or("");
    const std::size_t io_threads =
        config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
    api_options.blocking_threads = std::max<std::size_t>(4, 2 * io_threads);
    // PostgreSQL: a write holds a pooled connection for its whole duration, so write
    // threads beyond the pool would only queue for one (and lengthen the tail).
    if (config.storage.postgres_url)
        api_options.write_threads =
            std::min(api_options.write_threads, config.storage.postgres_pool);
    auto api = std::make_shared<beast::Api>(
        registry, std::make_shared<beast::AccountsSessionCheck>(accounts), api_options, accounts);

    auto janitor = std::make_unique<SessionJanitor>(accounts);
    server->start(api);
    server->stop_on_signals();
    std::printf("%s: listening on %s (public origin %s)\n", kProgram,
                server->bound_origin().c_str(), api->options().public_origin.c_str());
    std::fflush(stdout);

    // run() returns once a signal has stopped the server and the last connection is gone.
    server->run();
    std::fprintf(stderr, "%s: stopping\n", kProgram);

    api->stop();  // blocking work still queued finishes here
    janitor.reset();
    server.reset();
    api.reset();
    accounts.reset();
    registry.reset();
    storage = {};  // closes the database after its last write
    std::fprintf(stderr, "%s: stopped\n", kProgram);
    return 0;
}

int user_add(const UserAddConfig& config) {
    std::string password;
    if (!std::getline(std::cin, password) && password.empty()) {
        fail("user add: expected the password on standard input");
        return 1;
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();

    Storage storage;
    try {
        storage = open_storage(config.storage);
    } catch (const std::exception& e) {
        fail("cannot open the " + describe(config.storage) + ": " + e.what());
        return 1;
    }
    Accounts accounts(storage.accounts);
    try {
        auto [user, org] = accounts.add_user(config.email, config.org, password);
        const boost::json::object out{{"user_id", user.id}, {"org_id", org.id}};
        std::printf("%s\n", to_compact_json(out).c_str());
        return 0;
    } catch (const Error& e) {
        if (e.code() == ErrorCode::conflict)
            fail("user add: a user with this email exists already");
        else
            fail(std::string("user add: ") + e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // A closed stderr or stdout must not kill the server; writes then just fail.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    Command command;
    try {
        command = parse_command_line(args);
    } catch (const UsageError& e) {
        fail(e.what());
        std::fprintf(stderr, "Run \"%s --help\" for usage.\n", kProgram);
        return 2;
    }
    try {
        if (auto* help = std::get_if<HelpRequest>(&command)) {
            std::fputs(help->text.c_str(), stdout);
            return 0;
        }
        if (auto* serve_config = std::get_if<ServeConfig>(&command)) return serve(*serve_config);
        return user_add(std::get<UserAddConfig>(command));
    } catch (const std::exception& e) {
        fail(e.what());
        return 1;
    }
}
