// API.md sections 10 and 18 over real sockets: the permission table cell by cell (4 roles x
// every session route), other organizations' ids, the member rules (grants, owners, the
// last owner), role changes and removals on the next request, invitations end to end and
// GET /api/v1/auth/session.
//
// The table below is this test's OWN copy of API.md section 10, typed from the contract:
// it is never read from the core, so changing one cell of the core's table (or the role a
// route asks for) fails a test here.
#include <algorithm>
#include <array>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/field.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/session_check.hpp"
#include "chatbotmgr/memory_store.hpp"
#include "chatbotmgr/permissions.hpp"
#include "chatbotmgr/secrets.hpp"
#include "fixture.hpp"

using namespace chatbotmgr;
using namespace chatbotmgr::test;
namespace json = boost::json;

namespace {

const std::string kPassword = "correct horse battery staple";

// ---- API.md section 10, typed from the contract (not from the core)

// The roles, lowest first.
constexpr std::array<std::string_view, 4> kRoles = {"viewer", "member", "admin", "owner"};

int rank(std::string_view role) {
    const auto it = std::find(kRoles.begin(), kRoles.end(), role);
    REQUIRE(it != kRoles.end());
    return static_cast<int>(it - kRoles.begin());
}

bool allows(std::string_view role, std::string_view lowest) {
    return rank(role) >= rank(lowest);
}

// What a route's {id} names.
enum class Target { none, chatbot, member, invitation };

struct Row {
    std::string_view method;
    std::string_view path;  // "{id}": the id of a fresh target of the row's kind
    Target target;
    std::string_view body;    // a valid body; "{n}" becomes a number unique in the test
    std::string_view lowest;  // API.md section 10: the lowest role allowed
    Action action;            // which operation this is (for the completeness check only)
};

// Every session route of the API, HEAD included for every GET (HEAD is GET without a body).
// clang-format off
constexpr Row kTable[] = {
    // method    path                                  target              valid body                                             lowest    action
    {"GET",    "/api/v1/chatbots",                   Target::none,       "",                                                    "viewer", Action::list_chatbots},
    {"HEAD",   "/api/v1/chatbots",                   Target::none,       "",                                                    "viewer", Action::list_chatbots},
    {"GET",    "/api/v1/chatbots/{id}",              Target::chatbot,    "",                                                    "viewer", Action::get_chatbot},
    {"HEAD",   "/api/v1/chatbots/{id}",              Target::chatbot,    "",                                                    "viewer", Action::get_chatbot},
    {"GET",    "/api/v1/auth/session",               Target::none,       "",                                                    "viewer", Action::get_session},
    {"HEAD",   "/api/v1/auth/session",               Target::none,       "",                                                    "viewer", Action::get_session},
    {"GET",    "/api/v1/members",                    Target::none,       "",                                                    "viewer", Action::list_members},
    {"GET",    "/api/v1/chatbots/{id}/key",          Target::chatbot,    "",                                                    "viewer", Action::get_key},
    {"HEAD",   "/api/v1/chatbots/{id}/key",          Target::chatbot,    "",                                                    "viewer", Action::get_key},
    {"HEAD",   "/api/v1/members",                    Target::none,       "",                                                    "viewer", Action::list_members},
    {"POST",   "/api/v1/chatbots",                   Target::none,       R"({"name":"New Bot {n}"})",                           "member", Action::create_chatbot},
    {"PATCH",  "/api/v1/chatbots/{id}",              Target::chatbot,    R"({"name":"Renamed {n}","settings":{"a":1}})",        "member", Action::update_chatbot},
    {"POST",   "/api/v1/chatbots/{id}/rotate-key",   Target::chatbot,    "",                                                    "admin",  Action::rotate_key},
    {"POST",   "/api/v1/chatbots/{id}/rotate-key",   Target::chatbot,    R"({"grace_seconds":60})",                             "admin",  Action::rotate_key},
    {"DELETE", "/api/v1/chatbots/{id}/previous-key", Target::chatbot,    "",                                                    "admin",  Action::end_grace},
    {"DELETE", "/api/v1/chatbots/{id}",              Target::chatbot,    "",                                                    "admin",  Action::delete_chatbot},
    {"GET",    "/api/v1/invitations",                Target::none,       "",                                                    "admin",  Action::list_invitations},
    {"HEAD",   "/api/v1/invitations",                Target::none,       "",                                                    "admin",  Action::list_invitations},
    {"POST",   "/api/v1/invitations",                Target::none,       R"({"email":"invitee-{n}@example.com","role":"viewer"})", "admin", Action::invite_member},
    {"DELETE", "/api/v1/invitations/{id}",           Target::invitation, "",                                                    "admin",  Action::revoke_invitation},
    {"PATCH",  "/api/v1/members/{id}",               Target::member,     R"({"role":"member"})",                                "admin",  Action::change_role},
    {"DELETE", "/api/v1/members/{id}",               Target::member,     "",                                                    "admin",  Action::remove_member},
    {"GET",    "/api/v1/audit-events",               Target::none,       "",                                                    "admin",  Action::read_audit_log},
    {"HEAD",   "/api/v1/audit-events",               Target::none,       "",                                                    "admin",  Action::read_audit_log},
};
// clang-format on

// ---- Helpers

// Built by appending (std::string::replace draws a false -Wrestrict from GCC 12 at -O3).
std::string replace(std::string_view s, std::string_view what, std::string_view with) {
    std::string out;
    for (std::size_t at = s.find(what); at != std::string_view::npos; at = s.find(what)) {
        out.append(s.substr(0, at)).append(with);
        s.remove_prefix(at + what.size());
    }
    return out.append(s);
}

Role role_named(std::string_view name) {
    const auto role = role_from_string(name);
    REQUIRE(role);
    return *role;
}

// One request; HEAD answers carry no body, so they are read as such.
HttpResponse send(HttpClient& client, std::string_view method, const std::string& target,
                  std::string_view body = {}, const Headers& headers = {}) {
    if (method != "HEAD") return client.request(method, target, body, headers);
    client.write_raw(serialize_request(method, target, body, headers));
    auto res = client.read_response(kIoTimeout, true);
    REQUIRE(res);
    return std::move(*res);
}

// 403 forbidden with the required role: {"ok":false,"error":{"code","message","required_role"}}.
void check_forbidden(const HttpResponse& res, std::string_view required_role, bool head = false) {
    INFO("status " << res.status << " body " << res.body);
    REQUIRE(res.status == 403);
    check_json_headers(res);
    if (head) {
        CHECK(res.body.empty());
        return;
    }
    const auto v = res.json();
    REQUIRE(v.is_object());
    CHECK(v.as_object().size() == 2);
    CHECK(v.at("ok") == false);
    const auto& error = v.at("error").as_object();
    CHECK(error.size() == 3);
    CHECK(error.at("code") == "forbidden");
    CHECK(error.at("message").is_string());
    CHECK(!error.at("message").as_string().empty());
    CHECK(error.at("required_role") == json::string(required_role));
}

std::string login_body(const std::string& email, const std::string& password) {
    return json::serialize(json::object{{"email", email}, {"password", password}});
}

std::string accept_body(const std::string& token, const std::string& password) {
    return json::serialize(json::object{{"token", token}, {"password", password}});
}

Headers cookie(const std::string& token) {
    return {{"Cookie", "ob_session=" + token}};
}

// What an organization holds, read from the core: a refused request changes none of it.
struct OrgState {
    std::vector<Chatbot> chatbots;
    std::vector<User> users;
    std::vector<Invitation> invitations;
    friend bool operator==(const OrgState&, const OrgState&) = default;
};

// An organization with one logged-in user of every role (the owner created it).
class Team {
  public:
    Team(TestServer& server, const std::string& org) : server_(server), org_(org) {
        std::string domain = org;
        std::transform(domain.begin(), domain.end(), domain.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        domain_ = domain + ".example.com";
        // The owner first: it creates the organization.
        for (std::string_view role : {"owner", "admin", "member", "viewer"}) {
            TestUser user = add(std::string(role) + "@" + domain_, role_named(role));
            const std::string token = server.login(user);
            members_.emplace(std::string(role), std::make_pair(user, token));
        }
        org_id_ = user("owner").org_id;
    }

    TestUser add(const std::string& email, Role role) {
        auto [user, organization] = server_.accounts->add_user(email, org_, kPassword, role);
        return TestUser{email, kPassword, user.id, organization.id};
    }

    const TestUser& user(std::string_view role) const {
        return members_.at(std::string(role)).first;
    }
    const std::string& token(std::string_view role) const {
        return members_.at(std::string(role)).second;
    }
    const std::string& org_id() const { return org_id_; }
    const std::string& org_name() const { return org_; }
    const std::string& domain() const { return domain_; }

    // A fresh target of this kind, made by the owner through the core.
    std::string make(Target target) {
        Actor owner(org_id_);
        owner.role = Role::owner;
        switch (target) {
            case Target::none:
                return {};
            case Target::chatbot:
                return server_.registry->create(owner, NewChatbot{"Target " + next(), {}})
                    .chatbot.id;
            case Target::member:
                return add("target-" + next() + "@" + domain_, Role::viewer).user_id;
            case Target::invitation:
                return server_.accounts
                    ->invite(owner, "invited-" + next() + "@" + domain_, Role::viewer)
                    .invitation.id;
        }
        return {};
    }

    OrgState state() const {
        const Actor owner(org_id_);
        return {server_.registry->list(owner), server_.accounts->list_members(owner),
                server_.accounts->list_invitations(owner)};
    }

    std::string next() { return std::to_string(++counter_); }

  private:
    TestServer& server_;
    std::string org_;
    std::string org_id_;
    std::string domain_;
    std::map<std::string, std::pair<TestUser, std::string>> members_;
    int counter_ = 0;
};

std::string path_of(const Row& row, const std::string& id) {
    return replace(std::string(row.path), "{id}", id);
}

// The request head of a body of `length` bytes that is never sent.
std::string head_only(std::string_view method, const std::string& target, std::size_t length,
                      const Headers& headers) {
    std::string out = std::string(method) + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    return out;
}

}  // namespace

// ---- The permission table

TEST_CASE("teams: every (role, route) cell of the permission table, 2xx or 403", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    int cells = 0, refused = 0;

    for (const Row& row : kTable) {
        for (std::string_view role : kRoles) {
            const bool head = row.method == "HEAD";
            const std::string id = acme.make(row.target);
            const std::string path = path_of(row, id);
            const std::string body = replace(std::string(row.body), "{n}", acme.next());
            const Headers auth = bearer(acme.token(role));
            INFO(row.method << " " << row.path << " as " << role << " (lowest: " << row.lowest
                            << ")");
            ++cells;
            const OrgState before = acme.state();
            const HttpResponse res = send(client, row.method, path, body, auth);

            if (allows(role, row.lowest)) {
                INFO("body: " << res.body);
                CHECK(res.status == 200);
                check_json_headers(res);
                if (head) CHECK(res.body.empty());
                // The id is looked at only after the role: an unknown one is a 404 then.
                if (row.target != Target::none) {
                    const HttpResponse unknown =
                        send(client, row.method, path_of(row, kUnknownId), body, auth);
                    CHECK(unknown.status == 404);
                    if (!head) check_error(unknown, 404, "not_found");
                }
                continue;
            }

            ++refused;
            check_forbidden(res, row.lowest, head);
            CHECK(acme.state() == before);  // nothing was done
            if (head) continue;

            // The role is checked before anything about the body or the target (section
            // 10; section 18: whether the id exists or not): the same answer whatever they are.
            const std::string bad_body = row.body.empty() ? R"({"unexpected":1})" : "{";
            const HttpResponse invalid = send(client, row.method, path, bad_body, auth);
            check_forbidden(invalid, row.lowest);
            CHECK(invalid.body == res.body);
            const HttpResponse media = send(client, row.method, path, "plain text",
                                            with(auth, {{"Content-Type", "text/plain"}}));
            check_forbidden(media, row.lowest);
            CHECK(media.body == res.body);
            if (row.target != Target::none) {
                const HttpResponse unknown =
                    send(client, row.method, path_of(row, kUnknownId), body, auth);
                check_forbidden(unknown, row.lowest);
                CHECK(unknown.body == res.body);
            }
            {
                // Over the size limit, decided from Content-Length: still the 403 (the role
                // comes first), before a byte of the body is read.
                HttpClient big(server.port());
                big.write_raw(head_only(row.method, path, 65'537, auth));
                const auto over = big.read_response();
                REQUIRE(over);
                check_forbidden(*over, row.lowest);
                CHECK(over->body == res.body);
            }
            CHECK(acme.state() == before);
        }
    }
    CHECK(cells == static_cast<int>(std::size(kTable) * kRoles.size()));
    // The empty cells: 2 member rows x 1 role, 12 admin rows x 2 roles.
    CHECK(refused == 26);
}

TEST_CASE("teams: the table test covers every action", "[http][teams]") {
    for (Action action : kAllActions) {
        INFO("action " << static_cast<int>(action));
        CHECK(std::any_of(std::begin(kTable), std::end(kTable),
                          [&](const Row& r) { return r.action == action; }));
    }
}

TEST_CASE("teams: order of checks around the role (section 8 and 10)", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const std::string bot = acme.make(Target::chatbot);

    // Route (404) and method (405) come before credentials and role.
    check_error(client.request("PUT", "/api/v1/members", "{}", bearer(acme.token("viewer"))), 405,
                "method_not_allowed");
    check_error(
        client.request("POST", "/api/v1/members/" + kUnknownId, "{}", bearer(acme.token("viewer"))),
        405, "method_not_allowed");
    // A path id that is not a canonical UUID is no route at all (section 8): 404 for anyone.
    check_error(
        client.request("DELETE", "/api/v1/members/not-a-uuid", {}, bearer(acme.token("viewer"))),
        404, "not_found");
    // Credentials (401) before the role.
    check_error(client.request("DELETE", "/api/v1/chatbots/" + bot), 401, "unauthorized");
    check_error(client.request("DELETE", "/api/v1/chatbots/" + bot, {}, bearer("ob_sess_nonsense")),
                401, "unauthorized");
    // CSRF (403 csrf_rejected) before the role: a viewer's cookie without Origin.
    const Headers viewer_cookie = cookie(acme.token("viewer"));
    check_error(client.request("POST", "/api/v1/chatbots", R"({"name":"x"})", viewer_cookie), 403,
                "csrf_rejected");
    check_error(client.request("DELETE", "/api/v1/chatbots/" + bot, {}, viewer_cookie), 403,
                "csrf_rejected");
    // With the right Origin, the role decides.
    const Headers same_origin = with(viewer_cookie, {{"Origin", server.origin}});
    check_forbidden(client.request("POST", "/api/v1/chatbots", R"({"name":"x"})", same_origin),
                    "member");
    check_forbidden(client.request("DELETE", "/api/v1/chatbots/" + bot, {}, same_origin), "admin");
    // A cookie-authenticated write of an allowed role goes through.
    const Headers admin_cookie = with(cookie(acme.token("admin")), {{"Origin", server.origin}});
    CHECK(client.request("POST", "/api/v1/chatbots/" + bot + "/rotate-key", {}, admin_cookie)
              .status == 200);
    // After the role: size, media type, JSON and fields for those allowed.
    const Headers member = bearer(acme.token("member"));
    check_error(client.request("POST", "/api/v1/chatbots", "plain",
                               with(member, {{"Content-Type", "text/plain"}})),
                415, "unsupported_media_type");
    check_error(client.request("POST", "/api/v1/chatbots", "{", member), 400, "invalid_request");
    check_error(client.request("PATCH", "/api/v1/chatbots/" + bot, R"({"nmae":"x"})", member), 400,
                "invalid_request");
    const Headers admin = bearer(acme.token("admin"));
    check_error(
        client.request("PATCH", "/api/v1/members/" + kUnknownId, R"({"role":"boss"})", admin), 400,
        "invalid_request");
    check_error(client.request("PATCH", "/api/v1/members/" + kUnknownId, R"({"role":null})", admin),
                400, "invalid_request");
    check_error(client.request("PATCH", "/api/v1/members/" + kUnknownId,
                               R"({"role":"viewer","x":1})", admin),
                400, "invalid_request");
    check_error(
        client.request("POST", "/api/v1/invitations", R"({"email":"a@example.com"})", admin), 400,
        "invalid_request");
    check_error(client.request("POST", "/api/v1/invitations",
                               R"({"email":"not an email","role":"viewer"})", admin),
                400, "invalid_request");
    check_error(client.request("DELETE", "/api/v1/invitations/" + kUnknownId, R"({"x":1})", admin),
                400, "invalid_request");
    // Body-less routes accept none or {}.
    const std::string inv = acme.make(Target::invitation);
    CHECK(client.request("DELETE", "/api/v1/invitations/" + inv, "{}", admin).status == 200);
}

// ---- Other organizations

TEST_CASE("teams: another organization's ids are 404 for every role, 403 where the role is refused",
          "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    Team globex(server, "Globex");
    HttpClient client(server.port());

    for (std::string_view role : kRoles) {
        // Fresh targets of Globex for every role (an allowed delete must find them still
        // there: it answered 404 and did nothing).
        const std::string bot = globex.make(Target::chatbot);
        const std::string member = globex.make(Target::member);
        const std::string owner = globex.user("owner").user_id;
        const std::string invitation = globex.make(Target::invitation);
        const OrgState before = globex.state();

        struct Probe {
            std::string method, path, body;
            std::string_view lowest;
        };
        const std::vector<Probe> probes = {
            {"GET", "/api/v1/chatbots/{id}", "", "viewer"},
            {"PATCH", "/api/v1/chatbots/{id}", R"({"name":"Mine now"})", "member"},
            {"POST", "/api/v1/chatbots/{id}/rotate-key", "", "admin"},
            {"DELETE", "/api/v1/chatbots/{id}", "", "admin"},
            {"PATCH", "/api/v1/members/{member}", R"({"role":"member"})", "admin"},
            {"PATCH", "/api/v1/members/{owner}", R"({"role":"viewer"})", "admin"},
            {"DELETE", "/api/v1/members/{member}", "", "admin"},
            {"DELETE", "/api/v1/members/{owner}", "", "admin"},
            {"DELETE", "/api/v1/invitations/{invitation}", "", "admin"},
        };
        for (const Probe& p : probes) {
            std::string path = replace(p.path, "{id}", bot);
            path = replace(path, "{member}", member);
            path = replace(path, "{owner}", owner);
            path = replace(path, "{invitation}", invitation);
            std::string unknown_path = replace(p.path, "{id}", kUnknownId);
            for (std::string_view name : {"{member}", "{owner}", "{invitation}"})
                unknown_path = replace(unknown_path, name, kUnknownId);
            INFO(p.method << " " << p.path << " of Globex as an Acme " << role);
            const HttpResponse res =
                client.request(p.method, path, p.body, bearer(acme.token(role)));
            const HttpResponse unknown =
                client.request(p.method, unknown_path, p.body, bearer(acme.token(role)));
            if (allows(role, p.lowest)) {
                check_error(res, 404, "not_found");
            } else {
                check_forbidden(res, p.lowest);
            }
            // Exactly the answer for an id that was never created (section 8).
            CHECK(res.status == unknown.status);
            CHECK(res.body == unknown.body);
        }
        CHECK(globex.state() == before);
    }
    // And Globex's own people see and reach all of it.
    for (std::string_view role : kRoles)
        CHECK(client.request("GET", "/api/v1/members", {}, bearer(globex.token(role))).json() ==
              client.request("GET", "/api/v1/members", {}, bearer(globex.token("owner"))).json());
    // Lists never show another organization's members or invitations.
    const auto acme_members =
        client.request("GET", "/api/v1/members", {}, bearer(acme.token("owner"))).json();
    for (const auto& m : acme_members.as_array())
        CHECK(m.at("email").as_string().ends_with("@acme.example.com"));
    const auto acme_invitations =
        client.request("GET", "/api/v1/invitations", {}, bearer(acme.token("owner"))).json();
    CHECK(acme_invitations.as_array().empty());
}

// ---- Section 18: the member rules

TEST_CASE("teams: what an admin may grant, and that only an owner touches an owner",
          "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers admin = bearer(acme.token("admin"));
    const std::string owner_id = acme.user("owner").user_id;
    const std::string member_id = acme.user("member").user_id;

    // An admin changing or removing an owner: 403 "owner", even though that owner is the
    // last one (the role rule before the last-owner rule).
    check_forbidden(
        client.request("PATCH", "/api/v1/members/" + owner_id, R"({"role":"member"})", admin),
        "owner");
    check_forbidden(
        client.request("PATCH", "/api/v1/members/" + owner_id, R"({"role":"owner"})", admin),
        "owner");
    check_forbidden(client.request("DELETE", "/api/v1/members/" + owner_id, {}, admin), "owner");

    // Granting admin as an admin is fine; granting owner is not (and not by invitation).
    auto res =
        client.request("PATCH", "/api/v1/members/" + member_id, R"({"role":"admin"})", admin);
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    CHECK(v.as_object().size() == 4);
    CHECK(v.at("user_id") == json::string(member_id));
    CHECK(v.at("email") == "member@acme.example.com");
    CHECK(v.at("role") == "admin");
    CHECK(v.at("created_at") == "2024-01-15T10:00:00Z");
    check_forbidden(
        client.request("PATCH", "/api/v1/members/" + member_id, R"({"role":"owner"})", admin),
        "owner");
    // Granting owner is refused whatever the id (it does not depend on the target).
    check_forbidden(
        client.request("PATCH", "/api/v1/members/" + kUnknownId, R"({"role":"owner"})", admin),
        "owner");
    check_forbidden(client.request("POST", "/api/v1/invitations",
                                   R"({"email":"boss@example.com","role":"owner"})", admin),
                    "owner");
    CHECK(client
              .request("POST", "/api/v1/invitations",
                       R"({"email":"deputy@example.com","role":"admin"})", admin)
              .status == 200);
    // An admin may change or remove another admin (never above their own role).
    CHECK(client.request("PATCH", "/api/v1/members/" + member_id, R"({"role":"viewer"})", admin)
              .status == 200);
    // An owner may do all of it.
    const Headers owner = bearer(acme.token("owner"));
    res = client.request("PATCH", "/api/v1/members/" + member_id, R"({"role":"owner"})", owner);
    REQUIRE(res.status == 200);
    CHECK(res.json().at("role") == "owner");
    // Now there are two owners: the admin still cannot touch either.
    check_forbidden(client.request("DELETE", "/api/v1/members/" + member_id, {}, admin), "owner");
    CHECK(client.request("DELETE", "/api/v1/members/" + member_id, {}, owner).status == 200);
    CHECK(client.request("DELETE", "/api/v1/members/" + member_id, {}, owner).status == 404);
}

TEST_CASE("teams: the last owner can be neither demoted nor removed (409)", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers owner = bearer(acme.token("owner"));
    const std::string owner_id = acme.user("owner").user_id;

    for (std::string_view to : {"admin", "member", "viewer"}) {
        INFO(to);
        auto res = client.request("PATCH", "/api/v1/members/" + owner_id,
                                  R"({"role":")" + std::string(to) + R"("})", owner);
        check_error(res, 409, "conflict");
        CHECK(res.json().at("error").at("message").as_string().find("last owner") !=
              std::string::npos);
    }
    check_error(client.request("DELETE", "/api/v1/members/" + owner_id, {}, owner), 409,
                "conflict");
    // Making an owner an owner again changes nothing and is fine.
    CHECK(client.request("PATCH", "/api/v1/members/" + owner_id, R"({"role":"owner"})", owner)
              .status == 200);
    CHECK(client.request("GET", "/api/v1/auth/session", {}, owner).json().at("role") == "owner");

    // With a second owner, the first may step down; then the second is the last one.
    const std::string admin_id = acme.user("admin").user_id;
    REQUIRE(client.request("PATCH", "/api/v1/members/" + admin_id, R"({"role":"owner"})", owner)
                .status == 200);
    auto res = client.request("PATCH", "/api/v1/members/" + owner_id, R"({"role":"admin"})", owner);
    REQUIRE(res.status == 200);
    CHECK(res.json().at("role") == "admin");
    const Headers second = bearer(acme.token("admin"));
    check_error(client.request("DELETE", "/api/v1/members/" + admin_id, {}, second), 409,
                "conflict");
    // The former owner is an admin now, on their very next request.
    check_forbidden(client.request("DELETE", "/api/v1/members/" + admin_id, {}, owner), "owner");
}

TEST_CASE("teams: a role change applies to the user's next request", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers owner = bearer(acme.token("owner"));
    const TestUser& member = acme.user("member");
    // A fresh login of the member, over a connection of its own.
    const std::string token = server.login(member);
    HttpClient mine(server.port());

    CHECK(mine.request("POST", "/api/v1/chatbots", R"({"name":"Mine"})", bearer(token)).status ==
          200);
    REQUIRE(
        client.request("PATCH", "/api/v1/members/" + member.user_id, R"({"role":"viewer"})", owner)
            .status == 200);
    check_forbidden(mine.request("POST", "/api/v1/chatbots", R"({"name":"Mine"})", bearer(token)),
                    "member");
    CHECK(mine.request("GET", "/api/v1/auth/session", {}, bearer(token)).json().at("role") ==
          "viewer");
    CHECK(mine.request("GET", "/api/v1/chatbots", {}, bearer(token)).status == 200);

    // Promoted to admin: the next rotation goes through.
    REQUIRE(
        client.request("PATCH", "/api/v1/members/" + member.user_id, R"({"role":"admin"})", owner)
            .status == 200);
    const std::string bot = acme.make(Target::chatbot);
    CHECK(
        mine.request("POST", "/api/v1/chatbots/" + bot + "/rotate-key", {}, bearer(token)).status ==
        200);
    CHECK(mine.request("GET", "/api/v1/invitations", {}, bearer(token)).status == 200);
}

TEST_CASE("teams: removing a member revokes every session of theirs at once", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const TestUser& member = acme.user("member");
    const std::string first = acme.token("member");
    const std::string second = server.login(member);
    HttpClient theirs(server.port());
    CHECK(theirs.request("GET", "/api/v1/chatbots", {}, bearer(first)).status == 200);
    CHECK(theirs.request("GET", "/api/v1/chatbots", {}, cookie(second)).status == 200);

    auto res = client.request("DELETE", "/api/v1/members/" + member.user_id, {},
                              bearer(acme.token("admin")));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.json() == json::value(json::object{{"ok", true}}));

    check_error(theirs.request("GET", "/api/v1/chatbots", {}, bearer(first)), 401, "unauthorized");
    check_error(theirs.request("GET", "/api/v1/auth/session", {}, cookie(second)), 401,
                "unauthorized");
    check_error(theirs.request("POST", "/api/v1/auth/logout", {}, bearer(first)), 401,
                "unauthorized");
    // Gone from the list, and the password no longer logs in.
    const auto members =
        client.request("GET", "/api/v1/members", {}, bearer(acme.token("owner"))).json();
    for (const auto& m : members.as_array()) CHECK(m.at("user_id") != json::string(member.user_id));
    check_error(
        client.request("POST", "/api/v1/auth/login", login_body(member.email, member.password)),
        401, "unauthorized");
    // Removing them again: they do not exist.
    check_error(client.request("DELETE", "/api/v1/members/" + member.user_id, {},
                               bearer(acme.token("admin"))),
                404, "not_found");
}

// ---- Members list and the session

TEST_CASE("teams: GET /api/v1/members is the organization, oldest first", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    server.clock->advance(std::chrono::hours(1));
    const TestUser late = acme.add("late@acme.example.com", Role::member);
    HttpClient client(server.port());
    auto res = client.request("GET", "/api/v1/members", {}, bearer(acme.token("viewer")));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    const auto v = res.json();
    REQUIRE(v.is_array());
    REQUIRE(v.as_array().size() == 5);
    static const std::regex time("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ");
    for (const auto& m : v.as_array()) {
        CHECK(m.as_object().size() == 4);
        CHECK(is_canonical_uuid(m.at("user_id").as_string()));
        CHECK(m.at("email").is_string());
        CHECK(rank(m.at("role").as_string()) >= 0);
        CHECK(std::regex_match(std::string(m.at("created_at").as_string()), time));
    }
    // Oldest first by (created_at, user_id): the four of the first second, then the late one.
    for (std::size_t i = 1; i < v.as_array().size(); ++i) {
        const auto& a = v.as_array()[i - 1];
        const auto& b = v.as_array()[i];
        const auto key = [](const json::value& m) {
            return std::make_pair(std::string(m.at("created_at").as_string()),
                                  std::string(m.at("user_id").as_string()));
        };
        CHECK(key(a) < key(b));
    }
    CHECK(v.as_array().back().at("user_id") == json::string(late.user_id));
    CHECK(v.as_array().back().at("created_at") == "2024-01-15T11:00:00Z");
    CHECK(v.as_array().back().at("role") == "member");
    CHECK(res.body.find("password") == std::string::npos);
}

TEST_CASE("teams: GET /api/v1/auth/session answers user, organization and role", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    for (std::string_view role : kRoles) {
        INFO(role);
        const TestUser& user = acme.user(role);
        for (const Headers& credential : {bearer(acme.token(role)), cookie(acme.token(role))}) {
            auto res = client.request("GET", "/api/v1/auth/session", {}, credential);
            REQUIRE(res.status == 200);
            check_json_headers(res);
            const auto v = res.json();
            CHECK(v == json::value(json::object{
                           {"ok", true},
                           {"user", json::object{{"id", user.user_id}, {"email", user.email}}},
                           {"organization", json::object{{"id", acme.org_id()}, {"name", "Acme"}}},
                           {"role", role},
                       }));
            // Exactly these members, in this order (the shape of API.md section 10).
            CHECK(res.body.find(R"({"ok":true,"user":{"id":)") == 0);
            CHECK(res.body.find(R"(},"organization":{"id":)") != std::string::npos);
            CHECK(res.body.ends_with(R"(},"role":")" + std::string(role) + R"("})"));
        }
    }
    check_error(client.request("GET", "/api/v1/auth/session"), 401, "unauthorized");
    check_error(client.request("GET", "/api/v1/auth/session", {}, bearer("ob_sess_x")), 401,
                "unauthorized");
    check_error(client.request("POST", "/api/v1/auth/session", {}, bearer(acme.token("owner"))),
                405, "method_not_allowed");
    // After logout the session is gone.
    const std::string token = server.login(acme.user("viewer"));
    REQUIRE(client.request("POST", "/api/v1/auth/logout", {}, bearer(token)).status == 200);
    check_error(client.request("GET", "/api/v1/auth/session", {}, bearer(token)), 401,
                "unauthorized");
}

// ---- Invitations end to end

TEST_CASE("teams: invite, list, accept, log in, and the token works once", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers admin = bearer(acme.token("admin"));

    auto res = client.request("POST", "/api/v1/invitations",
                              R"({"email":"Grace@Example.com","role":"member"})", admin);
    REQUIRE(res.status == 200);
    check_json_headers(res);
    auto v = res.json();
    CHECK(v.as_object().size() == 3);
    CHECK(v.at("ok") == true);
    const std::string token(v.at("token").as_string());
    CHECK(std::regex_match(token, std::regex("ob_inv_[0-9a-f]{64}")));
    const auto invitation = v.at("invitation");
    CHECK(invitation.as_object().size() == 5);
    const std::string invitation_id(invitation.at("id").as_string());
    CHECK(is_canonical_uuid(invitation_id));
    CHECK(invitation.at("email") == "Grace@Example.com");
    CHECK(invitation.at("role") == "member");
    CHECK(invitation.at("created_at") == "2024-01-15T10:00:00Z");
    CHECK(invitation.at("expires_at") == "2024-01-22T10:00:00Z");  // 7 days

    // Listed as pending, without the token (shown once).
    res = client.request("GET", "/api/v1/invitations", {}, admin);
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.json() == json::value(json::array{invitation}));
    CHECK(res.body.find(token) == std::string::npos);
    CHECK(res.body.find("ob_inv_") == std::string::npos);

    // Accept: no session needed; answers like login and sets the cookie.
    HttpClient stranger(server.port());
    res = stranger.request("POST", "/api/v1/invitations/accept",
                           accept_body(token, "grace's own password"));
    REQUIRE(res.status == 200);
    check_json_headers(res);
    v = res.json();
    CHECK(v.as_object().size() == 4);
    CHECK(v.at("ok") == true);
    const std::string session(v.at("token").as_string());
    CHECK(is_session_token_format(session));
    CHECK(v.at("user").as_object().size() == 2);
    const std::string user_id(v.at("user").at("id").as_string());
    CHECK(is_canonical_uuid(user_id));
    CHECK(v.at("user").at("email") == "Grace@Example.com");
    CHECK(v.at("organization") ==
          json::value(json::object{{"id", acme.org_id()}, {"name", "Acme"}}));
    CHECK(res.header("Set-Cookie") == "ob_session=" + session + "; Path=/; HttpOnly; SameSite=Lax");
    CHECK(res.body.find(token) == std::string::npos);

    // The session works, with the invited role.
    v = stranger.request("GET", "/api/v1/auth/session", {}, cookie(session)).json();
    CHECK(v.at("role") == "member");
    CHECK(v.at("user").at("id") == json::string(user_id));
    CHECK(stranger.request("POST", "/api/v1/chatbots", R"({"name":"Grace's"})", bearer(session))
              .status == 200);
    check_forbidden(stranger.request("GET", "/api/v1/invitations", {}, bearer(session)), "admin");

    // Logging in with the new password works (the email case-insensitively).
    res = stranger.request("POST", "/api/v1/auth/login",
                           login_body("grace@example.com", "grace's own password"));
    REQUIRE(res.status == 200);
    CHECK(res.json().at("user").at("id") == json::string(user_id));

    // A member now, no longer pending.
    bool listed = false;
    const json::value members = client.request("GET", "/api/v1/members", {}, admin).json();
    for (const auto& m : members.as_array())
        if (m.at("user_id") == json::string(user_id)) {
            listed = true;
            CHECK(m.at("role") == "member");
            CHECK(m.at("email") == "Grace@Example.com");
        }
    CHECK(listed);
    CHECK(client.request("GET", "/api/v1/invitations", {}, admin).json() == json::array{});

    // The token works once: reusing it is 401, also with another password; nothing set.
    for (const std::string& password : {std::string("grace's own password"), kPassword}) {
        res = stranger.request("POST", "/api/v1/invitations/accept", accept_body(token, password));
        check_error(res, 401, "unauthorized");
        CHECK(!res.has_header("Set-Cookie"));
        CHECK(res.body.find(token) == std::string::npos);
    }
    // A used invitation cannot be revoked any more.
    check_error(client.request("DELETE", "/api/v1/invitations/" + invitation_id, {}, admin), 404,
                "not_found");
}

TEST_CASE("teams: a revoked, expired or unknown invitation token is 401", "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers owner = bearer(acme.token("owner"));
    auto invite = [&](const std::string& email) {
        auto res = client.request("POST", "/api/v1/invitations",
                                  R"({"email":")" + email + R"(","role":"viewer"})", owner);
        REQUIRE(res.status == 200);
        const auto v = res.json();
        return std::make_pair(std::string(v.at("invitation").at("id").as_string()),
                              std::string(v.at("token").as_string()));
    };

    // Revoked.
    const auto [revoked_id, revoked] = invite("revoked@example.com");
    auto res = client.request("DELETE", "/api/v1/invitations/" + revoked_id, {}, owner);
    REQUIRE(res.status == 200);
    check_json_headers(res);
    CHECK(res.json() == json::value(json::object{{"ok", true}}));
    check_error(client.request("DELETE", "/api/v1/invitations/" + revoked_id, {}, owner), 404,
                "not_found");
    check_error(
        client.request("POST", "/api/v1/invitations/accept", accept_body(revoked, kPassword)), 401,
        "unauthorized");

    // Unknown (well-formed) and malformed tokens.
    check_error(client.request("POST", "/api/v1/invitations/accept",
                               accept_body("ob_inv_" + std::string(64, 'a'), kPassword)),
                401, "unauthorized");
    check_error(
        client.request("POST", "/api/v1/invitations/accept", accept_body("ob_inv_123", kPassword)),
        401, "unauthorized");
    // A session token or an API key is not an invitation.
    check_error(client.request("POST", "/api/v1/invitations/accept",
                               accept_body(acme.token("viewer"), kPassword)),
                401, "unauthorized");

    // Expired: valid for 7 days, not a second more.
    const auto [early_id, early] = invite("early@example.com");
    const auto [late_id, late] = invite("late@example.com");
    server.clock->advance(std::chrono::hours(24 * 7) - std::chrono::seconds(1));
    res = client.request("POST", "/api/v1/invitations/accept", accept_body(early, kPassword));
    CHECK(res.status == 200);
    server.clock->advance(std::chrono::seconds(1));
    res = client.request("POST", "/api/v1/invitations/accept", accept_body(late, kPassword));
    check_error(res, 401, "unauthorized");
    CHECK(!res.has_header("Set-Cookie"));
    // No longer pending either (the owner's session expired meanwhile: log in again).
    const std::string fresh = server.login(acme.user("owner"));
    CHECK(client.request("GET", "/api/v1/invitations", {}, bearer(fresh)).json() == json::array{});
    check_error(client.request("DELETE", "/api/v1/invitations/" + late_id, {}, bearer(fresh)), 404,
                "not_found");
    // And the late invitee has no account.
    check_error(
        client.request("POST", "/api/v1/auth/login", login_body("late@example.com", kPassword)),
        401, "unauthorized");
}

TEST_CASE("teams: accepting for an email that has an account is 409, bad bodies are 400",
          "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    Team globex(server, "Globex");
    HttpClient client(server.port());
    const Headers owner = bearer(acme.token("owner"));

    // Inviting never reveals whether an email has an account (here: one of Globex's, in
    // another case); accepting does, with 409.
    auto res = client.request("POST", "/api/v1/invitations",
                              R"({"email":"VIEWER@globex.example.com","role":"admin"})", owner);
    REQUIRE(res.status == 200);
    const std::string token(res.json().at("token").as_string());
    res = client.request("POST", "/api/v1/invitations/accept", accept_body(token, kPassword));
    check_error(res, 409, "conflict");
    CHECK(!res.has_header("Set-Cookie"));
    CHECK(res.body.find(token) == std::string::npos);
    // Nothing changed for that user.
    CHECK(client.request("GET", "/api/v1/auth/session", {}, bearer(globex.token("viewer")))
              .json()
              .at("organization")
              .at("name") == "Globex");

    // Malformed accept bodies: 400 (the token is never echoed).
    const std::string valid = "ob_inv_" + std::string(64, 'b');
    const std::vector<std::string> bodies = {
        "{",
        "[]",
        R"({"token":")" + valid + R"("})",
        R"({"password":"x"})",
        R"({"token":null,"password":"long enough password"})",
        R"({"token":")" + valid + R"(","password":5})",
        R"({"token":")" + valid + R"(","password":"long enough password","role":"owner"})",
        R"({"token":")" + valid + R"(","token":")" + valid +
            R"(","password":"long enough password"})",
    };
    for (const std::string& body : bodies) {
        INFO(body);
        res = client.request("POST", "/api/v1/invitations/accept", body);
        check_error(res, 400, "invalid_request");
        CHECK(res.body.find(valid) == std::string::npos);
    }
    check_error(client.request("POST", "/api/v1/invitations/accept", "x=1",
                               {{"Content-Type", "application/x-www-form-urlencoded"}}),
                415, "unsupported_media_type");
    check_error(client.request("GET", "/api/v1/invitations/accept", {}, owner), 405,
                "method_not_allowed");
}

