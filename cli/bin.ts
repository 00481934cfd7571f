#!/usr/bin/env node
import { reportError } from './errors.ts'
import { runCli } from './program.ts'

// An error that escapes a command's promise chain (a stray callback or rejection) still
// reaches the user as one line and an exit code, never as Node's stack dump.
const fatal = (err: unknown) => {
  process.exitCode = reportError(err)
  process.exit()
}
process.on('uncaughtException', fatal)
process.on('unhandledRejection', fatal)

process.exitCode = await runCli(process.argv)
