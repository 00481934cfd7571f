// A peer stand-in for store-crash.test.ts: recovers the job table from the store in argv[2],
// then appends records forever (groups of un-awaited appends, a compaction now and then) and
// prints the number of records durable after each acknowledgement, until it is killed.
import * as Automerge from '@automerge/automerge'
import { appendRecords, createJobTable, recordsOf } from '../../crdt/index.ts'
import { FileDocumentStore } from '../../node/store/index.ts'
import { testChunk } from '../helpers/document-store-suite.ts'

const store = new FileDocumentStore(process.argv[2])
const { chunks } = await store.load()
let doc = createJobTable() // a fresh actor per incarnation
for (const c of chunks) doc = Automerge.loadIncremental(doc, c)
let n = recordsOf(doc).length
process.stdout.write(`start ${n}\n`)
for (;;) {
  const group: Promise<void>[] = []
  for (let k = 0; k < 8; k++) {
    doc = appendRecords(doc, [testChunk(n, 40)])
    n++
    const durable = n
    group.push(store.append(Automerge.getLastLocalChange(doc)!).then(() => void process.stdout.write(`${durable}\n`)))
  }
  if (n % 64 === 0) {
    const durable = n
    group.push(store.compact(Automerge.save(doc)).then(() => void process.stdout.write(`${durable}\n`)))
  }
  await Promise.all(group)
}
