// Fails when src/generated/openapi.ts no longer matches the OpenAPI document:
// regenerates the types into a temporary file with the pinned openapi-typescript
// and compares. `--document PATH` and `--generated PATH` point it elsewhere
// (the tests use them on a modified copy).

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    document: { type: 'string', default: join(packageDir, '../../openapi/openapi.json') },
    generated: { type: 'string', default: join(packageDir, 'src/generated/openapi.ts') }
  }
})
const document = resolve(values.document)
const generated = resolve(values.generated)

const dir = mkdtempSync(join(tmpdir(), 'canvas-client-generate-'))
try {
  const fresh = join(dir, 'openapi.ts')
  const cli = join(packageDir, 'node_modules/openapi-typescript/bin/cli.js')
  const run = spawnSync(process.execPath, [cli, document, '--output', fresh], { encoding: 'utf8' })
  if (run.status !== 0) {
    console.error(`openapi-typescript failed on ${document}:\n${run.stderr}`)
    process.exit(2)
  }
  const expected = readFileSync(fresh, 'utf8')
  let actual
  try {
    actual = readFileSync(generated, 'utf8')
  } catch {
    actual = null
  }
  if (actual !== expected) {
    const shown = relative(process.cwd(), generated) || generated
    console.error(`${shown} is out of date with ${relative(process.cwd(), document) || document}.`)
    if (actual !== null) {
      const a = actual.split('\n')
      const e = expected.split('\n')
      const line = e.findIndex((text, i) => text !== a[i])
      const at = line === -1 ? Math.min(a.length, e.length) : line
      console.error(`First difference at line ${at + 1}:\n  committed:   ${a[at] ?? '(end of file)'}\n  regenerated: ${e[at] ?? '(end of file)'}`)
    }
    console.error('Run `npm run generate` in clients/typescript and commit the result.')
    process.exit(1)
  }
  console.log(`${relative(process.cwd(), generated) || generated} matches the OpenAPI document.`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
