#include "wire.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/json.hpp"
#include "chatbotmgr/secrets.hpp"
#include "text.hpp"

namespace chatbotmgr::beast::wire {
namespace {

namespace json = boost::json;

// ---- Rules shared by the decoders

[[noreturn]] void invalid(const std::string& field, std::string_view what) {
    throw Error(ErrorCode::invalid_argument, field + " " + std::string(what), field);
}

[[noreturn]] void wrong_type(const std::string& field, std::string_view expected) {
    invalid(field, "must be " + std::string(expected));
}

[[noreturn]] void unknown_field(std::string_view name) {
    throw Error(ErrorCode::invalid_argument, describe_unknown_field(name),
                looks_like_secret(name) ? std::string() : echoable_prefix(name));
}

// The body as a JSON object (strict parse), or 400.
json::object body_object(std::string_view body, const JsonLimits& limits) {
    json::value v = parse_json_strict(body, limits);
    if (!v.is_object())
        throw Error(ErrorCode::invalid_argument, "request body must be a JSON object");
    return std::move(v.get_object());
}

std::string string_of(const json::value& v, const std::string& field) {
    const auto* s = v.if_string();
    if (!s) wrong_type(field, "a string");
    return std::string(s->data(), s->size());
}

json::object object_of(json::value&& v, const std::string& field) {
    if (!v.is_object()) wrong_type(field, "a JSON object");
    return std::move(v.get_object());
}

// An RFC 3339 date-time, floored to whole seconds.
std::chrono::sys_seconds time_of(const json::value& v, const std::string& field) {
    const auto* s = v.if_string();
    if (!s) wrong_type(field, "an RFC 3339 date-time string");
    const auto t = parse_rfc3339(*s);
    if (!t) invalid(field, "must be an RFC 3339 date-time");
    return std::chrono::floor<std::chrono::seconds>(*t);
}

void require(bool present, const std::string& field) {
    if (!present) invalid(field, "is required");
}

// The first kMaxWarnings warnings, then a count of the rest: the answer to a capture stays
// small whatever the request holds.
class Warnings {
  public:
    void unknown_field(std::string_view prefix, std::string_view name) {
        if (list_.size() == kMaxWarnings) {
            ++more_;
            return;
        }
        std::string w(prefix);
        w += describe_unknown_field(name);
        w += " ignored";
        list_.push_back(std::move(w));
    }
    std::vector<std::string> take() && {
        if (more_ > 0)
            list_.push_back("and " + std::to_string(more_) + " more unknown fields ignored");
        return std::move(list_);
    }

  private:
    std::vector<std::string> list_;
    std::size_t more_ = 0;
};

CapturedMessage decode_message(const json::value& v, const std::string& field, Warnings& warnings) {
    const auto* obj = v.if_object();
    if (!obj) wrong_type(field, "an object");
    CapturedMessage m;
    bool has_role = false, has_content = false;
    for (const auto& member : *obj) {
        const std::string_view key = member.key();
        const auto sub = [&] { return field + "." + std::string(key); };
        if (key == "role") {
            m.role = string_of(member.value(), sub());
            has_role = true;
        } else if (key == "content") {
            m.content = string_of(member.value(), sub());
            has_content = true;
        } else if (key == "id") {
            m.external_id = string_of(member.value(), sub());
        } else if (key == "sentAt") {
            const auto* s = member.value().if_string();
            if (!s) wrong_type(sub(), "an RFC 3339 date-time string");
            m.sent_at = parse_rfc3339(*s);
            if (!m.sent_at) invalid(sub(), "must be an RFC 3339 date-time");
        } else {
            warnings.unknown_field(field + ": ", key);
        }
    }
    require(has_role, field + ".role");
    require(has_content, field + ".content");
    return m;
}

// user.id, when user is an object that has one: a string as is, a number as JSON text.
std::optional<std::string> external_user_id(const json::value& user) {
    const auto* obj = user.if_object();
    const json::value* id = obj ? obj->if_contains("id") : nullptr;
    if (!id) return std::nullopt;
    if (const auto* s = id->if_string()) return std::string(s->data(), s->size());
    if (id->is_number()) return to_compact_json(*id);
    wrong_type("user.id", "a string or a number");
}

// A key prefix as shown, "ob_live_1a2b3c...", as a JSON string.
void append_key_prefix(std::string& out, std::string_view prefix) {
    append_json_string(out, prefix);
    out.pop_back();  // the closing quote, back after the ellipsis
    out += "...\"";
}

// Appends {"id":..,"name":..,"api_key_prefix":..,"settings":..,"created_at":..}.
void append_chatbot(std::string& out, const Chatbot& c) {
    out += R"({"id":)";
    append_json_string(out, c.id);
    out += R"(,"name":)";
    append_json_string(out, c.name);
    out += R"(,"api_key_prefix":)";
    append_key_prefix(out, c.key_prefix);
    out += R"(,"settings":)";
    append_compact_json(out, c.settings);
    out += R"(,"created_at":")";
    append_rfc3339(out, c.created_at);
    out += "\"}";
}

}  // namespace

