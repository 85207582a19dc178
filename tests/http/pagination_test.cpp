// API.md section 15 over real sockets: ?limit and ?cursor on the chatbot and member lists,
// the Link to the next page, the v1 answer without them, malformed and foreign cursors,
// and a walk of 10,000 chatbots while other clients create and delete.
#include <atomic>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/array.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

// The target of a Link: <target>; rel="next" header; empty when there is none.
std::string next_target(const HttpResponse& res) {
    const std::string link = res.header("Link");
    if (link.empty()) return {};
    static const std::regex form(
        R"(^<(/api/v1/[a-z]+\?limit=[0-9]+&cursor=[A-Za-z0-9_-]+)>; rel="next"$)");
    std::smatch m;
    REQUIRE(std::regex_match(link, m, form));
    return m[1];
}

// Every page from first on, following the Links; the ids in order.
std::vector<std::string> walk(HttpClient& client, const std::string& token, std::string target,
                              const char* id_field = "id") {
    std::vector<std::string> ids;
    for (int pages = 0; !target.empty(); ++pages) {
        REQUIRE(pages < 1'000);
        const auto res = client.request("GET", target, {}, bearer(token));
        REQUIRE(res.status == 200);
        check_json_headers(res);
        const json::value body = res.json();
        for (const auto& item : body.as_array()) ids.emplace_back(item.at(id_field).as_string());
        target = next_target(res);
    }
    return ids;
}

std::vector<std::string> ids_of(const HttpResponse& res, const char* id_field = "id") {
    std::vector<std::string> ids;
    const json::value body = res.json();
    for (const auto& item : body.as_array()) ids.emplace_back(item.at(id_field).as_string());
    return ids;
}

}  // namespace

TEST_CASE("pages: without limit or cursor the list is v1, whole and without a Link",
          "[http][pages]") {
    TestServer server;
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    HttpClient client(server.port());
    for (int i = 0; i < 5; ++i) {
        create_bot(client, token, "Bot " + std::to_string(i));
        server.clock->advance(std::chrono::seconds(i % 2));  // ties and steps
    }
    const auto whole = client.request("GET", "/api/v1/chatbots", {}, bearer(token));
    REQUIRE(whole.status == 200);
    CHECK_FALSE(whole.has_header("Link"));
    CHECK(whole.json().as_array().size() == 5);
    // Unknown parameters are ignored: the same v1 answer.
    const auto other =
        client.request("GET", "/api/v1/chatbots?page=2&sort=name", {}, bearer(token));
    CHECK(other.body == whole.body);
    CHECK_FALSE(other.has_header("Link"));

    // Pages of 2 walk the same list, in the same order, each a plain array.
    CHECK(walk(client, token, "/api/v1/chatbots?limit=2") == ids_of(whole));
    const auto first = client.request("GET", "/api/v1/chatbots?limit=2", {}, bearer(token));
    CHECK(first.json().as_array().size() == 2);
    CHECK(first.header("Link").find("limit=2&cursor=") != std::string::npos);
    // A page that holds the rest has no Link.
    const auto all = client.request("GET", "/api/v1/chatbots?limit=5", {}, bearer(token));
    CHECK(ids_of(all) == ids_of(whole));
    CHECK_FALSE(all.has_header("Link"));
    // A cursor without limit: the default of 100, which the next link carries.
    const std::string second = next_target(first);
    const std::string cursor_only = "/api/v1/chatbots?" + second.substr(second.find("cursor="));
    const auto rest = client.request("GET", cursor_only, {}, bearer(token));
    REQUIRE(rest.status == 200);
    CHECK(rest.json().as_array().size() == 3);
    CHECK_FALSE(rest.has_header("Link"));
}

