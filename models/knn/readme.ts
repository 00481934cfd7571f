import { PYTHON_PRINT_PREDICTIONS, PYTHON_READ_CSV, PYTHON_RUN_HINT } from '../bundle/readme.ts'

/** A model file the README describes. */
export interface KnnReadmeFile {
  readonly name: string
  /** One sentence on what the file holds. */
  readonly about: string
}

/**
 * The Python (numpy + scikit-learn) code of the README: loads a KNN model file and
 * returns a fitted `KNeighborsClassifier` and a function that standardises raw rows.
 * @remarks The tests run this very text against written files.
 */
export const KNN_PYTHON_LOADER = `import json
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

def load_knn(path):
    """The JSON header and the sections (numpy arrays) of a cis490 KNN model file."""
    buf = open(path, "rb").read()
    assert buf[:8] == b"CIS490KN", "not a cis490 KNN model file"
    hlen = int.from_bytes(buf[8:12], "little")
    header = json.loads(buf[12:12 + hlen])
    start = 12 + hlen
    arrays = {}
    for name, s in header["sections"].items():
        count = int(np.prod(s["shape"]))
        arrays[name] = np.frombuffer(buf, dtype=s["dtype"], count=count,
                                     offset=start + s["offset"]).reshape(s["shape"])
    return header, arrays

def knn_classifier(path):
    """(header, fitted classifier, standardise) for a cis490 KNN model file."""
    header, a = load_knn(path)
    clf = KNeighborsClassifier(n_neighbors=header["k"], algorithm="brute")
    clf.fit(a["X"].astype(np.float64), a["y"])
    mean = a["mean"].astype(np.float64)
    std = a["std"].astype(np.float64)

    def standardise(raw):
        """raw: rows x features in header["feature_names"] order, NaN = missing."""
        z = (np.asarray(raw, dtype=np.float32).astype(np.float64) - mean) / std
        return np.where(np.isnan(z), 0.0, z).astype(np.float32).astype(np.float64)

    return header, clf, standardise
`

/** The bundle README section for KNN model files. */
export function knnReadme(files: readonly KnnReadmeFile[]): string {
  const list = files.map((f) => `- \`${f.name}\`: ${f.about}`).join('\n')
  const first = files[files.length - 1]?.name ?? 'model.knn.bin'
  return `# Loading the KNN model files

${list}

Each file is a k-nearest-neighbour classifier that predicts like scikit-learn's
\`KNeighborsClassifier(n_neighbors=k, algorithm="brute")\`: Euclidean distance on
standardised features, a uniform vote of the k nearest train rows, ties to the smallest
class index.

## Layout (all numbers little-endian)

| bytes | content |
|---|---|
| 0-7 | ASCII \`CIS490KN\` |
| 8-11 | uint32 \`H\`: byte length of the JSON header |
| 12 to 12+H | UTF-8 JSON header, padded with spaces so the data start \`12 + H\` is a multiple of 64 |
| 12+H + offset | the sections listed in the header's \`sections\` |

The header holds \`format\` (\`cis490-knn/1\`), \`role\` (\`model\` or \`labeller\`), \`k\`,
\`rows\`, \`features\`, \`feature_names\`, \`classes\`, \`metric\`, \`weights\`, \`tie_break\`,
\`sections\` (\`{name: {dtype, shape, offset}}\`, \`offset\` counted from the data start)
and, for knn_semi, \`extra\` (label_frac, confidence_threshold, row counts). Sections:

- \`X\`: float32 [rows, features], the standardised train rows, row-major;
- \`y\`: int32 [rows], class indices into \`classes\`;
- \`mean\`, \`std\`: float32 [features], the standardisation fitted on the train split:
  \`z = (raw - mean) / std\` computed in float64 and rounded to float32, a missing value
  becoming 0;
- \`origin\` (knn_semi's final model only): int32 [rows], 0 = true label, 1 = pseudo-label.

## Python (numpy, scikit-learn)

\`\`\`python
${KNN_PYTHON_LOADER}
${PYTHON_READ_CSV}
header, clf, standardise = knn_classifier("${first}")
X, labels = read_csv(sys.argv[1], header["feature_names"])  # raw values, NaN = missing
pred = [header["classes"][i] for i in clf.predict(standardise(X))]
${PYTHON_PRINT_PREDICTIONS}\`\`\`

${PYTHON_RUN_HINT}
`
}
