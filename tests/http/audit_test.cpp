// API.md section 13 over real sockets: every change leaves one event with who, what, from
// where and what changed -- never a secret; GET /api/v1/audit-events is admin-only,
// filtered, always paged (50 by default, at most 200) with the filters kept in the Link.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

struct Fixture {
    TestServer server;
    TestUser ada;  // owner of Acme
    std::string token;
    HttpClient client;

    Fixture()
        : ada(server.add_user("ada@example.com", "Acme")),
          token(server.login(ada)),
          client(server.port()) {}

    HttpResponse send(const std::string& method, const std::string& target,
                      const std::string& body = {}, const std::string& as = {}) {
        Headers h = bearer(as.empty() ? token : as);
        h.emplace_back("User-Agent", "audit-test/1.0");
        if (!body.empty()) h.emplace_back("Content-Type", "application/json");
        return client.request(method, target, body, h);
    }
    // Every event of the organization, newest first, following the Links.
    std::vector<json::object> all_events(const std::string& query = "limit=7") {
        std::vector<json::object> out;
        std::string target = "/api/v1/audit-events?" + query;
        for (int pages = 0; pages < 1000; ++pages) {
            const auto res = send("GET", target);
            REQUIRE(res.status == 200);
            const json::value body = res.json();
            for (const auto& e : body.as_array()) out.push_back(e.as_object());
            const std::string link = res.header("Link");
            if (link.empty()) break;
            REQUIRE(link.front() == '<');
            target = link.substr(1, link.find('>') - 1);
        }
        return out;
    }
};

const json::object* find_event(const std::vector<json::object>& events, std::string_view action) {
    for (const auto& e : events)
        if (e.at("action").as_string() == action) return &e;
    return nullptr;
}

}  // namespace

