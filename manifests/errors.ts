/** A manifest that cannot be loaded: names the file, the TOML path and what was expected. */
export class ManifestError extends Error {
  override name = 'ManifestError'
  readonly file: string
  readonly path: string

  constructor(file: string, path: string, detail: string) {
    super(path === '' ? `${file}: ${detail}` : `${file}: ${path}: ${detail}`)
    this.file = file
    this.path = path
  }
}
