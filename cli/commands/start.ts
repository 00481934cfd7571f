import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { StartFlags } from '../../node/config.ts'
import { RunError, UsageError } from '../errors.ts'

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

/** Registers `start`: run this host's peer of the fleet until SIGINT/SIGTERM. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description("run this host's peer of the fleet (until SIGINT or SIGTERM)")
    .addHelpText(
      'after',
      [
        '',
        'Settings come from the flags, then DATA_DIR/node.toml (same names, snake_case:',
        'listen, bootstrap, mdns, swarm_key, manifest, operator_key, api, hostname, store,',
        'log_level, plus optional [fleet] and [hosts.NAME] tables), then the defaults.',
        'The fleet config (name, operator_keys, host policies, lease_s, dataset) comes from',
        '--manifest, or node.toml, or what an earlier start saved in DATA_DIR/fleet.toml.',
        "With --operator-key and --manifest the node also loads the manifest's jobs (a reload).",
        '',
        'Examples:',
        '  cis490-node keygen --swarm --out swarm.key     # once per fleet; copy to every host',
        '  cis490-node start --swarm-key swarm.key --manifest fleet.toml',
        '  cis490-node start --no-mdns --bootstrap /ip4/10.0.0.2/tcp/4490/p2p/12D3KooW...',
      ].join('\n'),
    )
    .option('--data-dir <dir>', 'peer key, job table, runs and logs (default ~/.cis490, or CIS490_DATA_DIR)')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/4490)', collect)
    .option('--bootstrap <multiaddr>', 'a peer to dial, with /p2p/ (repeatable)', collect)
    .option('--no-mdns', 'do not discover peers on the LAN by mDNS')
    .option('--swarm-key <file>', "the fleet's private-network key (default DATA_DIR/swarm.key)")
    .option('--manifest <file>', 'the fleet manifest: its [fleet] and [hosts.*] are the fleet config')
    .option('--operator-key <file>', "hold the operator key (the old receiver): load the manifest's jobs")
    .option('--api <host:port>', 'where to serve the HTTP API (default 127.0.0.1:7420)')
    .option('--hostname <name>', "the hostname host policies see (default: this host's)")
    .option('--store', 'pin every completed bundle (a store peer)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .action(async (opts: StartFlags, cmd: Command) => {
      // Loaded here, not at CLI start: libp2p and its stack take seconds to import.
      const [{ default: pino }, { ManifestError }, { resolveNodeConfig }, errors, { createNode }, { KeyFileError }] =
        await Promise.all([
          import('pino'),
          import('../../manifests/index.ts'),
          import('../../node/config.ts'),
          import('../../node/errors.ts'),
          import('../../node/fleet-node.ts'),
          import('../../node/keys.ts'),
        ])
      const { NodeConfigError, NodeStartError } = errors
      const flags: StartFlags = { ...opts }
      // Commander defaults --no-mdns to true; only an explicit flag may override node.toml.
      if (cmd.getOptionValueSource('mdns') !== 'cli') delete flags.mdns
      let config: ReturnType<typeof resolveNodeConfig>
      try {
        config = resolveNodeConfig(flags)
      } catch (err) {
        if (err instanceof NodeConfigError || err instanceof ManifestError) throw new UsageError(err.message)
        throw err
      }
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
      const logger = pino(
        { level: config.logLevel, base: { host: config.hostname } },
        pino.multistream([
          {
            level: config.logLevel === 'silent' ? 'silent' : 'trace',
            stream: pino.destination({ dest: join(config.dataDir, 'node.log'), mkdir: true, sync: false }),
          },
          { level: config.logLevel === 'silent' ? 'silent' : 'trace', stream: process.stderr },
        ]),
      )
      let node: Awaited<ReturnType<typeof createNode>> | null = null
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write(`received ${signal} again: exiting now\n`)
          process.exit(1)
        }
        stopping = true
        logger.info({ signal }, 'stopping: releasing claims and flushing the table')
        void (node?.stop() ?? Promise.resolve()).then(
          () => {
            logger.info('stopped')
            logger.flush()
            process.exit(0)
          },
          (err) => {
            logger.error({ err }, 'stop failed')
            process.exit(1)
          },
        )
      }
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGTERM', () => stop('SIGTERM'))
      try {
        node = await createNode(config, { logger })
      } catch (err) {
        if (err instanceof NodeConfigError || err instanceof KeyFileError) throw new UsageError(err.message)
        if (err instanceof NodeStartError) throw new RunError(err.message)
        throw err
      }
      const api = node.apiAddress
      process.stderr.write(
        `cis490-node ${node.peerId} is running; API http://${api?.host}:${api?.port} (Ctrl-C stops it)\n`,
      )
      // Runs until a signal stops it.
      await new Promise<never>(() => {})
    })
}
