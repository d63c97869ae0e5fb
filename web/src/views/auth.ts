/** The sign-up and log-in form. */
import { h } from '../dom';
import { client, messageOf, signedIn } from '../session';

/** Shows the form in `root`; calls `done` once the person is signed in. */
export function renderAuth(root: HTMLElement, done: () => void): void {
  let mode: 'login' | 'register' = 'login';
  const title = h('h1', {}, 'Log in');
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true, 'data-testid': 'auth-email' });
  const password = h('input', {
    type: 'password',
    name: 'password',
    minlength: 8,
    required: true,
    autocomplete: 'current-password',
    'data-testid': 'auth-password',
  });
  const name = h('input', { type: 'text', name: 'display_name', autocomplete: 'name', 'data-testid': 'auth-name' });
  const nameRow = h('label', { hidden: true }, 'Your name', name);
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'auth-submit' }, 'Log in');
  const toggle = h('button', { type: 'button', class: 'link', 'data-testid': 'auth-toggle' }, 'New here? Sign up');
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'auth-error' });

  const setMode = (next: typeof mode): void => {
    mode = next;
    const registering = mode === 'register';
    title.textContent = registering ? 'Sign up' : 'Log in';
    submit.textContent = registering ? 'Sign up' : 'Log in';
    toggle.textContent = registering ? 'Have an account? Log in' : 'New here? Sign up';
    nameRow.hidden = !registering;
    password.autocomplete = registering ? 'new-password' : 'current-password';
    error.textContent = '';
  };
  toggle.addEventListener('click', () => setMode(mode === 'login' ? 'register' : 'login'));

  const form = h(
    'form',
    { class: 'auth card', 'data-testid': 'auth-form' },
    title,
    h('label', {}, 'Email', email),
    h('label', {}, 'Password', password),
    nameRow,
    error,
    submit,
    toggle,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    const request =
      mode === 'register'
        ? client.register({ email: email.value, password: password.value, display_name: name.value.trim() || null })
        : client.login({ email: email.value, password: password.value });
    request
      .then((auth) => {
        signedIn(auth.user);
        done();
      })
      .catch((err: unknown) => {
        error.textContent = messageOf(err);
        submit.disabled = false;
      });
  });
  root.replaceChildren(h('main', { class: 'centered' }, h('p', { class: 'brand' }, 'canvas-server'), form));
  email.focus();
}
