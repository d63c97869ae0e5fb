/** The list of boards: create, open, rename, delete. */
import type { Board, User } from '../../../clients/typescript/src/index';
import { h } from '../dom';
import { client, messageOf, nameOf } from '../session';

export interface BoardsViewActions {
  open(boardId: string): void;
  signOut(): void;
}

/** A header bar with the user's name and a log-out button. */
export function header(user: User, actions: Pick<BoardsViewActions, 'signOut'>, ...left: HTMLElement[]): HTMLElement {
  const logout = h('button', { type: 'button', 'data-testid': 'logout' }, 'Log out');
  logout.addEventListener('click', () => actions.signOut());
  return h(
    'header',
    { class: 'topbar' },
    ...left,
    h('span', { class: 'spacer' }),
    h('span', { class: 'who', 'data-testid': 'current-user' }, nameOf(user)),
    logout,
  );
}

export function renderBoards(root: HTMLElement, user: User, actions: BoardsViewActions): void {
  const list = h('ul', { class: 'boards', 'data-testid': 'board-list' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'boards-error' });
  const nameInput = h('input', { type: 'text', placeholder: 'New board name', maxlength: 200, required: true, 'data-testid': 'new-board-name' });
  const create = h('form', { class: 'create-board' }, nameInput, h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-board' }, 'Create board'));

  const fail = (err: unknown): void => {
    error.textContent = messageOf(err);
  };

  const refresh = async (): Promise<void> => {
    try {
      const page = await client.listBoards({ limit: 100 });
      list.replaceChildren(...page.items.map(row));
      if (page.items.length === 0) list.append(h('li', { class: 'empty' }, 'No boards yet: create one above.'));
    } catch (err) {
      fail(err);
    }
  };

  const row = (board: Board): HTMLLIElement => {
    const link = h('a', { href: `/b/${board.id}`, 'data-testid': 'board-link' }, board.name);
    link.addEventListener('click', (event) => {
      event.preventDefault();
      actions.open(board.id);
    });
    const li = h('li', { 'data-testid': 'board-item', 'data-board-id': board.id }, link, h('span', { class: 'role' }, board.role));
    if (board.role !== 'viewer') {
      const rename = h('button', { type: 'button', 'data-testid': 'rename-board' }, 'Rename');
      rename.addEventListener('click', () => startRename(li, board));
      li.append(rename);
    }
    if (board.role === 'owner') {
      const del = h('button', { type: 'button', class: 'danger', 'data-testid': 'delete-board' }, 'Delete');
      del.addEventListener('click', () => {
        // Two clicks: the first arms the button, so a slip cannot delete a board.
        if (del.dataset.armed !== 'true') {
          del.dataset.armed = 'true';
          del.textContent = 'Really delete?';
          return;
        }
        client.deleteBoard(board.id).then(refresh, fail);
      });
      li.append(del);
    }
    return li;
  };

  const startRename = (li: HTMLLIElement, board: Board): void => {
    const input = h('input', { type: 'text', value: board.name, maxlength: 200, required: true, 'data-testid': 'rename-input' });
    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'rename-save' }, 'Save');
    const form = h('form', { class: 'rename' }, input, save);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      client.renameBoard(board.id, { name: input.value }).then(refresh, fail);
    });
    li.replaceChildren(form);
    input.select();
  };

  create.addEventListener('submit', (event) => {
    event.preventDefault();
    error.textContent = '';
    client
      .createBoard({ name: nameInput.value })
      .then((board) => actions.open(board.id))
      .catch(fail);
  });

  root.replaceChildren(
    header(user, actions, h('span', { class: 'brand' }, 'canvas-server')),
    h('main', { class: 'page' }, h('h1', {}, 'Your boards'), create, error, list),
  );
  void refresh();
}