// ---- Request bodies

CreateRequest decode_new_chatbot(std::string_view body, const JsonLimits& limits) {
    CreateRequest out;
    bool has_name = false;
    for (auto& member : body_object(body, limits)) {
        const std::string_view key = member.key();
        if (key == "name") {
            out.chatbot.name = string_of(member.value(), "name");
            has_name = true;
        } else if (key == "settings") {
            out.chatbot.settings = object_of(std::move(member.value()), "settings");
        } else if (key == "key_expires_at") {
            out.key_expires_at = time_of(member.value(), "key_expires_at");
        } else {
            unknown_field(key);
        }
    }
    require(has_name, "name");
    return out;
}

RotateOptions decode_rotate(std::string_view body, const JsonLimits& limits) {
    RotateOptions out;
    if (body.empty()) return out;  // v1: no body
    for (auto& member : body_object(body, limits)) {
        const std::string_view key = member.key();
        if (key == "grace_seconds") {
            // An integer (1.0 and 1e3 are not); a value past int64 is out of range anyway.
            const json::value& v = member.value();
            if (v.is_int64())
                out.grace = std::chrono::seconds(v.get_int64());
            else if (v.is_uint64())
                out.grace = kMaxGracePeriod + std::chrono::seconds(1);
            else
                wrong_type("grace_seconds", "an integer from 0 to 604800");
        } else if (key == "key_expires_at") {
            out.key_expires_at = time_of(member.value(), "key_expires_at");
        } else {
            unknown_field(key);
        }
    }
    return out;
}

ChatbotPatch decode_chatbot_patch(std::string_view body, const JsonLimits& limits) {
    ChatbotPatch out;
    for (auto& member : body_object(body, limits)) {
        const std::string_view key = member.key();
        if (key == "name")
            out.name = string_of(member.value(), "name");
        else if (key == "settings")
            out.settings_patch = object_of(std::move(member.value()), "settings");
        else
            unknown_field(key);
    }
    return out;
}

CaptureRequest decode_capture(std::string_view body, const JsonLimits& limits) {
    CaptureBatch batch;
    Warnings warnings;
    bool has_conversation = false, has_messages = false;
    for (auto& member : body_object(body, limits)) {
        const std::string_view key = member.key();
        json::value& v = member.value();
        if (key == "conversationId") {
            batch.external_conversation_id = string_of(v, "conversationId");
            has_conversation = true;
        } else if (key == "messages") {
            auto* messages = v.if_array();
            if (!messages) wrong_type("messages", "an array");
            batch.messages.reserve(messages->size());
            for (std::size_t i = 0; i < messages->size(); ++i)
                batch.messages.push_back(decode_message(
                    (*messages)[i], "messages[" + std::to_string(i) + "]", warnings));
            has_messages = true;
        } else if (key == "user" || key == "organization" || key == "session" || key == "custom") {
            // Their shape and limits are the core's rules (validate_capture).
            if (key == "user") batch.external_user_id = external_user_id(v);
            batch.metadata[key] = std::move(v);
        } else {
            warnings.unknown_field({}, key);
        }
    }
    require(has_conversation, "conversationId");
    require(has_messages, "messages");
    return {std::move(batch), std::move(warnings).take()};
}

namespace {

// A body of exactly these string members, all required, in the order named.
template <std::size_t N>
std::array<std::string, N> decode_strings(std::string_view body, const JsonLimits& limits,
                                          const std::array<std::string_view, N>& names) {
    std::array<std::string, N> out;
    std::array<bool, N> seen{};
    for (const auto& member : body_object(body, limits)) {
        const auto it = std::find(names.begin(), names.end(), member.key());
        if (it == names.end()) unknown_field(member.key());
        const auto i = static_cast<std::size_t>(it - names.begin());
        out[i] = string_of(member.value(), std::string(*it));
        seen[i] = true;
    }
    for (std::size_t i = 0; i < N; ++i) require(seen[i], std::string(names[i]));
    return out;
}

Role role_of(const std::string& name) {
    const auto role = role_from_string(name);
    if (!role) invalid("role", "must be \"viewer\", \"member\", \"admin\" or \"owner\"");
    return *role;
}

}  // namespace

