/**
 * The REST data types, named once for application code.
 *
 * Every type here is an alias of a schema in the generated OpenAPI types
 * (`generated/openapi.ts`), so a change to the server's document shows up as a
 * compile error in code that uses it, never as silent drift.
 */
import type { components, operations } from './generated/openapi.js'

type Schemas = components['schemas']

/** An account as the server shows it: `{id, email, display_name, created_at}`. */
export type User = Schemas['UserResponse']
/** The answer to `register` and `login`: a bearer token and its user. */
export type AuthResponse = Schemas['AuthResponse']
/** The body of `register`. */
export type RegisterRequest = Schemas['RegisterRequest']
/** The body of `login`. */
export type LoginRequest = Schemas['LoginRequest']
/** A board with the caller's role on it. */
export type Board = Schemas['BoardResponse']
/** One page of boards and the total count. */
export type BoardList = Schemas['BoardList']
/** The caller's role on a board: `owner`, `editor` or `viewer`. */
export type Role = Schemas['Role']
/** A board member (the owner included). */
export type Member = Schemas['MemberResponse']
/** Every member of a board. */
export type MemberList = Schemas['MemberList']
/** The body of `putMember`: an email and the role to grant (`editor` or `viewer`). */
export type PutMemberRequest = Schemas['PutMemberRequest']
/** One audit log row. */
export type AuditEntry = Schemas['AuditEntryResponse']
/** One page of audit rows and the total count. */
export type AuditList = Schemas['AuditList']
/** The error envelope every 4xx/5xx carries: `{error: {code, message}}`. */
export type ErrorBody = Schemas['ErrorBody']
/** The inside of the error envelope. */
export type ErrorDetail = Schemas['ErrorDetail']
/** The answer of `/healthz`. */
export type Health = Schemas['HealthResponse']
/** The answer of `/readyz`. */
export type Readiness = Schemas['ReadyResponse']

/** `limit` and `offset` of the list routes. */
export type ListBoardsQuery = NonNullable<operations['list_boards']['parameters']['query']>
/** `limit` and `offset` of the audit route. */
export type ListAuditQuery = NonNullable<operations['list_audit']['parameters']['query']>

/** The board (or a version) as JSON: `{roots: {NAME: JSON}}`. */
export type Content = Schemas['ContentResponse']
/** `types` of the content routes: root kinds overriding the inference, e.g. `shapes:map,title:text`. */
export type ContentQuery = NonNullable<operations['get_board_content']['parameters']['query']>
/** A kept version of a board (without its content). */
export type Version = Schemas['VersionResponse']
/** How a version came to be: `auto`, `manual` or `pre_restore`. */
export type VersionKind = Schemas['VersionKind']
/** A user whose edits went into a version. */
export type VersionAuthor = Schemas['VersionAuthorResponse']
/** One page of versions and the total count. */
export type VersionList = Schemas['VersionList']
/** The body of `createVersion`: an optional label. */
export type CreateVersionRequest = Schemas['CreateVersionRequest']
/** What a restore did: the version restored and the `pre_restore` backup (restore it to undo). */
export type RestoreResult = Schemas['RestoreResponse']
/** `limit` and `offset` of the versions route. */
export type ListVersionsQuery = NonNullable<operations['list_versions']['parameters']['query']>
