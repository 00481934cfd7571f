/**
 * A request the API refuses: its status (4xx) and the reason sent back as `{"error": reason}`.
 * @remarks Thrown by routes and body parsing; the server turns it into the response.
 */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError'
  /** The HTTP status to answer with. */
  readonly status: number
  constructor(status: number, reason: string) {
    super(reason)
    this.status = status
  }
}

/** The API could not bind its address (in use, not permitted, not local). */
export class ApiListenError extends Error {
  override name = 'ApiListenError'
  constructor(address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    super(
      `cannot serve the HTTP API on ${address}: ${code ?? (cause instanceof Error ? cause.message : String(cause))}` +
        (code === 'EADDRINUSE' ? ' (another cis490-node may be running there; pass another --api address)' : ''),
      { cause },
    )
  }
}
