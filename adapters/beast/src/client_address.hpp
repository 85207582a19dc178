// Internal: who the client is for the rate limits -- the peer address, or, behind a
// configured reverse proxy, the address the proxy forwarded (X-Forwarded-For or
// Forwarded), read only from such a proxy.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "chatbotmgr/beast/api.hpp"

namespace chatbotmgr::beast::detail {

// CIDR blocks of trusted proxies ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1": a single
// address). Bits past the prefix are ignored.
class TrustedProxies {
  public:
    // Throws Error(invalid_argument, field "trusted_proxies") naming the entry that is not
    // an address or a CIDR block.
    explicit TrustedProxies(const std::vector<std::string>& blocks);

    bool empty() const noexcept { return blocks_.empty(); }
    // address: 16 bytes, IPv4 as IPv4-mapped IPv6.
    bool contains(const std::array<unsigned char, 16>& address) const noexcept;

  private:
    struct Block {
        std::array<unsigned char, 16> prefix;
        unsigned bits;  // of the 128
    };
    std::vector<Block> blocks_;
};

// The client address of a request that came from peer (an IP literal; anything else is
// returned as it is). When peer is a trusted proxy and the request carries `header`, the
// hops it lists are read from the right (the hop nearest to us first): the first hop that
// is not a trusted proxy is the client. A hop that cannot be read ends the walk at the
// last trusted hop (that hop's own address is then the client: the stricter choice), and
// when every hop is trusted the left-most is the client. From any other peer the header
// is ignored, whatever it says. IPv4-mapped IPv6 addresses come out as IPv4.
std::string client_address(const TrustedProxies& proxies, ForwardedHeader header,
                           std::string_view peer, const Api::Request& request);

}  // namespace chatbotmgr::beast::detail
