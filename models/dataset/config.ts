import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseToml, TomlError } from 'smol-toml'
import { z } from 'zod'
import { DatasetError } from './errors.ts'

const globList = z.array(z.string({ error: 'expected a glob string' }), { error: 'expected an array of globs' })

/** One `[modes.NAME]` table: globs over feature names. */
export const ModeSchema = z.strictObject({
  include: globList.default(['*']),
  exclude: globList.default([]),
})

/** `dataset.toml`. */
export const DatasetConfigSchema = z.strictObject({
  name: z.string({ error: 'expected a dataset name string' }).min(1, { error: 'expected a non-empty name' }),
  description: z.string({ error: 'expected a string' }).optional(),
  modes: z.record(
    z.string().regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a mode name of letters, digits, "_", "-"' }),
    ModeSchema,
    { error: 'expected [modes.NAME] tables' },
  ),
})

/** A validated `dataset.toml`. */
export type DatasetConfig = z.infer<typeof DatasetConfigSchema>
/** A feature mode: include globs, then exclude globs. */
export type ModeSpec = z.infer<typeof ModeSchema>

/** The config file's name inside a dataset directory. */
export const DATASET_CONFIG_FILE = 'dataset.toml'

/**
 * Reads and validates `DIR/dataset.toml`.
 * @throws DatasetError naming the file and the TOML path of the problem.
 */
export function readDatasetConfig(dir: string): DatasetConfig {
  const file = join(dir, DATASET_CONFIG_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new DatasetError(
      { file },
      code === 'ENOENT'
        ? `not found: a dataset directory needs ${DATASET_CONFIG_FILE} (name = "...", [modes.NAME] include/exclude)`
        : `cannot read: ${code ?? String(err)}`,
    )
  }
  return parseDatasetConfig(text, file)
}

/** Parses and validates dataset.toml text; `file` names it in errors. */
export function parseDatasetConfig(text: string, file: string): DatasetConfig {
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    if (err instanceof TomlError)
      throw new DatasetError({ file }, `invalid TOML at line ${err.line}, column ${err.column}`)
    throw err
  }
  const parsed = DatasetConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue.path.map(String).join('.')
    const detail =
      issue.code === 'unrecognized_keys'
        ? `unknown key "${issue.keys[0]}" (known: name, description, modes)`
        : issue.message
    throw new DatasetError({ file }, path === '' ? detail : `${path}: ${detail}`)
  }
  return parsed.data
}

/** Mode names of a config, sorted. */
export function modeNames(config: DatasetConfig): string[] {
  return Object.keys(config.modes).sort()
}

/**
 * The features of `mode`, in `columns` order: those matching an include glob and no
 * exclude glob.
 * @throws DatasetError naming the known modes when `mode` is not in the config, or when
 * the mode selects no feature.
 */
export function selectFeatures(
  config: DatasetConfig,
  mode: string,
  columns: readonly string[],
  file: string,
): string[] {
  const spec = Object.hasOwn(config.modes, mode) ? config.modes[mode] : undefined
  if (spec === undefined) {
    const known = modeNames(config)
    throw new DatasetError(
      { file },
      `unknown mode "${mode}"; known modes: ${known.length > 0 ? known.join(', ') : '(none: add a [modes.NAME] table)'}`,
    )
  }
  const include = spec.include.map(globToRegExp)
  const exclude = spec.exclude.map(globToRegExp)
  const selected = columns.filter((c) => include.some((g) => g.test(c)) && !exclude.some((g) => g.test(c)))
  if (selected.length === 0)
    throw new DatasetError(
      { file },
      `mode "${mode}" selects no feature of ${columns.length}; check its include/exclude`,
    )
  return selected
}

/** A glob over a feature name: `*` any run of characters, `?` one character, the rest literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '^'
  for (const ch of glob) {
    if (ch === '*') re += '.*'
    else if (ch === '?') re += '.'
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')
  }
  return new RegExp(`${re}$`, 's')
}
