import { stripVTControlCharacters, styleText } from 'node:util'

/** A stream the CLI writes to, as far as colour cares. */
export interface ColourTarget {
  isTTY?: boolean
}

/** A function that colours a cell's text, or returns it as is. */
export type Paint = (text: string) => string

/** The colour of each job status and attempt outcome; anything else stays plain. */
const STATUS_COLOURS: Readonly<Record<string, Parameters<typeof styleText>[0]>> = {
  completed: 'green',
  running: 'cyan',
  claimed: 'cyan',
  pending: 'yellow',
  failed: 'red',
  cancelled: 'gray',
  lapsed: 'yellow',
  released: 'gray',
  yes: 'green',
  no: 'red',
}

/**
 * Whether to colour what goes to `stream`.
 * @remarks Node's own rule (`tty.getColorDepth`, which `util.styleText` follows): `FORCE_COLOR`
 * decides when set (`1`, `2`, `3`, `true` or empty: on; `0`, `false` or anything else: off), and it
 * wins over `NO_COLOR`, as Node 22 does (it warns "The 'NO_COLOR' env is ignored due to the
 * 'FORCE_COLOR' env being set"); else a non-empty `NO_COLOR` turns colour off (no-color.org: an
 * empty one does not); else only a TTY gets colour. Decided here rather than by `styleText`'s
 * `stream` option so that the rule is the same for every stream and testable with a fake env.
 */
export function colourEnabled(stream: ColourTarget, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined) return ['', '1', '2', '3', 'true'].includes(force)
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return stream.isTTY === true
}

/** Colours a status word (or `yes`/`no`) when `on`; other words and `on = false` give the text as is. */
export function statusPainter(on: boolean): Paint {
  if (!on) return (text) => text
  return (text) => {
    const colour = STATUS_COLOURS[text]
    return colour === undefined ? text : styleText(colour, text, { validateStream: false })
  }
}

/** `text` in red when `on` (the `error:` prefix). */
export function red(text: string, on: boolean): string {
  return on ? styleText('red', text, { validateStream: false }) : text
}

/** `text` in yellow when `on` (the `warning:` prefix). */
export function yellow(text: string, on: boolean): string {
  return on ? styleText('yellow', text, { validateStream: false }) : text
}

/** One SGR escape code (a colour or a reset) at the start of a string. */
const SGR = new RegExp(`^${'\u001b'}\\[[0-9;]*m`)

/** How many columns `text` takes on a terminal: its length without escape codes. */
export function visibleWidth(text: string): number {
  return stripVTControlCharacters(text).length
}

/** `text` padded with spaces to `width` visible columns. */
export function padVisible(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleWidth(text)))
}

/**
 * The first `width` visible columns of one line, its SGR escape codes kept; a reset is appended
 * when the cut falls inside a coloured span, so the colour does not leak into the next line.
 */
export function sliceVisible(line: string, width: number): string {
  let out = ''
  let seen = 0
  let cut = false
  for (let i = 0; i < line.length; ) {
    const esc = SGR.exec(line.slice(i))
    if (esc !== null) {
      out += esc[0]
      i += esc[0].length
      continue
    }
    if (seen === width) {
      cut = true
      break
    }
    out += line[i]
    seen++
    i++
  }
  return cut && out.includes('\x1b[') ? `${out}\x1b[0m` : out
}
