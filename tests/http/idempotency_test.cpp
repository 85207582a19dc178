// API.md section 14 over real sockets: Idempotency-Key on the three POSTs -- a retry gets
// the first answer byte for byte and changes nothing; another body is 422; answers other
// than 200 are not kept; the scope is (organization, user, method, path, key); records live
// 24 hours; concurrent duplicates never run twice.
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

struct Fixture {
    TestServer server;
    std::string token;
    HttpClient client;

    Fixture()
        : token(server.user_with_session("ada@example.com", "Acme").second),
          client(server.port()) {}

    HttpResponse post(const std::string& path, const std::string& body, const std::string& key,
                      const std::string& as = {}) {
        Headers h = bearer(as.empty() ? token : as);
        h.emplace_back("Content-Type", "application/json");
        if (!key.empty()) h.emplace_back("Idempotency-Key", key);
        return client.request("POST", path, body, h);
    }
    std::size_t chatbot_count() {
        const auto res = client.request("GET", "/api/v1/chatbots", "", bearer(token));
        REQUIRE(res.status == 200);
        return res.json().as_array().size();
    }
    std::size_t events(const std::string& action) {
        const auto res = client.request("GET", "/api/v1/audit-events?limit=200&action=" + action,
                                        "", bearer(token));
        REQUIRE(res.status == 200);
        return res.json().as_array().size();
    }
};

constexpr const char* kCreate = R"({"name":"Support"})";

}  // namespace

TEST_CASE("idempotency: a retried create answers the first answer and creates nothing",
          "[http][idempotency]") {
    Fixture f;
    const auto first = f.post("/api/v1/chatbots", kCreate, "create-1");
    REQUIRE(first.status == 200);
    CHECK_FALSE(first.has_header("Idempotent-Replayed"));
    const auto again = f.post("/api/v1/chatbots", kCreate, "create-1");
    REQUIRE(again.status == 200);
    CHECK(again.body == first.body);  // byte for byte: the same chatbot and the same key
    CHECK(again.header("Idempotent-Replayed") == "true");
    check_json_headers(again);
    CHECK(f.chatbot_count() == 1);
    CHECK(f.events("chatbot.created") == 1);

    // The replayed key is the live key.
    const std::string key(first.json().at("apiKey").as_string());
    HttpClient bot(f.server.port());
    const auto captured =
        bot.request("POST", "/api/v1/capture",
                    R"({"conversationId":"c","messages":[{"role":"user","content":"x"}]})",
                    with(bearer(key), {{"Content-Type", "application/json"}}));
    CHECK(captured.status == 200);

    // Without the header, v1: a new chatbot each time, no replay header.
    const auto plain = f.post("/api/v1/chatbots", kCreate, "");
    CHECK(plain.status == 200);
    CHECK_FALSE(plain.has_header("Idempotent-Replayed"));
    CHECK(f.chatbot_count() == 2);
}

TEST_CASE("idempotency: the same key with another body is 422, on another path another record",
          "[http][idempotency]") {
    Fixture f;
    REQUIRE(f.post("/api/v1/chatbots", kCreate, "k").status == 200);
    check_error(f.post("/api/v1/chatbots", R"({"name":"Sales"})", "k"), 422,
                "idempotency_key_reused");
    check_error(f.post("/api/v1/chatbots", R"({"name": "Support"})", "k"), 422,
                "idempotency_key_reused");  // the bytes are compared, not the meaning
    CHECK(f.chatbot_count() == 1);

    // The same key on rotate-key is a record of its own.
    const auto listed = f.client.request("GET", "/api/v1/chatbots", "", bearer(f.token));
    const std::string id(listed.json().as_array()[0].at("id").as_string());
    const auto rotated = f.post("/api/v1/chatbots/" + id + "/rotate-key", "", "k");
    CHECK(rotated.status == 200);
    CHECK_FALSE(rotated.has_header("Idempotent-Replayed"));
}

TEST_CASE("idempotency: malformed keys are 400", "[http][idempotency]") {
    Fixture f;
    for (const std::string& key : {std::string(256, 'a'), std::string("has space"),
                                  std::string("caf\xc3\xa9"), std::string("tab\there")}) {
        INFO(key);
        const auto res = f.post("/api/v1/chatbots", kCreate, key);
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find("Idempotency-Key") != std::string::npos);
    }
    CHECK(f.post("/api/v1/chatbots", kCreate, std::string(255, '~')).status == 200);
    CHECK(f.chatbot_count() == 1);
}

