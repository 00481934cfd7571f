/** A setting of `cis490-node start` (a flag, node.toml, a key file) is bad: the message names it. */
export class NodeConfigError extends Error {
  override name = 'NodeConfigError'
}

/** The node could not start (a port in use, a store locked by another process): the message says which. */
export class NodeStartError extends Error {
  override name = 'NodeStartError'
}
