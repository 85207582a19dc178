'use strict';
// Request body rules of API.md sections 1, 3, 4 and 5 for the routes the peer serves.
// Each check throws an HttpError; a valid body comes back in the shape the store takes.
const { isObject } = require('./merge');

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const invalid = (message) => new HttpError(400, 'invalid_request', message);
const MAX_SETTINGS_BYTES = 65536;
const MAX_DEPTH = 32;
const CONTROL = /[\u0000-\u001f\u007f]/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function objectBody(body) {
  if (body === undefined || body === null || body === '') return {};
  if (!isObject(body)) throw invalid('the body must be a JSON object');
  return body;
}

function onlyFields(body, allowed) {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      // A credential-looking name is not echoed back (API.md section 8).
      const shown = /^ob_live_|^[0-9a-f]{64}$/.test(key) ? '' : ` "${key}"`;
      throw invalid(`unknown field${shown}`);
    }
  }
}

function depth(value) {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  for (const v of Object.values(value)) deepest = Math.max(deepest, depth(v));
  return deepest + 1;
}

function name(value) {
  if (typeof value !== 'string') throw invalid('name must be a string');
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < 1 || length > 100) throw invalid('name must be 1 to 100 characters');
  if (CONTROL.test(trimmed)) throw invalid('name must not contain control characters');
  return trimmed;
}

// Checked on the stored value (after a merge); returns its compact JSON text.
function settingsText(value) {
  if (!isObject(value)) throw invalid('settings must be an object');
  if (depth(value) > MAX_DEPTH) throw invalid('settings nest too deep');
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > MAX_SETTINGS_BYTES) throw invalid('settings too large');
  return text;
}

function createBody(raw) {
  const body = objectBody(raw);
  onlyFields(body, ['name', 'settings']);
  const out = { name: name(body.name) };
  out.settings = 'settings' in body ? settingsText(body.settings) : '{}';
  return out;
}

function patchBody(raw) {
  const body = objectBody(raw);
  onlyFields(body, ['name', 'settings']);
  const out = {};
  if ('name' in body) out.name = name(body.name);
  if ('settings' in body) {
    if (!isObject(body.settings)) throw invalid('settings must be an object');
    out.settings = body.settings;
  }
  return out;
}

function emptyBody(raw) {
  onlyFields(objectBody(raw), []);
}

function loginBody(raw) {
  const body = objectBody(raw);
  onlyFields(body, ['email', 'password']);
  if (typeof body.email !== 'string' || typeof body.password !== 'string')
    throw invalid('email and password must be strings');
  return body;
}

function optionalObject(body, key) {
  if (!(key in body)) return undefined;
  if (!isObject(body[key])) throw invalid(`${key} must be an object`);
  if (depth(body[key]) > MAX_DEPTH) throw invalid(`${key} nests too deep`);
  return body[key];
}

function captureBody(raw) {
  const body = objectBody(raw);
  const known = ['conversationId', 'messages', 'user', 'organization', 'session', 'custom'];
  const warnings = Object.keys(body).filter((k) => !known.includes(k))
    .map((k) => `unknown field ignored: ${k}`);
  const id = body.conversationId;
  if (typeof id !== 'string' || id.length < 1 || id.length > 200)
    throw invalid('conversationId must be a string of 1 to 200 characters');
  const list = body.messages;
  if (!Array.isArray(list) || list.length < 1 || list.length > 100)
    throw invalid('messages must be an array of 1 to 100 messages');
  const seen = new Set();
  const messages = [];
  for (const m of list) {
    if (!isObject(m)) throw invalid('a message must be an object');
    if (!['user', 'assistant', 'system'].includes(m.role)) throw invalid('role must be user, assistant or system');
    if (typeof m.content !== 'string' || Buffer.byteLength(m.content) > 32768)
      throw invalid('content must be a string of at most 32 KiB');
    let externalId = null;
    if ('id' in m) {
      if (typeof m.id !== 'string' || m.id.length < 1 || m.id.length > 200)
        throw invalid('message id must be a string of 1 to 200 characters');
      externalId = m.id;
    }
    let sentAt = null;
    if ('sentAt' in m) {
      if (typeof m.sentAt !== 'string' || !RFC3339.test(m.sentAt) || Number.isNaN(Date.parse(m.sentAt)))
        throw invalid('sentAt must be an RFC 3339 time');
      sentAt = Date.parse(m.sentAt);
    }
    // Two messages with the same id in one request are stored once.
    if (externalId !== null) {
      if (seen.has(externalId)) continue;
      seen.add(externalId);
    }
    messages.push({ externalId, role: m.role, content: m.content, sentAt });
  }
  const metadata = {};
  for (const key of ['user', 'organization', 'session']) {
    const v = optionalObject(body, key);
    if (v !== undefined) metadata[key] = v;
  }
  if ('custom' in body) {
    const custom = optionalObject(body, 'custom');
    for (const v of Object.values(custom))
      if (!['string', 'number', 'boolean'].includes(typeof v))
        throw invalid('custom values must be strings, numbers or booleans');
    metadata.custom = custom;
  }
  const userId = metadata.user && typeof metadata.user.id === 'string' ? metadata.user.id : null;
  return { conversationId: id, messages, userId, metadata: JSON.stringify(metadata), warnings };
}

module.exports = { HttpError, createBody, patchBody, emptyBody, loginBody, captureBody, settingsText };
