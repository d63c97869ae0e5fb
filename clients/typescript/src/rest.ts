/**
 * The REST client: one method per route of the contract, typed by the
 * generated OpenAPI types and called through openapi-fetch.
 *
 * Methods resolve with the response body and reject with `CanvasApiError` for
 * any 4xx/5xx answer; a network failure rejects with the error `fetch` threw.
 */
import createFetchClient, { type Client } from 'openapi-fetch'
import type { paths } from './generated/openapi.js'
import { CanvasApiError } from './errors.js'
import { openBoard, type BoardConnection, type OpenBoardOptions } from './board.js'
import type {
  AuditList, AuthResponse, Board, BoardList, Content, ContentQuery, CreateVersionRequest, Health,
  ListAuditQuery, ListBoardsQuery, ListVersionsQuery, LoginRequest, Member, MemberList,
  PutMemberRequest, Readiness, RegisterRequest, RestoreResult, User, Version, VersionList
} from './types.js'

/** Options of `createClient`. */
export interface CanvasClientOptions {
  /**
   * The server's origin (and path prefix, if it is served under one), e.g.
   * `http://127.0.0.1:3000`. Defaults to the page's origin in a browser.
   */
  baseUrl?: string
  /** A bearer token to start with (e.g. one kept from an earlier login). */
  token?: string | null
  /** A `fetch` to use instead of the global one. */
  fetch?: (input: Request) => Promise<Response>
}

/** The raw openapi-fetch client, for a route this class does not wrap yet. */
export type RawClient = Client<paths>

/** Whatever openapi-fetch resolves with: the parsed body or error and the response. */
interface FetchResult<T> {
  data?: T
  error?: unknown
  response: Response
}

/** Resolves with the body of a successful answer, or throws `CanvasApiError`. */
async function body<T> (call: Promise<FetchResult<T>>): Promise<T> {
  const { data, error, response } = await call
  if (!response.ok) throw CanvasApiError.fromResponse(response, error)
  return data as T
}

/** Resolves when the answer succeeded (a `204`), or throws `CanvasApiError`. */
async function done (call: Promise<FetchResult<unknown>>): Promise<void> {
  await body(call)
}

/** A typed client for one canvas-server. Create it with `createClient`. */
export class CanvasClient {
  /** The server's origin and path prefix, without a trailing slash. */
  readonly baseUrl: string
  /** The openapi-fetch client underneath; it sends the current token too. */
  readonly raw: RawClient
  #token: string | null
  readonly #tokenListeners = new Set<(token: string | null) => void>()

