import type { Command } from 'commander'
import { RunError } from '../errors.ts'

/** Registers `sim` (not implemented yet). */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('sim (not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new RunError('sim is not implemented yet')
    })
}
