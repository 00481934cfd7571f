import type { Scaler } from '../types.ts'
import type { KnnIndex } from './knn-index.ts'

/** The first 8 bytes of every KNN model file. */
export const KNN_FILE_MAGIC = 'CIS490KN'
/** `format` in the header. */
export const KNN_FILE_FORMAT = 'cis490-knn/1'
/** The data sections start at a multiple of this many bytes. */
const ALIGN = 64

/** One binary section: little-endian values at `offset` bytes from the data start. */
export interface KnnFileSection {
  readonly dtype: '<f4' | '<i4'
  readonly shape: readonly number[]
  readonly offset: number
}

/**
 * The JSON header of a KNN model file.
 *
 * @remarks Layout of the file (all little-endian):
 * - bytes 0-7: ASCII `CIS490KN`;
 * - bytes 8-11: uint32 `H`, the byte length of the header that follows;
 * - bytes 12 to 12+H: this header as UTF-8 JSON, padded with spaces so that the data
 *   start `12 + H` is a multiple of 64;
 * - the sections, at `12 + H + offset`: `X` float32 [rows, features] (standardised train
 *   rows, row-major), `y` int32 [rows] (class indices into `classes`), `mean` and `std`
 *   float32 [features] (the scaler: `(raw - mean) / std`, missing -> 0), and for the
 *   final knn_semi model `origin` int32 [rows] (0 = true label, 1 = pseudo-label).
 * Prediction: the `k` nearest rows of `X` by Euclidean distance, uniform vote, ties to
 * the smallest class index (scikit-learn `KNeighborsClassifier(n_neighbors=k)`).
 */
export interface KnnFileHeader {
  readonly format: typeof KNN_FILE_FORMAT
  /** `model` (what the job predicts with) or `labeller` (knn_semi's first stage). */
  readonly role: 'model' | 'labeller'
  readonly k: number
  readonly rows: number
  readonly features: number
  readonly feature_names: readonly string[]
  readonly classes: readonly string[]
  readonly metric: 'euclidean'
  readonly weights: 'uniform'
  readonly tie_break: 'smallest_class_index'
  readonly sections: Readonly<Record<string, KnnFileSection>>
  /** Model-specific facts (knn_semi: label_frac, confidence_threshold, counts). */
  readonly extra?: Readonly<Record<string, unknown>>
}

/** What goes into a KNN model file. */
export interface KnnFileInput {
  readonly role: KnnFileHeader['role']
  readonly k: number
  readonly index: KnnIndex
  readonly labels: Int32Array
  readonly featureNames: readonly string[]
  readonly classes: readonly string[]
  readonly scaler: Scaler
  /** Written as the `origin` section when given (one per row). */
  readonly origin?: Int32Array
  readonly extra?: Readonly<Record<string, unknown>>
}

/** A decoded KNN model file. */
export interface KnnFile {
  readonly header: KnnFileHeader
  readonly X: Float32Array
  readonly y: Int32Array
  readonly mean: Float32Array
  readonly std: Float32Array
  readonly origin?: Int32Array
}

/**
 * Encodes a KNN model file (layout in {@link KnnFileHeader}).
 * @remarks Deterministic: the same input gives the same bytes (fixed key order, no timestamps).
 */
