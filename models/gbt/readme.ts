import { PYTHON_PRINT_PREDICTIONS, PYTHON_READ_CSV, PYTHON_RUN_HINT } from '../bundle/readme.ts'

/** Facts the gbt bundle README states. */
export interface GbtReadmeFacts {
  readonly xgboostVersion: string
  readonly bestIteration: number
  readonly roundsTrained: number
  readonly numClass: number
}

/**
 * The bundle README section on loading `model.xgb.json` without this project.
 *
 * @remarks Deterministic (no paths, hosts or times), since it is part of the bundle.
 */
export function gbtReadme(facts: GbtReadmeFacts): string {
  return `## model.xgb.json (XGBoost)

An XGBoost ${facts.xgboostVersion} \`multi:softprob\` booster over ${facts.numClass} classes, in
XGBoost's own JSON model format. Training ran ${facts.roundsTrained} rounds with early stopping on the
validation mlogloss; the file holds only the rounds up to the best one (iteration
${facts.bestIteration}, 0-based), so predict with all of its trees. The attributes
\`best_iteration\` and \`best_score\` record the stopping point.

Input: one row per window, the columns in the order of \`features\` in \`bundle.json\`,
as float32, with missing values as NaN (the raw values: no scaling). Output: one
probability per class, in the order of \`classes\` in \`bundle.json\`; the prediction is
the argmax (ties to the first class).

\`\`\`python
${PYTHON_READ_CSV}import json
import xgboost as xgb  # >= 1.7

bundle = json.load(open("bundle.json"))
booster = xgb.Booster(model_file="model.xgb.json")
X, labels = read_csv(sys.argv[1], bundle["features"])  # raw values, NaN = missing
proba = booster.predict(xgb.DMatrix(X, missing=np.nan))  # shape (n, len(bundle["classes"]))
pred = [bundle["classes"][i] for i in proba.argmax(axis=1)]
${PYTHON_PRINT_PREDICTIONS}\`\`\`

${PYTHON_RUN_HINT} With pandas, select the columns instead:
\`X = df[bundle["features"]].to_numpy(np.float32)\`.
Other XGBoost bindings (R, JVM, C) load the same file with their \`load_model\`.
`
}
