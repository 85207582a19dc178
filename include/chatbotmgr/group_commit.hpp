// Group commit for whole calls: an optional capability of a store whose writes commit in
// groups (SqliteStore). A server hands it a complete operation -- the registry's checks,
// the store writes they make, the answer -- and hears back once the group holding those
// writes has committed. No thread waits for the commit: the store's writer runs the calls
// of a group one after another inside one transaction, commits once, then completes each.
//
// Use it where a synchronous call would park a thread on every commit (the Beast adapter's
// ApiOptions::group_commit). A library user calling ChatbotRegistry directly needs none of
// this: every store method is synchronous and durable on return.
#pragma once

#include <exception>
#include <memory>

namespace chatbotmgr {

// One operation to run inside a group. Owned by the store from submit() until committed()
// has returned.
class GroupCommitCall {
  public:
    virtual ~GroupCommitCall() = default;

    // Runs on the store's writer thread, inside the group's transaction. Write methods of
    // the store called from here return before the group commits: the write is durable
    // only once committed() says so, and a group that fails takes it back. Reads see what
    // is committed, never the open group's writes. Keep it short and never block on
    // anything but this store: every call of the group and the commit itself wait for it.
    virtual void run() = 0;

    // Called once the group has ended, on the writer thread, before the next group starts.
    // error is null when every write run() made is committed (or it made none); otherwise
    // what run() threw, or why the group did not commit (then run()'s writes are gone and
    // whatever run() computed from them must not be reported as done).
    virtual void committed(std::exception_ptr error) noexcept = 0;
};

class GroupCommit {
  public:
    virtual ~GroupCommit() = default;
    // Queues the call for the next group. Never blocks on a commit and never throws;
    // thread-safe. Calls queued before the store is destroyed are still run and completed;
    // one submitted while it is being destroyed is completed at once with
    // Error(unavailable), without running. Do not destroy the store from inside a call.
    virtual void submit(std::unique_ptr<GroupCommitCall> call) = 0;
};

}  // namespace chatbotmgr
