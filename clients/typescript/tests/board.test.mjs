// Live board connections against a real server: convergence, the final closes
// (4403 access removed, 4404 board deleted), a refused reconnect (401 token
// expired, 404 not visible), reconnecting through 1008 and a server restart.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { shapesOf } from '../dist/index.js'
import {
  PASSWORD, eventually, next, open, reaches, registeredClient, serverDoc, startServer, stopServer, tempDatabase, until
} from './harness.mjs'

/** Runs `body` with a fresh server and database, then stops and removes both. */
async function withServer (env, body) {
  const db = tempDatabase()
  const state = { server: await startServer({ dbPath: db.path, env }) }
  const connections = []
  const track = connection => { connections.push(connection); return connection }
  try {
    await body(state, track, db)
  } finally {
    for (const connection of connections) connection.destroy()
    await stopServer(state.server)
    db.remove()
  }
}

/** An owner and a member with `role` on a new board. */
async function sharedBoard (server, role) {
  const owner = await registeredClient(server, 'owner')
  const member = await registeredClient(server, 'member')
  const board = await owner.client.createBoard({ name: 'Shared' })
  await owner.client.putMember(board.id, { email: member.email, role })
  return { owner, member, board }
}

test('two clients converge on one board and see each other in awareness', () => withServer({}, async ({ server }, track) => {
  const { owner, member, board } = await sharedBoard(server, 'editor')
  const a = track(open(owner.client, board.id))
  const b = track(open(member.client, board.id))
  assert.equal(a.status, 'connecting')
  await Promise.all([a.whenSynced(), b.whenSynced()])
  assert.equal(a.status, 'connected')

  // Shapes in the contract's data model, drawn concurrently on both sides.
  const rect = new Y.Map(Object.entries({ type: 'rect', x: 10, y: 20, w: 100, h: 50, color: '#f00', z: 1 }))
  shapesOf(a.doc).set('r1', rect)
  const note = new Y.Map(Object.entries({ type: 'note', x: 0, y: 0, w: 80, h: 80, color: '#ff0', z: 2 }))
  shapesOf(b.doc).set('n1', note)
  note.set('text', new Y.Text('hi'))
  await until('both documents hold both shapes', () =>
    shapesOf(a.doc).size === 2 && shapesOf(b.doc).size === 2 && shapesOf(a.doc).get('n1').get('text') !== undefined)
  assert.deepEqual(shapesOf(a.doc).toJSON(), shapesOf(b.doc).toJSON())
  shapesOf(b.doc).get('r1').set('x', 30)
  shapesOf(a.doc).get('n1').get('text').insert(2, ' there')
  await until('the concurrent edits converge', () =>
    shapesOf(a.doc).get('r1').get('x') === 30 && shapesOf(b.doc).get('n1').get('text').toString() === 'hi there')
  assert.deepEqual(shapesOf(a.doc).toJSON(), shapesOf(b.doc).toJSON())

  a.awareness.setLocalState({ user: { id: owner.user.id, name: 'owner', color: '#f00' }, cursor: { x: 1, y: 2 }, selection: ['r1'] })
  await until('awareness relayed', () => b.awareness.getStates().get(a.doc.clientID)?.user?.name === 'owner')
  assert.deepEqual(b.awareness.getStates().get(a.doc.clientID).selection, ['r1'])
}))

test('a viewer gets permission-denied for an edit and stays connected', () => withServer({}, async ({ server }, track) => {
  const { member, board } = await sharedBoard(server, 'viewer')
  const v = track(open(member.client, board.id))
  await v.whenSynced()
  const denied = next(v, 'permission-denied')
  v.doc.getMap('shapes').set('x', 1)
  const [reason] = await denied
  assert.equal(reason, 'read-only')
  assert.equal(v.status, 'connected')
}))

test('removing a member emits access-lost and stops reconnecting', () => withServer({}, async ({ server }, track) => {
  const { owner, member, board } = await sharedBoard(server, 'editor')
  const m = track(open(member.client, board.id))
  await m.whenSynced()
  const lost = next(m, 'access-lost')
  await owner.client.removeMember(board.id, member.user.id)
  const [end] = await lost
  assert.equal(end.closeCode, 4403)
  assert.equal(m.status, 'access-lost')
  assert.equal(m.provider.shouldConnect, false, 'the provider stopped reconnecting')
  assert.equal(m.provider.ws, null)

  // Still stopped after the owner's next edit went through the server.
  const o = track(open(owner.client, board.id))
  await o.whenSynced()
  o.doc.getMap('shapes').set('after', 1)
  await eventually('the owner edit on the server', async () =>
    (await serverDoc(owner.client, board.id)).getMap('shapes').get('after') === 1)
  assert.equal(m.status, 'access-lost')
  assert.equal(m.provider.ws, null)
  assert.equal(m.doc.getMap('shapes').get('after'), undefined)
}))

test('deleting the board emits board-deleted and stops reconnecting', () => withServer({}, async ({ server }, track) => {
  const { owner, member, board } = await sharedBoard(server, 'editor')
  const o = track(open(owner.client, board.id))
  const m = track(open(member.client, board.id))
  await Promise.all([o.whenSynced(), m.whenSynced()])
  const deletedForOwner = next(o, 'board-deleted')
  const deletedForMember = next(m, 'board-deleted')
  await owner.client.deleteBoard(board.id)
  const [[ownerEnd], [memberEnd]] = await Promise.all([deletedForOwner, deletedForMember])
  assert.equal(ownerEnd.closeCode, 4404)
  assert.equal(memberEnd.closeCode, 4404)
  for (const connection of [o, m]) {
    assert.equal(connection.status, 'board-deleted')
    assert.equal(connection.provider.shouldConnect, false)
  }
}))

