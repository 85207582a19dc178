// Chatbots: the list (with each key's last use and expiry), create with the one-time key
// reveal, rotate with a grace period, end grace, delete, and the settings editor.
import { api, get, ApiError } from './api.js';
import { el, time, announce, attempt, rerender, reveal, confirmAction, chooseRotation, limitExpiry, expiryOf } from './ui.js';
import { can } from './app.js';
import { mergePatch } from './merge.js';

const BASE = '/api/v1/chatbots';

// GET …/key (API.md section 12) is read lazily, for the rows that come into view, a few at
// a time. A server without that route (404 "no such route") shows "—" everywhere.
const keyInfo = {
  supported: true,
  queue: [],
  running: 0,
  observer: null,
};
const KEY_FETCHES_AT_ONCE = 4;

function pumpKeyInfo() {
  while (keyInfo.running < KEY_FETCHES_AT_ONCE && keyInfo.queue.length) {
    const row = keyInfo.queue.shift();
    if (!row.isConnected || !keyInfo.supported) continue;
    keyInfo.running++;
    get(BASE + '/' + row.dataset.id + '/key')
      .then((info) => fillKeyCells(row, info))
      .catch((e) => {
        if (e instanceof ApiError && e.noRoute) keyInfo.supported = false;
      })
      .finally(() => {
        keyInfo.running--;
        pumpKeyInfo();
      });
  }
}

function watchKeyInfo(rows) {
  keyInfo.observer?.disconnect();
  keyInfo.queue = [];
  if (!keyInfo.supported) return;
  keyInfo.observer = new IntersectionObserver((entries, obs) => {
    for (const entry of entries)
      if (entry.isIntersecting) {
        obs.unobserve(entry.target);
        keyInfo.queue.push(entry.target);
      }
    pumpKeyInfo();
  });
  for (const row of rows) keyInfo.observer.observe(row);
}

function fillKeyCells(row, info) {
  row.querySelector('.last-used').replaceChildren(time(info.last_used_at, 'never'));
  row.querySelector('.expires').replaceChildren(time(info.expires_at, 'never'));
  if (info.previous) {
    const cell = row.querySelector('.last-used');
    cell.append(el('br'), el('span', { class: 'muted' }, 'previous key until ', time(info.previous.expires_at)));
    if (can('endGrace') && !row.querySelector('.end-grace'))
      row.querySelector('.actions').append(actionButton('End grace', 'end-grace', row.dataset.name));
  }
}

function actionButton(label, kind, name) {
  return el('button', { type: 'button', class: kind, 'data-action': kind, 'aria-label': label + ' for ' + name, text: label });
}

function chatbotRow(bot) {
  const actions = el('td', { class: 'actions' });
  if (can('rotate')) actions.append(actionButton('Rotate key', 'rotate', bot.name));
  if (can('delete')) actions.append(actionButton('Delete', 'delete', bot.name));
  return el(
    'tr',
    { 'data-id': bot.id, 'data-name': bot.name },
    el('th', { scope: 'row' }, el('a', { href: '#/chatbots/' + bot.id, text: bot.name })),
    el('td', {}, el('code', { text: bot.api_key_prefix })),
    el('td', {}, time(bot.created_at)),
    el('td', { class: 'last-used' }, '—'),
    el('td', { class: 'expires' }, '—'),
    actions,
  );
}

// ---- Actions, shared by the list and the chatbot page. Each resolves true when done.

async function rotate(id, name) {
  const body = await chooseRotation(name);
  if (body === null) return false;
  // No body is v1: the old key dies at once.
  const { data } = await api('POST', BASE + '/' + id + '/rotate-key', Object.keys(body).length ? body : undefined);
  await reveal({
    title: 'New API key for ' + name,
    text: data.previousKeyExpiresAt
      ? 'Copy the new key now: it cannot be shown again. The old key keeps working until ' + data.previousKeyExpiresAt + '.'
      : 'Copy the new key now: it cannot be shown again. The old key no longer works.',
    label: 'API key',
    secret: data.apiKey,
  });
  return true;
}

