import type { Libp2p } from '@libp2p/interface'

type Timer = ReturnType<typeof setTimeout>

/**
 * Timers libp2p 3.3 / @libp2p/gossipsub 17.1 leave armed after `stop()`, each keeping the
 * process alive for up to a second.
 *
 * @remarks
 * Gossipsub's `stop()` replaces its `status` object without clearing the pending heartbeat
 * timeout it holds; the address manager's 1 s debounce of peer-store updates, armed when the
 * listeners close, has no stop. Both are internals, so every access is optional: when an
 * upgrade renames them this does nothing. Capture before `stop()`, clear after it.
 */
export function captureStopLeftovers(node: Libp2p): () => void {
  const pubsub = (node.services as { pubsub?: { status?: { heartbeatTimeout?: Timer } } }).pubsub
  const status = pubsub?.status
  return () => {
    if (status?.heartbeatTimeout != null) clearTimeout(status.heartbeatTimeout)
    const components = (node as unknown as { components?: { addressManager?: unknown } }).components
    const manager = components?.addressManager as { _updatePeerStoreAddresses?: { stop?: () => void } } | undefined
    manager?._updatePeerStoreAddresses?.stop?.()
  }
}
