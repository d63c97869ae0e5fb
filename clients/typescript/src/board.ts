/**
 * A live connection to one board: the stock y-websocket `WebsocketProvider`
 * pointed at the server's sync route, plus the connection state the contract
 * defines (which closes are final, and what a refused reconnect means).
 *
 * - Close `4403` (the caller's access was removed) and `4404` (the board was
 *   deleted) are final: the connection stops and says why.
 * - Every other close (`1013` slow client, `1008` rate limit, a restart, a
 *   network drop) reconnects with y-websocket's exponential backoff.
 * - A refused upgrade is invisible to a browser (a close `1006` that never
 *   opened), so after such an attempt the REST API is asked about the board:
 *   `401` means the token expired, `404` that access is gone; both stop.
 */
import * as Y from 'yjs'
import { WebsocketProvider, messageAuth } from 'y-websocket'
import { Awareness } from 'y-protocols/awareness'
import * as authProtocol from 'y-protocols/auth'
import { Emitter } from './emitter.js'
import { CanvasApiError } from './errors.js'
import type { CanvasClient } from './rest.js'

/**
 * Where a board connection stands.
 *
 * - `connecting`: the first attempt is under way.
 * - `connected`: the socket is open (see `synced` for the first full sync).
 * - `reconnecting`: the socket closed and y-websocket is retrying with backoff.
 * - `access-lost`: the caller is no longer a member (close `4403`, or `404` on reconnect). Final.
 * - `board-deleted`: the board was deleted (close `4404`). Final.
 * - `token-expired`: the server refused the token (`401` on reconnect). Final
 *   until `reconnect()` after a new login.
 * - `closed`: `disconnect()` or `destroy()` was called.
 */
export type BoardStatus =
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'access-lost'
  | 'board-deleted'
  | 'token-expired'
  | 'closed'

/** Why a connection stopped for good: a close code from the server or an HTTP status from the REST check. */
export interface ConnectionEnd {
  /** The WebSocket close code (`4403`, `4404`), when the server closed the socket. */
  closeCode?: number
  /** The HTTP status (`401`, `404`) of the REST check after a refused reconnect. */
  httpStatus?: number
  /** The close reason or the error message the server gave. */
  reason: string
}

/** The events of a `BoardConnection` and their arguments. */
export type BoardEvents = {
  /** The status changed. */
  status: [status: BoardStatus]
  /** The document finished (`true`) or lost (`false`) its sync with the server. */
  synced: [synced: boolean]
  /** The caller's access to the board was removed. */
  'access-lost': [end: ConnectionEnd]
  /** The board was deleted. */
  'board-deleted': [end: ConnectionEnd]
  /** The token is no longer accepted: log in again, then call `reconnect()`. */
  'token-expired': [end: ConnectionEnd]
  /** The server refused something (e.g. `read-only` for a viewer's edit); the socket stays open. */
  'permission-denied': [reason: string]
}

/** The WebSocket class y-websocket should use (the `ws` package in Node before 22). */
export type WebSocketClass = NonNullable<NonNullable<ConstructorParameters<typeof WebsocketProvider>[3]>['WebSocketPolyfill']>

/** Options of `openBoard`. */
export interface OpenBoardOptions {
  /** The document to sync; a new one by default (and then destroyed with the connection). */
  doc?: Y.Doc
  /** Connect at once (default `true`); otherwise call `reconnect()`. */
  connect?: boolean
  /** The WebSocket class; defaults to the global `WebSocket` (pass `ws` in Node 20). */
  WebSocketPolyfill?: WebSocketClass
  /** The longest wait between reconnect attempts in ms (y-websocket's default 2500). */
  maxBackoffTime?: number
  /**
   * Also sync with other tabs of the same origin over BroadcastChannel
   * (default `false`: the server is the only peer, so a tab whose access ends
   * stops receiving changes too).
   */
  broadcastChannel?: boolean
}

const FINAL: ReadonlySet<BoardStatus> = new Set(['access-lost', 'board-deleted', 'token-expired', 'closed'])

/** Close codes in 4400–4499 mirror HTTP 4xx: the server decided, retrying cannot help. */
function isFinalCloseCode (code: number): boolean {
  return code >= 4400 && code < 4500
}

/**
 * One live board: `doc` is synced with the server, `awareness` carries
 * presence (cursors, selections), `provider` is the stock y-websocket provider.
 * Listen with `on('status' | 'access-lost' | 'board-deleted' | 'token-expired' | …)`.
 */
export class BoardConnection extends Emitter<BoardEvents> {
  /** The board's id. */
  readonly boardId: string
  /** The shared document. */
  readonly doc: Y.Doc
  /** The awareness (presence) instance of this connection. */
  readonly awareness: Awareness
  /** The stock y-websocket provider underneath. */
  readonly provider: WebsocketProvider

  readonly #client: CanvasClient
  readonly #ownsDoc: boolean
  readonly #stopTokenWatch: () => void
  #status: BoardStatus
  #hasConnected = false
  #checkingAccess = false
  #destroyed = false