async function endGrace(id, name) {
  const ok = await confirmAction({
    title: 'End the grace period of ' + name,
    text: 'The previous key stops working now. Clients still using it get 401.',
    action: 'End grace',
  });
  if (!ok) return false;
  const { data } = await api('DELETE', BASE + '/' + id + '/previous-key');
  announce(data.revoked ? 'The previous key of ' + name + ' no longer works.' : 'There was no previous key in grace.');
  return true;
}

async function remove(id, name) {
  const ok = await confirmAction({
    title: 'Delete ' + name,
    text: 'This deletes the chatbot, its key and every conversation captured with it. It cannot be undone.',
    action: 'Delete chatbot',
    typed: name,
  });
  if (!ok) return false;
  await api('DELETE', BASE + '/' + id);
  announce(name + ' was deleted.');
  return true;
}

const ACTIONS = { rotate, 'end-grace': endGrace, delete: remove };

// ---- The list page

export async function renderChatbots() {
  const bots = await get(BASE);
  const tbody = el('tbody');
  const rows = bots.map(chatbotRow);
  tbody.append(...rows);
  tbody.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr');
    if (await attempt(() => ACTIONS[button.dataset.action](row.dataset.id, row.dataset.name))) rerender();
  });
  const table = el(
    'table',
    {},
    el('caption', { text: bots.length === 1 ? '1 chatbot' : bots.length + ' chatbots' }),
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['Name', 'Key', 'Created', 'Last used', 'Key expires', 'Actions'].map((h) => el('th', { scope: 'col', text: h })),
      ),
    ),
    tbody,
  );
  const page = el(
    'section',
    { 'aria-labelledby': 'chatbots-title' },
    el('h1', { id: 'chatbots-title', text: 'Chatbots' }),
    can('create') ? createForm() : null,
    bots.length ? table : el('p', { text: 'No chatbots yet.' }),
  );
  // Once in the document (app.js sends "attached"): the rows' key info, and the marks the
  // browser test reads (time to the list in the DOM, then to its first paint).
  page.addEventListener('attached', () => {
    performance.mark('chatbots-rendered');
    requestAnimationFrame(() => setTimeout(() => performance.mark('chatbots-painted')));
    watchKeyInfo(rows);
  });
  return page;
}

function createForm() {
  const form = el(
    'form',
    { class: 'inline', 'aria-labelledby': 'create-title' },
    el('h2', { id: 'create-title', class: 'visually-hidden', text: 'Create a chatbot' }),
    el('div', {}, el('label', { for: 'new-name', text: 'New chatbot name' }), el('input', { id: 'new-name', required: true, maxlength: '100' })),
    el('div', {}, el('label', { for: 'new-expires', text: 'Key expires on (optional, UTC)' }), limitExpiry(el('input', { id: 'new-expires', type: 'date' }))),
    el('button', { type: 'submit', class: 'primary', text: 'Create chatbot' }),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = form.querySelector('#new-name');
    const expires = form.querySelector('#new-expires');
    const created = await attempt(async () => {
      const { data } = await api('POST', BASE, { name: input.value, key_expires_at: expiryOf(expires) });
      input.value = expires.value = '';
      await reveal({
        title: 'API key for ' + data.chatbot.name,
        text: 'Copy this key now. It cannot be shown again once you close this dialog; you could only rotate it.',
        label: 'API key',
        secret: data.apiKey,
      });
      return true;
    });
    if (created) rerender();
  });
  return form;
}

// ---- One chatbot: details, key, actions, settings editor

