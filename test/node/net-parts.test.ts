import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import pino from 'pino'
import {
  BootstrapDialer,
  checkSwarmKey,
  encodeFrameHeader,
  FleetNet,
  type FleetNetInit,
  FleetNetInitError,
  FrameDecoder,
  FrameError,
  PenaltyBox,
  SwarmKeyError,
  TokenBucket,
  varintLength,
} from '../../node/net/index.ts'

function frame(body: Uint8Array): Uint8Array {
  const header = encodeFrameHeader(body.byteLength)
  const out = new Uint8Array(header.byteLength + body.byteLength)
  out.set(header)
  out.set(body, header.byteLength)
  return out
}

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = []
  for (const chunk of chunks) decoder.push(chunk, (f) => frames.push(f.slice()))
  return frames
}

describe('frame codec', () => {
  it('encodes lengths as unsigned LEB128 varints', () => {
    assert.deepEqual([...encodeFrameHeader(1)], [1])
    assert.deepEqual([...encodeFrameHeader(127)], [127])
    assert.deepEqual([...encodeFrameHeader(128)], [0x80, 0x01])
    assert.deepEqual([...encodeFrameHeader(300)], [0xac, 0x02])
    assert.equal(varintLength(4 * 1024 * 1024), 4)
    assert.equal(encodeFrameHeader(4 * 1024 * 1024).byteLength, 4)
  })

  it('decodes frames split at every byte boundary and frames sharing one chunk', () => {
    const bodies = [new Uint8Array([1, 2, 3]), new Uint8Array(200).fill(7), new Uint8Array([9])]
    const wire = new Uint8Array(bodies.reduce((n, b) => n + frame(b).byteLength, 0))
    let at = 0
    for (const b of bodies) {
      wire.set(frame(b), at)
      at += frame(b).byteLength
    }
    assert.deepEqual(decodeAll(new FrameDecoder(1000), [wire]), bodies)
    for (let cut = 1; cut < wire.byteLength; cut++) {
      const decoder = new FrameDecoder(1000)
      assert.deepEqual(decodeAll(decoder, [wire.subarray(0, cut), wire.subarray(cut)]), bodies, `cut at ${cut}`)
      assert.equal(decoder.midFrame, false)
    }
    const bytewise = new FrameDecoder(1000)
    const chunks = [...wire].map((b) => new Uint8Array([b]))
    assert.deepEqual(decodeAll(bytewise, chunks), bodies)
  })

  it('knows when a stream ends inside a frame', () => {
    const decoder = new FrameDecoder(1000)
    decodeAll(decoder, [frame(new Uint8Array(10)).subarray(0, 5)])
    assert.equal(decoder.midFrame, true)
    const prefixOnly = new FrameDecoder(1000)
    decodeAll(prefixOnly, [new Uint8Array([0x80])])
    assert.equal(prefixOnly.midFrame, true)
  })

  it('refuses an oversized length as soon as the prefix is read, and stays failed', () => {
    const decoder = new FrameDecoder(1000)
    const delivered: Uint8Array[] = []
    const wire = new Uint8Array([...frame(new Uint8Array([5])), ...encodeFrameHeader(1001)])
    assert.throws(() => decoder.push(wire, (f) => delivered.push(f)), FrameError)
    assert.equal(delivered.length, 1, 'the good frame before the bad prefix was delivered')
    assert.throws(() => decoder.push(new Uint8Array([1, 1]), () => {}), FrameError)
  })

  it('refuses an over-long varint and an empty frame', () => {
    assert.throws(
      () => new FrameDecoder(4 * 1024 * 1024).push(new Uint8Array(8).fill(0xff), () => {}),
      /length prefix longer than 4 bytes/,
    )
    assert.throws(() => new FrameDecoder(1000).push(new Uint8Array([0]), () => {}), /empty frame/)
  })
})

describe('PenaltyBox', () => {
  it('bans at the threshold within the window, for banMs', () => {
    let now = 0
    const box = new PenaltyBox({ threshold: 3, windowMs: 1000, banMs: 5000 }, () => now)
    assert.equal(box.penalise('p'), false)
    now = 900
    assert.equal(box.penalise('p'), false)
    now = 1500 // the first penalty left the window
    assert.equal(box.penalise('p'), false)
    assert.equal(box.count('p'), 2)
    assert.equal(box.penalise('p'), true)
    assert.equal(box.isBanned('p'), true)
    assert.equal(box.bannedCount(), 1)
    assert.equal(box.penalise('p'), false, 'no second ban while banned')
    now = 6499
    assert.equal(box.banRemainingMs('p'), 1)
    now = 6500
    assert.equal(box.isBanned('p'), false)
    assert.equal(box.count('p'), 0)
  })
})

