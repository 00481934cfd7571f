import { CommanderError } from 'commander'
import { colourEnabled, red } from './colour.ts'

/**
 * Bad usage or bad input: the CLI prints `error: <message>` and exits 2.
 * @remarks Commands throw it for anything the user can fix by changing the command line
 * or an input file; the message names the input (`--out /x: ...`, `job.json: ...`).
 */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** A failure at run time: the CLI prints `error: <message>` and exits 1. */
export class RunError extends Error {
  override name = 'RunError'
}

/** Exit codes of the contract. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** The environment variable that makes the CLI print stacks (`CIS490_DEBUG=1`). */
export const DEBUG_ENV = 'CIS490_DEBUG'

/**
 * Names of the error classes of other folders that always mean bad input and name the
 * input (manifests/, models/, node/keys): exit 2.
 * @remarks Matched by `name` rather than `instanceof` so that this module imports none of
 * those folders: every command's start-up would pay for loading them. Listed here rather
 * than caught in each command so that a command that forgets to translate one still gets
 * the right exit code.
 */
export const INPUT_ERROR_NAMES: ReadonlySet<string> = new Set([
  'UsageError',
  'ManifestError',
  'DatasetError',
  'KeyFileError',
  'OutputExistsError',
  'OutputPathError',
  'TrainInputError',
])

/** True for Node's system errors (`ENOENT`, `EACCES`, ...), which name their path and syscall. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'syscall' in err
}

function debugEnabled(env: NodeJS.ProcessEnv): boolean {
  const v = env[DEBUG_ENV]
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}

function stackText(err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? String(e)) : String(e))
    e = e instanceof Error ? e.cause : undefined
    if (e !== undefined) parts.push('caused by:')
  }
  return `${parts.join('\n')}\n`
}

/**
 * Prints `err` for a user on `out` and returns the contract's exit code: the top-level
 * handler of every command.
 * @remarks Known input errors print `error: <message>` and give 2; run-time failures
 * (`RunError`, system errors such as EACCES while writing) print `error: <message>` and give 1;
 * anything else is a bug and prints one `internal error: <message>` line and gives 1. A
 * stack is printed only when `CIS490_DEBUG` is set. Commander has already printed its own
 * usage errors. The `error:` prefix is red when `out` takes colour (see {@link colourEnabled}).
 */
export function reportError(
  err: unknown,
  out: { write(text: string): unknown; isTTY?: boolean } = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const debug = debugEnabled(env)
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return EXIT.ok
    return EXIT.usage
  }
  const message = err instanceof Error ? err.message : String(err)
  const colour = colourEnabled(out, env)
  if (err instanceof UsageError || (err instanceof Error && INPUT_ERROR_NAMES.has(err.name))) {
    out.write(`${red('error:', colour)} ${message}\n`)
    if (debug) out.write(stackText(err))
    return EXIT.usage
  }
  if (err instanceof RunError || isSystemError(err)) {
    out.write(`${red('error:', colour)} ${message}\n`)
    if (debug) out.write(stackText(err))
    return EXIT.failed
  }
  out.write(
    `${red('internal error:', colour)} ${firstLine(message)}${debug ? '' : ` (set ${DEBUG_ENV}=1 for the stack trace)`}\n`,
  )
  if (debug) out.write(stackText(err))
  return EXIT.failed
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0]
  return line === '' ? '(no message)' : line
}
