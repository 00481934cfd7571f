import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { exporter, type ReadableStorage, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { BlockExportError } from './errors.ts'

/**
 * Writes the UnixFS directory `root` from `store` as files under `outDir` (which must not
 * exist): into a temporary sibling first, each file and directory fsynced, then renamed into place.
 *
 * @throws {@link BlockExportError} when `outDir` exists, `root` is not a directory, a block is
 * missing, or an entry name would leave the directory.
 */
export async function exportUnixfsDirectory(
  store: ReadableStorage,
  root: CID,
  outDir: string,
  signal?: AbortSignal,
): Promise<void> {
  if (await exists(outDir)) throw new BlockExportError(`export ${root}: ${outDir} already exists`)
  const parent = dirname(outDir)
  await mkdir(parent, { recursive: true })
  const temp = join(parent, `.${basename(outDir)}.partial-${randomBytes(6).toString('hex')}`)
  await mkdir(temp)
  try {
    const dirs = [temp]
    const top = await exporter(root, store, { signal: signal })
    if (top.type !== 'directory') throw new BlockExportError(`export ${root}: not a UnixFS directory`)
    await writeEntries(store, root, top, temp, '', dirs, signal)
    for (const d of dirs.reverse()) await fsyncDir(d)
    await rename(temp, outDir)
    await fsyncDir(parent)
  } catch (err) {
    await rm(temp, { recursive: true, force: true })
    if ((err as Error).name === 'NotFoundError') {
      throw new BlockExportError(`export ${root}: a block is missing here (${(err as Error).message}); fetch it first`)
    }
    throw err
  }
}

/** Writes the entries of a UnixFS directory under `dir` (depth first), checking every name. */
async function writeEntries(
  store: ReadableStorage,
  root: CID,
  entry: UnixFSEntry,
  dir: string,
  rel: string,
  dirs: string[],
  signal: AbortSignal | undefined,
): Promise<void> {
  if (entry.type !== 'directory') return
  for await (const link of entry.entries({ signal })) {
    signal?.throwIfAborted()
    const name = link.name
    const childRel = rel === '' ? name : `${rel}/${name}`
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
      throw new BlockExportError(`export ${root}: entry name ${JSON.stringify(childRel)} is not a plain file name`)
    }
    const path = join(dir, name)
    const child = await exporter(link.cid, store, { signal })
    if (child.type === 'directory') {
      await mkdir(path)
      dirs.push(path)
      await writeEntries(store, root, child, path, childRel, dirs, signal)
    } else if (child.type === 'file' || child.type === 'raw') {
      const fh = await open(path, 'wx')
      try {
        for await (const chunk of child.content({ signal })) {
          let off = 0
          while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten
        }
        await fh.sync()
      } finally {
        await fh.close()
      }
    } else {
      throw new BlockExportError(`export ${root}: entry ${JSON.stringify(childRel)} is a ${child.type}, not a file`)
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