export function encodeKnnFile(input: KnnFileInput): Uint8Array {
  const { index, labels, scaler } = input
  const { rows, features, depth } = index
  if (labels.length !== rows) throw new RangeError(`${labels.length} labels for ${rows} rows`)
  if (input.featureNames.length !== features)
    throw new RangeError(`${input.featureNames.length} feature names for ${features} features`)
  if (scaler.mean.length !== features || scaler.std.length !== features)
    throw new RangeError(
      `scaler has ${scaler.mean.length} means and ${scaler.std.length} stds for ${features} features`,
    )
  if (input.origin && input.origin.length !== rows)
    throw new RangeError(`${input.origin.length} origin flags for ${rows} rows`)

  const sections: Record<string, KnnFileSection> = {}
  let offset = 0
  const add = (name: string, dtype: KnnFileSection['dtype'], shape: number[]): void => {
    sections[name] = { dtype, shape, offset }
    offset += 4 * shape.reduce((a, b) => a * b, 1)
  }
  add('X', '<f4', [rows, features])
  add('y', '<i4', [rows])
  add('mean', '<f4', [features])
  add('std', '<f4', [features])
  if (input.origin) add('origin', '<i4', [rows])

  const header: KnnFileHeader = {
    format: KNN_FILE_FORMAT,
    role: input.role,
    k: input.k,
    rows,
    features,
    feature_names: input.featureNames,
    classes: input.classes,
    metric: 'euclidean',
    weights: 'uniform',
    tie_break: 'smallest_class_index',
    sections,
    ...(input.extra ? { extra: input.extra } : {}),
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  const start = Math.ceil((12 + json.length) / ALIGN) * ALIGN
  const out = Buffer.alloc(start + offset)
  out.write(KNN_FILE_MAGIC, 0, 'latin1')
  out.writeUInt32LE(start - 12, 8)
  json.copy(out, 12)
  out.fill(0x20, 12 + json.length, start)

  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength)
  let p = start + sections.X.offset
  for (let r = 0; r < rows; r++) {
    const src = r * depth
    for (let l = 0; l < features; l++, p += 4) dv.setFloat32(p, index.augmented[src + l], true)
  }
  writeInt32(dv, start + sections.y.offset, labels)
  writeFloat32(dv, start + sections.mean.offset, scaler.mean)
  writeFloat32(dv, start + sections.std.offset, scaler.std)
  if (input.origin) writeInt32(dv, start + sections.origin.offset, input.origin)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** Decodes a KNN model file; errors say what is wrong with it. */
export function decodeKnnFile(bytes: Uint8Array, name = 'KNN model file'): KnnFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== KNN_FILE_MAGIC)
    throw new Error(`${name}: not a KNN model file (expected the magic bytes ${KNN_FILE_MAGIC})`)
  const hlen = buf.readUInt32LE(8)
  if (12 + hlen > buf.length) throw new Error(`${name}: header length ${hlen} runs past the end of the file`)
  const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as KnnFileHeader
  if (header.format !== KNN_FILE_FORMAT)
    throw new Error(`${name}: format ${JSON.stringify(header.format)}, expected ${KNN_FILE_FORMAT}`)
  const start = 12 + hlen
  const read = (key: string): Float32Array | Int32Array | undefined => {
    const s = header.sections[key]
    if (!s) return undefined
    const count = s.shape.reduce((a, b) => a * b, 1)
    const at = start + s.offset
    if (at + 4 * count > buf.length) throw new Error(`${name}: section ${key} runs past the end of the file`)
    const dv = new DataView(buf.buffer, buf.byteOffset + at, 4 * count)
    if (s.dtype === '<f4') {
      const out = new Float32Array(count)
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true)
      return out
    }
    const out = new Int32Array(count)
    for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true)
    return out
  }
  const need = <T>(key: string, v: T | undefined): T => {
    if (v === undefined) throw new Error(`${name}: missing section ${key}`)
    return v
  }
  return {
    header,
    X: need('X', read('X')) as Float32Array,
    y: need('y', read('y')) as Int32Array,
    mean: need('mean', read('mean')) as Float32Array,
    std: need('std', read('std')) as Float32Array,
    origin: read('origin') as Int32Array | undefined,
  }
}

function writeInt32(dv: DataView, at: number, values: Int32Array): void {
  for (let i = 0; i < values.length; i++) dv.setInt32(at + 4 * i, values[i], true)
}

function writeFloat32(dv: DataView, at: number, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) dv.setFloat32(at + 4 * i, values[i], true)
}