TEST_CASE("audit: every change of a session is recorded once, with its details", "[http][audit]") {
    Fixture f;
    const auto created = f.send("POST", "/api/v1/chatbots", R"({"name":"Support"})");
    REQUIRE(created.status == 200);
    const std::string id(created.json().at("chatbot").at("id").as_string());
    const std::string key(created.json().at("apiKey").as_string());
    const std::string bot = "/api/v1/chatbots/" + id;
    REQUIRE(f.send("PATCH", bot, R"({"name":"Helpdesk","settings":{"theme":{"color":"red"}}})")
                .status == 200);
    REQUIRE(f.send("PATCH", bot, R"({"name":"Helpdesk"})").status == 200);  // same name
    const auto rotated = f.send("POST", bot + "/rotate-key", R"({"grace_seconds":300})");
    REQUIRE(rotated.status == 200);
    REQUIRE(f.send("DELETE", bot + "/previous-key").status == 200);
    REQUIRE(f.send("DELETE", bot + "/previous-key").status == 200);  // nothing left: no event
    const auto invited =
        f.send("POST", "/api/v1/invitations", R"({"email":"bob@example.com","role":"admin"})");
    REQUIRE(invited.status == 200);
    const std::string invitation_token(invited.json().at("token").as_string());
    const auto second =
        f.send("POST", "/api/v1/invitations", R"({"email":"cy@example.com","role":"viewer"})");
    const std::string second_id(second.json().at("invitation").at("id").as_string());
    REQUIRE(f.send("DELETE", "/api/v1/invitations/" + second_id).status == 200);
    const auto accepted = f.send(
        "POST", "/api/v1/invitations/accept",
        json::serialize(json::object{{"token", invitation_token}, {"password", "a good password"}}),
        "none");
    REQUIRE(accepted.status == 200);
    const std::string bob_id(accepted.json().at("user").at("id").as_string());
    const std::string bob_token(accepted.json().at("token").as_string());
    REQUIRE(f.send("PATCH", "/api/v1/members/" + bob_id, R"({"role":"member"})").status == 200);
    REQUIRE(f.send("POST", "/api/v1/auth/logout", "", bob_token).status == 200);
    REQUIRE(f.send("DELETE", "/api/v1/members/" + bob_id).status == 200);
    REQUIRE(f.send("DELETE", bot).status == 200);
    // Refused changes leave nothing.
    REQUIRE(f.send("PATCH", "/api/v1/chatbots/" + kUnknownId, R"({"name":"x"})").status == 404);
    REQUIRE(f.send("POST", "/api/v1/chatbots", R"({"name":""})").status == 400);

    const auto events = f.all_events();
    std::vector<std::string> actions;
    for (const auto& e : events) actions.emplace_back(e.at("action").as_string());
    CHECK(actions == std::vector<std::string>{
                         "chatbot.deleted", "member.removed", "session.revoked",
                         "member.role_changed", "session.created", "member.joined",
                         "invitation.revoked", "member.invited", "member.invited",
                         "chatbot.previous_key_revoked", "chatbot.key_rotated", "chatbot.updated",
                         "chatbot.updated", "chatbot.created", "session.created", "member.joined"});
    // The first two: the operator's `user add` (the system) and the fixture's login (no
    // User-Agent).
    const auto& added = events.back();
    CHECK(added.at("actor") == json::parse(R"({"type":"system","id":null,"email":null})"));
    CHECK(added.at("ip").is_null());
    CHECK(added.at("changes") == json::object{});  // {} for actions section 13 does not list

    // Shapes: every member present; the actor, where from, and what changed.
    for (std::size_t i = 0; i + 2 < events.size(); ++i) {
        const auto& e = events[i];
        INFO(json::serialize(e));
        CHECK(e.size() == 8);
        CHECK(is_canonical_uuid(e.at("id").as_string()));
        CHECK(e.at("time").as_string() == "2024-01-15T10:00:00Z");
        CHECK(e.at("ip").as_string() == "127.0.0.1");
        CHECK(e.at("user_agent").as_string() == "audit-test/1.0");
        CHECK(e.at("actor").at("type").as_string() == "user");
        CHECK(e.at("changes").is_object());
    }
    const auto& deleted = *find_event(events, "chatbot.deleted");
    CHECK(deleted.at("actor") == json::parse(R"({"type":"user","id":")" + f.ada.user_id +
                                             R"(","email":"ada@example.com"})"));
    CHECK(deleted.at("target") ==
          json::parse(R"({"type":"chatbot","id":")" + id + R"(","name":"Helpdesk"})"));
    CHECK(events[12].at("changes") ==
          json::parse(R"({"settings":{"theme":{"color":"red"}},"name":"Helpdesk"})"));
    CHECK(events[11].at("changes") == json::object{});  // the name did not change
    const auto& rotation = *find_event(events, "chatbot.key_rotated");
    CHECK(rotation.at("changes") ==
          json::parse(R"({"grace_seconds":300,"previous_key_expires_at":"2024-01-15T10:05:00Z"})"));
    CHECK(find_event(events, "chatbot.created")->at("changes") == json::object{});
    const auto& role = *find_event(events, "member.role_changed");
    CHECK(role.at("changes") == json::parse(R"({"from":"admin","to":"member"})"));
    CHECK(role.at("target").at("name") == "bob@example.com");
    const auto& joined = *find_event(events, "member.joined");
    CHECK(joined.at("actor").at("id").as_string() == bob_id);
    CHECK(find_event(events, "invitation.revoked")->at("target").at("name") == "cy@example.com");

    // Never a secret: no key, token or password in any event.
    std::string everything;
    for (const auto& e : events) everything += json::serialize(e);
    for (const std::string& secret :
         {key, std::string(rotated.json().at("apiKey").as_string()), f.token, bob_token,
          invitation_token, std::string("a good password"), f.ada.password}) {
        INFO(secret);
        CHECK(everything.find(secret) == std::string::npos);
    }
}

TEST_CASE("audit: only admins and owners read the log, and without the option there is no route",
          "[http][audit]") {
    Fixture f;
    const TestUser bob = f.server.add_user("bob@example.com", "Acme");  // a member
    const std::string bob_token = f.server.login(bob);
    auto res = f.send("GET", "/api/v1/audit-events", "", bob_token);
    CHECK(res.status == 403);
    CHECK(res.json().at("error").at("code") == "forbidden");
    CHECK(res.json().at("error").at("required_role") == "admin");
    check_error(f.client.request("GET", "/api/v1/audit-events"), 401, "unauthorized");

    TestServerOptions v1;
    v1.with_audit_log = false;
    TestServer plain(v1);
    const auto [user, token] = plain.user_with_session("cy@example.com", "Cyco");
    HttpClient c(plain.port());
    check_error(c.request("GET", "/api/v1/audit-events", "", bearer(token)), 404, "not_found");
}

