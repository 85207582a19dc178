'use strict';
// node --test test/  (npm test): the merge and the body rules the peer relies on.
const test = require('node:test');
const assert = require('node:assert');
const { mergePatch } = require('../merge');
const v = require('../validate');

test('RFC 7396 example of API.md section 3', () => {
  const stored = { a: { b: 1, c: 2 }, d: [1] };
  assert.deepStrictEqual(mergePatch(stored, { a: { c: null, e: 3 }, d: [2] }),
                         { a: { b: 1, e: 3 }, d: [2] });
  assert.deepStrictEqual(stored, { a: { b: 1, c: 2 }, d: [1] });
});

test('an object replaces a scalar, null removes, an empty patch changes nothing', () => {
  assert.deepStrictEqual(mergePatch({ a: 1 }, { a: { b: null, c: 1 } }), { a: { c: 1 } });
  assert.deepStrictEqual(mergePatch({ a: 1, b: 2 }, { b: null, x: null }), { a: 1 });
  assert.deepStrictEqual(mergePatch({ a: 1 }, {}), { a: 1 });
});

test('create and patch bodies', () => {
  assert.deepStrictEqual(v.createBody({ name: '  Bot  ' }), { name: 'Bot', settings: '{}' });
  assert.throws(() => v.createBody({ name: 'x', nmae: 1 }), /unknown field "nmae"/);
  assert.throws(() => v.createBody({ name: 'x', ob_live_0123: 1 }), (e) => e.message === 'unknown field');
  assert.throws(() => v.createBody({ name: null }), /name must be a string/);
  assert.throws(() => v.createBody({ name: 'a\u0001' }), /control/);
  assert.deepStrictEqual(v.patchBody({}), {});
  assert.throws(() => v.settingsText({ a: 'x'.repeat(65536) }), /too large/);
  v.emptyBody(undefined);
  v.emptyBody({});
});

test('capture: duplicates within a request are stored once, unknown fields warned', () => {
  const c = v.captureBody({
    conversationId: 'c', extra: 1, user: { id: 'u' },
    messages: [{ role: 'user', content: 'a', id: 'm' }, { role: 'user', content: 'b', id: 'm' },
               { role: 'system', content: 'c' }],
  });
  assert.strictEqual(c.messages.length, 2);
  assert.strictEqual(c.userId, 'u');
  assert.deepStrictEqual(c.warnings, ['unknown field ignored: extra']);
  assert.throws(() => v.captureBody({ conversationId: 'c', messages: [] }), /1 to 100/);
  assert.throws(() => v.captureBody({ conversationId: 'c', messages: [{ role: 'bot', content: '' }] }), /role/);
});