describe('TokenBucket', () => {
  it('allows a burst, then the refill rate', () => {
    let now = 0
    const bucket = new TokenBucket(10, 5, () => now)
    for (let i = 0; i < 5; i++) assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
    now = 100
    assert.equal(bucket.take(), true)
    assert.equal(bucket.take(), false)
    now = 10_000
    assert.equal(bucket.take(6), false, 'never more than the burst')
    assert.equal(bucket.take(5), true)
  })
})

describe('checkSwarmKey', () => {
  it('accepts the psk format and names what is wrong otherwise', () => {
    const good = new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`)
    checkSwarmKey(good)
    assert.throws(() => checkSwarmKey(undefined), SwarmKeyError)
    assert.throws(() => checkSwarmKey(new Uint8Array()), /missing/)
    assert.throws(() => checkSwarmKey(new TextEncoder().encode('hello')), /first line/)
    assert.throws(
      () => checkSwarmKey(new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base64/\n${'ab'.repeat(32)}`)),
      /second line/,
    )
    assert.throws(
      () => checkSwarmKey(new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nabc')),
      /64 hexadecimal digits/,
    )
  })
})

describe('BootstrapDialer', () => {
  it('dials at start, backs off on failure, re-dials after a disconnect, and stops', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const dials: string[] = []
    let failUntil = 3
    let connected = false
    const dialer = new BootstrapDialer({
      peers: [{ peer: 'P', addr: '/ip4/127.0.0.1/tcp/1/p2p/P' }],
      minBackoffMs: 100,
      maxBackoffMs: 400,
      dial: async (addr) => {
        dials.push(addr)
        if (dials.length <= failUntil) throw new Error('refused')
        connected = true
      },
      isConnected: () => connected,
      banRemainingMs: () => 0,
      log: pino({ level: 'silent' }),
      random: () => 0.5, // no jitter
    })
    t.after(() => dialer.stop())
    const flush = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) await Promise.resolve()
    }
    dialer.start()
    t.mock.timers.tick(0)
    await flush()
    assert.equal(dials.length, 1)
    t.mock.timers.tick(99)
    await flush()
    assert.equal(dials.length, 1, 'waits the first backoff')
    t.mock.timers.tick(1)
    await flush()
    assert.equal(dials.length, 2)
    t.mock.timers.tick(200)
    await flush()
    assert.equal(dials.length, 3, 'the backoff doubled')
    t.mock.timers.tick(400)
    await flush()
    assert.equal(dials.length, 4, 'capped at maxBackoffMs')
    assert.equal(connected, true)
    dialer.onConnect('P')
    connected = false
    dialer.onDisconnect('P')
    t.mock.timers.tick(400)
    await flush()
    assert.equal(dials.length, 5, 're-dialled after the disconnect')
    dialer.onConnect('P')
    connected = false
    failUntil = Number.POSITIVE_INFINITY
    dialer.onDisconnect('P')
    dialer.stop()
    t.mock.timers.tick(10_000)
    await flush()
    assert.equal(dials.length, 5, 'no dial after stop')
  })
})

describe('FleetNet options', () => {
  it('refuses bad options at start, naming the field, before opening anything', async () => {
    const swarmKey = new Uint8Array(95)
    generateKey(swarmKey)
    const privateKey = await generateKeyPair('Ed25519')
    const logger = pino({ level: 'silent' })
    const base: FleetNetInit = { privateKey, swarmKey, fleet: 'lab', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
    const cases: Array<[Partial<FleetNetInit>, RegExp]> = [
      [{ fleet: 'a/b' }, /^fleet: /],
      [{ fleet: '' }, /^fleet: /],
      [{ bootstrap: ['/ip4/127.0.0.1/tcp/4490'] }, /^bootstrap: expected a multiaddr ending in \/p2p\//],
      [{ listen: ['not a multiaddr'] }, /^listen: /],
      [{ maxMessageBytes: 0 }, /^maxMessageBytes: expected a positive number/],
      [{ penaltyThreshold: Number.NaN }, /^penaltyThreshold: /],
      [{ maxMessageBytes: 1024, inboundByteBurst: 100 }, /^inboundByteBurst: /],
    ]
    for (const [patch, message] of cases) {
      const net = new FleetNet({ logger }, { ...base, ...patch })
      try {
        await assert.rejects(net.start(), (err: Error) => err instanceof FleetNetInitError && message.test(err.message))
        assert.throws(() => net.libp2p, /not started/)
      } finally {
        await net.stop()
      }
    }
  })
})
