import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { ApiServer } from '../../node/api/index.ts'
import { plainEnv } from '../helpers/cli.ts'
import { apiFixture, type Fixture, memoryLogger } from '../node/api-fixture.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/**
 * Runs `cis490-node ARGS` in a child process without blocking this one (the API under
 * test is served from this process), with CIS490_* variables only as given.
 */
export function runCliAsync(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(plainEnv()).filter(([k]) => !k.startsWith('CIS490_')))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...clean, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c
    })
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** The API fixture served on a free loopback port; `stop` it in `after`. */
export async function servedFixture(): Promise<{ fx: Fixture; server: ApiServer; api: string }> {
  const fx = await apiFixture()
  const server = new ApiServer({ view: fx.fleet, logger: memoryLogger() }, { host: '127.0.0.1', port: 0 })
  await server.start()
  const addr = server.address()
  if (addr === null) throw new Error('api fixture: server has no address')
  return { fx, server, api: `${addr.host}:${addr.port}` }
}

/** A loopback port nobody listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise((resolve) => s.close(resolve))
  return port
}
