'use strict';
// Storage on SQLite through better-sqlite3: one connection, WAL, synchronous=NORMAL (a
// commit is not flushed to disk before it returns; the WAL is synced at checkpoints).
// better-sqlite3 is synchronous, so every query runs on Node's one JavaScript thread and
// each transaction is atomic by construction. Statements are prepared once.
const Database = require('better-sqlite3');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS organizations (
  id   TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS users (
  id            TEXT NOT NULL PRIMARY KEY,
  org_id        TEXT NOT NULL REFERENCES organizations (id),
  email         TEXT NOT NULL,
  email_lower   TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_digest BLOB    NOT NULL PRIMARY KEY,
  user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  org_id       TEXT    NOT NULL,
  expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chatbots (
  id         TEXT    NOT NULL PRIMARY KEY,
  org_id     TEXT    NOT NULL,
  name       TEXT    NOT NULL,
  key_prefix TEXT    NOT NULL,
  key_digest BLOB    NOT NULL UNIQUE,
  settings   TEXT    NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chatbots_org_list ON chatbots (org_id, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS conversations (
  id               TEXT    NOT NULL PRIMARY KEY,
  chatbot_id       TEXT    NOT NULL REFERENCES chatbots (id) ON DELETE CASCADE,
  external_id      TEXT    NOT NULL,
  external_user_id TEXT,
  metadata         TEXT    NOT NULL DEFAULT '{}',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  UNIQUE (chatbot_id, external_id)
);
CREATE TABLE IF NOT EXISTS messages (
  id              INTEGER PRIMARY KEY,
  conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  external_id     TEXT,
  role            TEXT    NOT NULL,
  content         TEXT    NOT NULL,
  sent_at_ms      INTEGER,
  created_at      INTEGER NOT NULL,
  UNIQUE (conversation_id, external_id)
);
`;

const CHATBOT = 'id, name, key_prefix, settings, created_at';

function open(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);

  const q = {
    orgByName: db.prepare('SELECT id FROM organizations WHERE name = ?'),
    insertOrg: db.prepare('INSERT INTO organizations (id, name) VALUES (?, ?)'),
    insertUser: db.prepare('INSERT INTO users (id, org_id, email, email_lower, password_hash) VALUES (?, ?, ?, ?, ?)'),
    userByEmail: db.prepare(`SELECT u.id, u.email, u.password_hash, u.org_id, o.name AS org_name
                             FROM users u JOIN organizations o ON o.id = u.org_id WHERE u.email_lower = ?`),
    insertSession: db.prepare('INSERT INTO sessions (token_digest, user_id, org_id, expires_at) VALUES (?, ?, ?, ?)'),
    findSession: db.prepare(`SELECT s.user_id, s.org_id, s.expires_at FROM sessions s
                             JOIN users u ON u.id = s.user_id WHERE s.token_digest = ?`),
    list: db.prepare(`SELECT ${CHATBOT} FROM chatbots WHERE org_id = ? ORDER BY created_at DESC, id DESC`),
    get: db.prepare(`SELECT ${CHATBOT} FROM chatbots WHERE org_id = ? AND id = ?`),
    insertChatbot: db.prepare(`INSERT INTO chatbots (id, org_id, name, key_prefix, key_digest, settings, created_at)
                               VALUES (?, ?, ?, ?, ?, ?, ?)`),
    updateChatbot: db.prepare('UPDATE chatbots SET name = ?, settings = ? WHERE id = ?'),
    rotate: db.prepare(`UPDATE chatbots SET key_prefix = ?, key_digest = ? WHERE org_id = ? AND id = ?
                        RETURNING ${CHATBOT}`),
    chatbotByKey: db.prepare('SELECT id FROM chatbots WHERE key_digest = ?'),
    upsertConversation: db.prepare(`INSERT INTO conversations (id, chatbot_id, external_id, external_user_id, metadata, created_at, updated_at)
                                    VALUES (?, ?, ?, ?, ?, ?, ?)
                                    ON CONFLICT (chatbot_id, external_id) DO UPDATE SET updated_at = excluded.updated_at
                                    RETURNING id`),
    insertMessage: db.prepare(`INSERT INTO messages (conversation_id, external_id, role, content, sent_at_ms, created_at)
                               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
  };

  const addUser = db.transaction((ids, email, org, passwordHash) => {
    let orgId = q.orgByName.get(org)?.id;
    if (!orgId) {
      orgId = ids.org;
      q.insertOrg.run(orgId, org);
    }
    q.insertUser.run(ids.user, orgId, email, email.toLowerCase(), passwordHash);
  });

  // Read, merge and write in one transaction: no lost update (and with one connection on
  // one thread, nothing can run in between anyway).
  const patch = db.transaction((orgId, id, change) => {
    const row = q.get.get(orgId, id);
    if (!row) return null;
    row.name = change.name ?? row.name;
    if (change.merge) row.settings = change.merge(row.settings);
    q.updateChatbot.run(row.name, row.settings, id);
    return row;
  });

  const capture = db.transaction((conversationId, chatbotId, c, now) => {
    const conv = q.upsertConversation.get(conversationId, chatbotId, c.conversationId, c.userId,
                                          c.metadata, now, now).id;
    let stored = 0;
    for (const m of c.messages)
      stored += q.insertMessage.run(conv, m.externalId, m.role, m.content, m.sentAt, now).changes;
    return { conversationId: conv, stored };
  });

  return {
    kind: 'sqlite',
    addUser,
    userByEmail: (emailLower) => q.userByEmail.get(emailLower),
    insertSession: (digest, userId, orgId, expiresAt) => { q.insertSession.run(digest, userId, orgId, expiresAt); },
    findSession: (digest) => q.findSession.get(digest),
    list: (orgId) => q.list.all(orgId),
    get: (orgId, id) => q.get.get(orgId, id),
    create: (c) => {
      q.insertChatbot.run(c.id, c.orgId, c.name, c.keyPrefix, c.keyDigest, c.settings, c.createdAt);
      return { id: c.id, name: c.name, key_prefix: c.keyPrefix, settings: c.settings, created_at: c.createdAt };
    },
    patch,
    rotate: (orgId, id, prefix, digest) => q.rotate.get(prefix, digest, orgId, id),
    chatbotByKey: (digest) => q.chatbotByKey.get(digest),
    capture,
    close: async () => db.close(),
  };
}

module.exports = { open };
