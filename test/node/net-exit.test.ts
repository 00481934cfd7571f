import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./net-exit-fixture.ts', import.meta.url))

it('after stop() the process exits by itself, promptly (no open handles or armed timers)', async (t) => {
  const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  let stoppedAt = 0
  child.stdout.on('data', (d: Buffer) => {
    stdout += d
    if (stoppedAt === 0 && stdout.includes('stopped')) stoppedAt = performance.now()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d
  })
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 30_000)
    child.on('exit', (c) => {
      clearTimeout(timer)
      resolve(c)
    })
  })
  assert.equal(code, 0, `fixture exit code (stderr: ${stderr})`)
  assert.ok(stoppedAt > 0, 'the fixture stopped both nodes')
  const lingerMs = performance.now() - stoppedAt
  t.diagnostic(`exited ${lingerMs.toFixed(0)} ms after stop()`)
  assert.ok(lingerMs < 500, `exited ${lingerMs.toFixed(0)} ms after stop()`)
})
