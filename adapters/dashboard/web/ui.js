// DOM helpers, the live regions, and the dialogs (native <dialog>, see index.html).
// Text always goes in through textContent: nothing from the API is ever parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export const $ = (id) => document.getElementById(id);

// "2024-01-15T10:00:00Z" -> a <time> reading "2024-01-15 10:00 UTC"; "—" for null.
export function time(iso, none = '—') {
  if (!iso) return document.createTextNode(none);
  const shown = iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
  return el('time', { datetime: iso, text: shown });
}

let statusTimer = 0;
// Polite announcements ("Copied", "Saved"), for screen readers.
export function announce(text) {
  const s = $('status');
  s.textContent = '';
  clearTimeout(statusTimer);
  // A fresh text node after a tick, so that the same message twice is announced twice.
  statusTimer = setTimeout(() => {
    s.textContent = text;
  }, 50);
}

// Errors: shown and announced (role="alert"); cleared on the next page.
export function showError(err) {
  const box = $('error');
  box.textContent = err && err.message ? err.message : String(err);
  box.hidden = false;
}
export function clearError() {
  const box = $('error');
  box.hidden = true;
  box.textContent = '';
}

// Runs an action of a page: errors go to the alert region. Resolves with what fn resolves
// with (true for nothing), or false when it failed.
export async function attempt(fn) {
  clearError();
  try {
    return (await fn()) ?? true;
  } catch (e) {
    showError(e);
    return false;
  }
}

// Renders the current page again (after a change).
export function rerender() {
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

// Enter never confirms a destructive action: the dialogs have no <form> (so no implicit
// submission), and Enter on their confirm button is swallowed (Space or a click only).
function guardEnter(dialog) {
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.closest('.danger, [data-close="confirm"]')) e.preventDefault();
  });
}

// Opens dialog modally; resolves with its return value ('confirm' or '') once closed.
// Focus goes to its autofocus control and back to where it was on close.
export function openDialog(dialog) {
  const opener = document.activeElement;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        if (opener && opener.isConnected) opener.focus();
        else $('main').focus();
        resolve(dialog.returnValue);
      },
      { once: true },
    );
    dialog.showModal();
  });
}

export function initDialogs() {
  for (const d of document.querySelectorAll('dialog')) {
    guardEnter(d);
    for (const b of d.querySelectorAll('[data-close]')) b.addEventListener('click', () => d.close(b.dataset.close));
  }
  initReveal();
  initConfirm();
}

// ---- The one-time reveal of a key or an invitation token.
//
// The secret lives only in the dialog's input while it is open: it is cleared on close,
// never put in a URL, in storage or in a variable that outlives the dialog. It cannot be
// dismissed (Escape included) before "I have copied it" is ticked, and leaving the page
// meanwhile asks for confirmation.
function initReveal() {
  const d = $('reveal');
  const ack = $('reveal-ack');
  const done = $('reveal-done');
  ack.addEventListener('change', () => {
    done.disabled = !ack.checked;
  });
  // The value goes with the dialog: cleared before it closes, not after the close event
  // (which comes a task later).
  done.addEventListener('click', () => {
    $('reveal-value').value = '';
    d.close('done');
  });
  d.addEventListener('cancel', (e) => {
    if (!ack.checked) {
      e.preventDefault();
      announce('Tick "I have copied it" first: the value cannot be shown again.');
      return;
    }
    $('reveal-value').value = '';
  });
  $('reveal-copy').addEventListener('click', async () => {
    const input = $('reveal-value');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      if (!document.execCommand('copy')) {
        announce('Copying failed: select the value and copy it by hand.');
        return;
      }
    }
    announce('Copied to the clipboard.');
  });
}

function warnBeforeUnload(e) {
  e.preventDefault();
  e.returnValue = '';
}

// Shows secret once: {title, text, label, secret}. Resolves when dismissed.
export async function reveal({ title, text, label, secret }) {
  const d = $('reveal');
  $('reveal-title').textContent = title;
  $('reveal-text').textContent = text;
  $('reveal-label').textContent = label;
  const input = $('reveal-value');
  input.value = secret;
  $('reveal-ack').checked = false;
  $('reveal-done').disabled = true;
  window.addEventListener('beforeunload', warnBeforeUnload);
  const closed = openDialog(d);
  input.focus();
  input.select();
  await closed;
  window.removeEventListener('beforeunload', warnBeforeUnload);
  input.value = '';
  $('reveal-ack').checked = false;
}

// ---- Confirmation of a destructive action; typed: the text the user must type first.
function initConfirm() {
  const input = $('confirm-type');
  input.addEventListener('input', () => {
    $('confirm-ok').disabled = input.value !== input.dataset.expected;
  });
}

export async function confirmAction({ title, text, action, typed }) {
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  const input = $('confirm-type');
  $('confirm-typed').hidden = typed === undefined;
  input.value = '';
  if (typed !== undefined) {
    input.dataset.expected = typed;
    $('confirm-type-label').textContent = 'Type "' + typed + '" to confirm';
    $('confirm-ok').disabled = true;
  } else {
    $('confirm-ok').disabled = false;
  }
  const closed = openDialog($('confirm'));
  if (typed !== undefined) input.focus();
  const ok = (await closed) === 'confirm';
  input.value = '';
  return ok;
}

// A date input for a key's expiry (API.md section 12: in the future, at most 366 days
// ahead): bounded to that range; its value as key_expires_at (midnight UTC), or undefined.
const DAY_MS = 86_400_000;
export function limitExpiry(input) {
  const day = (ms) => new Date(ms).toISOString().slice(0, 10);
  input.min = day(Date.now() + DAY_MS);
  input.max = day(Date.now() + 365 * DAY_MS);
  return input;
}
export const expiryOf = (input) => (input.value ? input.value + 'T00:00:00Z' : undefined);

// The rotate dialog: resolves with {grace_seconds, key_expires_at} (either may be absent:
// nothing is v1, the old key dies now and the new one never expires), or null when
// cancelled.
export async function chooseRotation(name) {
  $('rotate-title').textContent = 'Rotate the key of ' + name;
  $('grace-0').checked = true;
  const expires = limitExpiry($('rotate-expires'));
  expires.value = '';
  const ok = (await openDialog($('rotate'))) === 'confirm';
  if (!ok) return null;
  const grace = Number(document.querySelector('input[name="grace"]:checked').value);
  const body = {};
  if (grace) body.grace_seconds = grace;
  if (expires.value) body.key_expires_at = expiryOf(expires);
  return body;
}
