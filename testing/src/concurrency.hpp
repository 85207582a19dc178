// Threads for the concurrent cases. Catch2's assertion macros are not thread-safe, so
// workers never assert: they report what went wrong, and the test's own thread asserts
// afterwards (require_no_problems).
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace chatbotmgr::testing::detail {

// Runs body(i) for i in [0, n) on n threads that start together (so the calls really
// overlap) and returns, per thread, what went wrong: "" when nothing did, else the
// exception that escaped body. Exceptions never escape a worker.
template <class F>
std::vector<std::string> run_threads(std::size_t n, F body) {
    std::vector<std::string> problems(n);
    std::atomic<std::size_t> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            // The barrier: spin until every thread is up.
            ready.fetch_add(1);
            while (ready.load() < n) std::this_thread::yield();
            try {
                body(i);
            } catch (const std::exception& e) {
                problems[i] = "exception: ";
                problems[i] += e.what();
            } catch (...) {
                problems[i] = "unknown exception";
            }
        });
    }
    for (auto& t : threads) t.join();
    return problems;
}

// One Catch2 check per thread that its problem is "". Call on the test's own thread.
void require_no_problems(const std::vector<std::string>& problems);

}  // namespace chatbotmgr::testing::detail
