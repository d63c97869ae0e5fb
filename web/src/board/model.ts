/**
 * The board data model shared by every frontend of canvas-server (see the
 * contract's "Web app and board data model"): `doc.getMap('shapes')` maps a
 * shape id to a `Y.Map` with `type`, `x`, `y`, `w`, `h`, `color`, `z`, and
 * `points` (lines and strokes) or `text` (notes).
 *
 * Every change the user makes goes through these functions inside a
 * transaction with {@link LOCAL_ORIGIN}, which is what the undo manager tracks:
 * remote changes arrive with the provider as origin and are never undone here.
 */
import * as Y from 'yjs';

import { SHAPE_TYPES, shapesOf, type Point, type ShapeFields, type ShapeType } from '../../../clients/typescript/src/index';

export { SHAPE_TYPES, shapesOf };
export type { Point, ShapeType };

/** A plain snapshot of one shape, read from its `Y.Map`. */
export interface Shape {
  id: string;
  type: ShapeType;
  x: number;
  y: number;
  w: number;
  h: number;
  color: string;
  z: number;
  points: Point[];
  /** The note's text (notes only; `null` for other shapes). */
  text: Y.Text | null;
}

/** The origin of every transaction this page makes (tracked by undo). */
export const LOCAL_ORIGIN = Symbol('local-user');

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function readPoints(value: unknown): Point[] {
  if (!Array.isArray(value)) return [];
  const points: Point[] = [];
  for (const p of value) {
    if (Array.isArray(p) && p.length >= 2) points.push([num(p[0]), num(p[1])]);
  }
  return points;
}

/**
 * Reads one shape, or `null` when the entry is not a shape this app can
 * draw (another frontend may store things we do not know; they are kept,
 * just not shown).
 */
export function readShape(id: string, map: unknown): Shape | null {
  if (!(map instanceof Y.Map)) return null;
  const type = map.get('type');
  if (typeof type !== 'string' || !(SHAPE_TYPES as readonly string[]).includes(type)) return null;
  const text = map.get('text');
  const color = map.get('color');
  return {
    id,
    type: type as ShapeType,
    x: num(map.get('x')),
    y: num(map.get('y')),
    w: num(map.get('w')),
    h: num(map.get('h')),
    color: typeof color === 'string' ? color : '#1e1e1e',
    z: num(map.get('z')),
    points: readPoints(map.get('points')),
    text: text instanceof Y.Text ? text : null,
  };
}

/** Every drawable shape, bottom first (by `z`, ties by id so every page agrees). */
export function allShapes(doc: Y.Doc): Shape[] {
  const shapes: Shape[] = [];
  shapesOf(doc).forEach((map, id) => {
    const shape = readShape(id, map);
    if (shape) shapes.push(shape);
  });
  return shapes.sort((a, b) => a.z - b.z || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The stacking order for a new shape: above everything there is. */
export function nextZ(doc: Y.Doc): number {
  let top = 0;
  shapesOf(doc).forEach((map) => {
    if (map instanceof Y.Map) top = Math.max(top, num(map.get('z')));
  });
  return top + 1;
}

/** What a new shape is made of. */
export interface NewShape {
  type: ShapeType;
  x: number;
  y: number;
  w: number;
  h: number;
  color: string;
  points?: Point[];
  text?: string;
}

/** A fresh shape id (random, so pages never collide). */
export function newShapeId(): string {
  return crypto.randomUUID();
}

/** Adds a shape on top of the others; returns its id. */
export function addShape(doc: Y.Doc, shape: NewShape, id: string = newShapeId()): string {
  doc.transact(() => {
    const map = new Y.Map<ShapeFields[keyof ShapeFields]>();
    map.set('type', shape.type);
    map.set('x', shape.x);
    map.set('y', shape.y);
    map.set('w', shape.w);
    map.set('h', shape.h);
    map.set('color', shape.color);
    map.set('z', nextZ(doc));
    if (shape.type === 'line' || shape.type === 'stroke') map.set('points', shape.points ?? []);
    if (shape.type === 'note') map.set('text', new Y.Text(shape.text ?? ''));
    shapesOf(doc).set(id, map);
  }, LOCAL_ORIGIN);
  return id;
}

/** The fields of a shape that may be changed in place. */
export type ShapePatch = Partial<Pick<Shape, 'x' | 'y' | 'w' | 'h' | 'color' | 'points'>>;

/** Changes fields of several shapes in one undoable step. */
export function updateShapes(doc: Y.Doc, patches: Map<string, ShapePatch>): void {
  doc.transact(() => {
    const shapes = shapesOf(doc);
    for (const [id, patch] of patches) {
      const map = shapes.get(id);
      if (!(map instanceof Y.Map)) continue;
      for (const [key, value] of Object.entries(patch)) {
        if (value !== undefined && map.get(key) !== value) map.set(key, value);
      }
    }
  }, LOCAL_ORIGIN);
}

/** Removes shapes in one undoable step. */
export function deleteShapes(doc: Y.Doc, ids: Iterable<string>): void {
  doc.transact(() => {
    const shapes = shapesOf(doc);
    for (const id of ids) shapes.delete(id);
  }, LOCAL_ORIGIN);
}

/** An axis-aligned box in board units. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The box spanned by two corners, whichever way the drag went. */
export function boxFromCorners(ax: number, ay: number, bx: number, by: number): Box {
  return { x: Math.min(ax, bx), y: Math.min(ay, by), w: Math.abs(bx - ax), h: Math.abs(by - ay) };
}

/**
 * A line or stroke from absolute points: `x, y` its bounding box's corner,
 * `points` relative to it, `w, h` the box's size.
 */
export function pathFromAbsolute(points: Point[]): Box & { points: Point[] } {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return {
    x,
    y,
    w: Math.max(...xs) - x,
    h: Math.max(...ys) - y,
    points: points.map(([px, py]) => [round(px - x), round(py - y)]),
  };
}

/** Board units are kept to two decimals: enough for drawing, short to store. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * A shape fitted into a new box: lines and strokes scale their points with
 * the box (a zero-sized side keeps its points where they are).
 */
export function resizePatch(shape: Shape, box: Box): ShapePatch {
  const patch: ShapePatch = { x: round(box.x), y: round(box.y), w: round(box.w), h: round(box.h) };
  if (shape.type === 'line' || shape.type === 'stroke') {
    const sx = shape.w > 0 ? box.w / shape.w : 1;
    const sy = shape.h > 0 ? box.h / shape.h : 1;
    patch.points = shape.points.map(([px, py]) => [round(px * sx), round(py * sy)]);
  }
  return patch;
}

/** Whether a board point lies on a shape (its box, with some slack for thin lines). */
export function hitTest(shape: Shape, px: number, py: number, slack: number): boolean {
  return (
    px >= shape.x - slack &&
    px <= shape.x + shape.w + slack &&
    py >= shape.y - slack &&
    py <= shape.y + shape.h + slack
  );
}
