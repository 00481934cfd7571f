import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { generateKey } from '@libp2p/pnet'
import pino from 'pino'
import { encodeFrameHeader, FleetNet, type FleetNetInit, SwarmKeyError } from '../../node/net/index.ts'
import { watchXsalsa20 } from '../helpers/xsalsa20-watch.ts'

// Loopback only, mDNS off in every node: multicast must never leave this network namespace.
const logger = pino({ level: 'silent' })
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

function swarmKey(): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

const nodes = new Set<FleetNet>()

const cipher = watchXsalsa20()

async function startNode(init: Partial<FleetNetInit> & { swarmKey: Uint8Array }): Promise<FleetNet> {
  const net = new FleetNet(
    { logger },
    {
      privateKey: init.privateKey ?? (await generateKeyPair('Ed25519')),
      fleet: 'test',
      listen: LOOPBACK,
      redialMinMs: 200,
      redialMaxMs: 1000,
      ...init,
      mdns: false,
    },
  )
  nodes.add(net)
  await net.start()
  return net
}

async function stopAll(): Promise<void> {
  await Promise.all([...nodes].map((n) => n.stop()))
  nodes.clear()
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function collect<T extends 'gossip' | 'message'>(net: FleetNet, type: T): Array<{ from: string; bytes: Uint8Array }> {
  const got: Array<{ from: string; bytes: Uint8Array }> = []
  net.addEventListener(type, (evt) => got.push({ from: evt.detail.from, bytes: evt.detail.bytes }))
  return got
}

function numbered(i: number, size = 8): Uint8Array {
  const bytes = new Uint8Array(size)
  new DataView(bytes.buffer).setUint32(0, i)
  return bytes
}

const seq = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)

const subscribers = (net: FleetNet): number => net.libp2p.services.pubsub.getSubscribers(net.topic).length