TEST_CASE("idempotency: answers other than 200 are not kept", "[http][idempotency]") {
    Fixture f;
    check_error(f.post("/api/v1/chatbots", R"({"name":""})", "retry-me"), 400, "invalid_request");
    CHECK(f.post("/api/v1/chatbots", R"({"name":""})", "retry-me").status == 400);  // runs again
    const auto missing = f.post("/api/v1/chatbots/" + kUnknownId + "/rotate-key", "", "rot");
    check_error(missing, 404, "not_found");
    f.server.store->failing = true;
    check_error(f.post("/api/v1/chatbots", kCreate, "flaky"), 503, "unavailable");
    f.server.store->failing = false;
    const auto later = f.post("/api/v1/chatbots", kCreate, "flaky");
    CHECK(later.status == 200);
    CHECK_FALSE(later.has_header("Idempotent-Replayed"));
    CHECK(f.chatbot_count() == 1);
}

TEST_CASE("idempotency: a retried rotation gives the same new key and rotates once",
          "[http][idempotency]") {
    Fixture f;
    const Bot bot = create_bot(f.client, f.token);
    const std::string path = "/api/v1/chatbots/" + bot.id + "/rotate-key";
    const auto first = f.post(path, R"({"grace_seconds":60})", "rotate-1");
    REQUIRE(first.status == 200);
    const auto again = f.post(path, R"({"grace_seconds":60})", "rotate-1");
    CHECK(again.body == first.body);
    CHECK(again.header("Idempotent-Replayed") == "true");
    CHECK(f.events("chatbot.key_rotated") == 1);
    // Still in its grace: the rotation ran once, so the original key is the previous key.
    const auto keys =
        f.client.request("GET", "/api/v1/chatbots/" + bot.id + "/key", "", bearer(f.token));
    REQUIRE(keys.status == 200);
    CHECK(keys.json().at("previous").is_object());
    // A replay after the chatbot is gone still answers what the rotation answered.
    REQUIRE(f.client.request("DELETE", "/api/v1/chatbots/" + bot.id, "", bearer(f.token)).status ==
            200);
    CHECK(f.post(path, R"({"grace_seconds":60})", "rotate-1").body == first.body);
}

TEST_CASE("idempotency: a retried invitation gives the same token", "[http][idempotency]") {
    Fixture f;
    const std::string body = R"({"email":"bob@example.com","role":"member"})";
    const auto first = f.post("/api/v1/invitations", body, "invite-1");
    REQUIRE(first.status == 200);
    const auto again = f.post("/api/v1/invitations", body, "invite-1");
    CHECK(again.body == first.body);
    CHECK(again.header("Idempotent-Replayed") == "true");
    const auto pending = f.client.request("GET", "/api/v1/invitations", "", bearer(f.token));
    CHECK(pending.json().as_array().size() == 1);
}

TEST_CASE("idempotency: the scope is the user, and records live 24 hours", "[http][idempotency]") {
    Fixture f;
    REQUIRE(f.post("/api/v1/chatbots", kCreate, "shared").status == 200);
    // Another user of the same organization with the same key: their own call.
    const TestUser bob = f.server.add_user("bob@example.com", "Acme");
    const std::string bob_token = f.server.login(bob);
    const auto bobs = f.post("/api/v1/chatbots", kCreate, "shared", bob_token);
    CHECK(bobs.status == 200);
    CHECK_FALSE(bobs.has_header("Idempotent-Replayed"));
    CHECK(f.chatbot_count() == 2);

    f.server.clock->advance(std::chrono::hours(23));
    CHECK(f.post("/api/v1/chatbots", kCreate, "shared").header("Idempotent-Replayed") == "true");
    f.server.clock->advance(std::chrono::hours(1));
    const auto expired = f.post("/api/v1/chatbots", kCreate, "shared");
    CHECK(expired.status == 200);
    CHECK_FALSE(expired.has_header("Idempotent-Replayed"));
    CHECK(f.chatbot_count() == 3);
}

TEST_CASE("idempotency: concurrent duplicates never run twice", "[http][idempotency][race]") {
    Fixture f;
    constexpr int kThreads = 8;
    constexpr int kRounds = 10;
    for (int round = 0; round < kRounds; ++round) {
        const std::string key = "race-" + std::to_string(round);
        std::vector<HttpResponse> answers(kThreads);
        std::atomic<int> ready{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i)
            threads.emplace_back([&, i] {
                HttpClient c(f.server.port());
                ready.fetch_add(1);
                while (ready.load() < kThreads) std::this_thread::yield();
                answers[i] = c.request("POST", "/api/v1/chatbots", kCreate,
                                       with(bearer(f.token), {{"Content-Type", "application/json"},
                                                              {"Idempotency-Key", key}}));
            });
        for (auto& t : threads) t.join();
        std::set<std::string> bodies;
        int fresh = 0;
        for (const auto& a : answers) {
            INFO(a.status << " " << a.body);
            if (a.status == 409) {
                check_error(a, 409, "idempotency_in_progress");
                continue;
            }
            REQUIRE(a.status == 200);
            bodies.insert(a.body);
            if (!a.has_header("Idempotent-Replayed")) ++fresh;
        }
        CHECK(fresh == 1);
        CHECK(bodies.size() == 1);
    }
    CHECK(f.chatbot_count() == kRounds);
    CHECK(f.events("chatbot.created") == kRounds);
}