export async function renderChatbot(id) {
  const bot = await get(BASE + '/' + id);
  let info = null;
  try {
    info = await get(BASE + '/' + id + '/key');
  } catch (e) {
    if (!(e instanceof ApiError && e.noRoute)) throw e;
  }
  const after = (ok) => {
    if (ok) rerender();
  };
  const actions = el('p', {});
  if (can('rotate')) actions.append(el('button', { type: 'button', text: 'Rotate key', onclick: async () => after(await attempt(() => rotate(id, bot.name))) }));
  if (can('endGrace') && info && info.previous)
    actions.append(el('button', { type: 'button', text: 'End grace', onclick: async () => after(await attempt(() => endGrace(id, bot.name))) }));
  if (can('delete'))
    actions.append(
      el('button', {
        type: 'button',
        class: 'danger',
        text: 'Delete',
        onclick: async () => {
          if (await attempt(() => remove(id, bot.name))) location.hash = '#/chatbots';
        },
      }),
    );
  const facts = el(
    'dl',
    {},
    el('dt', { text: 'Key' }),
    el('dd', {}, el('code', { text: bot.api_key_prefix })),
    el('dt', { text: 'Created' }),
    el('dd', {}, time(bot.created_at)),
  );
  if (info) {
    facts.append(
      el('dt', { text: 'Key issued' }), el('dd', {}, time(info.created_at)),
      el('dt', { text: 'Last used' }), el('dd', {}, time(info.last_used_at, 'never')),
      el('dt', { text: 'Key expires' }), el('dd', {}, time(info.expires_at, 'never')),
    );
    if (info.previous)
      facts.append(el('dt', { text: 'Previous key' }), el('dd', {}, el('code', { text: info.previous.api_key_prefix }), ' works until ', time(info.previous.expires_at)));
  }
  return el(
    'section',
    { 'aria-labelledby': 'bot-title' },
    el('p', {}, el('a', { href: '#/chatbots', text: '← All chatbots' })),
    el('h1', { id: 'bot-title', text: bot.name }),
    facts,
    actions,
    settingsEditor(bot),
  );
}

// The settings editor: the user writes a merge patch; the merged result is shown before
// anything is sent, and PATCH sends the patch (the server merges atomically).
function settingsEditor(bot) {
  const current = el('pre', { id: 'settings-current', tabindex: '0', 'aria-label': 'Current settings', text: JSON.stringify(bot.settings, null, 2) });
  const merged = el('pre', { id: 'settings-merged', tabindex: '0', 'aria-label': 'Settings after the patch' });
  const problem = el('p', { id: 'patch-problem', class: 'muted', 'aria-live': 'polite' });
  const patchBox = el('textarea', { id: 'settings-patch', 'aria-describedby': 'patch-help patch-problem', spellcheck: 'false' });
  patchBox.value = '{\n  \n}';
  const name = el('input', { id: 'bot-name', value: bot.name, maxlength: '100', required: true });
  const save = el('button', { type: 'submit', class: 'primary', text: 'Save' });
  let base = bot.settings;
  const preview = () => {
    let patch;
    try {
      patch = JSON.parse(patchBox.value);
    } catch (e) {
      problem.textContent = 'Not valid JSON yet: ' + e.message;
      merged.textContent = '';
      save.disabled = true;
      return null;
    }
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      problem.textContent = 'The patch must be a JSON object.';
      save.disabled = true;
      return null;
    }
    problem.textContent = '';
    merged.textContent = JSON.stringify(mergePatch(base, patch), null, 2);
    save.disabled = false;
    return patch;
  };
  patchBox.addEventListener('input', preview);
  const form = el(
    'form',
    { 'aria-labelledby': 'settings-title' },
    el('h2', { id: 'settings-title', text: 'Name and settings' }),
    el('div', { class: 'field' }, el('label', { for: 'bot-name', text: 'Name' }), name),
    el('h3', { text: 'Current settings' }),
    current,
    el('div', { class: 'field' }, el('label', { for: 'settings-patch', text: 'Settings merge patch (JSON)' }), patchBox),
    el('p', { id: 'patch-help', class: 'muted', text: 'RFC 7396: objects merge, null removes a member, anything else replaces it.' }),
    problem,
    el('h3', { text: 'Result before saving' }),
    merged,
    can('edit') ? save : el('p', { class: 'muted', text: 'Your role can read these settings but not change them.' }),
  );
  if (!can('edit')) {
    name.readOnly = true;
    patchBox.readOnly = true;
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const patch = preview();
    if (!patch) return;
    const body = { settings: patch };
    if (name.value.trim() !== bot.name) body.name = name.value;
    const ok = await attempt(async () => {
      const { data } = await api('PATCH', BASE + '/' + bot.id, body);
      bot = data;
      base = data.settings;
      current.textContent = JSON.stringify(data.settings, null, 2);
      document.getElementById('bot-title').textContent = data.name;
      patchBox.value = '{\n  \n}';
      preview();
      announce('Saved.');
      return true;
    });
    if (!ok) patchBox.focus();
  });
  preview();
  return form;
}
