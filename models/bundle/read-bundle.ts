import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Dataset, Scaler } from '../types.ts'
import { BUNDLE_JSON_FILE, type BundleJson, BundleJsonSchema, SCALER_FILE } from './bundle-json.ts'
import { BundleError, SchemaMismatchError } from './errors.ts'
import { ScalerJsonSchema, scalerFromJson } from './scaler-json.ts'

/** A bundle read back: its validated bundle.json and, when present, its scaler. */
export interface LoadedBundle {
  readonly dir: string
  readonly meta: BundleJson
  readonly scaler?: Scaler
}

/**
 * Reads and validates a bundle directory's bundle.json (and scaler.json when present).
 * With `dataset` (or `schemaHash`), refuses a bundle made for another schema.
 * @throws BundleError naming the file and field; SchemaMismatchError on another schema hash.
 */
export async function readBundle(
  dir: string,
  expect: { dataset?: Pick<Dataset, 'schemaHash' | 'features' | 'classes' | 'mode'>; schemaHash?: string } = {},
): Promise<LoadedBundle> {
  const metaFile = join(dir, BUNDLE_JSON_FILE)
  const meta = BundleJsonSchema.safeParse(await readJson(metaFile))
  if (!meta.success) {
    const issue = meta.error.issues[0]
    throw new BundleError(`${metaFile}: ${issue.path.map(String).join('.') || '(top)'}: ${issue.message}`)
  }
  let scaler: Scaler | undefined
  const scalerFile = join(dir, SCALER_FILE)
  const rawScaler = await readJson(scalerFile, true)
  if (rawScaler !== undefined) {
    const parsed = ScalerJsonSchema.safeParse(rawScaler)
    if (!parsed.success) throw new BundleError(`${scalerFile}: ${parsed.error.issues[0].message}`)
    if (parsed.data.features.join('\n') !== meta.data.features.join('\n'))
      throw new BundleError(`${scalerFile}: its features differ from ${BUNDLE_JSON_FILE}'s`)
    scaler = scalerFromJson(parsed.data)
  }
  const bundle = { dir, meta: meta.data, scaler }
  if (expect.dataset !== undefined) assertSchemaMatches(bundle, expect.dataset)
  else if (expect.schemaHash !== undefined && expect.schemaHash !== meta.data.schema_hash)
    throw new SchemaMismatchError(
      `bundle ${dir} was trained on schema ${meta.data.schema_hash}, not ${expect.schemaHash}: ` +
        'the features (in mode order) or classes differ',
    )
  return bundle
}

/**
 * Refuses to apply a bundle to data of another schema hash, saying what differs.
 * @throws SchemaMismatchError
 */
export function assertSchemaMatches(
  bundle: LoadedBundle,
  data: Pick<Dataset, 'schemaHash' | 'features' | 'classes' | 'mode'>,
): void {
  const meta = bundle.meta
  if (meta.schema_hash === data.schemaHash) return
  const diffs: string[] = []
  const missing = meta.features.filter((f) => !data.features.includes(f))
  const extra = data.features.filter((f) => !meta.features.includes(f))
  if (missing.length > 0) diffs.push(`${missing.length} of its features missing (first: ${missing[0]})`)
  if (extra.length > 0) diffs.push(`${extra.length} features it does not know (first: ${extra[0]})`)
  if (missing.length === 0 && extra.length === 0 && meta.features.join('\n') !== data.features.join('\n'))
    diffs.push('the features in another order')
  if (meta.classes.join('\n') !== data.classes.join('\n'))
    diffs.push(`classes [${data.classes.join(', ')}] instead of [${meta.classes.join(', ')}]`)
  throw new SchemaMismatchError(
    `bundle ${bundle.dir} (mode "${meta.mode}", schema ${meta.schema_hash.slice(0, 12)}) does not fit this data ` +
      `(mode "${data.mode}", schema ${data.schemaHash.slice(0, 12)}): the data has ${diffs.join('; ') || 'another schema'}`,
  )
}

async function readJson(file: string, optional = false): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new BundleError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new BundleError(`${file}: invalid JSON: ${(err as Error).message}`)
  }
}
