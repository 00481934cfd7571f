import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { generateKey, generateSwarmKey, publicKeyText, savePrivateKey, writeFileAtomic } from '../../node/index.ts'
import { UsageError } from '../errors.ts'

/** Registers `keygen`: operator keys and swarm keys. */
export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description(
      'write a new Ed25519 operator key (mode 0600) and print its public key text for `operator_keys`,\n' +
        'or with --swarm a private-network swarm key (/key/swarm/psk/1.0.0/)',
    )
    .requiredOption('--out <file>', 'where to write the key (refuses to overwrite)')
    .option('--swarm', 'write a swarm key instead of an operator key')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { out: string; swarm?: boolean; force?: boolean }) => {
      if (existsSync(opts.out) && opts.force !== true) {
        throw new UsageError(`${opts.out} exists; refusing to overwrite a key (use --force)`)
      }
      if (opts.swarm === true) {
        writeFileAtomic(opts.out, generateSwarmKey(), 0o600)
        process.stdout.write(`wrote swarm key to ${opts.out}; copy it to every host of the fleet\n`)
        return
      }
      const key = await generateKey()
      savePrivateKey(opts.out, key)
      process.stdout.write(`wrote operator key to ${opts.out}; add this public key to [fleet] operator_keys:\n`)
      process.stdout.write(`${publicKeyText(key)}\n`)
    })
}
