// The stock y-websocket WebsocketProvider against a real canvas-server process:
// two providers converge, awareness flows, a viewer is read-only, and the
// content survives a SIGTERM right after the last edit and a restart.
//
// Run by `cargo test --test interop` (which builds the server and passes its
// path in SERVER_BIN), or directly: SERVER_BIN=… node --test tests/interop/

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import * as harness from './harness.mjs'
import { SERVER_BIN, api, close, connect, same, stopServer } from './harness.mjs'

const WAIT_MS = 15000

/** The server over `dbPath`, with this suite's settings. */
const startServer = dbPath => harness.startServer(dbPath, {
  SAVE_DEBOUNCE_MS: '60000',
  SAVE_MAX_DEBOUNCE_MS: '60000',
  RUST_LOG: 'info'
}, WAIT_MS)
const until = (what, check) => harness.until(what, check, WAIT_MS)

function content (doc) {
  return {
    map: doc.getMap('map').toJSON(),
    text: doc.getText('text').toString(),
    array: doc.getArray('array').toJSON()
  }
}

test('y-websocket providers converge through canvas-server and the content survives a restart', async () => {
  assert.ok(SERVER_BIN, 'SERVER_BIN must name the canvas-server binary')
  const dir = mkdtempSync(join(tmpdir(), 'canvas-interop-'))
  const dbPath = join(dir, 'canvas.db')
  let server = await startServer(dbPath)
  const open = []
  try {
    const ada = await api(server, 'POST', '/auth/register', null, { email: 'ada@example.com', password: 'password123' })
    assert.equal(ada.status, 201)
    const vic = await api(server, 'POST', '/auth/register', null, { email: 'vic@example.com', password: 'password123' })
    assert.equal(vic.status, 201)
    const board = await api(server, 'POST', '/boards', ada.body.token, { name: 'Interop' })
    assert.equal(board.status, 201)
    const boardId = board.body.id
    const shared = await api(server, 'PUT', `/boards/${boardId}/members`, ada.body.token, { email: 'vic@example.com', role: 'viewer' })
    assert.equal(shared.status, 200)

    const a = connect(server, boardId, ada.body.token)
    const b = connect(server, boardId, ada.body.token)
    open.push(a, b)
    await until('both providers synced', () => a.provider.synced && b.provider.synced)

    a.doc.getMap('map').set('shape', 'circle')
    a.doc.getText('text').insert(0, 'hello')
    b.doc.getArray('array').push(['one', 'two'])
    b.doc.getMap('map').set('color', 'red')
    await until('convergence', () =>
      same(content(a.doc), content(b.doc)) &&
      a.doc.getArray('array').length === 2 && b.doc.getText('text').toString() === 'hello')

    // Awareness from one provider reaches the other.
    a.provider.awareness.setLocalStateField('user', { name: 'ada' })
    await until('awareness relayed', () =>
      b.provider.awareness.getStates().get(a.doc.clientID)?.user?.name === 'ada')

    // A viewer syncs and sees edits, but its own edits are not applied.
    const v = connect(server, boardId, vic.body.token)
    open.push(v)
    await until('viewer synced', () => v.provider.synced && v.doc.getText('text').toString() === 'hello')
    v.doc.getMap('map').set('evil', true)
    a.doc.getMap('map').set('after', 'viewer')
    await until('edit after the viewer reached b', () => b.doc.getMap('map').get('after') === 'viewer')
    assert.equal(b.doc.getMap('map').get('evil'), undefined)

    // The last edit goes out, then SIGTERM before any debounce could fire.
    a.doc.getText('text').insert(5, ' world')
    await until('last edit relayed', () => b.doc.getText('text').toString() === 'hello world')
    const expected = content(a.doc)
    delete expected.map.evil
    for (const client of open.splice(0)) close(client)
    const exit = await stopServer(server)
    assert.deepEqual(exit, { code: 0, signal: null })

    server = await startServer(dbPath)
    const fresh = connect(server, boardId, ada.body.token)
    open.push(fresh)
    await until('fresh provider synced with the saved content', () =>
      fresh.provider.synced && fresh.doc.getText('text').toString() === 'hello world')
    assert.deepEqual(content(fresh.doc), expected)
  } finally {
    for (const client of open) close(client)
    if (server.exitCode === null) await stopServer(server)
    rmSync(dir, { recursive: true, force: true })
  }
})