  constructor (options: CanvasClientOptions = {}) {
    const baseUrl = options.baseUrl ?? globalThis.location?.origin
    if (baseUrl === undefined) {
      throw new TypeError('createClient: baseUrl is required outside a browser page')
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.#token = options.token ?? null
    this.raw = createFetchClient<paths>({ baseUrl: this.baseUrl, fetch: options.fetch })
    this.raw.use({
      onRequest: ({ request }) => {
        if (this.#token !== null) request.headers.set('authorization', `Bearer ${this.#token}`)
        return request
      }
    })
  }

  /** The bearer token sent with every request, or `null` when logged out. */
  get token (): string | null {
    return this.#token
  }

  /**
   * Replaces the token (`null` logs out). Open board connections use the new
   * token from their next connection attempt on.
   */
  setToken (token: string | null): void {
    this.#token = token
    for (const listener of this.#tokenListeners) listener(token)
  }

  /** Calls `listener` whenever `setToken` changes the token; returns the unsubscribe. */
  onTokenChange (listener: (token: string | null) => void): () => void {
    this.#tokenListeners.add(listener)
    return () => { this.#tokenListeners.delete(listener) }
  }

  /**
   * The `serverUrl` the y-websocket provider takes: `ws(s)://HOST/api/v1/boards`.
   * The room name is `${boardId}/sync`.
   */
  get syncServerUrl (): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/api/v1/boards`
  }

  // --- accounts -----------------------------------------------------------

  /** `POST /auth/register`: creates an account and keeps its token in this client. */
  async register (request: RegisterRequest): Promise<AuthResponse> {
    const auth = await body(this.raw.POST('/api/v1/auth/register', { body: request }))
    this.setToken(auth.token)
    return auth
  }

  /** `POST /auth/login`: logs in and keeps the token in this client. */
  async login (request: LoginRequest): Promise<AuthResponse> {
    const auth = await body(this.raw.POST('/api/v1/auth/login', { body: request }))
    this.setToken(auth.token)
    return auth
  }

  /** `GET /me`: the logged-in account. */
  async me (): Promise<User> {
    return await body(this.raw.GET('/api/v1/me'))
  }

  /** `DELETE /me`: deletes the account and everything it owns; forgets the token. */
  async deleteMe (): Promise<void> {
    await done(this.raw.DELETE('/api/v1/me'))
    this.setToken(null)
  }

  // --- boards -------------------------------------------------------------

  /** `GET /boards`: boards owned by or shared with the caller, newest first. */
  async listBoards (query: ListBoardsQuery = {}): Promise<BoardList> {
    return await body(this.raw.GET('/api/v1/boards', { params: { query } }))
  }

  /** `POST /boards`: creates a board owned by the caller. */
  async createBoard (request: { name: string }): Promise<Board> {
    return await body(this.raw.POST('/api/v1/boards', { body: request }))
  }

  /** `GET /boards/{id}`: one board, with the caller's role. */
  async getBoard (boardId: string): Promise<Board> {
    return await body(this.raw.GET('/api/v1/boards/{id}', { params: { path: { id: boardId } } }))
  }

  /** `PATCH /boards/{id}`: renames a board (owner or editor). */
  async renameBoard (boardId: string, request: { name: string }): Promise<Board> {
    return await body(this.raw.PATCH('/api/v1/boards/{id}', {
      params: { path: { id: boardId } },
      body: request
    }))
  }

  /** `DELETE /boards/{id}`: deletes a board (owner); its live sockets close with `4404`. */
  async deleteBoard (boardId: string): Promise<void> {
    await done(this.raw.DELETE('/api/v1/boards/{id}', { params: { path: { id: boardId } } }))
  }

  // --- members ------------------------------------------------------------

  /** `GET /boards/{id}/members`: every member, the owner included. */
  async listMembers (boardId: string): Promise<MemberList> {
    return await body(this.raw.GET('/api/v1/boards/{id}/members', { params: { path: { id: boardId } } }))
  }

  /** `PUT /boards/{id}/members`: shares a board by email as `editor` or `viewer` (owner). */
  async putMember (boardId: string, request: PutMemberRequest): Promise<Member> {
    return await body(this.raw.PUT('/api/v1/boards/{id}/members', {
      params: { path: { id: boardId } },
      body: request
    }))
  }

  /** `DELETE /boards/{id}/members/{user_id}`: removes a member (owner); their sockets close with `4403`. */
  async removeMember (boardId: string, userId: string): Promise<void> {
    await done(this.raw.DELETE('/api/v1/boards/{id}/members/{user_id}', {
      params: { path: { id: boardId, user_id: userId } }
    }))
  }

  // --- audit --------------------------------------------------------------

  /** `GET /boards/{id}/audit`: the board's audit log, newest first. */
  async listAudit (boardId: string, query: ListAuditQuery = {}): Promise<AuditList> {
    return await body(this.raw.GET('/api/v1/boards/{id}/audit', {
      params: { path: { id: boardId }, query }
    }))
  }

  // --- content ---------------------------------------------------------------

  /** `GET /boards/{id}/state`: the board's whole content as one Yjs v1 update. */
  async getState (boardId: string): Promise<Uint8Array> {
    const data = await body(this.raw.GET('/api/v1/boards/{id}/state', {
      params: { path: { id: boardId } },
      parseAs: 'arrayBuffer'
    }))
    return new Uint8Array(data)
  }

  /** `POST /boards/{id}/updates`: applies one Yjs v1 update to the board (owner or editor). */
  async postUpdate (boardId: string, update: Uint8Array): Promise<void> {
    await done(this.raw.POST('/api/v1/boards/{id}/updates', {
      params: { path: { id: boardId } },
      // The document describes the octet-stream body as a byte array; the bytes
      // are sent as they are.
      body: update as unknown as number[],
      bodySerializer: (bytes) => bytes,
      headers: { 'content-type': 'application/octet-stream' }
    }))
  }

  /** `GET /boards/{id}/content`: the board as JSON, `{roots: {NAME: JSON}}`. */
  async getContent (boardId: string, query: ContentQuery = {}): Promise<Content> {
    return await body(this.raw.GET('/api/v1/boards/{id}/content', {
      params: { path: { id: boardId }, query }
    }))
  }

  // --- versions -------------------------------------------------------------

  /** `GET /boards/{id}/versions`: the board's versions, newest first. */
  async listVersions (boardId: string, query: ListVersionsQuery = {}): Promise<VersionList> {
    return await body(this.raw.GET('/api/v1/boards/{id}/versions', {
      params: { path: { id: boardId }, query }
    }))
  }

  /** `POST /boards/{id}/versions`: a manual version of the current state (owner or editor). */
  async createVersion (boardId: string, request: CreateVersionRequest = {}): Promise<Version> {
    return await body(this.raw.POST('/api/v1/boards/{id}/versions', {
      params: { path: { id: boardId } },
      body: request
    }))
  }

  /** `GET /boards/{id}/versions/{vid}`: one version (without its content). */
  async getVersion (boardId: string, versionId: string): Promise<Version> {
    return await body(this.raw.GET('/api/v1/boards/{id}/versions/{vid}', {
      params: { path: { id: boardId, vid: versionId } }
    }))
  }

  /** `GET /boards/{id}/versions/{vid}/state`: the version as one Yjs v1 update. */
  async getVersionState (boardId: string, versionId: string): Promise<Uint8Array> {
    const data = await body(this.raw.GET('/api/v1/boards/{id}/versions/{vid}/state', {
      params: { path: { id: boardId, vid: versionId } },
      parseAs: 'arrayBuffer'
    }))
    return new Uint8Array(data)
  }

  /** `GET /boards/{id}/versions/{vid}/content`: the version as JSON, like `getContent`. */
  async getVersionContent (boardId: string, versionId: string, query: ContentQuery = {}): Promise<Content> {
    return await body(this.raw.GET('/api/v1/boards/{id}/versions/{vid}/content', {
      params: { path: { id: boardId, vid: versionId }, query }
    }))
  }

  /**
   * `POST /boards/{id}/versions/{vid}/restore`: makes the live board equal to the
   * version (owner or editor); open connections converge without reloading.
   */
  async restoreVersion (boardId: string, versionId: string): Promise<RestoreResult> {
    return await body(this.raw.POST('/api/v1/boards/{id}/versions/{vid}/restore', {
      params: { path: { id: boardId, vid: versionId } }
    }))
  }

  /** `DELETE /boards/{id}/versions/{vid}`: deletes a version (owner). */
  async deleteVersion (boardId: string, versionId: string): Promise<void> {
    await done(this.raw.DELETE('/api/v1/boards/{id}/versions/{vid}', {
      params: { path: { id: boardId, vid: versionId } }
    }))
  }

  // --- process --------------------------------------------------------------

  /** `GET /healthz`: liveness. */
  async health (): Promise<Health> {
    return await body(this.raw.GET('/healthz'))
  }

  /** `GET /readyz`: readiness; rejects with status `503` while not ready. */
  async ready (): Promise<Readiness> {
    return await body(this.raw.GET('/readyz'))
  }

  // --- live boards ----------------------------------------------------------

  /**
   * Opens a live Yjs connection to a board with this client's token; see
   * `BoardConnection` for its status and events.
   */
  openBoard (boardId: string, options: OpenBoardOptions = {}): BoardConnection {
    return openBoard(this, boardId, options)
  }
}

/** Creates a client for one server. */
export function createClient (options: CanvasClientOptions = {}): CanvasClient {
  return new CanvasClient(options)
}
