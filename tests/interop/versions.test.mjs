// Versions and restore with the real yjs client (the stock y-websocket
// provider) against a real canvas-server process: after a restore a client that
// stayed connected converges to the version's content without reloading, a
// fresh client loads it, restoring the pre-restore backup brings back the state
// before, and a restore while five editors type converges everywhere.
//
// Run by `cargo test --test interop` (which passes the server binary in
// SERVER_BIN), or directly: SERVER_BIN=… node --test tests/interop/

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import * as harness from './harness.mjs'
import { SERVER_BIN, api, close, connect, same, stopServer } from './harness.mjs'

const WAIT_MS = 20000

/** The server over `dbPath`, with this suite's settings. */
const startServer = dbPath => harness.startServer(dbPath, {
  SAVE_DEBOUNCE_MS: '50',
  SAVE_MAX_DEBOUNCE_MS: '200',
  RATE_LOGIN_PER_MIN: '0',
  RATE_WS_CONNECT_PER_MIN: '0',
  RATE_WS_MSGS_PER_SEC: '0',
  RUST_LOG: 'warn,canvas_server=info'
}, WAIT_MS)
const until = (what, check) => harness.until(what, check, WAIT_MS)

/** A client's document as the server renders a board (roots with content only). */
function json (doc) {
  const roots = {}
  const shapes = doc.getMap('shapes').toJSON()
  if (Object.keys(shapes).length) roots.shapes = shapes
  const list = doc.getArray('list').toJSON()
  if (list.length) roots.list = list
  const title = doc.getText('title').toString()
  if (title.length) roots.title = title
  const pm = doc.getXmlFragment('pm')
  if (pm.length) roots.pm = pm.toString()
  return roots
}

/** Fills every kind of root: a map with a nested map, an array with a nested
 * map, text with formatting, an XML fragment. */
function write (doc, generation) {
  doc.transact(() => {
    const shapes = doc.getMap('shapes')
    shapes.set('generation', generation)
    const frame = new Y.Map()
    shapes.set(`frame-${generation}`, frame)
    frame.set('w', 100)
    const list = doc.getArray('list')
    const item = new Y.Map()
    list.push([item])
    item.set('id', generation)
    const title = doc.getText('title')
    title.insert(title.length, `${generation} `, { bold: true })
    const p = new Y.XmlElement('p')
    p.setAttribute('data-gen', generation)
    p.insert(0, [new Y.XmlText(generation)])
    doc.getXmlFragment('pm').push([p])
  })
}

async function serverContent (server, token, boardId) {
  const response = await api(server, 'GET', `/boards/${boardId}/content`, token)
  assert.equal(response.status, 200)
  return response.body.roots
}

async function setup (server) {
  const ada = await api(server, 'POST', '/auth/register', null, { email: 'ada@example.com', password: 'password123' })
  assert.equal(ada.status, 201)
  const board = await api(server, 'POST', '/boards', ada.body.token, { name: 'Versions' })
  assert.equal(board.status, 201)
  return { token: ada.body.token, boardId: board.body.id }
}