TEST_CASE("audit: filters, pages and cursors", "[http][audit]") {
    Fixture f;
    std::vector<std::string> ids;
    for (int i = 0; i < 60; ++i) {
        const auto res = f.send("POST", "/api/v1/chatbots", R"({"name":"Bot"})");
        REQUIRE(res.status == 200);
        ids.emplace_back(res.json().at("chatbot").at("id").as_string());
        f.server.clock->advance(std::chrono::seconds(60));
    }
    // 60 creations a minute apart from 10:00, plus the user's addition and login at 10:00.
    auto page = f.send("GET", "/api/v1/audit-events");
    REQUIRE(page.status == 200);
    CHECK(page.json().as_array().size() == 50);  // the default page
    CHECK_FALSE(page.header("Link").empty());
    CHECK(f.send("GET", "/api/v1/audit-events?limit=200").json().as_array().size() == 62);
    check_error(f.send("GET", "/api/v1/audit-events?limit=201"), 400, "invalid_request");
    check_error(f.send("GET", "/api/v1/audit-events?limit=0"), 400, "invalid_request");

    CHECK(f.all_events("limit=7&action=chatbot.created").size() == 60);
    CHECK(f.all_events("limit=7&action=session.created").size() == 1);
    CHECK(f.all_events("limit=3&target_id=" + ids[5]).size() == 1);
    CHECK(f.all_events("limit=3&actor_id=" + f.ada.user_id).size() == 61);
    CHECK(f.all_events("limit=3&actor_id=nobody").empty());
    // since is inclusive, until exclusive, to the second (API.md section 18).
    const auto window = f.all_events(
        "limit=4&action=chatbot.created&since=2024-01-15T10:10:00Z&until=2024-01-15T"
        "10:19:00%2B00:00");
    REQUIRE(window.size() == 9);
    CHECK(window.front().at("target").at("id").as_string() == ids[18]);
    CHECK(window.back().at("target").at("id").as_string() == ids[10]);
    // The Link keeps the filters.
    const auto filtered = f.send("GET", "/api/v1/audit-events?action=chatbot.created&limit=5");
    CHECK(filtered.header("Link").find("action=chatbot.created&limit=5&cursor=") !=
          std::string::npos);

    check_error(f.send("GET", "/api/v1/audit-events?action=chatbot.exploded"), 400,
                "invalid_request");
    check_error(f.send("GET", "/api/v1/audit-events?since=yesterday"), 400, "invalid_request");
    check_error(f.send("GET", "/api/v1/audit-events?cursor=bm9wZQ"), 400, "invalid_request");
    // A cursor of another list is refused.
    const auto chatbots = f.send("GET", "/api/v1/chatbots?limit=1");
    const std::string link = chatbots.header("Link");
    const std::string cursor =
        link.substr(link.find("cursor=") + 7, link.find('>') - link.find("cursor=") - 7);
    check_error(f.send("GET", "/api/v1/audit-events?cursor=" + cursor), 400, "invalid_request");

    // Another organization sees none of it.
    const auto [cy, cy_token] = f.server.user_with_session("cy@example.com", "Cyco");
    const auto theirs = f.send("GET", "/api/v1/audit-events?limit=200", "", cy_token);
    REQUIRE(theirs.status == 200);
    CHECK(theirs.json().as_array().size() == 2);  // their own addition and login
}

TEST_CASE("audit: events past the retention are pruned in batches", "[http][audit]") {
    Fixture f;
    for (int i = 0; i < 5; ++i)
        REQUIRE(f.send("POST", "/api/v1/chatbots", R"({"name":"B"})").status == 200);
    f.server.clock->advance(std::chrono::days(181));
    f.token = f.server.login(f.ada);
    REQUIRE(f.send("POST", "/api/v1/chatbots", R"({"name":"New"})").status == 200);
    AuditLogOptions options;
    options.clock = f.server.clock;
    options.prune_batch = 2;
    AuditLog log(f.server.store, options);
    const PruneCounts pruned = log.prune();
    CHECK(pruned.audit_events == 7);  // the user's addition, the login and five creations
    CHECK(pruned.idempotency_records == 0);
    const auto left = f.all_events();
    REQUIRE(left.size() == 2);  // the second login and the new chatbot
    CHECK(left[0].at("target").at("name") == "New");
}
