/**
 * What a pointer drag does, one small class per kind of drag: drawing a box
 * (rectangle, ellipse, note), a line, a freehand stroke, moving or resizing
 * the selection, panning. The editor starts one on `pointerdown`, feeds it
 * every move, and finishes it on `pointerup`.
 */
import * as Y from 'yjs';

import { s, setAttrs } from '../dom';
import {
  addShape,
  boxFromCorners,
  pathFromAbsolute,
  resizePatch,
  round,
  updateShapes,
  type Box,
  type Point,
  type Shape,
  type ShapePatch,
  type ShapeType,
} from './model';
import { pointsAttr } from './render';

/** A point in board units and in screen pixels. */
export interface PointerAt {
  board: [number, number];
  client: [number, number];
}

/** What a gesture may ask of the editor. */
export interface GestureHost {
  doc: Y.Doc;
  color: string;
  draft: SVGGElement;
  zoom(): number;
  panBy(dx: number, dy: number): void;
  /** Told of each new shape (a new note is opened for typing). */
  created(id: string, type: ShapeType): void;
}

export interface Gesture {
  /** Whether each move changes the shared document (and so sends an update). */
  readonly writesLive?: boolean;
  move(at: PointerAt): void;
  finish(at: PointerAt): void;
  cancel(): void;
}

/** A click without a drag makes a shape of this size (board units). */
const DEFAULT_SIZE: Record<'rect' | 'ellipse' | 'note', [number, number]> = {
  rect: [120, 80],
  ellipse: [120, 80],
  note: [180, 140],
};

/** Drags shorter than this many screen pixels count as clicks. */
const CLICK_SLOP = 4;

/** Draws a rectangle, an ellipse or a note from corner to corner. */
export class BoxGesture implements Gesture {
  private readonly preview: SVGElement;

  constructor(
    private readonly host: GestureHost,
    private readonly type: 'rect' | 'ellipse' | 'note',
    private readonly start: PointerAt,
  ) {
    this.preview = s(type === 'ellipse' ? 'ellipse' : 'rect', {
      'data-testid': 'draft',
      fill: host.color,
      'fill-opacity': 0.1,
      stroke: host.color,
      'stroke-dasharray': '4 3',
      'vector-effect': 'non-scaling-stroke',
    });
    host.draft.append(this.preview);
  }

  private box(at: PointerAt): Box {
    const dragged = Math.hypot(at.client[0] - this.start.client[0], at.client[1] - this.start.client[1]);
    if (dragged < CLICK_SLOP) {
      const [w, h] = DEFAULT_SIZE[this.type];
      return { x: this.start.board[0], y: this.start.board[1], w, h };
    }
    return boxFromCorners(this.start.board[0], this.start.board[1], at.board[0], at.board[1]);
  }

  move(at: PointerAt): void {
    const b = this.box(at);
    if (this.type === 'ellipse') {
      setAttrs(this.preview, { cx: b.x + b.w / 2, cy: b.y + b.h / 2, rx: b.w / 2, ry: b.h / 2 });
    } else {
      setAttrs(this.preview, { x: b.x, y: b.y, width: b.w, height: b.h });
    }
  }

  finish(at: PointerAt): void {
    this.preview.remove();
    const b = this.box(at);
    const color = this.type === 'note' && this.host.color === '#1e1e1e' ? '#fab005' : this.host.color;
    const id = addShape(this.host.doc, {
      type: this.type,
      x: round(b.x),
      y: round(b.y),
      w: round(Math.max(b.w, 1)),
      h: round(Math.max(b.h, 1)),
      color,
    });
    this.host.created(id, this.type);
  }

  cancel(): void {
    this.preview.remove();
  }
}

/** Draws a straight line or a freehand stroke. */
export class PathGesture implements Gesture {
  private readonly points: Point[];
  private readonly preview: SVGPolylineElement;

  constructor(
    private readonly host: GestureHost,
    private readonly type: 'line' | 'stroke',
    start: PointerAt,
  ) {
    this.points = [start.board, start.board];
    this.preview = s('polyline', {
      'data-testid': 'draft',
      fill: 'none',
      stroke: host.color,
      'stroke-width': 2,
      'stroke-linecap': 'round',
      'stroke-linejoin': 'round',
      'vector-effect': 'non-scaling-stroke',
    });
    host.draft.append(this.preview);
  }

  move(at: PointerAt): void {
    if (this.type === 'line') {
      this.points[1] = at.board;
    } else {
      // Skip points closer than a pixel on screen: they add bytes, not shape.
      const last = this.points[this.points.length - 1] ?? at.board;
      const far = Math.hypot(at.board[0] - last[0], at.board[1] - last[1]) * this.host.zoom() >= 1.5;
      if (far) this.points.push(at.board);
    }
    setAttrs(this.preview, { points: pointsAttr({ x: 0, y: 0 }, this.points) });
  }

  finish(at: PointerAt): void {
    this.move(at);
    this.preview.remove();
    const path = pathFromAbsolute(this.points);
    if (path.w === 0 && path.h === 0) return;
    const id = addShape(this.host.doc, { type: this.type, ...path, color: this.host.color });
    this.host.created(id, this.type);
  }

  cancel(): void {
    this.preview.remove();
  }
}

/** Moves the selected shapes with the pointer, live for everyone. */
export class MoveGesture implements Gesture {
  readonly writesLive = true;

  constructor(
    private readonly host: GestureHost,
    private readonly start: PointerAt,
    private readonly shapes: Shape[],
  ) {}

  move(at: PointerAt): void {
    const dx = at.board[0] - this.start.board[0];
    const dy = at.board[1] - this.start.board[1];
    const patches = new Map<string, ShapePatch>();
    for (const shape of this.shapes) patches.set(shape.id, { x: round(shape.x + dx), y: round(shape.y + dy) });
    updateShapes(this.host.doc, patches);
  }

  finish(at: PointerAt): void {
    this.move(at);
  }

  cancel(): void {
    this.move(this.start);
  }
}

/** Which corner of the selection box a resize handle sits on. */
export type Corner = 'nw' | 'ne' | 'sw' | 'se';

/** Resizes one shape by a corner; the opposite corner stays put. */
export class ResizeGesture implements Gesture {
  readonly writesLive = true;
  private readonly anchor: [number, number];

  constructor(
    private readonly host: GestureHost,
    private readonly shape: Shape,
    corner: Corner,
  ) {
    this.anchor = [
      corner.endsWith('w') ? shape.x + shape.w : shape.x,
      corner.startsWith('n') ? shape.y + shape.h : shape.y,
    ];
  }

  move(at: PointerAt): void {
    const box = boxFromCorners(this.anchor[0], this.anchor[1], at.board[0], at.board[1]);
    updateShapes(this.host.doc, new Map([[this.shape.id, resizePatch(this.shape, box)]]));
  }

  finish(at: PointerAt): void {
    this.move(at);
  }

  cancel(): void {
    updateShapes(this.host.doc, new Map([[this.shape.id, resizePatch(this.shape, this.shape)]]));
  }
}

/** Moves the view with the pointer. */
export class PanGesture implements Gesture {
  private last: [number, number];

  constructor(
    private readonly host: GestureHost,
    start: PointerAt,
  ) {
    this.last = start.client;
  }

  move(at: PointerAt): void {
    this.host.panBy(at.client[0] - this.last[0], at.client[1] - this.last[1]);
    this.last = at.client;
  }

  finish(at: PointerAt): void {
    this.move(at);
  }

  cancel(): void {}
}
