#include "file_hub.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "chatbotmgr/error.hpp"

namespace chatbotmgr::sqlite::detail {
namespace {

bool is_in_memory(const std::string& path) {
    return path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw Error(ErrorCode::unavailable, "unable to open database " + path + ": " + what);
}

// An exclusive flock on "<path>-lock", held for the hub's lifetime; -1 when there can be
// none because the lock file cannot be created (a read-only folder: then this process can
// only read, and a reader cannot serve a revocation the cache would not know about).
int lock_for_this_process(const std::string& path) {
    const std::string lock_path = path + "-lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EACCES || errno == EROFS))
        fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);  // flock works read-only too
    if (fd < 0) {
        if (errno == EACCES || errno == EROFS || errno == ENOENT) return -1;
        fail(path, lock_path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        ::close(fd);
        if (error == EWOULDBLOCK)
            fail(path,
                 "another process has it open (one process per SQLite file; stop the other "
                 "process, or use PostgreSQL to share the data between processes)");
        fail(path, lock_path + ": " + std::strerror(error));
    }
    return fd;
}

}  // namespace

std::shared_ptr<FileHub> FileHub::open(const std::string& path) {
    if (is_in_memory(path)) return std::shared_ptr<FileHub>(new FileHub());

    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<FileHub>> hubs;
    std::error_code ec;
    const std::string key = std::filesystem::weakly_canonical(path, ec).string();
    std::lock_guard lock(mutex);
    std::erase_if(hubs, [](const auto& entry) { return entry.second.expired(); });
    if (auto hub = hubs[ec ? path : key].lock()) return hub;

    // A new database is created here, not by SQLite, so that the file (and its -wal and
    // -shm, which SQLite creates with the database's mode) is readable by this user only.
    const int db_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (db_fd >= 0) {
        ::close(db_fd);  // no SQLite connection is open on it yet: closing drops no lock
    } else if (errno != EEXIST) {
        fail(path, std::strerror(errno));
    }

    std::shared_ptr<FileHub> hub(new FileHub());
    hub->lock_fd_ = lock_for_this_process(path);
    hubs[ec ? path : key] = hub;
    return hub;
}

FileHub::~FileHub() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace chatbotmgr::sqlite::detail
