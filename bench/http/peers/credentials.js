'use strict';
// Secrets: API keys (ob_live_ + 32 hex digits), session tokens, their SHA-256 digests
// (the only form ever stored), ids, and password hashes (scrypt from node:crypto).
const crypto = require('node:crypto');
const { promisify } = require('node:util');

const scrypt = promisify(crypto.scrypt);
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

const sha256 = (text) => crypto.createHash('sha256').update(text).digest();

function newApiKey() {
  const key = 'ob_live_' + crypto.randomBytes(16).toString('hex');
  return { key, prefix: key.slice(0, 14), digest: sha256(key) };
}

// 64 hex digits: never starts with ob_live_, and safe to print for the shell (setup.py).
function newSessionToken() {
  const token = crypto.randomBytes(32).toString('hex');
  return { token, digest: sha256(token) };
}

const newId = () => crypto.randomUUID();

async function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const { N, r, p, keylen } = SCRYPT;
  const hash = await scrypt(password, salt, keylen, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString('hex')}$${hash.toString('hex')}`;
}

// A fixed hash to verify against when the email is unknown, so that a wrong email and a
// wrong password take about the same time.
let dummyHash;

async function verifyPassword(password, stored) {
  if (!stored) {
    dummyHash ??= await hashPassword('unused');
    stored = dummyHash;
  }
  const [scheme, N, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt') return false;
  const expected = Buffer.from(hash, 'hex');
  const actual = await scrypt(password, Buffer.from(salt, 'hex'), expected.length,
                              { N: Number(N), r: Number(r), p: Number(p) });
  return crypto.timingSafeEqual(actual, expected) && stored !== dummyHash;
}

module.exports = { sha256, newApiKey, newSessionToken, newId, hashPassword, verifyPassword };