  constructor (client: CanvasClient, boardId: string, options: OpenBoardOptions = {}) {
    super()
    const WebSocketPolyfill = options.WebSocketPolyfill ?? globalThis.WebSocket
    if (WebSocketPolyfill === undefined) {
      throw new TypeError('openBoard: no global WebSocket here; pass WebSocketPolyfill (e.g. the ws package)')
    }
    this.#client = client
    this.boardId = boardId
    this.#ownsDoc = options.doc === undefined
    this.doc = options.doc ?? new Y.Doc()
    this.awareness = new Awareness(this.doc)
    this.provider = new WebsocketProvider(client.syncServerUrl, `${boardId}/sync`, this.doc, {
      connect: false,
      awareness: this.awareness,
      params: tokenParams(client.token),
      WebSocketPolyfill,
      disableBc: options.broadcastChannel !== true,
      shouldReconnect: (event) => !isFinalCloseCode(event.code),
      ...(options.maxBackoffTime !== undefined ? { maxBackoffTime: options.maxBackoffTime } : {})
    })
    // y-websocket only logs a permission-denied message; surface it as an event.
    this.provider.messageHandlers[messageAuth] = (_encoder, decoder) => {
      authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) => this.emit('permission-denied', reason))
    }
    this.provider.on('status', ({ status }) => this.#onProviderStatus(status))
    this.provider.on('connection-close', (event) => this.#onClose(event))
    this.provider.on('sync', (synced) => this.emit('synced', synced))
    this.#stopTokenWatch = client.onTokenChange((token) => { this.provider.params = tokenParams(token) })
    this.#status = 'closed'
    if (options.connect !== false) this.reconnect()
  }

  /** Where the connection stands now. */
  get status (): BoardStatus {
    return this.#status
  }

  /** Whether the document is in sync with the server right now. */
  get synced (): boolean {
    return this.provider.synced
  }

  /**
   * Resolves once the document has synced with the server; rejects if the
   * connection ends first (`access-lost`, `board-deleted`, `token-expired`,
   * `destroy()`).
   */
  whenSynced (): Promise<void> {
    if (this.provider.synced) return Promise.resolve()
    // `closed` after `disconnect()` may still be resumed; after `destroy()` it may not.
    const ended = (status: BoardStatus): boolean => status !== 'closed' ? FINAL.has(status) : this.#destroyed
    if (ended(this.#status)) return Promise.reject(new Error(`board connection ended: ${this.#status}`))
    return new Promise((resolve, reject) => {
      const stop = (): void => { offSynced(); offStatus() }
      const offSynced = this.on('synced', (synced) => {
        if (synced) { stop(); resolve() }
      })
      const offStatus = this.on('status', (status) => {
        if (ended(status)) { stop(); reject(new Error(`board connection ended: ${status}`)) }
      })
    })
  }

  /**
   * (Re)starts connecting with the client's current token: after `disconnect()`,
   * or after `token-expired` once the app logged in again.
   */
  reconnect (): void {
    if (this.#destroyed) throw new Error('the board connection was destroyed')
    this.provider.params = tokenParams(this.#client.token)
    this.provider.wsUnsuccessfulReconnects = 0
    this.#setStatus(this.#hasConnected ? 'reconnecting' : 'connecting')
    this.provider.connect()
  }

  /** Closes the socket and stops reconnecting; `reconnect()` resumes. */
  disconnect (): void {
    this.provider.disconnect()
    this.#setStatus('closed')
  }

  /**
   * Closes the socket for good and releases the provider and awareness (and
   * the document, when the connection created it).
   */
  destroy (): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#stopTokenWatch()
    this.provider.destroy()
    this.awareness.destroy()
    if (this.#ownsDoc) this.doc.destroy()
    this.#setStatus('closed')
    this.removeAllListeners()
  }

  #onProviderStatus (status: 'connected' | 'disconnected' | 'connecting'): void {
    if (status === 'connected') {
      this.#hasConnected = true
      this.#setStatus('connected')
    }
  }

  #onClose (event: CloseEvent | null): void {
    // `null`: closed on this side (disconnect, destroy, a silent socket), which
    // the caller already knows about or y-websocket retries by itself.
    if (event === null || FINAL.has(this.#status)) return
    if (event.code === 4404) return this.#end('board-deleted', { closeCode: event.code, reason: event.reason })
    if (isFinalCloseCode(event.code)) return this.#end('access-lost', { closeCode: event.code, reason: event.reason })
    // The provider still says whether this socket ever opened.
    const neverOpened = !this.provider.wsconnected
    this.#setStatus(this.#hasConnected ? 'reconnecting' : 'connecting')
    if (neverOpened) void this.#checkAccess()
  }

  /**
   * Asks the REST API why a connection attempt failed: `401` and `404` are
   * final, anything else (the server restarting, `429`, a network error) is
   * left to the backoff.
   */
  async #checkAccess (): Promise<void> {
    if (this.#checkingAccess) return
    this.#checkingAccess = true
    const token = this.#client.token
    try {
      await this.#client.getBoard(this.boardId)
    } catch (error) {
      // A newer token or state makes this answer stale.
      if (!(error instanceof CanvasApiError) || token !== this.#client.token) return
      if (this.#status === 'connected' || FINAL.has(this.#status)) return
      if (error.status === 401) this.#end('token-expired', { httpStatus: 401, reason: error.message })
      else if (error.status === 404) this.#end('access-lost', { httpStatus: 404, reason: error.message })
    } finally {
      this.#checkingAccess = false
    }
  }

  #end (status: 'access-lost' | 'board-deleted' | 'token-expired', end: ConnectionEnd): void {
    this.provider.disconnect()
    this.#setStatus(status)
    this.emit(status, end)
  }

  #setStatus (status: BoardStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.emit('status', status)
  }
}

/** The query parameters of the sync URL: the token, as the contract's `?token=`. */
function tokenParams (token: string | null): Record<string, string> {
  return token === null ? {} : { token }
}

/** Opens a live connection to `boardId` with `client`'s token. */
export function openBoard (client: CanvasClient, boardId: string, options: OpenBoardOptions = {}): BoardConnection {
  return new BoardConnection(client, boardId, options)
}
