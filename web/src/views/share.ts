/** The sharing panel of a board: its members, adding one by email, removing one. */
import type { Board, Member } from '../../../clients/typescript/src/index';
import { h } from '../dom';
import { client, messageOf } from '../session';

/** Builds the panel (hidden until opened) for `board`. */
export function sharePanel(board: Board): { element: HTMLElement; toggle(): void } {
  const isOwner = board.role === 'owner';
  const list = h('ul', { class: 'members', 'data-testid': 'member-list' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'share-error' });
  const email = h('input', { type: 'email', placeholder: 'Email', required: true, 'data-testid': 'share-email' });
  const role = h(
    'select',
    { 'data-testid': 'share-role', 'aria-label': 'Role' },
    h('option', { value: 'editor' }, 'Editor'),
    h('option', { value: 'viewer' }, 'Viewer'),
  );
  const form = h('form', { class: 'share-form' }, email, role, h('button', { type: 'submit', class: 'primary', 'data-testid': 'share-submit' }, 'Share'));
  const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close', 'data-testid': 'share-close' }, '×');
  const element = h(
    'section',
    { class: 'share card', hidden: true, 'data-testid': 'share-panel', 'aria-label': 'Sharing' },
    h('h2', {}, 'Sharing'),
    close,
    isOwner ? form : h('p', { class: 'hint' }, 'Only the owner can change who has access.'),
    error,
    list,
  );

  const fail = (err: unknown): void => {
    error.textContent = messageOf(err);
  };

  const row = (member: Member): HTMLLIElement => {
    const li = h(
      'li',
      { 'data-testid': 'member-row', 'data-email': member.email, 'data-role': member.role },
      h('span', { class: 'member-name' }, member.display_name || member.email),
      h('span', { class: 'member-email' }, member.email),
      h('span', { class: 'role' }, member.role),
    );
    if (isOwner && member.role !== 'owner') {
      const remove = h('button', { type: 'button', class: 'danger', 'data-testid': 'member-remove' }, 'Remove');
      remove.addEventListener('click', () => {
        client.removeMember(board.id, member.user_id).then(refresh, fail);
      });
      li.append(remove);
    }
    return li;
  };

  const refresh = async (): Promise<void> => {
    try {
      const members = await client.listMembers(board.id);
      list.replaceChildren(...members.items.map(row));
    } catch (err) {
      fail(err);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.textContent = '';
    const chosen = role.value === 'viewer' ? 'viewer' : 'editor';
    client
      .putMember(board.id, { email: email.value, role: chosen })
      .then(() => {
        email.value = '';
        return refresh();
      })
      .catch(fail);
  });
  close.addEventListener('click', () => {
    element.hidden = true;
  });

  return {
    element,
    toggle() {
      element.hidden = !element.hidden;
      if (!element.hidden) void refresh();
    },
  };
}
