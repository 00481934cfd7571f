import { accessSync, constants, mkdtempSync, rmdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/**
 * An output path that cannot be written: empty, inside a file, in a read-only or
 * unwritable directory, or where directories cannot be created at all (`/proc`).
 * @remarks The message starts with the label and the path (`--out /x/y: ...`).
 */
export class OutputPathError extends Error {
  override name = 'OutputPathError'
  /** The output path as given. */
  readonly path: string
  constructor(label: string, path: string, problem: string) {
    super(`${label} ${path === '' ? '""' : path}: ${problem}`)
    this.path = path
  }
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'read-only file system'
  if (code === 'ENOSPC') return 'no space left on the device'
  if (code === 'ENOENT') return 'this file system does not allow it'
  return code ?? String(err)
}

/**
 * Checks, before any work starts, that `path` could be created: every existing ancestor
 * is a directory and the nearest one lets us create entries (probed by creating and
 * removing an empty directory in it). Missing parents are fine: writers create them.
 * @remarks Whether something already exists at `path` itself is the caller's business
 * (refuse, or replace with `--force`). The probe catches what `access()` cannot see:
 * read-only mounts, root on a read-only file system, pseudo file systems.
 * @param label names the input in messages, e.g. `--out`.
 * @returns the absolute path.
 * @throws OutputPathError naming the label, the path and the problem.
 */
export function checkOutputLocation(path: string, label: string): string {
  if (path.trim() === '') throw new OutputPathError(label, path, 'expected a path, got an empty string')
  const abs = resolve(path)
  let dir = dirname(abs)
  for (;;) {
    try {
      if (!statSync(dir).isDirectory()) throw new OutputPathError(label, path, `${dir} is a file, not a directory`)
      break
    } catch (err) {
      if (err instanceof OutputPathError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOTDIR') {
        // A component above is a file: go up until we find it.
      } else if (code !== 'ENOENT') {
        throw new OutputPathError(label, path, `cannot look at ${dir}: ${errnoText(err)}`)
      }
      const up = dirname(dir)
      if (up === dir) throw new OutputPathError(label, path, 'no existing directory above it')
      dir = up
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw new OutputPathError(label, path, `cannot write in ${dir}: ${errnoText(err)}`)
  }
  let probe: string
  try {
    probe = mkdtempSync(join(dir, '.cis490-probe-'))
  } catch (err) {
    throw new OutputPathError(label, path, `cannot create anything in ${dir}: ${errnoText(err)}`)
  }
  rmdirSync(probe)
  return abs
}
