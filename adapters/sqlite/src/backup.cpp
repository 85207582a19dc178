#include "chatbotmgr/sqlite/backup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "chatbotmgr/error.hpp"
#include "chatbotmgr/sqlite/sqlite_store.hpp"
#include "file_hub.hpp"

namespace chatbotmgr::sqlite {

namespace fs = std::filesystem;

namespace {

using RowCounts = std::vector<std::pair<std::string, std::int64_t>>;

constexpr int kBusyTimeoutMs = 10'000;

[[noreturn]] void fail(ErrorCode code, std::string message) {
    throw Error(code, std::move(message));
}

// a + b + ..., without the temporaries of a "literal" + std::string chain.
template <class... Parts>
std::string cat(const Parts&... parts) {
    std::string out;
    (out.append(parts), ...);
    return out;
}

std::string errno_text(const std::string& path) {
    return std::string(path).append(": ").append(std::strerror(errno));
}

// "name" as an SQL identifier.
std::string quoted(const std::string& name) {
    std::string out = "\"";
    for (char c : name) out.append(c == '"' ? "\"\"" : std::string(1, c));
    return out.append("\"");
}

RowCounts row_counts(SQLite::Database& db) {
    std::vector<std::string> tables;
    SQLite::Statement list(db,
                           "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
    while (list.executeStep()) tables.push_back(list.getColumn(0).getString());
    RowCounts out;
    for (const std::string& table : tables) {
        SQLite::Statement count(db, cat("SELECT count(*) FROM ", quoted(table)));
        count.executeStep();
        out.emplace_back(table, count.getColumn(0).getInt64());
    }
    return out;
}

std::string integrity(SQLite::Database& db) {
    SQLite::Statement check(db, "PRAGMA integrity_check");
    std::string out;
    while (check.executeStep()) {
        if (!out.empty()) out += "; ";
        out += check.getColumn(0).getString();
    }
    return out;
}

DatabaseSummary summarize(SQLite::Database& db, const std::string& path) {
    DatabaseSummary s;
    s.path = path;
    s.integrity = integrity(db);
    s.schema_version = db.execAndGet("PRAGMA user_version").getInt();
    s.row_counts = row_counts(db);
    std::error_code ec;
    s.bytes = fs::file_size(path, ec);
    return s;
}

// An empty file only this user may read, for SQLite to fill (it keeps the mode).
void create_private(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail(errno == EEXIST ? ErrorCode::conflict : ErrorCode::unavailable, errno_text(path));
    ::fchmod(fd, 0600);  // whatever the umask
    ::close(fd);
}

void sync_path(const std::string& path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const std::string what = errno_text(path);
        if (fd >= 0) ::close(fd);
        fail(ErrorCode::unavailable, cat("cannot sync ", what));
    }
    ::close(fd);
}

std::string directory_of(const std::string& path) {
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? "." : parent.string();
}

// Removes a file being written and its journal when the work fails.
class Scratch {
  public:
    explicit Scratch(std::string path) : path_(std::move(path)) { create_private(path_); }
    ~Scratch() {
        if (!kept_) {
            std::error_code ec;
            fs::remove(path_, ec);
            fs::remove(path_ + "-journal", ec);
        }
    }
    const std::string& path() const noexcept { return path_; }
    void keep() noexcept { kept_ = true; }

