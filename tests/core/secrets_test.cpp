#include <catch2/catch.hpp>

#include <set>

#include "chatbotmgr/secrets.hpp"
#include "chatbotmgr/testing/fakes.hpp"

using namespace chatbotmgr;

TEST_CASE("sha256 of a key matches the known vector") {
    CHECK(to_hex(sha256("ob_live_00000000000000000000000000000000")) ==
          "8957578f7bb759d13185090ec9c45b4d6bb05b2f18c39a1a2bc55db6f2d49aa3");
}

TEST_CASE("generated API keys have the documented format and are distinct") {
    auto random = system_random();
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string key = generate_api_key(*random);
        REQUIRE(is_api_key_format(key));
        REQUIRE(key.size() == 40);
        REQUIRE(seen.insert(key).second);
    }
}

TEST_CASE("API key format check rejects near misses") {
    CHECK(is_api_key_format("ob_live_0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(is_api_key_format("ob_live_0123456789ABCDEF0123456789abcdef"));   // uppercase
    CHECK_FALSE(is_api_key_format("ob_live_0123456789abcdef0123456789abcde"));    // short
    CHECK_FALSE(is_api_key_format("ob_live_0123456789abcdef0123456789abcdef0"));  // long
    CHECK_FALSE(is_api_key_format("ob_test_0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(is_api_key_format("ob_live_0123456789abcdef0123456789abcdeg"));
    CHECK_FALSE(is_api_key_format(""));
}

TEST_CASE("session tokens never look like API keys") {
    testing::DeterministicRandom random(7);
    const std::string token = generate_session_token(random);
    CHECK(is_session_token_format(token));
    CHECK_FALSE(is_api_key_format(token));
    CHECK_FALSE(token.starts_with("ob_live_"));
    CHECK(looks_like_secret(token));
    CHECK(looks_like_secret("ob_live_x"));
    CHECK_FALSE(looks_like_secret("name"));
}

TEST_CASE("UUIDs are v4, lowercase and canonical") {
    auto random = system_random();
    for (int i = 0; i < 100; ++i) {
        const std::string id = generate_uuid_v4(*random);
        REQUIRE(is_canonical_uuid(id));
        REQUIRE(id[14] == '4');
        REQUIRE(std::string("89ab").find(id[19]) != std::string::npos);
    }
    CHECK_FALSE(is_canonical_uuid("5B0A3F9E-2C1D-4E8F-9A7B-1C2D3E4F5A6B"));
    CHECK_FALSE(is_canonical_uuid("5b0a3f9e2c1d4e8f9a7b1c2d3e4f5a6b"));
    CHECK_FALSE(is_canonical_uuid("5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b/"));
    CHECK(is_canonical_uuid("5b0a3f9e-2c1d-4e8f-9a7b-1c2d3e4f5a6b"));
}

TEST_CASE("digest comparison") {
    const Digest a = sha256("a"), b = sha256("b");
    CHECK(digests_equal(a, a));
    CHECK_FALSE(digests_equal(a, b));
}
