#include "idempotency.hpp"

#include <algorithm>
#include <cstdint>

#include "sodium_init.hpp"

namespace chatbotmgr {

bool is_idempotency_key(std::string_view key) noexcept {
    return !key.empty() && key.size() <= kMaxIdempotencyKeyLength &&
           std::all_of(key.begin(), key.end(), [](char c) { return c >= '!' && c <= '~'; });
}

namespace detail {
namespace {

// Each field with its length first, so no two different scopes hash the same input.
void absorb(crypto_generichash_state& state, std::string_view field) {
    const auto n = static_cast<std::uint64_t>(field.size());
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(n >> (8 * i));
    crypto_generichash_update(&state, length, sizeof length);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(field.data()),
                              field.size());
}

// BLAKE2b-256 of (purpose, organization, user, operation, key).
Digest derive(std::string_view purpose, const Actor& actor, const IdempotentCall& call) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, crypto_generichash_BYTES);
    for (std::string_view field :
         {purpose, std::string_view(actor.org_id), std::string_view(actor.user_id),
          std::string_view(call.operation), std::string_view(call.key)})
        absorb(state, field);
    Digest out{};
    crypto_generichash_final(&state, out.data(), out.size());
    sodium_memzero(&state, sizeof state);
    return out;
}

constexpr char kAnswerKeyContext[crypto_kdf_CONTEXTBYTES + 1] = "idemansw";

}  // namespace

IdempotentRun::IdempotentRun(const Actor& actor, const IdempotentCall& call,
                             std::chrono::sys_seconds now)
    : expires_at_(now + kIdempotencyRetention) {
    ensure_sodium_initialized();
    if (!is_idempotency_key(call.key))
        throw Error(ErrorCode::invalid_argument,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters", "Idempotency-Key");
    scope_ = derive("chatbotmgr idempotency scope v1", actor, call);
    request_ = sha256(call.request);
    // The answer key: crypto_kdf from a master key that only the Idempotency-Key value (and
    // the scope) yields; the stored scope digest is a different hash of the same input.
    Digest master = derive("chatbotmgr idempotency answer v1", actor, call);
    crypto_kdf_derive_from_key(answer_key_.data(), answer_key_.size(), 1, kAnswerKeyContext,
                               master.data());
    sodium_memzero(master.data(), master.size());
}

IdempotentRun::~IdempotentRun() {
    sodium_memzero(answer_key_.data(), answer_key_.size());
}

std::optional<IdempotentAnswer> IdempotentRun::replay(
    const std::optional<IdempotencyRecord>& earlier) const {
    if (!earlier) return std::nullopt;
    if (!digests_equal(earlier->request, request_))
        throw Error(ErrorCode::idempotency_key_reused,
                    "this Idempotency-Key was used with another request");
    const std::string& sealed = earlier->answer;
    if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        throw Error(ErrorCode::internal, "stored idempotent answer is damaged");
    const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
    const auto* box = nonce + crypto_secretbox_NONCEBYTES;
    const std::size_t box_size = sealed.size() - crypto_secretbox_NONCEBYTES;
    IdempotentAnswer answer;
    answer.replayed = true;
    answer.body.resize(box_size - crypto_secretbox_MACBYTES);
    if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(answer.body.data()), box,
                                   box_size, nonce, answer_key_.data()) != 0)
        throw Error(ErrorCode::internal, "stored idempotent answer is damaged");
    return answer;
}

IdempotencyRecord IdempotentRun::record(std::string_view answer) const {
    IdempotencyRecord record;
    record.scope = scope_;
    record.request = request_;
    record.status = 200;
    record.expires_at = expires_at_;
    record.answer.resize(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + answer.size());
    auto* nonce = reinterpret_cast<unsigned char*>(record.answer.data());
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                          reinterpret_cast<const unsigned char*>(answer.data()), answer.size(),
                          nonce, answer_key_.data());
    return record;
}

void throw_in_progress() {
    throw Error(ErrorCode::idempotency_in_progress,
                "a request with this Idempotency-Key is still in progress");
}

InFlightCalls::Ticket::Ticket(InFlightCalls& calls, const Digest& scope)
    : calls_(calls), scope_(scope) {
    std::lock_guard lock(calls_.mutex_);
    if (!calls_.running_.insert(scope_).second) throw_in_progress();
}

InFlightCalls::Ticket::~Ticket() {
    std::lock_guard lock(calls_.mutex_);
    calls_.running_.erase(scope_);
}

bool is_idempotency_conflict(const Error& e) noexcept {
    return e.code() == ErrorCode::conflict && e.field() == "Idempotency-Key";
}

}  // namespace detail
}  // namespace chatbotmgr
