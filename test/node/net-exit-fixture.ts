// Run by net-exit.test.ts in its own process: two peers talk, stop, and the process must then
// exit by itself. Prints "stopped" when both stop() calls have returned.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import pino from 'pino'
import { FleetNet } from '../../node/net/index.ts'

const swarmKey = new Uint8Array(95)
generateKey(swarmKey)
const logger = pino({ level: 'silent' })
const base = { swarmKey, fleet: 'exit', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, redialMinMs: 100 }
const a = new FleetNet({ logger }, { ...base, privateKey: await generateKeyPair('Ed25519') })
await a.start()
const b = new FleetNet({ logger }, { ...base, privateKey: await generateKeyPair('Ed25519'), bootstrap: a.addresses() })
await b.start()
const got = new Promise<void>((resolve) => {
  let n = 0
  const one = (): void => {
    if (++n === 2) resolve()
  }
  a.addEventListener('message', one)
  a.addEventListener('gossip', one)
})
const deadline = Date.now() + 10_000
while (b.libp2p.services.pubsub.getSubscribers(b.topic).length === 0 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 20))
}
b.send(a.peerId, new Uint8Array([1, 2, 3]))
b.publish(new Uint8Array([4, 5, 6]))
await got
await Promise.all([b.stop(), a.stop()])
process.stdout.write('stopped\n')
