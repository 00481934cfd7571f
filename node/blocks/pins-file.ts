import { randomBytes } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseCid } from './dag-links.ts'
import { BadCidError } from './errors.ts'

/** The pinned roots of a block store directory, one JSON array. */
export const PINS_FILE = 'pins.json'

/** The pinned roots listed in `dir/pins.json` (none when it is missing). */
export async function readPins(dir: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(join(dir, PINS_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const list: unknown = JSON.parse(text)
  if (!Array.isArray(list)) throw new BadCidError(`${join(dir, PINS_FILE)}: expected a JSON array of CIDs`)
  return list.map((item) => parseCid(String(item)).toString())
}

/** Writes `dir/pins.json` atomically (temp file, flush, rename), sorted. */
export async function writePins(dir: string, pins: readonly string[]): Promise<void> {
  const path = join(dir, PINS_FILE)
  const temp = `${path}.tmp-${randomBytes(4).toString('hex')}`
  await writeFile(temp, `${JSON.stringify([...pins].sort())}\n`, { flush: true })
  await rename(temp, path)
}
