import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/** Runs `cis490-node ARGS` in a child process (the Node running the tests) and returns its output and exit code. */
export function runCliProcess(
  args: readonly string[],
  opts: { cwd?: string; input?: string; timeoutMs?: number } = {},
) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
