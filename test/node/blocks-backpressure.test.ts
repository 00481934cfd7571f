import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Libp2p, Stream } from '@libp2p/interface'
import { waitForDrain, withStreamBackpressure } from '../../node/blocks/index.ts'

/** The part of a libp2p stream `waitForDrain` looks at. */
class FakeStream extends EventTarget {
  writableNeedsDrain = false
  drain(): void {
    this.writableNeedsDrain = false
    this.dispatchEvent(new Event('drain'))
  }
}

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  p.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  await new Promise((r) => setTimeout(r, 10))
  return done
}

describe('waitForDrain', () => {
  it('waits for every drain, not only the first (the onDrain bug of @libp2p/utils 7.4.1)', async () => {
    const stream = new FakeStream()
    assert.equal(await settled(waitForDrain(stream as unknown as Stream)), true, 'no drain needed: at once')
    for (let i = 0; i < 3; i++) {
      stream.writableNeedsDrain = true
      const waiting = waitForDrain(stream as unknown as Stream)
      assert.equal(await settled(waiting), false, `drain ${i}: still waiting`)
      stream.drain()
      await waiting
    }
  })

  it('rejects when the stream closes or the signal aborts, and leaves no listeners behind', async () => {
    const stream = new FakeStream()
    stream.writableNeedsDrain = true
    const closing = waitForDrain(stream as unknown as Stream)
    const closed = Object.assign(new Event('close'), { error: new Error('reset by peer') })
    stream.dispatchEvent(closed)
    await assert.rejects(closing, /reset by peer/)
    const controller = new AbortController()
    const aborting = waitForDrain(stream as unknown as Stream, { signal: controller.signal })
    controller.abort(new Error('send timed out'))
    await assert.rejects(aborting, /send timed out/)
    await assert.rejects(waitForDrain(stream as unknown as Stream, { signal: controller.signal }), /send timed out/)
  })
})

describe('withStreamBackpressure', () => {
  it('gives dialled streams a drain-waiting onDrain and passes everything else to the host', async () => {
    const stream = new FakeStream() as FakeStream & { onDrain?: unknown }
    const host = {
      peerId: 'self',
      calls: 0,
      getPeers(this: { calls: number }) {
        this.calls++
        return []
      },
      dialProtocol: async () => stream,
    }
    const view = withStreamBackpressure(host as unknown as Libp2p)
    assert.equal(view.peerId, 'self')
    assert.deepEqual(view.getPeers(), [])
    assert.equal(host.calls, 1, 'methods run bound to the host')
    const dialled = await view.dialProtocol(undefined as never, '/ipfs/bitswap/1.2.0')
    assert.equal(dialled, stream)
    stream.writableNeedsDrain = true
    const waiting = dialled.onDrain()
    assert.equal(await settled(waiting), false)
    stream.drain()
    await waiting
  })
})