LoginRequest decode_login(std::string_view body, const JsonLimits& limits) {
    auto [email, password] = decode_strings<2>(body, limits, {"email", "password"});
    return {std::move(email), std::move(password)};
}

InvitationRequest decode_invitation(std::string_view body, const JsonLimits& limits) {
    auto [email, role] = decode_strings<2>(body, limits, {"email", "role"});
    return {std::move(email), role_of(role)};
}

Role decode_role_change(std::string_view body, const JsonLimits& limits) {
    return role_of(decode_strings<1>(body, limits, {"role"})[0]);
}

AcceptRequest decode_accept(std::string_view body, const JsonLimits& limits) {
    auto [token, password] = decode_strings<2>(body, limits, {"token", "password"});
    return {std::move(token), std::move(password)};
}

void decode_no_body(std::string_view body, const JsonLimits& limits) {
    if (body.empty()) return;
    const json::object o = body_object(body, limits);
    if (!o.empty()) unknown_field(o.begin()->key());
}

std::string describe_unknown_field(std::string_view name) {
    if (looks_like_secret(name)) return "unknown field";
    std::string out = "unknown field ";
    append_json_string(out, echoable_prefix(name));
    return out;
}

// ---- Query strings

namespace {

// The first value of parameter name in the query of target (raw, still encoded).
std::optional<std::string_view> query_parameter(std::string_view target, std::string_view name) {
    const std::size_t q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        const std::size_t amp = std::min(query.find('&'), query.size());
        const std::string_view pair = query.substr(0, amp);
        query.remove_prefix(std::min(amp + 1, query.size()));
        const std::size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    return std::nullopt;
}

}  // namespace

std::optional<PageRequest> decode_page_query(std::string_view target, std::string_view list,
                                             std::string_view org_id, std::size_t default_limit,
                                             std::size_t max_limit) {
    const auto raw_limit = query_parameter(target, "limit");
    const auto raw_cursor = query_parameter(target, "cursor");
    if (!raw_limit && !raw_cursor) return std::nullopt;
    PageRequest page;
    page.limit = default_limit;
    if (raw_limit) {
        // Digits only (from_chars takes no sign or space), at most three of them.
        const auto text = detail::percent_decoded(*raw_limit, detail::MalformedEscape::reject);
        std::size_t limit = 0;
        bool ok = text && !text->empty() && text->size() <= 3;
        if (ok) {
            const char* last = text->data() + text->size();
            const auto parsed = std::from_chars(text->data(), last, limit);
            ok = parsed.ec == std::errc() && parsed.ptr == last;
        }
        if (!ok || limit < 1 || limit > max_limit)
            throw Error(ErrorCode::invalid_argument,
                        "limit must be an integer from 1 to " + std::to_string(max_limit), "limit");
        page.limit = limit;
    }
    if (raw_cursor) {
        const auto text = detail::percent_decoded(*raw_cursor, detail::MalformedEscape::reject);
        page.after = text ? decode_page_cursor(list, org_id, *text) : std::nullopt;
        if (!page.after)
            throw Error(ErrorCode::invalid_argument,
                        "cursor is not a cursor of this list (use the Link of the page before)",
                        "cursor");
    }
    return page;
}

namespace {

constexpr std::array<std::string_view, 5> kAuditFilters = {"action", "target_id", "actor_id",
                                                           "since", "until"};
constexpr std::size_t kMaxFilterBytes = 256;

std::optional<std::string> filter_text(std::string_view target, std::string_view name) {
    const auto raw = query_parameter(target, name);
    if (!raw) return std::nullopt;
    auto text = detail::percent_decoded(*raw, detail::MalformedEscape::reject);
    if (!text || text->empty() || text->size() > kMaxFilterBytes)
        throw Error(ErrorCode::invalid_argument,
                    std::string(name) + " must be 1 to 256 bytes, percent-encoded",
                    std::string(name));
    return text;
}

std::optional<std::chrono::sys_seconds> filter_time(std::string_view target,
                                                    std::string_view name) {
    const auto text = filter_text(target, name);
    if (!text) return std::nullopt;
    const auto t = parse_rfc3339(*text);
    if (!t)
        throw Error(ErrorCode::invalid_argument,
                    std::string(name) + " must be an RFC 3339 date-time", std::string(name));
    return std::chrono::floor<std::chrono::seconds>(*t);
}

}  // namespace

