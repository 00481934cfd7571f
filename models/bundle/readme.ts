/**
 * Python (csv + numpy) that reads a dataset CSV into a model's input: the bundle's feature
 * columns in order as float32, missing (empty, `NaN`, `?`) as NaN, and the labels.
 * @remarks The trainers' README snippets start with it so that they run as written
 * (`python3 predict.py WINDOWS.csv` in the bundle directory); a test runs them.
 */
export const PYTHON_READ_CSV = `import csv
import sys
import numpy as np

def read_csv(path, features):
    """(X, labels) of a CSV with the dataset's columns: X float32 rows x features, NaN = missing."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    absent = [c for c in features if rows and c not in rows[0]]
    assert not absent, f"{path} lacks the feature columns {absent[:5]}"
    X = np.array([[np.nan if r[c] in ("", "NaN", "?") else float(r[c]) for c in features] for r in rows],
                 dtype=np.float32).reshape(len(rows), len(features))
    return X, [r.get("label") for r in rows]
`

/** Python that prints `pred` (one label a row) and, when the CSV labels every row, the accuracy on stderr. */
export const PYTHON_PRINT_PREDICTIONS = `print("\\n".join(pred))
if labels and all(labels):
    print(f"accuracy {np.mean([p == t for p, t in zip(pred, labels)]):.4f} on {len(pred)} rows", file=sys.stderr)
`

/** How a README says to run its Python snippet. */
export const PYTHON_RUN_HINT = [
  'Save this as `predict.py` in the bundle directory and run `python3 predict.py WINDOWS.csv`, where',
  "WINDOWS.csv has the dataset's columns (`host`, `episode`, `window`, `label` and the features; a file",
  'of the dataset will do). It prints one predicted label a row and, when the file has labels, the',
  'accuracy on stderr.',
].join('\n')

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
          'import json',
          'import numpy as np',
          '',
          'scaler = json.load(open("scaler.json"))',
          'mean = np.array(scaler["mean"], np.float32)',
          'std = np.array(scaler["std"], np.float32)',
          '',
          'def standardise(X):',
          '    """X: float32 rows x features in bundle.json `features` order, NaN = missing."""',
          '    return np.where(np.isnan(X), 0, (X - mean) / std).astype(np.float32)',
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
