/** A store call after `close()` (or, for a memory store, after `reopen()` handed its data to a new handle). */
export class DocumentStoreClosedError extends Error {
  override name = 'DocumentStoreClosedError'

  constructor(where = 'document store') {
    super(`${where}: the store is closed`)
  }
}

/** Another live process (or another store in this process) holds the directory's lock file. */
export class DocumentStoreLockedError extends Error {
  override name = 'DocumentStoreLockedError'
  /** The lock file. */
  readonly path: string
  /** The pid written in the lock file, when readable. */
  readonly pid: number | undefined

  constructor(path: string, pid: number | undefined) {
    super(
      `${path}: the store is in use by ${pid === undefined ? 'another store' : `process ${pid}`}` +
        ' (stop that peer, or remove the lock file if no peer uses this directory)',
    )
    this.path = path
    this.pid = pid
  }
}

/** An I/O error that makes the store unusable (permission denied, not a directory, disk failure...). */
export class DocumentStoreIoError extends Error {
  override name = 'DocumentStoreIoError'
  /** The file or directory the failed operation touched. */
  readonly path: string
  /** The errno code (`EACCES`...), when the cause has one. */
  readonly code: string | undefined

  constructor(path: string, action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    super(`${path}: cannot ${action}: ${code ?? String(cause)}`, { cause })
    this.path = path
    this.code = code
  }
}
