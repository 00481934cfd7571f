import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

/** Generates a fresh Ed25519 key (the libp2p peer key type). */
export async function generateKey(): Promise<Ed25519PrivateKey> {
  return generateKeyPair('Ed25519')
}

/** The public key text that goes into `operator_keys`: the key's libp2p peer id. */
export function publicKeyText(key: Ed25519PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

/** Writes `bytes` to `file` atomically (temp file, fsync, rename) with `mode`. */
export function writeFileAtomic(file: string, bytes: Uint8Array | string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  const fd = openSync(tmp, 'wx', mode)
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

/** Saves a private key in libp2p's protobuf encoding, readable only by its owner (0600). */
export function savePrivateKey(file: string, key: Ed25519PrivateKey): void {
  writeFileAtomic(file, privateKeyToProtobuf(key), 0o600)
}

/**
 * Loads a private key written by `savePrivateKey` / `cis490-node keygen`.
 * @throws Error naming the file when it is unreadable or not an Ed25519 key.
 */
export function loadPrivateKey(file: string): Ed25519PrivateKey {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(file)
  } catch (err) {
    throw new Error(`${file}: cannot read key: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let key: ReturnType<typeof privateKeyFromProtobuf>
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch {
    throw new Error(`${file}: not a key written by \`cis490-node keygen\` (libp2p protobuf private key expected)`)
  }
  if (key.type !== 'Ed25519') throw new Error(`${file}: expected an Ed25519 key, got ${key.type}`)
  return key
}

/** A new swarm key in the standard `/key/swarm/psk/1.0.0/` text format (32 random bytes, base16). */
export function generateSwarmKey(): string {
  return `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`
}
