// The REST wrappers against a real server: typed data back, and every error
// answer as a CanvasApiError with the contract's code and the HTTP status.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { CanvasApiError, createClient } from '../dist/index.js'
import { PASSWORD, registeredClient, startServer, stopServer, tempDatabase } from './harness.mjs'

let server
let db

before(async () => {
  db = tempDatabase()
  server = await startServer({ dbPath: db.path })
})

after(async () => {
  if (server) await stopServer(server)
  db?.remove()
})

/** Runs `call` and returns the CanvasApiError it must reject with. */
async function apiError (call) {
  try {
    await call()
  } catch (error) {
    assert.ok(error instanceof CanvasApiError, `expected a CanvasApiError, got ${error}`)
    return error
  }
  assert.fail('the call succeeded')
}

test('register, login and me return the account and keep the token', async () => {
  const client = createClient({ baseUrl: server.baseUrl })
  assert.equal(client.token, null)
  const registered = await client.register({ email: '  Reg@Example.com ', password: PASSWORD, display_name: 'Reg' })
  assert.equal(registered.user.email, 'reg@example.com')
  assert.equal(client.token, registered.token)

  const other = createClient({ baseUrl: server.baseUrl })
  const login = await other.login({ email: 'reg@example.com', password: PASSWORD })
  assert.equal(login.user.id, registered.user.id)
  const me = await other.me()
  assert.deepEqual(me, registered.user)

  // A token set by hand is used too.
  const third = createClient({ baseUrl: server.baseUrl })
  third.setToken(login.token)
  assert.equal((await third.me()).id, registered.user.id)
})

test('boards, members, audit and state round-trip with typed data', async () => {
  const { client: owner, user: ownerUser } = await registeredClient(server, 'owner-rt')
  const { client: guest, user: guestUser, email: guestEmail } = await registeredClient(server, 'guest-rt')

  const board = await owner.createBoard({ name: '  Plans  ' })
  assert.equal(board.name, 'Plans')
  assert.equal(board.owner_id, ownerUser.id)
  assert.equal(board.role, 'owner')
  assert.deepEqual(await owner.getBoard(board.id), board)

  const renamed = await owner.renameBoard(board.id, { name: 'Plans v2' })
  assert.equal(renamed.name, 'Plans v2')

  const member = await owner.putMember(board.id, { email: guestEmail, role: 'editor' })
  assert.deepEqual(member, { user_id: guestUser.id, email: guestEmail, display_name: 'guest-rt', role: 'editor' })
  const members = await guest.listMembers(board.id)
  assert.deepEqual(members.items.map(m => m.role).sort(), ['editor', 'owner'])
  assert.equal((await guest.getBoard(board.id)).role, 'editor')

  const list = await guest.listBoards({ limit: 10 })
  assert.equal(list.total, 1)
  assert.equal(list.items[0].id, board.id)

  // A Yjs update in, the same content out.
  const doc = new Y.Doc()
  doc.getMap('shapes').set('s1', 'rect')
  await guest.postUpdate(board.id, Y.encodeStateAsUpdate(doc))
  const state = await owner.getState(board.id)
  assert.ok(state instanceof Uint8Array)
  const copy = new Y.Doc()
  Y.applyUpdate(copy, state)
  assert.equal(copy.getMap('shapes').get('s1'), 'rect')

  const audit = await owner.listAudit(board.id, { limit: 50 })
  const actions = audit.items.map(entry => entry.action)
  for (const action of ['board.created', 'board.renamed', 'member.added']) assert.ok(actions.includes(action), action)
  assert.equal(audit.total, audit.items.length)

  await owner.removeMember(board.id, guestUser.id)
  const gone = await apiError(() => guest.getBoard(board.id))
  assert.equal(gone.status, 404)

  await owner.deleteBoard(board.id)
  assert.equal((await owner.listBoards()).total, 0)
})

test('errors carry the contract code, the message and the HTTP status', async () => {
  const anonymous = createClient({ baseUrl: server.baseUrl })

  const invalid = await apiError(() => anonymous.register({ email: 'short@example.com', password: 'short' }))
  assert.equal(invalid.status, 422)
  assert.equal(invalid.code, 'validation_failed')
  assert.ok(invalid.message.length > 0)

  const unauthorized = await apiError(() => anonymous.me())
  assert.equal(unauthorized.status, 401)
  assert.equal(unauthorized.code, 'unauthorized')

  const wrongPassword = await apiError(() => anonymous.login({ email: 'nobody@example.com', password: 'password123' }))
  assert.equal(wrongPassword.status, 401)
  assert.equal(anonymous.token, null, 'a failed login keeps no token')

  const { client } = await registeredClient(server, 'errors')
  const missing = await apiError(() => client.getBoard('00000000-0000-4000-8000-000000000000'))
  assert.equal(missing.status, 404)
  assert.equal(missing.code, 'not_found')

  const duplicate = await apiError(() => anonymous.register({ email: 'errors@example.com', password: PASSWORD }))
  assert.equal(duplicate.status, 409)
  assert.equal(duplicate.code, 'conflict')

  const board = await client.createBoard({ name: 'Bytes' })
  const undecodable = await apiError(() => client.postUpdate(board.id, new Uint8Array([0xff, 0xff, 0xff])))
  assert.equal(undecodable.status, 400)
  assert.equal(undecodable.code, 'bad_request')
})

test('deleteMe removes the account and forgets the token', async () => {
  const { client, email } = await registeredClient(server, 'leaver')
  await client.deleteMe()
  assert.equal(client.token, null)
  const relogin = await apiError(() => createClient({ baseUrl: server.baseUrl }).login({ email, password: PASSWORD }))
  assert.equal(relogin.status, 401)
})

test('health and readiness answer', async () => {
  const client = createClient({ baseUrl: server.baseUrl })
  assert.deepEqual(await client.health(), { status: 'ok' })
  assert.deepEqual(await client.ready(), { status: 'ready' })
})
