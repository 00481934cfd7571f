import type { Delivery } from './network.ts'

/** Everything the simulator's event queue holds. Peer events name the incarnation they belong to. */
export type SimEvent =
  | Delivery<Uint8Array>
  | { readonly type: 'tick'; readonly peer: number; readonly incarnation: number; readonly at: number }
  | { readonly type: 'exit'; readonly peer: number; readonly incarnation: number; readonly runId: number }
  | { readonly type: 'fault'; readonly run: () => void }
  | { readonly type: 'monitor' }
  | { readonly type: 'check-overlaps' }