AuditQuery decode_audit_query(std::string_view target) {
    AuditQuery query;
    if (const auto action = filter_text(target, "action")) {
        query.action = parse_audit_action(*action);
        if (!query.action)
            throw Error(ErrorCode::invalid_argument,
                        "action must be one of the audit actions (API.md section 13)", "action");
    }
    query.target_id = filter_text(target, "target_id");
    query.actor_id = filter_text(target, "actor_id");
    query.since = filter_time(target, "since");
    query.until = filter_time(target, "until");
    return query;
}

std::string audit_filter_query(std::string_view target) {
    std::string out;
    for (const std::string_view name : kAuditFilters) {
        const auto raw = query_parameter(target, name);
        if (!raw) continue;
        if (!out.empty()) out += '&';
        out.append(name).append("=").append(*raw);
    }
    return out;
}

std::string next_page_link(std::string_view path, std::string_view list, std::string_view org_id,
                           std::size_t limit, const PagePosition& next,
                           std::string_view kept_query) {
    std::string out = "<";
    out.append(path).append("?");
    if (!kept_query.empty()) out.append(kept_query).append("&");
    out.append("limit=")
        .append(std::to_string(limit))
        .append("&cursor=")
        .append(encode_page_cursor(list, org_id, next))
        .append(">; rel=\"next\"");
    return out;
}

// ---- Answers

std::string encode_chatbot(const Chatbot& chatbot) {
    std::string out;
    out.reserve(160 + chatbot.name.size());
    append_chatbot(out, chatbot);
    return out;
}

std::string encode_chatbot_list(const std::vector<Chatbot>& chatbots) {
    std::string out = "[";
    out.reserve(2 + 192 * chatbots.size());
    for (const auto& c : chatbots) {
        if (out.size() > 1) out += ',';
        append_chatbot(out, c);
    }
    out += ']';
    return out;
}

std::string encode_chatbot_with_key(const ChatbotWithKey& created) {
    std::string out = R"({"ok":true,"chatbot":)";
    append_chatbot(out, created.chatbot);
    out += R"(,"apiKey":)";
    append_json_string(out, created.api_key);
    if (created.previous_key_expires_at) {
        out += R"(,"previousKeyExpiresAt":")";
        append_rfc3339(out, *created.previous_key_expires_at);
        out += '"';
    }
    out += '}';
    return out;
}

namespace {

void append_time_or_null(std::string& out, const std::optional<std::chrono::sys_seconds>& t) {
    if (!t) {
        out += "null";
        return;
    }
    out += '"';
    append_rfc3339(out, *t);
    out += '"';
}

// "api_key_prefix", then (for a current key) "created_at", then "expires_at" and
// "last_used_at".
void append_key_state(std::string& out, const KeyState& key, bool with_created_at) {
    out += R"({"api_key_prefix":)";
    append_key_prefix(out, key.prefix);
    if (with_created_at) {
        out += R"(,"created_at":")";
        append_rfc3339(out, key.issued_at);
        out += '"';
    }
    out += R"(,"expires_at":)";
    append_time_or_null(out, key.expires_at);
    out += R"(,"last_used_at":)";
    append_time_or_null(out, key.last_used_at);
}

}  // namespace

std::string encode_keys(const ChatbotKeys& keys) {
    std::string out;
    append_key_state(out, keys.current, true);
    out += R"(,"previous":)";
    if (keys.previous) {
        append_key_state(out, *keys.previous, false);
        out += '}';
    } else {
        out += "null";
    }
    out += '}';
    return out;
}

std::string encode_grace_ended(bool revoked) {
    return revoked ? R"({"ok":true,"revoked":true})" : R"({"ok":true,"revoked":false})";
}

std::string encode_login(const LoginResult& login) {
    std::string out = R"({"ok":true,"token":)";
    append_json_string(out, login.token);
    out += R"(,"user":{"id":)";
    append_json_string(out, login.user.id);
    out += R"(,"email":)";
    append_json_string(out, login.user.email);
    out += R"(},"organization":{"id":)";
    append_json_string(out, login.organization.id);
    out += R"(,"name":)";
    append_json_string(out, login.organization.name);
    out += "}}";
    return out;
}

