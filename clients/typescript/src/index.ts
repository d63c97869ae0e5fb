/**
 * The canvas-server client: a typed REST client (`createClient`) and live
 * Yjs board connections (`client.openBoard`).
 */
export { CanvasClient, createClient } from './rest.js'
export type { CanvasClientOptions, RawClient } from './rest.js'
export { CanvasApiError } from './errors.js'
export type { ErrorCode } from './errors.js'
export { BoardConnection, openBoard } from './board.js'
export type { BoardEvents, BoardStatus, ConnectionEnd, OpenBoardOptions, WebSocketClass } from './board.js'
export type { Listener } from './emitter.js'
export type * from './types.js'
export type { components, paths, operations } from './generated/openapi.js'
export { SHAPES, SHAPE_TYPES, shapesOf } from './model.js'
export type { Point, PresenceState, ShapeFields, ShapeMap, ShapeType } from './model.js'
