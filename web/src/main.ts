/**
 * The whiteboard web app served by canvas-server at `/` and `/b/{board_id}`.
 *
 * A worked example of a frontend on the server: REST calls and board
 * connections go through the TypeScript client library
 * (`clients/typescript`), boards are drawn in the shared data model
 * (`board/model.ts`), presence lives in awareness (`board/presence.ts`), and
 * undo covers only this page's own changes (`board/editor.ts`).
 */
import { h } from './dom';
import { me, messageOf, signOut } from './session';
import { renderAuth } from './views/auth';
import { renderBoard } from './views/board';
import { renderBoards } from './views/boards';

const root = document.getElementById('app') ?? document.body;
let leave: (() => void) | null = null;

/** The board id in a `/b/{id}` path, or `null` for the board list. */
function boardIdOf(path: string): string | null {
  const match = /^\/b\/([^/]+)\/?$/.exec(path);
  return match?.[1] ? decodeURIComponent(match[1]) : null;
}

function navigate(path: string): void {
  if (location.pathname !== path) history.pushState(null, '', path);
  void show();
}

async function show(): Promise<void> {
  leave?.();
  leave = null;
  document.title = 'canvas-server';
  const boardId = boardIdOf(location.pathname);
  let user;
  try {
    user = await me();
  } catch (error) {
    root.replaceChildren(h('main', { class: 'centered' }, h('p', { class: 'error', role: 'alert' }, messageOf(error))));
    return;
  }
  if (!user) {
    // After signing in, come back to the same page (a shared board link).
    renderAuth(root, () => void show());
    return;
  }
  const common = {
    signOut: () => {
      signOut();
      navigate('/');
    },
  };
  if (boardId) {
    leave = renderBoard(root, user, boardId, {
      ...common,
      home: () => navigate('/'),
      reauthenticate: () => {
        signOut();
        void show();
      },
    });
  } else {
    renderBoards(root, user, { ...common, open: (id) => navigate(`/b/${encodeURIComponent(id)}`) });
  }
}

window.addEventListener('popstate', () => void show());
void show();
