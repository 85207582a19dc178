// The whole storage conformance suite of chatbotmgr::testing, run against TinyStore: all an
// integrator writes to check their own storage adapter. Every case becomes its own test,
// "tiny: <case>".
#include <memory>

#include <chatbotmgr/testing/conformance.hpp>

#include "tiny_store.hpp"

namespace {

struct TinyTarget : chatbotmgr::testing::ConformanceTarget {
    std::shared_ptr<chatbotmgr::ChatbotStore> open() override {
        return std::make_shared<tiny::TinyStore>();
    }
};

CHATBOTMGR_STORAGE_CONFORMANCE("tiny", [] { return std::make_unique<TinyTarget>(); });

}  // namespace
