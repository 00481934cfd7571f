import type { Command } from 'commander'
import { RunError } from '../errors.ts'

/** Registers `dataset` (not implemented yet). */
export function registerDatasetCommands(program: Command): void {
  program
    .command('dataset')
    .description('dataset (not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new RunError('dataset is not implemented yet')
    })
}
