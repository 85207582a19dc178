// The audit log (GET /api/v1/audit-events, API.md sections 13 and 15): newest first, 50 a
// page, following the Link rel="next" of each page; filtered by action.
import { api, nextLink } from './api.js';
import { el, time } from './ui.js';

const FIRST = '/api/v1/audit-events?limit=50';

function describe(who) {
  if (!who) return '—';
  return who.email || who.name || who.id || who.type;
}

export async function renderAudit() {
  const section = el('section', { 'aria-labelledby': 'audit-title' }, el('h1', { id: 'audit-title', text: 'Audit log' }));
  const filter = el('input', { id: 'audit-action', placeholder: 'chatbot.created' });
  const form = el(
    'form',
    { class: 'inline', role: 'search', 'aria-label': 'Filter the audit log' },
    el('div', {}, el('label', { for: 'audit-action', text: 'Action' }), filter),
    el('button', { type: 'submit', text: 'Filter' }),
  );
  const holder = el('div', { 'aria-live': 'polite' });
  const pager = el('p', { class: 'pager' });
  const history = [];  // the URLs of the pages before this one
  let current = FIRST;

  async function show(url) {
    const { data, headers } = await api('GET', url);
    current = url;
    const rows = data.map((e) =>
      el(
        'tr',
        {},
        el('td', {}, time(e.time)),
        el('td', {}, el('code', { text: e.action })),
        el('td', { text: describe(e.actor) }),
        el('td', { text: e.target ? (e.target.type || '') + ' ' + (e.target.name || e.target.id || '') : '—' }),
        el('td', { text: e.ip || '—' }),
      ),
    );
    holder.replaceChildren(
      rows.length
        ? el(
            'table',
            {},
            el('caption', { text: 'Page ' + (history.length + 1) + ', ' + rows.length + ' events' }),
            el('thead', {}, el('tr', {}, ...['Time', 'Action', 'Actor', 'Target', 'IP'].map((h) => el('th', { scope: 'col', text: h })))),
            el('tbody', {}, ...rows),
          )
        : el('p', { text: 'No events.' }),
    );
    const next = nextLink(headers);
    pager.replaceChildren(
      el('button', { type: 'button', text: 'Newer', disabled: history.length === 0, onclick: () => show(history.pop()) }),
      el('button', {
        type: 'button',
        text: 'Older',
        disabled: !next,
        onclick: () => {
          history.push(current);
          show(next);
        },
      }),
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    history.length = 0;
    const action = filter.value.trim();
    show(action ? FIRST + '&action=' + encodeURIComponent(action) : FIRST);
  });

  try {
    await show(FIRST);
  } catch (e) {
    if (e.status === 404) {
      section.append(el('p', { class: 'note', text: 'This server has no audit log yet.' }));
      return section;
    }
    throw e;
  }
  section.append(form, holder, pager);
  return section;
}
