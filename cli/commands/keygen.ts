import type { Command } from 'commander'
import { generateKey, generateSwarmKey, publicKeyText, savePrivateKey, writeFileAtomic } from '../../node/index.ts'
import { RunError, UsageError } from '../errors.ts'
import { checkOutputFile, errnoReason } from '../paths.ts'

const USER_FIXABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST'])

/** Registers `keygen`: operator keys and swarm keys. */
export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description(
      'write a new Ed25519 operator key (mode 0600) and print its public key text for `operator_keys`,\n' +
        'or with --swarm a private-network swarm key (/key/swarm/psk/1.0.0/)',
    )
    .requiredOption('--out <file>', 'the key file to write (its directory must exist; refuses to overwrite)')
    .option('--swarm', 'write a swarm key instead of an operator key')
    .option('--force', 'overwrite an existing key file (never a directory)')
    .action(async (opts: { out: string; swarm?: boolean; force?: boolean }) => {
      const swarm = opts.swarm === true
      checkOutputFile('--out', opts.out, { force: opts.force === true, example: swarm ? 'swarm.key' : 'operator.key' })
      // The write is atomic and removes its temp file on failure: no partial key is left.
      const write = (fn: () => void) => {
        try {
          fn()
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          // The directory was checked to exist: ENOENT now means files cannot be created there (/proc).
          const why = code === 'ENOENT' ? 'this file system does not allow creating files' : errnoReason(err)
          const text = `--out ${opts.out}: cannot write the key: ${why}`
          throw code !== undefined && USER_FIXABLE.has(code) ? new UsageError(text) : new RunError(text)
        }
      }
      if (swarm) {
        write(() => writeFileAtomic(opts.out, generateSwarmKey(), 0o600))
        process.stdout.write(`wrote swarm key to ${opts.out}; copy it to every host of the fleet\n`)
        return
      }
      const key = await generateKey()
      write(() => savePrivateKey(opts.out, key))
      process.stdout.write(`wrote operator key to ${opts.out}; add this public key to [fleet] operator_keys:\n`)
      process.stdout.write(`${publicKeyText(key)}\n`)
    })
}
