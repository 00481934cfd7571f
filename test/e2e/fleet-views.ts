import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NetnsFleet } from './netns-fleet.ts'

// What the scenarios read of a fleet in namespaces: its API's JSON (CONTRACTS §6) and files.

/** A row of `/v1/jobs` (the fields the scenarios read). */
export type JobRow = {
  id: string
  model: string
  mode: string
  status: string
  attempt: number
  generation: number
  owner: string | null
  host: string | null
  priority: number
  bundle: string | null
}

/** One attempt of `/v1/jobs/{id}`. */
export type Attempt = {
  generation: number
  attempt: number
  round: number
  owner: string
  host: string
  outcome: string
  claimed_at: number
}

export type JobDetail = JobRow & { attempts: Attempt[] }
/** A row of `/v1/workers`. */
export type Worker = { peer_id: string; hostname: string; reachable: boolean }

export const byId = (rows: readonly JobRow[]) => new Map(rows.map((r) => [r.id, r]))

/** The host's `/v1/jobs`. */
export const jobsOf = (fleet: NetnsFleet, host: string) => fleet.api<JobRow[]>(host, '/v1/jobs')

/** The host's `/v1/jobs/{id}`. */
export const detailOf = (fleet: NetnsFleet, host: string, id: string) => fleet.api<JobDetail>(host, `/v1/jobs/${id}`)

/** Waits until these hosts' `/v1/jobs` are the same JSON, and returns it. */
export async function converged(fleet: NetnsFleet, hosts: readonly string[], what: string, timeoutMs: number) {
  let table: JobRow[] = []
  await fleet.until(
    what,
    async () => {
      const all = await Promise.all(hosts.map((h) => jobsOf(fleet, h)))
      const texts = all.map((t) => JSON.stringify(t))
      table = all[0]
      if (texts.every((t) => t === texts[0])) return true
      throw new Error(hosts.map((h, i) => `${h}: ${all[i].map((j) => `${j.id.slice(0, 6)}=${j.status}`)}`).join('; '))
    },
    timeoutMs,
  )
  return table
}

/** Waits until a trainer of `id` runs in one of `hosts`' namespaces; returns that host. */
export async function trainerOf(fleet: NetnsFleet, id: string, hosts: readonly string[]) {
  let where = ''
  await fleet.until(
    `a trainer of ${id.slice(0, 12)}`,
    () => {
      where = hosts.find((h) => fleet.trainingJobs(h).includes(id)) ?? ''
      return where !== ''
    },
    90_000,
  )
  return where
}

/** Every host's view of a job and the end of its log, for a failure message. */
export async function explain(fleet: NetnsFleet, id: string) {
  const parts: string[] = []
  for (const h of fleet.nodes.keys()) {
    const d = await detailOf(fleet, h, id).catch((err: Error) => err.message)
    const view =
      typeof d === 'string'
        ? d
        : `${d.status} on ${d.host}; ${d.attempts.map((a) => `r${a.round}:${a.host}:${a.outcome}`).join(', ')}`
    parts.push(
      `--- ${h}: ${view}; training ${fleet.trainingJobs(h).map((j) => j.slice(0, 12))}\n${fleet.logTail(h, 25)}`,
    )
  }
  return parts.join('\n')
}

/**
 * Waits until the store peer's bundles/index.jsonl lists every completed job's bundle and checks
 * each is pinned; returns the index as sorted `job:cid` lines.
 */
export async function storeHolds(fleet: NetnsFleet, store: string, rows: readonly JobRow[]) {
  const index = join(fleet.dir, store, 'bundles', 'index.jsonl')
  const wanted = rows.filter((j) => j.status === 'completed').map((j) => `${j.id}:${j.bundle}`)
  let listed: string[] = []
  await fleet.until(
    `the store lists all ${wanted.length} bundles`,
    () => {
      listed = existsSync(index)
        ? readFileSync(index, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { job: string; cid: string })
            .map((e) => `${e.job}:${e.cid}`)
            .sort()
        : []
      return wanted.every((w) => listed.includes(w))
    },
    120_000,
  )
  const pins = readFileSync(join(fleet.dir, store, 'blocks', 'pins.json'), 'utf8')
  for (const w of wanted) assert.ok(pins.includes(w.split(':')[1]), `${w} pinned on the store`)
  return listed
}

export function idOf(rows: readonly JobRow[], pred: (j: JobRow) => boolean, what: string): string {
  const found = rows.filter(pred)
  assert.equal(found.length, 1, `one job is ${what}`)
  return found[0].id
}
