/** Bad usage or bad input: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** A failure at run time: the CLI prints the message and exits 1. */
export class RunError extends Error {
  override name = 'RunError'
}

/** Exit codes of the contract. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const
