/** Where in a dataset a problem is: the file, and when known the data row and column. */
export interface DatasetLocation {
  /** The file (path as given), or the dataset directory for whole-dataset problems. */
  readonly file: string
  /** 1-based data row (the CSV header is not a row; CSV errors also name the line). */
  readonly row?: number
  /** 1-based line in a CSV file (the header is line 1). */
  readonly line?: number
  readonly column?: string
}

/**
 * A dataset that cannot be loaded or used: names the file, row and column where known,
 * and says what was expected.
 */
export class DatasetError extends Error {
  override name = 'DatasetError'
  readonly file: string
  readonly row?: number
  readonly column?: string

  constructor(where: DatasetLocation, detail: string) {
    super(`${formatLocation(where)}: ${detail}`)
    this.file = where.file
    this.row = where.row
    this.column = where.column
  }
}

function formatLocation(where: DatasetLocation): string {
  let text = where.file
  if (where.row !== undefined) text += ` row ${where.row}`
  if (where.line !== undefined) text += where.row !== undefined ? ` (line ${where.line})` : ` line ${where.line}`
  if (where.column !== undefined)
    text += `${where.row !== undefined || where.line !== undefined ? ',' : ':'} column "${where.column}"`
  return text
}
