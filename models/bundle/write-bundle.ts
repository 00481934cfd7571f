import { createReadStream } from 'node:fs'
import { mkdir, open, readdir } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import { importer, type WritableStorage } from 'ipfs-unixfs-importer'
import { BundleError } from './errors.ts'

/**
 * Checks a bundle-relative file name: forward slashes, no empty, `.` or `..` segments,
 * not absolute.
 * @throws BundleError naming the file.
 */
export function checkBundleFileName(name: string): void {
  const parts = name.split('/')
  if (name === '' || name.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new BundleError(`bundle file name "${name}": expected a relative path with "/" separators and no "." or ".."`)
}

/**
 * Writes `files` into the existing directory `dir`, each fsynced, then fsyncs the
 * directories, so that a rename of `dir` afterwards publishes complete files only.
 */
export async function writeBundleFiles(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const dirs = new Set<string>([dir])
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    opts.signal?.throwIfAborted()
    checkBundleFileName(name)
    const path = join(dir, ...name.split('/'))
    const parent = dirname(path)
    if (!dirs.has(parent)) {
      await mkdir(parent, { recursive: true })
      dirs.add(parent)
    }
    const fh = await open(path, 'wx')
    try {
      let off = 0
      while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
  for (const d of [...dirs].sort().reverse()) {
    const fh = await open(d, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
}

/** Bundle-relative names of all files under `dir`, sorted (code-unit order). */
export async function listBundleFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string) => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true })
    for (const e of entries) {
      const name = rel === '' ? e.name : posix.join(rel, e.name)
      if (e.isDirectory()) await walk(name)
      else if (e.isFile()) out.push(name)
      else throw new BundleError(`${join(dir, name)}: bundles hold regular files and directories only`)
    }
  }
  await walk('')
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * Imports a bundle directory as UnixFS (ipfs-unixfs-importer defaults: CIDv1, raw
 * leaves, sha2-256, wrapped in a directory) into `blockstore`.
 *
 * @remarks The blockstore is a parameter so a node can pass its persistent store; the
 * CLI passes a `MemoryBlockstore` just to compute the CID. Files are streamed, not read
 * whole, and fed in sorted order; entries carry no mtime or mode, so the CID depends on
 * names and bytes only.
 * @returns the root directory CID (base32 `bafy...`).
 */
export async function importBundle(
  dir: string,
  blockstore: WritableStorage,
  opts: { signal?: AbortSignal } = {},
): Promise<string> {
  const names = await listBundleFiles(dir)
  if (names.length === 0) throw new BundleError(`${dir}: an empty bundle has nothing to import`)
  const source = names.map((name) => ({ path: name, content: createReadStream(join(dir, ...name.split('/'))) }))
  let root: string | undefined
  for await (const entry of importer(source, blockstore, { wrapWithDirectory: true })) {
    opts.signal?.throwIfAborted()
    root = entry.cid.toString()
  }
  if (root === undefined) throw new BundleError(`${dir}: the importer returned no root`)
  return root
}