  private:
    std::string path_;
    bool kept_ = false;
};

// Copies every page of src (in its current read transaction, or a new one) into the file
// at to, which becomes a database in rollback-journal mode: one self-contained file.
void copy_pages(SQLite::Database& src, const std::string& to) {
    SQLite::Database dst(to, SQLite::OPEN_READWRITE, kBusyTimeoutMs);
    SQLite::Backup backup(dst, src);
    backup.executeStep(-1);
    if (backup.getRemainingPageCount() != 0)
        fail(ErrorCode::unavailable, cat("the copy ended early: ", to));
    dst.exec("PRAGMA journal_mode = DELETE");
}

// The copy at path must be sound and hold exactly the rows of expected.
DatabaseSummary verify_copy(const std::string& path, const RowCounts& expected) {
    DatabaseSummary copy = inspect_database(path);
    if (copy.integrity != "ok")
        fail(ErrorCode::unavailable, cat("the copy failed its integrity check: ", copy.integrity));
    if (copy.row_counts != expected)
        fail(ErrorCode::unavailable, "the copy's row counts differ from the source's snapshot");
    return copy;
}

template <class F>
auto sqlite_errors(const std::string& what, F&& body) {
    try {
        return body();
    } catch (const SQLite::Exception& e) {
        fail(ErrorCode::unavailable, std::string(what).append(": ").append(e.what()));
    }
}

}  // namespace

DatabaseSummary inspect_database(const std::string& path) {
    if (!fs::is_regular_file(path))
        fail(ErrorCode::unavailable, cat("there is no database ", path));
    return sqlite_errors(cat("cannot read ", path), [&] {
        SQLite::Database db(path, SQLite::OPEN_READONLY, kBusyTimeoutMs);
        return summarize(db, path);
    });
}

DatabaseSummary backup_database(const std::string& db, const std::string& to) {
    if (!fs::is_regular_file(db)) fail(ErrorCode::unavailable, cat("there is no database ", db));
    std::error_code ec;
    if (fs::exists(to, ec)) fail(ErrorCode::conflict, cat(to, " exists already"));
    Scratch scratch(cat(to, ".partial"));
    const RowCounts snapshot = sqlite_errors(cat("backup of ", db), [&] {
        // Not read-only: a WAL database needs its -shm, which a server may not have made
        // readable to others. Nothing is written to it.
        SQLite::Database src(db, SQLite::OPEN_READWRITE, kBusyTimeoutMs);
        // One read transaction: the counts and the pages copied are the same snapshot
        // (the backup step runs inside the transaction it finds open).
        src.exec("BEGIN");
        RowCounts counts = row_counts(src);
        copy_pages(src, scratch.path());
        src.exec("COMMIT");
        return counts;
    });
    verify_copy(scratch.path(), snapshot);
    sync_path(scratch.path(), false);
    // link() never replaces a file that appeared at to meanwhile (rename would).
    if (::link(scratch.path().c_str(), to.c_str()) != 0)
        fail(errno == EEXIST ? ErrorCode::conflict : ErrorCode::unavailable, errno_text(to));
    sync_path(directory_of(to), true);
    return inspect_database(to);
}

DatabaseSummary restore_database(const std::string& from, const std::string& db, bool overwrite) {
    const DatabaseSummary source = inspect_database(from);
    if (source.integrity != "ok")
        fail(ErrorCode::unavailable, cat(from, " failed its integrity check: ", source.integrity));
    if (source.schema_version < 1 || source.schema_version > SqliteStore::schema_version())
        fail(ErrorCode::unavailable,
             cat(from, " has schema version ", std::to_string(source.schema_version),
                 "; this build opens 1 to ", std::to_string(SqliteStore::schema_version())));
    std::error_code ec;
    const bool existed = fs::exists(db, ec) && fs::file_size(db, ec) > 0;
    if (existed && !overwrite)
        fail(ErrorCode::conflict, cat(db, " exists; restoring over it needs the overwrite flag"));
    // The lock a SqliteStore holds for its process: refused while a server has db open,
    // and held until the new file is in place, so that none starts meanwhile.
    const auto held = detail::FileHub::open(db);
    Scratch scratch(cat(db, ".restoring"));
    sqlite_errors(cat("restore from ", from), [&] {
        SQLite::Database src(from, SQLite::OPEN_READONLY, kBusyTimeoutMs);
        copy_pages(src, scratch.path());
        return 0;
    });
    verify_copy(scratch.path(), source.row_counts);
    sync_path(scratch.path(), false);
    // The old database's WAL would be replayed onto the new file: it goes first.
    for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(db + suffix, ec);
    if (::rename(scratch.path().c_str(), db.c_str()) != 0)
        fail(ErrorCode::unavailable, errno_text(db));
    scratch.keep();
    sync_path(directory_of(db), true);
    return inspect_database(db);
}

}  // namespace chatbotmgr::sqlite
