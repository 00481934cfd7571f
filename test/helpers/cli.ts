import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/**
 * `env` without FORCE_COLOR and NO_COLOR, for a CLI child whose output a test parses.
 * @remarks `node --test` on a terminal sets FORCE_COLOR=1 for its test files, which their
 * children would inherit: the CLI would colour its piped output and break the tests' regexes.
 */
export function plainEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _force, NO_COLOR: _no, ...rest } = env
  return rest
}

/** Runs `cis490-node ARGS` in a child process (the Node running the tests) and returns its output and exit code. */
export function runCliProcess(
  args: readonly string[],
  opts: { cwd?: string; input?: string; timeoutMs?: number } = {},
) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: plainEnv(),
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