test('a board the caller cannot see ends with access-lost from the refused upgrade', () => withServer({}, async ({ server }, track) => {
  const { client } = await registeredClient(server, 'stranger')
  const owner = await registeredClient(server, 'owner')
  const board = await owner.client.createBoard({ name: 'Private' })
  const connection = track(open(client, board.id))
  const statuses = []
  connection.on('status', status => statuses.push(status))
  const synced = connection.whenSynced()
  const [end] = await next(connection, 'access-lost')
  await assert.rejects(synced, /access-lost/)
  assert.equal(end.httpStatus, 404)
  assert.equal(connection.status, 'access-lost')
  assert.equal(connection.provider.shouldConnect, false)
  assert.ok(!statuses.includes('connected'))
}))

test('a token refused on reconnect emits token-expired; a new login and reconnect() resume', async () => {
  const db = tempDatabase()
  let server = await startServer({ dbPath: db.path })
  let connection
  try {
    const { client, email, user } = await registeredClient(server, 'expiring')
    const board = await client.createBoard({ name: 'Expiring' })
    connection = open(client, board.id)
    await connection.whenSynced()
    connection.doc.getMap('shapes').set('before', 1)
    await eventually('the edit on the server', async () =>
      (await serverDoc(client, board.id)).getMap('shapes').get('before') === 1)

    // The server comes back with another secret: the old token no longer verifies.
    const addr = server.addr
    const reconnecting = reaches(connection, 'reconnecting')
    await stopServer(server)
    await reconnecting
    const expired = next(connection, 'token-expired')
    server = await startServer({ dbPath: db.path, addr, env: { JWT_SECRET: 'another-secret-of-at-least-32-bytes!!' } })
    const [end] = await expired
    assert.equal(end.httpStatus, 401)
    assert.equal(connection.status, 'token-expired')
    assert.equal(connection.provider.shouldConnect, false)
    connection.doc.getMap('shapes').set('while-expired', 2)

    // The app logs in again and resumes: the edit made meanwhile reaches the server.
    const relogin = await client.login({ email, password: PASSWORD })
    assert.equal(relogin.user.id, user.id)
    connection.reconnect()
    assert.equal(connection.status, 'reconnecting')
    await reaches(connection, 'connected')
    await connection.whenSynced()
    await eventually('both edits on the server', async () => {
      const shapes = (await serverDoc(client, board.id)).getMap('shapes')
      return shapes.get('before') === 1 && shapes.get('while-expired') === 2
    })
  } finally {
    connection?.destroy()
    await stopServer(server)
    db.remove()
  }
})

test('edits made while the server restarts are kept and reach the other clients', async () => {
  const db = tempDatabase()
  let server = await startServer({ dbPath: db.path })
  const connections = []
  try {
    const { owner, member, board } = await sharedBoard(server, 'editor')
    const a = open(owner.client, board.id)
    const b = open(member.client, board.id)
    connections.push(a, b)
    await Promise.all([a.whenSynced(), b.whenSynced()])
    a.doc.getMap('shapes').set('online', 1)
    await until('b sees the online edit', () => b.doc.getMap('shapes').get('online') === 1)

    const addr = server.addr
    const aOffline = reaches(a, 'reconnecting')
    const bOffline = reaches(b, 'reconnecting')
    const exit = await stopServer(server)
    assert.equal(exit.code, 0)
    await Promise.all([aOffline, bOffline])

    // Edits while the server is down.
    a.doc.getMap('shapes').set('offline-a', 2)
    b.doc.getText('title').insert(0, 'offline-b')

    const aBack = reaches(a, 'connected')
    const bBack = reaches(b, 'connected')
    server = await startServer({ dbPath: db.path, addr })
    await Promise.all([aBack, bBack])
    await until('both sides converge on every edit', () =>
      b.doc.getMap('shapes').get('offline-a') === 2 && a.doc.getText('title').toString() === 'offline-b')

    // A client that was never offline sees them too, from the server.
    const c = open(owner.client, board.id)
    connections.push(c)
    await c.whenSynced()
    await until('the fresh client has every edit', () =>
      c.doc.getMap('shapes').get('online') === 1 && c.doc.getMap('shapes').get('offline-a') === 2 &&
      c.doc.getText('title').toString() === 'offline-b')
  } finally {
    for (const connection of connections) connection.destroy()
    await stopServer(server)
    db.remove()
  }
})

test('a socket closed 1008 for its message rate reconnects and resyncs', () => withServer({ RATE_WS_MSGS_PER_SEC: '1' }, async ({ server }, track) => {
  const { client } = await registeredClient(server, 'chatty')
  const board = await client.createBoard({ name: 'Chatty' })
  const connection = track(open(client, board.id))
  await connection.whenSynced()
  const closes = []
  connection.provider.on('connection-close', event => { if (event) closes.push(event.code) })
  const reconnecting = reaches(connection, 'reconnecting')
  // Far more messages than the burst allows: one update each.
  for (let i = 0; i < 60; i++) connection.doc.getMap('shapes').set(`s${i}`, i)
  await reconnecting
  // The server closed it 1008; whether the client reads that close frame or
  // sees the connection reset (1006) depends on what it was still sending.
  assert.ok(closes.includes(1008) || closes.includes(1006), `closes: ${closes}`)
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text()
  assert.match(metrics, /ws_closes_total\{code="1008"\} [1-9]/)
  assert.equal(connection.provider.shouldConnect, true, 'still reconnecting')
  await reaches(connection, 'connected')
  await connection.whenSynced()

  // After the resync the server holds every edit, those refused by the closed socket included.
  await eventually('all 60 shapes on the server', async () =>
    (await serverDoc(client, board.id)).getMap('shapes').size === 60)
}))
