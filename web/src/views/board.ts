/**
 * An open board: the toolbar, the drawing surface, the connection state and
 * the sharing panel. The document and presence come from the client
 * library's `openBoard`; this view only shows them.
 */
import type { BoardStatus, User } from '../../../clients/typescript/src/index';
import { CanvasApiError } from '../../../clients/typescript/src/index';
import { BoardEditor } from '../board/editor';
import { colorForUser, readPresence, type PresenceState } from '../board/presence';
import { h } from '../dom';
import { client, messageOf, nameOf } from '../session';
import { header } from './boards';
import { sharePanel } from './share';
import { toolbar } from './toolbar';

export interface BoardViewActions {
  home(): void;
  signOut(): void;
  /** The token was refused: sign in again, then come back to this board. */
  reauthenticate(): void;
}

/** What the connection state badge says. */
const STATUS_TEXT: Record<BoardStatus, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  'access-lost': 'Access removed',
  'board-deleted': 'Board deleted',
  'token-expired': 'Signed out',
  closed: 'Closed',
};

/** What the banner explains when the connection has ended for good. */
const FINAL_TEXT: Partial<Record<BoardStatus, string>> = {
  'access-lost': 'Your access to this board was removed. What you see is no longer updated.',
  'board-deleted': 'This board was deleted.',
  'token-expired': 'Your session has expired. Log in again to keep working.',
};

/** Opens board `boardId` in `root`; returns the function that closes it. */
export function renderBoard(root: HTMLElement, user: User, boardId: string, actions: BoardViewActions): () => void {
  let closed = false;
  let close = (): void => {
    closed = true;
  };
  const back = h('a', { href: '/', class: 'back', 'data-testid': 'back-to-boards' }, '← Boards');
  back.addEventListener('click', (event) => {
    event.preventDefault();
    actions.home();
  });
  const title = h('span', { class: 'board-name', 'data-testid': 'board-name' }, '');
  const status = h('span', { class: 'status', 'data-testid': 'connection-status', 'data-state': 'connecting', role: 'status' }, STATUS_TEXT.connecting);
  const main = h('main', { class: 'board-page' }, h('p', { class: 'loading' }, 'Opening board…'));
  root.replaceChildren(header(user, actions, back, title, status), main);

  client
    .getBoard(boardId)
    .then((board) => {
      if (closed) return;
      document.title = `${board.name} · canvas-server`;
      title.textContent = board.name;
      const connection = client.openBoard(board.id);
      const editor = new BoardEditor({
        doc: connection.doc,
        awareness: connection.awareness,
        user: { id: user.id, name: nameOf(user), color: colorForUser(user.id) },
        readOnly: board.role === 'viewer',
      });
      const banner = h('div', { class: 'banner', hidden: true, role: 'alert', 'data-testid': 'board-banner' });
      const share = sharePanel(board);
      const shareButton = h('button', { type: 'button', 'data-testid': 'share-button' }, 'Share');
      shareButton.addEventListener('click', () => share.toggle());
      status.before(shareButton);
      if (board.role === 'viewer') status.before(h('span', { class: 'role-badge', 'data-testid': 'viewer-badge' }, 'View only'));

      const showStatus = (state: BoardStatus): void => {
        status.dataset.state = state;
        status.textContent = STATUS_TEXT[state];
        const final = FINAL_TEXT[state];
        if (!final) return;
        editor.setReadOnly();
        banner.hidden = false;
        banner.replaceChildren(final);
        if (state === 'token-expired') {
          const again = h('button', { type: 'button', class: 'primary', 'data-testid': 'login-again' }, 'Log in');
          again.addEventListener('click', () => actions.reauthenticate());
          banner.append(' ', again);
        } else {
          const home = h('button', { type: 'button', 'data-testid': 'banner-home' }, 'Back to boards');
          home.addEventListener('click', () => actions.home());
          banner.append(' ', home);
        }
      };
      connection.on('status', showStatus);
      showStatus(connection.status);

      // Who else is here, from awareness: one dot per person in their colour.
      const people = h('span', { class: 'people', 'data-testid': 'people' });
      status.after(people);
      const showPeople = (): void => {
        const seen = new Map<string, PresenceState['user']>();
        connection.awareness.getStates().forEach((state, clientId) => {
          const presence = readPresence(state);
          if (clientId !== connection.awareness.clientID && presence) seen.set(presence.user.id, presence.user);
        });
        people.replaceChildren(
          ...[...seen.values()].map((person) => {
            const dot = h('span', { class: 'person', title: person.name, 'data-testid': 'presence-user', 'data-user-name': person.name }, person.name.slice(0, 1).toUpperCase());
            dot.style.setProperty('--person', person.color);
            return dot;
          }),
        );
      };
      connection.awareness.on('change', showPeople);
      showPeople();

      main.replaceChildren(toolbar(editor), h('div', { class: 'surface' }, editor.svg, banner), share.element);
      close = () => {
        closed = true;
        editor.destroy();
        connection.destroy();
      };
    })
    .catch((error: unknown) => {
      if (closed) return;
      if (error instanceof CanvasApiError && error.status === 401) {
        actions.reauthenticate();
        return;
      }
      const notFound = error instanceof CanvasApiError && error.status === 404;
      status.dataset.state = notFound ? 'not-found' : 'error';
      status.textContent = notFound ? 'Not found' : 'Error';
      main.replaceChildren(
        h(
          'p',
          { class: 'error', role: 'alert', 'data-testid': 'board-error' },
          notFound ? 'This board does not exist, or you do not have access to it.' : messageOf(error),
        ),
      );
    });

  return () => close();
}
