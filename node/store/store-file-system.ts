import * as fsp from 'node:fs/promises'

/** The part of an open file a {@link FileDocumentStore} uses (a subset of `fs/promises` `FileHandle`). */
export interface StoreFileHandle {
  writeFile(data: Uint8Array): Promise<void>
  sync(): Promise<void>
  close(): Promise<void>
}

/**
 * The file-system calls a {@link FileDocumentStore} makes (a subset of `node:fs/promises`).
 * @remarks Injectable so tests can record the order of writes, fsyncs and renames, or fail one
 * call to stand for a crash at that point.
 */
export interface StoreFileSystem {
  mkdir(path: string, opts: { recursive: true; mode: number }): Promise<unknown>
  open(path: string, flags: string, mode?: number): Promise<StoreFileHandle>
  readFile(path: string): Promise<Uint8Array>
  readdir(path: string): Promise<string[]>
  rename(from: string, to: string): Promise<void>
  link(existing: string, created: string): Promise<void>
  unlink(path: string): Promise<void>
}

/** The real file system: `node:fs/promises`. */
export const NODE_STORE_FILE_SYSTEM: StoreFileSystem = fsp
