/** The drawing toolbar: tools, colours, undo/redo, delete and zoom. */
import { h, s } from '../dom';
import type { BoardEditor, Tool } from '../board/editor';

/** The colours offered for shapes (any CSS colour is valid in the data model). */
export const PALETTE: Array<[name: string, color: string]> = [
  ['black', '#1e1e1e'],
  ['red', '#e03131'],
  ['green', '#2f9e44'],
  ['blue', '#1971c2'],
  ['yellow', '#fab005'],
  ['violet', '#9c36b5'],
];

/** Each tool's label and a tiny 24×24 icon path. */
const TOOLS: Array<[Tool, string, string]> = [
  ['select', 'Select and move (V)', 'M5 3 L5 19 L9.5 15 L12.5 21 L15 20 L12 14 L18 14 Z'],
  ['pan', 'Pan (H)', 'M12 3 L12 21 M3 12 L21 12 M12 3 L9 6 M12 3 L15 6 M12 21 L9 18 M12 21 L15 18 M3 12 L6 9 M3 12 L6 15 M21 12 L18 9 M21 12 L18 15'],
  ['rect', 'Rectangle (R)', 'M4 6 H20 V18 H4 Z'],
  ['ellipse', 'Ellipse (O)', 'M12 5 A8 7 0 1 0 12.01 5 Z'],
  ['line', 'Line (L)', 'M4 20 L20 4'],
  ['stroke', 'Freehand (P)', 'M3 17 C6 8 9 20 12 12 S18 6 21 9'],
  ['note', 'Sticky note (N)', 'M5 4 H19 V14 L14 19 H5 Z M14 19 V14 H19'],
];

const SHORTCUTS: Record<string, Tool> = { v: 'select', h: 'pan', r: 'rect', o: 'ellipse', l: 'line', p: 'stroke', n: 'note' };

function icon(path: string): SVGSVGElement {
  return s('svg', { viewBox: '0 0 24 24', width: 20, height: 20, 'aria-hidden': 'true' }, s('path', { d: path }));
}

/** Builds the toolbar for `editor` and keeps it in step with it. */
export function toolbar(editor: BoardEditor): HTMLElement {
  const toolButtons = new Map<Tool, HTMLButtonElement>();
  for (const [tool, label, path] of TOOLS) {
    const button = h('button', { type: 'button', title: label, 'aria-label': label, 'data-testid': `tool-${tool}` }, icon(path));
    button.addEventListener('click', () => editor.setTool(tool));
    toolButtons.set(tool, button);
  }
  const colorButtons = PALETTE.map(([name, color]) => {
    const button = h('button', {
      type: 'button',
      class: 'swatch',
      title: name,
      'aria-label': `Colour ${name}`,
      'data-testid': `color-${name}`,
      'data-color': color,
    });
    // Through the CSSOM: the page's Content-Security-Policy forbids style attributes.
    button.style.setProperty('--swatch', color);
    button.addEventListener('click', () => editor.setColor(color));
    return button;
  });
  const action = (id: string, label: string, content: string | SVGSVGElement, run: () => void): HTMLButtonElement => {
    const button = h('button', { type: 'button', title: label, 'aria-label': label, 'data-testid': id }, content);
    button.addEventListener('click', run);
    return button;
  };
  const undo = action('undo', 'Undo (Ctrl+Z)', icon('M9 14 L4 9 L9 4 M4 9 H15 A5 5 0 0 1 15 19 H11'), () => editor.undo());
  const redo = action('redo', 'Redo (Ctrl+Shift+Z)', icon('M15 14 L20 9 L15 4 M20 9 H9 A5 5 0 0 0 9 19 H13'), () => editor.redo());
  const del = action('delete-selection', 'Delete selection (Del)', icon('M4 7 H20 M9 7 V4 H15 V7 M6 7 L7 20 H17 L18 7 M10 11 V16 M14 11 V16'), () => editor.deleteSelection());
  const zoomOut = action('zoom-out', 'Zoom out', '−', () => editor.viewport.zoomCentered(1 / 1.25));
  const zoomReset = action('zoom-reset', 'Reset view', '100%', () => editor.viewport.reset());
  const zoomIn = action('zoom-in', 'Zoom in', '+', () => editor.viewport.zoomCentered(1.25));

  const bar = h(
    'nav',
    { class: 'toolbar', 'data-testid': 'toolbar', 'aria-label': 'Drawing tools' },
    h('div', { class: 'group' }, ...toolButtons.values()),
    h('div', { class: 'group colors' }, ...colorButtons),
    h('div', { class: 'group' }, undo, redo, del),
    h('div', { class: 'group' }, zoomOut, zoomReset, zoomIn),
  );

  const update = (): void => {
    for (const [tool, button] of toolButtons) {
      button.setAttribute('aria-pressed', String(editor.tool === tool));
      button.disabled = editor.readOnly && tool !== 'pan';
    }
    for (const button of colorButtons) {
      button.setAttribute('aria-pressed', String(button.dataset.color === editor.color));
      button.disabled = editor.readOnly;
    }
    undo.disabled = editor.readOnly || !editor.undoManager.canUndo();
    redo.disabled = editor.readOnly || !editor.undoManager.canRedo();
    del.disabled = editor.readOnly || editor.selection.length === 0;
    zoomReset.textContent = `${Math.round(editor.viewport.view.zoom * 100)}%`;
  };
  editor.onChange(update);
  editor.viewport.onChange(update);
  update();

  const onKey = (e: KeyboardEvent): void => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
    const tool = SHORTCUTS[e.key.toLowerCase()];
    if (tool) editor.setTool(tool);
  };
  window.addEventListener('keydown', onKey);
  editor.onDestroy(() => window.removeEventListener('keydown', onKey));
  return bar;
}
