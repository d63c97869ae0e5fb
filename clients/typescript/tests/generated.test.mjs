// `npm run check-generated` passes on the committed document and fails, with a
// message saying what to run, when the document changes.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const script = join(packageDir, 'scripts/check-generated.mjs')
const documentPath = join(packageDir, '../../openapi/openapi.json')
const generatedPath = join(packageDir, 'src/generated/openapi.ts')

function check (...args) {
  return spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', cwd: packageDir })
}

test('the committed types match the committed OpenAPI document', () => {
  const run = check()
  assert.equal(run.status, 0, run.stderr)
})

test('a changed document fails the check and names the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'canvas-client-drift-'))
  try {
    const document = JSON.parse(readFileSync(documentPath, 'utf8'))
    document.components.schemas.UserResponse.properties.avatar_url = { type: 'string' }
    const changed = join(dir, 'openapi.json')
    writeFileSync(changed, JSON.stringify(document))
    const generated = join(dir, 'openapi.ts')
    copyFileSync(generatedPath, generated)

    const run = check('--document', changed, '--generated', generated)
    assert.equal(run.status, 1)
    assert.match(run.stderr, /is out of date/)
    assert.match(run.stderr, /avatar_url/)
    assert.match(run.stderr, /npm run generate/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
