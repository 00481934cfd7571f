import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/**
 * A key file that cannot be read or is not in the expected format.
 * @remarks The message names the file and what was expected; the CLI reports it as bad input.
 */
export class KeyFileError extends Error {
  override name = 'KeyFileError'
  /** The key file at fault. */
  readonly file: string
  constructor(file: string, message: string) {
    super(`${file}: ${message}`)
    this.file = file
  }
}

/** The first line of a swarm key file (the go-ipfs / libp2p private network format). */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'

/** Generates a fresh Ed25519 key (the libp2p peer key type). */
export async function generateKey(): Promise<Ed25519PrivateKey> {
  return generateKeyPair('Ed25519')
}

/** The public key text that goes into `operator_keys`: the key's libp2p peer id. */
export function publicKeyText(key: Ed25519PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

function tempNameFor(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
}

function toBuffer(bytes: Uint8Array | string): Uint8Array {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
}

/**
 * Writes `bytes` to `file` atomically with `mode`: a temp file beside it, fsync, rename over
 * `file`, fsync of the directory.
 * @remarks On any failure the temp file is removed (it may hold a private key) and the error
 * rethrown; `file` is then untouched. A directory at `file` makes the rename fail.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array | string, mode = 0o644): void {
  const tmp = tempNameFor(file)
  const fd = openSync(tmp, 'wx', mode)
  try {
    try {
      const buf = toBuffer(bytes)
      let off = 0
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
  fsyncDirSync(dirname(file))
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // Some file systems refuse to fsync a directory; the rename itself has happened.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/**
 * The async {@link writeFileAtomic} for the node: temp file, write, fsync, rename, fsync of the
 * directory, on `node:fs/promises`.
 * @remarks On any failure (an abort included) the temp file is removed and the error rethrown.
 * The signal is checked before each step; once the rename has happened the write stands.
 */
export async function writeFileAtomicAsync(
  file: string,
  bytes: Uint8Array | string,
  mode = 0o644,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  opts.signal?.throwIfAborted()
  const tmp = tempNameFor(file)
  const handle = await open(tmp, 'wx', mode)
  try {
    try {
      const buf = toBuffer(bytes)
      let off = 0
      while (off < buf.length) {
        opts.signal?.throwIfAborted()
        off += (await handle.write(buf, off, buf.length - off)).bytesWritten
      }
      await handle.sync()
    } finally {
      await handle.close()
    }
    opts.signal?.throwIfAborted()
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await fsyncDir(dirname(file))
}

async function fsyncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some file systems refuse to fsync a directory; the rename itself has happened.
  } finally {
    await handle?.close()
  }
}

/** Saves a private key in libp2p's protobuf encoding, readable only by its owner (0600). */
export function savePrivateKey(file: string, key: Ed25519PrivateKey): void {
  writeFileAtomic(file, privateKeyToProtobuf(key), 0o600)
}

function readKeyFile(file: string, what: string): Uint8Array {
  try {
    return readFileSync(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, not a key file'
          : code === 'EACCES'
            ? 'permission denied'
            : (code ?? String(err))
    throw new KeyFileError(file, `cannot read ${what}: ${why}`)
  }
}

/**
 * Loads a private key written by `savePrivateKey` / `cis490-node keygen`.
 * @throws KeyFileError naming the file when it is unreadable or not an Ed25519 key.
 */
export function loadPrivateKey(file: string): Ed25519PrivateKey {
  const bytes = readKeyFile(file, 'key')
  let key: ReturnType<typeof privateKeyFromProtobuf>
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch {
    throw new KeyFileError(file, 'not a key written by `cis490-node keygen` (libp2p protobuf private key expected)')
  }
  if (key.type !== 'Ed25519') throw new KeyFileError(file, `expected an Ed25519 key, got ${key.type}`)
  return key
}

/** A new swarm key in the standard `/key/swarm/psk/1.0.0/` text format (32 random bytes, base16). */
export function generateSwarmKey(): string {
  return `${SWARM_KEY_HEADER}\n/base16/\n${randomBytes(32).toString('hex')}\n`
}

/**
 * Loads a swarm key file (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 lowercase hex digits, one per
 * line) and returns the file's bytes, as libp2p's private-network protector takes them.
 * @remarks Checked here so that a bad file fails at start with its name rather than as a
 * libp2p "invalid psk" later. LF or CRLF line ends; trailing blank lines are allowed.
 * @throws KeyFileError naming the file and what is wrong with it.
 */
export function loadSwarmKey(file: string): Uint8Array {
  const bytes = readKeyFile(file, 'swarm key')
  parseSwarmKey(file, bytes)
  return bytes
}

/**
 * Validates swarm key bytes and returns the 32-byte pre-shared key.
 * @param file names the source in error messages.
 * @throws KeyFileError naming `file` and what is wrong.
 */
export function parseSwarmKey(file: string, bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('utf8')
  const lines = text.split(/\r\n|\r|\n/)
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop()
  const expected = `expected the swarm key format: "${SWARM_KEY_HEADER}", "/base16/", then 64 hex digits, one per line (write one with \`cis490-node keygen --swarm\`)`
  if (lines[0] !== SWARM_KEY_HEADER) {
    throw new KeyFileError(file, `line 1: not a swarm key; ${expected}`)
  }
  if (lines[1] !== '/base16/') {
    throw new KeyFileError(
      file,
      `line 2: expected "/base16/"${lines[1] === undefined ? ', got the end of the file' : `, got "${clip(lines[1])}"`}`,
    )
  }
  const hex = lines[2]
  if (hex === undefined) throw new KeyFileError(file, 'line 3: expected 64 hex digits, got the end of the file')
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    const why = /^[0-9a-fA-F]+$/.test(hex)
      ? hex.length !== 64
        ? `got ${hex.length} digits`
        : 'got upper-case digits'
      : `got "${clip(hex)}"`
    throw new KeyFileError(file, `line 3: expected 64 lower-case hex digits (a 32-byte key), ${why}`)
  }
  if (lines.length > 3) throw new KeyFileError(file, 'line 4: unexpected text after the key')
  return Buffer.from(hex, 'hex')
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s
}
