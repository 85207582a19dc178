// Sign in (POST /api/v1/auth/login) and accepting an invitation
// (POST /api/v1/invitations/accept): both set the session cookie. The token in the answer's
// body is not kept: the HttpOnly cookie is the dashboard's only credential.
import { api } from './api.js';
import { el, showError, clearError } from './ui.js';
import { signedIn } from './app.js';

function field(id, label, attrs) {
  return el('div', { class: 'field' }, el('label', { for: id, text: label }), el('input', { id, name: id, required: true, ...attrs }));
}

function submitter(form, run) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await run();
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function renderSignIn() {
  const form = el(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-title' },
    field('email', 'Email', { type: 'email', autocomplete: 'username' }),
    field('password', 'Password', { type: 'password', autocomplete: 'current-password' }),
    el('button', { type: 'submit', class: 'primary', text: 'Sign in' }),
  );
  submitter(form, async () => {
    await api('POST', '/api/v1/auth/login', { email: form.email.value, password: form.password.value });
    form.password.value = '';
    await signedIn();
  });
  return el(
    'section',
    {},
    el('h1', { id: 'signin-title', text: 'Sign in' }),
    form,
    el('p', {}, 'Invited? ', el('a', { href: '#/accept', text: 'Accept an invitation' })),
  );
}

// The token is pasted, never carried in the URL (a link would leave it in history and logs).
export function renderAccept() {
  const form = el(
    'form',
    { class: 'signin', 'aria-labelledby': 'accept-title' },
    field('token', 'Invitation token', { autocomplete: 'off', spellcheck: 'false' }),
    field('password', 'Choose a password', { type: 'password', autocomplete: 'new-password' }),
    el('button', { type: 'submit', class: 'primary', text: 'Join' }),
  );
  submitter(form, async () => {
    await api('POST', '/api/v1/invitations/accept', { token: form.token.value.trim(), password: form.password.value });
    form.token.value = form.password.value = '';
    await signedIn();
  });
  return el(
    'section',
    {},
    el('h1', { id: 'accept-title', text: 'Accept an invitation' }),
    form,
    el('p', {}, el('a', { href: '#/signin', text: 'Back to sign in' })),
  );
}
