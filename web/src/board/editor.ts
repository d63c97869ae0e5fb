/**
 * The drawing surface of one open board: an SVG that shows the shared
 * document, takes pointer input through the current tool, keeps the local
 * selection, and undoes only this page's own changes.
 *
 * The document is the single source of truth: a tool writes to it, and the
 * picture is redrawn from it, whether the change was ours or someone else's.
 */
import * as Y from 'yjs';
import type { Awareness } from 'y-protocols/awareness';

import { s, setAttrs } from '../dom';
import {
  BoxGesture,
  MoveGesture,
  PanGesture,
  PathGesture,
  ResizeGesture,
  type Corner,
  type Gesture,
  type GestureHost,
  type PointerAt,
} from './gestures';
import { LOCAL_ORIGIN, allShapes, deleteShapes, hitTest, shapesOf, updateShapes, type Shape, type ShapeType } from './model';
import { Presence, type PresenceState } from './presence';
import { ShapeRenderer } from './render';
import { drawSelection } from './selection';
import { Viewport } from './viewport';

/** The tools of the toolbar. */
export type Tool = 'select' | 'pan' | ShapeType;

export interface EditorOptions {
  doc: Y.Doc;
  awareness: Awareness;
  user: PresenceState['user'];
  readOnly: boolean;
}

export class BoardEditor implements GestureHost {
  readonly svg: SVGSVGElement;
  readonly doc: Y.Doc;
  readonly undoManager: Y.UndoManager;
  readonly viewport: Viewport;
  readonly draft: SVGGElement;
  /** Whether this page may change the board (a viewer, or access gone). */
  readOnly: boolean;
  color = '#1e1e1e';
  tool: Tool;
  selection: string[] = [];

  private readonly world: SVGGElement;
  private readonly selectionLayer: SVGGElement;
  private readonly renderer: ShapeRenderer;
  private readonly presence: Presence;
  private shapes: Shape[] = [];
  private gesture: Gesture | null = null;
  private readonly pointers = new Map<number, [number, number]>();
  private pinch: { distance: number } | null = null;
  private editingNote: string | null = null;
  private frame = 0;
  /** The latest pointer position of a live-editing drag, applied once per frame. */
  private pendingMove: PointerAt | null = null;
  private moveFrame = 0;
  private readonly listeners: Array<() => void> = [];
  private readonly cleanups: Array<() => void> = [];

  constructor(options: EditorOptions) {
    this.doc = options.doc;
    this.readOnly = options.readOnly;
    this.tool = options.readOnly ? 'pan' : 'select';
    this.svg = s('svg', { class: 'board-canvas', 'data-testid': 'board-canvas', role: 'application', 'aria-label': 'Board' });
    this.world = s('g');
    const shapesLayer = s('g', { 'data-testid': 'shapes' });
    this.selectionLayer = s('g', { class: 'selection' });
    this.draft = s('g', { class: 'draft' });
    const cursorsLayer = s('g', { class: 'cursors' });
    this.world.append(shapesLayer, this.selectionLayer, this.draft, cursorsLayer);
    this.svg.append(this.world);

    this.viewport = new Viewport(this.svg);
    this.renderer = new ShapeRenderer(shapesLayer, options.readOnly);
    this.presence = new Presence(options.awareness, cursorsLayer, options.user, () => this.renderSelection());
    this.undoManager = new Y.UndoManager(shapesOf(this.doc), { trackedOrigins: new Set([LOCAL_ORIGIN]) });

    const onDocChange = (): void => this.scheduleRender();
    shapesOf(this.doc).observeDeep(onDocChange);
    this.cleanups.push(() => shapesOf(this.doc).unobserveDeep(onDocChange));
    const onStack = (): void => this.changed();
    for (const event of ['stack-item-added', 'stack-item-popped', 'stack-cleared'] as const) {
      this.undoManager.on(event, onStack);
    }
    this.viewport.onChange(() => {
      setAttrs(this.world, { transform: this.viewport.transform() });
      this.presence.setZoom(this.viewport.view.zoom);
    });

    this.listen(this.svg, 'pointerdown', (e) => this.onPointerDown(e as PointerEvent));
    this.listen(this.svg, 'pointermove', (e) => this.onPointerMove(e as PointerEvent));
    this.listen(this.svg, 'pointerup', (e) => this.onPointerUp(e as PointerEvent, false));
    this.listen(this.svg, 'pointercancel', (e) => this.onPointerUp(e as PointerEvent, true));
    this.listen(this.svg, 'pointerleave', () => this.presence.setCursor(null));
    this.listen(this.svg, 'dblclick', (e) => this.onDoubleClick(e as MouseEvent));
    this.listen(this.svg, 'wheel', (e) => this.onWheel(e as WheelEvent), { passive: false });
    this.listen(this.svg, 'focusout', (e) => this.onFocusOut(e as FocusEvent));
    this.listen(window, 'keydown', (e) => this.onKeyDown(e as KeyboardEvent));
    this.render();
  }

