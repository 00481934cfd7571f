import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { type AsyncBuffer, type FileMetaData, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet'
import { DatasetError } from './errors.ts'

/** A parquet file opened for reading: its columns, row count and metadata. */
export interface ParquetSource {
  readonly file: string
  readonly columns: readonly string[]
  /** Parquet physical type per column (`FLOAT`, `BYTE_ARRAY`...). */
  readonly types: readonly string[]
  readonly rows: number
  readonly metadata: FileMetaData
  readonly buffer: AsyncBuffer
  close(): Promise<void>
}

/** Reads a parquet file's footer; the file stays open until `close()`. */
export async function openParquet(file: string): Promise<ParquetSource> {
  const fh = await open(file, 'r')
  try {
    const { size } = await fh.stat()
    const buffer = fileAsyncBuffer(fh, size)
    let metadata: FileMetaData
    try {
      metadata = await parquetMetadataAsync(buffer)
    } catch (err) {
      throw new DatasetError({ file }, `not a readable parquet file: ${(err as Error).message}`)
    }
    const top = parquetSchema(metadata).children
    for (const c of top) {
      if (c.children.length > 0)
        throw new DatasetError({ file, column: c.element.name }, 'nested parquet columns are not supported')
    }
    return {
      file,
      columns: top.map((c) => c.element.name),
      types: top.map((c) => String(c.element.type)),
      rows: Number(metadata.num_rows),
      metadata,
      buffer,
      close: () => fh.close(),
    }
  } catch (err) {
    await fh.close()
    throw err
  }
}

/** Positional reads on an open file: hyparquet asks for the footer, then column chunks. */
function fileAsyncBuffer(fh: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size)
      const out = new Uint8Array(Math.max(0, stop - start))
      let off = 0
      while (off < out.length) {
        const { bytesRead } = await fh.read(out, off, out.length - off, start + off)
        if (bytesRead === 0) break
        off += bytesRead
      }
      return out.buffer
    },
  }
}

/** A column's decoded values for rows [rowStart, rowEnd) of the file. */
export interface ParquetColumnChunk {
  readonly column: string
  readonly values: ArrayLike<unknown>
  readonly rowStart: number
}

/**
 * Reads `columns` one row group at a time, handing each decoded column chunk to
 * `onChunk` before moving on, so at most one row group is decoded in memory.
 */
export async function readParquetColumns(
  src: ParquetSource,
  columns: readonly string[],
  onChunk: (chunk: ParquetColumnChunk) => void,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  let groupStart = 0
  // hyparquet calls onChunk inside a promise callback: an exception there would be an
  // unhandled rejection, so keep the first one and rethrow it here.
  let failure: unknown
  let failed = false
  const guarded = (chunk: ParquetColumnChunk) => {
    if (failed) return
    try {
      onChunk(chunk)
    } catch (err) {
      failed = true
      failure = err
    }
  }
  for (const group of src.metadata.row_groups) {
    opts.signal?.throwIfAborted()
    const groupRows = Number(group.num_rows)
    if (groupRows === 0) continue
    await parquetRead({
      file: src.buffer,
      metadata: src.metadata,
      columns: [...columns],
      rowStart: groupStart,
      rowEnd: groupStart + groupRows,
      onChunk: ({ columnName, columnData, rowStart }) => guarded({ column: columnName, values: columnData, rowStart }),
    })
    if (failed) throw failure
    groupStart += groupRows
  }
}
