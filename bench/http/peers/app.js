'use strict';
// The HTTP routes of API.md that bench/http/*.lua exercise, on Fastify, with the answer
// shapes of chatbotmgr-server. Every session and API-key check reads the database (no
// cache), as chatbotmgr does on PostgreSQL.
const Fastify = require('fastify');
const { mergePatch } = require('./merge');
const v = require('./validate');
const { HttpError } = v;
const creds = require('./credentials');

const SESSION_SECONDS = 12 * 3600;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEADERS = {
  'content-type': 'application/json',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};
const CHATBOT_BODY_LIMIT = 65536;
const CAPTURE_BODY_LIMIT = 1048576;

const unauthorized = () => new HttpError(401, 'unauthorized', 'authentication required');
const notFound = () => new HttpError(404, 'not_found', 'chatbot not found');
const now = () => Math.floor(Date.now() / 1000);
const rfc3339 = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 19) + 'Z';

// A stored row as API.md section 1 shows it (settings is stored as JSON text).
const chatbotJson = (row) => ({
  id: row.id,
  name: row.name,
  api_key_prefix: row.key_prefix + '...',
  settings: JSON.parse(row.settings),
  created_at: rfc3339(row.created_at),
});

function send(reply, body, status = 200) {
  return reply.code(status).headers(HEADERS).send(JSON.stringify(body));
}

// Authorization: Bearer wins over the ob_session cookie; the cookie only counts for
// reads and for writes whose Origin is the server's own (CSRF, API.md section 5).
function credential(request) {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer ([^\s]+)$/.exec(auth);
    return m ? { token: m[1], cookie: false } : null;
  }
  const cookie = /(?:^|;\s*)ob_session=([^;\s]+)/.exec(request.headers.cookie ?? '');
  return cookie ? { token: cookie[1], cookie: true } : null;
}

function buildApp(store, { origin = null } = {}) {
  const app = Fastify({ logger: false, bodyLimit: CAPTURE_BODY_LIMIT, return503OnClosing: true });

  async function session(request) {
    const c = credential(request);
    if (!c || c.token.startsWith('ob_live_')) throw unauthorized();
    const row = await store.findSession(creds.sha256(c.token));
    if (!row || row.expires_at <= now()) throw unauthorized();
    if (c.cookie && request.method !== 'GET' && request.headers.origin !== origin)
      throw new HttpError(403, 'csrf_rejected', 'cross-site request refused');
    return row;
  }

  const chatbotId = (request) => {
    if (!UUID.test(request.params.id)) throw notFound();
    return request.params.id;
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof HttpError) return send(reply, { ok: false, error: { code: error.code, message: error.message } }, error.status);
    const status = error.statusCode ?? 500;
    const code = { 400: 'invalid_request', 413: 'payload_too_large', 415: 'unsupported_media_type' }[status];
    if (code) return send(reply, { ok: false, error: { code, message: status === 400 ? 'invalid JSON body' : code.replaceAll('_', ' ') } }, status);
    console.error(`peer: ${request.method} ${request.url}: ${error.stack ?? error}`);
    const storageDown = /ECONNREFUSED|SQLITE_BUSY|timeout/i.test(String(error.code ?? error.message));
    if (storageDown) return send(reply.header('retry-after', '1'), { ok: false, error: { code: 'unavailable', message: 'storage unavailable' } }, 503);
    return send(reply, { ok: false, error: { code: 'internal', message: 'internal error' } }, 500);
  });
  app.setNotFoundHandler((request, reply) => send(reply, { ok: false, error: { code: 'not_found', message: 'not found' } }, 404));

  app.get('/healthz', async (request, reply) => send(reply, { ok: true }));

  app.post('/api/v1/auth/login', { bodyLimit: CHATBOT_BODY_LIMIT }, async (request, reply) => {
    const { email, password } = v.loginBody(request.body);
    const user = await store.userByEmail(email.toLowerCase());
    if (!(await creds.verifyPassword(password, user?.password_hash))) throw new HttpError(401, 'unauthorized', 'wrong email or password');
    const { token, digest } = creds.newSessionToken();
    await store.insertSession(digest, user.id, user.org_id, now() + SESSION_SECONDS);
    reply.header('set-cookie', `ob_session=${token}; Path=/; HttpOnly; SameSite=Lax`);
    return send(reply, { ok: true, token, user: { id: user.id, email: user.email }, organization: { id: user.org_id, name: user.org_name } });
  });

  app.get('/api/v1/chatbots', async (request, reply) => {
    const s = await session(request);
    return send(reply, (await store.list(s.org_id)).map(chatbotJson));
  });

  app.post('/api/v1/chatbots', { bodyLimit: CHATBOT_BODY_LIMIT }, async (request, reply) => {
    const s = await session(request);
    const body = v.createBody(request.body);
    const key = creds.newApiKey();
    const row = await store.create({ id: creds.newId(), orgId: s.org_id, name: body.name, keyPrefix: key.prefix,
                                     keyDigest: key.digest, settings: body.settings, createdAt: now() });
    return send(reply, { ok: true, chatbot: chatbotJson(row), apiKey: key.key });
  });

  app.get('/api/v1/chatbots/:id', async (request, reply) => {
    const s = await session(request);
    const row = await store.get(s.org_id, chatbotId(request));
    if (!row) throw notFound();
    return send(reply, chatbotJson(row));
  });

  app.patch('/api/v1/chatbots/:id', { bodyLimit: CHATBOT_BODY_LIMIT }, async (request, reply) => {
    const s = await session(request);
    const id = chatbotId(request);
    const body = v.patchBody(request.body);
    const change = { name: body.name };
    if (body.settings) change.merge = (text) => v.settingsText(mergePatch(JSON.parse(text), body.settings));
    const row = await store.patch(s.org_id, id, change);
    if (!row) throw notFound();
    return send(reply, chatbotJson(row));
  });

  app.post('/api/v1/chatbots/:id/rotate-key', { bodyLimit: CHATBOT_BODY_LIMIT }, async (request, reply) => {
    const s = await session(request);
    const id = chatbotId(request);
    v.emptyBody(request.body);
    const key = creds.newApiKey();
    const row = await store.rotate(s.org_id, id, key.prefix, key.digest);
    if (!row) throw notFound();
    return send(reply, { ok: true, chatbot: chatbotJson(row), apiKey: key.key });
  });

  app.post('/api/v1/capture', async (request, reply) => {
    const c = credential(request);
    if (!c || c.cookie || !c.token.startsWith('ob_live_')) throw unauthorized();
    const bot = await store.chatbotByKey(creds.sha256(c.token));
    if (!bot) throw unauthorized();
    const body = v.captureBody(request.body);
    const result = await store.capture(creds.newId(), bot.id, body, now());
    return send(reply, { ok: true, conversationId: result.conversationId, messagesStored: result.stored,
                         analysisQueued: false, warnings: body.warnings });
  });

  return app;
}

module.exports = { buildApp };