// ---- A host with its own sessions

namespace {

// A host's session check: X-Test-Org names the organization, X-Test-Role (optional) the
// role; without it the Principal carries none (v1: owner).
class HostSessions final : public beast::SessionCheck {
  public:
    std::optional<beast::Principal> check(const beast::RequestView& request) override {
        const auto org = request.header("X-Test-Org");
        if (org.empty()) return std::nullopt;
        beast::Principal p;
        p.org_id = std::string(org);
        p.subject = "host-user";
        if (const auto role = request.header("X-Test-Role"); !role.empty())
            p.role = role_from_string(role);
        return p;
    }
};

beast::Api::Request host_request(boost::beast::http::verb method, const std::string& target,
                                 std::string_view role, std::string body = {}) {
    beast::Api::Request req{method, target, 11};
    req.set("X-Test-Org", "org-42");
    if (!role.empty()) req.set("X-Test-Role", std::string(role));
    if (!body.empty()) {
        req.set(boost::beast::http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    req.prepare_payload();
    return req;
}

}  // namespace

TEST_CASE("teams: a host supplies the role with its Principal, none is owner", "[http][teams]") {
    using boost::beast::http::verb;
    auto store = std::make_shared<MemoryStore>();
    auto registry = std::make_shared<ChatbotRegistry>(store);
    beast::Api api(registry, std::make_shared<HostSessions>());

    // No role: v1, everything is allowed.
    auto res =
        api.handle_sync(host_request(verb::post, "/api/v1/chatbots", "", R"({"name":"A"})"), {});
    REQUIRE(res.result_int() == 200);
    const std::string id(json::parse(res.body()).at("chatbot").at("id").as_string());
    CHECK(
        api.handle_sync(host_request(verb::post, "/api/v1/chatbots/" + id + "/rotate-key", ""), {})
            .result_int() == 200);

    for (std::string_view role : kRoles) {
        for (const Row& row : kTable) {
            // Only the chatbot routes: a host without Accounts has no team routes.
            if (!row.path.starts_with("/api/v1/chatbots") || row.method == "HEAD") continue;
            INFO(row.method << " " << row.path << " as " << role);
            const auto fresh = registry->create(Actor("org-42"), NewChatbot{"T", {}}).chatbot.id;
            const std::string target = replace(std::string(row.path), "{id}", fresh);
            const std::string body = replace(std::string(row.body), "{n}", "1");
            verb method = boost::beast::http::string_to_verb(std::string(row.method));
            auto answer = api.handle_sync(host_request(method, target, role, body), {});
            if (allows(role, row.lowest)) {
                CHECK(answer.result_int() == 200);
            } else {
                CHECK(answer.result_int() == 403);
                const auto error = json::parse(answer.body()).at("error");
                CHECK(error.at("code") == "forbidden");
                CHECK(error.at("required_role") == json::string(row.lowest));
            }
        }
    }
    // Without Accounts, the team routes do not exist.
    for (const char* path : {"/api/v1/members", "/api/v1/invitations", "/api/v1/auth/session"})
        CHECK(api.handle_sync(host_request(verb::get, path, "owner"), {}).result_int() == 404);
}

TEST_CASE("teams: an id that is not a UUID answers like an unknown id of that route",
          "[http][teams]") {
    TestServer server;
    Team acme(server, "Acme");
    HttpClient client(server.port());
    const Headers admin = bearer(acme.token("admin"));
    struct Probe {
        std::string method, path, body;
    };
    const std::vector<Probe> probes = {
        {"GET", "/api/v1/chatbots/{id}", ""},
        {"POST", "/api/v1/chatbots/{id}/rotate-key", ""},
        {"PATCH", "/api/v1/members/{id}", R"({"role":"viewer"})"},
        {"DELETE", "/api/v1/members/{id}", ""},
        {"DELETE", "/api/v1/invitations/{id}", ""},
    };
    for (const Probe& p : probes) {
        INFO(p.method << " " << p.path);
        const auto unknown =
            client.request(p.method, replace(p.path, "{id}", kUnknownId), p.body, admin);
        const auto malformed =
            client.request(p.method, replace(p.path, "{id}", "NOT-A-UUID"), p.body, admin);
        check_error(unknown, 404, "not_found");
        check_error(malformed, 404, "not_found");
        CHECK(malformed.body == unknown.body);
    }
}