  /** Called whenever the toolbar may need updating (tool, selection, undo stack). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  setTool(tool: Tool): void {
    if (this.readOnly && tool !== 'pan') return;
    this.tool = tool;
    // The selection belongs to the select tool: with a drawing tool, a colour
    // is for the next shape, not for one picked earlier.
    if (tool !== 'select' && this.selection.length > 0) this.select([]);
    this.changed();
  }

  /** Sets the colour of new shapes, and (with the select tool) recolours the selection. */
  setColor(color: string): void {
    this.color = color;
    if (!this.readOnly && this.tool === 'select' && this.selection.length > 0) {
      updateShapes(this.doc, new Map(this.selection.map((id) => [id, { color }])));
    }
    this.changed();
  }

  deleteSelection(): void {
    if (this.readOnly || this.selection.length === 0) return;
    deleteShapes(this.doc, this.selection);
    this.select([]);
  }

  /** Stops all editing for good (the person became a viewer or lost access). */
  setReadOnly(): void {
    this.gesture?.cancel();
    this.gesture = null;
    this.stopEditingNote();
    this.readOnly = true;
    this.tool = 'pan';
    this.renderer.setReadOnly();
    this.select([]);
  }

  /** Runs `cleanup` when the editor is destroyed. */
  onDestroy(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  undo(): void {
    if (!this.readOnly) this.undoManager.undo();
  }

  redo(): void {
    if (!this.readOnly) this.undoManager.redo();
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.moveFrame);
    this.gesture?.cancel();
    for (const cleanup of this.cleanups) cleanup();
    this.undoManager.destroy();
    this.presence.destroy();
    this.renderer.destroy();
    this.svg.remove();
  }

  // GestureHost

  zoom(): number {
    return this.viewport.view.zoom;
  }

  panBy(dx: number, dy: number): void {
    this.viewport.panBy(dx, dy);
  }

  created(id: string, type: ShapeType): void {
    this.render();
    // A new note is written at once; other shapes leave the tool ready for the next.
    if (type === 'note') this.editNote(id);
  }

  // Rendering

  private scheduleRender(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    this.shapes = allShapes(this.doc);
    this.renderer.render(this.shapes);
    const present = new Set(this.shapes.map((shape) => shape.id));
    if (this.selection.some((id) => !present.has(id))) {
      this.select(this.selection.filter((id) => present.has(id)));
    } else {
      this.renderSelection();
    }
  }

  private shape(id: string): Shape | undefined {
    return this.shapes.find((shape) => shape.id === id);
  }

  private select(ids: string[]): void {
    this.selection = ids;
    this.presence.setSelection(ids);
    this.renderSelection();
    this.changed();
  }

