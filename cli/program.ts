import { Command } from 'commander'
import { registerDatasetCommands } from './commands/dataset.ts'
import { registerDemoCommand } from './commands/demo.ts'
import { registerFetchCommand } from './commands/fetch.ts'
import { registerInstallServiceCommand } from './commands/install-service.ts'
import { registerJobsCommands } from './commands/jobs.ts'
import { registerKeygenCommand } from './commands/keygen.ts'
import { registerManifestCommands } from './commands/manifest.ts'
import { registerOpsCommands } from './commands/ops.ts'
import { registerSimCommand } from './commands/sim.ts'
import { registerStartCommand } from './commands/start.ts'
import { registerTrainCommand } from './commands/train.ts'
import { EXIT, reportError } from './errors.ts'

/** Builds the `cis490-node` command tree. */
export function buildProgram(): Command {
  const program = new Command('cis490-node')
    .description("A peer-to-peer, leaderless fleet that trains machine-learning models across a lab's hosts.")
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
  registerManifestCommands(program)
  registerKeygenCommand(program)
  registerDatasetCommands(program)
  registerTrainCommand(program)
  registerSimCommand(program)
  registerStartCommand(program)
  registerInstallServiceCommand(program)
  registerJobsCommands(program)
  registerOpsCommands(program)
  registerDemoCommand(program)
  registerFetchCommand(program)
  return program
}

/** Maps an error to the contract's exit code, printing it on stderr (see `reportError`). */
export function exitCodeFor(err: unknown): number {
  return reportError(err)
}

/** Runs the CLI with `argv` (as `process.argv`) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram()
  program.exitOverride()
  for (const cmd of allCommands(program)) cmd.exitOverride()
  try {
    await program.parseAsync(argv as string[])
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok
  } catch (err) {
    return exitCodeFor(err)
  }
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)])
}
