// The host's own session check: identities asserted by an upstream gateway.
//
// The gateway (an API gateway or auth proxy in front of this service) authenticates the
// browser or client by whatever means it likes, then forwards the request with
//
//   X-Gateway-User:      alice@acme.test
//   X-Gateway-Org:       acct-1001            (the host's own organization id)
//   X-Gateway-Expires:   1767225600           (Unix seconds)
//   X-Gateway-Signature: hex(HMAC-SHA256(secret, "v1\n" + user + "\n" + org + "\n" + expires))
//
// The shared secret never travels, so a client that reaches the service directly cannot
// forge an identity, and a captured assertion stops working when it expires.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <chatbotmgr/beast/session_check.hpp>
#include <chatbotmgr/secrets.hpp>

namespace embed {

// HMAC-SHA256 (RFC 2104) over chatbotmgr's SHA-256.
chatbotmgr::Digest hmac_sha256(std::string_view key, std::string_view message);

// What the gateway signs for one assertion.
std::string gateway_payload(std::string_view user, std::string_view org, std::string_view expires);

class GatewaySessionCheck final : public chatbotmgr::beast::SessionCheck {
  public:
    // tenants: the host's organization ids and display names; an assertion for any other
    // organization is refused. max_lifetime bounds how far in the future Expires may lie.
    GatewaySessionCheck(std::string secret, std::map<std::string, std::string> tenants,
                        std::chrono::seconds max_lifetime = std::chrono::minutes(10));

    // Thread-safe: reads only immutable state. Never throws.
    std::optional<chatbotmgr::beast::Principal> check(
        const chatbotmgr::beast::RequestView& request) override;
    // Only a request that carries a signature counts as a failed login attempt.
    bool has_credential(const chatbotmgr::beast::RequestView& request) const override;

    // Display name of a tenant (empty when unknown).
    std::string tenant_name(std::string_view org_id) const;

  private:
    std::string secret_;
    std::map<std::string, std::string, std::less<>> tenants_;
    std::chrono::seconds max_lifetime_;
};

}  // namespace embed
