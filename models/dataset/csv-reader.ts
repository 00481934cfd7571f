import { open } from 'node:fs/promises'
import { DatasetError } from './errors.ts'

/**
 * One CSV record as byte ranges into a shared buffer: valid only during the callback.
 *
 * @remarks Our own reader rather than csv-parse (node-csv): a 660k x 234 file is 154M
 * cells, and a general reader makes a string per cell (and an array per row) before we
 * turn most of them into float32. Reading byte ranges and parsing numbers straight from
 * the bytes keeps the load at a few seconds and the heap flat. It speaks RFC 4180:
 * quoted fields with `""` escapes and embedded newlines, LF or CRLF, a UTF-8 BOM, empty
 * lines skipped.
 */
export class CsvRecord {
  buf: Buffer = Buffer.alloc(0)
  /** Number of fields. */
  count = 0
  /** 1-based line where the record starts. */
  line = 0
  start = new Int32Array(256)
  end = new Int32Array(256)
  /** 1 when the field was quoted and holds `""` escapes. */
  escaped = new Uint8Array(256)
  /** Whether any field was quoted (an empty line is a record of one unquoted empty field). */
  quoted = false
  /** Line breaks the record spans, its terminator included. */
  newlines = 0

  /** Field `i` as a string (UTF-8, escapes undone). */
  text(i: number): string {
    const s = this.buf.toString('utf8', this.start[i], this.end[i])
    return this.escaped[i] === 1 ? s.replaceAll('""', '"') : s
  }

  /** Grows the field arrays. */
  grow(): void {
    const n = this.start.length * 2
    const start = new Int32Array(n)
    start.set(this.start)
    const end = new Int32Array(n)
    end.set(this.end)
    const escaped = new Uint8Array(n)
    escaped.set(this.escaped)
    this.start = start
    this.end = end
    this.escaped = escaped
  }
}

const CHUNK = 1 << 22
const QUOTE = 34
const COMMA = 44
const LF = 10
const CR = 13

/**
 * Streams the records of a CSV file (header included) through `onRecord`, reading 4 MB
 * at a time and yielding to the event loop between chunks.
 * @throws DatasetError naming the file and line on an unterminated quote or stray characters.
 */
export async function readCsvRecords(
  file: string,
  onRecord: (rec: CsvRecord) => void,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const fh = await open(file, 'r')
  try {
    let buf = Buffer.allocUnsafe(CHUNK * 2)
    let len = 0
    let eof = false
    let line = 1
    let first = true
    const rec = new CsvRecord()
    while (true) {
      opts.signal?.throwIfAborted()
      if (!eof) {
        if (len === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2)
          buf.copy(bigger, 0, 0, len)
          buf = bigger
        }
        const { bytesRead } = await fh.read(buf, len, Math.min(CHUNK, buf.length - len), null)
        if (bytesRead === 0) eof = true
        len += bytesRead
      }
      let pos = 0
      if (first && len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3
      if (len >= 3 || eof) first = false
      rec.buf = buf
      while (pos < len) {
        const next = parseRecord(buf, pos, len, eof, rec, file, line)
        if (next < 0) break
        rec.line = line
        line += rec.newlines
        pos = next
        if (rec.count === 1 && rec.start[0] === rec.end[0] && !rec.quoted) continue
        onRecord(rec)
      }
      if (eof) return
      buf.copy(buf, 0, pos, len)
      len -= pos
    }
  } finally {
    await fh.close()
  }
}

/**
 * Parses one record starting at `pos`; returns the position after its line end, or -1
 * when the record continues past `len` and more input is coming.
 */
