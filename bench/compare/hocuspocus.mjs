// Hocuspocus as the comparison runs it: one process on loopback, documents
// stored in SQLite through the stock Database extension (the same storage
// engine as canvas-server), and an auth hook that checks a shared token.
//
// Environment:
//   PORT              port to listen on (required)
//   HOST              address to listen on (default 127.0.0.1)
//   HOCUSPOCUS_DB     SQLite file for documents; unset or empty: memory only
//   HOCUSPOCUS_TOKEN  token every document's auth message must carry; unset: any
//
// Prints `hocuspocus listening on HOST:PORT` once it accepts connections.

import { DatabaseSync } from 'node:sqlite'
import { Server } from '@hocuspocus/server'
import { Database } from '@hocuspocus/extension-database'

const port = Number.parseInt(process.env.PORT ?? '', 10)
if (!Number.isInteger(port) || port <= 0) {
  console.error('hocuspocus.mjs: set PORT')
  process.exit(2)
}
const host = process.env.HOST || '127.0.0.1'
const token = process.env.HOCUSPOCUS_TOKEN
const dbPath = process.env.HOCUSPOCUS_DB

const extensions = []
if (dbPath) {
  const db = new DatabaseSync(dbPath)
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, data BLOB NOT NULL);
  `)
  const select = db.prepare('SELECT data FROM documents WHERE name = ?')
  const upsert = db.prepare(
    'INSERT INTO documents (name, data) VALUES (?, ?) ' +
      'ON CONFLICT (name) DO UPDATE SET data = excluded.data'
  )
  extensions.push(
    new Database({
      fetch: async ({ documentName }) => {
        const row = select.get(documentName)
        return row ? new Uint8Array(row.data) : null
      },
      store: async ({ documentName, state }) => {
        upsert.run(documentName, state)
      },
    })
  )
}

const server = new Server({
  port,
  address: host,
  quiet: true,
  extensions,
  async onAuthenticate (data) {
    if (token !== undefined && data.token !== token) {
      throw new Error('bad token')
    }
  },
})

await server.listen()
console.log(`hocuspocus listening on ${host}:${port}`)
