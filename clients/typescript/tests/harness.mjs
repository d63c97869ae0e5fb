// Runs a real canvas-server for the tests: a fresh SQLite file, rate limits off,
// a fixed JWT secret, on a free loopback port (or a given one, for restarts).
// Waits on the server's "listening" log line and on events, never on sleeps.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createClient } from '../dist/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '../../..')

/** The server binary: `SERVER_BIN`, else the debug build in `CARGO_TARGET_DIR` (or `target/`). */
export const SERVER_BIN = process.env.SERVER_BIN ??
  join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'canvas-server')

export const SECRET = 'client-tests-secret-of-at-least-32-bytes'
export const WAIT_MS = 15000
export const PASSWORD = 'password123'

/** A temporary directory with a database path; `remove()` deletes it. */
export function tempDatabase () {
  const dir = mkdtempSync(join(tmpdir(), 'canvas-client-'))
  return { path: join(dir, 'canvas.db'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Starts the server over `dbPath`; resolves with the child process once it
 * listens, with `addr` (`127.0.0.1:PORT`) and `baseUrl` set. `addr` binds a
 * given address (to restart on the same port); `env` adds variables.
 */
export function startServer ({ dbPath, addr = '127.0.0.1:0', env = {} }) {
  const child = spawn(SERVER_BIN, [], {
    env: {
      PATH: process.env.PATH,
      BIND_ADDR: addr,
      DATABASE_URL: `sqlite://${dbPath}`,
      JWT_SECRET: SECRET,
      RATE_LOGIN_PER_MIN: '0',
      RATE_WS_CONNECT_PER_MIN: '0',
      RATE_WS_MSGS_PER_SEC: '0',
      LOG_FORMAT: 'json',
      RUST_LOG: 'warn,canvas_server=info',
      ...env
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  child.exited = new Promise(resolve => child.on('exit', (code, signal) => resolve({ code, signal })))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('server did not start')) }, WAIT_MS)
    createInterface({ input: child.stdout }).on('line', line => {
      let event
      try { event = JSON.parse(line) } catch { return }
      const message = event.message ?? event.fields?.message
      const listenAddr = event.addr ?? event.fields?.addr
      if (message === 'canvas-server listening' && child.addr === undefined) {
        clearTimeout(timer)
        child.addr = listenAddr
        child.baseUrl = `http://${listenAddr}`
        resolve(child)
      }
    })
    child.on('error', error => { clearTimeout(timer); reject(error) })
    child.on('exit', () => { clearTimeout(timer); reject(new Error(`server exited before listening (${SERVER_BIN})`)) })
  })
}

/** SIGTERM, then resolves with the exit status. */
export async function stopServer (child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  return child.exited
}

/** A client for `server` with a freshly registered account. */
export async function registeredClient (server, name) {
  const client = createClient({ baseUrl: server.baseUrl })
  const auth = await client.register({ email: `${name}@example.com`, password: PASSWORD, display_name: name })
  return { client, user: auth.user, email: auth.user.email }
}

/** Opens `boardId` through `client` in Node (ws as the WebSocket class). */
export function open (client, boardId, options = {}) {
  return client.openBoard(boardId, { WebSocketPolyfill: WebSocket, maxBackoffTime: 500, ...options })
}

/** Resolves when `check()` holds; polls, and fails after `WAIT_MS` naming `what`. */
export function until (what, check) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const poll = () => {
      let ok = false
      try { ok = check() } catch { ok = false }
      if (ok) return resolve()
      if (Date.now() - started > WAIT_MS) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(poll, 10)
    }
    poll()
  })
}

/** Resolves with the arguments of the next `event` of `emitter`; fails after `WAIT_MS`. */
export function next (emitter, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out waiting for ${event}`)) }, WAIT_MS)
    const off = emitter.on(event, (...args) => { clearTimeout(timer); off(); resolve(args) })
  })
}

/** Resolves once `connection` reaches `status`; fails after `WAIT_MS`. */
export function reaches (connection, status) {
  if (connection.status === status) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out waiting for status ${status} (now ${connection.status})`)) }, WAIT_MS)
    const off = connection.on('status', s => {
      if (s === status) { clearTimeout(timer); off(); resolve() }
    })
  })
}

/** Like `until`, for an async check (e.g. a REST read). */
export async function eventually (what, check) {
  const started = Date.now()
  for (;;) {
    let ok = false
    try { ok = await check() } catch { ok = false }
    if (ok) return
    if (Date.now() - started > WAIT_MS) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** The board's content on the server, as a Y.Doc. */
export async function serverDoc (client, boardId) {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, await client.getState(boardId))
  return doc
}