  /** Our selection with its handles, and other people's in their colour. */
  private renderSelection(): void {
    drawSelection(this.selectionLayer, {
      shape: (id) => this.shape(id),
      mine: this.selection,
      others: [...this.presence.others().values()],
      zoom: this.viewport.view.zoom,
      handles: !this.readOnly,
    });
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  // Input

  private listen(target: EventTarget, type: string, handler: (e: Event) => void, options?: AddEventListenerOptions): void {
    target.addEventListener(type, handler, options);
    this.cleanups.push(() => target.removeEventListener(type, handler, options));
  }

  private at(e: PointerEvent | MouseEvent): PointerAt {
    return { board: this.viewport.toBoard(e.clientX, e.clientY), client: [e.clientX, e.clientY] };
  }

  private shapeAt(e: Event, board: [number, number]): Shape | undefined {
    const target = e.target instanceof Element ? e.target.closest('[data-shape-id]') : null;
    const id = target?.getAttribute('data-shape-id');
    if (id) return this.shape(id);
    // Fall back to boxes, topmost first: for clicks just beside thin lines,
    // and for the double click, whose target is the canvas that captured
    // the pointer.
    const slack = 4 / this.viewport.view.zoom;
    return [...this.shapes].reverse().find((shape) => hitTest(shape, board[0], board[1], slack));
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.target instanceof HTMLTextAreaElement && e.target.classList.contains('editing')) return;
    this.pointers.set(e.pointerId, [e.clientX, e.clientY]);
    this.svg.setPointerCapture(e.pointerId);
    if (this.pointers.size === 2) {
      // A second finger turns any drag into pinch-zoom and pan.
      this.gesture?.cancel();
      this.gesture = null;
      this.pinch = { distance: this.pointerDistance() };
      return;
    }
    if (this.pointers.size > 2 || e.button > 1) return;
    e.preventDefault();
    this.stopEditingNote();
    const at = this.at(e);
    this.undoManager.stopCapturing();
    const tool: Tool = e.button === 1 ? 'pan' : this.tool;
    this.gesture = this.startGesture(tool, e, at);
    this.gesture?.move(at);
  }

  private startGesture(tool: Tool, e: PointerEvent, at: PointerAt): Gesture | null {
    switch (tool) {
      case 'pan':
        return new PanGesture(this, at);
      case 'rect':
      case 'ellipse':
      case 'note':
        return new BoxGesture(this, tool, at);
      case 'line':
      case 'stroke':
        return new PathGesture(this, tool, at);
      case 'select': {
        const handle = e.target instanceof Element ? e.target.getAttribute('data-corner') : null;
        const only = this.selection.length === 1 ? this.shape(this.selection[0] ?? '') : undefined;
        if (handle && only) return new ResizeGesture(this, only, handle as Corner);
        const hit = this.shapeAt(e, at.board);
        if (!hit) {
          this.select([]);
          return new PanGesture(this, at);
        }
        if (e.shiftKey) {
          const has = this.selection.includes(hit.id);
          this.select(has ? this.selection.filter((id) => id !== hit.id) : [...this.selection, hit.id]);
          return null;
        }
        if (!this.selection.includes(hit.id)) this.select([hit.id]);
        const moving = this.selection.map((id) => this.shape(id)).filter((shape): shape is Shape => !!shape);
        return new MoveGesture(this, at, moving);
      }
    }
  }

