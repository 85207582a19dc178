// The storage conformance suite, for every ChatbotStore implementation -- ours and yours.
//
// Usage, in a Catch2 (v2.13) test program of your own:
//
//   struct MyTarget : chatbotmgr::testing::ConformanceTarget {
//       std::shared_ptr<chatbotmgr::ChatbotStore> open() override { ... }
//   };
//   static const bool registered = chatbotmgr::testing::register_storage_conformance(
//       "mystore", [] { return std::make_unique<MyTarget>(); });
//
// Each case of the suite is registered as its own Catch2 test case named
// "<store name>: <case>" and tagged [conformance][<store name>], so catch_discover_tests
// shows one ctest test per case and store.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "chatbotmgr/accounts.hpp"
#include "chatbotmgr/storage.hpp"

namespace chatbotmgr::testing {

// One instance is made per test case, so every case starts from an empty store. Cases call
// open() from the test's main thread; the store it returns is then used from many threads
// at once, as ChatbotStore requires.
class ConformanceTarget {
  public:
    virtual ~ConformanceTarget() = default;
    // The store under test. The first call makes an empty store; a later call, after
    // the previous store object was destroyed, reopens the same data when persistent().
    virtual std::shared_ptr<ChatbotStore> open() = 0;
    // True when data survives destroying the store and calling open() again (files,
    // database servers); enables the reopen/durability cases.
    virtual bool persistent() const { return false; }
};

using ConformanceTargetFactory = std::function<std::unique_ptr<ConformanceTarget>()>;

// Registers the whole suite for one store. Call before Catch2's session runs (a static
// initializer, as above, or from your own main). Returns true so it can initialize a
// static. The factory is called once here, to ask persistent(): the reopen cases are
// registered only for persistent targets.
bool register_storage_conformance(const std::string& store_name, ConformanceTargetFactory factory);

// The same for the accounts port (accounts.hpp), for stores that implement it. Cases are
// named "<store name>: accounts: <case>" and tagged [conformance][<store name>][accounts].
class AccountConformanceTarget {
  public:
    virtual ~AccountConformanceTarget() = default;
    // As ConformanceTarget::open, for the accounts port.
    virtual std::shared_ptr<AccountStore> open() = 0;
    virtual bool persistent() const { return false; }
};

using AccountConformanceTargetFactory = std::function<std::unique_ptr<AccountConformanceTarget>()>;

bool register_account_store_conformance(const std::string& store_name,
                                        AccountConformanceTargetFactory factory);

}  // namespace chatbotmgr::testing
