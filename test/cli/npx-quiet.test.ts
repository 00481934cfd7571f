import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A user's environment: no npm script variables, and no node_modules/.bin (so npm runs on the system Node). */
function userEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !p.includes('node_modules'))
    .join(delimiter)
  env.npm_config_cache = cache
  return env
}

const cache = mkdtempSync(join(tmpdir(), 'cis490-npx-cache-'))
const env = userEnv(cache)
const npx = spawnSync('npx', ['--version'], { env, encoding: 'utf8' })
const systemNode = spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout.trim()

// `npx cis490-node` on the host's own Node (20 on the lab machines) prints only the command's
// output: with a fresh npm cache npx links the package into it first, which is what printed
// npm's EBADENGINE warning twice.
describe('npx cis490-node', { skip: npx.status === 0 ? false : 'npx is not on PATH' }, () => {
  after(() => rmSync(cache, { recursive: true, force: true }))

  it(`--help prints the usage and nothing on stderr (npm on node ${systemNode}, fresh npm cache)`, () => {
    const r = spawnSync('npx', ['cis490-node', '--help'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^Usage: cis490-node /)
    assert.match(r.stdout, /\bdemo\b/)
    assert.equal(r.stderr, '')
  })
})
