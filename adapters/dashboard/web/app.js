// The dashboard: a client of the HTTP API (API.md section 17) with hash routing.
//   #/signin  #/accept  #/chatbots  #/chatbots/<id>  #/members  #/audit
import { api, get, setUnauthorizedHandler } from './api.js';
import { $, clearError, initDialogs, showError } from './ui.js';
import { renderSignIn, renderAccept } from './signin.js';
import { renderChatbots, renderChatbot } from './chatbots.js';
import { renderMembers } from './members.js';
import { renderAudit } from './audit.js';

const RANK = { viewer: 0, member: 1, admin: 2, owner: 3 };

// The session of GET /api/v1/auth/session, or null when signed out.
export const session = { current: null };

// The lowest role of each control, as in API.md section 10: a control is shown only to
// roles that may use it (the server checks again, whatever is shown).
const MIN_ROLE = {
  create: 'member',
  edit: 'member',
  rotate: 'admin',
  endGrace: 'admin',
  delete: 'admin',
  audit: 'admin',
  invite: 'admin',
  manageMembers: 'admin',
};

export function can(action) {
  const s = session.current;
  return !!s && RANK[s.role] >= RANK[MIN_ROLE[action]];
}
export const rank = (role) => RANK[role];
export const roles = Object.keys(RANK);

export async function loadSession() {
  try {
    session.current = await get('/api/v1/auth/session');
  } catch (e) {
    if (e.status !== 401) throw e;
    session.current = null;
  }
  const s = session.current;
  $('nav').hidden = $('who').hidden = !s;
  if (s) {
    $('who-email').textContent = s.user.email;
    $('who-role').textContent = s.role;
    $('nav-audit').hidden = !can('audit');
  }
  return s;
}

const PAGES = [
  [/^#\/chatbots\/([0-9a-f-]{36})$/, (m) => renderChatbot(m[1])],
  [/^#\/chatbots$/, () => renderChatbots()],
  [/^#\/members$/, () => renderMembers()],
  [/^#\/audit$/, () => renderAudit()],
];

// Renders the page of location.hash into <main> and moves focus to its heading.
let routeGeneration = 0;
async function route() {
  const generation = ++routeGeneration;
  clearError();
  const hash = location.hash;
  const main = $('main');
  for (const a of document.querySelectorAll('#nav a'))
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  try {
    if (!session.current) {
      main.replaceChildren(hash === '#/accept' ? renderAccept() : renderSignIn());
    } else {
      const page = PAGES.find(([re]) => re.test(hash));
      if (!page) {
        location.replace('#/chatbots');
        return;
      }
      const node = await page[1](hash.match(page[0]));
      if (generation !== routeGeneration) return;  // a newer navigation won
      main.replaceChildren(node);
      node.dispatchEvent(new Event('attached'));
    }
  } catch (e) {
    showError(e);
  }
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.tabIndex = -1;
    h1.focus();
  }
}

export async function signedIn() {
  await loadSession();
  if (location.hash === '#/chatbots') route();
  else location.hash = '#/chatbots';
}

async function signOut() {
  try {
    await api('POST', '/api/v1/auth/logout');
  } catch (e) {
    if (e.status !== 401) return showError(e);
  }
  session.current = null;
  await loadSession();
  location.hash = '#/signin';
}

async function start() {
  initDialogs();
  setUnauthorizedHandler(() => {
    // The session ended (expired, revoked, removed): back to sign in.
    if (!session.current) return;
    session.current = null;
    $('nav').hidden = $('who').hidden = true;
    location.hash = '#/signin';
  });
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  try {
    await loadSession();
  } catch (e) {
    showError(e);
  }
  if (!session.current && location.hash !== '#/accept' && location.hash !== '#/signin') {
    location.replace('#/signin');
  } else if (session.current && (location.hash === '' || location.hash === '#/signin')) {
    location.replace('#/chatbots');
  }
  route();
}

start();
