// What the interop suites share: a real canvas-server process on a free port,
// REST calls, stock y-websocket providers, and waiting on a condition.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

/** The server binary under test (`cargo test --test interop` sets it). */
export const SERVER_BIN = process.env.SERVER_BIN

/**
 * Starts the server (`SERVER_BIN`) on a free port over the SQLite file
 * `dbPath`, with `env` added to its environment; resolves once it listens.
 * The child's `addr` is its address and `exited` resolves when it exits.
 */
export function startServer (dbPath, env, waitMs) {
  const child = spawn(SERVER_BIN, [], {
    env: {
      ...process.env,
      BIND_ADDR: '127.0.0.1:0',
      DATABASE_URL: `sqlite://${dbPath}`,
      JWT_SECRET: 'interop-secret-of-at-least-32-bytes',
      LOG_FORMAT: 'json',
      ...env
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise(resolve => child.on('exit', (code, signal) => resolve({ code, signal })))
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), waitMs)
    createInterface({ input: child.stdout }).on('line', line => {
      let event
      try { event = JSON.parse(line) } catch { return }
      if (event.message === 'canvas-server listening' && !child.addr) {
        clearTimeout(timer)
        child.addr = event.addr
        resolve(child)
      }
    })
    child.on('exit', () => reject(new Error('server exited before listening')))
  })
  child.exited = exited
  return listening
}

/** Stops the server with SIGTERM; resolves with its exit code and signal. */
export async function stopServer (child) {
  child.kill('SIGTERM')
  return child.exited
}

/** One REST call; resolves with the status and the parsed JSON body. */
export async function api (server, method, path, token, body) {
  const response = await fetch(`http://${server.addr}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {})
    },
    body: body ? JSON.stringify(body) : undefined
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null }
}

/** A stock provider on the board, as the contract says a frontend connects. */
export function connect (server, boardId, token, doc = new Y.Doc()) {
  const provider = new WebsocketProvider(`ws://${server.addr}/api/v1/boards`, `${boardId}/sync`, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    disableBc: true
  })
  return { doc, provider }
}

/** Destroying the doc also stops its awareness timer, which would keep Node alive. */
export function close ({ doc, provider }) {
  provider.destroy()
  doc.destroy()
}

/** Resolves once `check` (which may be async) holds; rejects after `waitMs`. */
export function until (what, check, waitMs) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const poll = async () => {
      if (await check()) return resolve()
      if (Date.now() - started > waitMs) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(poll, 10)
    }
    poll()
  })
}

/** Whether two values are deeply equal. */
export function same (x, y) {
  try { assert.deepStrictEqual(x, y); return true } catch { return false }
}