  private onPointerMove(e: PointerEvent): void {
    const at = this.at(e);
    this.presence.setCursor({ x: at.board[0], y: at.board[1] });
    if (!this.pointers.has(e.pointerId)) return;
    const previous = this.pointers.get(e.pointerId) ?? [e.clientX, e.clientY];
    this.pointers.set(e.pointerId, [e.clientX, e.clientY]);
    if (this.pinch && this.pointers.size === 2) {
      const distance = this.pointerDistance();
      const [cx, cy] = this.pointerCentre();
      this.viewport.panBy((e.clientX - previous[0]) / 2, (e.clientY - previous[1]) / 2);
      if (this.pinch.distance > 0) this.viewport.zoomAt(distance / this.pinch.distance, cx, cy);
      this.pinch.distance = distance;
      return;
    }
    const gesture = this.gesture;
    if (!gesture) return;
    if (!gesture.writesLive) {
      gesture.move(at);
      return;
    }
    // A drag that edits the document sends an update per move: one per
    // frame is as smooth, and keeps a socket well inside the server's
    // message rate (RATE_WS_MSGS_PER_SEC) on fast pointers.
    this.pendingMove = at;
    if (this.moveFrame) return;
    this.moveFrame = requestAnimationFrame(() => {
      this.moveFrame = 0;
      if (this.pendingMove && this.gesture === gesture) gesture.move(this.pendingMove);
      this.pendingMove = null;
    });
  }

  private onPointerUp(e: PointerEvent, cancelled: boolean): void {
    this.pointers.delete(e.pointerId);
    if (this.pinch) {
      if (this.pointers.size === 0) this.pinch = null;
      return;
    }
    cancelAnimationFrame(this.moveFrame);
    this.moveFrame = 0;
    this.pendingMove = null;
    const gesture = this.gesture;
    this.gesture = null;
    if (!gesture) return;
    if (cancelled) gesture.cancel();
    else gesture.finish(this.at(e));
    this.undoManager.stopCapturing();
  }

  private pointerDistance(): number {
    const [a, b] = [...this.pointers.values()];
    return a && b ? Math.hypot(a[0] - b[0], a[1] - b[1]) : 0;
  }

  private pointerCentre(): [number, number] {
    const [a, b] = [...this.pointers.values()];
    return a && b ? [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] : [0, 0];
  }

  private onDoubleClick(e: MouseEvent): void {
    if (this.readOnly) return;
    const hit = this.shapeAt(e, this.viewport.toBoard(e.clientX, e.clientY));
    if (hit?.type === 'note') this.editNote(hit.id);
  }

  /** Lets the note's textarea take the pointer and the keyboard. */
  private editNote(id: string): void {
    const textarea = this.renderer.noteTextarea(id);
    if (!textarea || this.readOnly) return;
    this.stopEditingNote();
    this.editingNote = id;
    textarea.classList.add('editing');
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  private stopEditingNote(): void {
    if (!this.editingNote) return;
    const textarea = this.renderer.noteTextarea(this.editingNote);
    textarea?.classList.remove('editing');
    // The canvas's pointerdown keeps the focus where it was: hand the
    // keyboard back to the board (Delete, undo) explicitly.
    if (textarea && document.activeElement === textarea) textarea.blur();
    this.editingNote = null;
    this.undoManager.stopCapturing();
  }

  private onFocusOut(e: FocusEvent): void {
    if (e.target instanceof HTMLTextAreaElement && e.target.classList.contains('editing')) this.stopEditingNote();
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    if (e.ctrlKey || e.metaKey) {
      // Pinch on a trackpad arrives as a wheel with ctrlKey.
      this.viewport.zoomAt(Math.exp(-e.deltaY / 200), e.clientX, e.clientY);
    } else {
      this.viewport.panBy(-e.deltaX, -e.deltaY);
    }
  }

  private onKeyDown(e: KeyboardEvent): void {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    const mod = e.ctrlKey || e.metaKey;
    if (e.key === 'Escape') {
      this.stopEditingNote();
      (document.activeElement as HTMLElement | null)?.blur?.();
      this.select([]);
      return;
    }
    if (typing) return;
    if (mod && e.key.toLowerCase() === 'z') {
      e.preventDefault();
      if (e.shiftKey) this.redo();
      else this.undo();
    } else if (mod && e.key.toLowerCase() === 'y') {
      e.preventDefault();
      this.redo();
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      this.deleteSelection();
    }
  }
}
