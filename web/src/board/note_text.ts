/**
 * A `<textarea>` bound to a note's `Y.Text`, so that people typing in the
 * same note at once all end up with the same text.
 *
 * Local input is turned into the smallest insert/delete that explains it
 * (common prefix and suffix of the old and new value); remote changes are
 * applied to the textarea with the caret moved through them, so typing is not
 * disturbed by someone else's edit earlier in the text.
 */
import * as Y from 'yjs';

import { LOCAL_ORIGIN } from './model';

/** The single edit that turns `before` into `after`. */
export function diffText(before: string, after: string): { index: number; remove: number; insert: string } {
  let start = 0;
  const max = Math.min(before.length, after.length);
  while (start < max && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  let end = 0;
  while (
    end < max - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  ) {
    end++;
  }
  return {
    index: start,
    remove: before.length - start - end,
    insert: after.slice(start, after.length - end),
  };
}

/**
 * Where a caret at `position` goes after a Yjs text delta: text inserted
 * before it pushes it along, text deleted before it pulls it back.
 */
export function moveThroughDelta(
  position: number,
  delta: Array<{ insert?: unknown; delete?: number; retain?: number }>,
): number {
  let index = 0;
  let moved = position;
  for (const op of delta) {
    if (index >= moved) break;
    if (op.retain !== undefined) {
      index += op.retain;
    } else if (op.insert !== undefined) {
      const length = typeof op.insert === 'string' ? op.insert.length : 1;
      moved += length;
      index += length;
    } else if (op.delete !== undefined) {
      moved -= Math.min(op.delete, moved - index);
    }
  }
  return moved;
}

export class NoteTextBinding {
  private value: string;

  private readonly onInput = (): void => {
    const after = this.textarea.value;
    const { index, remove, insert } = diffText(this.value, after);
    this.value = after;
    if (remove === 0 && insert === '') return;
    this.text.doc?.transact(() => {
      if (remove > 0) this.text.delete(index, remove);
      if (insert) this.text.insert(index, insert);
    }, LOCAL_ORIGIN);
  };

  private readonly onRemote = (event: Y.YTextEvent, transaction: Y.Transaction): void => {
    if (transaction.origin === LOCAL_ORIGIN && this.textarea.value === this.text.toString()) return;
    const focused = document.activeElement === this.textarea;
    const start = this.textarea.selectionStart;
    const end = this.textarea.selectionEnd;
    this.value = this.text.toString();
    this.textarea.value = this.value;
    if (focused) {
      const delta = event.delta as Array<{ insert?: unknown; delete?: number; retain?: number }>;
      this.textarea.setSelectionRange(moveThroughDelta(start, delta), moveThroughDelta(end, delta));
    }
  };

  constructor(
    readonly textarea: HTMLTextAreaElement,
    readonly text: Y.Text,
  ) {
    this.value = text.toString();
    textarea.value = this.value;
    textarea.addEventListener('input', this.onInput);
    text.observe(this.onRemote);
  }

  destroy(): void {
    this.textarea.removeEventListener('input', this.onInput);
    this.text.unobserve(this.onRemote);
  }
}
