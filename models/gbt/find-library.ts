import { existsSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** Where a libxgboost was found. */
export type XgboostLibrarySource = 'env' | 'system' | 'python'

/** The outcome of {@link findXgboostLibrary}: a path, or the places that were searched. */
export type XgboostLibraryLookup =
  | { readonly found: true; readonly path: string; readonly source: XgboostLibrarySource }
  | { readonly found: false; readonly searched: readonly string[]; readonly reason: string }

/** Options of {@link findXgboostLibrary}; the defaults describe this machine. */
export interface FindXgboostLibraryOptions {
  /** Environment to read `XGBOOST_LIBRARY` (and `VIRTUAL_ENV`, `CONDA_PREFIX`) from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Directories searched for `libxgboost.so*`. @default {@link systemLibraryDirs} */
  readonly libDirs?: readonly string[]
  /** Python prefixes whose `lib/python3*\/{site,dist}-packages/xgboost/lib` are searched. @default {@link pythonPrefixes} */
  readonly pythonPrefixes?: readonly string[]
}

const MULTIARCH: Readonly<Record<string, string>> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
}

/** The shared library's file name on this platform (what pip wheels ship). */
function libraryFileName(): string {
  if (process.platform === 'darwin') return 'libxgboost.dylib'
  if (process.platform === 'win32') return 'xgboost.dll'
  return 'libxgboost.so'
}

/**
 * System library directories, Debian's multiarch one first.
 *
 * @remarks Debian's `libxgboost0` 1.7.4 installs `libxgboost.so.1.6.0` (the file name lags
 * the version) and a `libxgboost.so.0` link, so the search globs `libxgboost.so*`.
 */
export function systemLibraryDirs(): string[] {
  const triplet = MULTIARCH[process.arch]
  return [
    ...(triplet ? [`/usr/lib/${triplet}`, `/usr/local/lib/${triplet}`] : []),
    '/usr/local/lib',
    '/usr/lib',
    '/usr/lib64',
  ]
}

/**
 * Python prefixes where a pip (or conda) xgboost may live: the active virtualenv/conda
 * env, `~/.local`, `/usr/local`, `/usr`, common conda installs and pyenv versions.
 */
export function pythonPrefixes(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const home = homedir()
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, join(home, '.local'), '/usr/local', '/usr']
  for (const conda of ['miniconda3', 'anaconda3', 'miniforge3', 'mambaforge']) prefixes.push(join(home, conda))
  prefixes.push('/opt/conda')
  for (const version of listDir(join(home, '.pyenv', 'versions'))
    .sort()
    .reverse()) {
    prefixes.push(join(home, '.pyenv', 'versions', version))
  }
  return prefixes.filter((p): p is string => typeof p === 'string' && p !== '')
}

/**
 * Finds XGBoost's shared library: `XGBOOST_LIBRARY` first, then the system library
 * directories (`libxgboost.so`, else the highest `libxgboost.so.N...`), then a pip
 * wheel's `xgboost/lib/libxgboost.so` under the Python prefixes.
 *
 * @remarks Only `stat` and `readdir`: no Python is started, so it is cheap enough for
 * capability probes. A set `XGBOOST_LIBRARY` that does not exist is reported as such,
 * never silently replaced by another copy.
 */
export function findXgboostLibrary(options: FindXgboostLibraryOptions = {}): XgboostLibraryLookup {
  const env = options.env ?? process.env
  const explicit = env.XGBOOST_LIBRARY
  if (explicit !== undefined && explicit !== '') {
    if (isFile(explicit)) return { found: true, path: explicit, source: 'env' }
    return { found: false, searched: [explicit], reason: `XGBOOST_LIBRARY=${explicit} is not a file` }
  }
  const searched: string[] = []
  for (const dir of options.libDirs ?? systemLibraryDirs()) {
    searched.push(join(dir, 'libxgboost.so*'))
    const best = bestVersionedLibrary(dir)
    if (best !== undefined) return { found: true, path: best, source: 'system' }
  }
  const file = libraryFileName()
  for (const prefix of options.pythonPrefixes ?? pythonPrefixes(env)) {
    for (const packages of sitePackagesDirs(prefix)) {
      const candidate = join(packages, 'xgboost', 'lib', file)
      searched.push(candidate)
      if (isFile(candidate)) return { found: true, path: candidate, source: 'python' }
    }
  }
  return {
    found: false,
    searched,
    reason: 'no libxgboost in the system library directories nor in a pip xgboost install',
  }
}

/** `libxgboost.so` in `dir`, else the `libxgboost.so.N[.N...]` with the highest version. */
function bestVersionedLibrary(dir: string): string | undefined {
  let best: { name: string; version: number[] } | undefined
  for (const name of listDir(dir)) {
    const m = /^libxgboost\.so((?:\.\d+)*)$/.exec(name)
    if (m === null || !isFile(join(dir, name))) continue
    if (m[1] === '') return join(dir, name)
    const version = m[1].slice(1).split('.').map(Number)
    if (best === undefined || compareVersions(version, best.version) > 0) best = { name, version }
  }
  return best === undefined ? undefined : join(dir, best.name)
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1)
    if (d !== 0) return d
  }
  return 0
}

/** `PREFIX/lib/python3*\/{site,dist}-packages` (newest Python first) and Debian's `PREFIX/lib/python3/dist-packages`. */
function sitePackagesDirs(prefix: string): string[] {
  const lib = join(prefix, 'lib')
  const pythons = listDir(lib)
    .filter((name) => /^python3(\.\d+)?$/.test(name))
    .sort((a, b) => compareVersions(pyVersion(b), pyVersion(a)))
  const dirs: string[] = []
  for (const python of pythons) {
    for (const kind of ['site-packages', 'dist-packages']) {
      const dir = join(lib, python, kind)
      if (existsSync(dir)) dirs.push(dir)
    }
  }
  return dirs
}

function pyVersion(name: string): number[] {
  return name.slice('python'.length).split('.').map(Number)
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