test('a restore reaches a client that stayed connected and a fresh one, and its backup undoes it', async () => {
  assert.ok(SERVER_BIN, 'SERVER_BIN must name the canvas-server binary')
  const dir = mkdtempSync(join(tmpdir(), 'canvas-versions-'))
  const server = await startServer(join(dir, 'canvas.db'))
  const open = []
  try {
    const { token, boardId } = await setup(server)
    const stay = connect(server, boardId, token)
    open.push(stay)
    await until('synced', () => stay.provider.synced)
    write(stay.doc, 'one')
    await until('the server has the edits', async () => same(await serverContent(server, token, boardId), json(stay.doc)))
    const made = await api(server, 'POST', `/boards/${boardId}/versions`, token, { label: 'one' })
    assert.equal(made.status, 201)
    const vid = made.body.id
    const version = (await api(server, 'GET', `/boards/${boardId}/versions/${vid}/content`, token)).body.roots
    assert.deepEqual(version, json(stay.doc))

    // Edits of every kind after the version.
    write(stay.doc, 'two')
    stay.doc.transact(() => {
      stay.doc.getMap('shapes').delete('frame-one')
      stay.doc.getMap('shapes').get('frame-two').set('h', 5)
      stay.doc.getArray('list').delete(0, 1)
      stay.doc.getText('title').format(0, 3, { bold: null, italic: true })
      stay.doc.getXmlFragment('pm').delete(0, 1)
    })
    const before = json(stay.doc)
    await until('the server has the later edits', async () => same(await serverContent(server, token, boardId), before))
    assert.notDeepEqual(before, version)

    const restored = await api(server, 'POST', `/boards/${boardId}/versions/${vid}/restore`, token)
    assert.equal(restored.status, 200)
    assert.equal(restored.body.backup.kind, 'pre_restore')
    await until('the connected client converges to the version', () => same(json(stay.doc), version))
    assert.deepEqual(stay.doc.getText('title').toDelta()[0].attributes, { bold: true })

    const fresh = connect(server, boardId, token)
    open.push(fresh)
    await until('a fresh client loads the version', () => fresh.provider.synced && same(json(fresh.doc), version))

    // The connected client keeps working after the restore.
    stay.doc.getMap('shapes').set('after', 'restore')
    await until('its edit reaches the fresh client', () => fresh.doc.getMap('shapes').get('after') === 'restore')
    stay.doc.getMap('shapes').delete('after')
    await until('and its deletion', () => fresh.doc.getMap('shapes').get('after') === undefined)

    // Undo: restoring the backup brings back the state before the restore.
    const undone = await api(server, 'POST', `/boards/${boardId}/versions/${restored.body.backup.id}/restore`, token)
    assert.equal(undone.status, 200)
    await until('both clients are back to the state before', () =>
      same(json(stay.doc), before) && same(json(fresh.doc), before))
    assert.deepEqual(await serverContent(server, token, boardId), before)
  } finally {
    for (const client of open) close(client)
    await stopServer(server)
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a restore while five editors type converges on every client', async () => {
  assert.ok(SERVER_BIN, 'SERVER_BIN must name the canvas-server binary')
  const dir = mkdtempSync(join(tmpdir(), 'canvas-versions-'))
  const server = await startServer(join(dir, 'canvas.db'))
  const editors = []
  try {
    const { token, boardId } = await setup(server)
    for (let i = 0; i < 5; i++) editors.push(connect(server, boardId, token))
    await until('all synced', () => editors.every(e => e.provider.synced))
    editors[0].doc.transact(() => {
      editors[0].doc.getMap('shapes').set('marker', 'from the version')
      editors[0].doc.getText('title').insert(0, 'VERSION TEXT', { bold: true })
    })
    await until('the server has the marker', async () =>
      (await serverContent(server, token, boardId)).shapes?.marker === 'from the version')
    const made = await api(server, 'POST', `/boards/${boardId}/versions`, token, { label: 'before typing' })
    assert.equal(made.status, 201)
    editors[0].doc.transact(() => {
      editors[0].doc.getMap('shapes').delete('marker')
      const title = editors[0].doc.getText('title')
      title.delete(0, title.length)
    })

    // Everyone types: into the shared text and into keys of their own.
    let typing = true
    const typed = editors.map((editor, i) => (async () => {
      let n = 0
      while (typing) {
        editor.doc.transact(() => {
          const title = editor.doc.getText('title')
          title.insert(Math.min(n % 7, title.length), String(i))
          editor.doc.getMap('shapes').set(`editor-${i}`, n)
        })
        n++
        await new Promise(resolve => setTimeout(resolve, 15))
      }
      return n
    })())
    await new Promise(resolve => setTimeout(resolve, 500))
    const restored = await api(server, 'POST', `/boards/${boardId}/versions/${made.body.id}/restore`, token)
    assert.equal(restored.status, 200)
    await new Promise(resolve => setTimeout(resolve, 500))
    typing = false
    const counts = await Promise.all(typed)
    assert.ok(counts.every(n => n > 5), `every editor typed: ${counts}`)

    await until('every client holds the same document', () => {
      const first = json(editors[0].doc)
      return editors.every(e => same(json(e.doc), first))
    })
    const final = json(editors[0].doc)
    // The restored content is there, with what was typed after it.
    assert.equal(final.shapes.marker, 'from the version')
    // Editors type digits only: without them the text is the version's.
    assert.equal(final.title.replace(/[0-9]/g, ''), 'VERSION TEXT', final.title)
    for (let i = 0; i < 5; i++) assert.equal(final.shapes[`editor-${i}`], counts[i] - 1)
    await until('the server agrees', async () => same(await serverContent(server, token, boardId), final))
  } finally {
    for (const editor of editors) close(editor)
    await stopServer(server)
    rmSync(dir, { recursive: true, force: true })
  }
})