TEST_CASE("pages: limit is 1 to 100, a cursor only of this list and organization",
          "[http][pages]") {
    TestServer server;
    auto [ada, ada_token] = server.user_with_session("ada@example.com", "Acme");
    auto [bob, bob_token] = server.user_with_session("bob@example.com", "Other");
    HttpClient client(server.port());
    for (int i = 0; i < 3; ++i) create_bot(client, ada_token);
    create_bot(client, bob_token);
    for (const char* limit : {"0", "101", "-1", "abc", "1.5", "", "1e2", "%31%30%31", "0100"}) {
        INFO("limit=" << limit);
        const auto res = client.request("GET", std::string("/api/v1/chatbots?limit=") + limit, {},
                                        bearer(ada_token));
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("limit") != std::string::npos);
    }
    CHECK(client.request("GET", "/api/v1/chatbots?limit=100", {}, bearer(ada_token)).status == 200);
    CHECK(client.request("GET", "/api/v1/chatbots?limit=%31", {}, bearer(ada_token)).status == 200);

    const auto ada_page = client.request("GET", "/api/v1/chatbots?limit=1", {}, bearer(ada_token));
    const std::string ada_next = next_target(ada_page);
    const std::string ada_cursor = ada_next.substr(ada_next.find("cursor=") + 7);
    // Bob cannot use Ada's cursor (400, never her chatbots), nor can the member list.
    const auto foreign = client.request("GET", ada_next, {}, bearer(bob_token));
    check_error(foreign, 400, "invalid_request");
    CHECK(foreign.body.find("cursor") != std::string::npos);
    check_error(client.request("GET", "/api/v1/members?limit=1&cursor=" + ada_cursor, {},
                               bearer(ada_token)),
                400, "invalid_request");
    const std::vector<std::string> bad_cursors = {"x",
                                                  "!!!",
                                                  "%zz",
                                                  "MS5hYmM",
                                                  std::string(ada_cursor).append("A"),
                                                  ada_cursor.substr(0, ada_cursor.size() - 2),
                                                  std::string(300, 'A')};
    for (const std::string& bad : bad_cursors) {
        INFO("cursor=" << bad);
        check_error(
            client.request("GET", "/api/v1/chatbots?limit=1&cursor=" + bad, {}, bearer(ada_token)),
            400, "invalid_request");
    }
    CHECK(client.request("GET", ada_next, {}, bearer(ada_token)).status == 200);
}

TEST_CASE("pages: members, oldest first, in pages", "[http][pages]") {
    TestServer server;
    auto [owner, token] = server.user_with_session("owner@example.com", "Acme");
    for (int i = 0; i < 6; ++i) {
        server.add_user("m" + std::to_string(i) + "@example.com", "Acme");
        if (i % 2) server.clock->advance(std::chrono::seconds(1));
    }
    HttpClient client(server.port());
    const auto whole = client.request("GET", "/api/v1/members", {}, bearer(token));
    REQUIRE(whole.status == 200);
    CHECK_FALSE(whole.has_header("Link"));
    REQUIRE(whole.json().as_array().size() == 7);
    for (const char* first :
         {"/api/v1/members?limit=1", "/api/v1/members?limit=3", "/api/v1/members?limit=7"})
        CHECK(walk(client, token, first, "user_id") == ids_of(whole, "user_id"));
}

TEST_CASE(
    "pages: walking 10,000 chatbots while others create and delete returns each chatbot "
    "that existed throughout exactly once",
    "[http][pages]") {
    TestServerOptions options;
    options.registry.max_chatbots_per_org = 20'000;
    TestServer server(options);
    auto [user, token] = server.user_with_session("ada@example.com", "Acme");
    const Actor acme(user.org_id);
    std::vector<std::string> originals;
    for (int i = 0; i < 10'000; ++i) {
        originals.push_back(
            server.registry->create(acme, {"Bot " + std::to_string(i), {}}).chatbot.id);
        if (i % 7 == 0) server.clock->advance(std::chrono::seconds(1));  // runs of equal times
    }
    // The chatbots a client deletes during the walk: every 10th original.
    std::set<std::string> doomed;
    for (std::size_t i = 0; i < originals.size(); i += 10) doomed.insert(originals[i]);

    std::atomic<bool> done{false};
    std::atomic<int> changes{0};
    std::string churn_error;
    std::thread churn([&] {
        try {
            auto it = doomed.begin();
            // Paced, so that the changes spread over the whole walk, and bounded, so that a
            // slow walk (sanitizers) stays within the organization's limit.
            for (int n = 0; !done.load() && n < 3'000; ++n) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                server.registry->create(acme, {"New " + std::to_string(n), {}});
                if (it != doomed.end()) server.registry->remove(acme, *it++);
                changes.fetch_add(1);
            }
            while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } catch (const std::exception& e) {
            churn_error = e.what();  // judged on the test's thread
        }
    });
    HttpClient client(server.port());
    std::vector<std::string> walked;
    try {
        walked = walk(client, token, "/api/v1/chatbots?limit=100");
    } catch (...) {
        done = true;
        churn.join();
        throw;
    }
    done = true;
    churn.join();
    INFO("changes during the walk: " << changes.load());
    CHECK(churn_error.empty());
    CHECK(changes.load() > 0);

    std::map<std::string, int> seen;
    for (const auto& id : walked) ++seen[id];
    for (const auto& [id, count] : seen) CHECK(count == 1);  // nothing twice
    for (const auto& id : originals)
        if (!doomed.contains(id)) CHECK(seen[id] == 1);  // every survivor once
}
