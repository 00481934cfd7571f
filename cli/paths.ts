import { accessSync, constants, type Stats, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { UsageError } from './errors.ts'

/** `--flag path`, or just the path for a positional argument (`flag` empty). */
function where(flag: string, path: string): string {
  const p = path === '' ? '""' : path
  return flag === '' ? p : `${flag} ${p}`
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw err
  }
}

/** A short reason for a system error, for messages. */
export function errnoReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file or directory'
  if (code === 'ENOTDIR') return 'a part of the path is a file, not a directory'
  if (code === 'EISDIR') return 'is a directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'read-only file system'
  if (code === 'ENOSPC') return 'no space left on the device'
  return code ?? (err instanceof Error ? err.message : String(err))
}

/** Refuses an empty option value (`--out ""` would mean the working directory). */
export function requireValue(flag: string, value: string, what: string): void {
  if (value.trim() === '')
    throw new UsageError(`${flag === '' ? 'argument' : flag}: expected ${what}, got an empty string`)
}

/**
 * Checks an output FILE before anything is written: not empty, not a directory, not an
 * existing file unless `force`, and its directory exists and is writable.
 * @returns the absolute path.
 * @throws UsageError naming the flag, the path and the fix.
 */
export function checkOutputFile(flag: string, path: string, opts: { force: boolean; example: string }): string {
  requireValue(flag, path, 'a file path')
  const abs = resolve(path)
  const st = statOrNull(abs)
  if (st?.isDirectory() === true)
    throw new UsageError(
      `${where(flag, path)}: is a directory; give a file path such as ${join(path, opts.example)} (--force never replaces a directory)`,
    )
  if (st !== null && !opts.force)
    throw new UsageError(`${where(flag, path)}: exists; refusing to overwrite it (use --force)`)
  const dir = dirname(abs)
  const dst = statOrNull(dir)
  if (dst === null) throw new UsageError(`${where(flag, path)}: directory ${dir} does not exist (create it first)`)
  if (!dst.isDirectory()) throw new UsageError(`${where(flag, path)}: ${dir} is a file, not a directory`)
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw new UsageError(`${where(flag, path)}: cannot write in ${dir}: ${errnoReason(err)}`)
  }
  return abs
}

/**
 * Checks an input file: it exists, is a regular file and is readable.
 * @throws UsageError naming the flag (or argument) and the path.
 */
export function requireInputFile(flag: string, path: string, what: string): void {
  requireValue(flag, path, `${what} path`)
  let st: Stats | null
  try {
    st = statOrNull(path)
  } catch (err) {
    throw new UsageError(`${where(flag, path)}: cannot read ${what}: ${errnoReason(err)}`)
  }
  if (st === null) throw new UsageError(`${where(flag, path)}: no such file (expected ${what})`)
  if (st.isDirectory()) throw new UsageError(`${where(flag, path)}: is a directory, expected ${what}`)
  try {
    accessSync(path, constants.R_OK)
  } catch (err) {
    throw new UsageError(`${where(flag, path)}: cannot read ${what}: ${errnoReason(err)}`)
  }
}

/**
 * Checks an input directory: it exists and is a directory.
 * @throws UsageError naming the flag (or argument) and the path.
 */
export function requireInputDir(flag: string, path: string, what: string): void {
  requireValue(flag, path, `${what} path`)
  let st: Stats | null
  try {
    st = statOrNull(path)
  } catch (err) {
    throw new UsageError(`${where(flag, path)}: cannot read ${what}: ${errnoReason(err)}`)
  }
  if (st === null) throw new UsageError(`${where(flag, path)}: no such directory (expected ${what})`)
  if (!st.isDirectory()) throw new UsageError(`${where(flag, path)}: is a file, expected ${what}`)
}