describe('FleetNet: three peers in one private network', { timeout: 180_000 }, () => {
  const key = swarmKey()
  let a: FleetNet
  let b: FleetNet
  let c: FleetNet

  before(async () => {
    a = await startNode({ swarmKey: key })
    b = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    c = await startNode({ swarmKey: key, bootstrap: [...a.addresses(), ...b.addresses()] })
    await waitFor('a full mesh of connections', () => [a, b, c].every((n) => n.connectedPeers().length === 2))
    await waitFor('topic subscriptions', () => [a, b, c].every((n) => subscribers(n) === 2))
  })
  after(stopAll)

  it('reports addresses with /p2p/ and the connected peers', () => {
    for (const n of [a, b, c]) {
      assert.ok(n.addresses().length > 0)
      for (const addr of n.addresses())
        assert.match(addr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${n.peerId}$`))
    }
    assert.deepEqual(new Set(a.connectedPeers()), new Set([b.peerId, c.peerId]))
  })

  it('gossip reaches every other peer, signed by its publisher', async () => {
    const atB = collect(b, 'gossip')
    const atC = collect(c, 'gossip')
    const atA = collect(a, 'gossip')
    a.publish(new TextEncoder().encode('hello fleet'))
    await waitFor('gossip at b and c', () => atB.length === 1 && atC.length === 1)
    for (const got of [atB[0], atC[0]]) {
      assert.equal(got.from, a.peerId)
      assert.equal(new TextDecoder().decode(got.bytes), 'hello fleet')
    }
    assert.equal(atA.length, 0, 'no echo to the publisher')
    assert.equal(a.stats().gossipOut, 1)
  })

  it('direct messages flow both ways, in order', async () => {
    const atA = collect(a, 'message')
    const atB = collect(b, 'message')
    const N = 200
    for (let i = 0; i < N; i++) {
      a.send(b.peerId, numbered(i, 4 + (i % 7) * 1000))
      b.send(a.peerId, numbered(i))
    }
    await waitFor('200 messages each way', () => atA.length === N && atB.length === N)
    assert.deepEqual(
      atB.map((m) => seq(m.bytes)),
      Array.from({ length: N }, (_, i) => i),
    )
    assert.deepEqual(
      atA.map((m) => seq(m.bytes)),
      Array.from({ length: N }, (_, i) => i),
    )
    assert.ok(atB.every((m) => m.from === a.peerId))
    assert.ok(atA.every((m) => m.from === b.peerId))
  })

  it('carries a 2 MiB message directly and by gossip', async () => {
    const big = new Uint8Array(2 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = i / 4096
    const direct = collect(c, 'message')
    const gossipAtA = collect(a, 'gossip')
    const gossipAtC = collect(c, 'gossip')
    b.send(c.peerId, big)
    b.publish(big)
    await waitFor(
      '2 MiB direct and gossip',
      () => direct.length === 1 && gossipAtA.length === 1 && gossipAtC.length === 1,
    )
    assert.deepEqual(direct[0].bytes, big)
    assert.deepEqual(gossipAtA[0].bytes, big)
    assert.deepEqual(gossipAtC[0].bytes, big)
  })

  it('drops, never throws, on sends it cannot make', () => {
    const before = a.stats().dropped
    a.send('not-a-peer-id', new Uint8Array([1]))
    a.send(b.peerId, new Uint8Array(0))
    a.send(b.peerId, new Uint8Array(4 * 1024 * 1024 + 1))
    a.send(a.peerId, new Uint8Array([1]))
    assert.equal(a.stats().dropped, before + 4)
  })

  it('a 50 x 1 MiB burst through one pnet stream completes (no xsalsa20 memory ratchet)', async (t) => {
    const got = collect(b, 'message')
    const N = 50
    const size = 1024 * 1024
    const started = performance.now()
    for (let i = 0; i < N; i++) a.send(b.peerId, numbered(i, size))
    await waitFor('50 MiB', () => got.length === N, 40_000)
    const seconds = (performance.now() - started) / 1000
    assert.deepEqual(
      got.map((m) => seq(m.bytes)),
      Array.from({ length: N }, (_, i) => i),
    )
    assert.equal(a.connectedPeers().includes(b.peerId), true, 'the connection survived')
    t.diagnostic(`direct through pnet: ${N} x 1 MiB in ${seconds.toFixed(2)} s = ${(N / seconds).toFixed(1)} MiB/s`)
    assert.ok(cipher.maxUpdate > 0, 'the cipher watch sees pnet')
    assert.ok(cipher.maxUpdate <= 64 * 1024, `largest cipher update ${cipher.maxUpdate} B`)
    assert.ok(cipher.maxMemory <= 1024 * 1024, `cipher memory grew to ${cipher.maxMemory} B`)
  })

  it('12 x 4 MiB (the largest messages) each way at once: the cipher memory never grows', async (t) => {
    const atA = collect(a, 'message')
    const atB = collect(b, 'message')
    const N = 12
    const started = performance.now()
    for (let i = 0; i < N; i++) {
      a.send(b.peerId, numbered(i, 4 * 1024 * 1024))
      b.send(a.peerId, numbered(i, 4 * 1024 * 1024))
    }
    await waitFor('2 x 48 MiB', () => atA.length === N && atB.length === N, 40_000)
    const seconds = (performance.now() - started) / 1000
    t.diagnostic(
      `direct through pnet, both ways at once: 2 x ${N} x 4 MiB in ${seconds.toFixed(2)} s = ${((2 * N * 4) / seconds).toFixed(1)} MiB/s`,
    )
    assert.deepEqual(
      atB.map((m) => seq(m.bytes)),
      Array.from({ length: N }, (_, i) => i),
    )
    assert.ok(cipher.maxUpdate <= 64 * 1024, `largest cipher update ${cipher.maxUpdate} B`)
    assert.ok(cipher.maxMemory <= 1024 * 1024, `cipher memory grew to ${cipher.maxMemory} B`)
  })
})

describe('FleetNet: private network boundary', { timeout: 180_000 }, () => {
  after(stopAll)

  it('refuses to start without a valid swarm key', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const bad = new FleetNet(
      { logger },
      { privateKey, swarmKey: new Uint8Array(), fleet: 'test', listen: LOOPBACK, mdns: false },
    )
    nodes.add(bad)
    await assert.rejects(bad.start(), SwarmKeyError)
    const garbled = new FleetNet(
      { logger },
      { privateKey, swarmKey: new TextEncoder().encode('secret'), fleet: 'test', listen: LOOPBACK, mdns: false },
    )
    nodes.add(garbled)
    await assert.rejects(garbled.start(), /swarm key: expected the first line/)
    await bad.stop()
    await garbled.stop()
  })

  it('a failed start (port taken) stops what it began', async () => {
    const key = swarmKey()
    const a = await startNode({ swarmKey: key })
    const taken = a.addresses()[0].split('/p2p/')[0]
    const b = new FleetNet(
      { logger },
      { privateKey: await generateKeyPair('Ed25519'), swarmKey: key, fleet: 'test', listen: [taken], mdns: false },
    )
    nodes.add(b)
    await assert.rejects(b.start())
    assert.throws(() => b.libp2p, /not started/)
    assert.deepEqual(b.addresses(), [])
  })

  it('a peer with another swarm key never connects and sees nothing', async () => {
    const key = swarmKey()
    const a = await startNode({ swarmKey: key })
    const b = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    const outsider = await startNode({ swarmKey: swarmKey(), bootstrap: [...a.addresses(), ...b.addresses()] })
    const seen = { connects: 0, gossip: collect(outsider, 'gossip'), messages: collect(outsider, 'message') }
    outsider.addEventListener('peer:connect', () => seen.connects++)
    const aConnects: string[] = []
    a.addEventListener('peer:connect', (evt) => aConnects.push(evt.detail.peer))
    await waitFor('a and b subscribed', () => subscribers(a) === 1 && subscribers(b) === 1)
    for (let i = 0; i < 5; i++) {
      a.publish(numbered(i))
      a.send(outsider.peerId, numbered(i))
      outsider.send(a.peerId, numbered(i))
      outsider.publish(numbered(i))
      await new Promise((r) => setTimeout(r, 300))
    }
    assert.equal(seen.connects, 0)
    assert.deepEqual(outsider.connectedPeers(), [])
    assert.equal(seen.gossip.length, 0)
    assert.equal(seen.messages.length, 0)
    assert.equal(aConnects.includes(outsider.peerId), false)
    assert.equal(a.connectedPeers().includes(outsider.peerId), false)
    assert.equal(outsider.stats().publishFailed, 5)
  })
})

describe('FleetNet: misbehaving peers', { timeout: 180_000 }, () => {
  const key = swarmKey()
  let a: FleetNet
  let honest: FleetNet
  after(stopAll)

  before(async () => {
    a = await startNode({ swarmKey: key, penaltyThreshold: 3, banMs: 60_000 })
    honest = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    a.setGossipValidator((_from, bytes) => (bytes[0] === 0xba ? 'reject' : 'accept'))
    await waitFor('honest connected', () => a.connectedPeers().includes(honest.peerId))
  })

  it('raw TCP garbage before the private-network handshake is shrugged off', async () => {
    const [, port] = /\/tcp\/(\d+)\//.exec(a.addresses()[0])!
    // the upgrader gives a connection 10 s to finish its handshake: do not wait for a to hang up
    const sockets = [new Uint8Array(24), new Uint8Array(100_000).fill(0xff), new TextEncoder().encode('hi')].map(
      (garbage) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(garbage))
        socket.on('error', () => {})
        return socket
      },
    )
    try {
      await new Promise((r) => setTimeout(r, 500))
    } finally {
      for (const socket of sockets) socket.destroy()
    }
    const got = collect(a, 'message')
    honest.send(a.peerId, numbered(3))
    await waitFor('honest traffic after the garbage', () => got.length === 1)
  })

  async function rawStream(from: FleetNet, to: FleetNet) {
    return from.libp2p.dialProtocol(peerIdFromString(to.peerId), to.protocol)
  }

  it('garbage on the stream protocol and the topic is penalised, then the sender is banned', async () => {
    // the attacker re-dials a after the ban: the gate must refuse it
    const attacker = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    await waitFor('attacker connected', () => a.connectedPeers().includes(attacker.peerId))
    await waitFor('attacker subscribed', () => subscribers(a) === 2)
    const received = collect(a, 'message')

    // 1. raw bytes without framing: 'G' reads as a 71-byte length, then the stream ends inside the frame
    const s1 = await rawStream(attacker, a)
    s1.send(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await s1.close()
    await waitFor('first penalty', () => a.stats().penalised === 1)

    // 2. an oversized length prefix
    const s2 = await rawStream(attacker, a)
    s2.send(encodeFrameHeader(4 * 1024 * 1024 + 1))
    s2.send(new Uint8Array(1000))
    await waitFor('second penalty', () => a.stats().penalised === 2)
    await waitFor('the stream is closed', () => s2.status !== 'open')

    // the connection survives one bad stream: honest traffic from the attacker still arrives
    attacker.send(a.peerId, numbered(7))
    await waitFor('a message after the penalties', () => received.length === 1)
    assert.equal(a.connectedPeers().includes(attacker.peerId), true)

    // 3. a gossip message the validator rejects: the third penalty reaches the threshold
    const gossipAtA = collect(a, 'gossip')
    const gossipAtHonest = collect(honest, 'gossip')
    attacker.publish(new Uint8Array([0xba, 0xad]))
    await waitFor('the ban', () => a.stats().bans === 1)
    await waitFor('the attacker hung up', () => !a.connectedPeers().includes(attacker.peerId))
    assert.equal(gossipAtA.length, 0, 'a rejected message is not delivered')
    assert.equal(a.stats().rejected, 3)
    assert.equal(a.stats().banned, 1)

    // the banned peer is refused, though it keeps re-dialling a
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(a.connectedPeers().includes(attacker.peerId), false)
    assert.equal(attacker.connectedPeers().includes(a.peerId), false)
    assert.equal(gossipAtHonest.length, 0, 'a did not forward the rejected message')

    // and a is fine: honest traffic still flows
    const honestGot = collect(honest, 'message')
    a.send(honest.peerId, numbered(1))
    honest.publish(numbered(2))
    await waitFor('honest traffic', () => honestGot.length === 1 && gossipAtA.length === 1)
  })
})

describe('FleetNet: limits', { timeout: 180_000 }, () => {
  const key = swarmKey()
  after(stopAll)

  it('refuses a third inbound direct stream on one connection', async () => {
    const a = await startNode({ swarmKey: key })
    const greedy = await startNode({ swarmKey: key, bootstrap: a.addresses(), maxSyncStreamsPerConnection: 10 })
    await waitFor('connected', () => a.connectedPeers().includes(greedy.peerId))
    const target = peerIdFromString(a.peerId)
    const streams = [
      await greedy.libp2p.dialProtocol(target, a.protocol),
      await greedy.libp2p.dialProtocol(target, a.protocol),
    ]
    for (const s of streams) s.send(encodeFrameHeader(1))
    const third = await greedy.libp2p.dialProtocol(target, a.protocol).catch((err: Error) => err)
    if (!(third instanceof Error)) {
      try {
        third.send(encodeFrameHeader(1))
      } catch {
        // already reset by a
      }
      await waitFor('the third stream refused', () => third.status !== 'open')
    }
    assert.ok(
      streams.every((s) => s.status === 'open'),
      'the first two stay open',
    )
    assert.equal(a.connectedPeers().includes(greedy.peerId), true)
  })

  it('a validator reject lowers the sender gossipsub score', async () => {
    const a = await startNode({ swarmKey: key })
    const sender = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    a.setGossipValidator(() => 'reject')
    await waitFor('subscribed', () => subscribers(a) === 1 && subscribers(sender) === 1)
    const pubsub = a.libp2p.services.pubsub as unknown as { getScore(peer: string): number }
    sender.publish(numbered(1))
    await waitFor('the reject', () => a.stats().rejected === 1)
    // gossipsub caches a score for a second
    await waitFor('a negative score', () => pubsub.getScore(sender.peerId) < 0, 3000)
    assert.equal(a.stats().penalised, 1)
    assert.equal(a.stats().gossipIn, 0)
  })

  it('drops and penalises direct messages over the inbound rate', async () => {
    const a = await startNode({ swarmKey: key, inboundMessagesPerSecond: 5, inboundMessageBurst: 10 })
    const chatty = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    await waitFor('connected', () => a.connectedPeers().includes(chatty.peerId))
    const got = collect(a, 'message')
    for (let i = 0; i < 40; i++) chatty.send(a.peerId, numbered(i))
    await waitFor('all 40 handled', () => got.length + a.stats().dropped >= 40)
    // the burst of 10, plus 5 a second for however long the 40 took to arrive
    assert.ok(got.length >= 10 && got.length < 30, `delivered ${got.length}`)
    assert.equal(a.stats().rateLimited, 40 - got.length)
    assert.ok(a.stats().penalised >= 1)
    assert.deepEqual(
      got.slice(0, 10).map((m) => seq(m.bytes)),
      Array.from({ length: 10 }, (_, i) => i),
    )
  })

  it('bounds the send queue per peer: the overflow is dropped and counted, the rest arrives in order', async () => {
    const a = await startNode({ swarmKey: key, maxQueuedMessagesPerPeer: 100 })
    const b = await startNode({ swarmKey: key, bootstrap: a.addresses() })
    await waitFor('connected', () => a.connectedPeers().includes(b.peerId))
    const got = collect(b, 'message')
    for (let i = 0; i < 150; i++) a.send(b.peerId, numbered(i))
    assert.equal(a.stats().dropped, 50)
    await waitFor('100 messages', () => got.length === 100)
    assert.deepEqual(
      got.map((m) => seq(m.bytes)),
      Array.from({ length: 100 }, (_, i) => i),
    )
  })
})

describe('FleetNet: restarts', { timeout: 180_000 }, () => {
  after(stopAll)

  it('a restarted peer reconnects via bootstrap and peer:connect fires again (same port and a new one)', async () => {
    const key = swarmKey()
    const bKey: Ed25519PrivateKey = await generateKeyPair('Ed25519')
    let b = await startNode({ swarmKey: key, privateKey: bKey })
    const bAddr = b.addresses()[0]
    const bPort = bAddr.split('/tcp/')[1].split('/')[0]
    // a re-dials b when it drops: b is in a's bootstrap list
    const a = await startNode({ swarmKey: key, bootstrap: [bAddr] })
    const events: string[] = []
    a.addEventListener('peer:connect', (evt) => events.push(`connect ${evt.detail.peer}`))
    a.addEventListener('peer:disconnect', (evt) => events.push(`disconnect ${evt.detail.peer}`))
    await waitFor('a connected to b', () => a.connectedPeers().includes(b.peerId))
    assert.deepEqual(events, [`connect ${b.peerId}`])

    // restart on the same port, without a bootstrap list: a's re-dial must find it
    await b.stop()
    nodes.delete(b)
    await waitFor('a saw b leave', () => events.length === 2)
    b = await startNode({ swarmKey: key, privateKey: bKey, listen: [`/ip4/127.0.0.1/tcp/${bPort}`] })
    await waitFor('a re-dialled b', () => events.length === 3, 15_000)
    assert.deepEqual(events, [`connect ${b.peerId}`, `disconnect ${b.peerId}`, `connect ${b.peerId}`])

    // restart on a new port: b's own bootstrap dial reconnects
    await b.stop()
    nodes.delete(b)
    await waitFor('a saw b leave again', () => events.length === 4)
    b = await startNode({ swarmKey: key, privateKey: bKey, bootstrap: a.addresses() })
    assert.notEqual(b.addresses()[0], bAddr)
    await waitFor('b dialled a', () => events.length === 5, 15_000)
    assert.equal(events[4], `connect ${b.peerId}`)

    // the restarted peer is fully usable: direct messages both ways
    const atA = collect(a, 'message')
    const atB = collect(b, 'message')
    a.send(b.peerId, numbered(1))
    b.send(a.peerId, numbered(2))
    await waitFor('messages after the restart', () => atA.length === 1 && atB.length === 1)
  })

  it('start and stop are idempotent, and stop is safe before start', async () => {
    const net = new FleetNet(
      { logger },
      {
        privateKey: await generateKeyPair('Ed25519'),
        swarmKey: swarmKey(),
        fleet: 'test',
        listen: LOOPBACK,
        mdns: false,
      },
    )
    await net.stop()
    await Promise.all([net.start(), net.start()])
    const addrs = net.addresses()
    await net.start()
    assert.deepEqual(net.addresses(), addrs)
    await Promise.all([net.stop(), net.stop()])
    assert.deepEqual(net.connectedPeers(), [])
    // the same instance starts again, on a new host
    await net.start()
    assert.equal(net.addresses().length, 1)
    assert.equal(net.libp2p.status, 'started')
    await net.stop()
    net.publish(new Uint8Array([1]))
    net.send(net.peerId, new Uint8Array([1]))
    assert.equal(net.stats().publishFailed, 1)
    assert.equal(net.stats().dropped, 1)
  })
})