function parseRecord(
  buf: Buffer,
  pos: number,
  len: number,
  eof: boolean,
  rec: CsvRecord,
  file: string,
  line: number,
): number {
  let f = 0
  rec.quoted = false
  rec.newlines = 0
  while (true) {
    if (f === rec.start.length) rec.grow()
    if (pos < len && buf[pos] === QUOTE) {
      let p = pos + 1
      let esc = 0
      let close: number
      while (true) {
        const q = buf.indexOf(QUOTE, p)
        if (q < 0 || q >= len) {
          if (eof) throw new DatasetError({ file, line }, 'unterminated quoted field')
          return -1
        }
        if (q + 1 >= len && !eof) return -1
        if (q + 1 < len && buf[q + 1] === QUOTE) {
          esc = 1
          p = q + 2
          continue
        }
        close = q
        break
      }
      rec.start[f] = pos + 1
      rec.end[f] = close
      rec.escaped[f] = esc
      rec.quoted = true
      for (let k = pos + 1; k < close; k++) if (buf[k] === LF) rec.newlines++
      pos = close + 1
    } else {
      let p = pos
      while (p < len) {
        const b = buf[p]
        if (b === COMMA || b === LF || b === CR) break
        p++
      }
      if (p >= len && !eof) return -1
      rec.start[f] = pos
      rec.end[f] = p
      rec.escaped[f] = 0
      pos = p
    }
    f++
    if (pos >= len) {
      rec.count = f
      return pos
    }
    const b = buf[pos]
    if (b === COMMA) {
      pos++
      continue
    }
    if (b === LF) {
      rec.count = f
      rec.newlines++
      return pos + 1
    }
    if (b === CR) {
      if (pos + 1 >= len && !eof) return -1
      rec.count = f
      rec.newlines++
      return buf[pos + 1] === LF && pos + 1 < len ? pos + 2 : pos + 1
    }
    throw new DatasetError(
      { file, line },
      `unexpected character ${JSON.stringify(String.fromCharCode(b))} after a closing quote`,
    )
  }
}

/**
 * Counts the data records of a CSV file (non-empty records after the header) without
 * parsing fields: the first of the loader's two passes, so that the feature matrix is
 * allocated once at its exact size.
 */
export async function countCsvRecords(file: string, opts: { signal?: AbortSignal } = {}): Promise<number> {
  const fh = await open(file, 'r')
  try {
    const buf = Buffer.allocUnsafe(CHUNK)
    let records = 0
    let inQuote = false
    let lineHasContent = false
    while (true) {
      opts.signal?.throwIfAborted()
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null)
      if (bytesRead === 0) break
      const chunk = buf.subarray(0, bytesRead)
      if (!inQuote && chunk.indexOf(QUOTE) < 0) {
        let p = 0
        while (true) {
          const nl = chunk.indexOf(LF, p)
          if (nl < 0) {
            if (p < bytesRead && !(bytesRead - p === 1 && chunk[p] === CR)) lineHasContent = true
            break
          }
          const start = p
          const contentEnd = nl > start && chunk[nl - 1] === CR ? nl - 1 : nl
          if (lineHasContent || contentEnd > start) records++
          lineHasContent = false
          p = nl + 1
        }
      } else {
        for (let p = 0; p < bytesRead; p++) {
          const b = chunk[p]
          if (b === QUOTE) {
            inQuote = !inQuote
            lineHasContent = true
          } else if (b === LF && !inQuote) {
            if (lineHasContent) records++
            lineHasContent = false
          } else if (b !== CR) lineHasContent = true
        }
      }
    }
    if (lineHasContent) records++
    return Math.max(0, records - 1)
  } finally {
    await fh.close()
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i)
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const INFINITY_TEXT = /^([+-]?)(inf|infinity)$/i

/**
 * Parses a numeric CSV cell from bytes: NaN for a missing value (empty, `NaN`, `?`),
 * `undefined` when the cell is not a number.
 *
 * @remarks Plain decimals of up to 15 digits take Clinger's fast path (an exact integer
 * divided by an exact power of ten is correctly rounded, so it equals `Number(text)`);
 * anything else goes through `Number`.
 */
export function parseNumberCell(buf: Buffer, s: number, e: number): number | undefined {
  if (s === e) return Number.NaN
  let p = s
  let neg = false
  if (buf[p] === 45) {
    neg = true
    p++
  } else if (buf[p] === 43) p++
  let m = 0
  let digits = 0
  let frac = 0
  while (p < e) {
    const d = buf[p] - 48
    if (d < 0 || d > 9) break
    m = m * 10 + d
    digits++
    p++
  }
  if (p < e && buf[p] === 46) {
    p++
    while (p < e) {
      const d = buf[p] - 48
      if (d < 0 || d > 9) break
      m = m * 10 + d
      digits++
      frac++
      p++
    }
  }
  if (p === e && digits > 0 && digits <= 15) {
    const v = frac === 0 ? m : m / POW10[frac]
    return neg ? -v : v
  }
  return parseNumberText(buf.toString('latin1', s, e))
}

/** The slow path of {@link parseNumberCell}, on text. */
export function parseNumberText(text: string): number | undefined {
  if (text === '' || text === '?' || text === 'NaN' || text === 'nan' || text === 'NAN') return Number.NaN
  if (NUMBER_TEXT.test(text)) return Number(text)
  const inf = INFINITY_TEXT.exec(text)
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity
  return undefined
}
