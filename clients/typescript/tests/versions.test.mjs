// The content and version wrappers against a real server: the board as JSON,
// manual versions with their state and content, a restore that reaches an open
// connection, and typed errors for the routes' refusals.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { CanvasApiError } from '../dist/index.js'
import { open, registeredClient, serverDoc, startServer, stopServer, tempDatabase, until, eventually } from './harness.mjs'

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

/** A Yjs update adding one rect shape `id` with `x`. */
function rectUpdate (id, x) {
  const doc = new Y.Doc()
  const shape = new Y.Map(Object.entries({ type: 'rect', x, y: 0, w: 10, h: 10, color: '#000', z: 1 }))
  doc.getMap('shapes').set(id, shape)
  doc.getText('title').insert(0, 'Plan')
  return Y.encodeStateAsUpdate(doc)
}

test('getContent returns the board as JSON, with kinds overridable', async () => {
  const { client } = await registeredClient(server, 'content')
  const board = await client.createBoard({ name: 'Content' })
  await client.postUpdate(board.id, rectUpdate('r1', 5))
  const content = await client.getContent(board.id)
  assert.equal(content.roots.shapes.r1.type, 'rect')
  assert.equal(content.roots.shapes.r1.x, 5)
  const typed = await client.getContent(board.id, { types: 'shapes:map,title:text' })
  assert.equal(typed.roots.title, 'Plan')
})

test('versions: create, list, read as state and content, restore, delete', async () => {
  const { client: owner } = await registeredClient(server, 'versions-owner')
  const board = await owner.createBoard({ name: 'Versions' })
  await owner.postUpdate(board.id, rectUpdate('r1', 1))

  const v1 = await owner.createVersion(board.id, { label: 'first' })
  assert.equal(v1.kind, 'manual')
  assert.equal(v1.label, 'first')
  assert.equal(v1.board_id, board.id)
  assert.deepEqual(await owner.getVersion(board.id, v1.id), v1)
  const unlabelled = await owner.createVersion(board.id)
  assert.equal(unlabelled.kind, 'manual')

  const list = await owner.listVersions(board.id, { limit: 10 })
  assert.equal(list.total, 2)
  assert.deepEqual(list.items.map(v => v.id), [unlabelled.id, v1.id])

  const state = new Y.Doc()
  Y.applyUpdate(state, await owner.getVersionState(board.id, v1.id))
  assert.equal(state.getMap('shapes').get('r1').get('x'), 1)
  assert.equal((await owner.getVersionContent(board.id, v1.id)).roots.shapes.r1.x, 1)

  // The board moves on, with a connection open; the restore reaches it live.
  const live = open(owner, board.id)
  try {
    await live.whenSynced()
    live.doc.getMap('shapes').get('r1').set('x', 99)
    live.doc.getMap('shapes').set('r2', new Y.Map([['type', 'ellipse']]))
    await eventually('the live edit on the server', async () =>
      (await serverDoc(owner, board.id)).getMap('shapes').get('r1')?.get('x') === 99)

    const { restored, backup } = await owner.restoreVersion(board.id, v1.id)
    assert.equal(restored.id, v1.id)
    assert.equal(backup.kind, 'pre_restore')
    await until('the open connection has the restored content', () =>
      live.doc.getMap('shapes').get('r1')?.get('x') === 1 && !live.doc.getMap('shapes').has('r2'))
    assert.equal((await owner.getContent(board.id)).roots.shapes.r1.x, 1)
  } finally {
    live.destroy()
  }

  await owner.deleteVersion(board.id, unlabelled.id)
  const gone = await owner.getVersion(board.id, unlabelled.id).catch(error => error)
  assert.ok(gone instanceof CanvasApiError)
  assert.equal(gone.status, 404)
  assert.equal(gone.code, 'not_found')
})

test('a viewer reads versions but cannot make, restore or delete them', async () => {
  const { client: owner } = await registeredClient(server, 'v-owner')
  const { client: viewer, email } = await registeredClient(server, 'v-viewer')
  const board = await owner.createBoard({ name: 'Viewer' })
  await owner.putMember(board.id, { email, role: 'viewer' })
  const version = await owner.createVersion(board.id, { label: 'kept' })

  assert.equal((await viewer.listVersions(board.id)).total, 1)
  for (const call of [
    () => viewer.createVersion(board.id, { label: 'no' }),
    () => viewer.restoreVersion(board.id, version.id),
    () => viewer.deleteVersion(board.id, version.id)
  ]) {
    const error = await call().catch(e => e)
    assert.ok(error instanceof CanvasApiError, String(error))
    assert.equal(error.status, 403)
    assert.equal(error.code, 'forbidden')
  }

  const tooLong = await owner.createVersion(board.id, { label: 'x'.repeat(201) }).catch(e => e)
  assert.ok(tooLong instanceof CanvasApiError)
  assert.equal(tooLong.status, 422)
  assert.equal(tooLong.code, 'validation_failed')
})
