// Compile-time checks of the exported API, run by `npm test` through
// `tsc -p tests/tsconfig.json` (never executed): results carry the generated
// types, and a wrong request does not compile.

import * as Y from 'yjs'
import {
  CanvasApiError, createClient,
  type Board, type BoardConnection, type Content, type Version, type VersionKind, type BoardStatus, type ConnectionEnd, type components, type Role, type User
} from '../src/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T extends true> (_proof?: T): void {}

export async function usage (): Promise<void> {
  const client = createClient({ baseUrl: 'http://127.0.0.1:3000' })
  const auth = await client.login({ email: 'a@example.com', password: 'password123' })
  expectType<Equal<typeof auth.user, User>>()
  expectType<Equal<User, components['schemas']['UserResponse']>>()

  const board = await client.createBoard({ name: 'Plans' })
  expectType<Equal<typeof board, Board>>()
  expectType<Equal<typeof board.role, Role>>()
  expectType<Equal<Role, 'owner' | 'editor' | 'viewer'>>()
  const page = await client.listBoards({ limit: 10, offset: 0 })
  expectType<Equal<typeof page.items, Board[]>>()
  const state = await client.getState(board.id)
  expectType<Equal<typeof state, Uint8Array>>()

  const version = await client.createVersion(board.id, { label: 'v1' })
  expectType<Equal<typeof version, Version>>()
  expectType<Equal<VersionKind, 'auto' | 'manual' | 'pre_restore'>>()
  const restore = await client.restoreVersion(board.id, version.id)
  expectType<Equal<typeof restore.backup, Version>>()
  const content: Content = await client.getVersionContent(board.id, version.id, { types: 'shapes:map' })
  void content

  // @ts-expect-error: the body needs a name
  await client.createBoard({})
  // @ts-expect-error: register needs a password
  await client.register({ email: 'a@example.com' })
  // @ts-expect-error: limit is a number
  await client.listBoards({ limit: '10' })

  try {
    await client.me()
  } catch (error) {
    if (error instanceof CanvasApiError) {
      const status: number = error.status
      const code: string = error.code
      void status; void code
    }
  }

  const connection: BoardConnection = client.openBoard(board.id)
  const status: BoardStatus = connection.status
  void status
  const doc: Y.Doc = connection.doc
  void doc
  connection.on('access-lost', (end: ConnectionEnd) => { void end.closeCode })
  connection.on('status', (next) => { expectType<Equal<typeof next, BoardStatus>>() })
  // @ts-expect-error: not an event of a board connection
  connection.on('no-such-event', () => {})
  connection.destroy()
}
