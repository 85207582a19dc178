// Concurrency storms whose outcome the race tests assert on (on the main thread).
#pragma once

#include "chatbotmgr/registry.hpp"

namespace chatbotmgr::reliability {

// What the readers of a rotation storm saw.
struct RotationStorm {
    long stale_tries = 0, stale_accepted = 0, current_rejected = 0, wrong_bot = 0, other_errors = 0,
         rotate_errors = 0, alive_after = 0;
};

// One chatbot, `rotations` rotations on the calling thread while `readers` threads
// authenticate with keys whose rotation has returned (must fail) and with the newest key
// (must work unless a rotation began meanwhile). The chatbot is removed at the end.
RotationStorm rotation_storm(ChatbotRegistry& registry, int rotations, int readers);

struct MergeStorm {
    long errors = 0, missing = 0, unexpected = 0, members = 0, expected_members = 0;
};

// `threads` threads each merge-patch `patches` members of their own (nested and flat),
// rename the chatbot now and then, and finally remove their first flat member; then the
// stored settings are checked for lost members. The chatbot is removed at the end.
MergeStorm merge_storm(ChatbotRegistry& registry, int threads, int patches);

}  // namespace chatbotmgr::reliability
