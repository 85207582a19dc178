#include "gateway_auth.hpp"

#include <array>
#include <charconv>
#include <cstdint>

namespace embed {

namespace {

constexpr std::size_t kBlockSize = 64;  // SHA-256's block size, in bytes

// 64 lowercase hex digits -> digest; nullopt for anything else.
std::optional<chatbotmgr::Digest> parse_hex_digest(std::string_view hex) {
    chatbotmgr::Digest out{};
    if (hex.size() != out.size() * 2) return std::nullopt;
    for (std::size_t i = 0; i < out.size(); ++i) {
        unsigned value = 0;
        const char* first = hex.data() + 2 * i;
        for (const char* p = first; p != first + 2; ++p)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return std::nullopt;
        std::from_chars(first, first + 2, value, 16);
        out[i] = static_cast<unsigned char>(value);
    }
    return out;
}

bool contains_newline(std::string_view s) {
    return s.find('\n') != std::string_view::npos;
}

}  // namespace

chatbotmgr::Digest hmac_sha256(std::string_view key, std::string_view message) {
    std::string block(key);
    if (block.size() > kBlockSize) {
        const chatbotmgr::Digest hashed = chatbotmgr::sha256(key);
        block.assign(reinterpret_cast<const char*>(hashed.data()), hashed.size());
    }
    block.resize(kBlockSize, '\0');
    std::string inner(kBlockSize, '\0');
    std::string outer(kBlockSize, '\0');
    for (std::size_t i = 0; i < kBlockSize; ++i) {
        inner[i] = static_cast<char>(block[i] ^ 0x36);
        outer[i] = static_cast<char>(block[i] ^ 0x5c);
    }
    inner.append(message);
    const chatbotmgr::Digest inner_hash = chatbotmgr::sha256(inner);
    outer.append(reinterpret_cast<const char*>(inner_hash.data()), inner_hash.size());
    return chatbotmgr::sha256(outer);
}

std::string gateway_payload(std::string_view user, std::string_view org, std::string_view expires) {
    std::string payload = "v1\n";
    payload.append(user).append("\n").append(org).append("\n").append(expires);
    return payload;
}

GatewaySessionCheck::GatewaySessionCheck(std::string secret,
                                         std::map<std::string, std::string> tenants,
                                         std::chrono::seconds max_lifetime)
    : secret_(std::move(secret)),
      tenants_(tenants.begin(), tenants.end()),
      max_lifetime_(max_lifetime) {}

std::optional<chatbotmgr::beast::Principal> GatewaySessionCheck::check(
    const chatbotmgr::beast::RequestView& request) {
    const std::string_view user = request.header("X-Gateway-User");
    const std::string_view org = request.header("X-Gateway-Org");
    const std::string_view expires = request.header("X-Gateway-Expires");
    const auto signature = parse_hex_digest(request.header("X-Gateway-Signature"));
    if (user.empty() || org.empty() || expires.empty() || !signature) return std::nullopt;
    // A newline would let one assertion pass for another (the payload is newline-joined).
    if (contains_newline(user) || contains_newline(org)) return std::nullopt;

    const chatbotmgr::Digest expected = hmac_sha256(secret_, gateway_payload(user, org, expires));
    if (!chatbotmgr::digests_equal(expected, *signature)) return std::nullopt;  // constant-time

    std::int64_t expires_at = 0;
    const auto [end, ec] =
        std::from_chars(expires.data(), expires.data() + expires.size(), expires_at);
    if (ec != std::errc() || end != expires.data() + expires.size()) return std::nullopt;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    if (expires_at <= now || expires_at > now + max_lifetime_.count()) return std::nullopt;

    if (!tenants_.contains(org)) return std::nullopt;
    // Headers from a gateway are not ambient browser credentials: no CSRF check needed.
    return chatbotmgr::beast::Principal{std::string(org), std::string(user), false};
}

bool GatewaySessionCheck::has_credential(const chatbotmgr::beast::RequestView& request) const {
    return !request.header("X-Gateway-Signature").empty();
}

std::string GatewaySessionCheck::tenant_name(std::string_view org_id) const {
    const auto it = tenants_.find(org_id);
    return it == tenants_.end() ? std::string() : it->second;
}

}  // namespace embed
