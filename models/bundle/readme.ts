/** What the generic part of a bundle's README needs to know. */
export interface ReadmeInput {
  readonly jobId: string
  readonly model: string
  readonly mode: string
  readonly datasetName: string
  readonly schemaHash: string
  readonly features: number
  readonly classes: readonly string[]
  readonly standardized: boolean
  /** Bundle-relative names of the trainer's files. */
  readonly modelFiles: readonly string[]
  /** The trainer's own README text (how to load its files). */
  readonly trainerReadme: string
}

/**
 * The bundle's README.md: the generic part (files, inputs, split, standardisation) and
 * then the trainer's text on loading its model files without this project.
 */
export function bundleReadme(r: ReadmeInput): string {
  const lines = [
    `# ${r.model} model, dataset "${r.datasetName}", mode "${r.mode}"`,
    '',
    `A cis490-node training bundle (format \`cis490-bundle/1\`) of job \`${r.jobId}\`.`,
    'Its IPFS UnixFS root CID (CIDv1, raw leaves, sha2-256) identifies these exact bytes.',
    '',
    '## Files',
    '',
    '- `bundle.json`: the job (model, mode, hyper-parameters with defaults filled, split), the',
    '  input `features` in model order, the `classes` (a class index is a position in this list),',
    '  `schema_hash`, and `metrics`: `val_`/`test_macro_f1` (scikit-learn `f1_score(average="macro")`),',
    '  `val_`/`test_accuracy`, `per_class_f1` (`{CLASS: {val, test}}`), `confusion`',
    '  (`{val, test}`, rows = true class, columns = predicted, in `classes` order).',
    ...(r.standardized ? ['- `scaler.json`: `{features, mean, std}` fitted on the train rows (float32 values).'] : []),
    ...r.modelFiles.map((f) => `- \`${f}\`: model file (see below).`),
    '- `README.md`: this file.',
    '',
    '## Inputs',
    '',
    `Each row is one window: the ${r.features} features named in \`bundle.json\` \`features\`, in that`,
    'order, as float32; a missing value is NaN. The schema hash is the sha256 hex of',
    '`JSON.stringify([features, classes])` (no spaces):',
    `\`${r.schemaHash}\`. Apply the model only to data with the same hash.`,
    '',
    ...(r.standardized
      ? [
          '## Standardisation',
          '',
          'The model sees `(x - mean) / std` per feature with `mean` and `std` from `scaler.json`',
          '(population std of the non-missing train values, 0 replaced by 1); a missing value',
          'becomes 0 (the train mean). In Python:',
          '',
          '```python',
          'import json, numpy as np',
          "s = json.load(open('scaler.json'))",
          "mean, std = np.array(s['mean'], np.float32), np.array(s['std'], np.float32)",
          'Z = np.where(np.isnan(X), 0, (X - mean) / std).astype(np.float32)',
          '```',
          '',
        ]
      : []),
    '## Split',
    '',
    '`u(key)` = first 8 bytes of sha256(UTF-8 key), big-endian, / 2**64. Test rows are the rows of',
    '`split.test_hosts`; of the others (only `split.train_hosts` when non-empty) an episode goes to',
    'val when `u(f"{seed}:val:{host}:{episode}") < split.val_frac`, otherwise to train.',
    '',
    r.trainerReadme.trim(),
    '',
  ]
  return lines.join('\n')
}
