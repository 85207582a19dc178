#include "client_address.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/system/error_code.hpp>

#include "chatbotmgr/error.hpp"
#include "text.hpp"

namespace chatbotmgr::beast::detail {

namespace ip = boost::asio::ip;
using Bytes = std::array<unsigned char, 16>;

namespace {

std::optional<ip::address> parse_ip(std::string_view text) {
    boost::system::error_code ec;
    const ip::address a = ip::make_address(std::string(text), ec);
    if (ec) return std::nullopt;
    return a;
}

Bytes bytes_of(const ip::address& a) {
    return a.is_v4() ? ip::make_address_v6(ip::v4_mapped, a.to_v4()).to_bytes()
                     : a.to_v6().to_bytes();
}

std::string text_of(const Bytes& b) {
    const ip::address_v6 v6(b);
    return v6.is_v4_mapped() ? ip::make_address_v4(ip::v4_mapped, v6).to_string() : v6.to_string();
}

// One hop as a proxy writes it: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]:4711", possibly quoted. nullopt for anything else ("unknown",
// "_hidden", garbage).
std::optional<Bytes> parse_hop(std::string_view hop) {
    hop = trim_ows(hop);
    if (hop.size() >= 2 && hop.front() == '"' && hop.back() == '"')
        hop = hop.substr(1, hop.size() - 2);
    if (hop.starts_with('[')) {
        const std::size_t close = hop.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view rest = hop.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) return std::nullopt;
        hop = hop.substr(1, close - 1);
        const auto a = parse_ip(hop);
        if (!a || !a->is_v6()) return std::nullopt;
        return bytes_of(*a);
    }
    if (std::count(hop.begin(), hop.end(), ':') == 1) hop = hop.substr(0, hop.find(':'));
    const auto a = parse_ip(hop);
    if (!a) return std::nullopt;
    return bytes_of(*a);
}

// Splits s at sep, except inside quoted strings (RFC 9110 section 5.6.4).
std::vector<std::string_view> split_unquoted(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (quoted && s[i] == '\\') {
            ++i;
        } else if (s[i] == '"') {
            quoted = !quoted;
        } else if (!quoted && s[i] == sep) {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    out.push_back(s.substr(start));
    return out;
}

// The hops of X-Forwarded-For: "client, proxy1, proxy2".
void xff_hops(std::string_view value, std::vector<std::string_view>& hops) {
    for (std::string_view hop : split_unquoted(value, ',')) hops.push_back(trim_ows(hop));
}

// The for= of each element of Forwarded (RFC 7239): "for=192.0.2.60;proto=http,
// for=\"[2001:db8::17]:4711\"". An element without for= is a hop that cannot be read.
void forwarded_hops(std::string_view value, std::vector<std::string_view>& hops) {
    for (std::string_view element : split_unquoted(value, ',')) {
        std::string_view found;
        for (std::string_view pair : split_unquoted(element, ';')) {
            const std::size_t eq = pair.find('=');
            if (eq == std::string_view::npos) continue;
            if (boost::beast::iequals(trim_ows(pair.substr(0, eq)), "for"))
                found = trim_ows(pair.substr(eq + 1));
        }
        hops.push_back(found);
    }
}

}  // namespace

TrustedProxies::TrustedProxies(const std::vector<std::string>& blocks) {
    for (const std::string& text : blocks) {
        const std::size_t slash = text.find('/');
        const auto a = parse_ip(std::string_view(text).substr(0, slash));
        unsigned bits = a && a->is_v4() ? 32 : 128;
        bool ok = a.has_value();
        if (ok && slash != std::string::npos) {
            const std::string_view digits = std::string_view(text).substr(slash + 1);
            const unsigned max = bits;
            ok = !digits.empty() && digits.size() <= 3 &&
                 std::all_of(digits.begin(), digits.end(),
                             [](char c) { return c >= '0' && c <= '9'; });
            if (ok) bits = static_cast<unsigned>(std::stoul(std::string(digits)));
            ok = ok && bits <= max;
        }
        if (!ok)
            throw Error(ErrorCode::invalid_argument,
                        "trusted_proxies: \"" + text +
                            "\" is not an IP address or CIDR block (such as 10.0.0.0/8)",
                        "trusted_proxies");
        if (a->is_v4()) bits += 96;
        Block b{bytes_of(*a), bits};
        for (unsigned i = 0; i < 16; ++i) {
            const unsigned keep = bits > 8 * i ? std::min(8u, bits - 8 * i) : 0;
            b.prefix[i] &= static_cast<unsigned char>(0xFF00u >> keep);
        }
        blocks_.push_back(b);
    }
}

bool TrustedProxies::contains(const Bytes& address) const noexcept {
    return std::any_of(blocks_.begin(), blocks_.end(), [&](const Block& b) {
        for (unsigned i = 0; i < 16; ++i) {
            const unsigned keep = b.bits > 8 * i ? std::min(8u, b.bits - 8 * i) : 0;
            const auto mask = static_cast<unsigned char>(0xFF00u >> keep);
            if ((address[i] & mask) != b.prefix[i]) return false;
        }
        return true;
    });
}

std::string client_address(const TrustedProxies& proxies, ForwardedHeader header,
                           std::string_view peer, const Api::Request& request) {
    const auto peer_ip = parse_ip(peer);
    if (!peer_ip) return std::string(peer);
    Bytes nearest = bytes_of(*peer_ip);
    if (proxies.empty() || !proxies.contains(nearest)) return text_of(nearest);

    const bool forwarded = header == ForwardedHeader::forwarded;
    std::vector<std::string_view> hops;
    // Every line of the header, in order, is one list (RFC 9110 section 5.3).
    const auto [first, last] =
        request.equal_range(forwarded ? std::string_view("Forwarded") : "X-Forwarded-For");
    for (auto it = first; it != last; ++it) {
        if (forwarded)
            forwarded_hops(it->value(), hops);
        else
            xff_hops(it->value(), hops);
    }
    for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
        const auto address = parse_hop(*hop);
        if (!address) break;
        if (!proxies.contains(*address)) return text_of(*address);
        nearest = *address;
    }
    return text_of(nearest);
}

}  // namespace chatbotmgr::beast::detail
