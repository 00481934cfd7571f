import type { Command } from 'commander'
import { RunError } from '../errors.ts'

/** Registers `train` (not implemented yet). */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train (not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new RunError('train is not implemented yet')
    })
}