std::string encode_capture(const CaptureResult& result, const std::vector<std::string>& warnings) {
    std::string out = R"({"ok":true,"conversationId":)";
    append_json_string(out, result.conversation_id);
    out += R"(,"messagesStored":)";
    out += std::to_string(result.messages_stored);
    out += R"(,"analysisQueued":false,"warnings":[)";
    for (std::size_t i = 0; i < warnings.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, warnings[i]);
    }
    out += "]}";
    return out;
}

std::string encode_ok() {
    return R"({"ok":true})";
}

std::string encode_error(std::string_view code, std::string_view message,
                         std::optional<Role> required_role) {
    std::string out = R"({"ok":false,"error":{"code":)";
    append_json_string(out, code);
    out += R"(,"message":)";
    append_json_string(out, message);
    if (required_role) {
        out += R"(,"required_role":)";
        append_json_string(out, to_string(*required_role));
    }
    out += "}}";
    return out;
}

std::string encode_session(const User& user, const Organization& organization) {
    std::string out = R"({"ok":true,"user":{"id":)";
    append_json_string(out, user.id);
    out += R"(,"email":)";
    append_json_string(out, user.email);
    out += R"(},"organization":{"id":)";
    append_json_string(out, organization.id);
    out += R"(,"name":)";
    append_json_string(out, organization.name);
    out += R"(},"role":)";
    append_json_string(out, to_string(user.role));
    out += '}';
    return out;
}

namespace {

void append_member(std::string& out, const User& user) {
    out += R"({"user_id":)";
    append_json_string(out, user.id);
    out += R"(,"email":)";
    append_json_string(out, user.email);
    out += R"(,"role":)";
    append_json_string(out, to_string(user.role));
    out += R"(,"created_at":")";
    append_rfc3339(out, user.created_at);
    out += "\"}";
}

void append_invitation(std::string& out, const Invitation& inv) {
    out += R"({"id":)";
    append_json_string(out, inv.id);
    out += R"(,"email":)";
    append_json_string(out, inv.email);
    out += R"(,"role":)";
    append_json_string(out, to_string(inv.role));
    out += R"(,"created_at":")";
    append_rfc3339(out, inv.created_at);
    out += R"(","expires_at":")";
    append_rfc3339(out, inv.expires_at);
    out += "\"}";
}

// A string, or null when empty (an event's optional members).
void append_string_or_null(std::string& out, std::string_view s) {
    if (s.empty())
        out += "null";
    else
        append_json_string(out, s);
}

void append_audit_event(std::string& out, const AuditEvent& e) {
    out += R"({"id":)";
    append_json_string(out, e.id);
    out += R"(,"time":")";
    append_rfc3339(out, e.created_at);
    out += R"(","action":)";
    append_json_string(out, to_string(e.action));
    out += R"(,"actor":{"type":)";
    append_json_string(out, e.actor.type);
    out += R"(,"id":)";
    append_string_or_null(out, e.actor.id);
    out += R"(,"email":)";
    append_string_or_null(out, e.actor.email);
    out += R"(},"target":{"type":)";
    append_json_string(out, e.target.type);
    out += R"(,"id":)";
    append_string_or_null(out, e.target.id);
    out += R"(,"name":)";
    append_string_or_null(out, e.target.name);
    out += R"(},"ip":)";
    append_string_or_null(out, e.ip);
    out += R"(,"user_agent":)";
    append_string_or_null(out, e.user_agent);
    out += R"(,"changes":)";
    append_compact_json(out, e.changes);
    out += '}';
}

template <class T>
std::string array_of(const std::vector<T>& items, void (*append)(std::string&, const T&)) {
    std::string out = "[";
    for (const T& item : items) {
        if (out.size() > 1) out += ',';
        append(out, item);
    }
    out += ']';
    return out;
}

}  // namespace

std::string encode_member(const User& user) {
    std::string out;
    append_member(out, user);
    return out;
}

std::string encode_member_list(const std::vector<User>& users) {
    return array_of(users, &append_member);
}

std::string encode_audit_events(const std::vector<AuditEvent>& events) {
    return array_of(events, &append_audit_event);
}

std::string encode_invitation_list(const std::vector<Invitation>& invitations) {
    return array_of(invitations, &append_invitation);
}

std::string encode_invitation_with_token(const InvitationWithToken& created) {
    std::string out = R"({"ok":true,"invitation":)";
    append_invitation(out, created.invitation);
    out += R"(,"token":)";
    append_json_string(out, created.token);
    out += '}';
    return out;
}

}  // namespace chatbotmgr::beast::wire
