import { shortId } from '../../manifests/index.ts'
import type { JobJson, ResultJson } from '../../node/api/index.ts'
import { colourEnabled, type Paint, sliceVisible, statusPainter } from '../colour.ts'
import { formatTable } from '../table.ts'
import { f1Text } from './jobs.ts'

/** Where the demo's human-readable output goes. */
export interface TextOut {
  write(text: string): unknown
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled'])

/** True once every job is completed, failed or cancelled. */
export function allTerminal(jobs: readonly JobJson[]): boolean {
  return jobs.length > 0 && jobs.every((j) => TERMINAL.has(j.status))
}

function countsText(jobs: readonly JobJson[]): string {
  const counts = new Map<string, number>()
  for (const j of jobs) counts.set(j.status, (counts.get(j.status) ?? 0) + 1)
  const order = ['completed', 'running', 'claimed', 'pending', 'failed', 'cancelled']
  return order
    .filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(', ')
}

function jobTable(jobs: readonly JobJson[], paint: Paint): string {
  return formatTable(
    ['ID', 'MODEL', 'MODE', 'STATUS', 'ATTEMPT', 'HOST', 'VAL F1', 'TEST F1'],
    jobs.map((j) => [
      shortId(j.id),
      j.model,
      j.mode,
      paint(j.status),
      `${j.attempt}/${j.max_attempts}`,
      j.host ?? '-',
      f1Text(j.val_macro_f1),
      f1Text(j.test_macro_f1),
    ]),
  )
}

/** What one job's line says: its status and, while it has one, its host. */
function stateOf(j: JobJson): string {
  if (j.status === 'completed') return `completed on ${j.host ?? '?'}: val F1 ${f1Text(j.val_macro_f1)}`
  if (j.status === 'failed') return `failed: ${j.error ?? 'unknown error'}`
  if (j.status === 'claimed' || j.status === 'running')
    return `${j.status} ${j.status === 'claimed' ? 'by' : 'on'} ${j.host ?? '?'}`
  return j.status
}

/**
 * The live job table: on a TTY one table redrawn in place; elsewhere one line for each job
 * whose status (or host) changed since the last poll.
 */
export class LiveJobView {
  private readonly out: TextOut
  private readonly tty: boolean
  private readonly started: number
  private drawnLines = 0
  private readonly last = new Map<string, string>()
  private readonly columns: () => number | undefined
  private readonly paint: Paint

  /**
   * @param opts.columns - the terminal's width now (it may change between polls)
   * @param opts.colour - colour the status words; default: {@link colourEnabled} for a stream
   *   that is a TTY when `opts.tty` (so NO_COLOR and FORCE_COLOR count)
   */
  constructor(
    out: TextOut,
    opts: { tty: boolean; started: number; columns?: () => number | undefined; colour?: boolean },
  ) {
    this.out = out
    this.tty = opts.tty
    this.started = opts.started
    this.columns = opts.columns ?? (() => undefined)
    this.paint = statusPainter(opts.colour ?? colourEnabled({ isTTY: opts.tty }))
  }

  /** Shows the table as of one poll. */
  update(jobs: readonly JobJson[], peers: number, now = Date.now()): void {
    const elapsed = `${((now - this.started) / 1000).toFixed(1)}s`
    if (this.tty) {
      const full = `${jobTable(jobs, this.paint)}${jobs.length} jobs on ${peers} peers: ${countsText(jobs)}  (${elapsed})\n`
      // A line the terminal wraps would take two rows and break the cursor arithmetic: cut it.
      const width = Math.max(20, (this.columns() ?? 1000) - 1)
      const text = full
        .split('\n')
        .map((l) => sliceVisible(l, width))
        .join('\n')
      // Up to the first line of the last drawing, clear to the end of the screen, draw again.
      const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[J` : ''
      this.out.write(up + text)
      this.drawnLines = text.split('\n').length - 1
      return
    }
    for (const j of jobs) {
      const state = stateOf(j)
      if (this.last.get(j.id) === state) continue
      this.last.set(j.id, state)
      // The state starts with the status word: only that is coloured.
      const shown = state.replace(/^[a-z]+/, (s) => this.paint(s))
      this.out.write(`[${elapsed.padStart(6)}] ${shortId(j.id)} ${j.model.padEnd(8)} ${j.mode.padEnd(9)} ${shown}\n`)
    }
  }
}

/** The results leaderboard: val vs test macro F1 per model and mode, best val first. */
export function leaderboardText(results: readonly ResultJson[], testHosts: string): string {
  const rows = results.map((r) => {
    const gap =
      r.val_macro_f1 === null || r.test_macro_f1 === null ? '-' : (r.test_macro_f1 - r.val_macro_f1).toFixed(4)
    return [r.model, r.mode, f1Text(r.val_macro_f1), f1Text(r.test_macro_f1), gap, r.host ?? '-', r.bundle ?? '-']
  })
  return (
    formatTable(['MODEL', 'MODE', 'VAL F1', 'TEST F1', 'TEST-VAL', 'TRAINED ON', 'BUNDLE (CID)'], rows) +
    `macro F1: val = held-out episodes of the train hosts, test = the held-out host(s) ${testHosts}\n`
  )
}
