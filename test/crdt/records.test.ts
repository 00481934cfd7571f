import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeRecord, encodeRecord } from '../../crdt/index.ts'
import { makeSigners } from '../helpers/job-table.ts'

const JOB = 'a'.repeat(64)

describe('signed records', async () => {
  const [peer, other] = await makeSigners(2)

  it('round-trips and carries the signer', () => {
    const bytes = encodeRecord({ t: 'claim', j: JOB, at: 5, g: 0, r: 1, score: 3, host: 'h' }, peer)
    const v = decodeRecord(bytes)
    assert.ok(v)
    assert.deepEqual(v.record, { t: 'claim', j: JOB, at: 5, g: 0, r: 1, score: 3, host: 'h', by: peer.id })
  })

  it('rejects any flipped byte (signature or payload)', () => {
    const bytes = encodeRecord({ t: 'start', j: JOB, at: 5, g: 0, r: 1 }, peer)
    for (const i of [1, 30, 64, 70, bytes.length - 2]) {
      const bad = Uint8Array.from(bytes)
      bad[i] ^= 0x01
      assert.equal(decodeRecord(bad), null, `byte ${i}`)
    }
  })

  it('rejects a payload re-attributed to another signer', () => {
    const bytes = encodeRecord({ t: 'start', j: JOB, at: 5, g: 0, r: 1 }, peer)
    const text = new TextDecoder().decode(bytes.subarray(65)).replace(peer.id, other.id)
    const forged = new Uint8Array([...bytes.subarray(0, 65), ...new TextEncoder().encode(text)])
    assert.equal(decodeRecord(forged), null)
  })

  it('rejects a valid signature copied onto another payload', () => {
    const a = encodeRecord({ t: 'start', j: JOB, at: 5, g: 0, r: 1 }, peer)
    const b = encodeRecord({ t: 'start', j: JOB, at: 5, g: 0, r: 2 }, peer)
    const spliced = new Uint8Array([...a.subarray(0, 65), ...b.subarray(65)])
    assert.ok(decodeRecord(a))
    assert.equal(decodeRecord(spliced), null)
  })

  it('rejects well-signed payloads of the wrong shape', () => {
    // A signer can sign anything: shape validation must still hold.
    const bad = encodeRecord({ t: 'claim', j: 'not-an-id', at: 5, g: 0, r: 1, score: 3, host: 'h' }, peer)
    assert.equal(decodeRecord(bad), null)
    const badRound = encodeRecord({ t: 'claim', j: JOB, at: 5, g: 0, r: 0, score: 3, host: 'h' }, peer)
    assert.equal(decodeRecord(badRound), null)
  })

  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        assert.equal(decodeRecord(bytes), null)
      }),
      { numRuns: 300 },
    )
    for (const junk of [null, undefined, 3, 'text', {}, [], new Uint8Array(0), randomBytes(70 * 1024)]) {
      assert.equal(decodeRecord(junk), null)
    }
  })
})
