// Members (change role, remove) and invitations (invite: the token is shown once; list;
// revoke). Every role sees the members; only admins and owners see the controls, and only
// for members they may manage (never above their own role; an admin never manages an
// owner).
import { api, get } from './api.js';
import { el, time, announce, attempt, rerender, reveal, confirmAction } from './ui.js';
import { can, rank, roles, session } from './app.js';

// The roles the caller may grant: up to its own.
const grantable = () => roles.filter((r) => rank(r) <= rank(session.current.role));

function mayManage(member) {
  return can('manageMembers') && rank(member.role) <= rank(session.current.role);
}

function roleSelect(id, label, selected) {
  return [
    el('label', { for: id, class: 'visually-hidden', text: label }),
    el('select', { id }, ...grantable().map((r) => el('option', { value: r, selected: r === selected, text: r }))),
  ];
}

// A button that asks question (confirmAction), then DELETEs path and announces said.
function deleteButton(text, label, question, path, said) {
  return el('button', {
    type: 'button',
    class: 'danger',
    'aria-label': label,
    text,
    onclick: async () => {
      if ((await confirmAction(question)) && (await attempt(() => api('DELETE', path)))) {
        announce(said);
        rerender();
      }
    },
  });
}

function memberRow(m, index) {
  const actions = el('td', { class: 'actions' });
  let roleCell = el('td', { text: m.role });
  if (mayManage(m)) {
    const id = 'role-' + index;
    const [label, select] = roleSelect(id, 'Role of ' + m.email, m.role);
    roleCell = el('td', {}, label, select);
    actions.append(
      el('button', {
        type: 'button',
        'aria-label': 'Change role of ' + m.email,
        text: 'Change role',
        onclick: async () => {
          if (select.value === m.role) return announce('The role is unchanged.');
          if (await attempt(() => api('PATCH', '/api/v1/members/' + m.user_id, { role: select.value }))) {
            announce(m.email + ' is now ' + select.value + '.');
            rerender();
          }
        },
      }),
      deleteButton(
        'Remove',
        'Remove ' + m.email,
        { title: 'Remove ' + m.email, text: 'They lose access at once: every session of theirs ends.', action: 'Remove member' },
        '/api/v1/members/' + m.user_id,
        m.email + ' was removed.',
      ),
    );
  }
  return el('tr', {}, el('th', { scope: 'row', text: m.email }), roleCell, el('td', {}, time(m.created_at)), actions);
}

function table(caption, headers, rows) {
  return el(
    'table',
    {},
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...rows),
  );
}

export async function renderMembers() {
  const members = await get('/api/v1/members');
  const page = el(
    'section',
    { 'aria-labelledby': 'members-title' },
    el('h1', { id: 'members-title', text: 'Members' }),
    table(members.length + ' members', ['Email', 'Role', 'Joined', 'Actions'], members.map(memberRow)),
  );
  if (can('invite')) page.append(...(await invitations()));
  return page;
}

async function invitations() {
  const pending = await get('/api/v1/invitations');
  const [label, select] = roleSelect('invite-role', 'Role', 'member');
  label.className = '';
  const form = el(
    'form',
    { class: 'inline', 'aria-labelledby': 'invite-title' },
    el('div', {}, el('label', { for: 'invite-email', text: 'Email' }), el('input', { id: 'invite-email', type: 'email', required: true })),
    el('div', {}, label, select),
    el('button', { type: 'submit', class: 'primary', text: 'Invite' }),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = form.querySelector('#invite-email');
    const ok = await attempt(async () => {
      const { data } = await api('POST', '/api/v1/invitations', { email: email.value, role: select.value });
      email.value = '';
      await reveal({
        title: 'Invitation for ' + data.invitation.email,
        text: 'Give this token to ' + data.invitation.email + ' (they accept it on the sign-in page). It is shown only once and expires ' + data.invitation.expires_at + '.',
        label: 'Invitation token',
        secret: data.token,
      });
    });
    if (ok) rerender();
  });
  const rows = pending.map((inv) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row', text: inv.email }),
      el('td', { text: inv.role }),
      el('td', {}, time(inv.expires_at)),
      el(
        'td',
        { class: 'actions' },
        deleteButton(
          'Revoke',
          'Revoke the invitation of ' + inv.email,
          { title: 'Revoke the invitation of ' + inv.email, text: 'Its token stops working now.', action: 'Revoke invitation' },
          '/api/v1/invitations/' + inv.id,
          'The invitation of ' + inv.email + ' was revoked.',
        ),
      ),
    ),
  );
  return [
    el('h2', { id: 'invite-title', text: 'Invite a member' }),
    form,
    el('h2', { text: 'Pending invitations' }),
    rows.length ? table(rows.length + ' pending', ['Email', 'Role', 'Expires', 'Actions'], rows) : el('p', { text: 'None.' }),
  ];
}
