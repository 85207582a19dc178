// Internal: libsodium must be initialized once before its CSPRNG is used.
#pragma once

namespace chatbotmgr {
void ensure_sodium_initialized();
}
