/**
 * The board data model of the API contract ("Web app and board data model"),
 * shared by the web app and any other frontend drawing on the same boards.
 *
 * - `doc.getMap('shapes')`: shape id → `Y.Map` holding the fields of `ShapeFields`.
 * - Awareness: each client's state is a `PresenceState`.
 */
import type * as Y from 'yjs'

/** The name of the root map holding the shapes. */
export const SHAPES = 'shapes'

/** The kinds of shape the model defines. */
export type ShapeType = 'rect' | 'ellipse' | 'line' | 'stroke' | 'note'

/** The kinds of shape, in a list (for validation and tool bars). */
export const SHAPE_TYPES: readonly ShapeType[] = ['rect', 'ellipse', 'line', 'stroke', 'note']

/** A point `[x, y]`, relative to the shape's `x, y` in `points`. */
export type Point = [x: number, y: number]

/**
 * The fields of one shape's `Y.Map`. Numbers are board units; `z` orders the
 * stacking; `points` is set for `line` and `stroke`, `text` (a `Y.Text`) for `note`.
 */
export interface ShapeFields {
  type: ShapeType
  x: number
  y: number
  w: number
  h: number
  /** A CSS color. */
  color: string
  /** Stacking order: higher is drawn later (on top). */
  z: number
  points?: Point[]
  text?: Y.Text
}

/** One shape's map: a `Y.Map` whose keys are the fields of `ShapeFields`. */
export type ShapeMap = Y.Map<ShapeFields[keyof ShapeFields]>

/** The board's shapes: `doc.getMap('shapes')`. */
export function shapesOf (doc: Y.Doc): Y.Map<ShapeMap> {
  return doc.getMap<ShapeMap>(SHAPES)
}

/** The awareness state of one client: who, where the pointer is, what is selected. */
export interface PresenceState {
  /** The account's id and display name, and the colour its cursor is drawn in. */
  user: { id: string, name: string, color: string }
  /** The pointer in board units, or `null` when it is off the board. */
  cursor: { x: number, y: number } | null
  /** The ids of the selected shapes. */
  selection: string[]
}
