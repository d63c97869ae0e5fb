/**
 * Presence: who else is on the board, where their pointer is and what they
 * have selected. It lives in Yjs awareness, never in the document, in the
 * contract's shape `{user: {id, name, color}, cursor: {x, y} | null,
 * selection: [shape ids]}`.
 */
import type { Awareness } from 'y-protocols/awareness';

import type { PresenceState } from '../../../clients/typescript/src/index';
import { s, setAttrs } from '../dom';

export type { PresenceState };

const CURSOR_COLORS = ['#e03131', '#2f9e44', '#1971c2', '#f08c00', '#9c36b5', '#0c8599', '#c2255c', '#5c940d'];

/** A colour for a user, the same on every page and every visit. */
export function colorForUser(userId: string): string {
  let hash = 0;
  for (let i = 0; i < userId.length; i++) hash = (hash * 31 + userId.charCodeAt(i)) | 0;
  return CURSOR_COLORS[Math.abs(hash) % CURSOR_COLORS.length] ?? '#1971c2';
}

/** Reads a remote state defensively: other clients may send anything. */
export function readPresence(state: unknown): PresenceState | null {
  if (typeof state !== 'object' || state === null) return null;
  const { user, cursor, selection } = state as Record<string, unknown>;
  if (typeof user !== 'object' || user === null) return null;
  const u = user as Record<string, unknown>;
  const c = cursor as Record<string, unknown> | null | undefined;
  const validCursor =
    c && typeof c === 'object' && typeof c.x === 'number' && typeof c.y === 'number' && Number.isFinite(c.x + c.y)
      ? { x: c.x, y: c.y }
      : null;
  return {
    user: {
      id: typeof u.id === 'string' ? u.id : '',
      name: typeof u.name === 'string' ? u.name.slice(0, 80) : 'Someone',
      color: typeof u.color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(u.color) ? u.color : '#868e96',
    },
    cursor: validCursor,
    selection: Array.isArray(selection) ? selection.filter((id): id is string => typeof id === 'string') : [],
  };
}

/** Keeps this page's own state and draws everyone else's cursor. */
/** The shortest time between two cursor messages of this page. */
const CURSOR_INTERVAL_MS = 40;

export class Presence {
  private cursors = new Map<number, SVGGElement>();
  private pendingCursor: PresenceState['cursor'] = null;
  private cursorTimer: ReturnType<typeof setTimeout> | null = null;
  private zoom = 1;
  /** Redraws when someone else's state changed (our own cursor moves often and draws nothing). */
  private readonly onAwarenessChange = (changes: { added: number[]; updated: number[]; removed: number[] }): void => {
    const own = this.awareness.clientID;
    const others = [...changes.added, ...changes.updated, ...changes.removed].some((id) => id !== own);
    if (others) this.render();
  };

  constructor(
    private readonly awareness: Awareness,
    private readonly layer: SVGGElement,
    user: PresenceState['user'],
    private readonly onRemoteChange: () => void,
  ) {
    const state: PresenceState = { user, cursor: null, selection: [] };
    awareness.setLocalState(state);
    awareness.on('change', this.onAwarenessChange);
  }

  /**
   * Shares where the pointer is, at most every {@link CURSOR_INTERVAL_MS}
   * (the last position always goes out): every change of the local state is
   * a message to everyone on the board.
   */
  setCursor(cursor: { x: number; y: number } | null): void {
    this.pendingCursor = cursor ? { x: Math.round(cursor.x), y: Math.round(cursor.y) } : null;
    if (this.cursorTimer === null) this.sendCursor();
  }

  /** Sends the pending position if it is new, then waits an interval before the next. */
  private sendCursor(): void {
    const current = (this.awareness.getLocalState() as PresenceState | null)?.cursor ?? null;
    const next = this.pendingCursor;
    if (current?.x === next?.x && current?.y === next?.y) return;
    this.awareness.setLocalStateField('cursor', next);
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = null;
      this.sendCursor();
    }, CURSOR_INTERVAL_MS);
  }

  setSelection(ids: string[]): void {
    this.awareness.setLocalStateField('selection', ids);
  }

  /** Labels keep their size on screen whatever the zoom. */
  setZoom(zoom: number): void {
    this.zoom = zoom;
    this.render();
  }

  /** Everyone else's state, by awareness client id. */
  others(): Map<number, PresenceState> {
    const others = new Map<number, PresenceState>();
    this.awareness.getStates().forEach((state, clientId) => {
      if (clientId === this.awareness.clientID) return;
      const presence = readPresence(state);
      if (presence) others.set(clientId, presence);
    });
    return others;
  }

  render(): void {
    const others = this.others();
    for (const [clientId, el] of this.cursors) {
      if (!others.get(clientId)?.cursor) {
        el.remove();
        this.cursors.delete(clientId);
      }
    }
    for (const [clientId, state] of others) {
      if (!state.cursor) continue;
      let el = this.cursors.get(clientId);
      if (!el) {
        el = s(
          'g',
          { 'data-testid': 'remote-cursor', class: 'remote-cursor' },
          s('path', { d: 'M0,0 L0,16 L4.5,12 L8,19 L10.5,18 L7,11 L12.5,11 Z', stroke: '#fff', 'stroke-width': 1 }),
          s('rect', { x: 12, y: 16, height: 18, rx: 4 }),
          s('text', { x: 17, y: 29 }),
        );
        this.layer.append(el);
        this.cursors.set(clientId, el);
      }
      const [path, label, text] = [...el.children] as [SVGPathElement, SVGRectElement, SVGTextElement];
      setAttrs(el, {
        transform: `translate(${state.cursor.x} ${state.cursor.y}) scale(${1 / this.zoom})`,
        'data-user-name': state.user.name,
        'data-user-id': state.user.id,
      });
      setAttrs(path, { fill: state.user.color });
      if (text.textContent !== state.user.name) text.textContent = state.user.name;
      setAttrs(label, { fill: state.user.color, width: 10 + state.user.name.length * 7.2 });
    }
    this.onRemoteChange();
  }

  destroy(): void {
    if (this.cursorTimer !== null) clearTimeout(this.cursorTimer);
    this.awareness.off('change', this.onAwarenessChange);
    this.awareness.setLocalState(null);
    for (const el of this.cursors.values()) el.remove();
    this.cursors.clear();
  }
}
