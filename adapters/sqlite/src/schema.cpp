#include "schema.hpp"

#include <iterator>
#include <string>

namespace chatbotmgr::sqlite::detail {
namespace {

struct Migration {
    int version;
    const char* sql;
};

// Append-only: a released step is never edited; changes come as a new step.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE chatbots (
    id          TEXT    NOT NULL PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    key_prefix  TEXT    NOT NULL,
    key_digest  BLOB    NOT NULL,
    settings    TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX chatbots_key_digest ON chatbots (key_digest);
CREATE INDEX chatbots_org_list ON chatbots (org_id, created_at DESC, id DESC);

CREATE TABLE conversations (
    id                TEXT    NOT NULL PRIMARY KEY,
    chatbot_id        TEXT    NOT NULL REFERENCES chatbots (id) ON DELETE CASCADE,
    external_id       TEXT    NOT NULL,
    external_user_id  TEXT,
    metadata          TEXT    NOT NULL DEFAULT '{}',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (chatbot_id, external_id)
);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content          TEXT    NOT NULL,
    external_id      TEXT,
    sent_at          INTEGER,
    received_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_order ON messages (conversation_id, seq);
CREATE UNIQUE INDEX messages_external_id ON messages (conversation_id, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE analysis_results (
    id               INTEGER PRIMARY KEY,
    conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    chatbot_id       TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    result           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX analysis_results_conversation ON analysis_results (conversation_id);
CREATE INDEX analysis_results_chatbot ON analysis_results (chatbot_id);
)sql"},
    {2, R"sql(
CREATE TABLE organizations (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES organizations (id),
    email          TEXT    NOT NULL,
    email_lower    TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE sessions (
    token_digest  BLOB    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);
)sql"},
    // Teams: a role per user (the users of earlier versions were all-powerful: owners) and
    // invitations. users.created_at exists since version 2 and is kept as it is.
    {3, R"sql(
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'
    CHECK (role IN ('viewer', 'member', 'admin', 'owner'));
DROP INDEX users_org;
CREATE INDEX users_org_members ON users (org_id, created_at, id);

CREATE TABLE invitations (
    id            TEXT    NOT NULL PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES organizations (id),
    email         TEXT    NOT NULL,
    email_lower   TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    token_digest  BLOB    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    accepted_at   INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX invitations_org_pending ON invitations (org_id, created_at, id)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
)sql"},
    // Key lifecycle: when the current key was issued (earlier keys: when their chatbot
    // was created, the best known), expires and was last used; and a previous key in
    // grace, found through its own unique index.
    {4, R"sql(
ALTER TABLE chatbots ADD COLUMN key_issued_at INTEGER NOT NULL DEFAULT 0;
UPDATE chatbots SET key_issued_at = created_at;
ALTER TABLE chatbots ADD COLUMN key_expires_at INTEGER;
ALTER TABLE chatbots ADD COLUMN key_last_used_at INTEGER;
ALTER TABLE chatbots ADD COLUMN prev_key_digest BLOB;
ALTER TABLE chatbots ADD COLUMN prev_key_prefix TEXT;
ALTER TABLE chatbots ADD COLUMN prev_key_issued_at INTEGER;
ALTER TABLE chatbots ADD COLUMN prev_key_expires_at INTEGER;
ALTER TABLE chatbots ADD COLUMN prev_key_last_used_at INTEGER;
CREATE UNIQUE INDEX chatbots_prev_key_digest ON chatbots (prev_key_digest)
    WHERE prev_key_digest IS NOT NULL;
)sql"},
    // The journal (API.md sections 13 and 14): audit events and idempotency records,
    // written in the transaction of the change they record. No foreign keys: events
    // outlive their targets, and a record outlives nothing but its own expiry. Events are
    // clustered by the key of their one list, (org_id, created_at, id): an event costs two
    // b-tree inserts (that key and the pruning index), not four.
    {5, R"sql(
CREATE TABLE audit_events (
    org_id       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    actor_type   TEXT    NOT NULL,
    actor_id     TEXT    NOT NULL,
    actor_email  TEXT    NOT NULL,
    target_type  TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    target_name  TEXT    NOT NULL,
    ip           TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL,
    changes      TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, created_at, id)
) WITHOUT ROWID;
CREATE INDEX audit_events_age ON audit_events (created_at);

CREATE TABLE idempotency_records (
    scope       BLOB    NOT NULL PRIMARY KEY,
    request     BLOB    NOT NULL,
    status      INTEGER NOT NULL,
    answer      BLOB    NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);
)sql"},
    // How many chatbots each organization holds, kept by triggers in the transaction of
    // every insert and delete: the quota check of a create is one key lookup, not a count
    // that grows with the organization.
    {6, R"sql(
CREATE TABLE org_chatbot_counts (
    org_id    TEXT    NOT NULL PRIMARY KEY,
    chatbots  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO org_chatbot_counts (org_id, chatbots)
    SELECT org_id, count(*) FROM chatbots GROUP BY org_id;
CREATE TRIGGER chatbots_counted AFTER INSERT ON chatbots BEGIN
    INSERT INTO org_chatbot_counts (org_id, chatbots) VALUES (NEW.org_id, 1)
        ON CONFLICT (org_id) DO UPDATE SET chatbots = chatbots + 1;
END;
CREATE TRIGGER chatbots_uncounted AFTER DELETE ON chatbots BEGIN
    UPDATE org_chatbot_counts SET chatbots = chatbots - 1 WHERE org_id = OLD.org_id;
END;
)sql"},
};

int user_version(Connection& c) {
    return static_cast<int>(c.query_int("PRAGMA user_version"));
}

Error newer_than_known(const std::string& path, int found) {
    return Error(ErrorCode::unavailable,
                 "SQLite database \"" + path + "\" has schema version " + std::to_string(found) +
                     ", newer than version " + std::to_string(latest_schema_version()) +
                     " known to this build of chatbotmgr; upgrade chatbotmgr to open it");
}

}  // namespace

int latest_schema_version() noexcept {
    return std::prev(std::end(kMigrations))->version;
}

void migrate(Connection& c, const std::string& path) {
    try {
        int found = user_version(c);
        if (found > latest_schema_version()) throw newer_than_known(path, found);
        for (const Migration& step : kMigrations) {
            if (step.version <= found) continue;
            c.exec("BEGIN IMMEDIATE");
            try {
                // Re-read under the write lock: another process may have migrated meanwhile.
                found = user_version(c);
                if (found > latest_schema_version()) throw newer_than_known(path, found);
                if (step.version > found) {
                    c.exec(step.sql);
                    const std::string set_version =
                        "PRAGMA user_version = " + std::to_string(step.version);
                    c.exec(set_version.c_str());
                    found = step.version;
                }
                c.exec("COMMIT");
            } catch (...) {
                if (c.in_transaction()) c.exec("ROLLBACK");
                throw;
            }
        }
    } catch (const SQLite::Exception& e) {
        const Error mapped = to_error(e, "schema migration");
        // A bug in a migration step is still a reason the store cannot open; say which.
        throw Error(ErrorCode::unavailable,
                    "cannot migrate SQLite database \"" + path + "\": " + mapped.what());
    }
}

}  // namespace chatbotmgr::sqlite::detail
