// How a board connection reads each close, with a scripted WebSocket and a
// scripted fetch (no server), so every code the contract names is covered,
// including 1013, which a real server only sends to a client that cannot keep up.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createClient } from '../dist/index.js'
import { reaches, until } from './harness.mjs'

/** A WebSocket stand-in whose server side the test drives. */
class ScriptedSocket {
  static CONNECTING = 0
  static OPEN = 1
  static CLOSING = 2
  static CLOSED = 3
  CONNECTING = 0
  OPEN = 1
  CLOSING = 2
  CLOSED = 3

  constructor (url) {
    this.url = url
    this.readyState = ScriptedSocket.CONNECTING
    this.sent = []
    this.constructor.opened.push(this)
  }

  send (data) { this.sent.push(data) }
  close () { this.readyState = ScriptedSocket.CLOSED }

  /** The server accepts the upgrade. */
  accept () {
    this.readyState = ScriptedSocket.OPEN
    this.onopen?.({})
  }

  /** The server closes the socket with `code`. */
  serverClose (code, reason = '') {
    this.readyState = ScriptedSocket.CLOSED
    this.onclose?.({ code, reason, wasClean: code !== 1006 })
  }

  /** The upgrade is refused: what a browser shows is an error and close 1006 without open. */
  refuse () {
    this.onerror?.({})
    this.serverClose(1006)
  }
}

/** A fresh socket class (its own list of sockets) for one test. */
function socketClass () {
  return class extends ScriptedSocket { static opened = [] }
}

/** A fetch answering `GET /boards/{id}` with `status` (and counting the calls). */
function boardFetch (status) {
  const calls = []
  const fetch = async (request) => {
    calls.push(request)
    const body = status === 200
      ? { id: 'b1', name: 'B', owner_id: 'u1', role: 'editor', created_at: '', updated_at: '' }
      : { error: { code: status === 401 ? 'unauthorized' : 'not_found', message: `status ${status}` } }
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
  }
  return { fetch, calls }
}

function connect (Socket, fetchStub = boardFetch(200)) {
  const client = createClient({ baseUrl: 'http://127.0.0.1:9', token: 't0', fetch: fetchStub.fetch })
  const connection = client.openBoard('b1', { WebSocketPolyfill: Socket, maxBackoffTime: 20 })
  return { client, connection }
}

test('the socket goes to /api/v1/boards/{id}/sync with the token as a query parameter', async () => {
  const Socket = socketClass()
  const { client, connection } = connect(Socket)
  try {
    assert.equal(Socket.opened[0].url, 'ws://127.0.0.1:9/api/v1/boards/b1/sync?token=t0')
    // A new token is used from the next attempt on.
    client.setToken('t1')
    Socket.opened[0].accept()
    Socket.opened[0].serverClose(1013)
    await until('a second attempt', () => Socket.opened.length === 2)
    assert.equal(Socket.opened[1].url, 'ws://127.0.0.1:9/api/v1/boards/b1/sync?token=t1')
  } finally {
    connection.destroy()
  }
})

for (const code of [1013, 1008, 1006, 1011, 1001]) {
  test(`close ${code} after open reconnects`, async () => {
    const Socket = socketClass()
    const { connection } = connect(Socket)
    try {
      Socket.opened[0].accept()
      assert.equal(connection.status, 'connected')
      Socket.opened[0].serverClose(code)
      assert.equal(connection.status, 'reconnecting')
      await until('a new attempt', () => Socket.opened.length === 2)
      Socket.opened[1].accept()
      assert.equal(connection.status, 'connected')
    } finally {
      connection.destroy()
    }
  })
}

for (const [code, status] of [[4403, 'access-lost'], [4404, 'board-deleted']]) {
  test(`close ${code} is final: ${status}, and no new attempt`, async () => {
    const Socket = socketClass()
    const { connection } = connect(Socket)
    const events = []
    connection.on(status, end => events.push(end))
    try {
      Socket.opened[0].accept()
      Socket.opened[0].serverClose(code, 'gone')
      assert.equal(connection.status, status)
      assert.deepEqual(events, [{ closeCode: code, reason: 'gone' }])
      assert.equal(connection.provider.shouldConnect, false)
      // y-websocket's retry timer (at most maxBackoffTime, 20 ms) was set before
      // this longer one, so it has run, and found nothing to do, when this fires.
      await new Promise(resolve => setTimeout(resolve, 100))
      assert.equal(Socket.opened.length, 1)
      // The app may still reconnect on purpose.
      connection.reconnect()
      assert.equal(Socket.opened.length, 2)
    } finally {
      connection.destroy()
    }
  })
}

test('a refused upgrade with the REST check answering 401 ends with token-expired', async () => {
  const Socket = socketClass()
  const stub = boardFetch(401)
  const { client, connection } = connect(Socket, stub)
  try {
    const expired = new Promise(resolve => connection.on('token-expired', resolve))
    Socket.opened[0].refuse()
    const end = await expired
    assert.equal(end.httpStatus, 401)
    assert.equal(connection.status, 'token-expired')
    assert.equal(new URL(stub.calls[0].url).pathname, '/api/v1/boards/b1')
    assert.equal(stub.calls[0].headers.get('authorization'), 'Bearer t0')
    assert.equal(connection.provider.shouldConnect, false)

    client.setToken('fresh')
    connection.reconnect()
    const last = Socket.opened.at(-1)
    assert.equal(last.url, 'ws://127.0.0.1:9/api/v1/boards/b1/sync?token=fresh')
    last.accept()
    assert.equal(connection.status, 'connected')
  } finally {
    connection.destroy()
  }
})

test('a refused upgrade while the board is still visible keeps retrying', async () => {
  const Socket = socketClass()
  const stub = boardFetch(200)
  const { connection } = connect(Socket, stub)
  try {
    Socket.opened[0].refuse()
    await until('the REST check and a new attempt', () => stub.calls.length >= 1 && Socket.opened.length >= 2)
    assert.equal(connection.status, 'connecting')
    Socket.opened.at(-1).accept()
    await reaches(connection, 'connected')
  } finally {
    connection.destroy()
  }
})

test('destroy closes the socket, ends the status and stops every attempt', async () => {
  const Socket = socketClass()
  const { connection } = connect(Socket)
  const statuses = []
  connection.on('status', s => statuses.push(s))
  Socket.opened[0].accept()
  const synced = connection.whenSynced()
  connection.destroy()
  await assert.rejects(synced, /closed/)
  assert.deepEqual(statuses, ['connected', 'closed'])
  assert.equal(connection.status, 'closed')
  assert.equal(Socket.opened[0].readyState, ScriptedSocket.CLOSED)
  assert.throws(() => connection.reconnect(), /destroyed/)
})
